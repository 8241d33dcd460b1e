"""VRC-Bench's row schema: turning rows (from the hub, a parquet file or a jsonl file) into Samples.

The published schema is `idx, image, question, steps, final_answer`. Every other column is kept in
the sample's metadata. `steps` may be missing or empty: final-answer-only benchmarks (ChartQA,
DocVQA, ...) load as samples without a reference chain. A row that cannot become a valid Sample
raises `SampleError` with the reason; the caller decides whether that is fatal (`--strict`) or
counted and skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from llamav.answer import parse_choices
from llamav.images import ImageLimits, NotAFile, load_image, open_regular_file, read_bounded
from llamav.records import UNCATEGORIZED, AnswerType, Sample

SCHEMA_COLUMNS = ("idx", "image", "question", "steps", "final_answer")

# VRC-Bench's eight categories and the source datasets each was drawn from (the paper's figure 3).
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

# Options are read from the question by the one answer reader (`llamav.answer`).


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


# A category map is a small table; a larger file is a mistake (or not a table at all).
MAX_CATEGORY_MAP_BYTES = 64 * 1024 * 1024


def load_category_map(path: str | Path) -> dict[str, str]:
    """A user's id -> category mapping: a JSON object, or a CSV with `idx`/`id` and `category`
    columns (UTF-8, with or without the byte-order mark spreadsheets write).

    Ids are read as sample ids are (trimmed, Unicode NFC), categories are trimmed. A row without
    an id or a category, a category that is not text, and an id given twice with two categories
    are errors (`ValueError`) naming the row: a gap in the map is never filled with a made-up
    category such as "None"."""
    path = Path(path)
    try:
        with open_regular_file(path) as handle:
            raw = read_bounded(handle, MAX_CATEGORY_MAP_BYTES, lambda size: ValueError(
                f"{path}: the category map is {size:,} bytes, above the limit of {MAX_CATEGORY_MAP_BYTES:,}"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such category map") from None
    except NotAFile as exc:
        raise ValueError(f"{path} is {exc}, not a category map file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the category map ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start + 1}); save the map as UTF-8") from None
    if path.suffix.lower() == ".json":
        return _json_category_map(path, text)
    return _csv_category_map(path, text)


def _json_category_map(path: Path, text: str) -> dict[str, str]:
    try:
        data = json.loads(text, object_pairs_hook=_Pairs)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
    if not isinstance(data, _Pairs):
        raise ValueError(f"{path}: expected a JSON object of id -> category")
    mapping: dict[str, str] = {}
    for key, value in data:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            kind = {type(None): "null", bool: "boolean", float: "number", list: "array"}.get(type(value), "object")
            raise ValueError(f"{path}: id {key!r} has a category of type {kind}; a category is text")
        _put(mapping, key, str(value), str(path))
    return mapping


class _Pairs(list):
    """A JSON object's (key, value) pairs in order, duplicates kept."""


def _csv_category_map(path: Path, text: str) -> dict[str, str]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        id_col = header.index("idx") if "idx" in header else header.index("id") if "id" in header else None
        if id_col is None or "category" not in header:
            raise ValueError(
                f"{path}: a CSV category map needs columns 'idx' (or 'id') and 'category'; "
                f"its first line names {', '.join(repr(h) for h in header) or 'nothing'}")
        category_col = header.index("category")
        mapping: dict[str, str] = {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"{path}, line {reader.line_num}"
            cells = [row[i] if i < len(row) else "" for i in (id_col, category_col)]
            _put(mapping, cells[0], cells[1], where)
    except csv.Error as exc:
        raise ValueError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    return mapping


def _put(mapping: dict[str, str], key: str, category: str, where: str) -> None:
    sample = normalize_id(key)
    category = unicodedata.normalize("NFC", category.strip())
    if not sample:
        raise ValueError(f"{where}: the row has no id")
    if not category:
        raise ValueError(f"{where}: id {sample!r} has no category")
    if mapping.get(sample, category) != category:
        raise ValueError(f"{where}: id {sample!r} is given two categories, {mapping[sample]!r} and {category!r}")
    mapping[sample] = category


def derive_category(sample_id: str, row: Mapping[str, Any], category_map: Mapping[str, str] | None) -> str:
    """The user's mapping first, then a category column, then a known source column; else
    "uncategorized". A category is never guessed from the question's content."""
    if category_map and sample_id in category_map:
        return category_map[sample_id]
    for col in _CATEGORY_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and value.strip():
            return unicodedata.normalize("NFC", value.strip())
    for col in _SOURCE_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and _key(value) in _SOURCE_TO_CATEGORY:
            return _SOURCE_TO_CATEGORY[_key(value)]
    return UNCATEGORIZED


# -- rows ----------------------------------------------------------------------------------------

# Columns that become Sample fields (or are read to derive one); every other column is metadata.
_FIELD_COLUMNS = set(SCHEMA_COLUMNS) | {"options", "answer_type", "category", "split", "metadata", "flags"}
ROW_ID_PREFIX = "row-"


def sample_id(row: Mapping[str, Any], row_index: int) -> tuple[str, str | None]:
    """(id, the column it came from; None when it was made from the row number).

    Ids are text: a whole number (`1`, or `1.0` from a parquet column with gaps) becomes its
    decimal text, so `1` and `"1"` are the same id and the second is a duplicate. Text ids are
    trimmed and put in Unicode's NFC form, so an `é` written as one character or as `e` and an
    accent is one id; an id holding an invisible or control character (a zero-width space, a
    direction override, a newline, an escape) is refused: two ids that print the same must be
    the same id. A row without an id gets `row-N` (N its 0-based row number); the loader renames
    such an id if a real id in the same source happens to be `row-N`, so a made-up id never
    displaces a real one.
    """
    for column in ("idx", "id"):
        value = row.get(column)
        if hasattr(value, "item") and not isinstance(value, (bytes, str)):
            value = value.item()  # numpy scalars
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, str):
            if value.strip():
                hidden = _hidden_character(value.strip())
                if hidden:
                    raise SampleError(row_index, None, f"{column} holds {hidden}; an id must be visible text")
                return normalize_id(value), column
            continue
        if isinstance(value, bool):
            raise SampleError(row_index, None, f"{column} must be text or a whole number, got a boolean")
        if isinstance(value, int):
            return str(value), column
        if isinstance(value, float) and value.is_integer():
            return str(int(value)), column
        raise SampleError(row_index, None, f"{column} must be text or a whole number, got {type(value).__name__}")
    return f"{ROW_ID_PREFIX}{row_index}", None


def normalize_id(text: str) -> str:
    """An id as llamav compares it: trimmed, in Unicode's NFC form."""
    return unicodedata.normalize("NFC", text.strip())


# Control characters, format characters (zero-width space and joiners, direction marks and
# overrides, the byte-order mark, tags), surrogates, line and paragraph separators.
_INVISIBLE = ("Cc", "Cf", "Cs", "Zl", "Zp")


def _hidden_character(text: str) -> str | None:
    """Words for the first invisible or control character of `text`, or None."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in _INVISIBLE:
            name = unicodedata.name(char, "a control character")
            return f"an invisible or control character (U+{ord(char):04X}, {name}, at position {position + 1})"
    return None


def _steps(value: Any) -> list[str]:
    """The reference chain; empty when the row has none (a final-answer-only benchmark)."""
    if hasattr(value, "tolist"):  # numpy arrays from pyarrow/pandas
        value = value.tolist()
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, str):
        if not value.strip():
            return []
        # Some exports store the list as JSON text; accept that, reject any other string.
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError("steps is a string, expected a list of strings") from None
        if value is None:
            return []
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"steps must be a list of strings, got {type(value).__name__}")
    steps = [s.strip() for s in value if isinstance(s, str) and s.strip()]
    if len(steps) != len(value):
        raise ValueError("steps holds an empty or non-string entry")
    return steps


def _final_answer(value: Any) -> str:
    if hasattr(value, "item") and not isinstance(value, (bytes, str)):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value):
        raise ValueError("missing final answer")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"final answer must be text or a number, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ValueError("missing final answer")
    return text


def _options_column(value: Any) -> list[str] | None:
    """A row's own `options` column when it is a list of at least two option texts."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    if isinstance(value, (list, tuple)) and len(value) >= 2:
        texts = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if len(texts) == len(value):
            return texts
    return None


def _metadata(row: Mapping[str, Any], id_column: str | None) -> dict[str, Any]:
    """Every column llamav does not model, kept as it was (typed values stay typed)."""
    skip = _FIELD_COLUMNS | ({id_column} if id_column else set())
    metadata = {str(k): _plain(v) for k, v in row.items() if k not in skip}
    packed = row.get("metadata")
    if isinstance(packed, str):
        text = packed.strip()
        # Our own exports carry non-column metadata as one JSON object; unpack it on the way back.
        # Text that looks like JSON must be JSON; any other text is kept as it is.
        if text.startswith(("{", "[")):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"metadata is not valid JSON ({exc.msg} at character {exc.pos})") from None
            except RecursionError:
                raise ValueError("metadata is not valid JSON (nested too deeply)") from None
            if isinstance(parsed, dict):
                metadata.update(parsed)
            else:
                metadata["metadata"] = parsed
        elif text:
            metadata["metadata"] = packed
    elif isinstance(packed, Mapping):
        metadata.update({str(k): _plain(v) for k, v in packed.items()})
    elif packed is not None:
        metadata["metadata"] = _plain(packed)
    return metadata


def row_to_sample(
    row: Mapping[str, Any],
    *,
    row_index: int,
    source: str,
    folders: Sequence[Path] = (),
    allow_outside_paths: bool = False,
    image_limits: ImageLimits | None = None,
    category_map: Mapping[str, str] | None = None,
    split: str = "",
) -> Sample:
    """One VRC-Bench row -> Sample, or SampleError naming the row and the reason.

    Image paths are read relative to `folders[0]` and only inside `folders` unless
    `allow_outside_paths` (see `llamav.images`).
    """
    sid, id_column = sample_id(row, row_index)
    try:
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ValueError("missing question")
        final = _final_answer(row.get("final_answer"))
        steps = _steps(row.get("steps"))
        metadata = _metadata(row, id_column)
        loaded = load_image(
            row.get("image"), folders=folders, allow_outside_paths=allow_outside_paths, limits=image_limits
        )
        options = _options_column(row.get("options"))
        if options is None:
            options = parse_choices(question)
            if row.get("options") is not None:
                metadata["options"] = _plain(row.get("options"))
        answer_type = row.get("answer_type")
        if answer_type not in ("choice", "integer", "decimal", "text"):
            answer_type = infer_answer_type(final, options)
        # Our exports carry the flags (a downscaled image no longer shows that it was).
        flags = _string_list(row.get("flags"))
        return Sample(
            id=sid,
            question=question.strip(),
            image=loaded.data,
            steps=steps,
            final_answer=final,
            options=options,
            answer_type=answer_type,
            category=derive_category(sid, row, category_map),
            source=source,
            split=_text(row.get("split")) or split,
            metadata=metadata,
            flags=sorted(set(flags) | set(loaded.flags)),
        )
    except ValueError as exc:  # ImageError and pydantic's ValidationError are ValueErrors too
        raise SampleError(row_index, sid, str(exc)) from None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _string_list(value: Any) -> list[str]:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []


def _plain(value: Any) -> Any:
    """numpy scalars/arrays become Python values; everything else (dates, decimals, bytes) is kept."""
    if hasattr(value, "tolist") and not isinstance(value, (bytes, str)):
        return value.tolist()
    return value
