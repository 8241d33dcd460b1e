"""How far reviewers agree: Cohen's kappa on accept/reject and on categories, per pair of reviewers,
over the samples both of them decided."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Any

from llamav.author.project import Project


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """(p_o - p_e) / (1 - p_e): observed agreement corrected for the agreement two raters with
    these label frequencies would reach by chance. None when it is undefined: no items, or chance
    agreement of 1 (both raters gave one and the same label to everything)."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    chance = sum(counts_a[label] * counts_b[label] for label in counts_a) / (n * n)
    if chance == 1:
        return None
    return (observed - chance) / (1 - chance)


def agreement(project: Project) -> list[dict[str, Any]]:
    """One entry per pair of reviewers: the samples both accepted or rejected, and the kappas."""
    decided = {name: {sid: s for sid, s in states.items() if s.decision in ("accept", "reject")}
               for name, states in project.decisions().items()}
    pairs = []
    for a, b in combinations(sorted(decided), 2):
        shared = [sid for sid in decided[a] if sid in decided[b]]
        pairs.append({
            "reviewers": [a, b],
            "samples": len(shared),
            "decision_kappa": cohen_kappa([decided[a][s].decision for s in shared], [decided[b][s].decision for s in shared]),
            "category_kappa": cohen_kappa([decided[a][s].category for s in shared], [decided[b][s].category for s in shared]),
            "decision_agreement": sum(decided[a][s].decision == decided[b][s].decision for s in shared) / len(shared) if shared else None,
        })
    return pairs
