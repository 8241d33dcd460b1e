"""`read_predictions`, strict (to score) and lenient (to count what was skipped), on files written
by hand: blank lines, a line that is not a Prediction, a sample predicted twice, a file none of
whose lines is a prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamav.evaluate.files import read_predictions
from llamav.records import Prediction


def prediction(sample_id: str, answer: str = "1") -> str:
    return Prediction(sample_id=sample_id, model="m1", protocol="direct", strategy="greedy",
                      final_answer=answer).model_dump_json()


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_blank_lines_between_predictions_are_passed_over(tmp_path):
    path = write(tmp_path / "preds.jsonl", prediction("a"), "", "   ", prediction("b", "2"), "")
    read = read_predictions(path)
    assert [(p.sample_id, p.final_answer) for p in read] == [("a", "1"), ("b", "2")]


def test_strict_reading_names_the_line_that_is_not_a_prediction_and_pydantics_first_complaint(tmp_path):
    path = write(tmp_path / "preds.jsonl", prediction("a"), json.dumps({"sample_id": "b", "model": "m1"}))
    with pytest.raises(ValueError) as caught:
        read_predictions(path)
    assert str(caught.value) == f"{path}:2: not a Prediction record (protocol: Field required)"


def test_a_sample_predicted_twice_names_both_lines(tmp_path):
    path = write(tmp_path / "preds.jsonl", prediction("a"), prediction("b"), prediction("a", "7"))
    for bad_lines in (None, []):  # never skipped: scoring both would count the sample twice
        with pytest.raises(ValueError) as caught:
            read_predictions(path, bad_lines)
        assert str(caught.value) == (f"{path}:3: sample 'a' already predicted on line 1; score one model's "
                                     "predictions per file")


def test_a_file_without_one_prediction_is_refused_even_when_bad_lines_are_counted(tmp_path):
    path = write(tmp_path / "scores.jsonl", json.dumps({"sample_id": "a", "scores": {}}), "not json")
    bad_lines: list[str] = []
    with pytest.raises(ValueError) as caught:
        read_predictions(path, bad_lines)
    assert str(caught.value) == (f"{path}: not a predictions file: no line is a Prediction record "
                                 "(line 1: not a Prediction record (model: Field required))")
    assert bad_lines == []  # nothing is reported as skipped from a file that was refused


def test_lenient_reading_skips_a_line_cut_short_and_describes_it(tmp_path):
    whole = prediction("b")
    path = tmp_path / "preds.jsonl"
    path.write_text(prediction("a") + "\n" + whole[: len(whole) // 2])
    bad_lines: list[str] = []
    assert [p.sample_id for p in read_predictions(path, bad_lines)] == ["a"]
    assert len(bad_lines) == 1 and bad_lines[0].startswith("line 2: not a Prediction record (")
