"""`llamav generate`: reason about one image, or about every sample of a benchmark.

    llamav generate --model tiny-random --image cat.png --question "How many cats?"
    llamav generate --model hf:omkarthawakar/LlamaV-o1 --bench vrc-synth --limit 20 --out preds.jsonl

One image: the staged reasoning is printed. A benchmark: one Prediction per sample is written as a
JSON line (to --out, or to stdout), as soon as it is made, with a progress bar on stderr. Bad input
exits with code 2 before any model is loaded; a run whose every sample failed exits with 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    pass


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def generate(
    model: str = typer.Option(..., "--model", help="hf:ID_OR_PATH | tiny-random | llamav-tiny | openai:NAME"),
    # Text, not Path: a Path would fold "http://" into "http:/" before the URL could be refused.
    image: Optional[str] = typer.Option(None, "--image", help="An image file to reason about."),
    question: Optional[str] = typer.Option(None, "--question", help="The question about --image."),
    bench: Optional[str] = typer.Option(None, "--bench", help="A benchmark: vrc-synth[:SPLIT], hf:OWNER/NAME, a path."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N samples of --bench."),
    protocol: str = typer.Option("llamav-o1", "--protocol", help="llamav-o1 | llava-cot | direct"),
    strategy: str = typer.Option("beam", "--strategy", help="greedy | beam | stage-beam | best-of-n"),
    beams: int = typer.Option(4, "--beams", min=1, help="Beams (beam), candidates (stage-beam, best-of-n)."),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(
        1, "--batch-size", min=1, help="Samples decoded together, one call per turn (greedy, beam)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Write predictions here as JSON lines."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue --out: its good lines are kept and not made again (always the case for a "
        "file of the same settings; kept for scripts)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an --out file that holds another run's predictions."
    ),
    store: Optional[Path] = typer.Option(
        None, "--store", help="The run store (SQLite; default runs/llamav.db or $LLAMAV_STORE)."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Make failed predictions in the store again."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto | bf16 | fp16 | fp32 (hf backends)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N | auto (device_map=auto)"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="Cap on each turn's tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature (0: none)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0),
    judge_max_new_tokens: int = typer.Option(128, "--judge-max-new-tokens", min=1, help="stage-beam's judge verdicts."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run a checkpoint's own code."),
    model_args: Optional[str] = typer.Option(
        None, "--model-args", help="Backend options k=v,... (dtype, device, base_url, revision, ...)."
    ),
    allow_outside_paths: bool = typer.Option(
        False, "--allow-outside-paths", help="Read image paths outside the benchmark's folder."
    ),
) -> None:
    """Reason step by step about an image (--image, --question) or a benchmark (--bench).

    A benchmark's predictions go to the run store as they are made (one commit per batch) and are
    exported to --out; the same command after a crash makes only what is missing."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    try:
        options = _model_options(model_args, dtype=dtype, device=device, trust_remote_code=trust_remote_code or None)
        _check_names(protocol, strategy)
        settings = dict(
            protocol=protocol, strategy=strategy, beams=beams, seed=seed, temperature=temperature, top_p=top_p,
            max_new_tokens=max_new_tokens, judge_max_new_tokens=judge_max_new_tokens,
        )
        if bench is None:
            if limit is not None or resume:
                raise BadInput("--limit and --resume go with --bench")
            sample = _image_sample(image, question)
            reasoner = _reasoner(model, options, **settings)
        else:
            if image is not None or question is not None:
                raise BadInput("give either --image with --question, or --bench, not both")
            if resume and out is None:
                raise BadInput("--resume needs --out: the file to resume")
            config = _run_config(model, bench, limit, options, batch_size, retry_failed, settings)
            samples, skipped = _bench_samples(bench, limit, allow_outside_paths)
            kept = _out_file(out, config, samples, overwrite) if out is not None and out.exists() else {}
    except BadInput as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None

    if bench is None:
        prediction = reasoner(sample)
        _show(prediction)
        if out is not None:
            _write(out, [prediction])
        if prediction.error:
            err.print(f"[red]failed:[/red] {prediction.error}", highlight=False)
            raise typer.Exit(1)
        return

    for row in skipped:
        err.print(f"skipped {row.source} row {row.row}: {row.reason}", highlight=False)
    try:
        generated = _run_bench(config, samples, kept, store, err)
    except BadInput as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    predictions = [generated.predictions[s.id] for s in samples]
    if out is None:
        for prediction in predictions:
            typer.echo(prediction.model_dump_json())
    else:
        _export(out, predictions, overwrite)
    failed = [p for p in predictions if p.error]
    for prediction in failed:
        err.print(f"[red]failed:[/red] {prediction.error}", highlight=False)
    err.print(
        f"{len(predictions)} predictions ({generated.made} made, {len(predictions) - generated.made} resumed), "
        f"{len(failed)} failed, {len(skipped)} rows skipped" + (f"; written to {out}" if out else ""),
        highlight=False,
    )
    if predictions and len(failed) == len(predictions):
        raise typer.Exit(1)


def _model_options(model_args: str | None, **flags) -> dict:
    from llamav.evaluate import parse_kv
    from llamav.models.base import ModelLoadError, check_model_options

    try:
        options = parse_kv(model_args)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    options = {**options, **{k: v for k, v in flags.items() if v is not None}}
    try:  # a bad dtype or a missing GPU is refused before anything is loaded, for every backend
        check_model_options(options)
    except ModelLoadError as exc:
        raise BadInput(str(exc)) from None
    return options


def _run_config(model, bench, limit, options, batch_size, retry_failed, settings):
    from pydantic import ValidationError

    from llamav.evaluate import RunConfig, check_backend, reasoner_settings

    try:
        config = RunConfig(model=model, bench=bench, limit=limit, model_args=options, batch_size=batch_size,
                           retry_failed=retry_failed, **settings)
        reasoner_settings(config)
        check_backend(model)
    except (ValidationError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc).splitlines()[0]
        raise BadInput(f"--model {model}: {message}" if isinstance(exc, KeyError) else message) from None
    return config


def _out_file(out: Path, config, samples, overwrite: bool) -> dict:
    """The good predictions of an existing --out file, which this run takes instead of making them
    again. A file made with other settings is refused (not mixed, not overwritten) unless
    --overwrite."""
    from llamav.evaluate import read_resumable

    wanted = {sample.id for sample in samples}
    ours = (config.model, config.protocol, config.strategy, config.seed, config.generation_params)
    kept = {}
    for number, prediction in read_resumable(out):
        params = {key: prediction.params.get(key) for key in config.generation_params}
        theirs = (prediction.model, prediction.protocol, prediction.strategy, prediction.seed, params)
        if theirs != ours:
            if overwrite:
                return {}
            raise BadInput(f"--out {out} line {number} was made with other settings {theirs}; this run is "
                           f"{ours}. Use another --out, or --overwrite to replace it.")
        if prediction.error is None and prediction.sample_id in wanted:
            kept[prediction.sample_id] = prediction
    return kept


def _run_bench(config, samples, kept: dict, store_path: Path | None, err):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from llamav.evaluate import Store, default_store_path, generate_missing, generation_key, load_reasoner

    key = generation_key(config)
    columns = (TextColumn("reasoning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Store(store_path or default_store_path()) as store:
        # Lines of --out that the store lacks (a file from elsewhere): take them in, never redo them.
        have = store.predictions(key, samples)
        adopt = [(s, kept[s.id]) for s in samples if s.id in kept and (s.id not in have or have[s.id].error)]
        if adopt:
            store.add_predictions(key, adopt)

        def make_reasoner():  # only called when something is missing: a finished run loads nothing
            return _reasoner(config.model, config.model_args, **config.decode_settings())

        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("samples", total=len(samples))
            return generate_missing(
                store, key, samples, make_reasoner, batch_size=config.batch_size,
                retry_failed=config.retry_failed, on_done=lambda n: progress.advance(task, n),
            )


def _export(out: Path, predictions, overwrite: bool) -> None:
    """Write --out from the store: this run's predictions, after every other line the file already
    held (a smaller --limit never shortens the file)."""
    from llamav.evaluate import read_resumable, write_lines_atomically

    ours = {p.sample_id for p in predictions}
    earlier = [] if overwrite or not out.exists() else [
        p.model_dump_json() for _, p in read_resumable(out) if p.sample_id not in ours
    ]
    write_lines_atomically(out, [*earlier, *(p.model_dump_json() for p in predictions)])


def _check_names(protocol: str, strategy: str) -> None:
    from llamav.decoding import STRATEGIES
    from llamav.reasoning import PROTOCOLS

    for registry, name in ((PROTOCOLS, protocol), (STRATEGIES, strategy)):
        if name not in registry:
            raise BadInput(f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}")


def _image_sample(image: str | None, question: str | None):
    """The one-image Sample, its image checked and repaired by the same loader as a benchmark's
    (`llamav.images`); a file the user names directly may lie anywhere."""
    from llamav.bench import parse_choices
    from llamav.images import ImageError, load_image
    from llamav.records import Sample

    if image is None:
        raise BadInput("give --image FILE with --question TEXT, or --bench SOURCE")
    if question is None or not question.strip():
        raise BadInput("--question is empty: say what to ask about the image")
    try:
        loaded = load_image(image, allow_outside_paths=True)
    except ImageError as exc:
        message = str(exc)
        raise BadInput(message if message.startswith(("image ", image)) else f"--image {image}: {message}") from None
    options = parse_choices(question)
    return Sample(
        id=Path(image).stem,
        question=question.strip(),
        image=loaded.data,
        steps=[],
        final_answer="",
        options=options,
        answer_type="choice" if options else "text",
        source=image,
        flags=list(loaded.flags),
    )


def _bench_samples(source: str, limit: int | None, allow_outside_paths: bool = False):
    from llamav.bench import SourceError, load_source

    try:
        benchmark = load_source(source, limit=limit, allow_outside_paths=allow_outside_paths)
    except (SourceError, OSError, ValueError) as exc:
        raise BadInput(f"--bench {source}: {exc or type(exc).__name__}") from None
    if not benchmark.samples:
        reasons = "; ".join(f"row {s.row}: {s.reason}" for s in benchmark.skipped[:3])
        raise BadInput(f"--bench {source}: no usable samples" + (f" ({reasons})" if reasons else ""))
    return benchmark.samples, benchmark.skipped


def _reasoner(spec: str, options: dict, **settings):
    from llamav.models import ModelLoadError, load_model
    from llamav.reasoning import Reasoner

    options = {k: v for k, v in options.items() if v is not None}
    try:
        model = load_model(spec, **options)
    except (ModelLoadError, KeyError, OSError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise BadInput(f"--model {spec}: {message}") from None
    try:
        return Reasoner(model, **settings)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def _write(out: Path, predictions) -> None:
    with out.open("w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction.model_dump_json() + "\n")


def _show(prediction) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    console = Console()
    if prediction.error:
        return
    for stage, text in prediction.stages.items():
        console.print(Panel(Text(text or "(empty)"), title=stage, title_align="left"), highlight=False)
    if prediction.steps:
        console.print("[bold]steps[/bold]")
        for step in prediction.steps:
            console.print(f"  - {step}", highlight=False, markup=False)
    console.print(f"[bold]final answer:[/bold] {prediction.final_answer}", highlight=False)
    if prediction.flags:
        console.print(f"flags: {', '.join(prediction.flags)}", highlight=False)
    cost = prediction.cost
    console.print(
        f"cost: {cost.model_calls} model calls, {cost.prompt_tokens} prompt tokens, "
        f"{cost.generated_tokens} generated tokens, {cost.wall_seconds:.2f} s",
        highlight=False,
    )
