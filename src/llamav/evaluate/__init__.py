"""Evaluation as a library: one run from a config to its results, resumable at any point.

    config = RunConfig.resolve(flags={"bench": "vrc-synth?size=8"})   # what `llamav eval` runs
    with Store("runs/llamav.db") as store:
        evaluation = evaluate(config, store)
    results, problems = write_run(evaluation, Path("runs/mine"))      # results.json, reports
    results.answer.mean

The package, by job (a newcomer finds each from its file name):

- `config`   RunConfig and every default of a run (`RunConfig.resolve(file, flags)`);
- `keys`     every digest: run hash, model identity, sample/reference digests, store keys;
- `store`    the append-only SQLite store of predictions and scores;
- `run`      the run loop: plan, generate, score (and `evaluate`, the whole of it);
- `execution` / `ranks`   how batches are decoded: in process, threads, processes, torchrun;
- `results`  RunResults, the one typed record every renderer reads;
- `report/`  its renderers: console, markdown, html, leaderboard (and the paired comparison);
- `rundir`   the run directory: checks and atomic writes;
- `files`    the two halves on files: `generate_file`, `score_file`.

The CLI only parses and prints: `llamav eval` is `evaluate(RunConfig.resolve(...))`, `llamav
generate --bench` is `generate_file`, `llamav score` is `score_file`.
"""

from llamav.evaluate.config import (
    DEFAULT_BENCH,
    DEFAULT_METRICS,
    EvaluationError,
    RunConfig,
    default_model,
    parse_kv,
    public_options,
)
from llamav.evaluate.files import GeneratedFile, ScoredFile, generate_file, read_predictions, read_resumable, score_file
from llamav.evaluate.keys import GenerationKey, model_identity, prediction_hash, reference_digest, sample_digest
from llamav.evaluate.report.leaderboard import AS_REPORTED, LeaderboardError, leaderboard
from llamav.evaluate.results import RunResults, build_results
from llamav.evaluate.rundir import RunDirError, check_run_dir, default_run_dir, write_atomically, write_run
from llamav.evaluate.run import (
    Evaluation,
    Generated,
    Progress,
    Scored,
    evaluate,
    foreign_chains,
    generate_missing,
    load_reasoner,
    load_samples,
    score_missing,
)
from llamav.evaluate.store import DEFAULT_STORE, Store, StoreError, default_store_path

__all__ = [
    "AS_REPORTED",
    "DEFAULT_BENCH",
    "DEFAULT_METRICS",
    "DEFAULT_STORE",
    "Evaluation",
    "EvaluationError",
    "Generated",
    "GeneratedFile",
    "GenerationKey",
    "LeaderboardError",
    "Progress",
    "RunConfig",
    "RunDirError",
    "RunResults",
    "Scored",
    "ScoredFile",
    "Store",
    "StoreError",
    "build_results",
    "check_run_dir",
    "default_model",
    "default_run_dir",
    "default_store_path",
    "evaluate",
    "foreign_chains",
    "generate_file",
    "generate_missing",
    "leaderboard",
    "load_reasoner",
    "load_samples",
    "model_identity",
    "parse_kv",
    "prediction_hash",
    "public_options",
    "read_predictions",
    "read_resumable",
    "reference_digest",
    "sample_digest",
    "score_file",
    "score_missing",
    "write_atomically",
    "write_run",
]
