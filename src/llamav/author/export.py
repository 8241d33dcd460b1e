"""`llamav author export`: the reviewed project as a VRC-Bench parquet file (`llamav.bench.export`),
with each sample's provenance in its metadata under "authoring"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llamav.author.project import Draft, Label, Project, ProjectError, ReviewState
from llamav.bench.export import export_parquet
from llamav.bench.vrc import load_category_map
from llamav.records import Sample


def _final_state(states: dict[str, ReviewState], reviewer: str | None) -> ReviewState | None:
    """The review a sample is exported with: the named reviewer's, else the latest decision made."""
    if reviewer is not None:
        return states.get(reviewer)
    decided = [s for s in states.values() if s.decision != "open"]
    return max(decided, key=lambda s: s.last_edit) if decided else None


def provenance(draft: Draft | None, label: Label | None, state: ReviewState | None, sample: Sample) -> dict[str, Any]:
    return {
        "drafted_by": draft.model if draft else None,
        "draft_attempt": draft.attempt if draft else None,
        "draft_check": draft.check_reason if draft else None,
        "flagged": draft.flagged if draft else None,
        "category_proposed_by": label.model if label else "source",
        "category_reason": label.reason if label else None,
        "reviewer": state.reviewer if state else None,
        "decision": state.decision if state else "open",
        "changes": list(state.changes) if state else [],
        "steps_changed": state.steps_changed if state else False,
        "category_changed": state.category_changed if state else False,
        "comment": state.comment if state else "",
        "source_steps": list(sample.steps),
    }


def reviewed_samples(project: Project, *, include_all: bool = False, reviewer: str | None = None,
                     category_map: str | Path | None = None) -> list[Sample]:
    """The samples as reviewed: accepted ones only unless `include_all` (then every sample, the
    unreviewed ones with their draft)."""
    mapping = load_category_map(category_map) if category_map is not None else {}
    by_reviewer = project.decisions()
    drafts, labels = project.current_drafts(), project.labels()
    out = []
    for sample in project.samples():
        state = _final_state({name: states[sample.id] for name, states in by_reviewer.items()}, reviewer)
        if not include_all and (state is None or state.decision != "accept"):
            continue
        start = state or project.state(sample.id, "")
        meta = {**sample.metadata, "authoring": provenance(drafts.get(sample.id), labels.get(sample.id), state, sample)}
        out.append(sample.model_copy(update={
            "steps": start.steps,
            "category": mapping.get(sample.id, start.category),
            "metadata": meta,
        }))
    return out


def export_project(project: Project, out: str | Path, **options: Any) -> int:
    samples = reviewed_samples(project, **options)
    if not samples:
        raise ProjectError(f"{project.folder}: no accepted samples to export (review some, or pass --all)")
    return export_parquet(samples, out)
