"""Scoring a predictions file against a benchmark, and comparing the offline metric with the judge.

The denominator is the benchmark, not the predictions: a sample without a prediction gets a
failed Score in every metric, and predictions that name no sample of the benchmark are counted
and reported, never silently merged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llamav.metrics._roscoe import ATTRIBUTES


# -- agreement between the offline metric and the judge ------------------------------------------


@dataclass
class AgreementRow:
    attribute: str  # an attribute key or "overall"
    n: int  # samples scored by both
    spearman: float | None
    kendall: float | None


@dataclass
class JudgeSpread:
    """How much the judge moves between runs on the same input (judge_samples > 1)."""

    samples: int  # samples with at least two successful runs
    runs_per_sample: float
    overall_std: float  # mean over samples of the std of Overall across runs
    attribute_std: dict[str, float]
    changed_share: float  # share of samples whose ten scores were not identical in every run


def agreement(lines: Sequence[dict[str, Any]]) -> list[AgreementRow]:
    """Spearman and Kendall correlation between ROSCOE-SA and judge scores, per attribute and
    overall, over the samples that both scored (rank correlations: the scales differ)."""
    from scipy import stats  # ~1 s to import; only the agreement tables need it

    both = [
        (line["scores"]["roscoe"], line["scores"]["judge"])
        for line in lines
        if line["scores"].get("roscoe", {}).get("value") is not None
        and line["scores"].get("judge", {}).get("value") is not None
    ]
    rows = []
    for attribute in (*ATTRIBUTES, "overall"):
        def pick(score):
            return score["value"] if attribute == "overall" else score["attributes"][attribute]

        x = [pick(r) for r, _ in both]
        y = [pick(j) for _, j in both]
        constant = len(set(x)) < 2 or len(set(y)) < 2  # a correlation with a constant is undefined
        spearman = None if len(both) < 3 or constant else float(stats.spearmanr(x, y).statistic)
        kendall = None if len(both) < 3 or constant else float(stats.kendalltau(x, y).statistic)
        rows.append(AgreementRow(attribute, len(both), spearman, kendall))
    return rows


def judge_spread(lines: Sequence[dict[str, Any]]) -> JudgeSpread | None:
    """The judge's run-to-run spread, or None when no sample was judged more than once."""
    per_sample = []
    for line in lines:
        runs = [r for r in line["scores"].get("judge", {}).get("details", {}).get("runs", []) if "attributes" in r]
        if len(runs) >= 2:
            per_sample.append(runs)
    if not per_sample:
        return None
    return JudgeSpread(
        samples=len(per_sample),
        runs_per_sample=float(np.mean([len(r) for r in per_sample])),
        overall_std=float(np.mean([np.std([run["overall"] for run in runs], ddof=1) for runs in per_sample])),
        attribute_std={
            a: float(np.mean([np.std([run["attributes"][a] for run in runs], ddof=1) for runs in per_sample]))
            for a in ATTRIBUTES
        },
        changed_share=float(np.mean([len({json.dumps(r["attributes"], sort_keys=True) for r in runs}) > 1 for runs in per_sample])),
    )


def read_score_lines(path: str | Path) -> list[dict[str, Any]]:
    """The lines `llamav score --out` writes; ValueError naming the first line that is not one
    (a predictions file given by mistake, a file cut short)."""
    lines = []
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                line = None
            if not isinstance(line, dict) or not isinstance(line.get("scores"), dict):
                hint = " (it looks like a predictions file)" if isinstance(line, dict) and "sample_id" in line else ""
                raise ValueError(f"{path} is not a scores file{hint}: line {number} is not a line that "
                                 "`llamav score --out` writes")
            lines.append(line)
    return lines
