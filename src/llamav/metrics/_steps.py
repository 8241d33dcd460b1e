"""Ordered step matching: which reference steps a response makes, and in what order.

ROSCOE-SA aligns every step with its best match independently (a max over a set), so a response
that makes the right steps in a scrambled order scores like the original. This metric matches the
two chains one to one, in the manner of MME-CoT's key-step recall and precision and CRYSTAL's
ordered match F1:

- each reference step is matched to at most one response step and the other way round, by optimal
  assignment (scipy's `linear_sum_assignment`) on sentence-embedding cosine similarity; a pair
  counts as a match only when its similarity reaches `threshold`;
- recall = matches / reference steps, precision = matches / response steps, F1 their harmonic mean;
- ordered: the largest set of matches that keeps the reference order (the longest increasing
  subsequence of the response positions, taken in reference order) gives ordered recall,
  precision and F1. A shuffled chain keeps its F1 and loses its ordered F1.

The threshold was calibrated on vrc-synth (`benchmarks/steps_threshold.py`): see docs/metrics.md.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Cosine similarity (all-MiniLM-L6-v2) at or above which two steps say the same thing; calibrated
# on vrc-synth paraphrased vs unrelated steps (benchmarks/steps_threshold.py).
DEFAULT_THRESHOLD = 0.6

STEP_ATTRIBUTES = ("recall", "precision", "f1", "ordered_recall", "ordered_precision", "ordered_f1")


@dataclass(frozen=True)
class StepMatch:
    """The scores of one response chain, or why it has none."""

    scores: dict[str, float] | None
    pairs: list[tuple[int, int, float]]  # (reference index, response index, similarity), matched only
    reason: str | None = None


def longest_increasing(values: Sequence[int]) -> int:
    """Length of the longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails: list[int] = []
    for value in values:
        i = bisect_left(tails, value)
        if i == len(tails):
            tails.append(value)
        else:
            tails[i] = value
    return len(tails)


def _f1(matched: int, n_reference: int, n_response: int) -> tuple[float, float, float]:
    recall, precision = matched / n_reference, matched / n_response
    f1 = 0.0 if matched == 0 else 2 * matched / (n_reference + n_response)
    return recall, precision, f1


def match_steps(similarity: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> StepMatch:
    """Scores from a (reference steps x response steps) cosine-similarity matrix."""
    n_reference, n_response = similarity.shape
    if n_response == 0:
        return StepMatch(None, [], "empty response chain")
    if n_reference == 0:
        return StepMatch(None, [], "empty reference chain")
    from scipy.optimize import linear_sum_assignment  # scipy (~1 s to import) only when steps are matched

    rows, cols = linear_sum_assignment(similarity, maximize=True)
    pairs = sorted((int(r), int(c), float(similarity[r, c])) for r, c in zip(rows, cols) if similarity[r, c] >= threshold)
    recall, precision, f1 = _f1(len(pairs), n_reference, n_response)
    in_order = longest_increasing([c for _, c, _ in pairs])
    o_recall, o_precision, o_f1 = _f1(in_order, n_reference, n_response)
    scores = {
        "recall": recall, "precision": precision, "f1": f1,
        "ordered_recall": o_recall, "ordered_precision": o_precision, "ordered_f1": o_f1,
    }
    return StepMatch(scores, pairs)


def step_similarity(reference: Sequence[str], response: Sequence[str], embedder) -> np.ndarray:
    """Cosine similarity of every reference step with every response step (texts already embedded)."""
    if not reference or not response:
        return np.zeros((len(reference), len(response)))
    return np.clip(embedder.sentences(reference) @ embedder.sentences(response).T, -1.0, 1.0).astype(np.float64)
