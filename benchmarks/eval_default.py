"""Wall time of the embedded default `llamav eval` (no arguments), from a fresh store, model
loading included, and of the same command again (everything read back from the store).

    python benchmarks/eval_default.py [--rounds 1] [-- EXTRA EVAL ARGS]

Each round runs `llamav eval` as a user would, in a fresh temporary folder (new store, new run
directory), then runs it a second time there. Prints one table row per run: wall time, the CPU
time of the command (user + system, what an idle machine's wall time approaches, since the tiny
models run on one thread) and the machine's load average when it started: on a shared box the
wall time moves with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(folder: Path, extra: list[str]) -> tuple[float, float, dict]:
    command = [sys.executable, "-c", "from llamav.cli import main; main()", "eval", "--run-dir", "run",
               "--store", "store.db", *extra]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"llamav eval failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, cpu, json.loads((folder / "run" / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="extra `llamav eval` arguments (after --)")
    args = parser.parse_args()
    rows = []
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="llamav-eval-bench-") as tmp:
            for label in ("fresh store", "same command again"):
                load = os.getloadavg()[0]
                seconds, cpu, results = run(Path(tmp), args.extra)
                now = results["cost"]["this_invocation"]
                rows.append((round_, label, results["model"], results["n_total"], now["model_calls"],
                             now["scores_computed"], seconds, cpu, load))
    print("| round | run | model | samples | model calls | scores computed | wall s | CPU s | load avg (1 min) at start |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| {} | {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f} |".format(*row))


if __name__ == "__main__":
    main()
