"""The `llamav` command: thin. Each command parses its options, builds a config, calls the library.

Each command group lives in its own module and adds itself to the app through `register(app)`.
Heavy imports (torch, transformers) happen inside commands, so `llamav --help` stays fast.
"""

from __future__ import annotations

import typer

from llamav.cli import author, bench, eval, generate, report, score, serve, train

app = typer.Typer(
    name="llamav",
    help="Step-by-step visual reasoning: VRC-Bench, step-level metrics, LlamaV-o1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (bench, generate, score, eval, report, serve, train, author):
    module.register(app)


def main() -> None:
    app()
