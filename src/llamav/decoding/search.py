"""`greedy` and `beam`: one model call per segment.

`beam` is LlamaV-o1's beam search: every turn is a single `generate` call with `num_beams=N`, and
the beam kept is the one the model ranks first by (length-normalised) sequence log-probability. No
judge and no extra calls: the cost in calls is the same for every N; only the batch grows.

Both also run several samples at once (`BATCHED`): their conversations advance in lockstep, one
padded `generate_batch` call per segment for the whole group, which is how a GPU is kept busy.
"""

from __future__ import annotations

import time

from llamav.decoding._common import (
    STRATEGIES,
    Conversation,
    Decoded,
    DecodeConfig,
    cost_of,
    derive_seed,
    run_conversation,
    timed,
)
from llamav.models.base import GenerateParams, PromptTooLong


def _settings(strategy: str, config: DecodeConfig) -> tuple[int, float]:
    """(num_beams, temperature) of a strategy: greedy never samples; beam samples only when asked
    (SYSTEM.md: the reference sampled inside the beams at 0.6)."""
    if strategy == "greedy":
        return 1, 0.0
    return config.beams, config.temperature or 0.0


def _params(config: DecodeConfig, segment, index: int, num_beams: int, temperature: float) -> GenerateParams:
    return GenerateParams(
        max_new_tokens=config.limit(segment),
        temperature=temperature,
        top_p=config.top_p if config.top_p is not None else 1.0,
        num_beams=num_beams,
        stop=segment.stop,
        seed=derive_seed(config.seed, "segment", index),
    )


def _one_call_per_segment(strategy: str, model, sample, protocol, config: DecodeConfig) -> Decoded:
    started = time.perf_counter()
    image = sample.pil_image()
    num_beams, temperature = _settings(strategy, config)

    def choose(messages, segment, index):
        completion = model.generate(messages, image, _params(config, segment, index, num_beams, temperature))
        return completion.texts[0], cost_of(completion)

    turns, cost = run_conversation(protocol.segments(sample), image, choose)
    return Decoded(turns, timed(started, cost))


@STRATEGIES.register("greedy")
def greedy(model, sample, protocol, config: DecodeConfig) -> Decoded:
    return _one_call_per_segment("greedy", model, sample, protocol, config)


@STRATEGIES.register("beam")
def beam(model, sample, protocol, config: DecodeConfig) -> Decoded:
    return _one_call_per_segment("beam", model, sample, protocol, config)


def decode_batch(strategy: str, model, samples, protocol, config: DecodeConfig) -> list[Decoded]:
    """`greedy` or `beam` for several samples, one `generate_batch` call per segment for all.

    Every sample's plan must have the same shape (same stages in the same order), which holds for
    every protocol's natural plan. A call's cost is shared evenly among its samples, each counting
    one model call, so per-sample costs still sum to the run's. Batched and single decoding give
    the same text up to the numerics of padding; with sampling, a sample's draw depends on its
    batch, so runs are reproducible for the same batch size. A sample whose prompt outgrows the
    model's context stops there (its Decoded carries the `error`, and the cost spent on it so far);
    the others go on in the batch.
    """
    started = time.perf_counter()
    images = [sample.pil_image() for sample in samples]
    plans = [protocol.segments(sample) for sample in samples]
    shape = [(seg.stage, seg.prompt is None) for seg in plans[0]]
    if any([(seg.stage, seg.prompt is None) for seg in plan] != shape for plan in plans):
        raise ValueError("the samples' plans differ in shape; decode them one by one")
    num_beams, temperature = _settings(strategy, config)
    conversations = [Conversation(plan, has_image=True) for plan in plans]
    failed: dict[int, str] = {}  # sample position -> why it stopped
    for index in range(len(shape)):
        # Each live conversation opens the segment once; a request that cannot fit the model's
        # context fails its own sample, and the others are decoded together without it.
        requests = {
            i: (conversations[i].request(plans[i][index]), images[i]) for i in range(len(samples)) if i not in failed
        }
        # Within one segment only the prompt text differs between samples; limits and stops agree.
        params = _params(config, plans[0][index], index, num_beams, temperature)
        while requests:
            order = list(requests)
            try:
                completions = model.generate_batch([requests[i] for i in order], params)
            except PromptTooLong as exc:
                if not exc.requests:
                    raise
                for position, reason in exc.requests.items():
                    failed[order[position]] = f"PromptTooLong: {reason}"
                    del requests[order[position]]
                continue
            for i, completion in zip(order, completions):
                conversations[i].record(plans[i][index], completion.texts[0], cost_of(completion))
            break
    wall = (time.perf_counter() - started) / len(samples)
    return [
        Decoded(conv.turns, conv.cost.model_copy(update={"wall_seconds": wall}), error=failed.get(i))
        for i, conv in enumerate(conversations)
    ]


# The strategies that can decode a group of samples together.
BATCHED = {"greedy", "beam"}
