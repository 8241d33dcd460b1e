"""Two identical runs write the same bytes (issue 21, item 12): results.json and samples.jsonl differ
only in what measures time. ROSCOE-SA's floats used to differ by up to ~1.7e-8 from one process to
the next; rounding what is written cannot remove that (a value near a rounding boundary still
flips), so the embedding itself is deterministic (docs/evaluate.md, "The outputs")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


# 16 samples, two a category, so that every sample has a floor: ROSCOE-SA embeds both passes.
ARGS = ["--model", "tiny-random", "--bench", "vrc-synth?size=16", "--beams", "2", "--max-new-tokens", "6",
        "--workers", "1", "--metric", "answer,roscoe"]
TIMING = re.compile(r'("(?:wall_)?seconds"): -?[0-9][0-9.e+-]*')


def run_in_a_fresh_process(tmp_path: Path, name: str, hash_seed: str) -> Path:
    """One `llamav eval` in its own interpreter. Each gets another PYTHONHASHSEED, as two runs
    started by hand would: iteration over a set of strings then goes in another order."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", "from llamav.cli import main; main()", "eval", *ARGS,
         "--run-dir", str(tmp_path / name), "--store", str(tmp_path / f"{name}.db")],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / name


def without_timings(path: Path) -> bytes:
    return TIMING.sub(r"\1: 0", path.read_text(encoding="utf-8")).encode("utf-8")


def test_two_identical_runs_write_byte_identical_results_apart_from_timings(tmp_path):
    first = run_in_a_fresh_process(tmp_path, "first", "1")
    second = run_in_a_fresh_process(tmp_path, "second", "2")
    assert b'"roscoe"' in without_timings(first / "results.json")
    assert without_timings(first / "results.json") == without_timings(second / "results.json")
    assert without_timings(first / "samples.jsonl") == without_timings(second / "samples.jsonl")
