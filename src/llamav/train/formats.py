"""Which adapter reads a dataset entry, and what reading it gives: `load_dataset_spec`.

An adapter reads one dataset's published schema into `Dialogue`s. Adapters are registered by
name (`ADAPTERS`) and chosen by a dataset's `format`, or guessed from its source. A row that cannot
become a dialogue is skipped with its reason (a `SkippedSample`) and counted, never dropped
silently. Importing `llamav.train` registers every built-in adapter (`adapters.py`,
`synth_adapters.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from llamav.records import SkippedSample
from llamav.registry import Registry
from llamav.train.option_check import check_options
from llamav.train.records import Dialogue


class DataError(ValueError):
    """A dataset cannot be loaded at all (missing file, unknown format, unreadable schema)."""


@dataclass
class Loaded:
    """What an adapter made of a dataset: its dialogues and the rows it had to skip."""

    source: str
    dialogues: list[Dialogue]
    skipped: list[SkippedSample] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSpec:
    """Where the rows are and how to read them (the `datasets:` entries of a training config)."""

    source: str
    format: str
    image_root: str | None = None
    limit: int | None = None
    questions_per_image: int = 1
    option_check: bool = False


Adapter = Callable[[DatasetSpec], Loaded]
ADAPTERS: Registry[Adapter] = Registry("training data format")

# Sources whose format is known from their name alone.
_KNOWN_SOURCES = (
    (re.compile(r"^vrc-synth\b"), "vrc-synth"),
    (re.compile(r"^easy-vqa\b"), "easy-vqa"),
    (re.compile(r"^hf:ahmedheakl/llamav-o1-instruct-stage[12]\b", re.I), "llava-conversations"),
    (re.compile(r"^hf:Xkev/LLaVA-CoT-100k\b", re.I), "llava-cot"),
    (re.compile(r"^hf:allenai/pixmo-cap-qa\b", re.I), "pixmo-cap-qa"),
    (re.compile(r"^hf:Luckyjhg/Geo170K\b", re.I), "geo170k"),
    (re.compile(r"^hf:omkarthawakar/VRC-Bench\b", re.I), "vrc"),
)


def guess_format(source: str) -> str | None:
    for pattern, name in _KNOWN_SOURCES:
        if pattern.search(source):
            return name
    return None


def load_dataset_spec(spec: DatasetSpec) -> Loaded:
    """One dataset entry read by its format's adapter, cut to `limit` dialogues, its choice chains
    ending in the option check when `option_check` asks for it."""
    try:
        adapter = ADAPTERS.get(spec.format)
    except KeyError as exc:
        raise DataError(f"{spec.source}: {exc.args[0]}") from None
    loaded = adapter(spec)
    if spec.limit is not None:
        loaded.dialogues = loaded.dialogues[: spec.limit]
    if spec.option_check:
        loaded.dialogues = [check_options(d) for d in loaded.dialogues]
    return loaded

