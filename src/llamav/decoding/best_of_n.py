"""`best-of-n`: N complete, independently sampled conversations; a ranker picks one.

The ranker is the hook for process reward models and verifiers. The default is self-consistency:
a candidate scores the share of candidates that reached the same final answer.
"""

from __future__ import annotations

import time
from collections import Counter

from llamav.decoding._common import (
    SAMPLING_TEMPERATURE,
    SAMPLING_TOP_P,
    STRATEGIES,
    Decoded,
    DecodeConfig,
    cost_of,
    derive_seed,
    run_conversation,
    timed,
)
from llamav.models.base import GenerateParams
from llamav.records import Cost, Prediction, Sample


def self_consistency(sample: Sample, candidates: list[Prediction]) -> list[float]:
    """Each candidate's share of the vote for its final answer (0 for an empty answer)."""
    answers = [c.final_answer.strip().lower() for c in candidates]
    votes = Counter(a for a in answers if a)
    return [votes[a] / len(candidates) if a else 0.0 for a in answers]


@STRATEGIES.register("best-of-n")
def best_of_n(model, sample, protocol, config: DecodeConfig) -> Decoded:
    started = time.perf_counter()
    image = sample.pil_image()
    temperature = SAMPLING_TEMPERATURE if config.temperature is None else config.temperature
    top_p = SAMPLING_TOP_P if config.top_p is None else config.top_p
    segments = protocol.segments(sample)

    def chooser(candidate: int):
        def choose(messages, segment, index):
            params = GenerateParams(
                max_new_tokens=config.limit(segment),
                temperature=temperature,
                top_p=top_p,
                stop=segment.stop,
                seed=derive_seed(config.seed, "candidate", candidate, "segment", index),
            )
            completion = model.generate(messages, image, params)
            return completion.texts[0], cost_of(completion)

        return choose

    runs = [run_conversation(segments, image, chooser(k)) for k in range(config.beams)]
    candidates = []
    for turns, _ in runs:
        parsed = protocol.parse(sample, turns)
        candidates.append(
            Prediction(
                sample_id=sample.id,
                model=model.name,
                protocol=protocol.name,
                strategy="best-of-n",
                stages=parsed.stages,
                steps=parsed.steps,
                final_answer=parsed.final_answer,
                turns=turns,
                flags=parsed.flags,
            )
        )
    scores = (config.ranker or self_consistency)(sample, candidates)
    if len(scores) != len(candidates):
        raise ValueError(f"the ranker returned {len(scores)} scores for {len(candidates)} candidates")
    best = max(range(len(candidates)), key=lambda k: (scores[k], -k))
    cost = sum((spent for _, spent in runs), Cost())
    return Decoded(runs[best][0], timed(started, cost), info={"candidate_scores": list(scores), "chosen": best})
