"""`llamav author init`: a project folder made from any SOURCE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from llamav.author.project import DB_NAME, Project, ProjectError
from llamav.bench import CATEGORIES, load_source


@dataclass(frozen=True)
class Created:
    folder: Path
    samples: int
    skipped: int
    categories: list[str]


def read_categories(path: str | Path) -> list[str]:
    """A project's categories from a JSON list or a text file of one name a line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"categories {path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix == ".json":
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProjectError(f"categories {path}: not JSON ({exc})") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProjectError(f"categories {path}: expected a JSON list of names")
    else:
        names = text.splitlines()
    names = [n.strip() for n in names if n.strip()]
    if len(set(names)) != len(names) or not names:
        raise ProjectError(f"categories {path}: give at least one name, each once")
    return names


def init_project(source: str, out: str | Path, *, categories: list[str] | None = None, limit: int | None = None,
                 allow_outside_paths: bool = False) -> Created:
    """Load SOURCE (with or without reference steps) into a new project folder. A folder that
    already holds a project is refused: its drafts and edits are never replaced."""
    out = Path(out)
    if (out / DB_NAME).exists():
        # a project file without samples is what an init that failed halfway leaves: made again
        with Project(out) as existing:
            if existing.sample_ids():
                raise ProjectError(f"{out} already holds a project; pick another --out")
    benchmark = load_source(source, limit=limit, allow_outside_paths=allow_outside_paths)
    if not benchmark.samples:
        raise ProjectError(f"{source}: no usable samples ({len(benchmark.skipped)} rows skipped)")
    names = list(categories or CATEGORIES)
    with Project(out, create=True) as project:
        count = project.add_samples(benchmark.samples, meta={"source": source, "categories": names})
    return Created(out, count, len(benchmark.skipped), names)
