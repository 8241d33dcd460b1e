"""vrc-synth: procedurally generated visual reasoning problems, answers known by construction.

(Interface fixed; the generator is being written.)
"""

from __future__ import annotations

from llamav.records import Sample

DEFAULT_SIZES = {"test": 320, "train": 5000}


def generate(split: str, size: int | None = None, seed: int = 0) -> list[Sample]:
    raise NotImplementedError
