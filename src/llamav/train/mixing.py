"""One epoch's dialogues from a stage's datasets, each repeated or thinned by its weight."""

from __future__ import annotations

import random

from llamav.train.records import Dialogue


def mix(parts: list[tuple[list[Dialogue], float]], seed: int) -> list[Dialogue]:
    """A weight says how many times each dataset's dialogues appear per epoch: 2 repeats them all
    twice, 0.5 keeps a seeded half. The Trainer shuffles the result; the order here is fixed."""
    rng = random.Random(seed)
    mixed: list[Dialogue] = []
    for dialogues, weight in parts:
        whole, fraction = divmod(weight, 1)
        mixed.extend(dialogues * int(whole))
        extra = round(fraction * len(dialogues))
        if extra:
            mixed.extend(rng.sample(dialogues, extra))
    return mixed
