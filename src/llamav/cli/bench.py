"""`llamav bench info | export | show`: look at a benchmark before evaluating on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llamav.bench import SampleError, SourceError, load_source
from llamav.bench.export import export_parquet
from llamav.bench.stats import describe
from llamav.images import ImageLimits
from llamav.terminal import visible

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
OutsideOpt = Annotated[
    bool,
    typer.Option("--allow-outside-paths", help="Read image paths that lie outside the benchmark's folder."),
]
MaxPixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-image-pixels", min=0,
        help="Skip images with more pixels than this (default 178956970, Pillow's own limit; 0: no limit). "
        "Also LLAMAV_MAX_IMAGE_PIXELS.",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


def _load(
    source: str,
    strict: bool,
    category_map: Path | None,
    limit: int | None = None,
    allow_outside_paths: bool = False,
    max_image_pixels: int | None = None,
):
    """Load or exit 2 with the reason: a bad source is the user's input error, not a crash."""
    try:
        limits = ImageLimits.from_env(max_pixels=max_image_pixels)
        return load_source(
            source, strict=strict, category_map=category_map, limit=limit,
            allow_outside_paths=allow_outside_paths, image_limits=limits,
        )
    except (SourceError, SampleError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {_shown(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


# Every text below that comes from a benchmark (its name, categories, ids, paths, skip reasons,
# questions) is data: its control characters are shown, not obeyed, and it is never rich markup.


def _shown(text: object) -> str:
    """Benchmark text, to be placed inside a markup string."""
    return escape(visible(str(text)))


def _plain(text: object, *, keep_newlines: bool = False) -> Text:
    """Benchmark text as a rich Text: a table cell, or a line printed on its own."""
    return Text(visible(str(text), keep_newlines=keep_newlines))


def _who(sample_id: str | None, row: int) -> str:
    """A skipped row, by its id when it has one."""
    return sample_id if sample_id is not None else f"row {row}"


@bench_app.command("info")
def info(
    source: SourceArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    strict: StrictOpt = False,
    category_map: CategoryMapOpt = None,
    allow_outside_paths: OutsideOpt = False,
    max_image_pixels: MaxPixelsOpt = None,
) -> None:
    """Totals, per-category and per-split counts, answer types, chain lengths, skipped samples.

    Exits 1 when no row of the benchmark is usable (after listing why)."""
    stats = describe(_load(source, strict, category_map, None, allow_outside_paths, max_image_pixels))
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        if not stats["total"]:
            raise typer.Exit(1)
        return
    console.print(f"[bold]{_shown(stats['source'])}[/bold]: {stats['total']} samples, "
                  f"{stats['steps_total']} reference steps (mean {stats['mean_steps']:.2f}, "
                  f"min {stats['min_steps']}, max {stats['max_steps']}); "
                  f"{stats['multiple_choice']} multiple choice", highlight=False)
    if stats["without_chain"]:
        console.print(f"{stats['without_chain']} samples have no reference chain (final answer only): "
                      "step metrics mark them \"no reference chain\"", highlight=False)
    if stats["authored"]:
        share = 100 * stats["chains_changed_in_review"] / stats["authored"]
        console.print(f"authored with llamav author: {stats['authored']} samples; review changed "
                      f"{stats['chains_changed_in_review']} drafted chains ({share:.1f}%)", highlight=False)
    if stats["flags"]:
        console.print("image repairs: " + ", ".join(f"{_shown(k)} {v}" for k, v in stats["flags"].items()),
                      highlight=False)
    for title, key in (("category", "categories"), ("split", "splits"), ("answer type", "answer_types")):
        table = Table(title=None, show_edge=False)
        table.add_column(title)
        table.add_column("samples", justify="right")
        for name, count in stats[key].items():
            table.add_row(_plain(name), str(count))
        console.print(table)
    style = "red" if stats["skipped"] else "green"
    console.print(f"[{style}]skipped: {stats['skipped']}[/{style}]", highlight=False)
    for skip in stats["skipped_samples"]:
        console.print(f"  {_shown(_who(skip['sample_id'], skip['row']))}: {_shown(skip['reason'])}", highlight=False)
    if not stats["total"]:
        why = "every row was skipped" if stats["skipped"] else "it holds no rows"
        raise _fail(f"{source}: no usable samples ({why})", 1)


@bench_app.command("export")
def export(
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N samples only.")] = None,
    strict: StrictOpt = False,
    category_map: CategoryMapOpt = None,
    allow_outside_paths: OutsideOpt = False,
    max_image_pixels: MaxPixelsOpt = None,
) -> None:
    """Write VRC-Bench's schema (images embedded) to a parquet file."""
    benchmark = _load(source, strict, category_map, limit, allow_outside_paths, max_image_pixels)
    for skip in benchmark.skipped:
        console.print(f"skipped {_shown(_who(skip.sample_id, skip.row))}: {_shown(skip.reason)}", highlight=False)
    if not benchmark.samples:
        raise _fail(f"nothing to export: {source} has no usable samples ({len(benchmark.skipped)} rows skipped); "
                    f"{out} was not written", 1)
    written = export_parquet(benchmark.samples, out)
    console.print(f"wrote {written} samples to {_shown(out)} (skipped {len(benchmark.skipped)})", highlight=False)


@bench_app.command("show")
def show(
    source: SourceArg,
    sample_id: Annotated[str, typer.Option("--id", help="The sample's id.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the image.")] = Path("."),
    strict: StrictOpt = False,
    allow_outside_paths: OutsideOpt = False,
    max_image_pixels: MaxPixelsOpt = None,
) -> None:
    """Write one sample's image (as the model sees it) and print its question, reference chain and answer."""
    benchmark = _load(source, strict, None, None, allow_outside_paths, max_image_pixels)
    try:
        sample = benchmark.get(sample_id)
    except KeyError as exc:
        raise _fail(exc.args[0]) from None
    out.mkdir(parents=True, exist_ok=True)
    image = sample.pil_image()
    path = out / f"{_safe(sample.id)}.png"
    image.save(path)
    console.print(f"[bold]{_shown(sample.id)}[/bold]  category: {_shown(sample.category)}  "
                  f"answer type: {_shown(sample.answer_type)}", highlight=False)
    console.print(f"image: {_shown(path)} ({image.width}x{image.height})", highlight=False)
    console.print("\n[bold]Question[/bold]")
    console.print(_plain(sample.question, keep_newlines=True), highlight=False)
    if sample.flags:
        console.print(f"flags: {_shown(', '.join(sample.flags))}", highlight=False)
    console.print("\n[bold]Reference chain[/bold]")
    if not sample.has_chain:
        console.print("  (none: this benchmark gives the final answer only)", highlight=False)
    for step in sample.steps:
        console.print(Text("  ") + _plain(step, keep_newlines=True), highlight=False)
    console.print(f"\n[bold]Final answer[/bold]: {_shown(sample.final_answer)}", highlight=False)


def _safe(name: str) -> str:
    """A file name made of the id: letters, digits and `-_.` only, short enough for any disk."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100]
    return safe if safe.strip(".") else "sample"
