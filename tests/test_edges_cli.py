"""`llamav generate`, `eval` and `report` on the paths a user reaches by mistake or by bad luck:
a flag that goes with another, predictions on stdout, a run where every sample fails, a leaderboard
file of the wrong kind. A mistake is one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import one_line, run_cli
from PIL import Image
from vrc_files import vrc_row, write_jsonl

from llamav.records import Prediction

FAST = ["--model", "tiny-random", "--protocol", "direct", "--strategy", "greedy", "--max-new-tokens", "3"]
# 204 KB of question: more tokens than tiny-random's 4,096 context, so the sample fails at once with
# PromptTooLong (a real failure of the real model, reached without generating anything).
HUGE_QUESTION = "How many red squares are there? " * 6400
GOLDEN = Path(__file__).parent / "golden" / "results-tiny-random-16.json"


def run(*args: str):
    return run_cli(*args, columns=250)  # wide: table cells unclipped


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMAV_STORE", str(tmp_path / "store" / "llamav.db"))


@pytest.fixture()
def picture(tmp_path) -> Path:
    path = tmp_path / "bars.png"
    Image.new("RGB", (24, 16), "orange").save(path)
    return path


# -- generate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [["--limit", "2"], ["--resume"]])
def test_generate_with_limit_or_resume_but_no_bench_is_one_line_exit_2(picture, flag):
    result = run("generate", *FAST, "--image", str(picture), "--question", "How tall?", *flag)
    assert result.exit_code == 2
    assert one_line(result) == "error: --limit and --resume go with --bench"


def test_one_image_whose_prediction_fails_prints_the_reason_in_one_line_and_exits_1(picture):
    result = run("generate", *FAST, "--image", str(picture), "--question", HUGE_QUESTION)
    assert result.exit_code == 1
    line = one_line(result)  # no stage panels, no "final answer:" for a failed prediction
    assert line.startswith("error: failed: sample 'bars': PromptTooLong: the prompt is ")
    assert "tiny-random's context 4,096" in line


def test_a_benchmark_without_out_prints_one_prediction_json_line_per_sample_on_stdout(tmp_path):
    bench = write_jsonl(tmp_path / "j", [vrc_row(0), vrc_row(1)])
    result = run("generate", *FAST, "--bench", str(bench))
    assert result.exit_code == 0, result.output
    printed = [Prediction.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [p.sample_id for p in printed] == ["0", "1"]
    assert all(p.model == "tiny-random" and p.error is None for p in printed)
    assert "2 predictions (2 made, 0 resumed), 0 failed, 0 rows skipped" in result.stderr
    assert "written to" not in result.stderr


def test_a_benchmark_whose_every_sample_fails_exits_1_after_naming_each_failure(tmp_path):
    bench = write_jsonl(tmp_path / "j", [vrc_row(0, question=HUGE_QUESTION), vrc_row(1, question=HUGE_QUESTION)])
    out = tmp_path / "preds.jsonl"
    result = run("generate", *FAST, "--bench", str(bench), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.count("failed: sample") == 2
    assert "2 predictions (2 made, 0 resumed), 2 failed" in result.output
    # The failures are still written: a rerun with --retry-failed knows what to make again.
    assert [json.loads(line)["error"].split(":")[0] for line in out.read_text().splitlines()] == [
        "sample '0'", "sample '1'"]


# -- eval ----------------------------------------------------------------------------------------


def test_eval_where_every_sample_fails_writes_the_run_and_exits_1(tmp_path):
    bench = write_jsonl(tmp_path / "j", [vrc_row(0, question=HUGE_QUESTION)])
    run_dir = tmp_path / "run"
    result = run("eval", *FAST, "--bench", str(bench), "--metric", "answer", "--workers", "1",
                 "--run-dir", str(run_dir), "--store", str(tmp_path / "store.db"))
    assert result.exit_code == 1
    assert "every sample failed; see results.json for the reasons" in result.output
    # Nothing was scored: no "over scored samples only" row, in the console or in report.md.
    assert "over scored samples only" not in result.output
    results = json.loads((run_dir / "results.json").read_text())
    assert (results["n_total"], results["n_failed"], results["failed_by_stage"]) == (1, 1, {"generation": 1})
    assert results["final_answer_accuracy"]["scored_mean"] is None
    report = (run_dir / "report.md").read_text()
    assert "| Final answer % | 0.00 " in report and "scored samples only" not in report


# -- report --------------------------------------------------------------------------------------


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    """A run directory holding a real results.json (the golden copy) and no samples.jsonl."""
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(GOLDEN, folder / "results.json")
    return folder


def test_report_out_of_another_kind_is_refused_in_one_line_before_reading_the_runs(run_dir, tmp_path):
    out = tmp_path / "board.pdf"
    result = run("report", str(tmp_path / "no-such-run"), "--out", str(out))
    assert result.exit_code == 2
    assert one_line(result) == f"error: --out {out}: give a .html or .md file"
    assert not out.exists()


def test_report_names_each_skipped_entry_and_shows_the_runs_without_writing_a_file(run_dir, tmp_path):
    store = tmp_path / "llamav.db"
    store.write_bytes(b"SQLite format 3\x00")
    result = run("report", str(run_dir), str(store))
    assert result.exit_code == 0, result.output
    assert f"skipped {store}: not a run directory (no results.json)" in result.stderr
    assert "wrote" not in result.output and sorted(p.name for p in tmp_path.iterdir()) == ["llamav.db", "run"]
    assert "vrc-synth?size=16: 16 samples (sample set c507dfb5)" in result.stdout
    assert "│ 1 │ tiny-random │ run " in result.stdout


def test_eval_whose_report_cannot_be_written_keeps_the_results_and_warns_naming_the_file(tmp_path):
    bench = write_jsonl(tmp_path / "j", [vrc_row(0)])
    run_dir = tmp_path / "run"
    (run_dir / "report.md").mkdir(parents=True)  # a folder where report.md goes: it cannot be replaced
    result = run("eval", *FAST, "--bench", str(bench), "--metric", "answer", "--workers", "1",
                 "--run-dir", str(run_dir), "--store", str(tmp_path / "store.db"), "--overwrite")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning: "))
    assert warning.startswith(f"warning: {run_dir / 'report.md'}: not written (IsADirectoryError")
    assert f"wrote {run_dir}/results.json, samples.jsonl (see the warnings above)" in result.stdout
    assert json.loads((run_dir / "results.json").read_text())["n_total"] == 1
    assert (run_dir / "report.html").is_file()  # the other report is still written
