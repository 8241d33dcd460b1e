"""The store where it cannot be written, one Store call at a time, on real read-only mounts and a
real full tmpfs (`mount_support`; root only, they skip otherwise): what is opened read-only and
read back, what is refused, and the one line each refusal is. test_store_faults.py checks the
same through whole `llamav eval` runs; these are fast enough for mutation testing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from llamav.evaluate import Store, StoreError
from llamav.evaluate.keys import score_key
from mount_support import disk, read_only  # noqa: F401 (disk: a fixture)
from test_edges_store import KEY, SCORER, prediction, sample, score

ADD = ("and this run has something to add to it; make the file and its folder writable, or copy it elsewhere "
       "and pass --store COPY")

# SQLite's refusal of a write to a file it opened read-only, with the store's advice.
READ_ONLY = ("store {path}: attempt to write a readonly database; it is read-only here (a finished run is still "
             "read back and reported); to add to it, make the file and its folder writable, or copy it elsewhere "
             "and pass --store COPY")


def refused_writes(store: Store, why: str) -> None:
    """Every write of a store opened read-only is refused, in the same one line naming it."""
    message = f"store {store.path}: opened read-only ({why}), {ADD}"
    writes = [lambda: store.add_predictions(KEY, [(sample(9), prediction(9))]),
              lambda: store.add_scores(SCORER, [(sample(9), "p9", score(9, 1.0))]),
              lambda: store.add_spend("run", "judge", {"calls": 1}),
              lambda: store.claim(KEY, [sample(9)], {}),
              lambda: store.release(KEY, [sample(9)])]
    for write in writes:
        with pytest.raises(StoreError) as failed:
            write()
        assert str(failed.value) == message


def finished_store(path: Path) -> None:
    """A store as a finished run leaves it: a success, a failure, a score and some spend, all folded
    into the file (closed, so no write-ahead log is left)."""
    with Store(path) as store:
        store.add_predictions(KEY, [(sample(0), prediction(0)), (sample(1), prediction(1, error="OOM"))])
        store.add_scores(SCORER, [(sample(0), "p0", score(0, 1.0))])
        store.add_spend("run", "judge", {"calls": 3})


def reads_back_the_finished_store(store: Store) -> None:
    assert store.predictions(KEY, [sample(0), sample(1), sample(2)]) == {
        "s0": prediction(0), "s1": prediction(1, error="OOM")}
    assert store.scores(SCORER, [(sample(0), "p0")]) == {score_key(SCORER, "p0", sample(0)): score(0, 1.0)}
    assert store.spend("run", "judge") == [{"calls": 3}]
    assert store.attempts(KEY, [sample(0), sample(2)]) == {"s0": 1, "s2": 0}
    assert store.counts() == {"predictions": 2, "scores": 1, "spend": 1}
    assert store.integrity() == "ok"


def test_a_finished_store_in_a_read_only_folder_is_read_back_and_every_write_is_refused_in_one_line(disk):
    path = disk / "store.db"
    finished_store(path)
    with read_only(disk), Store(path) as store:
        assert store.read_only == "its folder cannot be written"
        reads_back_the_finished_store(store)
        # A finished run claims nothing: that is no write, so it is not refused.
        assert store.claim(KEY, [], {}).mine == []
        store.release(KEY, [])
        refused_writes(store, "its folder cannot be written")
    assert sorted(p.name for p in disk.iterdir()) == ["store.db"]


def test_a_read_only_store_file_in_a_writable_folder_is_read_back_and_sqlite_refuses_the_first_write(tmp_path):
    # SQLite opens a file it may not write read-only without a word, and opening a finished store
    # writes nothing, so the store is not marked read-only: its first write is refused by SQLite.
    path = tmp_path / "store.db"
    finished_store(path)
    with read_only(path), Store(path) as store:
        reads_back_the_finished_store(store)
        with pytest.raises(StoreError) as refused:
            store.add_predictions(KEY, [(sample(2), prediction(2))])
    assert str(refused.value) == READ_ONLY.format(path=path)


def copy_while_a_writer_is_open(source: Path, folder: Path, names: tuple[str, ...]) -> int:
    """Copy a store whose last commit is still only in its write-ahead log (a writer has it open,
    so the log is not folded into the file yet), as a copy of a live run's folder would be.
    Returns how many predictions the copy's log holds beyond its file."""
    with Store(source) as writer:
        writer.add_predictions(KEY, [(sample(0), prediction(0)), (sample(1), prediction(1))])
        assert source.with_name(source.name + "-wal").stat().st_size > 0
        for name in names:
            shutil.copy(source.with_name(source.name + name), folder / (source.name + name))
    return 2


def test_a_read_only_folder_whose_log_holds_rows_not_in_the_file_is_refused_naming_the_log(tmp_path, disk):
    copy_while_a_writer_is_open(tmp_path / "store.db", disk, ("", "-wal"))  # no index (-shm) beside them
    path = disk / "store.db"
    with read_only(disk), pytest.raises(StoreError) as refused:
        Store(path)
    # Reading the file alone would silently miss the log's rows: refused instead.
    assert str(refused.value) == (
        f"store {path}: its folder cannot be written, and its write-ahead log store.db-wal holds rows not yet in "
        "the file; open it once where it can be written (any llamav command folds them in), or copy the folder "
        "elsewhere and pass --store COPY")


def test_a_read_only_folder_with_the_log_and_its_index_is_read_through_the_log_and_a_write_says_read_only(
        tmp_path, disk):
    made = copy_while_a_writer_is_open(tmp_path / "store.db", disk, ("", "-wal", "-shm"))
    path = disk / "store.db"
    with read_only(disk), Store(path) as store:
        assert store.counts()["predictions"] == made
        assert sorted(store.predictions(KEY, [sample(0), sample(1)])) == ["s0", "s1"]
        with pytest.raises(StoreError) as refused:
            store.add_predictions(KEY, [(sample(2), prediction(2))])
    assert str(refused.value) == READ_ONLY.format(path=path)


def test_a_missing_store_in_a_read_only_folder_is_one_line_saying_to_check_its_folder(disk):
    with read_only(disk):
        with pytest.raises(StoreError) as missing:
            Store(disk / "store.db")
        with pytest.raises(StoreError) as deeper:
            Store(disk / "deeper" / "store.db")
    assert str(missing.value) == (f"store {disk / 'store.db'}: unable to open database file; check that its "
                                  "folder exists and is writable, or pass another --store")
    assert str(deeper.value) == (f"store {disk / 'deeper' / 'store.db'}: cannot create its folder (Read-only file "
                                 "system); give a --store in a folder that exists or can be created")


@pytest.mark.parametrize(("journal", "why"), [("delete", "it cannot be written"),
                                              ("wal", "its folder cannot be written")])
def test_a_sqlite_file_that_is_not_a_llamav_store_in_a_read_only_folder_is_refused_and_left_as_it_is(
        disk, journal, why):
    # A file in rollback-journal mode cannot be switched to WAL (a write to the file itself); one
    # already in WAL mode needs its index beside it, which the folder refuses.
    path = disk / "other.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA journal_mode = {journal}")
        db.execute("CREATE TABLE notes (text)")
    db.close()
    before = path.read_bytes()
    with read_only(disk), pytest.raises(StoreError) as refused:
        Store(path)
    assert str(refused.value) == f"store {path}: {why}, and it is not a llamav store; pass another --store"
    assert path.read_bytes() == before


def test_a_full_disk_is_one_line_saying_so_and_every_earlier_commit_is_kept(disk):
    path = disk / "store.db"
    Store(path).close()
    # Leave room for a few commits only: each one grows the write-ahead log by a few pages.
    (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - 150 * 1024))
    committed = 0
    with Store(path) as store, pytest.raises(StoreError) as full:
        while committed < 100:
            store.add_predictions(KEY, [(sample(committed), prediction(committed))])
            committed += 1
    assert 1 <= committed < 100
    assert str(full.value) == (f"store {path}: database or disk is full; the disk is full; free space and run "
                               "again (everything committed so far is kept)")
    (disk / "filler").unlink()
    with Store(path) as store:
        assert store.integrity() == "ok"
        assert sorted(store.predictions(KEY, [sample(i) for i in range(100)]), key=lambda s: int(s[1:])) == [
            f"s{i}" for i in range(committed)]


def test_a_damaged_store_in_a_read_only_folder_is_one_line_saying_it_is_damaged(disk):
    # Read only as immutable (no index can be made beside it), its schema is read, and is damaged.
    path = disk / "store.db"
    Store(path).close()
    with open(path, "r+b") as file:
        file.seek(100)  # past the file header: the schema's page
        file.write(b"\xff" * 300)
    with read_only(disk), pytest.raises(StoreError) as refused:
        Store(path)
    assert str(refused.value) == (f"store {path}: database disk image is malformed; the file is damaged or is not a "
                                  "llamav store; move it aside (or pass another --store) and run again")
