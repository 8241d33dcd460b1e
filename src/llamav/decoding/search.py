"""`greedy` and `beam`: one model call per segment.

`beam` is LlamaV-o1's beam search: every turn is a single `generate` call with `num_beams=N`, and
the beam kept is the one the model ranks first by (length-normalised) sequence log-probability. No
judge and no extra calls: the cost in calls is the same for every N; only the batch grows.
"""

from __future__ import annotations

import time

from llamav.decoding._common import (
    STRATEGIES,
    Decoded,
    DecodeConfig,
    cost_of,
    derive_seed,
    run_conversation,
    timed,
)
from llamav.models.base import GenerateParams


def _one_call_per_segment(
    model, sample, protocol, config: DecodeConfig, num_beams: int, temperature: float
) -> Decoded:
    started = time.perf_counter()
    image = sample.pil_image()
    top_p = config.top_p if config.top_p is not None else 1.0

    def choose(messages, segment, index):
        params = GenerateParams(
            max_new_tokens=config.limit(segment),
            temperature=temperature,
            top_p=top_p,
            num_beams=num_beams,
            stop=segment.stop,
            seed=derive_seed(config.seed, "segment", index),
        )
        completion = model.generate(messages, image, params)
        return completion.texts[0], cost_of(completion)

    turns, cost = run_conversation(protocol.segments(sample), image, choose)
    return Decoded(turns, timed(started, cost))


@STRATEGIES.register("greedy")
def greedy(model, sample, protocol, config: DecodeConfig) -> Decoded:
    return _one_call_per_segment(model, sample, protocol, config, num_beams=1, temperature=0.0)


@STRATEGIES.register("beam")
def beam(model, sample, protocol, config: DecodeConfig) -> Decoded:
    temperature = config.temperature or 0.0  # sampling inside the beams is optional (SYSTEM.md: 0.6)
    return _one_call_per_segment(model, sample, protocol, config, num_beams=config.beams, temperature=temperature)
