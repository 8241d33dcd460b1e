"""Charts & Diagram Understanding: bar, line and pie charts that print their values (ChartQA-like)."""

from __future__ import annotations

import random

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
    shuffled_options,
    text_center,
    with_choices,
)

CATEGORY = "Charts & Diagram Understanding"

# (chart title, what one bar is, what is measured, the unit printed in the title, labels)
BAR_THEMES = [
    ("Fruit sold at the market", "fruit", "amount sold", "kg",
     ["Apples", "Pears", "Plums", "Grapes", "Cherries", "Lemons", "Mangoes", "Figs"]),
    ("Rainfall in April", "city", "rainfall", "mm",
     ["Oslo", "Lima", "Cairo", "Perth", "Delhi", "Quito", "Dakar", "Hanoi"]),
    ("Books borrowed", "month", "number of books borrowed", "books",
     ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"]),
    ("Votes per candidate", "candidate", "number of votes", "votes",
     ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana"]),
    ("Visitors per park", "park", "number of visitors", "hundreds",
     ["North", "South", "East", "West", "River", "Lake", "Hill", "Oak"]),
]

LINE_THEMES = [
    ("Average house price", "average house price", "thousand $"),
    ("Students enrolled", "number of students enrolled", "students"),
    ("Bicycle sales", "bicycle sales", "units"),
    ("Solar power output", "solar power output", "MWh"),
]

PIE_THEMES = [
    ("How commuters travel", ["Car", "Bus", "Train", "Bicycle", "Walking", "Tram"]),
    ("Household budget", ["Rent", "Food", "Transport", "Savings", "Leisure", "Health"]),
    ("Website traffic sources", ["Search", "Direct", "Social", "Email", "Referral", "Ads"]),
    ("Land use", ["Forest", "Farmland", "Urban", "Water", "Grassland", "Wetland"]),
]

BAR_COLORS = [COLORS["blue"], COLORS["orange"], COLORS["green"], COLORS["purple"], COLORS["red"]]
PIE_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _nice_top(value: int) -> int:
    step = 10 if value <= 60 else 20
    return step * (value // step + 1)


def _axes(draw, box, top: int, ylabel: str) -> None:
    """Y axis with gridlines at round values; the chart's values are also printed on the marks."""
    left, upper, right, lower = box
    step = top // 5
    for k in range(6):
        y = lower - (lower - upper) * k / 5
        draw.line((left, y, right, y), fill=(225, 225, 225))
        draw.text((left - 6, y), str(k * step), font=font(13), fill="black", anchor="rm")
    draw.line((left, upper, left, lower), fill="black", width=2)
    draw.line((left, lower, right, lower), fill="black", width=2)
    draw.text((8, upper - 18), ylabel, font=font(13), fill="black", anchor="lm")


# -- bar charts ----------------------------------------------------------------------------------


def _bar_scene(rng: random.Random, level: int) -> Scene:
    title, noun, measure, unit, pool = rng.choice(BAR_THEMES)
    n = rng.randint(*by_level(level, (3, 3), (3, 5), (4, 7)))
    if noun == "month":  # months keep their calendar order
        first = rng.randint(0, len(pool) - n)
        labels = pool[first:first + n]
    else:
        labels = rng.sample(pool, n)
    # Distinct values make "the highest" and "the lowest" unambiguous.
    values = rng.sample(range(5, 96), n)
    return {
        "title": title, "noun": noun, "measure": measure, "unit": unit,
        "labels": labels, "values": values, "color": rng.randrange(len(BAR_COLORS)),
    }


def _render_bars(scene: Scene):
    image, draw = canvas(480, 360)
    text_center(draw, (240, 20), f"{scene['title']} ({scene['unit']})", 18)
    box = (56, 60, 465, 310)
    top = _nice_top(max(scene["values"]))
    _axes(draw, box, top, scene["unit"])
    n = len(scene["values"])
    slot = (box[2] - box[0]) / n
    for i, (label, value) in enumerate(zip(scene["labels"], scene["values"])):
        x0 = box[0] + slot * i + slot * 0.18
        x1 = box[0] + slot * (i + 1) - slot * 0.18
        y = box[3] - (box[3] - box[1]) * value / top
        draw.rectangle((x0, y, x1, box[3]), fill=BAR_COLORS[scene["color"]])
        text_center(draw, ((x0 + x1) / 2, y - 10), str(value), 15)
        text_center(draw, ((x0 + x1) / 2, box[3] + 16), label, 14)
    return image


def _read_bars(scene: Scene) -> str:
    pairs = ", ".join(f"{label} {value}" for label, value in zip(scene["labels"], scene["values"]))
    return f"Reading the value printed above each bar: {pairs} ({scene['unit']})."


class BarHighest(Template):
    name = "bar_highest"
    category = CATEGORY
    answer_type = "text"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        return _bar_scene(rng, level)

    def question(self, scene):
        return (
            f"According to the bar chart, which {scene['noun']} has the highest {scene['measure']}? "
            "Answer with its label."
        )

    def solve(self, scene):
        values = scene["values"]
        return scene["labels"][values.index(max(values))]

    def render(self, scene):
        return _render_bars(scene)

    def chain(self, scene):
        best = self.solve(scene)
        ranked = sorted(zip(scene["values"], scene["labels"]), reverse=True)
        return [
            f"The chart is a bar chart titled \"{scene['title']}\" with one bar per {scene['noun']}.",
            _read_bars(scene),
            f"Comparing them, the largest value is {ranked[0][0]} ({ranked[0][1]}), ahead of "
            f"{ranked[1][0]} ({ranked[1][1]}).",
            f"So the {scene['noun']} with the highest {scene['measure']} is {best}. Final answer: {best}.",
        ]


class BarDifference(Template):
    name = "bar_difference"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        return _bar_scene(rng, level)

    def question(self, scene):
        return (
            f"In the bar chart, what is the difference between the highest and the lowest "
            f"{scene['measure']} (in {scene['unit']})?"
        )

    def solve(self, scene):
        return str(max(scene["values"]) - min(scene["values"]))

    def render(self, scene):
        return _render_bars(scene)

    def chain(self, scene):
        values, labels = scene["values"], scene["labels"]
        hi, lo = max(values), min(values)
        return [
            f"The bar chart shows the {scene['measure']} for {len(values)} {scene['noun']} labels.",
            _read_bars(scene),
            f"The highest bar is {labels[values.index(hi)]} with {hi}; the lowest is "
            f"{labels[values.index(lo)]} with {lo}.",
            f"The difference is {hi} - {lo} = {hi - lo}. Final answer: {hi - lo}.",
        ]


# -- line chart ----------------------------------------------------------------------------------


class LineBiggestRise(Template):
    name = "line_biggest_rise"
    category = CATEGORY
    answer_type = "choice"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        title, measure, unit = rng.choice(LINE_THEMES)
        start = rng.randint(2004, 2016)
        n = rng.randint(*by_level(level, (5, 5), (5, 6), (6, 7)))
        while True:
            values = [rng.randint(10, 95) for _ in range(n)]
            rises = [b - a for a, b in zip(values, values[1:])]
            # One clear winner, so the question has exactly one right option.
            if max(rises) > 0 and rises.count(max(rises)) == 1:
                break
        years = list(range(start, start + n))
        periods = [f"{a} to {b}" for a, b in zip(years, years[1:])]
        best = periods[rises.index(max(rises))]
        distractors = rng.sample([p for p in periods if p != best], 3)
        return {
            "title": title, "measure": measure, "unit": unit, "years": years, "values": values,
            "options": shuffled_options(rng, best, distractors),
        }

    def _best(self, scene):
        values, years = scene["values"], scene["years"]
        rises = [b - a for a, b in zip(values, values[1:])]
        i = rises.index(max(rises))
        return f"{years[i]} to {years[i + 1]}", rises

    def question(self, scene):
        return with_choices(
            f"The line chart shows the {scene['measure']} per year. Between which two consecutive years "
            f"did it increase the most?",
            scene["options"],
        )

    def solve(self, scene):
        return choice_answer(scene, self._best(scene)[0])

    def render(self, scene):
        image, draw = canvas(480, 360)
        text_center(draw, (240, 20), scene["title"], 18)
        box = (56, 60, 460, 310)
        top = _nice_top(max(scene["values"]))
        _axes(draw, box, top, scene["unit"])
        n = len(scene["values"])
        step = (box[2] - box[0] - 40) / (n - 1)
        points = [
            (box[0] + 20 + step * i, box[3] - (box[3] - box[1]) * v / top) for i, v in enumerate(scene["values"])
        ]
        draw.line(points, fill=COLORS["blue"], width=3)
        values = scene["values"]
        for i, ((x, y), value, year) in enumerate(zip(points, values, scene["years"])):
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=COLORS["blue"])
            draw.text(_label_spot(values, i, x, y), str(value), font=font(14), fill="black", anchor=_label_anchor(values, i))
            text_center(draw, (x, box[3] + 16), str(year), 14)
        return image

    def chain(self, scene):
        best, rises = self._best(scene)
        values, years = scene["values"], scene["years"]
        readings = ", ".join(f"{y}: {v}" for y, v in zip(years, values))
        changes = ", ".join(
            f"{a}-{b}: {'+' if r >= 0 else ''}{r}" for a, b, r in zip(years, years[1:], rises)
        )
        return [
            f"The chart plots the {scene['measure']} ({scene['unit']}) for each year from {years[0]} to "
            f"{years[-1]}, with the value printed at each point.",
            f"Reading the points: {readings}.",
            f"The change from each year to the next is {changes}.",
            f"The largest increase is +{max(rises)}, from {best}.",
            choice_conclusion(scene, best),
        ]


def _label_anchor(values: list[int], i: int) -> str:
    """Put a point's value where the line is not: above a peak, below a dip, and beside a slope
    on the side the line leaves empty."""
    before = values[i - 1] if i > 0 else None
    after = values[i + 1] if i + 1 < len(values) else None
    neighbours = [v for v in (before, after) if v is not None]
    if all(v <= values[i] for v in neighbours):
        return "mb"
    if all(v >= values[i] for v in neighbours):
        return "mt"
    return "rb" if before < values[i] else "lb"  # rising: upper left is free; falling: upper right


def _label_spot(values: list[int], i: int, x: float, y: float) -> tuple[float, float]:
    return {"mb": (x, y - 8), "mt": (x, y + 8), "rb": (x - 7, y - 5), "lb": (x + 7, y - 5)}[_label_anchor(values, i)]


# -- pie chart -----------------------------------------------------------------------------------


class PieShareSum(Template):
    name = "pie_share_sum"
    category = CATEGORY
    answer_type = "decimal"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        title, pool = rng.choice(PIE_THEMES)
        n = rng.randint(*by_level(level, (3, 3), (3, 5), (4, 6)))
        labels = rng.sample(pool, n)
        # Shares in tenths of a percent, each at least 6%, summing to exactly 100.0%.
        cuts = sorted(rng.sample(range(1, 1000 - 60 * n), n - 1))
        shares = [b - a + 60 for a, b in zip([0, *cuts], [*cuts, 1000 - 60 * n])]
        asked = sorted(rng.sample(range(n), 2))
        return {"title": title, "labels": labels, "shares": shares, "asked": asked}

    def question(self, scene):
        a, b = (scene["labels"][i] for i in scene["asked"])
        return (
            f"The pie chart \"{scene['title']}\" gives each share in percent. What percentage do "
            f"{a} and {b} make up together? Give the number with one decimal place."
        )

    def solve(self, scene):
        total = sum(scene["shares"][i] for i in scene["asked"])
        return f"{total / 10:.1f}"

    def render(self, scene):
        image, draw = canvas(480, 320)
        text_center(draw, (240, 20), scene["title"], 18)
        box = (20, 50, 270, 300)
        angle = -90.0
        for i, share in enumerate(scene["shares"]):
            sweep = 360 * share / 1000
            draw.pieslice(box, angle, angle + sweep, fill=PIE_COLORS[i], outline="white", width=2)
            angle += sweep
        # A legend rather than labels on the slices: small slices stay readable.
        for i, (label, share) in enumerate(zip(scene["labels"], scene["shares"])):
            y = 85 + i * 34
            draw.rectangle((290, y - 9, 308, y + 9), fill=PIE_COLORS[i])
            draw.text((318, y), f"{label}: {share / 10:.1f}%", font=font(16), fill="black", anchor="lm")
        return image

    def chain(self, scene):
        a, b = scene["asked"]
        la, lb = scene["labels"][a], scene["labels"][b]
        sa, sb = scene["shares"][a] / 10, scene["shares"][b] / 10
        total = self.solve(scene)
        return [
            f"The pie chart has {len(scene['shares'])} slices, and the legend gives each slice's share in percent.",
            f"From the legend, {la} is {sa:.1f}%.",
            f"From the legend, {lb} is {sb:.1f}%.",
            f"Together they make {sa:.1f}% + {sb:.1f}% = {total}%. Final answer: {total}.",
        ]


TEMPLATES = [BarHighest(), BarDifference(), LineBiggestRise(), PieShareSum()]
