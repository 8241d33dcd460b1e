"""Small files in VRC-Bench's published schema, built in the tests, for the loaders to read.

The parquet files are written with pyarrow directly, in the layout the hub serves (an image is a
struct of `bytes` and `path`), so that the loader is tested against the schema, not against our
own exporter.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def png(colour: str = "red", size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def vrc_row(idx: int, **overrides) -> dict:
    row = {
        "idx": idx,
        "image": {"bytes": png(), "path": None},
        "question": f"How many red squares are there in picture {idx}?",
        "steps": ["Step 1: Look at the picture.", "Step 2: Count the red squares.", "Step 3: There is 1."],
        "final_answer": "1",
    }
    row.update(overrides)
    return row


_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def write_parquet(path: Path, rows: list[dict]) -> Path:
    """Write rows with VRC-Bench's column types; extra columns are inferred by pyarrow."""
    columns: dict[str, pa.Array] = {}
    names = list(dict.fromkeys(k for row in rows for k in row))
    typed = {"idx": pa.int64(), "image": _IMAGE, "question": pa.string(),
             "steps": pa.list_(pa.string()), "final_answer": pa.string()}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in typed:
            columns[name] = pa.array(values, type=typed[name])
        else:
            columns[name] = pa.array(values)
    pq.write_table(pa.table(columns), path)
    return path


def write_jsonl(folder: Path, rows: list[dict]) -> Path:
    """A jsonl file whose images are PNG files beside it, named by a path relative to it."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for row in rows:
        row = dict(row)
        image = row.pop("image")
        if isinstance(image, dict):
            name = f"images/{row['idx']}.png"
            (folder / name).write_bytes(image["bytes"])
            row["image"] = name
        else:
            row["image"] = image
        lines.append(json.dumps(row))
    path = folder / "bench.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
