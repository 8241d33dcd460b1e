"""vrc-synth: procedurally generated visual reasoning problems, answers known by construction.

Every sample comes from a template (one kind of problem) and a scene (that problem's random
parameters). The template computes the answer and writes the reasoning chain from the scene alone,
and draws the image from the same scene, so the answer is right by construction and derivable
from the picture.

Layout of a dataset:

- Sample `i` of a split draws its category as `CATEGORIES[i % 8]` (VRC-Bench's eight, in
  `llamav.bench.vrc` order) and, within that category, template `(i // 8) % k` of its k templates.
  Every category therefore gets an equal share (exactly equal when the size is a multiple of 8),
  and templates within a category take turns. Both splits use this layout.
- Sample `i` is generated from its own `random.Random`, seeded with SHA-256 of
  `(dataset seed, split, i)`, so `train` and `test` draw from disjoint seed streams.
- Scenes, not only seeds, are split: a scene belongs to `test` when the SHA-256 of its template
  name and JSON falls in one bucket of `TEST_SHARE`, and to `train` otherwise; each split redraws
  until it gets one of its own. Templates with few distinct scenes (a thermometer has a few thousand)
  would otherwise repeat test problems in train; this way no test problem is ever a train
  problem, for any sizes and any dataset seed.
- Within a split, a scene already used is redrawn, so a problem does not repeat (for any size a
  template's share of scenes can supply). Sample `i` depends on (dataset seed, split, i) and on
  the samples before it, never on those after it: the first N samples of a larger dataset are
  the same N samples.
- Images are drawn with Pillow and its bundled font, and encoded as PNG: the same
  (split, seed, index) gives byte-identical images and text.
- `level` (1, 2 or 3; default 3, the benchmark as published) sets the difficulty: the same
  templates with fewer objects, bars or rows, smaller numbers and bigger shapes at 1 and 2. Level 3
  is the default so that its samples never change; other levels name themselves in the sample id
  (`synth-train-L1-00042`), the source and the metadata.
- `blank=True` keeps every question, chain and answer but paints each picture plain white (same
  size): the control that shows what a model gets right without looking (a "blind" model is
  trained on it). Blank samples say so in their id (`-blank`), source and metadata.
- `templates=a,b` keeps only the samples of those templates (their layout indices; the others are
  passed over): a stage that dwells on what a small model can see.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Sequence

from PIL import Image

from llamav.bench.synth import charts, math_logic, medical, ocr, perception, science, social, visual
from llamav.bench.synth._common import DEFAULT_LEVEL, LETTERS, LEVELS, Template, png_bytes, with_choices
from llamav.bench.vrc import CATEGORIES
from llamav.records import Sample

__all__ = ["DEFAULT_LEVEL", "DEFAULT_SIZES", "LEVELS", "TEMPLATES", "TEMPLATES_BY_CATEGORY", "Template", "generate", "reask", "sample_seed", "scene_split", "with_choices"]

DEFAULT_SIZES = {"test": 320, "train": 5000}
TEST_SHARE = 8  # one scene in 8 is reserved for the test split
FRESH_TRIES = 50

TEMPLATES: list[Template] = [
    *charts.TEMPLATES,
    *ocr.TEMPLATES,
    *math_logic.TEMPLATES,
    *perception.TEMPLATES,
    *visual.TEMPLATES,
    *science.TEMPLATES,
    *medical.TEMPLATES,
    *social.TEMPLATES,
]
TEMPLATES_BY_CATEGORY: dict[str, list[Template]] = {
    category: [t for t in TEMPLATES if t.category == category] for category in CATEGORIES
}
_ROTATION = [category for category in CATEGORIES if TEMPLATES_BY_CATEGORY[category]]


def sample_seed(split: str, index: int, seed: int = 0) -> int:
    """A stable 48-bit seed per sample (Python's hash() changes between runs; SHA-256 does not)."""
    digest = hashlib.sha256(f"vrc-synth/{seed}/{split}/{index}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def template_for(index: int) -> Template:
    templates = TEMPLATES_BY_CATEGORY[_ROTATION[index % len(_ROTATION)]]
    return templates[(index // len(_ROTATION)) % len(templates)]


def _scene_key(template: Template, scene: dict) -> bytes:
    return hashlib.sha256(f"{template.name}:{json.dumps(scene, sort_keys=True)}".encode()).digest()


def scene_split(template: Template, scene: dict) -> str:
    """The split a scene belongs to, decided by its content alone."""
    return "test" if _scene_key(template, scene)[0] % TEST_SHARE == 0 else "train"


def _draw_scene(template: Template, split: str, rng: random.Random, used: set[bytes], level: int) -> dict:
    """A scene of this split that is not used yet. The split is a hard rule; freshness gives way
    after `FRESH_TRIES` scenes of the split, so that a huge split of a small template still ends."""
    tries = 0
    while True:
        scene = template.make_scene(rng, level)
        if scene_split(template, scene) != split:
            continue
        tries += 1
        if _scene_key(template, scene) not in used or tries > FRESH_TRIES:
            return scene


def _asked(template: Template, scene: dict) -> dict:
    """What a sample of this scene asks and answers: its question, numbered chain, final answer and
    options, each written by the template from the scene."""
    steps = template.chain(scene)
    if not 3 <= len(steps) <= 8:
        raise RuntimeError(f"template {template.name} wrote {len(steps)} steps; chains need 3 to 8")
    options = template.options(scene)
    final_answer = template.solve(scene)
    if options is not None and final_answer not in LETTERS[: len(options)]:
        raise RuntimeError(f"template {template.name} answered {final_answer!r} to a choice question")
    return {
        "question": template.question(scene),
        "steps": [f"Step {n}: {text}" for n, text in enumerate(steps, start=1)],
        "final_answer": final_answer,
        "options": options,
    }


def reask(sample: Sample, template: Template, scene: dict) -> Sample:
    """The same picture asked about a changed scene (its options reordered, say): the question,
    chain, answer and options rewritten by the template, everything else kept."""
    return sample.model_copy(update=_asked(template, scene))


def _make_sample(split: str, index: int, seed: int, used: set[bytes], level: int, blank: bool) -> Sample:
    template = template_for(index)
    item_seed = sample_seed(split, index, seed)
    scene = _draw_scene(template, split, random.Random(item_seed), used, level)
    used.add(_scene_key(template, scene))
    asked = _asked(template, scene)
    # Level 3's records stay exactly as they were before levels existed.
    tag = "" if level == DEFAULT_LEVEL else f"L{level}-"
    image = template.render(scene)
    if blank:
        image = Image.new("RGB", image.size, "white")
    query = "&".join(([] if level == DEFAULT_LEVEL else [f"level={level}"]) + (["blank=1"] if blank else []))
    return Sample(
        id=f"synth-{split}-{tag}{index:05d}" + ("-blank" if blank else ""),
        image=png_bytes(image),
        **asked,
        answer_type=template.answer_type,
        category=template.category,
        source=f"vrc-synth:{split}" + (f"?{query}" if query else ""),
        metadata={"template": template.name, "seed": item_seed, "scene": scene}
        | ({} if level == DEFAULT_LEVEL else {"level": level})
        | ({"blank": True} if blank else {}),
    )


def generate(
    split: str, size: int | None = None, seed: int = 0, level: int = DEFAULT_LEVEL, blank: bool = False,
    templates: Sequence[str] | None = None,
) -> list[Sample]:
    """The first `size` samples of a split (default: `DEFAULT_SIZES[split]`) at a difficulty level,
    with blank pictures when `blank`. With `templates`, only samples of those templates: the
    layout's indices whose template is not named are passed over (ids keep their index), so a
    training stage can dwell on the kinds of problem a model can learn."""
    if split not in DEFAULT_SIZES:
        raise ValueError(f"vrc-synth has no split {split!r}; the splits are {', '.join(sorted(DEFAULT_SIZES))}")
    if size is None:
        size = DEFAULT_SIZES[split]
    if size < 0:
        raise ValueError(f"size must be zero or more, got {size}")
    if level not in LEVELS:
        raise ValueError(f"vrc-synth has no level {level!r}; the levels are {', '.join(map(str, LEVELS))}")
    used: set[bytes] = set()
    if templates is None:
        return [_make_sample(split, i, seed, used, level, blank) for i in range(size)]
    known = {t.name for t in TEMPLATES}
    unknown = sorted(set(templates) - known)
    if unknown or not templates:
        raise ValueError(f"vrc-synth has no template(s) {unknown}; the templates are {', '.join(sorted(known))}")
    chosen = set(templates)
    indices = (i for i in itertools.count() if template_for(i).name in chosen)
    return [_make_sample(split, i, seed, used, level, blank) for i in itertools.islice(indices, size)]
