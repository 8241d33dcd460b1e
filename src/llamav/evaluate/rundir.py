"""The run directory: what a run leaves behind, written so that nothing is half-written or lost.

    runs/<model>--<bench>--<hash8>/
        config.yaml     the resolved RunConfig (secrets masked)
        results.json    RunResults (`results`)
        samples.jsonl   every sample: reference, prediction, scores, floor, failures
        report.md       report.html

A directory belongs to one run: it is written only when it is new, empty, or already holds this
run's results (a rerun rewrites them); anything else needs `overwrite`. It is checked before any
model call. Every file is written through a temporary file and renamed into place, results.json
first: a report that cannot be rendered never costs the results.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from llamav.evaluate.config import RunConfig
from llamav.evaluate.report.html import report_html
from llamav.evaluate.report.markdown import report_markdown
from llamav.evaluate.results import RunResults, build_results, sample_lines
from llamav.evaluate.run import Evaluation

OUTPUTS = ("config.yaml", "results.json", "samples.jsonl", "report.md", "report.html")


class RunDirError(ValueError):
    """The run directory cannot take this run's outputs (another run's, a file, foreign files)."""


def default_run_dir(config: RunConfig) -> Path:
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60]

    return Path("runs") / f"{slug(config.model)}--{slug(config.bench)}--{config.run_hash()[:8]}"


def check_run_dir(run_dir: Path, run_hash: str, overwrite: bool) -> None:
    """Refuse, before any work, a run directory that would lose something: a file in its place,
    another run's results, or files llamav did not write there (unless `overwrite`)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--run-dir {run_dir} is a file, not a folder; give another --run-dir")
    if overwrite or not run_dir.exists() or not any(run_dir.iterdir()):
        return
    theirs = _run_hash_in(run_dir / "results.json")
    if theirs == run_hash:
        return
    if theirs is not None:
        raise RunDirError(f"{run_dir} holds the results of another run ({theirs[:12]}); "
                          "use another --run-dir, or --overwrite to replace them")
    found = sorted(p.name for p in run_dir.iterdir())[:3]
    raise RunDirError(f"{run_dir} holds files that are not this run's ({', '.join(found)}, ...); "
                      "use another --run-dir, or --overwrite to write there anyway")


def _run_hash_in(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    value = data.get("run_hash") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def write_atomically(path: str | Path, lines: Iterable[str]) -> int:
    """Write lines through a temporary file in the same folder and rename it into place: readers
    see the old file or the new one, never a mix. Returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line.rstrip("\n") + "\n")
                count += 1
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def write_run(ev: Evaluation, run_dir: Path, *, overwrite: bool = False, html: bool = True) -> tuple[RunResults, list[str]]:
    """Write the run's outputs; returns its RunResults and the reports that could not be written
    (one line each: the results and samples are written first and kept)."""
    check_run_dir(run_dir, ev.config.run_hash(), overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = build_results(ev)
    lines = sample_lines(ev)
    write_atomically(run_dir / "config.yaml", [yaml.safe_dump(ev.config.public(), sort_keys=False, allow_unicode=True)])
    write_atomically(run_dir / "results.json", [json.dumps(results.to_json(), indent=2, ensure_ascii=False)])
    write_atomically(run_dir / "samples.jsonl", (json.dumps(line, ensure_ascii=False) for line in lines))
    problems = []
    reports = [("report.md", lambda: report_markdown(results))]
    if html:
        reports.append(("report.html", lambda: report_html(results, lines, ev.samples)))
    for name, render in reports:
        try:
            write_atomically(run_dir / name, [render()])
        except Exception as exc:  # noqa: BLE001  (a report is a view: its failure must not cost the results)
            problems.append(f"{run_dir / name}: not written ({type(exc).__name__}: {exc})")
    return results, problems
