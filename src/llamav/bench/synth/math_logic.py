"""Math & Logic Reasoning: expressions and number sequences drawn as pictures, and clock reading."""

from __future__ import annotations

import math

from llamav.bench.synth._common import (
    COLORS,
    DEFAULT_LEVEL,
    Scene,
    Template,
    by_level,
    canvas,
    choice_answer,
    choice_conclusion,
    font,
    plural,
    shuffled_options,
    text_center,
    with_choices,
)

CATEGORY = "Math & Logic Reasoning"

# -- arithmetic ----------------------------------------------------------------------------------

# Expression shapes; letters are filled with numbers. "*" is drawn as a times sign.
FORMS = ["a + b * c", "(a + b) * c", "a * b - c", "(a - b) * c + d", "a + b * c - d", "a * (b + c) - d", "(a + b) * (c - d)"]
SYMBOL = {"*": "x", "+": "+", "-": "-"}


def _tokens(form: str, numbers: dict[str, int]) -> list[str]:
    return [str(numbers[t]) if t in numbers else t for t in form.replace("(", "( ").replace(")", " )").split()]


def _reduce(tokens: list[str]) -> tuple[list[str], str]:
    """One evaluation step, in the order a person works: innermost brackets, then x, then + and -."""
    if "(" in tokens:
        close = tokens.index(")")
        open_ = max(i for i in range(close) if tokens[i] == "(")
        inner, note = _reduce(tokens[open_ + 1:close])
        if len(inner) > 1:
            inner = ["(", *inner, ")"]
        return tokens[:open_] + inner + tokens[close + 1:], f"inside the brackets first, {note}"
    i = tokens.index("*") if "*" in tokens else 1
    value, text = _apply(tokens, i)
    return tokens[:i - 1] + [value] + tokens[i + 2:], text


def _apply(tokens: list[str], i: int) -> tuple[str, str]:
    a, op, b = int(tokens[i - 1]), tokens[i], int(tokens[i + 1])
    value = a * b if op == "*" else a + b if op == "+" else a - b
    return str(value), f"{a} {SYMBOL[op]} {b} = {value}"


def _evaluate(tokens: list[str]) -> tuple[int, list[str]]:
    notes = []
    while len(tokens) > 1:
        tokens, note = _reduce(tokens)
        notes.append(note)
    return int(tokens[0]), notes


def _pretty(tokens: list[str]) -> str:
    return " ".join(SYMBOL.get(t, t) for t in tokens).replace("( ", "(").replace(" )", ")")


class ArithmeticExpression(Template):
    name = "arithmetic_expression"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        while True:
            form = rng.choice(FORMS)
            numbers = {k: rng.randint(2, by_level(level, 5, 9, 12)) for k in "abcd" if k in form}
            if 0 <= _evaluate(_tokens(form, numbers))[0] <= 200:
                break
        return {"form": form, "numbers": numbers, "ink": rng.choice(["black", "blue", "purple"])}

    def question(self, scene):
        return "Evaluate the expression shown in the image. What number should replace the question mark?"

    def solve(self, scene):
        return str(_evaluate(_tokens(scene["form"], scene["numbers"]))[0])

    def render(self, scene):
        image, draw = canvas(480, 200, (250, 250, 240))
        tokens = _tokens(scene["form"], scene["numbers"]) + ["=", "?"]
        widths = [40 if t in "+-*=" else font(44).getlength(t) + 10 for t in tokens]
        x = (480 - sum(widths)) / 2
        ink = COLORS[scene["ink"]]
        for token, w in zip(tokens, widths):
            cx, cy = x + w / 2, 100
            # The bundled font has no times or minus sign, so operators are drawn as strokes.
            if token == "*":
                draw.line((cx - 8, cy - 8, cx + 8, cy + 8), fill=ink, width=4)
                draw.line((cx - 8, cy + 8, cx + 8, cy - 8), fill=ink, width=4)
            elif token in "+-=":
                offsets = [-6, 6] if token == "=" else [0]
                for dy in offsets:
                    draw.line((cx - 10, cy + dy, cx + 10, cy + dy), fill=ink, width=4)
                if token == "+":
                    draw.line((cx, cy - 10, cx, cy + 10), fill=ink, width=4)
            else:
                draw.text((cx, cy), token, font=font(44), fill=ink, anchor="mm")
            x += w
        return image

    def chain(self, scene):
        tokens = _tokens(scene["form"], scene["numbers"])
        value, notes = _evaluate(tokens)
        steps = [f"The image shows the expression {_pretty(tokens)} = ?, where x means multiplication."]
        steps += [note[0].upper() + note[1:] + "." for note in notes]
        steps.append(f"The question mark therefore stands for {value}. Final answer: {value}.")
        return steps


# -- number sequence -----------------------------------------------------------------------------

RULES = ["add", "multiply", "alternate", "growing", "fibonacci"]
BOX_FILLS = {"blue": (235, 242, 255), "green": (232, 248, 232), "yellow": (255, 248, 220), "gray": (238, 238, 238)}


def sequence_terms(scene: Scene) -> list[int]:
    n, p = scene["length"], scene["params"]
    terms = [p["start"]]
    if scene["rule"] == "fibonacci":
        terms.append(p["second"])
    while len(terms) < n:
        k = len(terms)
        last = terms[-1]
        rule = scene["rule"]
        if rule == "add":
            terms.append(last + p["step"])
        elif rule == "multiply":
            terms.append(last * p["factor"])
        elif rule == "alternate":
            terms.append(last + (p["step"] if k % 2 == 1 else p["step2"]))
        elif rule == "growing":
            terms.append(last + p["step"] + (k - 1) * p["growth"])
        else:
            terms.append(terms[-2] + last)
    return terms


class NumberSequence(Template):
    name = "number_sequence"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        rule = rng.choice(RULES)
        start = rng.randint(1, 20)
        params = {
            "add": lambda: {"start": start, "step": rng.choice([-1, 1]) * rng.randint(2, 9)},
            "multiply": lambda: {"start": rng.randint(1, 9), "factor": rng.choice([2, 3])},
            "alternate": lambda: {"start": start, "step": rng.randint(2, 9), "step2": -rng.randint(1, 5)},
            "growing": lambda: {"start": start, "step": rng.randint(1, 4), "growth": rng.randint(1, 3)},
            "fibonacci": lambda: {"start": rng.randint(1, 5), "second": rng.randint(1, 6)},
        }[rule]()
        length = rng.randint(6, 7) if rule in ("alternate", "fibonacci") else rng.randint(5, 6)
        if rule == "add" and params["step"] < 0:
            params["start"] += -params["step"] * length  # keep every term positive
        # The gap is never among the first two terms: the rule must be readable before it.
        return {
            "rule": rule, "params": params, "length": length, "missing": rng.randint(3, length - 1),
            "fill": rng.choice(sorted(BOX_FILLS)),
        }

    def question(self, scene):
        return "The boxes in the image follow a pattern. Which number belongs in the box with the question mark?"

    def solve(self, scene):
        return str(sequence_terms(scene)[scene["missing"]])

    def render(self, scene):
        terms = sequence_terms(scene)
        n = len(terms)
        size = min(62, (480 - 20) // n - 8)
        image, draw = canvas(480, 180)
        x0 = (480 - n * (size + 8) + 8) / 2
        for i, term in enumerate(terms):
            x = x0 + i * (size + 8)
            draw.rectangle((x, 60, x + size, 60 + size), outline="black", width=3, fill=BOX_FILLS[scene["fill"]])
            label = "?" if i == scene["missing"] else str(term)
            size_pt = 26 if len(label) < 4 else 19
            text_center(draw, (x + size / 2, 60 + size / 2), label, size_pt, COLORS["red"] if label == "?" else "black")
        return image

    def chain(self, scene):
        terms = sequence_terms(scene)
        m = scene["missing"]
        shown = ", ".join("?" if i == m else str(t) for i, t in enumerate(terms))
        p, rule = scene["params"], scene["rule"]
        before = terms[m - 1]
        if rule == "add":
            how = f"each number is {abs(p['step'])} {'more' if p['step'] > 0 else 'less'} than the one before"
            work = f"{before} {'+' if p['step'] > 0 else '-'} {abs(p['step'])} = {terms[m]}"
        elif rule == "multiply":
            how = f"each number is {p['factor']} times the one before"
            work = f"{before} x {p['factor']} = {terms[m]}"
        elif rule == "alternate":
            how = f"the differences alternate between +{p['step']} and -{-p['step2']}"
            diff = terms[m] - before
            work = f"{before} {'+' if diff > 0 else '-'} {abs(diff)} = {terms[m]}"
        elif rule == "growing":
            how = f"the differences grow by {p['growth']} each time, starting at +{p['step']}"
            work = f"{before} + {terms[m] - before} = {terms[m]}"
        else:
            how = "each number is the sum of the two numbers before it"
            work = f"{terms[m - 2]} + {before} = {terms[m]}"
        steps = [
            f"The image shows a row of {len(terms)} boxes: {shown}.",
            f"Looking at the known numbers, {how}.",
            f"The box with the question mark is number {m + 1}; applying the rule to the box before it gives {work}.",
        ]
        if m + 1 < len(terms):
            steps.append(f"Check: continuing the rule from {terms[m]} gives {terms[m + 1]}, which matches the next box.")
        steps.append(f"The missing number is {terms[m]}. Final answer: {terms[m]}.")
        return steps


# -- clock ---------------------------------------------------------------------------------------


def _clock_text(hour: int, minute: int) -> str:
    return f"{hour}:{minute:02d}"


class ClockReading(Template):
    name = "clock_reading"
    category = CATEGORY
    answer_type = "choice"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        hour, minute = rng.randint(1, 12), rng.randint(0, 59)
        correct = _clock_text(hour, minute)
        # Distractors are the mistakes people make: swapping the hands, misreading the hour, off by 5 min.
        candidates = {
            _clock_text(minute // 5 or 12, hour * 5 % 60),
            _clock_text(hour % 12 + 1, minute),
            _clock_text((hour - 2) % 12 + 1, minute),
            _clock_text(hour, (minute + 5) % 60),
            _clock_text(hour, (minute - 5) % 60),
        }
        candidates.discard(correct)
        distractors = rng.sample(sorted(candidates), 3)
        return {
            "hour": hour, "minute": minute,
            "face": rng.choice(["white", "ivory", "lightblue"]),
            "rim": rng.choice(["black", "blue", "green", "red"]),
            "options": shuffled_options(rng, correct, distractors),
        }

    def question(self, scene):
        return with_choices("What time does the clock show?", scene["options"])

    def solve(self, scene):
        return choice_answer(scene, _clock_text(scene["hour"], scene["minute"]))

    def render(self, scene):
        faces = {"white": (255, 255, 255), "ivory": (255, 250, 232), "lightblue": (225, 238, 252)}
        image, draw = canvas(400, 400, (235, 235, 235))
        cx, cy, r = 200, 200, 170
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=faces[scene["face"]], outline=COLORS[scene["rim"]], width=8)
        for tick in range(60):
            a = math.radians(tick * 6)
            inner = r - (24 if tick % 5 == 0 else 14)
            draw.line(
                (cx + inner * math.sin(a), cy - inner * math.cos(a), cx + (r - 8) * math.sin(a), cy - (r - 8) * math.cos(a)),
                fill="black", width=4 if tick % 5 == 0 else 1,
            )
        for h in range(1, 13):
            a = math.radians(h * 30)
            text_center(draw, (cx + (r - 46) * math.sin(a), cy - (r - 46) * math.cos(a)), str(h), 26)
        hour_angle = math.radians((scene["hour"] % 12 + scene["minute"] / 60) * 30)
        minute_angle = math.radians(scene["minute"] * 6)
        draw.line((cx, cy, cx + 85 * math.sin(hour_angle), cy - 85 * math.cos(hour_angle)), fill="black", width=10)
        draw.line((cx, cy, cx + 140 * math.sin(minute_angle), cy - 140 * math.cos(minute_angle)), fill="black", width=5)
        draw.ellipse((cx - 9, cy - 9, cx + 9, cy + 9), fill="black")
        return image

    def chain(self, scene):
        hour, minute = scene["hour"], scene["minute"]
        correct = _clock_text(hour, minute)
        mark, extra = divmod(minute, 5)
        number = mark if mark else 12
        at = f"exactly at the {number}" if extra == 0 else f"{plural(extra, 'small tick')} past the {number}"
        if mark == 0:
            reading = f"The 12 stands for 0 minutes, so that is {plural(minute, 'minute')}."
        elif extra == 0:
            reading = f"Each number is 5 minutes, so that is {mark} x 5 = {minute} minutes."
        else:
            reading = f"Each number is 5 minutes, so that is {mark} x 5 + {extra} = {minute} minutes."
        if minute == 0:
            hour_pos = f"The short hand points exactly at the {hour}"
        elif minute < 30:
            hour_pos = f"The short hand is a little past the {hour}"
        else:
            hour_pos = f"The short hand is between {hour} and {hour % 12 + 1} but has not reached {hour % 12 + 1}"
        return [
            "The image is an analog clock: the short thick hand shows the hour, the long thin hand the minutes.",
            f"The long hand points {at}. {reading}",
            f"{hour_pos}, so the hour is {hour}.",
            f"The time is {correct}.",
            choice_conclusion(scene, correct),
        ]


TEMPLATES = [ArithmeticExpression(), NumberSequence(), ClockReading()]
