"""Reading a dataset's rows for an adapter: hub datasets, .parquet/.json/.jsonl files or folders of
them, the image each row points to, and LLaVA-style `conversations`.

A row's image stays where it is (a file, a cell of a memory-mapped table) until a batch needs it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from llamav.records import SkippedSample
from llamav.train.formats import DataError, DatasetSpec, Loaded
from llamav.train.records import Dialogue, ImageSource


def read_rows(spec: DatasetSpec) -> Iterable[dict[str, Any]]:
    """The rows of `hf:OWNER/NAME[:SPLIT]`, a .parquet/.json/.jsonl file, or a folder of them."""
    # datasets takes about a second to import (pyarrow, fsspec, the hub client); only the formats
    # that read rows through it pay for that.
    import datasets

    source = spec.source
    try:
        if source.startswith("hf:"):
            name, _, split = source[3:].partition(":")
            return datasets.load_dataset(name, split=split or "train")
        path = Path(source)
        if not path.exists():
            raise DataError(f"{source}: no such file or folder")
        files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".json", ".jsonl")) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{source}: no .parquet, .json or .jsonl file in the folder")
        if files[0].suffix == ".parquet":
            return datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
        rows: list[dict[str, Any]] = []
        for file in files:
            text = file.read_text()
            # LLaVA-style releases are either one JSON array or one object per line.
            rows.extend(json.loads(text) if text.lstrip().startswith("[") else
                        [json.loads(line) for line in text.splitlines() if line.strip()])
        return rows
    except DataError:
        raise
    except Exception as exc:  # the datasets library raises many kinds; the user needs the reason
        raise DataError(f"{source}: cannot be loaded ({type(exc).__name__}: {exc})") from None


def row_image(value: Any, spec: DatasetSpec) -> bytes | ImageSource:
    """Where a row's image is, from what datasets and LLaVA-style files hold: a lazy table cell,
    a PIL image, {bytes, path}, raw bytes, or a path (relative to `image_root`, else to the data
    file's folder). A path must exist; its bytes are read when a batch needs them."""
    if value is None:
        raise ValueError("no image")
    if isinstance(value, ImageSource):
        return value
    if hasattr(value, "save"):  # a PIL image
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
        if not value:
            raise ValueError("image has neither bytes nor path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list):  # some releases list the images of a row; we train on the first
        if not value:
            raise ValueError("empty image list")
        return row_image(value[0], spec)
    root = Path(spec.image_root) if spec.image_root else _source_folder(spec)
    path = Path(str(value))
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    return ImageSource(path=path)


def _source_folder(spec: DatasetSpec) -> Path:
    path = Path(spec.source)
    return path if path.is_dir() else path.parent


def _lazy_images(rows: Any) -> tuple[Any, Callable[[int], ImageSource] | None]:
    """For a datasets table with embedded images: the rows without the image column (iterating
    them does not decode every picture) and, per row, where its image is."""
    import datasets  # slow to import; see read_rows

    if not isinstance(rows, datasets.Dataset) or "image" not in rows.column_names:
        return rows, None
    column = rows.select_columns(["image"])
    feature = column.features["image"]
    if isinstance(feature, datasets.Image):
        column = column.cast_column("image", datasets.Image(decode=False))
    elif not (isinstance(feature, list) and isinstance(feature[0], datasets.Image)  # datasets < 4: [Image()]
              or isinstance(getattr(feature, "feature", None), datasets.Image)):  # datasets >= 4: List(Image())
        return rows, None  # paths or other values: read as they are
    else:
        column = column.cast_column("image", [datasets.Image(decode=False)])
    return rows.remove_columns(["image"]), lambda index: ImageSource(table=column, row=index, column="image")


def each_row(spec: DatasetSpec, make: Callable[[int, dict[str, Any]], Dialogue | None]) -> Loaded:
    """`make` applied to every row (index, row) of the source, up to `limit` dialogues; a row it
    raises on is skipped with the reason."""
    loaded = Loaded(spec.source, [])
    rows, image_at = _lazy_images(read_rows(spec))
    for index, row in enumerate(rows):
        if image_at is not None:
            row = {**row, "image": image_at(index)}
        try:
            dialogue = make(index, row)
        except (ValueError, KeyError, TypeError) as exc:
            loaded.skipped.append(SkippedSample(source=spec.source, row=index, reason=f"{type(exc).__name__}: {exc}"))
            continue
        if dialogue is not None:
            loaded.dialogues.append(dialogue)
        if spec.limit is not None and len(loaded.dialogues) >= spec.limit:
            break
    return loaded


def conversation_turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    """LLaVA `conversations` as (role, text) pairs, role "user" or "assistant"."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise ValueError("no conversations")
    roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
    out = []
    for turn in turns:
        role = roles.get(str(turn.get("from", turn.get("role", ""))).lower())
        if role is None:
            raise ValueError(f"unknown speaker {turn.get('from')!r}")
        out.append((role, str(turn.get("value", turn.get("content", "")))))
    return out


def question_answer_pairs(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(user text, assistant text) pairs; the user's image placeholder removed."""
    pairs = []
    for i in range(0, len(turns) - 1, 2):
        (r1, question), (r2, answer) = turns[i], turns[i + 1]
        if (r1, r2) != ("user", "assistant"):
            raise ValueError(f"turns {i}-{i + 1} are {r1}/{r2}, expected user/assistant")
        pairs.append((question.replace("<image>", "").strip(), answer.strip()))
    if not pairs:
        raise ValueError("no question/answer pair")
    return pairs


def row_id(row: dict[str, Any], index: int, spec: DatasetSpec) -> str:
    return str(row.get("id", row.get("idx", f"{Path(spec.source).name}-{index}")))
