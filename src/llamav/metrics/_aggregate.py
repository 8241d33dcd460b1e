"""Summaries of Scores: per metric, over the dataset and per category, with 95% intervals.

Every summary says how many samples it was given, how many were scored and how many failed.

- The final answer (scale "binary") is a share of the whole benchmark: a sample whose prediction
  is missing or failed counts as wrong, so the headline `mean` is correct / n. The share among the
  scored samples stands beside it (`scored_mean`), labelled, never in its place.
- Step scores ("unit", "1-10") have no value to give a failed sample (zero would be a made-up
  score), so their mean is over the scored samples, with the failures counted beside it.

Each metric keeps its own scale (binary, [0, 1], 1-10); scales are never mixed in one figure, and
every interval lies inside its metric's scale.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from llamav.records import NO_REFERENCE_CHAIN, Score

ALL = "all"

# The closed range each scale's values live in; an interval never leaves it.
SCALE_BOUNDS = {"binary": (0.0, 1.0), "unit": (0.0, 1.0), "1-10": (1.0, 10.0)}

# What a summary's headline `mean` is taken over, by scale.
OVER_ALL = "all samples (failed = wrong)"
OVER_SCORED = "scored samples"


@dataclass
class MetricSummary:
    metric: str
    scale: str
    group: str  # "all" or a category
    n: int
    scored: int
    failed: int
    # The headline figure and its 95% interval; `over` says which samples it is taken over.
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    attributes: dict[str, float] = field(default_factory=dict)
    decided_by: dict[str, int] = field(default_factory=dict)
    over: str = OVER_SCORED
    # Samples a step metric cannot score because the benchmark gives no reference chain: neither
    # failed nor scored, and never part of a mean.
    no_chain: int = 0
    # The same figure over the scored samples only (for step scores it equals the headline).
    scored_mean: float | None = None
    scored_ci_low: float | None = None
    scored_ci_high: float | None = None
    interval: str = ""  # how the 95% interval was computed

    @property
    def steps_percent(self) -> float | None:
        """VRC-Bench's "Steps %" = mean judge Overall / 10 x 100 (judge scale only)."""
        return None if self.scale != "1-10" or self.mean is None else self.mean * 10


INTERVAL_METHOD = {
    "binary": "Wilson score interval",
    "unit": "Student's t, clipped to [0, 1]",
    "1-10": "Student's t, clipped to [1, 10]",
}


def mean_ci(values: Sequence[float], scale: str) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% interval, inside the scale's bounds.

    A proportion gets Wilson's interval, which lies in [0, 1] by construction and stays sane at 0%
    and 100%. A bounded mean gets Student's t, clipped to the scale: with few samples t is wide,
    and a clipped wide interval honestly says "little is known", where a bootstrap (which never
    leaves the observed range) would claim a precision two samples cannot give. One value of a
    step score has no interval.
    """
    n = len(values)
    if n == 0:
        return None, None, None
    mean = float(np.mean(values))
    low_bound, high_bound = SCALE_BOUNDS.get(scale, (-math.inf, math.inf))
    if scale == "binary":
        z = 1.959963984540054
        centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return mean, *_around(mean, centre - half, centre + half, low_bound, high_bound)
    if n < 2:
        return mean, None, None
    from scipy import stats  # scipy.stats takes ~1 s to import; only a mean of two or more needs it

    half = float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n))
    return mean, *_around(mean, mean - half, mean + half, low_bound, high_bound)


def _around(mean: float, low: float, high: float, low_bound: float, high_bound: float) -> tuple[float, float]:
    """The interval inside the scale and around its mean, exactly. In exact arithmetic Wilson's
    bounds for 0 of n are 0 and for n of n are 1; in floating point they miss by about 1e-17 on
    either side, and a lower bound above the mean makes a negative error bar (which matplotlib
    refuses: the report then fails to draw)."""
    return min(max(low_bound, low), mean), max(min(high_bound, high), mean)


def summarize_group(metric: str, group: str, scores: Sequence[Score]) -> MetricSummary:
    scale = scores[0].scale if scores else "unit"
    no_chain = sum(1 for s in scores if s.value is None and s.error == NO_REFERENCE_CHAIN)
    good = [s for s in scores if s.value is not None]
    scored_values = [s.value for s in good]
    scored = mean_ci(scored_values, scale)
    if scale == "binary":
        # The benchmark is the denominator: a failed or missing prediction is a wrong answer.
        headline, over = mean_ci([s.value if s.value is not None else 0.0 for s in scores], scale), OVER_ALL
    else:
        headline, over = scored, OVER_SCORED
    names = list(dict.fromkeys(a for s in good for a in s.attributes))  # first-seen order
    attributes = {a: float(np.mean([s.attributes[a] for s in good if a in s.attributes])) for a in names}
    return MetricSummary(
        metric=metric, scale=scale, group=group, n=len(scores), scored=len(good),
        failed=len(scores) - len(good) - no_chain, no_chain=no_chain,
        mean=headline[0], ci_low=headline[1], ci_high=headline[2], attributes=attributes,
        decided_by=dict(Counter(s.decided_by or "none" for s in scores)),
        over=over, scored_mean=scored[0], scored_ci_low=scored[1], scored_ci_high=scored[2],
        interval=INTERVAL_METHOD.get(scale, "Student's t"),
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
