"""Predictions files: one Prediction JSON line per sample. Reading them strictly (to score) or
leniently (to resume), and writing them so that a crash never leaves half a file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from llamav.records import Prediction


def read_predictions(path: str | Path) -> list[Prediction]:
    """Prediction records, one JSON line each. A bad line or a repeated sample id is an error
    naming the line: scoring two answers to one sample would double-count it."""
    predictions: list[Prediction] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                prediction = Prediction.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{line_no}: not a Prediction record ({exc})") from None
            if prediction.sample_id in seen:
                raise ValueError(
                    f"{path}:{line_no}: sample {prediction.sample_id!r} already predicted on line "
                    f"{seen[prediction.sample_id]}; score one model's predictions per file"
                )
            seen[prediction.sample_id] = line_no
            predictions.append(prediction)
    return predictions


def read_resumable(path: str | Path) -> list[tuple[int, Prediction]]:
    """(line number, prediction) of every whole line; a line cut short by a crash is passed over
    (its sample is simply made again)."""
    found = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        try:
            found.append((number, Prediction.model_validate_json(line)))
        except ValidationError:
            continue
    return found


def write_lines_atomically(path: str | Path, lines: Iterable[str]) -> int:
    """Write through a temporary file in the same folder and rename it into place: readers see
    the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    count = 0
    with partial.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line.rstrip("\n") + "\n")
            count += 1
    partial.replace(path)
    return count
