"""What a benchmark holds: the figures behind `llamav bench info`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from llamav.bench.sources import Benchmark


def describe(benchmark: Benchmark) -> dict[str, Any]:
    """Totals, per-category/split/answer-type counts, chain lengths, and every skipped row.

    Chain lengths are over the samples that have a reference chain; samples without one
    (final-answer-only benchmarks) are counted apart, never averaged in as zero steps.
    """
    samples = benchmark.samples
    steps = [len(s.steps) for s in samples if s.has_chain]
    # Benchmarks written by `llamav author export` say, per sample, whether review changed the
    # drafted chain: the share the paper reports (over a quarter), measured on one's own data.
    authored = [s.metadata["authoring"] for s in samples if isinstance(s.metadata.get("authoring"), dict)]
    reasons = Counter(skip.reason.split(" (")[0] for skip in benchmark.skipped)
    return {
        "source": benchmark.source,
        "total": len(samples),
        "categories": dict(sorted(Counter(s.category for s in samples).items())),
        "splits": dict(sorted(Counter(s.split or "-" for s in samples).items())),
        "answer_types": dict(sorted(Counter(s.answer_type for s in samples).items())),
        "multiple_choice": sum(1 for s in samples if s.options),
        "steps_total": sum(steps),
        "mean_steps": round(sum(steps) / len(steps), 3) if steps else 0.0,
        "min_steps": min(steps, default=0),
        "max_steps": max(steps, default=0),
        "with_chain": len(steps),
        "without_chain": len(samples) - len(steps),
        "flags": dict(sorted(Counter(f for s in samples for f in s.flags).items())),
        "authored": len(authored),
        "chains_changed_in_review": sum(1 for a in authored if a.get("steps_changed")),
        "skipped": len(benchmark.skipped),
        "skipped_reasons": dict(reasons.most_common()),
        "skipped_samples": [skip.model_dump() for skip in benchmark.skipped],
    }
