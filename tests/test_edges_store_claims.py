"""The store as a work queue, in process on a real SQLite file: which samples a run may make, which
another live process is making, and which were made meanwhile. Another process is a real one
(`sleep`), its claim written as that process would write it."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time

from llamav.evaluate import GenerationKey, Store
from llamav.evaluate.store import CLAIM_STALE_SECONDS
from llamav.records import Prediction, Sample

KEY = GenerationKey("m@1", "g", "llamav-o1", "beam", 0)


def sample(i: int) -> Sample:
    return Sample(id=f"s{i}", question=f"How many? ({i})", image=b"png", steps=[], final_answer="3")


def prediction(i: int) -> Prediction:
    return Prediction(sample_id=f"s{i}", model="m", protocol="llamav-o1", strategy="beam", final_answer="3")


def claims(path) -> list[tuple]:
    return sqlite3.connect(path).execute("SELECT key, pid, host FROM claims ORDER BY key").fetchall()


def held_by(path, i: int, pid: int, host: str = socket.gethostname(), seen: float | None = None) -> None:
    seen = time.time() if seen is None else seen
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO claims (key, pid, host, started, seen) VALUES (?, ?, ?, ?, ?)",
                   (KEY.for_sample(sample(i)), pid, host, seen, seen))


def ids(samples: list[Sample]) -> list[str]:
    return [s.id for s in samples]


def test_unclaimed_samples_are_claimed_by_this_process(tmp_path):
    with Store(tmp_path / "s.db") as store:
        got = store.claim(KEY, [sample(0), sample(1)], {})
        assert (ids(got.mine), got.held, got.done) == (["s0", "s1"], [], [])
    assert sorted(claims(tmp_path / "s.db")) == sorted(
        (KEY.for_sample(sample(i)), os.getpid(), socket.gethostname()) for i in (0, 1))


def test_nothing_to_claim_writes_nothing(tmp_path):
    with Store(tmp_path / "s.db") as store:
        got = store.claim(KEY, [], {})
        assert (got.mine, got.held, got.done) == ([], [], [])
    assert claims(tmp_path / "s.db") == []


def test_a_sample_a_live_process_is_making_is_held_and_taken_over_once_that_process_is_gone(tmp_path):
    Store(tmp_path / "s.db").close()
    holder = subprocess.Popen(["sleep", "60"])
    try:
        held_by(tmp_path / "s.db", 0, holder.pid)
        with Store(tmp_path / "s.db") as store:
            got = store.claim(KEY, [sample(0), sample(1)], {})
            assert (ids(got.mine), ids(got.held)) == (["s1"], ["s0"])
            assert holder.poll() is None  # asked whether it lives, not signalled
            holder.kill()
            holder.wait()
            assert ids(store.claim(KEY, [sample(0)], {}).mine) == ["s0"]
    finally:
        if holder.poll() is None:
            holder.kill()


def test_a_claim_from_another_host_holds_until_it_shows_no_life_for_an_hour(tmp_path):
    Store(tmp_path / "s.db").close()
    held_by(tmp_path / "s.db", 0, 1, host="elsewhere", seen=time.time() - CLAIM_STALE_SECONDS + 60)
    held_by(tmp_path / "s.db", 1, 1, host="elsewhere", seen=time.time() - CLAIM_STALE_SECONDS - 60)
    with Store(tmp_path / "s.db") as store:
        got = store.claim(KEY, [sample(0), sample(1)], {})
    assert (ids(got.mine), ids(got.held)) == (["s1"], ["s0"])
    assert CLAIM_STALE_SECONDS == 3600.0


def test_a_sample_with_more_rows_than_last_counted_was_made_meanwhile(tmp_path):
    with Store(tmp_path / "s.db") as store:
        before = store.attempts(KEY, [sample(0), sample(1)])
        assert before == {"s0": 0, "s1": 0}
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        assert store.attempts(KEY, [sample(0), sample(1)]) == {"s0": 1, "s1": 0}
        got = store.claim(KEY, [sample(0), sample(1)], before)
        assert (ids(got.done), ids(got.mine)) == (["s0"], ["s1"])
        again = store.claim(KEY, [sample(0)], {"s0": 1})
        assert ids(again.mine) == ["s0"]  # counted already: a retry of it is this process's to make
        assert ids(store.claim(KEY, [sample(0)], {}).done) == ["s0"]  # not counted: made by someone
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        assert ids(store.claim(KEY, [sample(0)], {"s0": 1}).done) == ["s0"]  # two rows now, one counted


def test_storing_a_prediction_ends_its_claim_and_release_ends_the_rest(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.claim(KEY, [sample(0), sample(1), sample(2)], {})
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        assert [k for k, _, _ in claims(tmp_path / "s.db")] == sorted(KEY.for_sample(sample(i)) for i in (1, 2))
        store.release(KEY, [sample(1)])
        assert [k for k, _, _ in claims(tmp_path / "s.db")] == [KEY.for_sample(sample(2))]


def test_release_leaves_another_processes_claims_alone(tmp_path):
    Store(tmp_path / "s.db").close()
    held_by(tmp_path / "s.db", 0, 1, host="elsewhere")
    with Store(tmp_path / "s.db") as store:
        store.release(KEY, [sample(0)])
    assert claims(tmp_path / "s.db") == [(KEY.for_sample(sample(0)), 1, "elsewhere")]
