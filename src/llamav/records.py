"""The typed records that flow through llamav, defined once.

Sample -> Reasoner -> Prediction -> Scorers -> Score -> Store -> Report.

Every record is a pydantic model so that it validates on the way in, serialises to one JSON line
on the way out, and reads back identically. Images travel as encoded bytes (PNG/JPEG) rather than
decoded pixels: that is what parquet stores, what a hash can key, and what an API request sends.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llamav.images import ImageLimits, decode_image
from llamav.plan import OLD_TAGGED_TURN, TAGGED_TURN

AnswerType = Literal["choice", "integer", "decimal", "text"]

UNCATEGORIZED = "uncategorized"


class Sample(BaseModel):
    """One visual question with its verified reasoning chain, or with its final answer only.

    `steps` is empty for benchmarks that have no reference chains (ChartQA, DocVQA, most VQA sets):
    such samples are evaluated on their final answer, and step metrics mark them "no reference
    chain" instead of scoring them.
    """

    # Metadata keeps a source's typed values (bytes, dates, decimals); JSON output stays valid.
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", ser_json_inf_nan="null")

    id: str
    question: str
    image: bytes = Field(repr=False)
    steps: list[str] = Field(default_factory=list)
    final_answer: str
    # Option texts in order (A, B, C, ...) when the question is multiple choice.
    options: list[str] | None = None
    answer_type: AnswerType = "text"
    category: str = UNCATEGORIZED
    # Where the sample came from: "vrc-synth:test", "hf:omkarthawakar/VRC-Bench:test", a path.
    source: str = ""
    split: str = ""
    # Every column of the original row that llamav does not model, kept as it was.
    metadata: dict[str, Any] = Field(default_factory=dict)
    # What loading had to do to the image, e.g. "image:first_frame" for an animation
    # (see `llamav.images`).
    flags: list[str] = Field(default_factory=list)

    @field_validator("steps", mode="before")
    @classmethod
    def _no_chain(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def has_chain(self) -> bool:
        """Whether the sample carries a reference reasoning chain."""
        return bool(self.steps)

    def pil_image(self):
        """The picture a model is shown: RGB, upright, transparency on white, 8 bits, first
        frame (the repairs of `llamav.images.decode_image`). The bytes were checked against
        the limits when the sample was loaded, so none is applied again here."""
        return decode_image(self.image, ImageLimits(max_pixels=None, max_side=None, max_bytes=None)).image

    @property
    def image_sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()

    def summary(self) -> dict[str, Any]:
        """The sample without its image bytes: for JSON output and logs."""
        return self.model_dump(exclude={"image"})


class SkippedSample(BaseModel):
    """A row that could not become a Sample. Counted in every summary, never dropped silently."""

    source: str
    row: int
    sample_id: str | None = None
    reason: str


class Cost(BaseModel):
    """What producing a prediction cost. Summed over the turns and candidates of one sample."""

    model_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    wall_seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            model_calls=self.model_calls + other.model_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            wall_seconds=self.wall_seconds + other.wall_seconds,
        )


class Turn(BaseModel):
    """One exchange of a reasoning conversation: what was asked and what the model answered."""

    stage: str  # "summary", "caption", "reasoning", "conclusion", or "tagged" (all four at once)
    prompt: str
    response: str

    @field_validator("stage")
    @classmethod
    def _current_name(cls, stage: str) -> str:
        return TAGGED_TURN if stage == OLD_TAGGED_TURN else stage


class Prediction(BaseModel):
    """A model's reasoning about one sample, parsed into stages, steps and a final answer."""

    sample_id: str
    model: str
    protocol: str
    strategy: str
    seed: int | None = None
    # Stage name -> text, in the protocol's order ("summary", "caption", "reasoning", "conclusion").
    stages: dict[str, str] = Field(default_factory=dict)
    steps: list[str] = Field(default_factory=list)
    final_answer: str = ""
    # The model's raw text, whole, so that any later parser can be re-run on it.
    turns: list[Turn] = Field(default_factory=list)
    # Deviations from the protocol that parsing recovered from, e.g. "missing_stage:caption".
    flags: list[str] = Field(default_factory=list)
    cost: Cost = Field(default_factory=Cost)
    # Set when the model failed on this sample; the prediction is still written and counted.
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


ScoreScale = Literal["binary", "unit", "1-10"]

# The `error` of a step metric's Score on a sample without a reference chain: not a failure, and
# never part of a mean.
NO_REFERENCE_CHAIN = "no reference chain"


class Score(BaseModel):
    """One metric's verdict on one prediction.

    `value` is None when the metric could not score the sample; `error` then says why. A failed
    score is still written and counted: summaries report it instead of shrinking the denominator.
    """

    sample_id: str
    metric: str  # "answer", "roscoe", "judge"
    value: float | None = None
    scale: ScoreScale
    # Per-attribute scores (the ten step attributes), on the same scale as `value`.
    attributes: dict[str, float] = Field(default_factory=dict)
    # Which path decided: "rule:choice", "rule:number", "llm", "roscoe:all-MiniLM-L6-v2", ...
    decided_by: str = ""
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
