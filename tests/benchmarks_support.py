"""The scripts of benchmarks/ and experiments/ as modules (they are scripts, not packages), for tests
of their parts."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
LLAMAV_TINY_EXPERIMENTS = ROOT / "experiments" / "llamav-tiny"


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tiny_experiment(name: str):
    """A script of experiments/llamav-tiny/, imported as its siblings import each other (the
    folder on the path), so that the lookup drill they share registers its format once."""
    if str(LLAMAV_TINY_EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(LLAMAV_TINY_EXPERIMENTS))
    return importlib.import_module(name)
