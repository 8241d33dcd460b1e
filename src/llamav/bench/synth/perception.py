"""Complex Visual Perception: counting and comparing shapes in a cluttered picture."""

from __future__ import annotations

import random
from collections import Counter

from llamav.bench.synth._common import COLORS, DEFAULT_LEVEL, Probe, Scene, Template, by_level, canvas, plural, shape

CATEGORY = "Complex Visual Perception"

KINDS = ["circle", "square", "triangle"]
PALETTE = ["red", "blue", "green", "yellow", "purple"]
GRID_COLS, GRID_ROWS, CELL = 7, 5, 64


def _clutter(rng: random.Random, colors: list[str], count: int, level: int) -> list[dict]:
    """Shapes on a jittered grid: cluttered, but no two overlap, so every one can be counted."""
    cells = rng.sample(range(GRID_COLS * GRID_ROWS), count)
    shapes = []
    for cell in sorted(cells):
        row, col = divmod(cell, GRID_COLS)
        r = rng.randint(*by_level(level, (24, 28), (18, 24), (14, 22)))
        slack = CELL // 2 - r - 3
        shapes.append({
            "kind": rng.choice(KINDS), "color": rng.choice(colors),
            "x": 16 + col * CELL + CELL // 2 + rng.randint(-slack, slack),
            "y": 16 + row * CELL + CELL // 2 + rng.randint(-slack, slack),
            "r": r,
        })
    return shapes


def _region(s: dict) -> str:
    """Where a shape sits, in the words a person would use: "top left", "middle", ..."""
    width, height = 32 + GRID_COLS * CELL, 32 + GRID_ROWS * CELL
    row = ["top", "middle", "bottom"][min(2, 3 * s["y"] // height)]
    col = ["left", "centre", "right"][min(2, 3 * s["x"] // width)]
    return "in the middle" if (row, col) == ("middle", "centre") else f"at the {row} {col}"


def _shape_probes(scene: Scene) -> list[Probe]:
    """How many shapes of each colour, and of each colour and kind that the picture holds."""
    shapes = scene["shapes"]
    probes = []
    counted = [*sorted(Counter(f"{s['color']} shape" for s in shapes).items()),
               *sorted(Counter(f"{s['color']} {s['kind']}" for s in shapes).items())]
    for what, n in counted:
        probes.append(Probe(f"How many {what}s are there in the image?", str(n),
                            f"There {'is' if n == 1 else 'are'} {plural(n, what)}."))
    return probes


def _render(scene: Scene):
    image, draw = canvas(16 * 2 + GRID_COLS * CELL, 16 * 2 + GRID_ROWS * CELL, (250, 250, 250))
    for s in scene["shapes"]:
        shape(draw, s["kind"], s["x"], s["y"], s["r"], COLORS[s["color"]])
    return image


class CountColorShape(Template):
    name = "count_color_shape"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        colors = rng.sample(PALETTE, rng.randint(*by_level(level, (2, 3), (3, 4), (3, 5))))
        shapes = _clutter(rng, colors, rng.randint(*by_level(level, (4, 8), (8, 14), (14, 26))), level)
        target = rng.choice(shapes)
        return {"shapes": shapes, "color": target["color"], "kind": target["kind"]}

    def question(self, scene):
        return f"How many {scene['color']} {scene['kind']}s are there in the image?"

    def solve(self, scene):
        return str(sum(s["color"] == scene["color"] and s["kind"] == scene["kind"] for s in scene["shapes"]))

    def render(self, scene):
        return _render(scene)

    def probes(self, scene):
        return _shape_probes(scene)

    def chain(self, scene):
        color, kind = scene["color"], scene["kind"]
        same_color = [s for s in scene["shapes"] if s["color"] == color]
        by_kind = Counter(s["kind"] for s in same_color)
        hits = [s for s in same_color if s["kind"] == kind]
        where = "; ".join(f"{n} {place}" for place, n in Counter(_region(s) for s in hits).items())
        answer = len(hits)
        return [
            f"The image shows {len(scene['shapes'])} shapes (circles, squares and triangles) in several "
            "colours, scattered over the picture.",
            f"First pick out the {color} shapes: there are {len(same_color)} of them, "
            + ", ".join(f"{by_kind[k]} {k}{'s' if by_kind[k] != 1 else ''}" for k in KINDS) + ".",
            f"Among these, scanning from top to bottom, the {kind}s are: {where}.",
            f"So there are {answer} {color} {kind}s. Final answer: {answer}.",
        ]


class MostCommonColor(Template):
    name = "most_common_color"
    category = CATEGORY
    answer_type = "text"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        colors = rng.sample(PALETTE, rng.randint(*by_level(level, (2, 3), (3, 3), (3, 4))))
        while True:
            shapes = _clutter(rng, colors, rng.randint(*by_level(level, (5, 9), (8, 14), (12, 24))), level)
            counts = Counter(s["color"] for s in shapes).most_common()
            # A clear winner, by at least two, so the answer never hinges on one hard-to-see shape.
            if len(counts) == 1 or counts[0][1] - counts[1][1] >= 2:
                return {"shapes": shapes, "colors": colors}

    def question(self, scene):
        return "Which colour appears most often among the shapes in the image? Answer with the colour name."

    def solve(self, scene):
        return Counter(s["color"] for s in scene["shapes"]).most_common(1)[0][0]

    def render(self, scene):
        return _render(scene)

    def probes(self, scene):
        return _shape_probes(scene)

    def chain(self, scene):
        counts = Counter(s["color"] for s in scene["shapes"])
        listing = ", ".join(f"{counts[c]} {c}" for c in scene["colors"])
        best = self.solve(scene)
        return [
            f"The image shows {len(scene['shapes'])} shapes of different kinds; only their colours matter here.",
            f"Counting the shapes colour by colour: {listing}.",
            f"The largest count is {counts[best]}, for {best}.",
            f"So {best} appears most often. Final answer: {best}.",
        ]


TEMPLATES = [CountColorShape(), MostCommonColor()]
