"""Summaries of Scores: per metric, over the dataset and per category, with 95% intervals.

Every summary says how many samples it was given, how many were scored and how many failed; the
mean is over the scored ones and the failures stay in view beside it. Each metric keeps its own
scale (binary, [0, 1], 1-10): scales are never mixed in one figure.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from llamav.records import Score

ALL = "all"


@dataclass
class MetricSummary:
    metric: str
    scale: str
    group: str  # "all" or a category
    n: int
    scored: int
    failed: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    attributes: dict[str, float] = field(default_factory=dict)
    decided_by: dict[str, int] = field(default_factory=dict)

    @property
    def steps_percent(self) -> float | None:
        """VRC-Bench's "Steps %" = mean judge Overall / 10 x 100 (judge scale only)."""
        return None if self.scale != "1-10" or self.mean is None else self.mean * 10


def mean_ci(values: Sequence[float], scale: str) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% interval: Wilson's for a proportion (sane at 0% and 100%), Student's t
    otherwise. One value has no interval."""
    n = len(values)
    if n == 0:
        return None, None, None
    mean = float(np.mean(values))
    if scale == "binary":
        z = 1.959963984540054
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return mean, centre - half, centre + half
    if n < 2:
        return mean, None, None
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def summarize_group(metric: str, group: str, scores: Sequence[Score]) -> MetricSummary:
    scale = scores[0].scale if scores else "unit"
    good = [s for s in scores if s.value is not None]
    mean, low, high = mean_ci([s.value for s in good], scale)
    names = list(dict.fromkeys(a for s in good for a in s.attributes))  # first-seen order
    attributes = {a: float(np.mean([s.attributes[a] for s in good if a in s.attributes])) for a in names}
    return MetricSummary(
        metric=metric, scale=scale, group=group, n=len(scores), scored=len(good), failed=len(scores) - len(good),
        mean=mean, ci_low=low, ci_high=high, attributes=attributes,
        decided_by=dict(Counter(s.decided_by or "none" for s in scores)),
    )


def summarize(scores: Sequence[Score], categories: Mapping[str, str] | None = None) -> list[MetricSummary]:
    """One summary per metric over all samples, then one per metric and category (sorted)."""
    categories = categories or {}
    by_metric: dict[str, list[Score]] = defaultdict(list)
    for score in scores:
        by_metric[score.metric].append(score)
    summaries = []
    for metric, group in by_metric.items():
        summaries.append(summarize_group(metric, ALL, group))
        by_category: dict[str, list[Score]] = defaultdict(list)
        for score in group:
            by_category[categories.get(score.sample_id, "uncategorized")].append(score)
        if len(by_category) > 1 or categories:
            summaries += [summarize_group(metric, c, by_category[c]) for c in sorted(by_category)]
    return summaries
