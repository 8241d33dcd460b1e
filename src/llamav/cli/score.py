"""`llamav score`, `llamav judge-agreement`, `llamav metric-check`: scores, and checks on the scores.

`llamav score` runs `llamav.evaluate.score_file` and prints its tables (`report.console`).
Offline ROSCOE-SA ([0, 1]) and the LLM judge (1-10) are always shown in separate, labelled
columns; every table counts the samples that failed beside the figures computed without them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from llamav.bench import SourceError, load_source
from llamav.cli.common import fail, say
from llamav.evaluate import EvaluationError, RunConfig, Store, StoreError, default_store_path, score_file
from llamav.evaluate.report.console import score_summary
from llamav.metrics import (
    ATTRIBUTE_TITLES,
    COLUMN_TITLES,
    ROSCOE_SOURCES,
    SentenceEmbedder,
    agreement,
    judge_spread,
    perturbation_check,
    read_score_lines,
)

console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("judge-agreement")(judge_agreement)
    app.command("metric-check")(metric_check)


def _fail(message: str, code: int = 2) -> typer.Exit:
    return fail(console, message, code)


def score(
    predictions: Annotated[Path, typer.Argument(help="Predictions, one Prediction JSON line each.", exists=True)],
    bench: Annotated[str, typer.Option("--bench", help="The benchmark SOURCE the predictions answer.")],
    metric: Annotated[str, typer.Option("--metric", help="Comma-separated: answer, roscoe, steps, judge.")] = "answer,roscoe",
    judge: Annotated[str | None, typer.Option("--judge", help="Judge MODEL (openai:NAME, hf:PATH, ...).")] = None,
    judge_samples: Annotated[int, typer.Option("--judge-samples", min=1, help="Judge each sample K times.")] = 1,
    judge_concurrency: Annotated[
        int, typer.Option("--judge-concurrency", min=1, help="Samples judged at once (API judges; local ones run 1).")
    ] = 8,
    judge_sees_image: Annotated[
        bool, typer.Option("--judge-sees-image", help="Show the judges the image too (default: text only, as the paper).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write one JSON line per sample here.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Judge seed.")] = 0,
    cache: Annotated[Path | None, typer.Option("--cache", help="Judge cache (SQLite file).")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Score and judge everything afresh; keep nothing (no cache, no store).")
    ] = False,
    embedding_model: Annotated[
        str | None, typer.Option("--embedding-model", help="Sentence-transformers name or path for ROSCOE-SA.")
    ] = None,
    rel_tol: Annotated[float, typer.Option("--rel-tol", help="Relative tolerance for numeric answers.")] = 0.0,
    roscoe_source: Annotated[
        str, typer.Option("--roscoe-source", help="ROSCOE-SA's source: question (default) or question+reference.")
    ] = "question",
    store: Annotated[
        Path | None, typer.Option("--store", help="The run store (SQLite; default runs/llamav.db or $LLAMAV_STORE).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an --out file that holds other scores.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Compute failed scores in the store again.")] = False,
    category_map: Annotated[
        Path | None,
        typer.Option("--category-map", exists=True, help="JSON {id: category} or CSV idx,category (VRC-Bench has none)."),
    ] = None,
    allow_outside_paths: Annotated[
        bool, typer.Option("--allow-outside-paths", help="Read image paths outside the benchmark's folder.")
    ] = False,
) -> None:
    """Score predictions: final answer, ROSCOE-SA and/or the LLM step judge, per dataset and category.

    Scores go to the run store (--store) as they are made: the same command again computes nothing,
    and after a crash it computes only what is missing."""
    try:
        config = RunConfig.resolve(None, dict(
            bench=bench, metrics=metric, judge=judge, judge_samples=judge_samples, judge_concurrency=judge_concurrency,
            seed=seed, embedding_model=embedding_model, rel_tol=rel_tol, floor=False, roscoe_source=roscoe_source,
            judge_sees_image=judge_sees_image, retry_failed=retry_failed, allow_outside_paths=allow_outside_paths,
            category_map=None if category_map is None else str(category_map), model="tiny-random",
        ))
        columns = (TextColumn("scoring {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with contextlib.ExitStack() as stack:
            run_store = None if no_cache else stack.enter_context(Store(store or default_store_path()))
            bars = stack.enter_context(Progress(*columns, console=Console(stderr=True), transient=True))
            tasks: dict[str, Any] = {}

            def advance(m: str, n: int) -> None:
                if m not in tasks:
                    tasks[m] = bars.add_task(m, total=None)
                bars.advance(tasks[m], n)

            scored = score_file(predictions, config, run_store, out=out, overwrite=overwrite,
                                judge_cache=False if no_cache else (cache or True), on_done=advance)
    except (EvaluationError, StoreError) as exc:
        raise _fail(str(exc)) from None
    for line in scored.bad_lines:
        say(console, f"skipped {predictions} {line}")
    no_chain = sum(1 for s in scored.samples if not s.has_chain)
    say(console, f"{bench}: {len(scored.samples)} samples, {scored.n_predictions} predictions, "
                 f"{len(scored.unmatched)} predictions naming no sample, {len(scored.skipped)} benchmark rows skipped"
                 + (f", {len(scored.bad_lines)} unreadable prediction lines skipped" if scored.bad_lines else "")
                 + (f", {no_chain} samples without a reference chain (step metrics: \"no reference chain\")"
                    if no_chain else ""))
    score_summary(scored.summaries, console)
    say(console, f"{scored.scored.made} scores computed, the rest read from the store")
    if out is not None:
        say(console, f"wrote {len(scored.lines)} lines to {out}")
    if not scored.anything_scored:
        raise _fail("nothing was scored: every score failed, or the samples have no reference chain for a step "
                    "metric (see the tables above)", code=1)


def judge_agreement(
    scores: Annotated[Path, typer.Argument(help="The JSON lines written by `llamav score --out`.", exists=True)],
) -> None:
    """Spearman and Kendall correlation of ROSCOE-SA with the LLM judge, per attribute and overall,
    and the judge's run-to-run spread when it judged each sample more than once."""

    try:
        lines = read_score_lines(scores)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    rows = agreement(lines)
    has = {m: sum(1 for line in lines if m in line["scores"]) for m in ("roscoe", "judge")}
    if not has["roscoe"] or not has["judge"]:
        raise _fail(f"{scores} needs both roscoe and judge scores (found {has})")
    table = Table(title=f"ROSCOE-SA vs LLM judge ({rows[0].n} of {len(lines)} samples scored by both)")
    for column in ("attribute", "Spearman", "Kendall"):
        table.add_column(column)
    for row in rows:
        title = ATTRIBUTE_TITLES.get(row.attribute, "Overall")
        table.add_row(title, *("-" if v is None else f"{v:+.3f}" for v in (row.spearman, row.kendall)))
    console.print(table)
    spread = judge_spread(lines)
    if spread is None:
        console.print("judge run-to-run spread: each sample was judged once (use --judge-samples K > 1)")
        return
    spread_table = Table(
        title=f"Judge run-to-run spread: {spread.samples} samples, {spread.runs_per_sample:.1f} runs each; "
        f"{spread.changed_share * 100:.1f}% of samples changed between runs"
    )
    spread_table.add_column("attribute")
    spread_table.add_column("mean std across runs (1-10)")
    for key, title in ATTRIBUTE_TITLES.items():
        spread_table.add_row(title, f"{spread.attribute_std[key]:.3f}")
    spread_table.add_row("Overall", f"{spread.overall_std:.3f}")
    console.print(spread_table)


def metric_check(
    bench: Annotated[str, typer.Option("--bench", help="Source of reference chains.")] = "vrc-synth?size=200",
    embedding_model: Annotated[str | None, typer.Option("--embedding-model")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    roscoe_source: Annotated[
        str, typer.Option("--roscoe-source", help="ROSCOE-SA's source: question (default) or question+reference.")
    ] = "question",
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the tables as Markdown.")] = False,
) -> None:
    """Perturb reference chains (remove, repeat, insert, change a value, shuffle, truncate) and show,
    per attribute, the share of chains whose ROSCOE-SA score dropped and the AUC of telling them apart."""
    try:
        samples = load_source(bench).samples
    except (ValueError, SourceError) as exc:
        raise _fail(str(exc)) from None
    embedder = SentenceEmbedder(embedding_model)
    try:
        rows = perturbation_check(samples, embedder, seed=seed, source=roscoe_source)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    titles = COLUMN_TITLES
    header = (
        f"{bench}, {len(samples)} reference chains, ROSCOE-SA with {embedder.name} "
        f"(source: {ROSCOE_SOURCES[roscoe_source]}) and step matching, seed {seed}"
    )
    if markdown:
        typer.echo(perturbation_markdown(rows, titles, header))
        return
    console.print(header, highlight=False)
    table = Table(title="Share of chains whose score dropped / AUC (original vs perturbed); * = the attribute meant to catch it")
    table.add_column("attribute", no_wrap=True)
    for row in rows:
        table.add_column(f"{row.perturbation.split('_')[0]}\nn={row.chains}", no_wrap=True)
    for key, title in titles.items():
        cells = [f"{'*' if row.expected == key else ''}{perturbation_cell(row, key, '/')}" for row in rows]
        table.add_row(title, *cells)
    console.print(table)


def perturbation_cell(row, key: str, sep: str) -> str:
    # A perturbation no chain can take (one-step chains cannot be reordered) has no share and no
    # AUC: "-", not nan.
    if not row.chains:
        return "-"
    return f"{row.dropped[key] * 100:.0f}%{sep}{row.auc[key]:.2f}"


def perturbation_markdown(rows, titles: dict[str, str], header: str) -> str:
    lines = [f"{header}. Cell: share of chains whose score dropped / AUC; **bold**: the attribute meant to catch it.", ""]
    lines.append("| attribute | " + " | ".join(f"{r.perturbation} (n={r.chains})" for r in rows) + " |")
    lines.append("|---|" + "---|" * len(rows))
    for key, title in titles.items():
        cells = []
        for row in rows:
            cell = perturbation_cell(row, key, " / ")
            cells.append(f"**{cell}**" if row.expected == key else cell)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
