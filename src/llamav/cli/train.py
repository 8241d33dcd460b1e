"""`llamav train --config FILE.yaml [key=value ...] [--output-dir DIR] [--resume] [--until STAGE]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llamav.cli.common import fail, say

console = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the terminal width


def register(app: typer.Typer) -> None:
    app.command("train", context_settings={"allow_extra_args": False})(train)


def train(
    config: Annotated[Path, typer.Option("--config", help="The training config (YAML).", show_default=False)],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="key=value overrides, e.g. stages.0.lr=3e-4 seed=1", show_default=False),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="key=value override (repeatable); same as a positional one.")
    ] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", help="Where the run writes (overrides output_dir).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in the output directory from its last checkpoint.")] = False,
    until: Annotated[str | None, typer.Option("--until", help="Stop after this stage (a later --resume goes on).", show_default=False)] = None,
) -> None:
    """Fine-tune a vision-language model stage by stage in LlamaV-o1's four-turn format."""
    # The training stack (peft, datasets, accelerate behind it) loads for this command only.
    from llamav.train import ConfigError, TrainError, load_config
    from llamav.train import train as run

    try:
        settings = load_config(config, [*(overrides or []), *(set_ or [])])
        folders = run(settings, output_dir=output_dir, resume=resume, until=until, report=lambda line: console.print(line, highlight=False, markup=False, emoji=False))
    except (ConfigError, TrainError) as exc:
        raise fail(console, str(exc)) from None
    except KeyboardInterrupt:
        say(console, "interrupted: the same command with --resume continues from the last checkpoint")
        raise typer.Exit(130) from None
    say(console, f"done: {len(folders)} stage(s); final model in {folders[-1]}")
