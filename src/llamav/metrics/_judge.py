"""LLM judges: the step judge (VRC-Bench's ten attributes, 1-10) and the binary final-answer judge.

Both ask any `VisionLanguageModel` for JSON that matches a schema: through the backend's
structured output when it has one (`GenerateParams.json_schema`), and in every case by parsing and
validating the reply here, retrying with the validation error when it does not hold. A reply that
never holds is a failure kept with its raw text; it is never turned into a score. Verdicts are
cached on disk by (judge model, endpoint, prompt, inputs, image, run index), so a re-run reads them back
instead of asking again, and a crashed run resumes where it stopped. The cache key holds the judge's
endpoint (base URL, or local path and revision) and a hash of the rendered prompt, so a verdict is
never reused from another server, another checkpoint or another wording.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

from llamav.metrics._cache import JudgeCache, cache_key
from llamav.metrics._roscoe import ATTRIBUTES
from llamav.models import GenerateParams, Message, VisionLanguageModel, load_model

# Bump when the wording changes: cached verdicts of another wording are then never reused.
STEP_PROMPT_VERSION = "steps-v1"
ANSWER_PROMPT_VERSION = "answer-v1"

# The verdicts, each defined once: its JSON schema is what the judge is sent (structured output),
# and the same model validates every reply. Extra keys (a model's own "overall") are ignored in
# validation, since the overall is always computed in code; the schema sent forbids them.
Score1to10 = Annotated[int, Field(strict=True, ge=1, le=10)]
StepVerdict = create_model(
    "StepVerdict",
    __config__=ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False}),
    **{name: (Score1to10, ...) for name in ATTRIBUTES},
)


class AnswerVerdict(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})

    same_meaning: StrictBool


STEP_SCHEMA: dict[str, Any] = StepVerdict.model_json_schema()
ANSWER_SCHEMA: dict[str, Any] = AnswerVerdict.model_json_schema()

_CRITERIA = """\
faithfulness_step: every response step agrees with the reference steps; no step contradicts them.
faithfulness_token: inside the steps, the details (facts, numbers, names, quantities) match the reference.
informativeness_step: the response carries all of the reference's information that matters for the answer.
repetition_token: no step repeats, or merely rephrases, another step.
hallucination: no step brings in made-up facts or material irrelevant to the question.
redundancy: every step contributes something; none could be deleted without loss.
semantic_coverage_step: the essential content of each reference step appears somewhere in the response.
reasoning_alignment: taken as a whole, the response follows the reference's line of reasoning.
commonsense: the response makes no unjustified leap and skips no obvious inference the reference relies on.
missing_step: no step that the reference needs to reach its answer is absent from the response."""

# What the judge is told about the image: the paper's judge saw text only, which stays the default.
TEXT_ONLY = "You cannot see the image: judge from the text alone."
WITH_IMAGE = (
    "The image is attached: use it to check what the response says about it (a description, a value "
    "read from a chart, a count), as well as comparing with the reference."
)

STEP_PROMPT = """\
You grade the reasoning in a response to a question about an image, by comparing it with a \
verified reference solution. {seeing}

Give the response ten scores. Each is a whole number from 1 to 10, read in bands: 9-10 excellent, \
7-8 good, 5-6 fair, 3-4 poor, 1-2 very poor. Where a criterion names a fault (repetition, \
hallucination, redundancy, commonsense, missing step), a high score means the fault is absent.

{criteria}

QUESTION:
{question}

REFERENCE REASONING:
{reference}

RESPONSE REASONING:
{response}

Reply with one JSON object and nothing else. It has exactly these ten keys, each with an integer \
from 1 to 10: {keys}."""

ANSWER_PROMPT = """\
Decide whether a predicted final answer to a question says the same thing as the reference final \
answer.{seeing} Differences of wording, letter case, formatting, or units written out versus abbreviated \
do not matter; a different value, option or entity does.

QUESTION:
{question}

REFERENCE FINAL ANSWER:
{reference}

PREDICTED FINAL ANSWER:
{predicted}

Reply with one JSON object and nothing else: {{"same_meaning": true}} or {{"same_meaning": false}}."""

RETRY_PROMPT = "That reply could not be used ({error}). Reply again with only the JSON object: {shape}."


def numbered(steps: Sequence[str]) -> str:
    return "\n".join(f"Step {i}: {s}" for i, s in enumerate(steps, start=1))


# -- parsing and validation ----------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object in a reply, tolerating code fences and prose around it."""
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    try:
        value = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg}") from None
    return value  # a JSON text that opens with "{" and parses is an object


def _checked(model: type[BaseModel], obj: dict[str, Any]) -> BaseModel:
    """`model` validating `obj`, with pydantic's errors as one short line."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" + ("" if e["type"] == "missing" else f" (got {e['input']!r})")
            for e in exc.errors()
        )
        raise ValueError(reasons) from None


def validate_step_scores(obj: dict[str, Any]) -> dict[str, int]:
    """The ten integer scores, 1-10, validated by `StepVerdict`."""
    return _checked(StepVerdict, obj).model_dump()


def validate_same_meaning(obj: dict[str, Any]) -> bool:
    return _checked(AnswerVerdict, obj).same_meaning


# -- asking --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """A judge's answer to one question: the validated value, or the error and every raw reply."""

    value: Any | None
    raw: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def ask_for_json(
    model: VisionLanguageModel,
    prompt: str,
    schema: dict[str, Any],
    validate: Callable[[dict[str, Any]], Any],
    params: GenerateParams,
    *,
    retries: int,
    shape: str,
    image: Any | None = None,
) -> Verdict:
    """Ask, validate, and on an invalid reply ask again with the reason (up to `retries` times).

    The retry shows the judge its own reply and what was wrong with it: a deterministic judge given
    the same input would only repeat itself. Backend exceptions propagate to the caller.
    """
    messages = [Message("user", prompt, has_image=image is not None)]
    raw: list[str] = []
    error = "no reply"
    for _ in range(retries + 1):
        completion = model.generate(messages, image, params)
        text = completion.texts[0] if completion.texts else ""
        raw.append(text)
        try:
            return Verdict(validate(parse_json_object(text)), raw)
        except ValueError as exc:
            error = str(exc)
        messages = [
            *messages,
            Message("assistant", text),
            Message("user", RETRY_PROMPT.format(error=error, shape=shape)),
        ]
    return Verdict(None, raw, f"invalid judge output after {retries + 1} attempts: {error}")


class LLMJudge:
    """A judge model with its settings and its cache.

    Temperature 0 and a fixed seed make a run as repeatable as the backend allows; `run` indexes
    repeated judgements of the same input (`judge_samples=K`), each cached under its own key, so
    K runs measure the judge's own run-to-run drift.
    """

    def __init__(
        self,
        model: VisionLanguageModel | str,
        *,
        cache: JudgeCache | None = None,
        seed: int = 0,
        retries: int = 2,
        max_new_tokens: int = 512,
    ) -> None:
        if isinstance(model, str):
            model = load_model(model)
        self.model = model
        self.name = model.name
        self.endpoint = endpoint_identity(model)
        self.cache = cache if cache is not None else JudgeCache(None)
        self.seed = seed
        self.retries = retries
        self.max_new_tokens = max_new_tokens

    def _params(self, schema: dict[str, Any]) -> GenerateParams:
        return GenerateParams(
            max_new_tokens=self.max_new_tokens, temperature=0.0, seed=self.seed, json_schema=schema
        )

    def _ask(
        self, version: str, inputs: dict[str, Any], run: int, prompt: str, schema, validate, shape, image=None
    ) -> Verdict:
        # A verdict is reused only for the same judge at the same endpoint, the same prompt text
        # (hashed as rendered, so any change of wording misses), the same inputs and image.
        key = cache_key(
            judge=self.name, endpoint=self.endpoint, prompt_version=version,
            prompt_sha256=hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            image_sha256=None if image is None else image_digest(image),
            inputs=inputs, run=run, seed=self.seed, retries=self.retries, max_new_tokens=self.max_new_tokens,
        )
        hit = self.cache.get(key)
        if hit is not None:
            return Verdict(hit["value"], hit["raw"], hit["error"], cached=True)
        try:
            verdict = ask_for_json(
                self.model, prompt, schema, validate, self._params(schema), retries=self.retries, shape=shape,
                image=image,
            )
        except Exception as exc:  # noqa: BLE001  (a transport failure is recorded, and not cached)
            return Verdict(None, [], f"judge call failed: {type(exc).__name__}: {exc}")
        # Invalid output is the judge's verdict on this input and is cached like a valid one.
        self.cache.put(key, {"value": verdict.value, "raw": verdict.raw, "error": verdict.error})
        return verdict

    def judge_steps(
        self, question: str, reference: Sequence[str], response: Sequence[str], run: int = 0, image: Any | None = None
    ) -> Verdict:
        """The ten 1-10 scores of a response chain against the reference chain; with `image` (a PIL
        image) the judge sees the picture as well (off by default, as in the paper)."""
        inputs = {"question": question, "reference": list(reference), "response": list(response)}
        prompt = STEP_PROMPT.format(
            seeing=TEXT_ONLY if image is None else WITH_IMAGE,
            criteria=_CRITERIA, question=question.strip(), reference=numbered(reference),
            response=numbered(response), keys=", ".join(ATTRIBUTES),
        )
        shape = "ten keys (" + ", ".join(ATTRIBUTES) + "), integer values from 1 to 10"
        return self._ask(STEP_PROMPT_VERSION, inputs, run, prompt, STEP_SCHEMA, validate_step_scores, shape, image)

    def judge_answer(
        self, question: str, reference_answer: str, predicted_answer: str, image: Any | None = None
    ) -> Verdict:
        """Whether the predicted final answer means the same as the reference *final answer*."""
        inputs = {"question": question, "reference_answer": reference_answer, "predicted_answer": predicted_answer}
        prompt = ANSWER_PROMPT.format(
            seeing="" if image is None else " The image is attached; use it where the answer depends on what it shows.",
            question=question.strip(), reference=reference_answer.strip(), predicted=predicted_answer.strip(),
        )
        shape = '{"same_meaning": true} or {"same_meaning": false}'
        return self._ask(ANSWER_PROMPT_VERSION, inputs, 0, prompt, ANSWER_SCHEMA, validate_same_meaning, shape, image)


def image_digest(image: Any) -> str:
    """sha256 of an image's pixels (a PIL image) or bytes."""
    if isinstance(image, (bytes, bytearray)):
        return hashlib.sha256(image).hexdigest()
    return hashlib.sha256(image.tobytes() + repr((image.mode, image.size)).encode()).hexdigest()


def endpoint_identity(model: Any) -> dict[str, Any]:
    """Where a judge's verdicts come from, beyond its name: two `openai:judge` models at different
    servers, or two `hf:` checkpoints at one path before and after retraining, are different judges.
    Each backend declares it (`VisionLanguageModel.endpoint`); a wrapper passes the inner one's on."""
    return model.endpoint()
