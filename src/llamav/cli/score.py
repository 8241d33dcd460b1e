"""`llamav score`, `llamav judge-agreement`, `llamav metric-check` (being written)."""

import typer


def register(app: typer.Typer) -> None:
    pass
