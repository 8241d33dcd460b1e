"""Does ROSCOE-SA measure what it claims? Perturb reference chains and see which scores move.

Following ROSCOE's own validation: each reference chain, scored as a response against itself, is
the "original"; the same chain with one controlled fault is the "perturbed" response. For every
perturbation and attribute we report the share of chains whose score dropped, and the AUC of
telling original from perturbed chains by that score (0.5: blind; 1: always separates).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llamav.metrics._roscoe import ATTRIBUTE_TITLES, ATTRIBUTES, SentenceEmbedder, score_chain
from llamav.metrics._scorers import roscoe_chain
from llamav.metrics._steps import DEFAULT_THRESHOLD, match_steps, step_similarity
from llamav.text import step_texts
from llamav.records import Sample

# Scores closer than this are equal: a chain scored against itself is 1 only up to float rounding.
TIE = 1e-6

_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_WORD = re.compile(r"\b[A-Za-z]{4,}\b")

Perturb = Callable[[list[str], random.Random, list[str]], list[str] | None]


def remove_step(steps, rng, pool):
    if len(steps) < 2:
        return None
    i = rng.randrange(len(steps))
    return steps[:i] + steps[i + 1 :]


def repeat_step(steps, rng, pool):
    i = rng.randrange(len(steps))
    return steps[: i + 1] + [steps[i]] + steps[i + 1 :]


def insert_irrelevant(steps, rng, pool):
    """A step of another sample's chain, at a random place."""
    foreign = [s for s in pool if s not in steps]
    if not foreign:
        return None
    i = rng.randrange(len(steps) + 1)
    return steps[:i] + [rng.choice(foreign)] + steps[i:]


def change_value(steps, rng, pool):
    """One number changed inside one step; with no number, one word swapped for a word of
    another chain (an entity changed)."""
    with_numbers = [i for i, s in enumerate(steps) if _NUMBER.search(s)]
    if with_numbers:
        i = rng.choice(with_numbers)
        match = rng.choice(list(_NUMBER.finditer(steps[i])))
        old = float(match.group(0))
        new = old + rng.choice([-1, 1]) * rng.randint(1, 9)
        new_text = f"{new:g}" if "." in match.group(0) else str(int(new))
        changed = steps[i][: match.start()] + new_text + steps[i][match.end() :]
    else:
        candidates = [(i, m) for i, s in enumerate(steps) for m in _WORD.finditer(s)]
        own = {m.group(0).lower() for _, m in candidates}
        foreign = sorted({w for s in pool for w in _WORD.findall(s) if w.lower() not in own})
        if not candidates or not foreign:
            return None
        i, match = rng.choice(candidates)
        changed = steps[i][: match.start()] + rng.choice(foreign) + steps[i][match.end() :]
    return steps[:i] + [changed] + steps[i + 1 :]


def shuffle_steps(steps, rng, pool):
    if len(set(steps)) < 2:
        return None
    order = list(range(len(steps)))
    while order == sorted(order):
        rng.shuffle(order)
    return [steps[i] for i in order]


def truncate(steps, rng, pool):
    """The chain cut after its first half (at least one step kept)."""
    if len(steps) < 2:
        return None
    return steps[: max(1, len(steps) // 2)]


# name -> (perturbation, the attribute that should catch it)
PERTURBATIONS: dict[str, tuple[Perturb, str]] = {
    "remove_step": (remove_step, "missing_step"),
    "repeat_step": (repeat_step, "repetition_token"),
    "insert_irrelevant": (insert_irrelevant, "hallucination"),
    # With the question alone as the source, faithfulness measures grounding in the question; a
    # changed value is a departure from the reference, which Reasoning Alignment measures.
    "change_value": (change_value, "reasoning_alignment"),
    # ROSCOE-SA's alignments are maxima over sets, blind to order: the step matching must catch it.
    "shuffle_steps": (shuffle_steps, "steps_ordered_f1"),
    "truncate": (truncate, "missing_step"),
}

COLUMNS = (*ATTRIBUTES, "overall", "steps_f1", "steps_ordered_f1")
# Row titles for the table: ROSCOE-SA's ten (VRC-Bench's names), their mean, and the `steps` metric.
COLUMN_TITLES = {
    **ATTRIBUTE_TITLES, "overall": "Overall (ROSCOE-SA)",
    "steps_f1": "Step match F1 (steps)", "steps_ordered_f1": "Ordered step F1 (steps)",
}


@dataclass
class PerturbationRow:
    perturbation: str
    expected: str  # the attribute meant to catch it
    chains: int  # chains the perturbation applied to
    not_applicable: int
    dropped: dict[str, float]  # column -> share of chains whose score fell
    auc: dict[str, float]  # column -> AUC of original vs perturbed


def auc(original: Sequence[float], perturbed: Sequence[float]) -> float:
    """P(original scores higher than perturbed), ties (within TIE) counting one half."""
    o = np.asarray(original, dtype=np.float64)[:, None]
    p = np.asarray(perturbed, dtype=np.float64)[None, :]
    higher = (o - p > TIE).mean()
    tied = (np.abs(o - p) <= TIE).mean()
    return float(higher + 0.5 * tied)


def _columns(scores: dict[str, float]) -> dict[str, float]:
    return {**scores, "overall": float(np.mean([scores[a] for a in ATTRIBUTES]))}


def perturbation_check(
    samples: Sequence[Sample], embedder: SentenceEmbedder, *, seed: int = 0, source: str = "question",
    threshold: float = DEFAULT_THRESHOLD,
) -> list[PerturbationRow]:
    """The table: one row per perturbation, over the samples' reference chains; columns are
    ROSCOE-SA's ten with `source` as s, their mean, and the `steps` metric's F1 and ordered F1."""
    rng = random.Random(seed)
    chains = {s.id: step_texts(s.steps) for s in samples}
    pool = [step for steps in chains.values() for step in steps]
    variants: dict[str, dict[str, list[str]]] = {}
    for name, (perturb, _) in PERTURBATIONS.items():
        variants[name] = {}
        for sample in samples:
            others = [p for p in pool if p not in chains[sample.id]]
            changed = perturb(list(chains[sample.id]), rng, others)
            if changed is not None:
                variants[name][sample.id] = changed
    embedder.embed(
        text
        for sample in samples
        for hyp in [chains[sample.id], *(v[sample.id] for v in variants.values() if sample.id in v)]
        for part in roscoe_chain(sample, hyp, source)
        for text in part
    )
    by_id = {s.id: s for s in samples}

    def scored(sample_id: str, hypothesis: list[str]) -> dict[str, float]:
        roscoe = score_chain(*roscoe_chain(by_id[sample_id], hypothesis, source), embedder).scores
        steps = match_steps(step_similarity(chains[sample_id], hypothesis, embedder), threshold).scores
        return {**_columns(roscoe), "steps_f1": steps["f1"], "steps_ordered_f1": steps["ordered_f1"]}

    original = {s.id: scored(s.id, chains[s.id]) for s in samples}
    rows = []
    for name, (_, expected) in PERTURBATIONS.items():
        perturbed = {i: scored(i, hypothesis) for i, hypothesis in variants[name].items()}
        ids = list(perturbed)
        dropped, areas = {}, {}
        for column in COLUMNS:
            before = [original[i][column] for i in ids]
            after = [perturbed[i][column] for i in ids]
            dropped[column] = float(np.mean([b - a > TIE for b, a in zip(before, after)])) if ids else float("nan")
            areas[column] = auc(before, after) if ids else float("nan")
        rows.append(PerturbationRow(name, expected, len(ids), len(samples) - len(ids), dropped, areas))
    return rows
