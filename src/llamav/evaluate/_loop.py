"""The run loop: make what the store lacks, read back what it has.

    predictions = generate_missing(store, key, samples, reasoner_factory, batch_size=8)
    scores = score_missing(store, samples, predictions, ["answer", "roscoe"], score_config)

Generation goes through `Reasoner.batch`; scoring through the scorers registered in
`llamav.metrics`. Each batch is committed as soon as it is done. The model is loaded only when
something is missing, so a rerun of a finished evaluation loads nothing and calls nothing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from llamav.evaluate._config import RunConfig, digest, model_identity, semantic_options
from llamav.evaluate._store import GenerationKey, Store, prediction_hash, score_key
from llamav.records import Cost, Prediction, Sample, Score

Hook = Callable[[int], None]

# Scores of this many samples are computed and committed together: big enough for ROSCOE-SA to
# embed in full batches, small enough that a crash costs seconds.
SCORE_CHUNK = 32


# -- generation --------------------------------------------------------------------------------


def reasoner_settings(config: RunConfig):
    """A Reasoner without a model: checks protocol, strategy and decoding settings before anything
    is loaded (a typo fails in a second, not after the weights)."""
    from llamav.reasoning import Reasoner

    return Reasoner(None, **config.decode_settings())


def generation_key(config: RunConfig) -> GenerationKey:
    return GenerationKey(
        model_identity=model_identity(config.model, config.model_args),
        generation_hash=config.generation_hash(),
        protocol=config.protocol,
        strategy=config.strategy,
        seed=config.seed,
    )


def load_reasoner(config: RunConfig):
    from llamav.models import load_model

    model = load_model(config.model, **config.model_args)
    return dataclasses.replace(reasoner_settings(config), model=model)


@dataclass
class Generated:
    predictions: dict[str, Prediction]  # sample id -> prediction (failed ones included)
    made: int = 0  # predictions made by this call (the rest came from the store)
    cost: Cost = field(default_factory=Cost)  # what this call spent


def generate_missing(
    store: Store,
    key: GenerationKey,
    samples: Sequence[Sample],
    make_reasoner: Callable[[], Any],
    *,
    batch_size: int = 1,
    retry_failed: bool = False,
    workers: int = 1,
    threads: int | None = None,
    concurrent_calls: bool = False,
    on_done: Hook | None = None,
) -> Generated:
    """Every sample's prediction: from the store where it has one, made (and committed batch by
    batch) where it does not. Failed predictions are kept as they are unless `retry_failed`.

    With `workers` > 1 the missing batches are shared among that many processes, each with its own
    copy of the model (`make_reasoner` must then be picklable, e.g. `partial(load_reasoner,
    config)`). Workers only return predictions; this process alone writes the store. A batch is
    made of the same samples whichever process runs it, and every call's seed is fixed by the run's
    seed and the call's place, so the predictions equal a single process's. A backend that takes
    concurrent calls (an API: `concurrent_calls`) gets `workers` threads in this process instead:
    for a served model, concurrency is the lever, and a process per worker would buy nothing.
    Under torchrun / accelerate launch (`_ranks`), the ranks share the batches instead."""
    have = store.predictions(key, samples)
    todo = [s for s in samples if s.id not in have or (retry_failed and have[s.id].error)]
    if on_done is not None:
        on_done(len(samples) - len(todo))
    result = Generated(predictions={s.id: have[s.id] for s in samples if s.id in have})
    from llamav.evaluate import _ranks

    if not todo and not _ranks.active():  # under torchrun the other ranks still wait for the plan
        return result
    if batch_size > 1:
        # A batched call lasts as long as its longest answer. Questions of one category and of
        # similar length tend to get answers of similar length, so batching them together keeps a
        # short answer from waiting on a long one (docs/performance.md measures it).
        todo.sort(key=lambda s: (s.category or "", len(s.question), s.id))
    groups = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    if _ranks.active():
        made_groups = _ranks.lead(groups, make_reasoner)
    elif workers > 1 and len(groups) > 1 and concurrent_calls:
        made_groups = _in_threads(make_reasoner(), groups, workers)
    elif workers > 1 and len(groups) > 1:
        made_groups = _in_workers(make_reasoner, groups, workers, threads)
    else:
        reasoner = make_reasoner()
        made_groups = ((group, reasoner.batch(group)) for group in groups)
    for group, made in made_groups:
        store.add_predictions(key, list(zip(group, made)))
        _record(result, group, made)
        if on_done is not None:
            on_done(len(group))
    return result


_worker_state: dict[str, Any] = {}


def _worker_start(make_reasoner, threads: int, gpus: list[str]) -> None:
    import multiprocessing
    import os

    if gpus:
        # One GPU a worker, round robin, as data-parallel evaluators do: set before CUDA starts here.
        rank = multiprocessing.current_process()._identity[0] - 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[rank % len(gpus)]
    import torch

    torch.set_num_threads(threads)  # K processes share the cores instead of each taking them all
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the parent's bars, with ETA, are the only ones on screen
    _worker_state["make"] = make_reasoner


def _worker_batch(item: tuple[int, list[Sample]]) -> tuple[int, list[Prediction]]:
    # The model is built on the first batch, not in the initializer: an error there would make the
    # pool restart its workers forever, while an error here reaches the parent and ends the run.
    if "reasoner" not in _worker_state:
        _worker_state["reasoner"] = _worker_state["make"]()
    index, group = item
    return index, _worker_state["reasoner"].batch(group)


def _in_workers(make_reasoner, groups: list[list[Sample]], workers: int, threads: int | None = None):
    """Yield (group, predictions) as worker processes finish them. `spawn`, not `fork`: a forked
    copy of a process that has already started torch's threads can hang."""
    import multiprocessing
    import os

    import torch

    workers = min(workers, len(groups))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    gpus: list[str] = []
    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_worker_start, initargs=(make_reasoner, threads, gpus)) as pool:
        for index, made in pool.imap_unordered(_worker_batch, enumerate(groups)):
            yield groups[index], made


def _in_threads(reasoner, groups: list[list[Sample]], workers: int):
    """Yield (group, predictions) as `workers` threads finish them (one model, concurrent calls)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(reasoner.batch, group): group for group in groups}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _record(result: Generated, group: Sequence[Sample], made: Sequence[Prediction]) -> None:
    for sample, prediction in zip(group, made):
        result.predictions[sample.id] = prediction
        result.cost = result.cost + prediction.cost
        result.made += 1


# -- scoring -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def scoring_code_digest() -> str:
    """A digest of llamav's scoring code: a change to a rule or to ROSCOE-SA re-scores (the judge's
    verdicts still come from its own cache, so that costs no judge calls)."""
    import llamav.answer
    import llamav.metrics
    import llamav.text

    files = sorted(Path(llamav.metrics.__file__).parent.glob("*.py")) + [
        Path(llamav.text.__file__), Path(llamav.answer.__file__)
    ]
    return digest([[f.name, f.read_text(encoding="utf-8")] for f in files])


def scorer_hash(metric: str, config: RunConfig) -> str:
    """What decides a metric's score of a prediction, beyond the prediction and the reference."""
    from llamav.metrics import ANSWER_PROMPT_VERSION, DEFAULT_MODEL, STEP_PROMPT_VERSION

    judge = None
    if config.judge is not None:
        judge = {"model": model_identity(config.judge, config.judge_args), "args": semantic_options(config.judge_args),
                 "seed": config.seed, "sees_image": config.judge_sees_image}
    parts: dict[str, Any] = {"metric": metric, "code": scoring_code_digest()}
    if metric == "answer":
        parts |= {"rel_tol": config.rel_tol, "judge": judge, "prompt": ANSWER_PROMPT_VERSION if judge else None}
    elif metric == "roscoe":
        parts |= {"embedding_model": config.embedding_model or DEFAULT_MODEL, "source": config.roscoe_source}
    elif metric == "steps":
        from llamav.metrics import ScoreConfig

        parts |= {"embedding_model": config.embedding_model or DEFAULT_MODEL, "threshold": ScoreConfig().step_threshold}
    elif metric == "judge":
        parts |= {"judge": judge, "judge_samples": config.judge_samples, "prompt": STEP_PROMPT_VERSION}
    else:
        parts |= {"config": config.run_hash()}  # a scorer registered elsewhere: keyed by the whole run
    return digest(parts)


def foreign_chains(samples: Sequence[Sample], seed: int = 0) -> dict[str, Prediction]:
    """For each sample, another sample's reference chain from the same category, posing as its
    response. Scored like a prediction, it gives the floor of a steps metric: what a fluent chain
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


@dataclass
class Scored:
    scores: dict[str, dict[str, Score]]  # metric -> sample id -> score
    made: int = 0  # scores computed by this call


def score_missing(
    store: Store,
    samples: Sequence[Sample],
    predictions: dict[str, Prediction | None],
    metrics: Sequence[str],
    config: RunConfig,
    scorers,
    *,
    on_done: Callable[[str, int], None] | None = None,
) -> Scored:
    """One Score per sample and metric. A sample without a usable prediction gets its failure
    Score from the scorer (never stored: it follows from the prediction); the others are read from
    the store or computed chunk by chunk and committed.

    `scorers`: a ScoreConfig (the scorers are built from it), or the built scorers by metric name,
    to share them (and their loaded models) between calls."""
    from llamav.metrics import ScoreConfig, build_scorers

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
