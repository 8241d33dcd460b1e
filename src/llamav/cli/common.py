"""What every command prints the same way: errors, plain lines, and the exit codes.

Text from a benchmark, a model or a file name is data: it is printed with control characters made
visible (`llamav.terminal.visible`) and never read as rich markup.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from llamav.models import ModelLoadError
from llamav.terminal import visible

EXIT_BAD_INPUT = 2

# The errors a backend raises when a model cannot be built, named once.
LOAD_ERRORS: tuple[type[BaseException], ...] = (ModelLoadError, OSError)


def say(console: Console, text: str) -> None:
    """One plain line: no markup, no highlighting, control characters shown."""
    console.print(Text(visible(text)), highlight=False)


def fail(console: Console, message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print `error: message` in one line and return the Exit to raise."""
    console.print(Text("error: ", style="red").append(visible(message)), highlight=False)
    return typer.Exit(code)
