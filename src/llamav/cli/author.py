"""`llamav author init | draft | categorize | review | export`: make a benchmark of your own, with
reasoning chains a model drafts and people review (the library: `llamav.author`)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llamav.author import (
    Project,
    ProjectError,
    categorize_project,
    draft_project,
    export_project,
    init_project,
    read_categories,
)
from llamav.bench import SampleError, SourceError
from llamav.cli.common import LOAD_ERRORS, fail, say
from llamav.models.pricing import PriceTable

author_app = typer.Typer(help="Author a benchmark: draft chains with a model, review them in the browser, export.",
                         no_args_is_help=True)
console = Console()

ProjectArg = Annotated[Path, typer.Argument(help="The project folder (made by `llamav author init`).", show_default=False)]
ModelOpt = Annotated[str, typer.Option("--model", help="MODEL: openai:NAME | hf:ID_OR_PATH | llamav-tiny | tiny-random")]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-new-tokens", min=1, help="Cap on each reply's tokens.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Samples per padded call, for a model that batches.")]


def register(app: typer.Typer) -> None:
    app.add_typer(author_app, name="author")


def _open(folder: Path) -> Project:
    try:
        return Project(folder)
    except ProjectError as exc:
        raise fail(console, str(exc)) from None


def _spend_line(spend: dict[str, float], dollars: float | None = None) -> str:
    line = (f"cost: {int(spend.get('model_calls', 0))} calls, {int(spend.get('prompt_tokens', 0))} prompt tokens, "
            f"{int(spend.get('generated_tokens', 0))} generated tokens, {spend.get('seconds', 0.0):.1f} s")
    return line + (f", ${dollars:.4f}" if dollars is not None else "")


@author_app.command("init")
def init(
    source: Annotated[str, typer.Argument(help="Any SOURCE: vrc-synth[:SPLIT], hf:OWNER/NAME[:SPLIT], a .parquet/.jsonl file or folder.",
                                          show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="The project folder to make.")],
    categories: Annotated[Path | None, typer.Option("--categories", exists=True,
                                                    help="The project's categories: a JSON list or one name a line (default: VRC-Bench's eight).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N samples only.")] = None,
    allow_outside_paths: Annotated[bool, typer.Option("--allow-outside-paths", help="Read image paths outside the source's folder.")] = False,
) -> None:
    """Make a project folder from any SOURCE, with or without reference steps."""
    try:
        names = read_categories(categories) if categories is not None else None
        created = init_project(source, out, categories=names, limit=limit, allow_outside_paths=allow_outside_paths)
    except (ProjectError, SourceError, SampleError, OSError) as exc:
        raise fail(console, str(exc)) from None
    say(console, f"{created.folder}: {created.samples} samples ({created.skipped} rows skipped), "
                 f"{len(created.categories)} categories")


@author_app.command("draft")
def draft(
    project: ProjectArg,
    model: ModelOpt,
    redraft: Annotated[int, typer.Option("--redraft", min=0, help="Redraft a flagged chain up to K times, with other seeds.")] = 0,
    max_new_tokens: MaxTokensOpt = None,
    batch_size: BatchOpt = 8,
    prices: Annotated[Path | None, typer.Option("--prices", exists=True, help="Price table (YAML) for the cost in dollars.")] = None,
) -> None:
    """Draft a numbered chain for every sample not drafted yet; flag those whose conclusion is not the answer."""
    with _open(project) as opened:
        try:
            table = PriceTable.load(prices) if prices is not None else None
            run = draft_project(opened, model, redraft=redraft, batch_size=batch_size, prices=table,
                                progress=lambda line: say(console, line),
                                **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}))
        except (*LOAD_ERRORS, ProjectError, KeyError, ValueError) as exc:
            raise fail(console, str(exc)) from None
        flagged = sum(d.flagged for d in opened.current_drafts().values())
        total = len(opened.sample_ids())
    say(console, f"drafted {run.drafted} chains ({run.failed} failed); {flagged} of {total} samples flagged now")
    say(console, _spend_line(run.spend, run.dollars))


@author_app.command("categorize")
def categorize(project: ProjectArg, model: ModelOpt, max_new_tokens: MaxTokensOpt = None, batch_size: BatchOpt = 8) -> None:
    """Propose one of the project's categories per sample, with a reason, for review."""
    with _open(project) as opened:
        try:
            run = categorize_project(opened, model, batch_size=batch_size, progress=lambda line: say(console, line),
                                     **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}))
        except (*LOAD_ERRORS, ProjectError, KeyError, ValueError) as exc:
            raise fail(console, str(exc)) from None
    say(console, f"labelled {run.labelled} samples ({run.unnamed} replies named no category)")
    say(console, _spend_line(run.spend))


@author_app.command("review")
def review(
    project: ProjectArg,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help="Your name (default: your login).")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 0,
) -> None:
    """Serve the review page on 127.0.0.1; open the printed URL (it holds the access token)."""
    # the web stack (fastapi) loads for this command only, as `llamav serve` does
    from llamav.author.review import serve_review

    name = (reviewer or getpass.getuser()).strip()
    if not name:
        raise fail(console, "--reviewer needs a name")
    with _open(project) as opened:
        try:
            serve_review(opened, name, port=port, on_ready=lambda url: say(console, f"review as {name}: {url}"))
        except OSError as exc:
            raise fail(console, f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None


@author_app.command("export")
def export(
    project: ProjectArg,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write (VRC-Bench's schema).")],
    include_all: Annotated[bool, typer.Option("--all", help="Every sample, not only the accepted ones.")] = False,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help="Export this reviewer's review (default: each sample's latest decision).")] = None,
    category_map: Annotated[Path | None, typer.Option("--category-map", exists=True, help="JSON {id: category} or CSV idx,category.")] = None,
) -> None:
    """Write the reviewed samples, with their provenance in metadata."""
    with _open(project) as opened:
        try:
            count = export_project(opened, out, include_all=include_all, reviewer=reviewer, category_map=category_map)
        except (ProjectError, ValueError, OSError) as exc:
            raise fail(console, str(exc)) from None
    say(console, f"wrote {count} samples to {out}")
