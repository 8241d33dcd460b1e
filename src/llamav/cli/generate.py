"""`llamav generate`: reason about one image, or about every sample of a benchmark.

    llamav generate --model tiny-random --image cat.png --question "How many cats?"
    llamav generate --model hf:omkarthawakar/LlamaV-o1 --bench vrc-synth --limit 20 --out preds.jsonl

One image: the staged reasoning is printed. A benchmark: one Prediction per sample is written as a
JSON line (to --out, or to stdout), as soon as it is made, with a progress bar on stderr. Bad input
exits with code 2 before any model is loaded; a run whose every sample failed exits with 1.
"""

from __future__ import annotations

import io
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
    image: Optional[Path] = typer.Option(None, "--image", help="An image file to reason about."),
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
        False, "--resume", help="Keep the good predictions already in --out (same settings); make only the rest."
    ),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto | bf16 | fp16 | fp32 (hf backends)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N | auto (device_map=auto)"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="Cap on each turn's tokens."),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="Sampling temperature (0: none)."),
    top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0),
    judge_max_new_tokens: int = typer.Option(128, "--judge-max-new-tokens", min=1, help="stage-beam's judge verdicts."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run a checkpoint's own code."),
) -> None:
    """Reason step by step about an image (--image, --question) or a benchmark (--bench)."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    try:
        _check_names(protocol, strategy)
        if bench is not None:
            if image is not None or question is not None:
                raise BadInput("give either --image with --question, or --bench, not both")
            samples, skipped = _bench_samples(bench, limit)
            if resume and out is None:
                raise BadInput("--resume needs --out: the file to resume")
        else:
            if limit is not None or resume:
                raise BadInput("--limit and --resume go with --bench")
            samples, skipped = [_image_sample(image, question)], []
        reasoner = _reasoner(
            model,
            {"dtype": dtype, "device": device, "trust_remote_code": trust_remote_code or None},
            protocol=protocol,
            strategy=strategy,
            beams=beams,
            seed=seed,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            judge_max_new_tokens=judge_max_new_tokens,
        )
        done = _resumable(out, reasoner, samples) if resume and out.exists() else {}
    except BadInput as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None

    for row in skipped:
        err.print(f"skipped {row.source} row {row.row}: {row.reason}", highlight=False)
    if bench is None:
        predictions = [reasoner(samples[0])]
        _show(predictions[0])
        if out is not None:
            _write(out, predictions)
    else:
        predictions = _run_bench(reasoner, samples, out, err, done, batch_size)
    failed = [p for p in predictions if p.error]
    for prediction in failed:
        err.print(f"[red]failed:[/red] {prediction.error}", highlight=False)
    if bench is not None:
        err.print(
            f"{len(predictions)} predictions" + (f" ({len(done)} resumed)" if resume else "")
            + f", {len(failed)} failed, {len(skipped)} rows skipped"
            + (f"; written to {out}" if out else ""),
            highlight=False,
        )
    if predictions and len(failed) == len(predictions):
        raise typer.Exit(1)


def _check_names(protocol: str, strategy: str) -> None:
    from llamav.decoding import STRATEGIES
    from llamav.reasoning import PROTOCOLS

    for registry, name in ((PROTOCOLS, protocol), (STRATEGIES, strategy)):
        if name not in registry:
            raise BadInput(f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}")


def _image_sample(image: Path | None, question: str | None):
    from PIL import Image, UnidentifiedImageError

    from llamav.bench import parse_choices
    from llamav.records import Sample

    if image is None:
        raise BadInput("give --image FILE with --question TEXT, or --bench SOURCE")
    if question is None or not question.strip():
        raise BadInput("--question is empty: say what to ask about the image")
    if not image.is_file():
        raise BadInput(f"--image {image}: no such file")
    data = image.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
    except UnidentifiedImageError:
        raise BadInput(f"--image {image}: not a readable image (Pillow cannot identify its format)") from None
    except (OSError, ValueError) as exc:
        raise BadInput(f"--image {image}: not a readable image ({exc})") from None
    options = parse_choices(question)
    return Sample(
        id=image.stem,
        question=question.strip(),
        image=data,
        steps=[],
        final_answer="",
        options=options,
        answer_type="choice" if options else "text",
        source=str(image),
    )


def _bench_samples(source: str, limit: int | None):
    from llamav.bench import SourceError, load_source

    try:
        benchmark = load_source(source, limit=limit)
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


def _resumable(out: Path, reasoner, samples) -> dict:
    """The predictions in `out` that this run would make again: same model and settings, a sample
    of this benchmark, no error. Failed predictions and lines cut short by a crash are made anew;
    a file made with other settings is refused rather than mixed."""
    from pydantic import ValidationError

    from llamav.records import Prediction

    wanted = {sample.id for sample in samples}
    settings = (reasoner.model.name, reasoner.protocol, reasoner.strategy, reasoner.seed, reasoner.params)
    kept = {}
    for number, line in enumerate(out.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            prediction = Prediction.model_validate_json(line)
        except ValidationError:
            continue
        params = {key: prediction.params.get(key) for key in reasoner.params}
        theirs = (prediction.model, prediction.protocol, prediction.strategy, prediction.seed, params)
        if theirs != settings:
            raise BadInput(f"--resume: {out} line {number} was made with other settings {theirs}; "
                           f"this run is {settings}. Use another --out.")
        if prediction.error is None and prediction.sample_id in wanted:
            kept[prediction.sample_id] = prediction
    return kept


def _run_bench(reasoner, samples, out: Path | None, err, done: dict, batch_size: int = 1):
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    predictions = list(done.values())
    if out is not None:
        # Rewrite the kept lines first (through a temporary file, so a crash here loses nothing),
        # then append: the file only ever holds whole, good predictions.
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        _write(partial, predictions)
        partial.replace(out)
    handle = out.open("a", encoding="utf-8") if out is not None else sys.stdout
    columns = (TextColumn("reasoning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("samples", total=len(samples), completed=len(done))
            todo = [sample for sample in samples if sample.id not in done]
            for start in range(0, len(todo), batch_size):
                group = todo[start : start + batch_size]
                for prediction in reasoner.batch(group):
                    handle.write(prediction.model_dump_json() + "\n")
                    predictions.append(prediction)
                handle.flush()  # a crash keeps every line already made
                progress.advance(task, len(group))
    finally:
        if out is not None:
            handle.close()
    return predictions


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
