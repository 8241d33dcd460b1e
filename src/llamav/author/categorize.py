"""`llamav author categorize`: the model proposes one of the project's categories per sample, with
a one-line reason. The proposal is a label a reviewer sees and may change; it is never applied to
the samples themselves, and `export` writes the reviewed category."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from llamav.author._calls import run_prompts, spend_of
from llamav.author.project import Project
from llamav.models import GenerateParams, MeteredModel, load_model
from llamav.records import UNCATEGORIZED, Sample


def categorize_prompt(sample: Sample, categories: list[str]) -> str:
    return (
        f"Question: {sample.question}\n\n"
        "Which one of these categories does this visual question belong to?\n"
        + "\n".join(f"- {c}" for c in categories)
        + "\n\nReply in one line: the category's name, then \" - \" and a one-line reason."
    )


def read_category(reply: str, categories: list[str]) -> tuple[str, str]:
    """(category, reason) from a reply: the category named first (longer names tried first at each
    place, so "Math" never shadows "Math & Science"); UNCATEGORIZED with the reply quoted as the
    reason when it names none."""
    text = reply.strip()
    found: list[tuple[int, int, str]] = []
    for name in categories:
        match = re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text, re.IGNORECASE)
        if match:
            found.append((match.start(), -len(name), name))
    first_line = text.splitlines()[0] if text else ""
    if not found:
        return UNCATEGORIZED, f"the model named none of the categories: {first_line[:200]!r}"
    start, _, name = min(found)
    rest = text[start + len(name):].splitlines()
    reason = rest[0] if rest else ""
    reason = reason.lstrip(" -:–—.").strip() or first_line
    return name, reason[:300]


@dataclass
class CategorizeRun:
    labelled: int = 0
    unnamed: int = 0
    spend: dict[str, float] = field(default_factory=dict)


def categorize_project(project: Project, model_spec: str, *, max_new_tokens: int = 64, batch_size: int = 8,
                       progress: Callable[[str], None] | None = None, **model_options) -> CategorizeRun:
    """Label every sample that has no category label yet (resumable); each label stored at once."""
    run = CategorizeRun()
    labelled = project.labels()
    todo = [s for s in project.samples() if s.id not in labelled]
    if not todo:
        return run
    categories = project.categories
    model = MeteredModel(load_model(model_spec, **model_options))
    if progress:
        progress(f"categorize: {len(todo)} samples")
    params = GenerateParams(max_new_tokens=max_new_tokens, temperature=0.0)
    for sample, result in run_prompts(model, todo, lambda s: categorize_prompt(s, categories), lambda s: params, batch_size):
        if isinstance(result, str):
            continue  # a prompt too long for the model: no label, the reviewer picks one
        reply = result.texts[0] if result.texts else ""
        category, reason = read_category(reply, categories)
        project.add_label(sample.id, category, reason, model_spec, spend_of(result))
        run.labelled += 1
        run.unnamed += category == UNCATEGORIZED
    run.spend = model.spend()
    return run
