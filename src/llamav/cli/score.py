"""`llamav score`, `llamav judge-agreement`, `llamav metric-check`: scores, and checks on the scores.

Offline ROSCOE-SA ([0, 1]) and the LLM judge (1-10) are always shown in separate, labelled
columns; every table counts the samples that failed beside the figures computed without them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()

SCALE_LABEL = {"binary": "answer %", "unit": "ROSCOE-SA [0,1]", "1-10": "judge 1-10"}
# Metrics that share a scale with another but must not share its label.
METRIC_LABEL = {"steps": "step match [0,1]"}


def _label(summary) -> str:
    return METRIC_LABEL.get(summary.metric, SCALE_LABEL[summary.scale])


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("judge-agreement")(judge_agreement)
    app.command("metric-check")(metric_check)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _fmt(value: float | None, scale: str) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}" if scale == "binary" else f"{value:.4f}" if scale == "unit" else f"{value:.3f}"


def _figure(summary) -> str:
    text = _fmt(summary.mean, summary.scale)
    if summary.ci_low is not None:
        text += f" [{_fmt(summary.ci_low, summary.scale)}, {_fmt(summary.ci_high, summary.scale)}]"
    return text


def _figure_scored(summary) -> str:
    text = _fmt(summary.scored_mean, summary.scale)
    if summary.scored_ci_low is not None:
        text += f" [{_fmt(summary.scored_ci_low, summary.scale)}, {_fmt(summary.scored_ci_high, summary.scale)}]"
    return text


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
    from llamav.bench import SourceError, load_source
    from llamav.evaluate import RunConfig, read_predictions, score_missing
    from llamav.metrics import ROSCOE_SOURCES, SCORERS, ScoreConfig, default_cache_path, summarize

    metrics = [m.strip() for m in metric.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in SCORERS]
    if unknown or not metrics:
        raise _fail(f"unknown metric(s) {unknown}; known: {', '.join(SCORERS.names())}")
    if "judge" in metrics and judge is None:
        raise _fail("--metric judge needs --judge MODEL")
    if roscoe_source not in ROSCOE_SOURCES:
        raise _fail(f"unknown --roscoe-source {roscoe_source!r}; known: {', '.join(ROSCOE_SOURCES)}")
    if out is not None and out.exists() and not overwrite and not _same_scores_file(out, predictions):
        raise _fail(f"--out {out} exists and holds other scores; use another --out, or --overwrite to replace it")
    bad_lines: list[str] = []
    try:
        preds = read_predictions(predictions, bad_lines)
        benchmark = load_source(bench, category_map=category_map, allow_outside_paths=allow_outside_paths)
    except (ValueError, SourceError, OSError) as exc:
        raise _fail(str(exc)) from None
    for line in bad_lines:
        console.print(f"skipped {predictions} {line}", highlight=False, markup=False, soft_wrap=True)
    _check_inputs(predictions, preds, benchmark)
    run_config = RunConfig(
        bench=bench, metrics=metrics, judge=judge, judge_samples=judge_samples, judge_concurrency=judge_concurrency,
        seed=seed, embedding_model=embedding_model, rel_tol=rel_tol, floor=False, roscoe_source=roscoe_source,
        judge_sees_image=judge_sees_image,
    )
    config = ScoreConfig(
        judge=judge, judge_samples=judge_samples, judge_concurrency=judge_concurrency, seed=seed,
        cache=None if no_cache else (cache or default_cache_path()),
        embedding_model=embedding_model, rel_tol=rel_tol, roscoe_source=roscoe_source,
        judge_sees_image=judge_sees_image,
    )
    by_id = {p.sample_id: p for p in preds}
    known = {s.id for s in benchmark.samples}
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("scoring {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bars = Progress(*columns, console=Console(stderr=True), transient=True)
    with _store(store, no_cache) as run_store, bars as progress:
        tasks = {m: progress.add_task(m, total=len(benchmark)) for m in metrics}
        scored = score_missing(
            run_store, benchmark.samples, by_id, metrics, run_config, config,
            on_done=lambda m, n: progress.advance(tasks[m], n),
        )
    lines = [
        {
            "sample_id": sample.id,
            "category": sample.category,
            "model": by_id[sample.id].model if sample.id in by_id else None,
            "scores": {m: scored.scores[m][sample.id].model_dump() for m in metrics},
        }
        for sample in benchmark.samples
    ]
    categories = {s.id: s.category for s in benchmark.samples}
    run = ScoringSummary(
        lines=lines,
        summaries=summarize([scored.scores[m][s.id] for m in metrics for s in benchmark.samples], categories),
        unmatched=sorted(set(by_id) - known),
    )
    if out is not None:
        from llamav.evaluate import write_lines_atomically

        write_lines_atomically(out, (json.dumps(line, ensure_ascii=False) for line in lines))
    _print_run(run, benchmark, len(preds), len(bad_lines))
    console.print(f"{scored.made} scores computed, the rest read from the store", highlight=False)
    if out is not None:
        console.print(f"wrote {len(run.lines)} lines to {out}", highlight=False)
    if not any(score.value is not None for by_id in scored.scores.values() for score in by_id.values()):
        console.print("[red]error:[/red] nothing was scored: every score failed, or the samples have no reference "
                      "chain for a step metric (see the tables above)", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _check_inputs(path: Path, preds, benchmark) -> None:
    """Refuse what can only give an empty table: no sample, or predictions of another benchmark."""
    if not benchmark.samples:
        why = f"all {len(benchmark.skipped)} rows were skipped" if benchmark.skipped else "it holds no rows"
        raise _fail(f"{benchmark.source}: no usable samples ({why}); nothing to score")
    known = {s.id for s in benchmark.samples}
    if preds and not any(p.sample_id in known for p in preds):
        theirs = ", ".join(repr(p.sample_id) for p in preds[:3])
        ours = ", ".join(repr(s.id) for s in benchmark.samples[:3])
        raise _fail(f"none of the {len(preds)} predictions in {path} names a sample of {benchmark.source} "
                    f"(their ids: {theirs}, ...; the benchmark's: {ours}, ...): were they made for another benchmark?")
    if not preds:
        raise _fail(f"{path} holds no predictions; nothing to score")


@dataclass
class ScoringSummary:
    lines: list[dict]
    summaries: list
    unmatched: list[str] = field(default_factory=list)  # predicted ids absent from the benchmark


def _store(path: Path | None, no_cache: bool):
    """The run store; with --no-cache, a throwaway one (nothing is kept, everything is computed)."""
    import contextlib
    import tempfile

    from llamav.evaluate import Store, default_store_path

    if not no_cache:
        return Store(path or default_store_path())
    stack = contextlib.ExitStack()
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="llamav-score-"))
    store = Store(Path(folder) / "throwaway.db")
    stack.callback(store.close)

    @contextlib.contextmanager
    def scoped():
        with stack:
            yield store

    return scoped()


def _same_scores_file(out: Path, predictions: Path) -> bool:
    """An --out file this command may rewrite: empty, or scores of the same predictions' model."""
    try:
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (ValueError, OSError):
        return False
    if not lines:
        return True
    models = {line.get("model") for line in lines if isinstance(line, dict)} - {None}
    try:
        from llamav.evaluate import read_predictions

        ours = {p.model for p in read_predictions(predictions)}
    except (ValueError, OSError):
        return False
    return all(isinstance(line, dict) and "scores" in line for line in lines) and models <= ours


def _print_run(run, benchmark, n_predictions: int, bad_lines: int = 0) -> None:
    no_chain = sum(1 for s in benchmark.samples if not s.has_chain)
    console.print(
        f"[bold]{benchmark.source}[/bold]: {len(benchmark)} samples, {n_predictions} predictions, "
        f"{len(run.unmatched)} predictions naming no sample, {len(benchmark.skipped)} benchmark rows skipped"
        + (f", {bad_lines} unreadable prediction lines skipped" if bad_lines else "")
        + (f", {no_chain} samples without a reference chain (step metrics: \"no reference chain\")"
           if no_chain else ""),
        highlight=False,
    )
    overall = [s for s in run.summaries if s.group == "all"]
    table = Table(
        title="Dataset (95% CI; answer % is over all samples, a failed or missing prediction counting as wrong; "
        "step scores are over the scored samples, failures counted beside them)"
    )
    for column in ("metric", "scale", "samples", "scored", "failed", "mean [95% CI]", "over", "notes"):
        table.add_column(column)
    for s in overall:
        notes = ""
        if s.scale == "1-10" and s.mean is not None:
            notes = f"Steps % = {s.steps_percent:.2f}"
        if s.no_chain:
            notes = (notes + "; " if notes else "") + f"no reference chain: {s.no_chain} (not scored, not failed)"
        if s.metric == "steps" and s.attributes:
            notes = "ordered F1; " + ", ".join(f"{k} {s.attributes[k]:.3f}" for k in ("recall", "precision", "f1"))
        if s.metric == "answer":
            scored = _figure_scored(s)
            notes = f"over scored samples: {scored}; " + ", ".join(f"{k}: {v}" for k, v in sorted(s.decided_by.items()))
        table.add_row(
            s.metric, _label(s), str(s.n), str(s.scored), str(s.failed), _figure(s), s.over, notes
        )
    console.print(table)

    attribute_table = Table(title="Attributes (dataset mean; the two scales are never mixed)")
    attribute_table.add_column("attribute")
    from llamav.metrics import ATTRIBUTE_TITLES

    with_attributes = [s for s in overall if set(s.attributes) & set(ATTRIBUTE_TITLES)]  # the ten
    for s in with_attributes:
        attribute_table.add_column(_label(s))
    if with_attributes:
        for key, title in ATTRIBUTE_TITLES.items():
            attribute_table.add_row(title, *(_fmt(s.attributes.get(key), s.scale) for s in with_attributes))
        console.print(attribute_table)

    categories = sorted({s.group for s in run.summaries if s.group != "all"})
    if categories:
        cat_table = Table(title="Per category (mean [95% CI], failed)")
        cat_table.add_column("category")
        metrics = [s.metric for s in overall]
        for s in overall:
            cat_table.add_column(f"{s.metric} ({_label(s)})")
        lookup = {(s.metric, s.group): s for s in run.summaries}
        for category in categories:
            cells = []
            for m in metrics:
                s = lookup.get((m, category))
                cells.append("-" if s is None else f"{_figure(s)} n={s.n} failed={s.failed}")
            cat_table.add_row(category, *cells)
        console.print(cat_table)


def judge_agreement(
    scores: Annotated[Path, typer.Argument(help="The JSON lines written by `llamav score --out`.", exists=True)],
) -> None:
    """Spearman and Kendall correlation of ROSCOE-SA with the LLM judge, per attribute and overall,
    and the judge's run-to-run spread when it judged each sample more than once."""
    from llamav.metrics import ATTRIBUTE_TITLES, agreement, judge_spread, read_score_lines

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
    from llamav.bench import SourceError, load_source
    from llamav.metrics import COLUMN_TITLES, ROSCOE_SOURCES, SentenceEmbedder, perturbation_check

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
        cells = [f"{'*' if row.expected == key else ''}{row.dropped[key] * 100:.0f}%/{row.auc[key]:.2f}" for row in rows]
        table.add_row(title, *cells)
    console.print(table)


def perturbation_markdown(rows, titles: dict[str, str], header: str) -> str:
    lines = [f"{header}. Cell: share of chains whose score dropped / AUC; **bold**: the attribute meant to catch it.", ""]
    lines.append("| attribute | " + " | ".join(f"{r.perturbation} (n={r.chains})" for r in rows) + " |")
    lines.append("|---|" + "---|" * len(rows))
    for key, title in titles.items():
        cells = []
        for row in rows:
            cell = f"{row.dropped[key] * 100:.0f}% / {row.auc[key]:.2f}"
            cells.append(f"**{cell}**" if row.expected == key else cell)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
