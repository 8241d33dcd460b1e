"""Writing samples back out in VRC-Bench's schema, images embedded, so that
`datasets.load_dataset("parquet", data_files=...)` and our own loader both read the file."""

from __future__ import annotations

import base64
import datetime
import json
import math
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from llamav.records import Sample

# Columns the exporter writes itself; a metadata key with one of these names stays in the JSON.
_OWN_COLUMNS = (
    "idx", "image", "question", "steps", "final_answer",
    "options", "category", "answer_type", "split", "flags", "metadata",
)
# Values that parquet types exactly and our loader reads back as the same Python type.
_SCALARS = (str, bool, int, float, bytes, Decimal, datetime.datetime, datetime.date, datetime.time)


class ExportError(ValueError):
    """Nothing to export, or a file that could not be written."""


def export_parquet(samples: Iterable[Sample], path: str | Path) -> int:
    """Write `samples` to one parquet file; returns the number written.

    Columns: VRC-Bench's five (idx, image, question, steps, final_answer; `steps` empty for a
    sample without a reference chain), then what llamav derived or kept (options, category,
    answer_type, split, flags), then metadata. A metadata key that every sample has, with values
    of one scalar type (text, number, date, timestamp, decimal, bytes), becomes its own typed
    column, as it was in the source; the rest go into one `metadata` column of JSON text (metadata
    differs from template to template), where dates are ISO text, decimals text, bytes base64,
    and NaN or infinity null: the file never holds a bare `NaN`, which JSON does not allow.

    An empty list of samples is refused: a file with no rows says nothing, and the caller should
    say why nothing was left.
    """
    import datasets  # slow to import: only an export needs it

    samples = list(samples)
    if not samples:
        raise ExportError("no samples to export")
    typed = _typed_metadata_columns(samples)
    features = datasets.Features(
        {
            "idx": datasets.Value("string"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "steps": datasets.List(datasets.Value("string")),
            "final_answer": datasets.Value("string"),
            "options": datasets.List(datasets.Value("string")),
            "category": datasets.Value("string"),
            "answer_type": datasets.Value("string"),
            "split": datasets.Value("string"),
            "flags": datasets.List(datasets.Value("string")),
            **{name: feature for name, (feature, _) in typed.items()},
            "metadata": datasets.Value("string"),
        }
    )
    columns: dict[str, list[Any]] = {
        "idx": [s.id for s in samples],
        "image": [{"bytes": s.image, "path": None} for s in samples],
        "question": [s.question for s in samples],
        "steps": [s.steps for s in samples],
        "final_answer": [s.final_answer for s in samples],
        "options": [s.options for s in samples],
        "category": [s.category for s in samples],
        "answer_type": [s.answer_type for s in samples],
        "split": [s.split for s in samples],
        "flags": [s.flags for s in samples],
        **{name: values for name, (_, values) in typed.items()},
        "metadata": [
            json.dumps(_jsonable({k: v for k, v in s.metadata.items() if k not in typed}), sort_keys=True, allow_nan=False)
            for s in samples
        ],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
    return len(samples)


def _typed_metadata_columns(samples: list[Sample]) -> dict[str, tuple[Any, list[Any]]]:
    """name -> (datasets feature, values) for the metadata keys that make a clean typed column."""
    # slow to import: only an export needs them
    import datasets
    import pyarrow as pa

    shared = set(samples[0].metadata)
    for sample in samples[1:]:
        shared &= set(sample.metadata)
    columns = {}
    for name in sorted(shared - set(_OWN_COLUMNS)):
        values = [s.metadata[name] for s in samples]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) != 1 or not issubclass(next(iter(kinds)), _SCALARS):
            continue
        try:
            array = pa.array(values)
            feature = datasets.features.features.generate_from_arrow_type(array.type)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            continue  # e.g. decimals beyond 38 digits: they stay in the JSON column
        columns[name] = (feature, values)
    return columns


def _jsonable(value: Any) -> Any:
    """JSON-safe metadata: the values JSON lacks written as text; NaN and infinity as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
