"""Decoding strategies, registered by name: `greedy`, `beam`, `stage-beam`, `best-of-n`.

Each one runs a reasoning protocol's plan against any model backend and returns the turns with
what they cost. All are seeded: the same seed gives the same output on the same machine.
"""

from llamav.decoding import best_of_n, search, stage_beam  # noqa: F401  (register the strategies)
from llamav.decoding._common import (
    DECODING_REVISION,
    STRATEGIES,
    Conversation,
    Decoded,
    DecodeConfig,
    Ranker,
    derive_seed,
)
from llamav.decoding.best_of_n import self_consistency
from llamav.decoding.stage_beam import judge_prompt, read_verdict

__all__ = [
    "DECODING_REVISION",
    "STRATEGIES",
    "Conversation",
    "DecodeConfig",
    "Decoded",
    "Ranker",
    "derive_seed",
    "judge_prompt",
    "read_verdict",
    "self_consistency",
]
