"""Visual Reasoning: spatial relations, odd one out, and routes on a small map."""

from __future__ import annotations

from llamav.bench.synth._common import (
    COLORS,
    DEFAULT_LEVEL,
    Probe,
    Scene,
    Template,
    article,
    by_level,
    canvas,
    choice_answer,
    choice_conclusion,
    shape,
    shuffled_options,
    text_center,
    with_choices,
)

CATEGORY = "Visual Reasoning"

KINDS = ["circle", "square", "triangle", "pentagon"]
PALETTE = ["red", "blue", "green", "yellow", "purple", "orange"]

# -- spatial relation ----------------------------------------------------------------------------

DIRECTIONS = {"right of": (0, 1), "left of": (0, -1), "above": (-1, 0), "below": (1, 0)}


def _name(obj: dict) -> str:
    return f"{obj['color']} {obj['kind']}"


class SpatialRelation(Template):
    name = "spatial_relation"
    category = CATEGORY
    answer_type = "choice"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        while True:
            looks = rng.sample([(c, k) for c in PALETTE for k in KINDS], rng.randint(*by_level(level, (5, 6), (5, 7), (6, 9))))
            cells = rng.sample(range(16), len(looks))
            objects = [{"color": c, "kind": k, "row": cell // 4, "col": cell % 4} for (c, k), cell in zip(looks, cells)]
            at = {(o["row"], o["col"]): o for o in objects}
            pairs = [
                (ref, relation, at[(ref["row"] + dr, ref["col"] + dc)])
                for ref in objects
                for relation, (dr, dc) in DIRECTIONS.items()
                if (ref["row"] + dr, ref["col"] + dc) in at
            ]
            if pairs:
                break
        ref, relation, target = rng.choice(pairs)
        others = [_name(o) for o in objects if o is not target and o is not ref]
        distractors = rng.sample(others, min(3, len(others)))
        return {
            "objects": objects, "reference": _name(ref), "relation": relation,
            "options": shuffled_options(rng, _name(target), distractors),
        }

    def _target(self, scene):
        ref = next(o for o in scene["objects"] if _name(o) == scene["reference"])
        dr, dc = DIRECTIONS[scene["relation"]]
        return next(o for o in scene["objects"] if (o["row"], o["col"]) == (ref["row"] + dr, ref["col"] + dc)), ref

    def question(self, scene):
        return with_choices(
            f"The shapes sit in a 4 x 4 grid. Which shape is in the cell directly {scene['relation']} "
            f"the {scene['reference']}?",
            scene["options"],
        )

    def solve(self, scene):
        return choice_answer(scene, _name(self._target(scene)[0]))

    def render(self, scene):
        image, draw = canvas(400, 400, (252, 252, 252))
        for k in range(5):
            draw.line((20 + 90 * k, 20, 20 + 90 * k, 380), fill=(200, 200, 200), width=2)
            draw.line((20, 20 + 90 * k, 380, 20 + 90 * k), fill=(200, 200, 200), width=2)
        for o in scene["objects"]:
            shape(draw, o["kind"], 65 + 90 * o["col"], 65 + 90 * o["row"], 30, COLORS[o["color"]])
        return image

    def probes(self, scene):
        found = []
        for o in sorted(scene["objects"], key=lambda o: (o["row"], o["col"])):
            where = f"row {o['row'] + 1}, column {o['col'] + 1}"
            found.append(Probe(f"The shapes sit in a 4 x 4 grid. Where is the {_name(o)}?", where,
                               f"The {_name(o)} is in {where} (counting from the top left)."))
            found.append(Probe(f"The shapes sit in a 4 x 4 grid. Which shape is in {where}?", _name(o),
                               f"Row {o['row'] + 1}, column {o['col'] + 1} holds the {_name(o)}."))
        return found

    def chain(self, scene):
        target, ref = self._target(scene)
        dr, dc = DIRECTIONS[scene["relation"]]
        return [
            f"The image is a 4 x 4 grid holding {len(scene['objects'])} coloured shapes, each in its own cell.",
            f"The {scene['reference']} is in row {ref['row'] + 1}, column {ref['col'] + 1} (counting "
            "from the top left).",
            f"The cell directly {scene['relation']} it is row {ref['row'] + 1 + dr}, column {ref['col'] + 1 + dc}, "
            f"and it holds the {_name(target)}.",
            choice_conclusion(scene, _name(target)),
        ]


# -- odd one out ---------------------------------------------------------------------------------


# Dot layouts of a die (and 7 = six plus the centre), so a count can be seen at a glance.
DICE = {
    0: [], 1: [(0, 0)], 2: [(-1, -1), (1, 1)], 3: [(-1, -1), (0, 0), (1, 1)],
    4: [(-1, -1), (1, -1), (-1, 1), (1, 1)], 5: [(-1, -1), (1, -1), (0, 0), (-1, 1), (1, 1)],
    6: [(-1, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (1, 1)],
    7: [(-1, -1), (1, -1), (-1, 0), (0, 0), (1, 0), (-1, 1), (1, 1)],
}


class OddOneOut(Template):
    name = "odd_one_out"
    category = CATEGORY
    answer_type = "choice"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        rule = rng.choice(["kind", "color", "dots"])
        odd = rng.randrange(4)
        if rule == "kind":
            # Colours all differ, so colour cannot single out a figure instead of the shape.
            common, other = rng.sample(KINDS, 2)
            colors = rng.sample(PALETTE, 4)
            figures = [{"kind": other if i == odd else common, "color": colors[i], "dots": 0} for i in range(4)]
        elif rule == "color":
            common, other = rng.sample(PALETTE, 2)
            kinds = rng.sample(KINDS, 4)
            figures = [{"kind": kinds[i], "color": other if i == odd else common, "dots": 0} for i in range(4)]
        else:
            color, kind = rng.choice(PALETTE), rng.choice(KINDS[:2])
            common = rng.randint(2, 5)
            other = common + rng.choice([-1, 1, 2])
            figures = [{"kind": kind, "color": color, "dots": other if i == odd else common} for i in range(4)]
        return {"rule": rule, "figures": figures, "options": ["Figure 1", "Figure 2", "Figure 3", "Figure 4"]}

    def _odd(self, scene):
        key = scene["rule"]
        values = [f[key] for f in scene["figures"]]
        return next(i for i, v in enumerate(values) if values.count(v) == 1)

    def question(self, scene):
        return with_choices("Which figure is the odd one out?", scene["options"])

    def solve(self, scene):
        return choice_answer(scene, f"Figure {self._odd(scene) + 1}")

    def render(self, scene):
        image, draw = canvas(480, 200)
        for i, f in enumerate(scene["figures"]):
            cx = 60 + 120 * i
            draw.rectangle((cx - 52, 20, cx + 52, 140), outline=(160, 160, 160), width=2)
            shape(draw, f["kind"], cx, 80, 40, COLORS[f["color"]])
            for dx, dy in DICE[f["dots"]]:
                x, y = cx + 16 * dx, 80 + 16 * dy
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill="white", outline="black")
            text_center(draw, (cx, 168), str(i + 1), 24)
        return image

    def probes(self, scene):
        found = []
        for i, f in enumerate(scene["figures"]):
            dots = f" with {f['dots']} white dots" if scene["rule"] == "dots" else ""
            looks = f"{article(f['color'])} {f['kind']}{dots}"
            found.append(Probe(f"What does figure {i + 1} show?", looks, f"Figure {i + 1} is {looks}."))
        return found

    def chain(self, scene):
        figures, rule = scene["figures"], scene["rule"]
        odd = self._odd(scene)
        common = figures[(odd + 1) % 4]  # any figure but the odd one shows the shared property
        if rule == "kind":
            described = "; ".join(f"figure {i + 1} is {article(f['color'])} {f['kind']}" for i, f in enumerate(figures))
            look = "The colours are all different, so colour does not pick out one figure. Compare the shapes instead"
            found = f"three figures are {common['kind']}s, but figure {odd + 1} is {article(figures[odd]['kind'])}"
        elif rule == "color":
            described = "; ".join(f"figure {i + 1} is {article(f['color'])} {f['kind']}" for i, f in enumerate(figures))
            look = "The shapes are all different, so shape does not pick out one figure. Compare the colours instead"
            found = f"three figures are {common['color']}, but figure {odd + 1} is {figures[odd]['color']}"
        else:
            described = "; ".join(
                f"figure {i + 1} is {article(f['color'])} {f['kind']} with {f['dots']} white dots"
                for i, f in enumerate(figures)
            )
            look = "The shapes and colours are all the same, so count the white dots inside each"
            found = f"three figures have {common['dots']} dots, but figure {odd + 1} has {figures[odd]['dots']}"
        return [
            f"The image shows four numbered figures: {described}.",
            f"{look}: {found}.",
            f"So figure {odd + 1} is the odd one out.",
            choice_conclusion(scene, f"Figure {odd + 1}"),
        ]


# -- shortest route ------------------------------------------------------------------------------

# Town positions: a fixed layout, with a random choice of which roads exist and how long they are.
SPOTS = [(60, 190), (190, 70), (190, 310), (330, 90), (330, 290), (440, 190)]
# B-E is the only diagonal: a second one (C-D) would cross it and read as a junction.
ROADS = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (1, 4), (3, 4), (3, 5), (4, 5)]


def routes(scene: Scene) -> list[tuple[list[str], int]]:
    """Every route that visits no town twice, from the start to the goal, with its length."""
    towns = scene["towns"]
    roads = {frozenset((a, b)): d for a, b, d in scene["roads"]}
    found = []

    def walk(path):
        if path[-1] == scene["goal"]:
            found.append((path, sum(roads[frozenset(p)] for p in zip(path, path[1:]))))
            return
        for town in towns:
            if town not in path and frozenset((path[-1], town)) in roads:
                walk(path + [town])

    walk([scene["start"]])
    return found


class ShortestRoute(Template):
    name = "shortest_route"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        towns = list("ABCDEF")
        while True:
            chosen = sorted(rng.sample(ROADS, rng.randint(6, 8)))
            roads = [[towns[a], towns[b], rng.randint(2, 15)] for a, b in chosen]  # lists: the scene is JSON
            scene = {"towns": towns, "roads": roads, "start": "A", "goal": "F"}
            found = routes(scene)
            lengths = sorted(d for _, d in found)
            # Two to five routes: enough to need comparing, few enough to list in a careful answer;
            # a unique shortest one keeps the reasoning unambiguous.
            if 2 <= len(found) <= 5 and lengths[0] < lengths[1]:
                return scene

    def question(self, scene):
        return (
            "The map shows towns joined by roads, with each road's length in km. "
            "What is the length of the shortest route from A to F, in km?"
        )

    def solve(self, scene):
        return str(min(d for _, d in routes(scene)))

    def render(self, scene):
        image, draw = canvas(500, 380, (244, 248, 240))
        where = dict(zip(scene["towns"], SPOTS))
        for a, b, d in scene["roads"]:
            (x1, y1), (x2, y2) = where[a], where[b]
            draw.line((x1, y1, x2, y2), fill=(110, 110, 110), width=4)
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            draw.rectangle((mx - 15, my - 12, mx + 15, my + 12), fill="white", outline=(110, 110, 110))
            text_center(draw, (mx, my), str(d), 16)
        for town, (x, y) in where.items():
            draw.ellipse((x - 20, y - 20, x + 20, y + 20), fill=COLORS["blue"], outline="black", width=2)
            text_center(draw, (x, y), town, 20, "white")
        return image

    def chain(self, scene):
        found = sorted(routes(scene), key=lambda r: r[1])
        roads = {frozenset((a, b)): d for a, b, d in scene["roads"]}
        listing = "; ".join(
            f"{'-'.join(path)} = {' + '.join(str(roads[frozenset(p)]) for p in zip(path, path[1:]))} = {d} km"
            for path, d in found
        )
        best_path, best = found[0]
        return [
            f"The map has towns A to F joined by {len(scene['roads'])} roads, each labelled with its length in km.",
            f"Following the roads, there are {len(found)} routes from A to F that do not pass a town twice.",
            f"Adding up each route: {listing}.",
            f"The shortest is {'-'.join(best_path)} with {best} km. Final answer: {best}.",
        ]


TEMPLATES = [SpatialRelation(), OddOneOut(), ShortestRoute()]
