"""What every decoding strategy shares: its settings, its result, and the conversation loop.

A strategy is a function `(model, sample, protocol, config) -> Decoded`, registered by name in
`STRATEGIES`. It decides how each segment of the protocol's plan is decoded (one call, beams,
candidates and a judge, ...); `run_conversation` carries the turns and the cost from one segment
to the next.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llamav.models.base import Completion, Message, VisionLanguageModel
from llamav.plan import Planner, Segment
from llamav.records import Cost, Prediction, Sample, Turn
from llamav.registry import Registry

# SYSTEM.md, section 3: the reference evaluation and LLaVA-CoT both sample with these.
SAMPLING_TEMPERATURE = 0.6
SAMPLING_TOP_P = 0.9

# Ranks N candidate predictions of one sample (higher is better): a process reward model, a
# verifier, a vote. Sees all candidates at once so that list-wise rankers (votes) fit too. (Not a
# metric: metrics are `llamav.metrics` scorers.)
Ranker = Callable[[Sample, list[Prediction]], list[float]]


@dataclass(frozen=True)
class DecodeConfig:
    beams: int = 4
    seed: int = 0
    # None: the strategy's own default (greedy and beam: 0, i.e. deterministic; the sampling
    # strategies: 0.6 / 0.9).
    temperature: float | None = None
    top_p: float | None = None
    # A cap on every segment's new tokens (the protocol's limits apply below it).
    max_new_tokens: int | None = None
    # stage-beam's own judge: the model picking among its candidates.
    self_judge_max_new_tokens: int = 128
    ranker: Ranker | None = None

    def __post_init__(self) -> None:
        if self.beams < 1:
            raise ValueError(f"beams must be at least 1 (got {self.beams})")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (got {self.temperature})")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")
        if self.self_judge_max_new_tokens < 1:
            raise ValueError(f"self_judge_max_new_tokens must be at least 1 (got {self.self_judge_max_new_tokens})")

    def limit(self, segment: Segment) -> int:
        if self.max_new_tokens is None:
            return segment.max_new_tokens
        return min(segment.max_new_tokens, self.max_new_tokens)


# Bumped whenever a change to decoding changes what a model says for the same settings, so that a
# run store does not serve predictions made under the old rule (part of the generation hash).
# 2: a beam search stops once N hypotheses are finished (transformers' early_stopping=True).
DECODING_REVISION = 2


@dataclass
class Decoded:
    turns: list[Turn]
    cost: Cost
    flags: list[str] = field(default_factory=list)
    # Strategy-specific facts worth keeping with the prediction (e.g. best-of-n's scores).
    info: dict[str, Any] = field(default_factory=dict)
    # Why decoding stopped before the end (the turns are those finished), or None.
    error: str | None = None


Strategy = Callable[[VisionLanguageModel, Sample, Planner, DecodeConfig], Decoded]
STRATEGIES: Registry[Strategy] = Registry("decoding strategy")

# Decodes one segment: (messages to send, the segment, its index) -> (continuation, its cost).
Choose = Callable[[list[Message], Segment, int], tuple[str, Cost]]


def derive_seed(seed: int, *keys: Any) -> int:
    """A seed for one call, fixed by the run's seed and the call's place in the run, so that the
    same seed gives the same output whatever ran before it in the process."""
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def cost_of(completion: Completion) -> Cost:
    return Cost(
        model_calls=completion.model_calls,
        prompt_tokens=completion.prompt_tokens,
        generated_tokens=completion.generated_tokens,
        wall_seconds=completion.wall_seconds,
    )


class Conversation:
    """The messages, turns and cost of one plan being decoded, one segment at a time.

    A segment with a prompt closes the assistant's message and opens a user turn (the image goes
    with the first); a segment without one continues the assistant's message after its prefix.
    Stepping is separate from choosing, so that several conversations can advance in lockstep
    (one batched call per segment) as easily as one.
    """

    def __init__(self, segments: list[Segment], has_image: bool) -> None:
        if not segments or segments[0].prompt is None:
            raise ValueError("a plan must start with a user prompt")
        self.segments = segments
        self.has_image = has_image
        self.messages: list[Message] = []
        self.draft = ""
        self.turns: list[Turn] = []
        self.cost = Cost()

    def request(self, segment: Segment) -> list[Message]:
        """Open `segment`: the messages the model must continue."""
        if segment.prompt is not None:
            if self.messages:
                self.messages.append(Message("assistant", self.draft))
            self.messages.append(Message("user", segment.prompt, has_image=self.has_image and not self.messages))
            self.draft = ""
        self.draft += segment.prefix
        return self.messages + ([Message("assistant", self.draft)] if self.draft else [])

    def record(self, segment: Segment, text: str, spent: Cost) -> None:
        """Close `segment` with the model's continuation and what it cost."""
        self.cost += spent
        self.draft += text
        self.turns.append(Turn(stage=segment.stage, prompt=segment.prompt or "", response=segment.prefix + text))


def run_conversation(segments: list[Segment], image: Any | None, choose: Choose) -> tuple[list[Turn], Cost]:
    """Decode a plan segment by segment, each one seeing everything decoded before it."""
    conversation = Conversation(segments, has_image=image is not None)
    for index, segment in enumerate(segments):
        text, spent = choose(conversation.request(segment), segment, index)
        conversation.record(segment, text, spent)
    return conversation.turns, conversation.cost


def timed(started: float, cost: Cost) -> Cost:
    """The cost with wall time measured around the whole strategy (model time plus overhead)."""
    return cost.model_copy(update={"wall_seconds": time.perf_counter() - started})
