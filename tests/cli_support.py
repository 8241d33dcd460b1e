"""llamav's CLI run in-process the way a user meets it: a mistake or a bad file must end in a line
and an exit code, never a traceback, so every call checks that before the test looks further."""

from __future__ import annotations

from typer.testing import CliRunner

from llamav.cli import app


def run_cli(*args: str, columns: int | None = None):
    # columns: a wide terminal keeps rich's table cells unclipped for tests that read them.
    env = {"COLUMNS": str(columns)} if columns else None
    result = CliRunner(env=env).invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_line(result) -> str:
    """The one non-blank line the command printed."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]
