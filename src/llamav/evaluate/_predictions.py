"""Predictions files: one Prediction JSON line per sample. Reading them strictly (to score) or
leniently (to resume), and writing them so that a crash never leaves half a file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from llamav.records import Prediction


def read_predictions(path: str | Path, bad_lines: list[str] | None = None) -> list[Prediction]:
    """Prediction records, one JSON line each. A repeated sample id is an error naming the line:
    scoring two answers to one sample would double-count it.

    A line that is not a Prediction (most often the last one, cut short by a crash) is an error
    naming it; with a `bad_lines` list it is skipped instead and described there, to be counted.
    A file none of whose lines is a Prediction is an error either way."""
    predictions: list[Prediction] = []
    seen: dict[str, int] = {}
    skipped: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                prediction = Prediction.model_validate_json(line)
            except ValueError as exc:
                reason = _first_error(exc)
                if bad_lines is None:
                    raise ValueError(f"{path}:{line_no}: not a Prediction record ({reason})") from None
                skipped.append(f"line {line_no}: not a Prediction record ({reason})")
                continue
            if prediction.sample_id in seen:
                raise ValueError(
                    f"{path}:{line_no}: sample {prediction.sample_id!r} already predicted on line "
                    f"{seen[prediction.sample_id]}; score one model's predictions per file"
                )
            seen[prediction.sample_id] = line_no
            predictions.append(prediction)
    if skipped and not predictions:
        raise ValueError(f"{path}: not a predictions file: no line is a Prediction record ({skipped[0]})")
    if bad_lines is not None:
        bad_lines.extend(skipped)
    return predictions


def _first_error(exc: ValueError) -> str:
    """pydantic's first complaint, in one line, not its whole multi-line dump."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")
    return str(exc).splitlines()[0]


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
