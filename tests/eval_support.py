"""What several evaluation tests compare: results and sample lines without what measures this
machine's speed or one invocation."""

from __future__ import annotations

import json
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
