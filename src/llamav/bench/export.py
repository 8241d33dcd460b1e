"""Writing samples back out in VRC-Bench's schema, images embedded, so that
`datasets.load_dataset("parquet", data_files=...)` and our own loader both read the file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from llamav.records import Sample


def export_parquet(samples: Iterable[Sample], path: str | Path) -> int:
    """Write `samples` to one parquet file; returns the number written.

    Columns: VRC-Bench's five (idx, image, question, steps, final_answer), then what llamav
    derived (category, answer_type, split), then `metadata` as JSON text: metadata differs
    from template to template, and one text column keeps the schema fixed.
    """
    import datasets

    samples = list(samples)
    features = datasets.Features(
        {
            "idx": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "steps": datasets.List(datasets.Value("string")),
            "final_answer": datasets.Value("string"),
            "category": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "split": datasets.Value("string"),
            "metadata": datasets.Value("string"),
        }
    )
    columns = {
        "idx": [s.id for s in samples],
        "image": [{"bytes": s.image, "path": None} for s in samples],
        "question": [s.question for s in samples],
        "steps": [s.steps for s in samples],
        "final_answer": [s.final_answer for s in samples],
        "category": [s.category for s in samples],
        "answer_type": [s.answer_type for s in samples],
        "split": [s.split for s in samples],
        "metadata": [json.dumps(s.metadata, sort_keys=True) for s in samples],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
    return len(samples)
