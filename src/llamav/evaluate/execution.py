"""How the batches of a run are decoded: the execution modes behind one small interface.

    executor = executor_for(config)
    for group, predictions in executor.run(groups, make_reasoner):
        store.add_predictions(key, zip(group, predictions))

Each mode yields (batch, predictions) as batches finish; the run loop commits them. Whatever the
mode, a batch is made of the same samples and every call's seed is fixed by the run's seed and the
call's place, so the predictions equal those of one process.

- `InProcess`: one model, one batch after another (the default for a big model on one GPU).
- `Threads`: one model, K batches at once. For a backend whose calls are independent requests
  (an API), concurrency is the lever and a process per worker would buy nothing.
- `Processes`: K spawned processes, each with its own copy of the model (the tiny models on a
  laptop's cores; one GPU a worker when there are several).
- `Ranks`: the processes of `torchrun` / `accelerate launch` share the batches (`ranks`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Protocol

from llamav.evaluate import ranks
from llamav.records import Prediction, Sample

Batch = list[Sample]
MakeReasoner = Callable[[], Any]  # -> a Reasoner; only called when something is missing


class Executor(Protocol):
    def run(self, groups: Sequence[Batch], make_reasoner: MakeReasoner) -> Iterator[tuple[Batch, list[Prediction]]]:
        """Yield (batch, its predictions) as batches finish, in any order."""
        ...


class InProcess:
    def run(self, groups, make_reasoner):
        if not groups:
            return
        reasoner = make_reasoner()
        for group in groups:
            yield group, reasoner.batch(group)


class Threads:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, groups, make_reasoner):
        if not groups:
            return
        reasoner = make_reasoner()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(reasoner.batch, group): group for group in groups}
            for future in as_completed(futures):
                yield futures[future], future.result()


class Processes:
    """`spawn`, not `fork`: a forked copy of a process that has already started torch's threads
    can hang. `make_reasoner` must be picklable (e.g. `partial(load_reasoner, config)`)."""

    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = workers
        self.threads = threads

    def run(self, groups, make_reasoner):
        if not groups:
            return
        import torch  # only this mode needs torch in the parent: to count the GPUs to share

        workers = min(self.workers, len(groups))
        threads = self.threads or max(1, (os.cpu_count() or 1) // workers)
        gpus: list[str] = []
        if torch.cuda.is_available():
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=_worker_start, initargs=(make_reasoner, threads, gpus)) as pool:
            for index, made in pool.imap_unordered(_worker_batch, enumerate(groups)):
                yield groups[index], made


class Ranks:
    """Under torchrun: rank 0 shares the batches among the ranks round by round. It runs even when
    nothing is missing, so that the other ranks hear there is nothing to do."""

    def run(self, groups, make_reasoner):
        yield from ranks.lead(list(groups), make_reasoner)


def executor_for(workers: int, threads: int | None, concurrent_calls: bool, n_groups: int) -> Executor:
    if ranks.active():
        return Ranks()
    if workers > 1 and n_groups > 1:
        return Threads(workers) if concurrent_calls else Processes(workers, threads)
    return InProcess()


# -- the worker processes ------------------------------------------------------------------------

_worker_state: dict[str, Any] = {}


def _worker_start(make_reasoner, threads: int, gpus: list[str]) -> None:
    if gpus:
        # One GPU a worker, round robin, as data-parallel evaluators do: set before CUDA starts here.
        rank = multiprocessing.current_process()._identity[0] - 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[rank % len(gpus)]
    # In the spawned worker: torch and transformers are what it is for, loaded once it starts.
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)  # K processes share the cores instead of each taking them all
    hf_logging.disable_progress_bar()  # the parent's bars, with ETA, are the only ones on screen
    _worker_state["make"] = make_reasoner


def _worker_batch(item: tuple[int, Batch]) -> tuple[int, list[Prediction]]:
    # The model is built on the first batch, not in the initializer: an error there would make the
    # pool restart its workers forever, while an error here reaches the parent and ends the run.
    if "reasoner" not in _worker_state:
        _worker_state["reasoner"] = _worker_state["make"]()
    index, group = item
    return index, _worker_state["reasoner"].batch(group)
