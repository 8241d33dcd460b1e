"""Comparing runs measured on the same samples: a paired test, and the baselines to beat.

- `paired`: two runs' final answers on the same samples. What matters is where they disagree:
  the questions only the first gets right and those only the second gets right. Under "no
  difference" each such question is a fair coin, so the exact two-sided McNemar p is a binomial
  test on them. (Comparing two accuracies with their separate intervals would waste the pairing.)
- `majority_baselines`: what answering without looking reaches on these samples: the most common
  reference answer of the whole run, and of each category. Both are in-sample (they peek at the
  references they are scored on), so they are an upper bound for a model that gives one answer
  per category, never a fair opponent's score.

Both read a run's samples.jsonl; a failed or missing prediction is a wrong answer, as everywhere.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Paired:
    first: str
    second: str
    n: int  # samples both runs answered (failed = wrong)
    only_first: int  # right in the first run only
    only_second: int
    p: float  # exact two-sided McNemar


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar p: under no difference, each discordant pair is a fair coin."""
    n, k = only_first + only_second, min(only_first, only_second)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def read_sample_lines(run_dir: Path) -> list[dict[str, Any]]:
    """samples.jsonl of a run directory ([] when it has none)."""
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def answer_outcomes(lines: list[dict[str, Any]]) -> dict[str, bool]:
    """sample id -> right or not, for every sample of the run (unreadable rows and failures: not)."""
    outcomes = {}
    for line in lines:
        score = (line.get("scores") or {}).get("answer") or {}
        outcomes[line["sample_id"]] = score.get("value") == 1.0
    return outcomes


def paired(first: str, a: dict[str, bool], second: str, b: dict[str, bool]) -> Paired:
    shared = sorted(set(a) & set(b))
    only_first = sum(1 for i in shared if a[i] and not b[i])
    only_second = sum(1 for i in shared if b[i] and not a[i])
    return Paired(first, second, len(shared), only_first, only_second, mcnemar_p(only_first, only_second))


def majority_baselines(lines: list[dict[str, Any]]) -> dict[str, float]:
    """'overall majority' and 'category majority': final answer % of always giving the most
    common reference answer (of the run; of each category)."""
    answered = [(line.get("category"), str((line.get("reference") or {}).get("final_answer", "")).strip())
                for line in lines if "reference" in line]
    total = len(lines)  # unreadable rows stay in the denominator, as in the run's own figure
    if not answered or not total:
        return {}
    overall = Counter(answer for _, answer in answered).most_common(1)[0][1]
    by_category: dict[str, Counter] = {}
    for category, answer in answered:
        by_category.setdefault(category, Counter())[answer] += 1
    per_category = sum(counts.most_common(1)[0][1] for counts in by_category.values())
    return {"overall majority": 100 * overall / total, "category majority": 100 * per_category / total}
