"""Running one prompt per sample through any backend, as `llamav eval` does: in padded batches for
a model that batches, in threads for an API, one by one otherwise; each result is handed back (and
stored by the caller) as soon as it is made."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from llamav.models import Completion, GenerateParams, Message, PromptTooLong, VisionLanguageModel
from llamav.records import Sample

Request = tuple[list[Message], object]


def spend_of(completion: Completion) -> dict[str, float]:
    return {"model_calls": completion.model_calls, "prompt_tokens": completion.prompt_tokens,
            "generated_tokens": completion.generated_tokens, "seconds": round(completion.wall_seconds, 4)}


def run_prompts(model: VisionLanguageModel, samples: list[Sample], prompt: Callable[[Sample], str],
                params: Callable[[Sample], GenerateParams], batch_size: int = 8) -> Iterator[tuple[Sample, Completion | str]]:
    """(sample, completion) for each sample, or (sample, error text) for a prompt that does not fit."""
    def request(sample: Sample) -> Request:
        return [Message("user", prompt(sample), has_image=True)], sample.pil_image()

    def one(sample: Sample) -> tuple[Sample, Completion | str]:
        try:
            return sample, model.generate(*request(sample), params(sample))
        except PromptTooLong as exc:
            return sample, str(exc)

    capabilities = model.capabilities
    if capabilities.concurrent_calls and capabilities.concurrency > 1:
        with ThreadPoolExecutor(max_workers=capabilities.concurrency) as pool:
            yield from pool.map(one, samples)
    elif capabilities.batch and batch_size > 1:
        # One batch shares one GenerateParams: group samples whose params are equal.
        for group in _groups(samples, params, batch_size):
            try:
                completions = model.generate_batch([request(s) for s in group], params(group[0]))  # type: ignore[attr-defined]
            except PromptTooLong as exc:
                for position, sample in enumerate(group):
                    yield (sample, exc.requests[position]) if position in exc.requests else one(sample)
                continue
            yield from zip(group, completions)
    else:
        for sample in samples:
            yield one(sample)


def _groups(samples: Iterable[Sample], params: Callable[[Sample], GenerateParams], size: int) -> Iterator[list[Sample]]:
    group: list[Sample] = []
    for sample in samples:
        if group and (len(group) == size or params(sample) != params(group[0])):
            yield group
            group = []
        group.append(sample)
    if group:
        yield group
