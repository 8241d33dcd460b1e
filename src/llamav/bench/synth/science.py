"""Scientific Reasoning: reading instruments (thermometer, ruler, balance) and a switch circuit."""

from __future__ import annotations

from llamav.bench.synth._common import COLORS, DEFAULT_LEVEL, Template, by_level, canvas, font, plural, text_center

CATEGORY = "Scientific Reasoning"

# -- thermometer ---------------------------------------------------------------------------------


PLACES = ["garden", "greenhouse", "classroom", "garage", "balcony", "cellar", "laboratory", "kitchen", "porch", "attic"]


class Thermometer(Template):
    name = "thermometer"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        low = rng.choice([-40, -30, -20, -10, 0, 10, 20])
        return {
            "place": rng.choice(PLACES), "low": low, "high": low + 50,
            "reading": rng.randint(low + 2, low + 48), "liquid": rng.choice(["red", "blue"]),
        }

    def question(self, scene):
        return f"What temperature does the {scene['place']} thermometer show, in degrees Celsius?"

    def solve(self, scene):
        return str(scene["reading"])

    def render(self, scene):
        image, draw = canvas(320, 440, (240, 246, 250))
        top, bottom, x = 40, 340, 150  # bottom is the scale's low end; 6 px per degree
        per_degree = (bottom - top) / (scene["high"] - scene["low"])
        color = COLORS[scene["liquid"]]
        draw.rounded_rectangle((x - 12, top - 20, x + 12, bottom + 40), radius=12, fill="white", outline="black", width=2)
        draw.ellipse((x - 26, bottom + 22, x + 26, bottom + 74), fill=color, outline="black", width=2)
        level = bottom - (scene["reading"] - scene["low"]) * per_degree
        draw.rectangle((x - 6, level, x + 6, bottom + 30), fill=color)
        for t in range(scene["low"], scene["high"] + 1):
            y = bottom - (t - scene["low"]) * per_degree
            length = 22 if t % 10 == 0 else 15 if t % 5 == 0 else 9
            draw.line((x + 14, y, x + 14 + length, y), fill="black", width=2 if t % 5 == 0 else 1)
            if t % 10 == 0:
                draw.text((x + 42, y), str(t), font=font(18), fill="black", anchor="lm")
        draw.text((x + 40, top - 30), "°C", font=font(20), fill="black", anchor="lm")
        draw.text((x + 40, bottom + 48), scene["place"].upper(), font=font(16), fill=(70, 70, 70), anchor="lm")
        return image

    def chain(self, scene):
        t = scene["reading"]
        below = t - t % 10
        ticks = t - below
        where = f"exactly at the {below} mark" if ticks == 0 else f"{plural(ticks, 'small tick')} above the {below} mark"
        return [
            f"The image shows the {scene['place']} thermometer. Its scale is in degrees Celsius, "
            f"labelled every 10 degrees from {scene['low']} to {scene['high']}.",
            "Between two labels there are 10 small ticks, so each small tick is 1 degree (the longer "
            "middle tick marks 5).",
            f"The top of the liquid column is {where}.",
            f"That is {below} + {ticks} = {t} degrees Celsius. Final answer: {t}.",
        ]


# -- ruler ---------------------------------------------------------------------------------------

OBJECTS = [("pencil", "orange"), ("strip of tape", "green"), ("crayon", "purple"), ("screw", "gray"), ("stick", "red")]


class RulerLength(Template):
    name = "ruler_length"
    category = CATEGORY
    answer_type = "decimal"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        start = rng.randint(0, 30)
        obj, color = rng.choice(OBJECTS)
        return {"object": obj, "color": color, "start_mm": start, "end_mm": start + rng.randint(15, 50)}

    def question(self, scene):
        return f"Using the ruler, how long is the {scene['object']} in centimetres? Give one decimal place."

    def solve(self, scene):
        return f"{(scene['end_mm'] - scene['start_mm']) / 10:.1f}"

    def render(self, scene):
        image, draw = canvas(480, 220)
        left, per_mm, base = 30, 5.25, 120  # 0 to 8 cm across 420 px
        draw.rectangle((left - 12, base, left + 80 * per_mm + 12, base + 70), fill=(250, 228, 160), outline="black", width=2)
        for mm in range(81):
            x = left + mm * per_mm
            length = 26 if mm % 10 == 0 else 18 if mm % 5 == 0 else 10
            draw.line((x, base, x, base + length), fill="black", width=2 if mm % 10 == 0 else 1)
            if mm % 10 == 0:
                text_center(draw, (x, base + 42), str(mm // 10), 18)
        draw.text((left + 80 * per_mm - 4, base + 62), "cm", font=font(13), fill="black", anchor="rs")
        x0, x1 = left + scene["start_mm"] * per_mm, left + scene["end_mm"] * per_mm
        draw.rectangle((x0, 70, x1, 96), fill=COLORS[scene["color"]], outline="black", width=1)
        # Dashed guides from the object's ends down to the scale, as a person would hold a set square.
        for x in (x0, x1):
            for y in range(98, base, 6):
                draw.line((x, y, x, y + 3), fill="black", width=1)
        return image

    def chain(self, scene):
        s, e = scene["start_mm"], scene["end_mm"]
        return [
            "The ruler is marked in centimetres, with 10 small millimetre ticks between the numbers.",
            f"The left end of the {scene['object']} lines up with {s // 10} cm and {s % 10} mm, that is "
            f"{s / 10:.1f} cm.",
            f"The right end lines up with {e // 10} cm and {e % 10} mm, that is {e / 10:.1f} cm.",
            f"The length is {e / 10:.1f} - {s / 10:.1f} = {(e - s) / 10:.1f} cm. Final answer: {(e - s) / 10:.1f}.",
        ]


# -- balance -------------------------------------------------------------------------------------

WEIGHTS = [1, 2, 5, 10, 20, 50]


def _pieces(rng, total: int) -> list[int]:
    """Split a mass into standard weights, largest first, like a lab weight set."""
    pieces = []
    while total > 0:
        piece = rng.choice([w for w in WEIGHTS if w <= total][-2:])
        pieces.append(piece)
        total -= piece
    return sorted(pieces, reverse=True)


class BalanceScale(Template):
    name = "balance_scale"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        while True:
            box = rng.randint(3, 90)
            beside_box = _pieces(rng, rng.randint(1, 30)) if rng.random() < 0.6 else []
            other_side = _pieces(rng, box + sum(beside_box))
            if len(beside_box) <= 2 and len(other_side) <= 4:  # what fits on a pan
                return {
                    "box": box, "beside_box": beside_box, "other_side": other_side,
                    "box_left": rng.random() < 0.5, "box_color": rng.choice(["brown", "green", "blue"]),
                }

    def question(self, scene):
        return "The balance is level. Every weight is labelled in grams. What is the mass of the box marked \"?\" in grams?"

    def solve(self, scene):
        return str(sum(scene["other_side"]) - sum(scene["beside_box"]))

    def render(self, scene):
        image, draw = canvas(480, 340, (248, 248, 244))
        draw.polygon([(240, 120), (200, 300), (280, 300)], fill=(120, 120, 130))
        draw.rectangle((150, 300, 330, 314), fill=(90, 90, 100))
        draw.line((70, 120, 410, 120), fill="black", width=8)
        box_pan = ["?"] + [str(w) for w in scene["beside_box"]]
        weight_pan = [str(w) for w in scene["other_side"]]
        left, right = (box_pan, weight_pan) if scene["box_left"] else (weight_pan, box_pan)
        for cx, items in ((120, left), (360, right)):
            # A hanger with vertical strings, clear of the weights so every label stays readable.
            draw.line((cx, 124, cx, 134), fill="black", width=3)
            draw.line((cx - 80, 134, cx + 80, 134), fill="black", width=3)
            for x in (cx - 80, cx + 80):
                draw.line((x, 134, x, 200), fill="black", width=2)
            draw.chord((cx - 80, 160, cx + 80, 240), 0, 180, fill=(200, 170, 90), outline="black")
            width = sum(44 if item == "?" else 34 for item in items) + 4 * (len(items) - 1)
            x = cx - width / 2
            for item in items:
                w = 44 if item == "?" else 34
                if item == "?":
                    fill = {"brown": (140, 90, 50), "green": (40, 110, 60), "blue": (40, 70, 140)}[scene["box_color"]]
                    draw.rectangle((x, 150, x + w, 198), fill=fill, outline="black", width=2)
                    text_center(draw, (x + w / 2, 174), "?", 26, "white")
                else:
                    outline = [(x + 6, 166), (x + w - 6, 166), (x + w, 198), (x, 198)]
                    draw.polygon(outline, fill=(170, 170, 180), outline="black")
                    text_center(draw, (x + w / 2, 183), f"{item}g", 13)
                x += w + 4
        return image

    def chain(self, scene):
        beside, other = scene["beside_box"], scene["other_side"]
        total = sum(other)
        box = total - sum(beside)
        box_side, other_name = ("left", "right") if scene["box_left"] else ("right", "left")
        steps = [
            "The balance is level, so the total mass on the two pans is equal.",
            f"The {other_name} pan holds {' + '.join(f'{w} g' for w in other)} = {total} g.",
        ]
        if beside:
            weights = " + ".join(f"{w} g" for w in beside)
            steps.append(f"The {box_side} pan holds the box and {weights} = {sum(beside)} g of weights.")
            steps.append(f"So box + {sum(beside)} g = {total} g, and the box is {total} - {sum(beside)} = {box} g.")
        else:
            steps.append(f"The {box_side} pan holds only the box, so the box balances {total} g.")
        steps.append(f"The mass of the box is {box} grams. Final answer: {box}.")
        return steps


# -- circuit -------------------------------------------------------------------------------------


class CircuitBulbs(Template):
    name = "circuit_bulbs"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        branches = [{"closed": rng.random() < 0.6, "bulbs": rng.randint(1, 3)} for _ in range(rng.randint(*by_level(level, (2, 2), (2, 3), (2, 4))))]
        return {
            "main_closed": rng.random() < 0.8,
            # A bulb on the shared return wire: lit only when some branch completes the loop.
            "main_bulb": rng.random() < 0.4,
            "branches": branches,
            "ask": rng.choice(["lit", "not lit"]),
        }

    def question(self, scene):
        return (
            "In the circuit, the battery feeds parallel branches through a main switch. Each switch is "
            f"drawn open or closed, and every bulb works. How many bulbs are {scene['ask']}?"
        )

    def _lit(self, scene) -> int:
        closed = [b["bulbs"] for b in scene["branches"] if b["closed"]]
        if not (scene["main_closed"] and closed):
            return 0
        return sum(closed) + scene["main_bulb"]

    def _total(self, scene) -> int:
        return sum(b["bulbs"] for b in scene["branches"]) + scene["main_bulb"]

    def solve(self, scene):
        lit = self._lit(scene)
        return str(lit if scene["ask"] == "lit" else self._total(scene) - lit)

    def render(self, scene):
        image, draw = canvas(480, 400)
        top, bottom, left = 70, 360, 40
        xs = [170 + 85 * i for i in range(len(scene["branches"]))]
        right = xs[-1]
        wire = {"fill": "black", "width": 3}
        # Battery on the left side: long and short plates, labelled.
        draw.line((left, top, left, 200), **wire)
        draw.line((left, 230, left, bottom), **wire)
        draw.line((left - 22, 200, left + 22, 200), fill="black", width=4)
        draw.line((left - 11, 230, left + 11, 230), fill="black", width=8)
        draw.text((left + 26, 215), "battery", font=font(13), fill="black", anchor="lm")
        draw.line((left, top, 80, top), **wire)
        _switch(draw, 80, 130, top, scene["main_closed"], horizontal=True)
        draw.text((105, top - 38), "main switch", font=font(13), fill="black", anchor="mm")
        draw.line((130, top, right, top), **wire)
        draw.line((left, bottom, right, bottom), **wire)
        if scene["main_bulb"]:
            _bulb(draw, 100, bottom)
        for i, (x, branch) in enumerate(zip(xs, scene["branches"])):
            _switch(draw, top, 120, x, branch["closed"], horizontal=False)
            draw.text((x + 10, 100), f"S{i + 1}", font=font(14), fill="black", anchor="lm")
            draw.line((x, 120, x, bottom), **wire)
            for k in range(branch["bulbs"]):
                _bulb(draw, x, 170 + 70 * k)
        return image

    def chain(self, scene):
        branches = scene["branches"]
        total, lit = self._total(scene), self._lit(scene)
        closed = [b["bulbs"] for b in branches if b["closed"]]
        main_bulb = " plus one bulb on the shared return wire" if scene["main_bulb"] else ""
        states = "; ".join(
            f"S{i + 1} is {'closed' if b['closed'] else 'open'} with {plural(b['bulbs'], 'bulb')}"
            for i, b in enumerate(branches)
        )
        steps = [
            f"The circuit has a battery, a main switch, and {len(branches)} parallel branches, each with "
            f"its own switch; there are {plural(total, 'bulb')} in all{main_bulb}.",
            f"The main switch is drawn {'closed' if scene['main_closed'] else 'open'}. The branch switches: {states}.",
        ]
        if not scene["main_closed"]:
            steps.append("With the main switch open, no current leaves the battery, so no bulb can light.")
        elif not closed:
            steps.append("Every branch switch is open, so there is no complete loop and no bulb can light.")
        else:
            if len(closed) == 1:
                steps.append(
                    "Current flows only through the one branch whose switch is closed, "
                    f"lighting its {plural(sum(closed), 'bulb')}."
                )
            else:
                adding = " + ".join(map(str, closed))
                steps.append(
                    f"Current flows only through branches with a closed switch; their bulbs add up to {adding} = {sum(closed)}."
                )
            if scene["main_bulb"]:
                steps.append(
                    "The bulb on the return wire carries the current of every closed branch, "
                    f"so it lights too: {sum(closed)} + 1 = {lit}."
                )
        if scene["ask"] == "lit":
            steps.append(f"So {plural(lit, 'bulb')} {'is' if lit == 1 else 'are'} lit. Final answer: {lit}.")
        else:
            unlit = total - lit
            steps.append(f"{lit} of the {total} bulbs are lit, so {total} - {lit} = {unlit} are not lit. Final answer: {unlit}.")
        return steps


def _bulb(draw, x: float, y: float) -> None:
    draw.ellipse((x - 16, y - 16, x + 16, y + 16), fill=(255, 255, 240), outline="black", width=3)
    draw.line((x - 11, y - 11, x + 11, y + 11), fill="black", width=2)
    draw.line((x - 11, y + 11, x + 11, y - 11), fill="black", width=2)


def _switch(draw, start: float, end: float, fixed: float, closed: bool, horizontal: bool) -> None:
    """A knife switch on a wire from `start` to `end`; `fixed` is the wire's other coordinate.
    An open switch has its blade lifted away from the second contact."""

    def xy(along, across):
        return (along, across) if horizontal else (across, along)

    for contact in (start, end):
        x, y = xy(contact, fixed)
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill="black")
    tip = xy(end, fixed) if closed else xy(end - 10, fixed - 28)
    draw.line((*xy(start, fixed), *tip), fill="black", width=4)


TEMPLATES = [Thermometer(), RulerLength(), BalanceScale(), CircuitBulbs()]
