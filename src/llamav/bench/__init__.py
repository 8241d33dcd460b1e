"""The benchmark layer: naming a source, loading it into Samples, and the built-in vrc-synth."""

from llamav.bench.sources import Benchmark, SourceError, SourceSpec, load_rows, load_source, parse_source
from llamav.bench.vrc import CATEGORIES, SampleError, parse_choices

__all__ = [
    "CATEGORIES",
    "Benchmark",
    "SampleError",
    "SourceError",
    "SourceSpec",
    "load_rows",
    "load_source",
    "parse_choices",
    "parse_source",
]
