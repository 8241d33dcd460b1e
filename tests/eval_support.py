"""What several evaluation tests share: results and sample lines without what measures this
machine's speed or one invocation, and the rows a running store holds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def timeless(results: dict) -> dict:
    """results.json without what measures this machine's speed or this invocation."""
    results = json.loads(json.dumps(results))
    results["cost"].pop("this_invocation")
    results["cost"]["generation"].pop("seconds")
    results["cost"]["generation"]["per_sample"].pop("seconds")
    return results


def timeless_samples(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        if line.get("prediction"):
            line["prediction"]["cost"].pop("wall_seconds")
    return lines


def store_rows(store: Path, table: str) -> int:
    """Rows of a store's table as another process commits them (0 while the tables are not made yet),
    read without ever writing the store."""
    try:
        return sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5).execute(
            f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
