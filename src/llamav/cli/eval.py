"""`llamav eval`: the main job. One command from benchmark to report.

    llamav eval                                   # the embedded default, offline, under 2 minutes on a laptop
    llamav eval --model hf:omkarthawakar/LlamaV-o1 --model-args dtype=bf16,device=cuda \\
        --bench hf:omkarthawakar/VRC-Bench --metric answer,roscoe,judge --judge openai:gpt-4o-mini
    llamav eval --config run.yaml --limit 50      # a YAML file holds any option; flags override it

It parses the flags, and runs `evaluate(RunConfig.resolve(config_file, flags))`: every default
lives in the library, so the same run can be started from Python. Everything computed goes to the
store as it is made; the run directory gets config.yaml, results.json, samples.jsonl, report.md and
report.html.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bars

from llamav.cli.common import LOAD_ERRORS, fail, say
from llamav.evaluate import (
    EvaluationError,
    Progress,
    RunConfig,
    RunDirError,
    Store,
    StoreError,
    check_run_dir,
    default_run_dir,
    default_store_path,
    evaluate,
    load_reasoner,
    load_samples,
    ranks,
    write_run,
)
from llamav.evaluate.report.console import eval_summary
from llamav.evaluate.run import torch_threads
from llamav.models.pricing import PriceTable


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
    err = Console(stderr=True, soft_wrap=True)
    flags: dict[str, Any] = {
        "model": model, "bench": bench, "protocol": protocol, "strategy": strategy, "beams": beams, "metrics": metric,
        "judge": judge, "limit": limit, "categories": categories, "seed": seed, "model_args": model_args,
        "judge_args": judge_args, "batch_size": batch_size, "workers": workers, "threads": threads,
        "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "judge_samples": judge_samples,
        "judge_concurrency": judge_concurrency, "category_map": None if category_map is None else str(category_map),
        "embedding_model": embedding_model, "floor": floor, "retry_failed": retry_failed or None,
        "price_table": None if price_table is None else str(price_table), "roscoe_source": roscoe_source,
        "judge_sees_image": judge_sees_image, "allow_outside_paths": allow_outside_paths or None,
    }
    try:
        config = RunConfig.resolve(config_file, flags)
        out_dir = run_dir or default_run_dir(config)
        check_run_dir(out_dir, config.run_hash(), overwrite)
        if config.price_table:  # a bad table fails now, not after an hour of generation
            PriceTable.load(config.price_table)
    except (EvaluationError, RunDirError, ValueError) as exc:
        raise fail(err, str(exc)) from None

    # transformers is imported here, not at the top: every other command (and --help) would pay for it.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one set of progress bars on screen: ours, with ETA
    if ranks.launched():
        ranks.start()
        if ranks.rank() != 0:
            _follow(config, err)
            return
    say(err, f"llamav eval: {config.model} on {config.bench} ({config.protocol}, {config.strategy}, "
             f"{config.beams} beams, seed {config.seed}); run {config.run_hash()[:12]} -> {out_dir}")
    try:
        with Store(store or default_store_path()) as run_store, _bars(err) as progress:
            evaluation = evaluate(config, run_store, progress)
    except (EvaluationError, StoreError) as exc:
        raise fail(err, str(exc)) from None
    except LOAD_ERRORS as exc:
        raise fail(err, f"--model {config.model}: {exc}") from None
    except KeyboardInterrupt:
        # Everything finished so far is committed: say so instead of showing a traceback.
        say(err, "interrupted: every finished sample is in the store; the same command resumes")
        raise typer.Exit(130) from None
    for row in evaluation.skipped:
        say(err, f"skipped {row.source} row {row.row}: {row.reason}")
    ranks.stop()
    try:
        results, problems = write_run(evaluation, out_dir, overwrite=overwrite)
    except (RunDirError, OSError) as exc:
        raise fail(err, f"{exc}; everything computed is in the store: the same command writes it once fixed") from None
    eval_summary(results, Console())
    for problem in problems:
        say(err, f"warning: {problem}")
    say(Console(), f"wrote {out_dir}/results.json, samples.jsonl"
                   + (", report.md, report.html" if not problems else " (see the warnings above)"))
    if results.n_total and results.n_failed == results.n_total:
        say(err, "every sample failed; see results.json for the reasons")
        raise typer.Exit(1)


def _follow(config: RunConfig, err: Console) -> None:
    """A rank other than 0 under torchrun: reason on the batches rank 0 hands out, nothing else
    (rank 0 alone reads and writes the store and the run's files)."""
    try:
        samples, _ = load_samples(config)
        with torch_threads(config.run_threads()):
            ranks.follow(samples, lambda: load_reasoner(config))
    except (EvaluationError, *LOAD_ERRORS, RuntimeError) as exc:
        raise fail(err, f"rank {ranks.rank()}: {exc}") from None
    finally:
        ranks.stop()


class _bars:
    """Rich progress bars with ETA, one per task (reasoning, scoring each metric, floors)."""

    def __init__(self, console: Console) -> None:
        self._progress = Bars(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        self._progress.__enter__()
        return Progress(start=self._start, advance=self._advance)

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def _start(self, task: str, total: int) -> None:
        self._tasks[task] = self._progress.add_task(task, total=total)

    def _advance(self, task: str, n: int) -> None:
        self._progress.advance(self._tasks[task], n)
