"""`llamav eval`: the main job. One command from benchmark to report.

    llamav eval                                   # the embedded default, offline, under 2 minutes on a laptop
    llamav eval --model hf:omkarthawakar/LlamaV-o1 --model-args dtype=bf16,device=cuda \\
        --bench hf:omkarthawakar/VRC-Bench --metric answer,roscoe,judge --judge openai:gpt-4o-mini
    llamav eval --config run.yaml --limit 50      # a YAML file holds any option; flags override it

It parses, resolves one RunConfig (defaults < --config file < flags), and calls
`llamav.evaluate`. Everything computed goes to the store as it is made; the run directory gets
config.yaml, results.json, samples.jsonl, report.md and report.html.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import typer

EXIT_BAD_INPUT = 2
TINY_RANDOM_DEFAULT_CAP = 16


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    model: Optional[str] = typer.Option(
        None, "--model", help="hf:ID_OR_PATH | openai:NAME | llamav-tiny | tiny-random (default: llamav-tiny if "
        "bundled, else tiny-random)"),
    bench: Optional[str] = typer.Option(None, "--bench", help="SOURCE (default vrc-synth:test)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="llamav-o1 | llava-cot | direct"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="greedy | beam | stage-beam | best-of-n"),
    beams: Optional[int] = typer.Option(None, "--beams", min=1, help="Beams or candidates (default 4)."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Comma-separated: answer, roscoe, judge (default answer,roscoe; +judge with --judge)."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge MODEL for the judge metric and answer fallback."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N samples."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Comma-separated categories to keep."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Decoding and judge seed (default 0)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where the outputs go (default runs/NAME-HASH)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="A YAML file of options; flags override it."),
    model_args: Optional[str] = typer.Option(
        None, "--model-args", help="Backend options k=v,... (dtype=bf16,device=cuda, base_url=..., revision=...)."),
    judge_args: Optional[str] = typer.Option(None, "--judge-args", help="The judge backend's options, k=v,..."),
    store: Optional[Path] = typer.Option(
        None, "--store", help="The run store (SQLite; default runs/llamav.db or $LLAMAV_STORE)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Samples decoded together (default 16)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes sharing the samples (default: one a core, at most 4, with the tiny models; else 1)."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="torch threads for the run (default: 1 with the tiny models, else torch's)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="Cap on each turn's tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0),
    top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0),
    judge_samples: Optional[int] = typer.Option(None, "--judge-samples", min=1, help="Judge each sample K times."),
    judge_concurrency: Optional[int] = typer.Option(None, "--judge-concurrency", min=1),
    category_map: Optional[Path] = typer.Option(None, "--category-map", help="JSON {id: category} or CSV idx,category."),
    embedding_model: Optional[str] = typer.Option(None, "--embedding-model", help="ROSCOE-SA's sentence embedder."),
    floor: Optional[bool] = typer.Option(None, "--floor/--no-floor", help="Score the foreign-chain floor (default on)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Make failed predictions and scores again."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write over a --run-dir that holds another run."),
    roscoe_source: Optional[str] = typer.Option(
        None, "--roscoe-source", help="ROSCOE-SA's source: question (default) | question+reference."
    ),
    judge_sees_image: Optional[bool] = typer.Option(
        None, "--judge-sees-image/--judge-text-only", help="Show the judges the image too (default: text only, as the paper)."
    ),
    allow_outside_paths: bool = typer.Option(
        False, "--allow-outside-paths", help="Let a benchmark's image paths point outside its folder."
    ),
    price_table: Optional[Path] = typer.Option(
        None, "--price-table", help="YAML/JSON of $ per 1M tokens: {MODEL: {prompt: P, completion: C}}."
    ),
) -> None:
    """Evaluate a model on a benchmark: reasoning, scores, floors, and a report, resumable at any point."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    flags = {
        "model": model, "bench": bench, "protocol": protocol, "strategy": strategy, "beams": beams, "metrics": metric,
        "judge": judge, "limit": limit, "categories": categories, "seed": seed, "model_args": model_args,
        "judge_args": judge_args, "batch_size": batch_size, "workers": workers, "threads": threads, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "top_p": top_p, "judge_samples": judge_samples,
        "judge_concurrency": judge_concurrency, "category_map": None if category_map is None else str(category_map),
        "embedding_model": embedding_model, "floor": floor, "retry_failed": retry_failed or None,
        "price_table": None if price_table is None else str(price_table),
        "roscoe_source": roscoe_source, "judge_sees_image": judge_sees_image,
        "allow_outside_paths": allow_outside_paths or None,
    }
    from llamav.evaluate import EvaluationError, RunDirError, Store, default_store_path, evaluate, write_run

    try:
        config = resolve_config(config_file, {k: v for k, v in flags.items() if v is not None})
        out_dir = run_dir or default_run_dir(config)
        from llamav.evaluate import check_run_dir

        check_run_dir(out_dir, config.run_hash(), overwrite)
        if config.price_table:  # a bad table fails now, not after an hour of generation
            from llamav.models.pricing import PriceTable

            PriceTable.load(config.price_table)
    except (EvaluationError, RunDirError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one set of progress bars on screen: ours, with ETA
    from llamav.evaluate import _ranks

    if _ranks.launched():
        _ranks.start()
        if _ranks.rank() != 0:
            _follow(config, err)
            return
    err.print(f"llamav eval: {config.model} on {config.bench} ({config.protocol}, {config.strategy}, "
              f"{config.beams} beams, seed {config.seed}); run {config.run_hash()[:12]} -> {out_dir}", highlight=False)
    try:
        with Store(store or default_store_path()) as run_store, _bars(err) as progress:
            evaluation = evaluate(config, run_store, progress)
    except EvaluationError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except _LOAD_ERRORS as exc:
        err.print(f"[red]error:[/red] --model {config.model}: {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        # Everything finished so far is committed: say so instead of showing a traceback.
        err.print("interrupted: every finished sample is in the store; the same command resumes", highlight=False)
        raise typer.Exit(130) from None
    for row in evaluation.skipped:
        err.print(f"skipped {row.source} row {row.row}: {row.reason}", highlight=False)
    _ranks.stop()
    results = write_run(evaluation, out_dir, overwrite=overwrite)
    _summary(results, evaluation, out_dir)
    if results["n_total"] and results["n_failed"] == results["n_total"]:
        err.print("[red]every sample failed[/red]; see results.json for the reasons", highlight=False)
        raise typer.Exit(1)


def _follow(config, err) -> None:
    """A rank other than 0 under torchrun: reason on the batches rank 0 hands out, nothing else
    (rank 0 alone reads and writes the store and the run's files)."""
    from functools import partial

    from llamav.evaluate import EvaluationError, _ranks, load_reasoner
    from llamav.evaluate._evaluation import load_samples, torch_threads

    try:
        samples, _ = load_samples(config)
        with torch_threads(config.run_threads()):
            _ranks.follow(samples, partial(load_reasoner, config))
    except (EvaluationError, *_LOAD_ERRORS, RuntimeError) as exc:
        err.print(f"[red]error:[/red] rank {_ranks.rank()}: {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    finally:
        _ranks.stop()


try:  # the errors a backend raises when a model cannot be built, named once
    from llamav.models.hf import ModelLoadError as _ModelLoadError

    _LOAD_ERRORS: tuple[type[BaseException], ...] = (_ModelLoadError, OSError)
except ImportError:  # pragma: no cover
    _LOAD_ERRORS = (OSError,)


def resolve_config(config_file: Path | None, flags: dict[str, Any]):
    """defaults < the YAML file < flags. The model, when nobody names one, is the bundled
    `llamav-tiny` if it is there, else `tiny-random`; the judge metric joins the default metrics
    when a judge is given."""
    import yaml
    from pydantic import ValidationError

    from llamav.evaluate import RunConfig, default_model

    values: dict[str, Any] = {}
    if config_file is not None:
        if not config_file.is_file():
            raise ValueError(f"--config {config_file}: no such file")
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"--config {config_file}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--config {config_file}: expected a mapping of options, got {type(loaded).__name__}")
        values.update({k.replace("-", "_"): v for k, v in loaded.items()})
        if "metric" in values and "metrics" not in values:
            values["metrics"] = values.pop("metric")
    values.update(flags)
    if "model" not in values:
        values["model"] = default_model()
        if values["model"] == "tiny-random":
            # Random weights never stop talking: uncapped, each of the four turns would run to 1,024
            # tokens. The embedded default caps it so that the whole run takes about a minute.
            values.setdefault("max_new_tokens", TINY_RANDOM_DEFAULT_CAP)
    if values.get("judge") and "metrics" not in values:
        values["metrics"] = ["answer", "roscoe", "judge"]
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        source = f"--config {config_file} / flags" if config_file else "options"
        raise ValueError(f"{source}: {problems}") from None


def default_run_dir(config) -> Path:
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60]

    return Path("runs") / f"{slug(config.model)}--{slug(config.bench)}--{config.run_hash()[:8]}"


class _bars:
    """Rich progress bars with ETA, one per task (reasoning, scoring each metric, floors)."""

    def __init__(self, console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self._tasks: dict[str, Any] = {}

    def __enter__(self):
        from llamav.evaluate import Progress as Hooks

        self._progress.__enter__()
        return Hooks(start=self._start, advance=self._advance)

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def _start(self, task: str, total: int) -> None:
        self._tasks[task] = self._progress.add_task(task, total=total)

    def _advance(self, task: str, n: int) -> None:
        self._progress.advance(self._tasks[task], n)


def _summary(results: dict[str, Any], evaluation, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{results['model']} on {results['bench']}: {results['n_total']} samples, "
                        f"{results['n_scored']} scored, {results['n_failed']} failed")
    for column in ("figure", "scale", "value [95% CI]", "floor (foreign chain)", "over"):
        table.add_column(column)
    answer = results["final_answer_accuracy"]

    def pct(v):
        return "-" if v is None else f"{v * 100:.2f}"

    if answer:
        ci = f" [{pct(answer['ci95'][0])}, {pct(answer['ci95'][1])}]" if answer["ci95"] else ""
        table.add_row("final answer %", "0-100", pct(answer["mean"]) + ci, "", answer["over"])
        if answer["scored_mean"] is not None:
            table.add_row("  over scored samples only", "0-100", pct(answer["scored_mean"]), "",
                          f"{answer['scored']} scored")
    for metric, entry in results["steps"].items():
        digits = 2 if metric == "judge" else 4

        def num(v, digits=digits):
            return "-" if v is None else f"{v:.{digits}f}"

        ci = f" [{num(entry['ci95'][0])}, {num(entry['ci95'][1])}]" if entry["ci95"] else ""
        floor = entry["floor"]
        table.add_row(entry["label"], entry["scale"], num(entry["mean"]) + ci,
                      "-" if not floor else num(floor["mean"]), f"{entry['scored']} of {entry['n']} scored")
    console.print(table)
    if results["failed_by_stage"]:
        console.print("failed: " + ", ".join(f"{k} {v}" for k, v in sorted(results["failed_by_stage"].items())),
                      highlight=False)
    now = results["cost"]["this_invocation"]
    console.print(f"this run: {now['predictions_made']} predictions made ({now['model_calls']} model calls), "
                  f"{now['scores_computed']} scores computed, the rest from the store; {now['seconds']:.1f} s",
                  highlight=False)
    console.print(f"wrote {out_dir}/results.json, samples.jsonl, report.md, report.html", highlight=False)
