"""A model that counts what it is asked: calls, tokens and seconds, for a run's cost section.

    judge = MeteredModel(load_model("openai:gpt-4o-mini"))
    ...
    judge.spend()   # {"model_calls": 12, "prompt_tokens": 9000, "generated_tokens": 600, "seconds": 8.1}

It is the inner model to everyone else: the same name, capabilities and endpoint identity, so a
judge cache keys its verdicts exactly as it would for the bare model, and a runner batches or
threads it as it would the bare model. Thread-safe: a judge runs concurrent calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from llamav.models.base import Capabilities, Completion, GenerateParams, Message, VisionLanguageModel


@dataclass
class Spend:
    """What a model's calls have cost so far."""

    model_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def add(self, completion: Completion) -> None:
        self.model_calls += completion.model_calls
        self.prompt_tokens += completion.prompt_tokens
        self.generated_tokens += completion.generated_tokens
        self.seconds += completion.wall_seconds


class MeteredModel:
    def __init__(self, model: VisionLanguageModel) -> None:
        self.model = model
        self.name: str = model.name
        self.capabilities: Capabilities = model.capabilities
        self._lock = threading.Lock()
        self._spend = Spend()

    def endpoint(self) -> dict[str, Any]:
        return self.model.endpoint()

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        completion = self.model.generate(messages, image, params)
        with self._lock:
            self._spend.add(completion)
        return completion

    def generate_batch(self, requests: list[tuple[list[Message], Any | None]], params: GenerateParams) -> list[Completion]:
        """Only for a model whose capabilities say `batch`; each request's completion is counted."""
        completions = self.model.generate_batch(requests, params)  # type: ignore[attr-defined]
        with self._lock:
            for completion in completions:
                self._spend.add(completion)
        return completions

    def generate_stream(self, messages: list[Message], image: Any | None, params: GenerateParams,
                        on_text: Callable[[str], None]) -> Completion:
        """Only for a model whose capabilities say `stream`."""
        completion = self.model.generate_stream(messages, image, params, on_text)  # type: ignore[attr-defined]
        with self._lock:
            self._spend.add(completion)
        return completion

    def spend(self) -> dict[str, float]:
        """What the calls so far cost, as a plain dict (a copy): model_calls, prompt_tokens,
        generated_tokens, seconds."""
        with self._lock:
            return asdict(self._spend)
