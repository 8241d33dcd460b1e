"""One evaluation, start to finish, in one loop: plan, generate, score.

    evaluation = evaluate(RunConfig.resolve(flags={"bench": "vrc-synth?size=8"}), "runs/llamav.db")
    write_run(evaluation, Path("runs/mine"))

1. Plan: load the benchmark, select samples, key every prediction (`keys`).
2. Generate: read what the store has; claim what it lacks (what another process is making is
   waited for and read instead); make the claimed samples batch by batch through an executor
   (`execution`), committing each batch as it finishes. The model is loaded only when something
   is missing, so a rerun of a finished evaluation loads nothing and calls nothing.
3. Score: the same for every metric, then for the foreign-chain floors of the chain metrics.

Everything expensive goes through the store; calling `evaluate` again with the same config reads
everything back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from llamav.bench import SourceError, load_source
from llamav.evaluate import ranks
from llamav.evaluate.config import CHAIN_METRICS, EvaluationError, RunConfig
from llamav.evaluate.execution import Executor, InProcess, MakeReasoner, executor_for
from llamav.evaluate.keys import GenerationKey, prediction_hash, score_key, scorer_hash
from llamav.evaluate.store import Store, StoreError
from llamav.metrics import JudgeCache, LLMJudge, ScoreConfig, build_scorers, default_cache_path
from llamav.models import MeteredModel, load_model
from llamav.reasoning import Reasoner
from llamav.records import Cost, Prediction, Sample, Score, SkippedSample

# Scores of this many samples are computed and committed together: big enough for ROSCOE-SA to
# embed in full batches, small enough that a crash costs seconds.
SCORE_CHUNK = 32

# How often a run waiting for predictions another process is making looks at the store again.
CLAIM_POLL_SECONDS = 1.0


@dataclass
class Progress:
    """Hooks a front end can attach (all optional): totals first, then advances."""

    start: Callable[[str, int], None] = lambda task, total: None
    advance: Callable[[str, int], None] = lambda task, n: None


@dataclass
class Generated:
    predictions: dict[str, Prediction]  # sample id -> prediction (failed ones included)
    made: int = 0  # predictions made by this call (the rest came from the store)
    cost: Cost = field(default_factory=Cost)  # what this call spent


@dataclass
class Scored:
    scores: dict[str, dict[str, Score]]  # metric -> sample id -> score
    made: int = 0  # scores computed by this call


@dataclass
class Evaluation:
    """Everything one `evaluate` call knows; `results.build_results` turns it into RunResults."""

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


# -- 1. plan -------------------------------------------------------------------------------------


def load_samples(config: RunConfig) -> tuple[list[Sample], list[SkippedSample]]:
    """The run's samples (after --limit and --categories) and the rows that could not be read."""
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


def reasoner_settings(config: RunConfig) -> Reasoner:
    """A Reasoner without a model: checks the decoding settings before anything is loaded (a typo
    fails in a second, not after the weights)."""
    try:
        return Reasoner(None, **config.decode_settings())
    except (KeyError, ValueError) as exc:
        raise EvaluationError(exc.args[0] if exc.args else str(exc)) from None


def load_reasoner(config: RunConfig) -> Reasoner:
    """The model behind the run's decoding settings. Module-level, so that `partial(load_reasoner,
    config)` can be sent to worker processes."""
    return replace(reasoner_settings(config), model=load_model(config.model, **config.model_args))


# -- 2. generate ---------------------------------------------------------------------------------


def generate_missing(
    store: Store,
    key: GenerationKey,
    samples: Sequence[Sample],
    make_reasoner: MakeReasoner,
    *,
    batch_size: int = 1,
    retry_failed: bool = False,
    workers: int = 1,
    threads: int | None = None,
    concurrent_calls: bool = False,
    on_done: Callable[[int], None] | None = None,
) -> Generated:
    """Every sample's prediction: from the store where it has one, made (and committed batch by
    batch) where it does not. Failed predictions are kept as they are unless `retry_failed`.
    `workers`, `threads` and `concurrent_calls` pick the executor (`execution.executor_for`).

    The store is a work queue shared with any other process running on it: the missing
    predictions are claimed first, and those another live process has claimed are waited for and
    read, not made again (taken over if that process dies or gives them up)."""
    attempts = store.attempts(key, samples)  # first: a row added after this was made by someone else
    have = store.predictions(key, samples)
    todo = [s for s in samples if s.id not in have or (retry_failed and have[s.id].error)]
    if on_done is not None:
        on_done(len(samples) - len(todo))
    result = Generated(predictions={s.id: have[s.id] for s in samples if s.id in have})
    make = partial(_make, store, key, make_reasoner, result, batch_size=batch_size, workers=workers,
                   threads=threads, concurrent_calls=concurrent_calls, on_done=on_done)
    claimed = store.claim(key, todo, attempts)
    make(claimed.mine, later=False)
    while claimed.held or claimed.done:
        if claimed.done:
            found = store.predictions(key, claimed.done)
            result.predictions.update((s.id, found[s.id]) for s in claimed.done)
            if on_done is not None:
                on_done(len(claimed.done))
        if claimed.held:
            time.sleep(CLAIM_POLL_SECONDS)
        claimed = store.claim(key, claimed.held, attempts)
        if claimed.mine:  # given up or left by a dead process: this one makes them
            make(claimed.mine, later=True)
    return result


def _make(
    store: Store, key: GenerationKey, make_reasoner: MakeReasoner, result: Generated, samples: list[Sample], *,
    later: bool, batch_size: int, workers: int, threads: int | None, concurrent_calls: bool,
    on_done: Callable[[int], None] | None,
) -> None:
    """Make the predictions of `samples` (claimed by this process), committing batch by batch;
    the claims of any not made (an error, Ctrl-C) are given back. The first call runs even with
    nothing to make: under torchrun that is how the other ranks hear the plan. They hear it once,
    so a `later` call (samples taken over from another process) is made by rank 0 alone."""
    todo = list(samples)
    if batch_size > 1:
        # A batched call lasts as long as its longest answer. Questions of one category and of
        # similar length tend to get answers of similar length, so batching them together keeps a
        # short answer from waiting on a long one (docs/performance.md measures it).
        todo.sort(key=lambda s: (s.category or "", len(s.question), s.id))
    groups = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    if later and ranks.active():
        executor: Executor = InProcess()
    else:
        executor = executor_for(workers, threads, concurrent_calls, len(groups))
    made_ids: set[str] = set()
    try:
        for group, made in executor.run(groups, make_reasoner):
            store.add_predictions(key, list(zip(group, made)))
            for sample, prediction in zip(group, made):
                result.predictions[sample.id] = prediction
                result.cost = result.cost + prediction.cost
                result.made += 1
                made_ids.add(sample.id)
            if on_done is not None:
                on_done(len(group))
    finally:
        left = [s for s in todo if s.id not in made_ids]
        with suppress(StoreError):  # the store failing is what is being reported; the claims die with us
            store.release(key, left)


# -- 3. score ------------------------------------------------------------------------------------


def score_missing(
    store: Store,
    samples: Sequence[Sample],
    predictions: dict[str, Prediction | None],
    metrics: Sequence[str],
    config: RunConfig,
    scorers: ScoreConfig | dict[str, Any],
    *,
    on_done: Callable[[str, int], None] | None = None,
) -> Scored:
    """One Score per sample and metric. A sample without a usable prediction gets its failure
    Score from the scorer (never stored: it follows from the prediction); the others are read from
    the store or computed chunk by chunk and committed.

    `scorers`: a ScoreConfig (the scorers are built from it), or the built scorers by metric name,
    to share them (and their loaded models) between calls."""
    if isinstance(scorers, ScoreConfig):
        scorers = dict(zip(metrics, build_scorers(metrics, scorers)))
    result = Scored(scores={})
    for metric in metrics:
        scorer = scorers[metric]
        hashed = scorer_hash(metric, config)
        usable = [s for s in samples if predictions.get(s.id) is not None and not predictions[s.id].error]
        digests = {s.id: prediction_hash(predictions[s.id]) for s in usable}
        have = store.scores(hashed, [(s, digests[s.id]) for s in usable])
        by_id: dict[str, Score] = {}
        todo = []
        for sample in usable:
            stored = have.get(score_key(hashed, digests[sample.id], sample))
            if stored is None or (config.retry_failed and stored.error):
                todo.append(sample)
            else:
                by_id[sample.id] = stored
        unusable = [s for s in samples if s.id not in digests]
        if unusable:
            for sample, score in zip(unusable, scorer.score([(s, predictions.get(s.id)) for s in unusable])):
                by_id[sample.id] = score
        if on_done is not None:
            on_done(metric, len(samples) - len(todo))
        # A judge commits after every `judge_concurrency` samples: its calls are the costly ones.
        size = config.judge_concurrency if metric == "judge" else SCORE_CHUNK
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            made = scorer.score([(s, predictions[s.id]) for s in chunk])
            store.add_scores(hashed, [(s, digests[s.id], score) for s, score in zip(chunk, made)])
            for sample, score in zip(chunk, made):
                by_id[sample.id] = score
            result.made += len(chunk)
            if on_done is not None:
                on_done(metric, len(chunk))
        result.scores[metric] = {s.id: by_id[s.id] for s in samples}
    return result


def foreign_chains(samples: Sequence[Sample], seed: int = 0) -> dict[str, Prediction]:
    """For each sample, another sample's reference chain from the same category, posing as its
    response. Scored like a prediction, it gives the floor of a chain metric: what a fluent chain
    about a different problem of the same kind already earns. Samples are put in a seeded order
    within each category and each takes the next one's chain; a category of one has no floor."""
    by_category: dict[str, list[Sample]] = {}
    for sample in samples:
        by_category.setdefault(sample.category, []).append(sample)
    floors: dict[str, Prediction] = {}
    for members in by_category.values():
        if len(members) < 2:
            continue
        order = sorted(members, key=lambda s: s.id)
        random.Random(f"{seed}:foreign").shuffle(order)
        for i, sample in enumerate(order):
            other = order[(i + 1) % len(order)]
            floors[sample.id] = Prediction(
                sample_id=sample.id, model="foreign-chain", protocol="reference", strategy="foreign-chain",
                seed=seed, steps=list(other.steps), final_answer=other.final_answer, params={"chain_of": other.id},
            )
    return floors


class _LazyJudge:
    """Builds the judge on first use: a rerun whose scores are all stored never loads it."""

    def __init__(self, build: Callable[[], LLMJudge]) -> None:
        self._build = build
        self._judge: LLMJudge | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._judge is None:
                self._judge = self._build()
        return getattr(self._judge, name)


def score_config(
    config: RunConfig, metered: list[MeteredModel] | None = None, judge_cache: str | Path | None | bool = True,
) -> ScoreConfig:
    """The scorers' settings for a run. A judge, when there is one, is built on first use and
    metered (the built model is appended to `metered`). `judge_cache`: True for the default verdict
    cache, a path for another, False or None to keep no verdicts."""
    cache = default_cache_path() if judge_cache is True else (judge_cache or None)
    judge = None
    if config.judge is not None:
        def build_judge() -> LLMJudge:
            model = MeteredModel(load_model(config.judge, **config.judge_args))
            if metered is not None:
                metered.append(model)
            return LLMJudge(model, cache=JudgeCache(cache), seed=config.seed)

        judge = _LazyJudge(build_judge)
    return ScoreConfig(
        judge=judge, judge_samples=config.judge_samples, judge_concurrency=config.judge_concurrency, seed=config.seed,
        cache=cache, embedding_model=config.embedding_model, rel_tol=config.rel_tol,
        roscoe_source=config.roscoe_source, judge_sees_image=config.judge_sees_image,
    )


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op threads set to `threads` for the block, then put back (None: unchanged)."""
    if threads is None:
        yield
        return
    import torch  # only when the run sets threads (the tiny models, or --threads)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- the whole run -------------------------------------------------------------------------------


def evaluate(config: RunConfig, store: Store | str | Path, progress: Progress | None = None) -> Evaluation:
    """Plan, generate, score. Everything made is committed to `store` as it is made."""
    config.check()
    reasoner_settings(config)
    progress = progress or Progress()
    started = time.perf_counter()
    samples, skipped = load_samples(config)
    owned = not isinstance(store, Store)
    store = Store(store) if owned else store
    try:
        key = GenerationKey.of(config)
        progress.start("reasoning", len(samples))
        with torch_threads(config.run_threads()):
            generated = generate_missing(
                store, key, samples, partial(load_reasoner, config), batch_size=config.batch_size,
                retry_failed=config.retry_failed, workers=config.run_workers(), threads=config.run_threads(),
                concurrent_calls=config.concurrent_calls, on_done=lambda n: progress.advance("reasoning", n),
            )
            metered: list[MeteredModel] = []
            # Built once: the floors are scored by the same scorers, so the embedder loads once.
            scorers = dict(zip(config.metrics, build_scorers(config.metrics, score_config(config, metered))))
            for metric in config.metrics:
                progress.start(f"scoring {metric}", len(samples))
            scored = score_missing(store, samples, generated.predictions, config.metrics, config, scorers,
                                   on_done=lambda m, n: progress.advance(f"scoring {m}", n))
            floors, chains = None, {}
            chain_metrics = [m for m in config.metrics if m in CHAIN_METRICS]
            if config.floor and chain_metrics:
                chains = foreign_chains(samples, config.seed)
            if chains:
                with_floor = [s for s in samples if s.id in chains]
                for metric in chain_metrics:
                    progress.start(f"floor {metric}", len(with_floor))
                floors = score_missing(store, with_floor, chains, chain_metrics, config, scorers,
                                       on_done=lambda m, n: progress.advance(f"floor {m}", n))
        spend = _total_spend(metered)
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


def _total_spend(metered: list[MeteredModel]) -> dict[str, float]:
    total: dict[str, float] = {}
    for model in metered:
        for name, value in model.spend().items():
            total[name] = total.get(name, 0) + value
    return total
