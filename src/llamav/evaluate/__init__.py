"""Evaluation as a library: a run config, an append-only SQLite store, and the loop between them.

    config = RunConfig(model="tiny-random", bench="vrc-synth?size=8", metrics=["answer", "roscoe"])
    with Store("runs/llamav.db") as store:
        generated = generate_missing(store, generation_key(config), samples, lambda: load_reasoner(config))
        scored = score_missing(store, samples, generated.predictions, config.metrics, config, score_config)

`llamav generate`, `llamav score` and `llamav eval` are thin callers of this package.
"""

from llamav.evaluate._config import RunConfig, check_backend, default_model, digest, model_identity, parse_kv, public_options
from llamav.evaluate._loop import (
    Generated,
    Scored,
    foreign_chains,
    generate_missing,
    generation_key,
    load_reasoner,
    reasoner_settings,
    score_missing,
    scorer_hash,
)
from llamav.evaluate._evaluation import Evaluation, EvaluationError, Progress, evaluate
from llamav.evaluate._leaderboard import (
    AS_REPORTED,
    COLUMNS,
    PAPER_CATEGORIES,
    PAPER_VRC,
    LeaderboardError,
    leaderboard,
    render_html,
    render_markdown,
)
from llamav.evaluate._predictions import read_predictions, read_resumable, write_lines_atomically
from llamav.evaluate._results import (
    RunDirError,
    build_results,
    check_run_dir,
    report_markdown,
    sample_lines,
    write_run,
)
from llamav.evaluate._store import (
    DEFAULT_STORE,
    GenerationKey,
    Store,
    default_store_path,
    prediction_hash,
    reference_digest,
    sample_digest,
)

__all__ = [
    "AS_REPORTED",
    "COLUMNS",
    "PAPER_CATEGORIES",
    "PAPER_VRC",
    "LeaderboardError",
    "leaderboard",
    "render_html",
    "render_markdown",
    "Evaluation",
    "EvaluationError",
    "Progress",
    "RunDirError",
    "build_results",
    "check_run_dir",
    "default_model",
    "evaluate",
    "report_markdown",
    "sample_lines",
    "write_run",
    "DEFAULT_STORE",
    "Generated",
    "GenerationKey",
    "RunConfig",
    "Scored",
    "Store",
    "check_backend",
    "default_store_path",
    "digest",
    "foreign_chains",
    "generate_missing",
    "generation_key",
    "load_reasoner",
    "model_identity",
    "parse_kv",
    "prediction_hash",
    "public_options",
    "read_predictions",
    "read_resumable",
    "reasoner_settings",
    "reference_digest",
    "sample_digest",
    "score_missing",
    "scorer_hash",
    "write_lines_atomically",
]
