"""Social & Cultural Context: national flags, coins, and calendars."""

from __future__ import annotations

import calendar

from llamav.bench.synth._common import (
    DEFAULT_LEVEL,
    Probe,
    Template,
    by_level,
    canvas,
    choice_answer,
    choice_conclusion,
    money,
    shuffled_options,
    text_center,
    with_choices,
)

CATEGORY = "Social & Cultural Context"

# -- flags ---------------------------------------------------------------------------------------

SHADES = {
    "red": (206, 17, 38), "white": (255, 255, 255), "blue": (0, 57, 166), "green": (0, 140, 69),
    "yellow": (252, 209, 22), "black": (0, 0, 0), "orange": (255, 136, 62),
}
# Plain tricolours: (stripe direction, colours from hoist to fly or top to bottom). Flags that only
# differ from one of these by shade or proportion (Chad/Romania, Luxembourg/Netherlands) are left out,
# so every flag here is told apart by its stripes alone.
FLAGS: dict[str, tuple[str, tuple[str, str, str]]] = {
    "France": ("vertical", ("blue", "white", "red")),
    "Italy": ("vertical", ("green", "white", "red")),
    "Ireland": ("vertical", ("green", "white", "orange")),
    "Belgium": ("vertical", ("black", "yellow", "red")),
    "Mali": ("vertical", ("green", "yellow", "red")),
    "Guinea": ("vertical", ("red", "yellow", "green")),
    "Nigeria": ("vertical", ("green", "white", "green")),
    "Peru": ("vertical", ("red", "white", "red")),
    "Romania": ("vertical", ("blue", "yellow", "red")),
    "Germany": ("horizontal", ("black", "red", "yellow")),
    "Netherlands": ("horizontal", ("red", "white", "blue")),
    "Russia": ("horizontal", ("white", "blue", "red")),
    "Austria": ("horizontal", ("red", "white", "red")),
    "Hungary": ("horizontal", ("red", "white", "green")),
    "Bulgaria": ("horizontal", ("white", "green", "red")),
    "Estonia": ("horizontal", ("blue", "black", "white")),
    "Lithuania": ("horizontal", ("yellow", "green", "red")),
    "Yemen": ("horizontal", ("red", "white", "black")),
    "Sierra Leone": ("horizontal", ("green", "white", "blue")),
    "Gabon": ("horizontal", ("green", "yellow", "blue")),
}


def _describe(country: str) -> str:
    direction, colors = FLAGS[country]
    order = "from the pole outwards" if direction == "vertical" else "from top to bottom"
    return f"three equal {direction} stripes, {', '.join(colors)} {order}"


class FlagCountry(Template):
    name = "flag_country"
    category = CATEGORY
    answer_type = "choice"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        country = rng.choice(sorted(FLAGS))
        # Half the time the distractors share the stripe direction or a colour: a harder, fairer test.
        pool = sorted(c for c in FLAGS if c != country)
        if rng.random() < 0.5:
            similar = [c for c in pool if FLAGS[c][0] == FLAGS[country][0] or set(FLAGS[c][1]) & set(FLAGS[country][1])]
            pool = similar if len(similar) >= 3 else pool
        return {
            "country": country,
            "width": rng.randrange(240, 331, 10),
            "sky": rng.choice(["lightblue", "gray", "white"]),
            "options": shuffled_options(rng, country, rng.sample(pool, 3)),
        }

    def question(self, scene):
        return with_choices("Which country's national flag is shown?", scene["options"])

    def solve(self, scene):
        return choice_answer(scene, scene["country"])

    def render(self, scene):
        skies = {"lightblue": (205, 228, 248), "gray": (225, 225, 225), "white": (250, 250, 250)}
        image, draw = canvas(420, 320, skies[scene["sky"]])
        direction, colors = FLAGS[scene["country"]]
        w = scene["width"]
        h = w * 2 // 3
        x0, y0 = 60, 40
        draw.rectangle((44, 30, 52, 310), fill=(110, 90, 70))  # the pole marks the hoist side
        for i, color in enumerate(colors):
            if direction == "vertical":
                box = (x0 + w * i // 3, y0, x0 + w * (i + 1) // 3, y0 + h)
            else:
                box = (x0, y0 + h * i // 3, x0 + w, y0 + h * (i + 1) // 3)
            draw.rectangle(box, fill=SHADES[color])
        draw.rectangle((x0, y0, x0 + w, y0 + h), outline=(60, 60, 60), width=1)
        return image

    def probes(self, scene):
        country = scene["country"]
        direction, colors = FLAGS[country]
        first, last = ("nearest the pole", "furthest from the pole") if direction == "vertical" else ("at the top", "at the bottom")
        return [
            Probe("What stripes does the flag have?", _describe(country), f"The flag has {_describe(country)}."),
            Probe(f"What colour is the stripe {first}?", colors[0], f"The stripe {first} is {colors[0]}."),
            Probe(f"What colour is the stripe {last}?", colors[2], f"The stripe {last} is {colors[2]}."),
            Probe("Which country's national flag is shown?", country, f"That pattern is the national flag of {country}."),
        ]

    def chain(self, scene):
        country = scene["country"]
        others = [c for c in scene["options"] if c != country]
        return [
            f"The flag hangs from a pole on the left and has {_describe(country)}.",
            f"That pattern is the national flag of {country}.",
            "Checking the other options: " + "; ".join(f"{c} has {_describe(c)}" for c in others)
            + ", so none of them match.",
            choice_conclusion(scene, country),
        ]


# -- coins ---------------------------------------------------------------------------------------

# Euro coins: value in cents -> (diameter in px, face colour, ring colour or None). Sizes keep the
# real coins' order, so a 10 cent coin is smaller than a 5 cent coin, as in a real purse.
COINS = {
    1: (46, (184, 115, 51), None), 2: (52, (184, 115, 51), None), 5: (60, (184, 115, 51), None),
    10: (56, (212, 175, 55), None), 20: (63, (212, 175, 55), None), 50: (69, (212, 175, 55), None),
    100: (66, (192, 192, 192), (212, 175, 55)), 200: (74, (212, 175, 55), (192, 192, 192)),
}


def _coin_label(cents: int) -> tuple[str, str]:
    return (str(cents // 100), "EURO") if cents >= 100 else (str(cents), "CENT")


class CoinTotal(Template):
    name = "coin_total"
    category = CATEGORY
    answer_type = "decimal"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        n = rng.randint(*by_level(level, (2, 4), (3, 6), (3, 8)))
        cells = rng.sample(range(12), n)  # a 4 x 3 grid of spots on the table, one coin each
        coins = [
            {
                "cents": rng.choice(sorted(COINS)),
                "x": 60 + 100 * (c % 4) + rng.randint(-8, 8),
                "y": 60 + 100 * (c // 4) + rng.randint(-8, 8),
            }
            for c in sorted(cells)
        ]
        return {"coins": coins, "table": rng.choice(["wood", "cloth"])}

    def question(self, scene):
        return "What is the total value of the euro coins on the table, in euros? Give two decimal places."

    def solve(self, scene):
        return money(sum(c["cents"] for c in scene["coins"]))

    def render(self, scene):
        image, draw = canvas(420, 320, (160, 120, 80) if scene["table"] == "wood" else (40, 100, 70))
        for coin in scene["coins"]:
            diameter, face, ring = COINS[coin["cents"]]
            r, x, y = diameter / 2, coin["x"], coin["y"]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ring or face, outline=(60, 60, 60), width=2)
            if ring:
                draw.ellipse((x - r * 0.7, y - r * 0.7, x + r * 0.7, y + r * 0.7), fill=face)
            value, unit = _coin_label(coin["cents"])
            text_center(draw, (x, y - 5), value, 22)
            text_center(draw, (x, y + 13), unit, 10)
        return image

    def chain(self, scene):
        cents = [c["cents"] for c in scene["coins"]]
        names = [f"{c // 100} euro" if c >= 100 else f"{c} cent" for c in cents]
        total = sum(cents)
        return [
            f"The image shows {len(cents)} euro coins; each is stamped with its value in CENT or EURO.",
            f"Reading them row by row: {', '.join(names)}.",
            f"In cents: {' + '.join(map(str, cents))} = {total} cents.",
            f"{total} cents is {money(total)} euros. Final answer: {money(total)}.",
        ]


# -- calendar ------------------------------------------------------------------------------------

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"]


class CalendarWeekday(Template):
    name = "calendar_weekday"
    category = CATEGORY
    answer_type = "text"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        year, month = rng.randint(1990, 2035), rng.randint(1, 12)
        # Calendars start the week on Monday in most of Europe and on Sunday in the US: both appear.
        return {"year": year, "month": month, "day": rng.randint(1, calendar.monthrange(year, month)[1]),
                "week_starts": rng.choice(["Monday", "Sunday"])}

    def _layout(self, scene) -> list[list[int]]:
        first = 0 if scene["week_starts"] == "Monday" else 6
        return calendar.Calendar(firstweekday=first).monthdayscalendar(scene["year"], scene["month"])

    def _headers(self, scene) -> list[str]:
        shift = 0 if scene["week_starts"] == "Monday" else 6
        return [DAY_NAMES[(shift + i) % 7] for i in range(7)]

    def question(self, scene):
        return "On which day of the week is the circled date in this calendar? Answer with the day's full name."

    def solve(self, scene):
        return DAY_NAMES[calendar.weekday(scene["year"], scene["month"], scene["day"])]

    def render(self, scene):
        weeks = self._layout(scene)
        image, draw = canvas(420, 110 + 46 * len(weeks), (252, 252, 248))
        text_center(draw, (210, 28), f"{MONTH_NAMES[scene['month'] - 1]} {scene['year']}", 22)
        for col, name in enumerate(self._headers(scene)):
            color = (200, 30, 30) if name == "Sunday" else "black"
            text_center(draw, (45 + 55 * col, 70), name[:3], 15, color)
        draw.line((20, 86, 400, 86), fill="black")
        for row, week in enumerate(weeks):
            for col, day in enumerate(week):
                if day:
                    x, y = 45 + 55 * col, 112 + 46 * row
                    text_center(draw, (x, y), str(day), 18)
                    if day == scene["day"]:
                        draw.ellipse((x - 19, y - 19, x + 19, y + 19), outline=(220, 20, 20), width=3)
        return image

    def chain(self, scene):
        weeks = self._layout(scene)
        row = next(i for i, week in enumerate(weeks) if scene["day"] in week)
        col = weeks[row].index(scene["day"])
        headers = self._headers(scene)
        answer = headers[col]
        return [
            f"The calendar shows {MONTH_NAMES[scene['month'] - 1]} {scene['year']}, with weeks starting "
            f"on {scene['week_starts']} (the first column).",
            f"The circled date is {scene['day']}, in week row {row + 1}, column {col + 1}.",
            f"Column {col + 1} is headed \"{answer[:3]}\", which is {answer}.",
            f"So {MONTH_NAMES[scene['month'] - 1]} {scene['day']}, {scene['year']} is a {answer}. Final "
            f"answer: {answer}.",
        ]


TEMPLATES = [FlagCountry(), CoinTotal(), CalendarWeekday()]
