"""`llamav report RUN_DIR... [--out FILE.html|FILE.md]`: runs side by side, with the paper's
VRC-Bench figures as rows marked "as reported". Runs on different benchmarks or sample sets are
shown in separate tables, never ranked together."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXIT_BAD_INPUT = 2


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    run_dirs: list[Path] = typer.Argument(
        ..., metavar="RUN_DIR...", help="Run directories of `llamav eval` (or their results.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the leaderboard here (.html or .md)."),
) -> None:
    """A leaderboard of several runs, with the paper's published figures as reported."""
    from rich.console import Console
    from rich.table import Table

    from llamav.evaluate import AS_REPORTED, COLUMNS, LeaderboardError, leaderboard, render_html, render_markdown
    from llamav.evaluate._leaderboard import _cells, _title

    err = Console(stderr=True, soft_wrap=True)
    if out is not None and out.suffix.lower() not in (".html", ".htm", ".md"):
        err.print(f"[red]error:[/red] --out {out}: give a .html or .md file", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        groups = leaderboard(run_dirs)
    except LeaderboardError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console = Console()
    if sum(1 for g in groups if g.sample_set) > 1:
        console.print("These runs were measured on different benchmarks or sample sets: one table each, "
                      "never ranked together.", highlight=False)
    for group in groups:
        table = Table(title=_title(group))
        for column in COLUMNS:
            table.add_column(column)
        for rank, row in enumerate(group.rows, start=1):
            style = "dim italic" if row.source == AS_REPORTED else None
            table.add_row(*_cells(rank, row), style=style)
        console.print(table)
    if out is not None:
        from llamav.evaluate import write_lines_atomically

        text = render_markdown(groups) if out.suffix.lower() == ".md" else render_html(groups)
        write_lines_atomically(out, [text])
        console.print(f"wrote {out}", highlight=False)
