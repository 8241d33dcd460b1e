"""What every template shares: the Template protocol, drawing helpers, and answer formatting.

A template is four pure functions of a scene, a plain JSON-able dict that `make_scene` draws from
a seeded `random.Random`. Keeping the answer (`solve`) and the picture (`render`) as separate
functions of the same scene is what lets the tests recompute every answer without looking at
pixels, and lets a reader check that the picture really shows what the answer needs.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache
from typing import Any, NamedTuple

from PIL import Image, ImageDraw, ImageFont

# One alphabet for writing options and reading them back.
from llamav.answer import LETTERS
from llamav.records import AnswerType

Scene = dict[str, Any]

# Colours far enough apart that a person (or a model) never has to guess which name applies.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40),
    "blue": (31, 94, 204),
    "green": (44, 160, 44),
    "yellow": (240, 200, 20),
    "purple": (148, 80, 189),
    "orange": (255, 127, 14),
    "black": (25, 25, 25),
    "gray": (140, 140, 140),
}

# Difficulty levels. Level 3 is the benchmark as published (and the default: its samples never
# change); levels 1 and 2 draw the same kinds of problems with fewer objects, fewer bars or rows,
# smaller numbers and bigger shapes, so that a model small enough to train on a laptop can learn
# to see before it has to see much. Templates with no such knob (a clock, a flag) ignore the level.
LEVELS = (1, 2, 3)
DEFAULT_LEVEL = 3


def by_level(level: int, easy, medium, hard):
    """A scene parameter for a difficulty level: `easy` at 1, `medium` at 2, `hard` (as published) at 3."""
    return {1: easy, 2: medium, 3: hard}[level]


class Probe(NamedTuple):
    """A short question the picture alone answers, its answer, and the sentence of a reasoning
    chain that states it (in the template's own wording)."""

    question: str
    answer: str
    statement: str


class Template:
    """One kind of problem. Subclasses set the three class attributes and the five methods."""

    name: str
    category: str
    answer_type: AnswerType

    def make_scene(self, rng: random.Random, level: int = DEFAULT_LEVEL) -> Scene:
        raise NotImplementedError

    def question(self, scene: Scene) -> str:
        raise NotImplementedError

    def solve(self, scene: Scene) -> str:
        """The final answer, computed from the scene alone (never from the rendered image)."""
        raise NotImplementedError

    def render(self, scene: Scene) -> Image.Image:
        raise NotImplementedError

    def chain(self, scene: Scene) -> list[str]:
        """The reasoning, one sentence group per step, without the "Step n:" prefix."""
        raise NotImplementedError

    def options(self, scene: Scene) -> list[str] | None:
        return scene.get("options")

    def probes(self, scene: Scene) -> list[Probe]:
        """What the picture shows, as short questions with answers, computed from the scene: the
        facts a chain reads off the picture before it reasons. They are training data for seeing
        (the `vrc-synth-look` format: many picture-grounded answers per picture, where a chain has
        one or two), never part of the benchmark. Templates whose pictures a small model cannot
        resolve (text, digits, scales) have none."""
        return []


# -- drawing -------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's bundled font: the same glyphs on every machine, so renders are byte-identical.
    # It covers ASCII and the degree sign only; templates draw other symbols as shapes.
    return ImageFont.load_default(size=size)


def canvas(width: int, height: int, background: tuple[int, int, int] | str = "white"):
    image = Image.new("RGB", (width, height), background)
    return image, ImageDraw.Draw(image)


def text_center(draw: ImageDraw.ImageDraw, xy, text: str, size: int, fill="black") -> None:
    draw.text(xy, text, font=font(size), fill=fill, anchor="mm")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # A low compression level: the images are flat colour, so it costs little size and saves time.
    image.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill, outline="black") -> None:
    """A filled circle, square, triangle or pentagon of "radius" r centred on (cx, cy)."""
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=2)
    elif kind == "square":
        s = r * 0.85
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=fill, outline=outline, width=2)
    elif kind == "triangle":
        points = [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
        draw.polygon(points, fill=fill, outline=outline, width=2)
    elif kind == "pentagon":
        draw.regular_polygon((cx, cy, r), 5, fill=fill, outline=outline)
    else:
        raise ValueError(f"unknown shape {kind!r}")


# -- questions and answers -----------------------------------------------------------------------


def with_choices(stem: str, options: list[str]) -> str:
    """The question with its options listed as every vrc-synth choice question lists them: one a
    line under "Choices:", "(A) Mali"."""
    lines = [f"({LETTERS[i]}) {text}" for i, text in enumerate(options)]
    return stem + "\nChoices:\n" + "\n".join(lines)


def shuffled_options(rng: random.Random, correct: str, distractors: list[str]) -> list[str]:
    options = [correct, *distractors]
    rng.shuffle(options)
    return options


def choice_answer(scene: Scene, correct: str) -> str:
    return LETTERS[scene["options"].index(correct)]


def choice_conclusion(scene: Scene, correct: str) -> str:
    letter = choice_answer(scene, correct)
    return f"The matching option is ({letter}) {correct}, so the answer is {letter}."


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
