"""llamav: step-by-step visual reasoning. VRC-Bench, a step-level metric, and the LlamaV-o1 recipe."""

from llamav.bench import Benchmark, load_source
from llamav.records import Cost, Prediction, Sample, Score, SkippedSample, Turn

__all__ = [
    "Benchmark",
    "Cost",
    "Prediction",
    "Sample",
    "Score",
    "SkippedSample",
    "Turn",
    "load_source",
]
__version__ = "0.1.0"
