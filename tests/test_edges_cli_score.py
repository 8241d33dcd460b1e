"""`llamav score`, `judge-agreement` and `metric-check` on the paths the main tests pass by: an
--out file that holds something else, an empty predictions file, a scores file without the judge,
a judge that judged each sample once, and metric-check's terminal table. Predictions are written
by hand and scored by the answer metric alone: no model is loaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_support import one_line, run_cli

from llamav.bench import load_source
from llamav.metrics import ATTRIBUTES
from llamav.records import Prediction

BENCH = "vrc-synth?size=2"


def run(*args: str):
    return run_cli(*args, columns=250)  # wide: table cells unclipped


@pytest.fixture()
def predictions(tmp_path) -> Path:
    """Model m1's predictions for BENCH: the first sample right, the second wrong."""
    first, second = load_source(BENCH).samples
    made = [Prediction(sample_id=first.id, model="m1", protocol="direct", strategy="greedy",
                       final_answer=first.final_answer),
            Prediction(sample_id=second.id, model="m1", protocol="direct", strategy="greedy",
                       final_answer=first.final_answer + "0")]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in made))
    return path


def score(predictions: Path, out: Path, *extra: str):
    return run("score", str(predictions), "--bench", BENCH, "--metric", "answer", "--no-cache", "--out", str(out),
               *extra)


# -- score --out ---------------------------------------------------------------------------------


def test_score_refuses_an_out_file_holding_other_scores_in_one_line_and_keeps_it(predictions, tmp_path):
    out = tmp_path / "scores.jsonl"
    other = json.dumps({"sample_id": "x", "model": "another-model", "scores": {"answer": {"value": 1.0}}}) + "\n"
    out.write_text(other)
    result = score(predictions, out)
    assert result.exit_code == 2
    assert one_line(result) == (f"error: --out {out} exists and holds other scores; use another --out, or "
                                "--overwrite to replace it")
    assert out.read_text() == other
    assert score(predictions, out, "--overwrite").exit_code == 0  # asked: replaced
    assert [json.loads(line)["model"] for line in out.read_text().splitlines()] == ["m1", "m1"]


def test_score_refuses_an_out_file_that_is_not_scores_at_all(predictions, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("my notes, not JSON\n")
    result = score(predictions, out)
    assert result.exit_code == 2 and "exists and holds other scores" in one_line(result)
    assert out.read_text() == "my notes, not JSON\n"


def test_score_rewrites_an_empty_out_file_or_one_with_this_models_scores(predictions, tmp_path):
    out = tmp_path / "scores.jsonl"
    out.write_text("\n")  # empty but for a blank line: nothing to lose
    first = score(predictions, out)
    assert first.exit_code == 0, first.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["scores"]["answer"]["value"] for line in written] == [1.0, 0.0]
    again = score(predictions, out)  # the same model's scores: the same command may write them again
    assert again.exit_code == 0, again.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == written


def test_score_of_an_empty_predictions_file_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "preds.jsonl"
    empty.write_text("")
    result = run("score", str(empty), "--bench", BENCH, "--metric", "answer", "--no-cache")
    assert result.exit_code == 2
    assert one_line(result) == f"error: {empty} holds no predictions; nothing to score"


# -- judge-agreement -----------------------------------------------------------------------------


def scores_line(sample_id: str, roscoe: float, judge: float | None) -> dict:
    scores = {"roscoe": {"value": roscoe, "attributes": {a: roscoe for a in ATTRIBUTES}}}
    if judge is not None:  # judged once: no "runs" to compare
        scores["judge"] = {"value": judge, "attributes": {a: judge for a in ATTRIBUTES}}
    return {"sample_id": sample_id, "scores": scores}


def write_lines(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_judge_agreement_without_judge_scores_is_one_line_counting_what_it_found(tmp_path):
    path = write_lines(tmp_path / "scores.jsonl", [scores_line("a", 0.1, None), scores_line("b", 0.2, None)])
    result = run("judge-agreement", str(path))
    assert result.exit_code == 2
    assert one_line(result) == f"error: {path} needs both roscoe and judge scores (found {{'roscoe': 2, 'judge': 0}})"


def test_judge_agreement_of_a_judge_run_once_shows_the_correlation_and_says_there_is_no_spread(tmp_path):
    # ROSCOE-SA ranks a b c d as 1 2 3 4, the judge as 1 3 2 4: Spearman 1 - 6*2/(4*15) = 0.8,
    # Kendall (5 - 1) / 6 (only the pair b, c is discordant).
    table = [("a", 0.1, 1.0), ("b", 0.2, 3.0), ("c", 0.3, 2.0), ("d", 0.4, 4.0)]
    path = write_lines(tmp_path / "scores.jsonl", [scores_line(*row) for row in table])
    result = run("judge-agreement", str(path))
    assert result.exit_code == 0, result.output
    assert "ROSCOE-SA vs LLM judge (4 of 4 samples scored by both)" in result.output
    overall = next(line for line in result.output.splitlines() if "Overall" in line)
    assert "+0.800" in overall and "+0.667" in overall
    assert result.output.rstrip().endswith(
        "judge run-to-run spread: each sample was judged once (use --judge-samples K > 1)")
    assert "Judge run-to-run spread:" not in result.output


# -- metric-check --------------------------------------------------------------------------------


def test_metric_check_of_a_missing_benchmark_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "no-such.jsonl"
    result = run("metric-check", "--bench", str(missing))
    assert result.exit_code == 2
    line = one_line(result)
    assert line.startswith("error: ") and str(missing) in line and "no such file" in line


def test_metric_check_prints_a_terminal_table_of_every_attribute_by_perturbation():
    result = run("metric-check", "--bench", BENCH)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # stderr has the embedder's loading bar
    assert lines[0] == (f"{BENCH}, 2 reference chains, ROSCOE-SA with all-MiniLM-L6-v2 (source: question "
                        "sentences) and step matching, seed 0")
    assert lines[1].startswith("Share of chains whose score dropped / AUC")
    header = next(line for line in lines if "remove" in line)
    assert [c.strip() for c in header.split("┃")[2:-1]] == ["remove", "repeat", "insert", "change", "shuffle",
                                                            "truncate"]
    # One row per attribute, a cell per perturbation; the attribute meant to catch one is starred.
    row = next(line for line in lines if "Repetition-Token" in line)
    cells = [c.strip() for c in row.split("│")[2:-1]]
    assert len(cells) == 6 and all(re.fullmatch(r"\*?\d+%/[01]\.\d\d", c) for c in cells), cells
    assert cells[1].startswith("*")  # repeat is what Repetition-Token is meant to catch
    assert "|" not in result.stdout  # the terminal table, not the --markdown one


@pytest.mark.parametrize("markdown", [False, True])
def test_metric_check_shows_a_dash_for_a_perturbation_no_chain_can_take(markdown):
    # One reference chain of vrc-synth has too few steps for "insert" to apply: n=0, and a share
    # or an AUC of nothing is no number (it used to print "nan%/nan" in every cell).
    result = run("metric-check", "--bench", "vrc-synth?size=1", *(["--markdown"] if markdown else []))
    assert result.exit_code == 0, result.output
    assert "nan" not in result.stdout.lower()
    split = (lambda line: [c.strip("* ") for c in line.split("|")[2:-1]]) if markdown else \
        (lambda line: [c.strip("* ") for c in line.split("│")[2:-1]])
    header = next(line for line in result.stdout.splitlines() if "remove" in line)
    assert "insert_irrelevant (n=0)" in header if markdown else "n=0" in result.stdout
    for title in ("Hallucination", "Repetition-Token", "Overall (ROSCOE-SA)"):
        row = next(line for line in result.stdout.splitlines() if title in line)
        assert split(row)[2] == "-", row
        assert all(re.fullmatch(r"\d+%\s?/\s?[01]\.\d\d", cell) for i, cell in enumerate(split(row)) if i != 2), row
