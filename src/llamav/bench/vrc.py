"""VRC-Bench's row schema: turning rows (from the hub, a parquet file or a jsonl file) into Samples.

The published schema is `idx, image, question, steps, final_answer`. Every other column is kept in
the sample's metadata. A row that cannot become a valid Sample raises `SampleError` with the reason;
the caller decides whether that is fatal (`--strict`) or counted and skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llamav.records import UNCATEGORIZED, AnswerType, Sample

SCHEMA_COLUMNS = ("idx", "image", "question", "steps", "final_answer")

# VRC-Bench's eight categories and the source datasets each was drawn from (SYSTEM.md, section 1).
CATEGORY_SOURCES: dict[str, tuple[str, ...]] = {
    "Math & Logic Reasoning": ("MathVista", "DynaMath"),
    "Complex Visual Perception": ("LogicVista", "Blink-IQ"),
    "Charts & Diagram Understanding": ("ChartQA",),
    "Social & Cultural Context": ("ALM-Bench",),
    "Scientific Reasoning": ("ScienceQA",),
    "OCR & Document Understanding": ("DocVQA",),
    "Medical Imaging": ("MMMU-Medical",),
    "Visual Reasoning": ("MMMU", "BLINK-Art"),
}
CATEGORIES = tuple(CATEGORY_SOURCES)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_SOURCE_TO_CATEGORY = {_key(src): cat for cat, srcs in CATEGORY_SOURCES.items() for src in srcs}
# Columns that name a category directly, then columns that name a source dataset (mapped above).
_CATEGORY_COLUMNS = ("category", "Category", "task_category")
_SOURCE_COLUMNS = ("source", "Source", "dataset", "source_dataset", "data_source")


class SampleError(ValueError):
    """One row of a benchmark is unusable. Carries where it is and why."""

    def __init__(self, row: int, sample_id: str | None, reason: str) -> None:
        self.row = row
        self.sample_id = sample_id
        self.reason = reason
        where = f"sample {sample_id!r}" if sample_id is not None else f"row {row}"
        super().__init__(f"{where}: {reason}")


# -- multiple-choice options ---------------------------------------------------------------------

_CHOICES_HEADER = re.compile(r"\b(?:choices|options)\s*:?", re.IGNORECASE)
# An option label: "(A)", "A.", "A)", "A:" at the start of a line or after whitespace.
_OPTION_LABEL = re.compile(r"(?:^|(?<=\s))\(?([A-J])[\).:]\s*", re.MULTILINE)


def parse_choices(question: str) -> list[str] | None:
    """Option texts, in order, when the question carries lettered choices; None otherwise.

    VRC-Bench keeps the options inside the question text after the word "Choices". Options are
    accepted only when their labels run A, B, C, ... without a gap, so a stray "I." in a sentence
    is not taken for an option.
    """
    header = _CHOICES_HEADER.search(question)
    if header is None:
        return None
    tail = question[header.end():]
    labels = list(_OPTION_LABEL.finditer(tail))
    options: list[str] = []
    for i, match in enumerate(labels):
        if match.group(1) != chr(ord("A") + len(options)):
            break
        end = labels[i + 1].start() if i + 1 < len(labels) else len(tail)
        text = tail[match.end():end].strip().rstrip(",;").strip()
        if not text:
            break
        options.append(text)
    return options if len(options) >= 2 else None


def infer_answer_type(final_answer: str, options: list[str] | None) -> AnswerType:
    """Derived from the data itself, never guessed from the question's wording."""
    if options:
        return "choice"
    text = final_answer.strip().replace(",", "")
    if re.fullmatch(r"[-+]?\d+", text):
        return "integer"
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)", text):
        return "decimal"
    return "text"


# -- categories ----------------------------------------------------------------------------------


def load_category_map(path: str | Path) -> dict[str, str]:
    """A user's id -> category mapping: a JSON object, or a CSV with `idx`/`id` and `category`."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of id -> category")
        return {str(k): str(v) for k, v in data.items()}
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or ())
    id_col = "idx" if "idx" in fields else "id"
    if id_col not in fields or "category" not in fields:
        raise ValueError(f"{path}: a CSV category map needs columns 'idx' (or 'id') and 'category'")
    return {str(row[id_col]): str(row["category"]) for row in reader}


def derive_category(sample_id: str, row: Mapping[str, Any], category_map: Mapping[str, str] | None) -> str:
    """The user's mapping first, then a category column, then a known source column; else
    "uncategorized". A category is never guessed from the question's content."""
    if category_map and sample_id in category_map:
        return category_map[sample_id]
    for col in _CATEGORY_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and value.strip():
            return value.strip()
    for col in _SOURCE_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and _key(value) in _SOURCE_TO_CATEGORY:
            return _SOURCE_TO_CATEGORY[_key(value)]
    return UNCATEGORIZED


# -- images --------------------------------------------------------------------------------------


def image_bytes(value: Any, base_dir: Path | None) -> bytes:
    """Encoded image bytes from any form a row may hold, checked to decode.

    Forms: raw bytes; a `{"bytes", "path"}` struct (parquet, or datasets with decode=False); a PIL
    image (datasets with decode=True); a path string, relative to the jsonl file's folder.
    """
    from PIL import Image, UnidentifiedImageError

    if value is None:
        raise ValueError("missing image")
    if isinstance(value, Mapping):
        data, path = value.get("bytes"), value.get("path")
        value = data if data else path
        if value is None:
            raise ValueError("missing image")
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(value, str):
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ValueError(f"image file not found: {path}")
        value = path.read_bytes()
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"image has unsupported type {type(value).__name__}")
    try:
        with Image.open(io.BytesIO(value)) as img:
            img.load()  # verify() misses truncated data; a full decode does not
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"undecodable image ({exc})") from None
    return bytes(value)


# -- rows ----------------------------------------------------------------------------------------


def _steps(value: Any) -> list[str]:
    if isinstance(value, str):
        # Some exports store the list as JSON text; accept that, reject any other string.
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("steps is a string, expected a list of strings") from None
    if hasattr(value, "tolist"):  # numpy arrays from pyarrow/pandas
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"steps must be a list of strings, got {type(value).__name__}")
    steps = [s.strip() for s in value if isinstance(s, str) and s.strip()]
    if len(steps) != len(value):
        raise ValueError("steps holds an empty or non-string entry")
    if not steps:
        raise ValueError("steps is empty")
    return steps


def row_to_sample(
    row: Mapping[str, Any],
    *,
    row_index: int,
    source: str,
    base_dir: Path | None = None,
    category_map: Mapping[str, str] | None = None,
    split: str = "",
) -> Sample:
    """One VRC-Bench row -> Sample, or SampleError naming the row and the reason."""
    raw_id = row.get("idx", row.get("id"))
    sample_id = str(raw_id) if raw_id is not None else str(row_index)
    try:
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ValueError("missing question")
        final = row.get("final_answer")
        if final is None or (isinstance(final, float) and final != final) or not str(final).strip():
            raise ValueError("missing final answer")
        final = str(final).strip()
        steps = _steps(row.get("steps"))
        image = image_bytes(row.get("image"), base_dir)
    except ValueError as exc:
        raise SampleError(row_index, sample_id, str(exc)) from None

    options = parse_choices(question)
    known = set(SCHEMA_COLUMNS) | {"id", "options", "answer_type", "category", "split", "metadata"}
    metadata = {k: _plain(v) for k, v in row.items() if k not in known}
    # Our own exports carry the non-schema fields as one JSON column; unpack it on the way back.
    packed = row.get("metadata")
    if isinstance(packed, str) and packed.startswith("{"):
        metadata.update(json.loads(packed))
    elif isinstance(packed, Mapping):
        metadata.update(packed)
    answer_type = row.get("answer_type")
    if answer_type not in ("choice", "integer", "decimal", "text"):
        answer_type = infer_answer_type(final, options)
    return Sample(
        id=sample_id,
        question=question.strip(),
        image=image,
        steps=steps,
        final_answer=final,
        options=options,
        answer_type=answer_type,
        category=derive_category(sample_id, row, category_map),
        source=source,
        split=str(row.get("split") or split),
        metadata=metadata,
    )


def _plain(value: Any) -> Any:
    """Metadata must serialise to JSON: numpy scalars/arrays become Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
