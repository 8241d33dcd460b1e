"""`llamav eval`, `generate` and `score` on their recovery paths, with the real tiny-random model
and real stores: a stored failure and --retry-failed, how results.json records a failed
prediction, a model that cannot load, and Ctrl-C in a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from llamav.bench import load_source
from eval_support import store_rows
from llamav.cli import app
from llamav.evaluate import GenerationKey, RunConfig, Store
from llamav.evaluate.keys import prediction_hash, scorer_hash
from llamav.records import Prediction, Score

BENCH = "vrc-synth?size=4"
FLAGS = dict(model="tiny-random", bench=BENCH, beams=2, max_new_tokens=6, batch_size=1, metrics=["answer"], workers=1)
ARGS = ["--model", "tiny-random", "--bench", BENCH, "--beams", "2", "--max-new-tokens", "6", "--batch-size", "1",
        "--metric", "answer", "--workers", "1"]
REASON = "injected: CUDA out of memory"


def eval_cli(tmp_path: Path, *extra: str):
    return CliRunner().invoke(app, ["eval", *ARGS, *extra, "--run-dir", str(tmp_path / "run"),
                                    "--store", str(tmp_path / "store.db"), "--overwrite"])


def results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "results.json").read_text())


def store_failed_prediction(store_path: Path) -> str:
    """A failed prediction of the first sample, stored under the key `llamav eval ARGS` uses."""
    sample = load_source(BENCH).samples[0]
    config = RunConfig.resolve(flags=FLAGS)
    failure = Prediction(sample_id=sample.id, model="tiny-random", protocol=config.protocol,
                         strategy=config.strategy, seed=config.seed, error=REASON)
    with Store(store_path) as store:
        store.add_predictions(GenerationKey.of(config), [(sample, failure)])
    return sample.id


def test_a_failed_prediction_is_in_results_json_by_stage_with_its_reason_and_counts_wrong(tmp_path):
    failed_id = store_failed_prediction(tmp_path / "store.db")
    result = eval_cli(tmp_path)
    assert result.exit_code == 0, result.output
    found = results(tmp_path)
    assert (found["n_total"], found["n_scored"], found["n_failed"]) == (4, 3, 1)
    assert found["failed_by_stage"] == {"generation": 1}
    assert found["failures"] == [{"sample_id": failed_id, "stage": "generation", "reason": REASON}]
    answer = found["final_answer_accuracy"]
    assert (answer["n"], answer["scored"], answer["failed"]) == (4, 3, 1)
    assert answer["mean"] == answer["correct"] / 4  # the failure is a wrong answer of the four
    lines = {json.loads(line)["sample_id"]: json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").open()}
    assert lines[failed_id]["failures"] == [{"sample_id": failed_id, "stage": "generation", "reason": REASON}]
    assert store_rows(tmp_path / "store.db", "predictions") == 4  # the failure was kept, not made again


def test_eval_with_retry_failed_makes_the_stored_failure_again(tmp_path):
    store_failed_prediction(tmp_path / "store.db")
    result = eval_cli(tmp_path, "--retry-failed")
    assert result.exit_code == 0, result.output
    found = results(tmp_path)
    assert (found["n_failed"], found["failed_by_stage"], found["failures"]) == (0, {}, [])
    assert found["final_answer_accuracy"]["scored"] == 4
    assert store_rows(tmp_path / "store.db", "predictions") == 5  # the failure stays on record beside its retry


def generate_cli(tmp_path: Path, *extra: str):
    return CliRunner().invoke(app, ["generate", "--model", "tiny-random", "--bench", BENCH, "--beams", "2",
                                    "--max-new-tokens", "6", "--batch-size", "1", "--store", str(tmp_path / "store.db"),
                                    "--out", str(tmp_path / "preds.jsonl"), "--overwrite", *extra])


def written(tmp_path: Path) -> dict[str, Prediction]:
    lines = (tmp_path / "preds.jsonl").read_text().splitlines()
    return {p.sample_id: p for p in map(Prediction.model_validate_json, lines)}


def test_generate_keeps_a_stored_failure_without_retry_failed_and_makes_it_again_with_it(tmp_path):
    sample = load_source(BENCH).samples[0]
    config = RunConfig.resolve(flags={**FLAGS, "metrics": None, "workers": None, "self_judge_max_new_tokens": 128})
    failure = Prediction(sample_id=sample.id, model="tiny-random", protocol=config.protocol,
                         strategy=config.strategy, seed=config.seed, error=REASON)
    with Store(tmp_path / "store.db") as store:
        store.add_predictions(GenerationKey.of(config), [(sample, failure)])
    kept = generate_cli(tmp_path)
    assert kept.exit_code == 0, kept.output
    assert written(tmp_path)[sample.id].error == REASON
    retried = generate_cli(tmp_path, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert written(tmp_path)[sample.id].error is None and written(tmp_path)[sample.id].stages
    assert store_rows(tmp_path / "store.db", "predictions") == 5


def test_score_keeps_a_stored_failed_score_without_retry_failed_and_computes_it_with_it(tmp_path):
    samples = load_source(BENCH).samples
    predictions = [Prediction(sample_id=s.id, model="m", protocol="p", strategy="s", steps=s.steps,
                              final_answer=s.final_answer) for s in samples]
    (tmp_path / "preds.jsonl").write_text("".join(p.model_dump_json() + "\n" for p in predictions))
    failed = Score(sample_id=samples[0].id, metric="answer", scale="binary", error="judge timed out")
    with Store(tmp_path / "store.db") as store:
        store.add_scores(scorer_hash("answer", RunConfig(metrics=["answer"])),
                         [(samples[0], prediction_hash(predictions[0]), failed)])

    def score(*extra: str) -> list[dict]:
        run = CliRunner().invoke(app, ["score", str(tmp_path / "preds.jsonl"), "--bench", BENCH, "--metric", "answer",
                                       "--store", str(tmp_path / "store.db"), "--out", str(tmp_path / "scores.jsonl"),
                                       "--overwrite", *extra])
        assert run.exit_code == 0, run.output
        return [json.loads(line)["scores"]["answer"] for line in (tmp_path / "scores.jsonl").open()]

    kept = score()
    assert kept[0]["error"] == "judge timed out" and [s["value"] for s in kept[1:]] == [1.0, 1.0, 1.0]
    retried = score("--retry-failed")
    assert [s["value"] for s in retried] == [1.0, 1.0, 1.0, 1.0]


def test_a_model_that_cannot_be_loaded_is_one_line_and_exit_2(tmp_path):
    empty = tmp_path / "checkpoint"
    empty.mkdir()
    result = CliRunner().invoke(app, ["eval", "--model", f"hf:{empty}", "--bench", BENCH, "--metric", "answer",
                                      "--run-dir", str(tmp_path / "run"), "--store", str(tmp_path / "store.db")])
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error")]
    assert line.startswith(f"error: --model hf:{empty}: cannot load hf:{empty}")
    assert "Traceback" not in result.output and not (tmp_path / "run" / "results.json").exists()


def test_ctrl_c_in_a_real_eval_exits_130_saying_the_same_command_resumes_and_it_does(tmp_path):
    # 24 samples, one a batch, 48 tokens a turn: slow enough on a fast machine that Ctrl-C lands while
    # it reasons (with 8 samples of 6 tokens, CI's machine finished before the signal arrived).
    slower = [a if a != "6" else "48" for a in ARGS]  # --max-new-tokens 6 -> 48
    command = [sys.executable, "-c", "from llamav.cli import main; main()", "eval", *slower,
               "--bench", "vrc-synth?size=24", "--run-dir", str(tmp_path / "run"), "--store", str(tmp_path / "store.db")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # A shell that starts a job in the background ignores SIGINT for it, and Python then installs no
    # KeyboardInterrupt handler: give the child SIGINT's default back, as a terminal would have it.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    store = tmp_path / "store.db"
    while process.poll() is None and (not store.exists() or store_rows(store, "predictions") < 1):
        assert time.monotonic() < deadline, "no prediction after 240 s"
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted: every finished sample is in the store; the same command resumes" in stderr
    assert "Traceback" not in stderr
    kept = store_rows(tmp_path / "store.db", "predictions")
    assert 1 <= kept < 24
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert store_rows(tmp_path / "store.db", "predictions") == 24  # what was committed before Ctrl-C was not made again


def test_eval_keeps_a_stored_failed_score_as_a_scoring_failure_and_retry_failed_scores_it_again(tmp_path):
    samples = load_source(BENCH).samples
    config = RunConfig.resolve(flags=FLAGS)
    store_path = tmp_path / "store.db"
    assert eval_cli(tmp_path, "--metric", "roscoe").exit_code == 0  # predictions made, no answer score yet
    with Store(store_path) as store:
        made = store.predictions(GenerationKey.of(config), samples)[samples[0].id]
        failed = Score(sample_id=samples[0].id, metric="answer", scale="binary", error="judge timed out")
        store.add_scores(scorer_hash("answer", config), [(samples[0], prediction_hash(made), failed)])
    kept = eval_cli(tmp_path)
    assert kept.exit_code == 0, kept.output
    found = results(tmp_path)
    assert found["failed_by_stage"] == {"scoring:answer": 1}
    assert found["failures"] == [{"sample_id": samples[0].id, "stage": "scoring:answer", "reason": "judge timed out"}]
    assert (found["final_answer_accuracy"]["n"], found["final_answer_accuracy"]["failed"]) == (4, 1)
    retried = eval_cli(tmp_path, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert (results(tmp_path)["failures"], results(tmp_path)["final_answer_accuracy"]["failed"]) == ([], 0)
