"""`generate_missing`, the run loop's resume and work queue, fast enough for mutation testing: the
real tiny-random model built once and answering directly in two tokens, one or two samples a
test, a real store. What is read back is not made again; a failure is kept unless retried; a
sample another live process is making is waited for and read, or taken over once that process is
gone. test_edges_resume.py and test_store_queue.py check the same with the full protocol and
whole processes."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from functools import cache

import pytest

from llamav.bench import load_source
from llamav.evaluate import GenerationKey, RunConfig, Store, generate_missing, load_reasoner
from llamav.evaluate import run as run_module
from llamav.records import Prediction, Sample

CONFIG = RunConfig(model="tiny-random", protocol="direct", strategy="greedy", max_new_tokens=2)
KEY = GenerationKey.of(CONFIG)


@cache
def reasoner():
    """Built once for the whole file (and for every mutant's forked test process)."""
    return load_reasoner(CONFIG)


class Builds:
    """make_reasoner for the run loop, counting how often it is asked for the model."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self):
        self.count += 1
        return reasoner()


class Watched(Store):
    """A real store that records what each `claim` found, and runs `after_first_claim` once the
    first one is done: what another process does while this one waits."""

    def __init__(self, path, after_first_claim=None) -> None:
        super().__init__(path)
        self.found: list[tuple[list[str], list[str], list[str]]] = []
        self.after_first_claim = after_first_claim

    def claim(self, key, samples, attempts):
        claimed = super().claim(key, samples, attempts)
        self.found.append(tuple([s.id for s in part] for part in (claimed.mine, claimed.held, claimed.done)))
        if len(self.found) == 1 and self.after_first_claim is not None:
            self.after_first_claim()
        return claimed


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_source("vrc-synth?size=2").samples


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    """Look at the store again after 10 ms, not a second, while another process is making a sample."""
    monkeypatch.setattr(run_module, "CLAIM_POLL_SECONDS", 0.01)


def stored(sample: Sample, error: str | None = None) -> Prediction:
    return Prediction(sample_id=sample.id, model="another run", protocol="direct", strategy="greedy",
                      final_answer="" if error else "7", error=error)


def claims(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, pid FROM claims").fetchall()
    db.close()
    return rows


def test_stored_predictions_are_read_back_and_only_the_missing_sample_is_made_then_its_claim_is_gone(
        tmp_path, samples):
    builds, seen = Builds(), []
    with Watched(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(samples[0], stored(samples[0]))])
        done = generate_missing(store, KEY, samples, builds, on_done=seen.append)
        rows = store.counts()["predictions"]
        found = store.found
    assert (done.made, builds.count, rows, seen) == (1, 1, 2, [1, 1])
    assert found == [([samples[1].id], [], [])]  # only the missing sample is claimed
    assert done.predictions[samples[0].id] == stored(samples[0])
    made = done.predictions[samples[1].id]
    assert (made.sample_id, made.protocol, made.error) == (samples[1].id, "direct", None)
    assert done.cost == made.cost and made.cost.model_calls == 1
    assert list(done.predictions) == [s.id for s in samples]
    assert claims(tmp_path / "s.db") == []


def test_a_finished_store_builds_no_model_claims_nothing_and_counts_everything_done_at_once(tmp_path, samples):
    builds, seen = Builds(), []
    with Watched(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(s, stored(s)) for s in samples])
        done = generate_missing(store, KEY, samples, builds, on_done=seen.append)
    assert (done.made, builds.count, seen, done.cost.model_calls) == (0, 0, [2], 0)
    assert done.predictions == {s.id: stored(s) for s in samples}
    assert store.found == [([], [], [])]


def test_a_stored_failure_stays_the_result_unless_failures_are_retried_and_then_the_success_wins(
        tmp_path, samples):
    sample = samples[0]
    with Watched(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample, stored(sample, error="CUDA out of memory"))])
        builds = Builds()
        kept = generate_missing(store, KEY, [sample], builds)
        assert (kept.made, builds.count) == (0, 0)
        assert kept.predictions == {sample.id: stored(sample, error="CUDA out of memory")}
        retried = generate_missing(store, KEY, [sample], builds, retry_failed=True)
        again = generate_missing(store, KEY, [sample], builds, retry_failed=True)
        rows = store.counts()["predictions"]
    assert (retried.made, again.made, builds.count, rows) == (1, 0, 1, 2)
    assert retried.predictions[sample.id].error is None
    assert again.predictions == retried.predictions


def test_by_default_each_missing_sample_is_made_and_committed_on_its_own_by_this_process(tmp_path, samples):
    builds, seen = Builds(), []
    with Watched(tmp_path / "s.db") as store:
        done = generate_missing(store, KEY, samples, builds, on_done=seen.append)
        rows = store.counts()["predictions"]
    assert (done.made, builds.count, seen, rows) == (2, 1, [0, 1, 1], 2)


def test_concurrent_calls_share_this_processs_one_model_between_its_workers(tmp_path, samples):
    # Threads, not worker processes: the model is asked for once, here.
    builds, seen = Builds(), []
    with Watched(tmp_path / "s.db") as store:
        done = generate_missing(store, KEY, samples, builds, workers=2, concurrent_calls=True, on_done=seen.append)
    assert (done.made, builds.count, seen) == (2, 1, [0, 1, 1])
    assert sorted(done.predictions) == sorted(s.id for s in samples)


def test_two_missing_samples_in_batches_of_two_are_made_in_one_call(tmp_path, samples):
    builds, seen = Builds(), []
    with Watched(tmp_path / "s.db") as store:
        done = generate_missing(store, KEY, samples, builds, batch_size=2, on_done=seen.append)
    assert (done.made, builds.count, seen) == (2, 1, [0, 2])


@pytest.fixture
def other_process():
    """A live process of this machine, whose pid stands for another run holding claims."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def claim_as(path, key: str, pid: int) -> None:
    with sqlite3.connect(path) as db:
        now = time.time()
        db.execute("INSERT INTO claims (key, pid, host, started, seen) VALUES (?, ?, ?, ?, ?)",
                   (key, pid, socket.gethostname(), now, now))
    db.close()


def test_a_sample_another_live_process_is_making_is_waited_for_and_read_not_made(tmp_path, samples, other_process):
    path = tmp_path / "s.db"
    Store(path).close()
    claim_as(path, KEY.for_sample(samples[0]), other_process.pid)

    def the_other_process_commits() -> None:
        with Store(path) as other:
            other.add_predictions(KEY, [(samples[0], stored(samples[0]))])

    builds, seen = Builds(), []
    with Watched(path, after_first_claim=the_other_process_commits) as store:
        done = generate_missing(store, KEY, samples, builds, on_done=seen.append)
    assert store.found == [([samples[1].id], [samples[0].id], []), ([], [], [samples[0].id]), ([], [], [])]
    assert (done.made, builds.count, seen) == (1, 1, [0, 1, 1])
    assert done.predictions[samples[0].id] == stored(samples[0])
    assert list(done.predictions) == [samples[1].id, samples[0].id]


def test_a_sample_claimed_by_a_process_that_dies_is_taken_over_and_made(tmp_path, samples, other_process):
    path = tmp_path / "s.db"
    Store(path).close()
    claim_as(path, KEY.for_sample(samples[0]), other_process.pid)

    def the_other_process_dies() -> None:
        other_process.kill()
        other_process.wait()

    builds, seen = Builds(), []
    with Watched(path, after_first_claim=the_other_process_dies) as store:
        done = generate_missing(store, KEY, samples, builds, on_done=seen.append)
        rows = store.counts()["predictions"]
    assert store.found == [([samples[1].id], [samples[0].id], []), ([samples[0].id], [], [])]
    assert (done.made, builds.count, seen, rows) == (2, 2, [0, 1, 1], 2)
    assert done.predictions[samples[0].id].error is None
    assert done.cost.model_calls == 2
    assert claims(path) == []
