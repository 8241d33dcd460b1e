"""The store is a work queue: two `llamav eval` processes on one store make each prediction once
(issue 21, item 12). Real processes, a real SQLite store, the real tiny-random model."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from llamav.cli import app
from llamav.evaluate import GenerationKey, Store
from llamav.evaluate.store import CLAIM_STALE_SECONDS
from llamav.records import Sample
from eval_support import store_rows, timeless, timeless_samples

# One sample a batch, so that every prediction is its own commit; answer only, so that the results
# hold nothing that depends on the process.
ARGS = ["--model", "tiny-random", "--bench", "vrc-synth?size=8", "--beams", "2", "--max-new-tokens", "6",
        "--batch-size", "1", "--workers", "1", "--metric", "answer"]
N = 8


def command(tmp_path: Path, run_dir: str) -> list[str]:
    return [sys.executable, "-c", "from llamav.cli import main; main()", "eval", *ARGS,
            "--run-dir", str(tmp_path / run_dir), "--store", str(tmp_path / "shared.db")]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def start(tmp_path: Path, run_dir: str) -> subprocess.Popen:
    log = (tmp_path / f"{run_dir}.log").open("w")
    return subprocess.Popen(command(tmp_path, run_dir), env=ENV, stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, tmp_path: Path, run_dir: str) -> None:
    assert process.wait(timeout=300) == 0, (tmp_path / f"{run_dir}.log").read_text()[-3000:]


def wait_for(condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)


def results(tmp_path: Path, run_dir: str) -> dict:
    return json.loads((tmp_path / run_dir / "results.json").read_text())


def made(tmp_path: Path, run_dir: str) -> int:
    return results(tmp_path, run_dir)["cost"]["this_invocation"]["predictions_made"]


def single_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", *ARGS, "--run-dir", str(tmp_path / "single"),
                                      "--store", str(tmp_path / "single.db")])
    assert result.exit_code == 0, result.output


def test_two_runs_started_together_make_each_prediction_once_and_equal_one_process(tmp_path):
    first, second = start(tmp_path, "a"), start(tmp_path, "b")
    finish(first, tmp_path, "a")
    finish(second, tmp_path, "b")
    assert made(tmp_path, "a") + made(tmp_path, "b") == N
    assert store_rows(tmp_path / "shared.db", "predictions") == N  # every key stored once
    assert store_rows(tmp_path / "shared.db", "claims") == 0  # no work left in progress
    single_run(tmp_path)
    for run_dir in ("a", "b"):
        assert timeless(results(tmp_path, run_dir)) == timeless(results(tmp_path, "single"))
        assert timeless_samples(tmp_path / run_dir / "samples.jsonl") == timeless_samples(
            tmp_path / "single" / "samples.jsonl")


def test_a_run_waits_for_the_predictions_a_live_process_is_making_and_reads_them(tmp_path):
    store = tmp_path / "shared.db"
    first = start(tmp_path, "a")
    try:
        wait_for(lambda: store_rows(store, "predictions") >= 2, "the first run's second prediction")
        first.send_signal(signal.SIGSTOP)  # alive, holding its claims, making nothing
        stopped_at = store_rows(store, "predictions")
        second = start(tmp_path, "b")
        # The second run has read its config; give it time to find the store and (wrongly) start
        # making what is missing: with the first run stopped, it may only wait.
        wait_for(lambda: "llamav eval:" in (tmp_path / "b.log").read_text(), "the second run to start")
        time.sleep(8)
        assert second.poll() is None  # still waiting
        assert store_rows(store, "predictions") == stopped_at
    finally:
        first.send_signal(signal.SIGCONT)
    finish(first, tmp_path, "a")
    finish(second, tmp_path, "b")
    assert (made(tmp_path, "a"), made(tmp_path, "b")) == (N, 0)
    assert store_rows(store, "predictions") == N
    assert timeless(results(tmp_path, "b")) == timeless(results(tmp_path, "a"))


def test_the_claims_of_a_killed_run_are_taken_over_and_only_the_rest_is_made(tmp_path):
    store = tmp_path / "shared.db"
    first = start(tmp_path, "a")
    wait_for(lambda: store_rows(store, "predictions") >= 2, "the first run's second prediction")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = store_rows(store, "predictions")
    assert 2 <= done < N and store_rows(store, "claims") == N - done  # the dead run's claims are still there
    second = start(tmp_path, "b")
    finish(second, tmp_path, "b")
    assert made(tmp_path, "b") == N - done
    assert store_rows(store, "predictions") == N and store_rows(store, "claims") == 0


KEY = GenerationKey("m@1", "g", "llamav-o1", "beam", 0)
SAMPLES = [Sample(id=f"s{i}", question="How many?", image=b"png" + bytes([i]), final_answer="3") for i in range(3)]


def hold(path: Path, sample: Sample, pid: int, host: str, seen: float) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO claims (key, pid, host, started, seen) VALUES (?, ?, ?, ?, ?)",
                   (KEY.for_sample(sample), pid, host, seen, seen))


def test_a_claim_is_held_while_its_process_lives_and_taken_over_once_it_is_gone(tmp_path):
    path = tmp_path / "s.db"
    holder = subprocess.Popen(["sleep", "60"])
    with Store(path) as store:
        hold(path, SAMPLES[0], holder.pid, socket.gethostname(), time.time())
        hold(path, SAMPLES[1], 1, "another-host", time.time())  # another machine, seen just now
        hold(path, SAMPLES[2], 1, "another-host", time.time() - CLAIM_STALE_SECONDS - 1)  # silent for too long
        attempts = store.attempts(KEY, SAMPLES)
        claimed = store.claim(KEY, SAMPLES, attempts)
        assert ([s.id for s in claimed.mine], [s.id for s in claimed.held]) == (["s2"], ["s0", "s1"])
        holder.kill()
        holder.wait()
        claimed = store.claim(KEY, claimed.held, attempts)
        assert ([s.id for s in claimed.mine], [s.id for s in claimed.held]) == (["s0"], ["s1"])
