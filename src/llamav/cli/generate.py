"""`llamav generate`: reason about one image, or about every sample of a benchmark.

    llamav generate --model tiny-random --image cat.png --question "How many cats?"
    llamav generate --model hf:omkarthawakar/LlamaV-o1 --bench vrc-synth --limit 20 --out preds.jsonl

One image: the staged reasoning is printed. A benchmark: `llamav.evaluate.generate_file` makes one
Prediction per sample (through the run store, so a crash loses nothing and a rerun makes only what
is missing) and writes them as JSON lines to --out, or to stdout. Bad input exits with code 2
before any model is loaded; a run whose every sample failed exits with 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from llamav.bench import parse_choices
from llamav.cli.common import LOAD_ERRORS, fail, say
from llamav.evaluate import (
    EvaluationError,
    RunConfig,
    Store,
    StoreError,
    default_store_path,
    generate_file,
    load_reasoner,
    parse_kv,
)
from llamav.images import ImageError, load_image
from llamav.models.base import ModelLoadError, check_model_options
from llamav.records import Prediction, Sample
from llamav.terminal import visible


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
    self_judge_max_new_tokens: int = typer.Option(
        128, "--self-judge-max-new-tokens", "--judge-max-new-tokens", min=1,
        help="stage-beam's self-judge verdicts (the model choosing among its candidates)."),
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
    err = Console(stderr=True, soft_wrap=True)
    try:
        options = parse_kv(model_args)
        options |= {k: v for k, v in {"dtype": dtype, "device": device,
                                      "trust_remote_code": trust_remote_code or None}.items() if v is not None}
        check_model_options(options)  # a bad dtype or a missing GPU is refused before anything is loaded
        config = RunConfig.resolve(None, dict(
            model=model, bench=bench or "", limit=limit, model_args=options, batch_size=batch_size,
            retry_failed=retry_failed, protocol=protocol, strategy=strategy, beams=beams, seed=seed,
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
            self_judge_max_new_tokens=self_judge_max_new_tokens, allow_outside_paths=allow_outside_paths,
        ))
        if bench is None:
            if limit is not None or resume:
                raise EvaluationError("--limit and --resume go with --bench")
            sample = _image_sample(image, question)
        elif image is not None or question is not None:
            raise EvaluationError("give either --image with --question, or --bench, not both")
        elif resume and out is None:
            raise EvaluationError("--resume needs --out: the file to resume")
    except (EvaluationError, ModelLoadError, ValueError) as exc:
        raise fail(err, _one_line(exc)) from None

    if bench is None:
        try:
            prediction = load_reasoner(config)(sample)
        except (EvaluationError, *LOAD_ERRORS, KeyError) as exc:
            raise fail(err, f"--model {model}: {_one_line(exc)}") from None
        _show(prediction)
        if out is not None:
            out.write_text(prediction.model_dump_json() + "\n", encoding="utf-8")
        if prediction.error:
            raise fail(err, f"failed: {prediction.error}", code=1)
        return

    columns = (TextColumn("reasoning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Store(store or default_store_path()) as run_store, Progress(*columns, console=err, transient=True) as bars:
            task = bars.add_task("samples", total=None)
            made = generate_file(config, out, run_store, overwrite=overwrite,
                                 on_done=lambda n: bars.advance(task, n))
    except (EvaluationError, StoreError) as exc:
        raise fail(err, str(exc)) from None
    except (*LOAD_ERRORS, KeyError) as exc:
        raise fail(err, f"--model {model}: {_one_line(exc)}") from None
    for row in made.skipped:
        say(err, f"skipped {row.source} row {row.row}: {row.reason}")
    if out is None:
        for prediction in made.predictions:
            typer.echo(prediction.model_dump_json())
    for prediction in made.failed:
        say(err, f"failed: {prediction.error}")
    n = len(made.predictions)
    say(err, f"{n} predictions ({made.made} made, {n - made.made} resumed), {len(made.failed)} failed, "
             f"{len(made.skipped)} rows skipped" + (f"; written to {out}" if out else ""))
    if n and len(made.failed) == n:
        raise typer.Exit(1)


def _one_line(exc: BaseException) -> str:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return str(message).splitlines()[0] if str(message) else type(exc).__name__


def _image_sample(image: str | None, question: str | None) -> Sample:
    """The one-image Sample, its image checked and repaired by the same loader as a benchmark's
    (`llamav.images`); a file the user names directly may lie anywhere."""
    if image is None:
        raise EvaluationError("give --image FILE with --question TEXT, or --bench SOURCE")
    if question is None or not question.strip():
        raise EvaluationError("--question is empty: say what to ask about the image")
    try:
        loaded = load_image(image, allow_outside_paths=True)
    except ImageError as exc:
        message = str(exc)
        raise EvaluationError(message if message.startswith(("image ", image)) else f"--image {image}: {message}") from None
    options = parse_choices(question)
    return Sample(
        id=Path(image).stem, question=question.strip(), image=loaded.data, steps=[], final_answer="", options=options,
        answer_type="choice" if options else "text", source=image, flags=list(loaded.flags),
    )


def _show(prediction: Prediction) -> None:
    console = Console()
    if prediction.error:
        return
    for stage, text in prediction.stages.items():
        console.print(Panel(Text(visible(text or "(empty)", keep_newlines=True)), title=Text(visible(stage)),
                      title_align="left"), highlight=False)
    if prediction.steps:
        console.print(Text("steps", style="bold"))
        for step in prediction.steps:
            console.print(Text(f"  - {visible(step)}"), highlight=False)
    console.print(Text("final answer: ", style="bold").append(visible(prediction.final_answer)), highlight=False)
    if prediction.flags:
        console.print(Text(f"flags: {visible(', '.join(prediction.flags))}"), highlight=False)
    cost = prediction.cost
    console.print(Text(f"cost: {cost.model_calls} model calls, {cost.prompt_tokens} prompt tokens, "
                       f"{cost.generated_tokens} generated tokens, {cost.wall_seconds:.2f} s"), highlight=False)
