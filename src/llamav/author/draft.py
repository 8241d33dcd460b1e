"""`llamav author draft`: a model writes a numbered reasoning chain for each sample, asked to end
in the known final answer; llamav's answer reader checks that the chain concludes it.

A chain whose conclusion the reader reads as another answer, or cannot read or match at all, is
flagged: a reviewer looks at it first, and `redraft` asks again with other seeds (sampling at
`REDRAFT_TEMPERATURE`). Drafting is resumable: a sample with a draft is not drafted again, and a
sample is redrafted at most `redraft` times in all, however often the command runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from llamav.answer import read_response
from llamav.author._calls import run_prompts, spend_of
from llamav.author.project import Project
from llamav.metrics import match_answer
from llamav.models import GenerateParams, MeteredModel, load_model
from llamav.models.pricing import PriceTable
from llamav.records import Sample
from llamav.text import split_steps

REDRAFT_TEMPERATURE = 0.7
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The closing line the prompt asks for; it is the chain's conclusion, not one of its steps.
_FINAL_LINE = re.compile(r"\n\s*(?:\*\*)?final answer(?:\*\*)?\s*:.*$", re.IGNORECASE | re.DOTALL)


def draft_prompt(sample: Sample) -> str:
    """The request for a chain that reaches the known answer from what the image shows."""
    options = ""
    if sample.options:
        options = "\nOptions:\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(sample.options[:26]))
    return (
        f"Question: {sample.question}{options}\n"
        f"The correct final answer is: {sample.final_answer}\n\n"
        "Write the step-by-step reasoning that reaches this answer from what the image shows. "
        "Number the steps, one per line (\"Step 1: ...\", \"Step 2: ...\"), and make each step one "
        "observation or inference. End with a last line \"Final answer: ...\" stating the answer above."
    )


def check_draft(text: str, sample: Sample) -> tuple[bool | None, str]:
    """Whether the chain concludes the reference answer, read by llamav's own answer reader:
    (True, why) when it does, (False, why) when it concludes something else, (None, why) when no
    conclusion can be read or matched."""
    reading = read_response(text, sample.options, sample.question)
    if reading.answer is None:
        return None, f"no conclusion could be read ({reading.how})"
    match = match_answer(reading.answer, sample.final_answer, options=sample.options)
    if match.correct is None:
        return None, f"concludes {reading.answer!r}, which the rules cannot compare with {sample.final_answer!r} ({match.detail})"
    if not match.correct:
        return False, f"concludes {reading.answer!r}, the reference answer is {sample.final_answer!r}"
    return True, f"concludes {reading.answer!r} ({match.decided_by})"


def chain_steps(text: str) -> list[str]:
    """The chain's steps, its closing "Final answer:" line left out."""
    steps, _ = split_steps(_FINAL_LINE.sub("", text.strip()).strip())
    return steps


@dataclass
class DraftRun:
    drafted: int = 0
    flagged: int = 0
    failed: int = 0
    spend: dict[str, float] = field(default_factory=dict)
    dollars: float | None = None


def draft_project(project: Project, model_spec: str, *, redraft: int = 0, max_new_tokens: int = 1024,
                  batch_size: int = 8, prices: PriceTable | None = None,
                  progress: Callable[[str], None] | None = None, **model_options) -> DraftRun:
    """Draft every sample that has no draft, then redraft flagged ones (up to `redraft` more
    attempts each, seed = attempt). Each draft is stored as soon as it is made."""
    run = DraftRun()
    metered: MeteredModel | None = None
    samples = project.samples()
    for round_ in range(redraft + 1):
        attempts: dict[str, int] = {}
        settled: set[str] = set()
        for draft in project.drafts():
            attempts[draft.sample_id] = attempts.get(draft.sample_id, 0) + 1
            if not draft.flagged and draft.error is None:
                settled.add(draft.sample_id)
        todo = [s for s in samples if s.id not in settled and attempts.get(s.id, 0) <= round_]
        if not todo:
            continue
        if metered is None:
            metered = MeteredModel(load_model(model_spec, **model_options))
        if progress:
            progress(f"{'draft' if round_ == 0 else f'redraft {round_}'}: {len(todo)} samples")

        def params(sample: Sample, round_: int = round_) -> GenerateParams:
            attempt = attempts.get(sample.id, 0)
            return GenerateParams(max_new_tokens=max_new_tokens, temperature=0.0 if attempt == 0 else REDRAFT_TEMPERATURE,
                                  seed=attempt)

        for sample, result in run_prompts(metered, todo, draft_prompt, params, batch_size):
            attempt = attempts.get(sample.id, 0)
            if isinstance(result, str):
                project.add_draft(sample.id, model_spec, attempt, attempt, "", [], None, "", result, {})
                run.failed += 1
                continue
            text = result.texts[0] if result.texts else ""
            agrees, why = check_draft(text, sample)
            project.add_draft(sample.id, model_spec, attempt, attempt, text, chain_steps(text), agrees, why, None,
                              spend_of(result))
            run.drafted += 1
            run.flagged += agrees is not True
    if metered is not None:
        run.spend = metered.spend()
        if prices is not None:
            run.dollars = prices.dollars(model_spec, int(run.spend["prompt_tokens"]), int(run.spend["generated_tokens"]))
    return run
