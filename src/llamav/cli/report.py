"""`llamav report RUN_DIR... [--out FILE.html|FILE.md]`: runs side by side, with the paper's
VRC-Bench figures as rows marked "as reported", the majority baselines, and a paired test of each
run against the best one. Runs on different benchmarks or sample sets are shown in separate tables,
never ranked together; entries that are not runs (runs/llamav.db) are skipped with a note."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from llamav.cli.common import fail, say
from llamav.evaluate import LeaderboardError, leaderboard, write_atomically
from llamav.evaluate.report.console import leaderboard_tables
from llamav.evaluate.report.leaderboard import render_html, render_markdown


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    run_dirs: list[Path] = typer.Argument(
        ..., metavar="RUN_DIR...", help="Run directories of `llamav eval` (or their results.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the leaderboard here (.html or .md)."),
) -> None:
    """A leaderboard of several runs, with the paper's published figures as reported."""
    err = Console(stderr=True, soft_wrap=True)
    if out is not None and out.suffix.lower() not in (".html", ".htm", ".md"):
        raise fail(err, f"--out {out}: give a .html or .md file")
    notes: list[str] = []
    try:
        groups = leaderboard(run_dirs, notes)
    except LeaderboardError as exc:
        raise fail(err, str(exc)) from None
    for note in notes:
        say(err, note)
    console = Console()
    leaderboard_tables(groups, console)
    if out is not None:
        text = render_markdown(groups) if out.suffix.lower() == ".md" else render_html(groups)
        write_atomically(out, [text])
        say(console, f"wrote {out}")
