"""The run store at its edges, on real SQLite files: which row is the result when a key has
several, a batch that fails halfway, SQLite's errors in one line, and reads of many keys."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from llamav.evaluate import GenerationKey, Store, StoreError, default_store_path
from llamav.evaluate.keys import score_key
from llamav.records import Prediction, Sample, Score

KEY = GenerationKey("m@1", "g", "llamav-o1", "beam", 0)
SCORER = "scorer-hash-1"


def sample(i: int) -> Sample:
    return Sample(id=f"s{i}", question=f"How many? ({i})", image=b"png", steps=["Step 1: count."], final_answer="3")


def prediction(i: int, answer: str = "3", error: str | None = None) -> Prediction:
    return Prediction(sample_id=f"s{i}", model="m", protocol="llamav-o1", strategy="beam", final_answer=answer,
                      error=error)


def score(i: int, value: float | None, error: str | None = None) -> Score:
    return Score(sample_id=f"s{i}", metric="answer", scale="binary", value=value, error=error)


def refuse_inserts(path, table: str, sample_id: str, message: str) -> None:
    """A trigger in the real file that makes SQLite abort any insert of `sample_id` into `table`."""
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN NEW.sample_id = '{sample_id}' "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def test_the_latest_failure_is_read_while_a_key_has_no_success(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample(0), prediction(0, error="CUDA OOM"))])
        store.add_predictions(KEY, [(sample(0), prediction(0, error="timed out"))])
        assert store.predictions(KEY, [sample(0)])["s0"].error == "timed out"


def test_a_failure_after_a_success_never_replaces_it(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample(0), prediction(0, answer="3"))])
        store.add_predictions(KEY, [(sample(0), prediction(0, error="timed out"))])
        assert store.predictions(KEY, [sample(0)])["s0"] == prediction(0, answer="3")


def test_the_first_successful_score_is_the_result_and_later_rows_are_never_read(tmp_path):
    with Store(tmp_path / "s.db") as store:
        rows = lambda value, error=None: [(sample(0), "p0", score(0, value, error))]  # noqa: E731
        store.add_scores(SCORER, rows(None, "judge timed out"))
        key = score_key(SCORER, "p0", sample(0))
        assert store.scores(SCORER, [(sample(0), "p0")])[key].error == "judge timed out"
        store.add_scores(SCORER, rows(1.0))
        store.add_scores(SCORER, rows(0.0))
        store.add_scores(SCORER, rows(None, "judge timed out again"))
        assert store.scores(SCORER, [(sample(0), "p0")]) == {key: score(0, 1.0)}
        assert store.counts()["scores"] == 4


def test_a_score_belongs_to_its_prediction_digest_and_scorer(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_scores(SCORER, [(sample(0), "p0", score(0, 1.0))])
        assert store.scores(SCORER, [(sample(0), "another prediction")]) == {}
        assert store.scores("another scorer", [(sample(0), "p0")]) == {}


def test_a_batch_that_fails_halfway_commits_none_of_its_rows_and_the_store_keeps_working(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    refuse_inserts(path, "predictions", "s1", "refused by a trigger")
    with Store(path) as store:
        with pytest.raises(StoreError, match=rf"^store {path}: refused by a trigger; "):
            store.add_predictions(KEY, [(sample(i), prediction(i)) for i in range(3)])
        assert store.predictions(KEY, [sample(0), sample(1), sample(2)]) == {}
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        assert list(store.predictions(KEY, [sample(0)])) == ["s0"]
    with sqlite3.connect(path) as db:  # what another process sees: the one committed row
        assert db.execute("SELECT sample_id FROM predictions").fetchall() == [("s0",)]


def test_a_score_batch_that_fails_halfway_commits_none_of_its_rows(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    refuse_inserts(path, "scores", "s1", "refused by a trigger")
    with Store(path) as store:
        with pytest.raises(StoreError):
            store.add_scores(SCORER, [(sample(0), "p0", score(0, 1.0)), (sample(1), "p1", score(1, 1.0))])
        assert store.counts()["scores"] == 0
        store.add_scores(SCORER, [(sample(0), "p0", score(0, 1.0))])
        assert store.counts()["scores"] == 1


@pytest.mark.parametrize(("reason", "advice"), [
    ("database or disk is full", "the disk is full"),
    ("attempt to write a readonly database", "writable"),
    ("database disk image is malformed", "damaged"),
    ("something else went wrong", "pass another --store"),
])
def test_sqlites_reason_is_told_in_one_line_with_what_to_do(tmp_path, reason, advice):
    path = tmp_path / "s.db"
    Store(path).close()
    refuse_inserts(path, "predictions", "s0", reason)
    with Store(path) as store, pytest.raises(StoreError) as failed:
        store.add_predictions(KEY, [(sample(0), prediction(0))])
    message = str(failed.value)
    assert message.startswith(f"store {path}: {reason}; ") and "\n" not in message
    assert advice in message.split("; ", 1)[1]


def test_a_store_whose_folder_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError) as refused:
        Store(tmp_path / "file" / "s.db")
    assert str(refused.value) == (f"store {tmp_path / 'file' / 's.db'}: cannot create its folder ({tmp_path / 'file'} "
                                  "is a file); give a --store in a folder that exists or can be created")


def test_a_new_store_makes_its_folders_and_is_in_wal_mode(tmp_path):
    path = tmp_path / "a" / "b" / "s.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(path) as store:
        assert store.integrity() == "ok"
        assert store.counts() == {"predictions": 0, "scores": 0, "spend": 0}


def test_more_keys_than_sqlite_takes_in_one_query_are_all_read(tmp_path):
    samples = [sample(i) for i in range(1203)]
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(s, prediction(i)) for i, s in enumerate(samples)])
        store.add_scores(SCORER, [(s, f"p{i}", score(i, 1.0)) for i, s in enumerate(samples)])
        found = store.predictions(KEY, samples)
        scores = store.scores(SCORER, [(s, f"p{i}") for i, s in enumerate(samples)])
    assert sorted(found) == sorted(s.id for s in samples)
    assert len(scores) == 1203


def test_spend_is_read_back_in_order_for_its_run_and_kind_only(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_spend("run-a", "judge", {"calls": 3})
        store.add_spend("run-b", "judge", {"calls": 5})
        store.add_spend("run-a", "other", {"calls": 7})
        store.add_spend("run-a", "judge", {"calls": 2, "tokens": 40})
        assert store.spend("run-a", "judge") == [{"calls": 3}, {"calls": 2, "tokens": 40}]
        assert store.counts()["spend"] == 4


def test_rows_keep_their_columns_for_other_tools_to_read(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.add_predictions(KEY, [(sample(0), prediction(0, error="OOM"))])
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT sample_id, model_identity, generation_hash, protocol, strategy, seed, error"
                         " FROM predictions").fetchone()
    assert row == ("s0", "m@1", "g", "llamav-o1", "beam", 0, "OOM")


def test_rows_after_a_first_success_do_not_hide_the_other_samples_rows(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        store.add_predictions(KEY, [(sample(0), prediction(0, answer="4"))])
        store.add_predictions(KEY, [(sample(1), prediction(1, error="OOM"))])
        store.add_predictions(KEY, [(sample(1), prediction(1, answer="5"))])
        found = store.predictions(KEY, [sample(0), sample(1)])
        store.add_scores(SCORER, [(sample(0), "p0", score(0, 1.0))])
        store.add_scores(SCORER, [(sample(0), "p0", score(0, 0.0))])
        store.add_scores(SCORER, [(sample(1), "p1", score(1, 0.0))])
        scores = store.scores(SCORER, [(sample(0), "p0"), (sample(1), "p1")])
    assert (found["s0"].final_answer, found["s1"].final_answer) == ("3", "5")
    assert sorted(s.value for s in scores.values()) == [0.0, 1.0]


def test_attempts_count_every_row_of_each_sample_over_many_keys(tmp_path):
    samples = [sample(i) for i in range(1203)]
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(s, prediction(i, error="OOM")) for i, s in enumerate(samples)])
        store.add_predictions(KEY, [(samples[7], prediction(7))])
        counts = store.attempts(KEY, samples)
    assert counts["s7"] == 2 and sum(counts.values()) == 1204 and set(counts) == {s.id for s in samples}


def test_a_store_is_shared_by_threads(tmp_path):
    with Store(tmp_path / "s.db") as store:
        threads = [threading.Thread(target=store.add_predictions, args=(KEY, [(sample(i), prediction(i))]))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.predictions(KEY, [sample(i) for i in range(4)])) == 4


def test_the_default_store_is_llamav_store_when_set_else_runs_llamav_db(monkeypatch):
    monkeypatch.setenv("LLAMAV_STORE", "/data/shared.db")
    assert default_store_path() == Path("/data/shared.db")
    monkeypatch.setenv("LLAMAV_STORE", "")
    assert default_store_path() == Path("runs") / "llamav.db"


DAMAGED = "the file is damaged or is not a llamav store; move it aside (or pass another --store) and run again"


def test_a_file_that_is_not_a_database_is_refused_in_one_line_as_damaged_or_not_a_store(tmp_path):
    path = tmp_path / "s.db"
    path.write_bytes(b"not sqlite " * 200)
    with pytest.raises(StoreError) as refused:
        Store(path)
    assert str(refused.value) == f"store {path}: file is not a database; {DAMAGED}"


def test_a_store_damaged_under_an_open_store_fails_each_read_and_write_in_one_line(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.add_predictions(KEY, [(sample(i), prediction(i)) for i in range(50)])
    with Store(path) as store:
        with open(path, "r+b") as file:  # the pages after the schema's: the predictions' rows and index
            file.seek(4096)
            file.write(b"\xff" * 3 * 4096)
        message = f"store {path}: database disk image is malformed; {DAMAGED}"
        for use in (lambda: store.predictions(KEY, [sample(i) for i in range(50)]), store.counts, store.integrity,
                    lambda: store.add_predictions(KEY, [(sample(99), prediction(99))])):
            with pytest.raises(StoreError) as failed:
                use()
            assert str(failed.value) == message


def test_a_sqlite_file_of_another_tool_with_a_predictions_table_is_one_line_with_the_general_advice(tmp_path):
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE predictions (text)")
    db.close()
    with pytest.raises(StoreError) as refused:
        Store(path)
    assert str(refused.value) == f"store {path}: no such column: key; pass another --store, or move this one aside"


def test_memory_is_refused_as_a_store_in_one_line_because_it_has_no_write_ahead_log():
    with pytest.raises(StoreError) as refused:
        Store(":memory:")
    assert str(refused.value) == ("store :memory:: the store needs WAL mode (got memory); pass another --store, "
                                  "or move this one aside")


def test_a_sample_this_process_claimed_is_still_its_own_to_make_when_claimed_again(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.claim(KEY, [sample(0)], {}).mine == [sample(0)]
        again = store.claim(KEY, [sample(0)], {})
    assert (again.mine, again.held, again.done) == ([sample(0)], [], [])


def test_asking_whether_a_claims_process_lives_sends_that_process_no_signal(tmp_path):
    path = tmp_path / "s.db"
    # SIGHUP back to its default, which ends the process: under nohup (a background run) it would be
    # ignored, and signal 1 sent instead of 0 would go unseen.
    holder = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        with Store(path) as store, sqlite3.connect(path) as db:
            db.execute("INSERT INTO claims (key, pid, host, started, seen) VALUES (?, ?, ?, 0, 0)",
                       (KEY.for_sample(sample(0)), holder.pid, socket.gethostname()))
            db.commit()
            assert store.claim(KEY, [sample(0)], {}).held == [sample(0)]
        with pytest.raises(subprocess.TimeoutExpired):  # still running, a moment later
            holder.wait(timeout=0.3)
    finally:
        holder.kill()
        holder.wait()
