"""One evaluation, start to finish: benchmark -> predictions -> scores (and their floors).

    evaluation = evaluate(RunConfig(model="tiny-random", bench="vrc-synth?size=8"), "runs/llamav.db")
    results = build_results(evaluation)

Everything expensive goes through the store, so calling `evaluate` again with the same config
reads everything back and makes no model call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path

from llamav.evaluate._config import STEP_METRICS, RunConfig
from llamav.evaluate._loop import (
    Generated,
    Scored,
    foreign_chains,
    generate_missing,
    generation_key,
    load_reasoner,
    reasoner_settings,
    score_missing,
)
from llamav.evaluate._store import GenerationKey, Store
from llamav.records import Prediction, Sample, SkippedSample


# Backends whose calls are HTTP requests: --workers K runs K concurrent calls in threads.
API_BACKENDS = ("openai",)


class EvaluationError(ValueError):
    """The evaluation cannot start: a bad benchmark, an unknown category or metric, ..."""


@dataclass
class Progress:
    """Hooks a front end can attach (all optional): totals first, then advances."""

    start: Callable[[str, int], None] = lambda task, total: None
    advance: Callable[[str, int], None] = lambda task, n: None


@dataclass
class Evaluation:
    config: RunConfig
    key: GenerationKey
    samples: list[Sample]
    skipped: list[SkippedSample]
    generated: Generated
    scored: Scored
    floors: Scored | None
    floor_chains: dict[str, Prediction] = field(default_factory=dict)
    seconds: float = 0.0  # this invocation, wall clock
    judge_spend: dict[str, float] = field(default_factory=dict)  # this invocation's judge calls and tokens
    judge_history: list[dict[str, float]] = field(default_factory=list)  # every invocation's, this one included

    @property
    def predictions(self) -> dict[str, Prediction]:
        return self.generated.predictions


def load_samples(config: RunConfig) -> tuple[list[Sample], list[SkippedSample]]:
    from llamav.bench import SourceError, load_source

    try:
        benchmark = load_source(config.bench, limit=config.limit, category_map=config.category_map,
                                allow_outside_paths=config.allow_outside_paths)
    except (SourceError, OSError, ValueError) as exc:
        raise EvaluationError(f"--bench {config.bench}: {exc or type(exc).__name__}") from None
    samples = benchmark.samples
    if config.categories:
        known = sorted({s.category for s in samples})
        unknown = [c for c in config.categories if c not in known]
        if unknown:
            raise EvaluationError(f"--categories: {unknown} not in {config.bench}; its categories: {', '.join(known)}")
        samples = [s for s in samples if s.category in config.categories]
    if not samples:
        reasons = "; ".join(f"row {s.row}: {s.reason}" for s in benchmark.skipped[:3])
        raise EvaluationError(f"--bench {config.bench}: no usable samples" + (f" ({reasons})" if reasons else ""))
    return samples, benchmark.skipped


def check(config: RunConfig) -> None:
    """Fail fast, before any sample is loaded or model built."""
    from llamav.evaluate._config import check_backend
    from llamav.metrics import SCORERS

    unknown = [m for m in config.metrics if m not in SCORERS]
    if unknown or not config.metrics:
        raise EvaluationError(f"unknown metric(s) {unknown}; known: {', '.join(SCORERS.names())}")
    if "judge" in config.metrics and config.judge is None:
        raise EvaluationError("--metric judge needs --judge MODEL")
    try:
        reasoner_settings(config)
        check_backend(config.model)
        if config.judge:
            check_backend(config.judge)
    except KeyError as exc:
        raise EvaluationError(exc.args[0] if exc.args else str(exc)) from None
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None


class _MeteredModel:
    """A judge model that counts what it is asked (calls, tokens, seconds) for the cost section."""

    def __init__(self, model, spend: dict[str, float]) -> None:
        import threading

        self._model = model
        self._spend = spend
        self._lock = threading.Lock()
        self.name = model.name
        self.concurrent_calls = getattr(model, "concurrent_calls", False)
        # The judge cache keys verdicts by the endpoint behind the name: pass the inner model's on.
        from llamav.metrics import endpoint_identity

        self.endpoint = endpoint_identity(model)

    def generate(self, messages, image, params):
        completion = self._model.generate(messages, image, params)
        with self._lock:
            for field_name, value in (("model_calls", completion.model_calls), ("prompt_tokens", completion.prompt_tokens),
                                      ("generated_tokens", completion.generated_tokens),
                                      ("seconds", completion.wall_seconds)):
                self._spend[field_name] = self._spend.get(field_name, 0) + value
        return completion


def score_config(config: RunConfig, spend: dict[str, float]):
    from llamav.metrics import JudgeCache, LLMJudge, ScoreConfig, default_cache_path

    judge = None
    if config.judge is not None:
        def build_judge():
            from llamav.models import load_model

            return LLMJudge(_MeteredModel(load_model(config.judge, **config.judge_args), spend),
                            cache=JudgeCache(default_cache_path()), seed=config.seed)

        judge = _LazyJudge(build_judge)
    return ScoreConfig(
        judge=judge, judge_samples=config.judge_samples, judge_concurrency=config.judge_concurrency, seed=config.seed,
        cache=default_cache_path(), embedding_model=config.embedding_model, rel_tol=config.rel_tol,
        roscoe_source=config.roscoe_source, judge_sees_image=config.judge_sees_image,
    )


class _LazyJudge:
    """Builds the judge on first use: a rerun whose scores are all stored never loads it."""

    def __init__(self, build) -> None:
        self._build = build
        self._judge = None

    def __getattr__(self, name):
        if self._judge is None:
            self._judge = self._build()
        return getattr(self._judge, name)


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op threads set to `threads` for the block, then put back (None: unchanged)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _score(config: RunConfig, store: Store, samples: list[Sample], generated: Generated, progress: Progress):
    """Scores of the predictions, then the foreign-chain floors of the steps metrics."""
    from llamav.metrics import build_scorers

    spend: dict[str, float] = {}
    # Built once: the floor is scored by the same scorers, so the embedder loads once.
    scoring = dict(zip(config.metrics, build_scorers(config.metrics, score_config(config, spend))))
    for metric in config.metrics:
        progress.start(f"scoring {metric}", len(samples))
    scored = score_missing(store, samples, generated.predictions, config.metrics, config, scoring,
                           on_done=lambda m, n: progress.advance(f"scoring {m}", n))
    floors, chains = None, {}
    step_metrics = [m for m in config.metrics if m in STEP_METRICS]
    if config.floor and step_metrics:
        chains = foreign_chains(samples, config.seed)
    if chains:
        with_floor = [s for s in samples if s.id in chains]
        for metric in step_metrics:
            progress.start(f"floor {metric}", len(with_floor))
        floors = score_missing(store, with_floor, chains, step_metrics, config, scoring,
                               on_done=lambda m, n: progress.advance(f"floor {m}", n))
    return scored, floors, chains, spend


def evaluate(config: RunConfig, store: Store | str | Path, progress: Progress | None = None) -> Evaluation:
    check(config)
    progress = progress or Progress()
    started = time.perf_counter()
    samples, skipped = load_samples(config)
    owned = not isinstance(store, Store)
    store = Store(store) if owned else store
    try:
        key = generation_key(config)
        progress.start("reasoning", len(samples))
        with torch_threads(config.run_threads()):
            generated = generate_missing(
                store, key, samples, partial(load_reasoner, config), batch_size=config.batch_size,
                retry_failed=config.retry_failed, workers=config.run_workers(),
                threads=config.run_threads(), concurrent_calls=config.model.partition(":")[0] in API_BACKENDS,
                on_done=lambda n: progress.advance("reasoning", n),
            )
            scored, floors, chains, spend = _score(config, store, samples, generated, progress)
        if spend:
            store.add_spend(config.run_hash(), "judge", spend)
        history = store.spend(config.run_hash(), "judge")
    finally:
        if owned:
            store.close()
    return Evaluation(
        config=config, key=key, samples=samples, skipped=skipped, generated=generated, scored=scored,
        floors=floors, floor_chains=chains, seconds=time.perf_counter() - started, judge_spend=spend,
        judge_history=history,
    )
