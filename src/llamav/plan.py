"""A reasoning conversation's plan: the segments a model continues, one after another.

A leaf module (it imports nothing of llamav): protocols write plans, decoding strategies run them,
training renders them, and none of those needs to know the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# The paper's limit on a turn's new tokens.
TURN_MAX_NEW_TOKENS = 1024

# The final answer's stage is "conclusion" in every protocol. LLaVA-CoT's single turn holding all four tagged stages at once (not a stage of its own). Stored
# predictions and training configs made before it had this name call it "answer", read as this.
TAGGED_TURN = "tagged"
OLD_TAGGED_TURN = "answer"


@dataclass(frozen=True)
class Segment:
    """One model continuation in a protocol's plan.

    `prompt` opens a new user turn; None continues the assistant's current message (the stages of
    LLaVA-CoT decoded one at a time). `prefix` is text the assistant's continuation is forced to
    start with, e.g. a stage's opening tag.
    """

    stage: str
    prompt: str | None
    prefix: str = ""
    stop: tuple[str, ...] = ()
    max_new_tokens: int = TURN_MAX_NEW_TOKENS


@dataclass
class Parsed:
    """A conversation read back: its stages, the reasoning steps and the final answer."""

    stages: dict[str, str]
    steps: list[str]
    final_answer: str
    flags: list[str] = field(default_factory=list)


class Planner(Protocol):
    """What a decoding strategy needs of a reasoning protocol: its plan for a sample, and how to
    read the finished turns back (`llamav.reasoning.protocols` registers the real ones)."""

    name: str

    def segments(self, sample: Any, staged: bool = False) -> list[Segment]: ...

    def parse(self, sample: Any, turns: list[Any]) -> Parsed: ...
