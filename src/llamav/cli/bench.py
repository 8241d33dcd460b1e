"""`llamav bench info | export | show`: look at a benchmark before evaluating on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llamav.bench import SampleError, SourceError, load_source
from llamav.bench.stats import describe

bench_app = typer.Typer(help="Inspect, export and view benchmarks (any SOURCE).", no_args_is_help=True)
console = Console()

SourceArg = Annotated[
    str,
    typer.Argument(
        help="vrc-synth[:SPLIT][?size=N&seed=S] | hf:OWNER/NAME[:SPLIT] | a .parquet/.jsonl file or folder",
        show_default=False,
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on the first bad sample instead of skipping it.")]
CategoryMapOpt = Annotated[
    Path | None, typer.Option("--category-map", help="JSON {id: category} or CSV idx,category.", exists=True)
]


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


def _load(source: str, strict: bool, category_map: Path | None, limit: int | None = None):
    """Load or exit 2 with the reason: a bad source is the user's input error, not a crash."""
    try:
        return load_source(source, strict=strict, category_map=category_map, limit=limit)
    except (SourceError, SampleError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


@bench_app.command("info")
def info(
    source: SourceArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    strict: StrictOpt = False,
    category_map: CategoryMapOpt = None,
) -> None:
    """Totals, per-category and per-split counts, answer types, chain lengths, skipped samples."""
    stats = describe(_load(source, strict, category_map))
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    console.print(f"[bold]{stats['source']}[/bold]: {stats['total']} samples, "
                  f"{stats['steps_total']} reference steps (mean {stats['mean_steps']:.2f}, "
                  f"min {stats['min_steps']}, max {stats['max_steps']}); "
                  f"{stats['multiple_choice']} multiple choice", highlight=False)
    for title, key in (("category", "categories"), ("split", "splits"), ("answer type", "answer_types")):
        table = Table(title=None, show_edge=False)
        table.add_column(title)
        table.add_column("samples", justify="right")
        for name, count in stats[key].items():
            table.add_row(name, str(count))
        console.print(table)
    style = "red" if stats["skipped"] else "green"
    console.print(f"[{style}]skipped: {stats['skipped']}[/{style}]", highlight=False)
    for skip in stats["skipped_samples"]:
        who = skip["sample_id"] if skip["sample_id"] is not None else f"row {skip['row']}"
        console.print(f"  {who}: {skip['reason']}", highlight=False)


@bench_app.command("export")
def export(
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N samples only.")] = None,
    strict: StrictOpt = False,
    category_map: CategoryMapOpt = None,
) -> None:
    """Write VRC-Bench's schema (images embedded) to a parquet file."""
    from llamav.bench.export import export_parquet

    benchmark = _load(source, strict, category_map, limit)
    written = export_parquet(benchmark.samples, out)
    console.print(f"wrote {written} samples to {out} (skipped {len(benchmark.skipped)})", highlight=False)


@bench_app.command("show")
def show(
    source: SourceArg,
    sample_id: Annotated[str, typer.Option("--id", help="The sample's id.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the image.")] = Path("."),
    strict: StrictOpt = False,
) -> None:
    """Write one sample's image and print its question, reference chain and answer."""
    benchmark = _load(source, strict, None)
    try:
        sample = benchmark.get(sample_id)
    except KeyError as exc:
        console.print(f"[red]error:[/red] {exc.args[0]}", highlight=False)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    image = sample.pil_image()
    path = out / f"{_safe(sample.id)}.png"
    image.save(path)
    console.print(f"[bold]{sample.id}[/bold]  category: {sample.category}  answer type: {sample.answer_type}",
                  highlight=False)
    console.print(f"image: {path} ({image.width}x{image.height})", highlight=False)
    console.print("\n[bold]Question[/bold]")
    console.print(sample.question, highlight=False, markup=False)
    console.print("\n[bold]Reference chain[/bold]")
    for step in sample.steps:
        console.print(f"  {step}", highlight=False, markup=False)
    console.print(f"\n[bold]Final answer[/bold]: {escape(sample.final_answer)}", highlight=False)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
