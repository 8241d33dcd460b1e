"""The run store: one SQLite file (WAL) holding every prediction and score ever made.

- A prediction is keyed by (model identity, generation hash, protocol, strategy, seed, sample id,
  sample digest); a score by (scorer hash, prediction hash, reference digest). The digests make a
  key mean "this exact question asked this exact way": two benchmark files that reuse an id never
  share a row.
- The store only ever adds rows. A retry of a failure adds an attempt; the first successful row of
  a key is the one read, so a result never changes once it is made, and a failure stays on record.
- Every row is committed as soon as it is made: a process killed at any moment loses at most the
  sample it was working on.
- Several processes may write one store at once: WAL lets readers and one writer work together,
  and writers wait for each other (busy timeout) instead of failing.
- Several runs may share the work of one store: a prediction being made is claimed (`claims`:
  key, pid, host), and another process waits for it and reads it instead of making it again. A
  claim is work in progress, not a result: it is deleted in the transaction that stores the
  prediction, and a claim whose process has died is taken over.
- A store that cannot be written (a read-only file or folder) is opened read-only: a finished run
  is read back and reported; a run with something to add says so in one line.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamav.evaluate.keys import GenerationKey, prediction_hash, score_key
from llamav.records import Prediction, Sample, Score
from llamav.transaction import write_transaction

DEFAULT_STORE = Path("runs") / "llamav.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    model_identity TEXT NOT NULL,
    generation_hash TEXT NOT NULL,
    protocol TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER,
    prediction_hash TEXT NOT NULL,
    error TEXT,
    record TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_key ON predictions (key);
CREATE TABLE IF NOT EXISTS scores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    scorer_hash TEXT NOT NULL,
    prediction_hash TEXT NOT NULL,
    error TEXT,
    record TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_key ON scores (key);
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_run ON spend (run_hash);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL,
    seen REAL NOT NULL
);
"""
_TABLES = ("predictions", "scores", "spend")

# A claim of another machine cannot be checked by its pid: it is taken over when its process has
# shown no sign of life (a committed batch) for this long.
CLAIM_STALE_SECONDS = 3600.0


def default_store_path() -> Path:
    return Path(os.environ.get("LLAMAV_STORE") or DEFAULT_STORE)


class StoreError(RuntimeError):
    """The store file cannot be opened or used: the message names the file and what to do."""


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    reason = str(exc)
    if "malformed" in reason or "not a database" in reason:
        advice = "the file is damaged or is not a llamav store; move it aside (or pass another --store) and run again"
    elif "readonly" in reason or "read-only" in reason:
        advice = ("it is read-only here (a finished run is still read back and reported); to add to it, make the "
                  "file and its folder writable, or copy it elsewhere and pass --store COPY")
    elif "unable to open" in reason:
        advice = "check that its folder exists and is writable, or pass another --store"
    elif "full" in reason:
        advice = "the disk is full; free space and run again (everything committed so far is kept)"
    else:
        advice = "pass another --store, or move this one aside"
    return StoreError(f"store {path}: {reason}; {advice}")


def _cannot_write(exc: sqlite3.Error) -> bool:
    """The error of a file or folder that may be read but not written."""
    reason = str(exc)
    return "readonly" in reason or "read-only" in reason or "unable to open" in reason


@dataclass
class Claimed:
    """What `Store.claim` found for each sample: now this process's to make, being made by another
    live process, or made (by another process) since the caller last looked."""

    mine: list[Sample] = field(default_factory=list)
    held: list[Sample] = field(default_factory=list)
    done: list[Sample] = field(default_factory=list)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class Store:
    """Append-only SQLite store of predictions and scores. One connection per Store, guarded by a
    lock so that judge threads can share it. SQLite's own errors leave it as StoreError, one line
    that names the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.read_only: str | None = None  # why the store could not be opened for writing
        self._lock = threading.RLock()
        self._me = (os.getpid(), socket.gethostname())
        if self.path.is_dir():
            raise StoreError(f"store {self.path}: is a folder; give a file path for --store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            in_the_way = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
            reason = f"{in_the_way} is a file" if in_the_way else exc.strerror
            raise StoreError(f"store {self.path}: cannot create its folder ({reason}); "
                             "give a --store in a folder that exists or can be created") from None
        try:
            self._db = self._open_writable()
        except sqlite3.Error as exc:
            if not (_cannot_write(exc) and self.path.is_file()):
                raise _store_error(self.path, exc) from None
            self.read_only = "its folder cannot be written" if "unable to open" in str(exc) else "it cannot be written"
            self._db = self._open_read_only()

    def _connect(self, target: str | Path, uri: bool = False) -> sqlite3.Connection:
        # isolation_level=None: transactions are ours (BEGIN IMMEDIATE takes the write lock up
        # front, so two writers queue instead of one failing halfway through).
        db = sqlite3.connect(target, uri=uri, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 60000")
        except BaseException:
            db.close()
            raise
        return db

    def _open_writable(self) -> sqlite3.Connection:
        # Two processes opening one new store at the same moment: one may be switching the file to
        # WAL, a change SQLite refuses at once ("database is locked") instead of waiting out the
        # busy timeout; the open is tried again for as long as that timeout.
        deadline = time.monotonic() + 60.0
        while True:
            try:
                return self._open_writable_once()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _open_writable_once(self) -> sqlite3.Connection:
        db = self._connect(self.path)
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"the store needs WAL mode (got {mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        """The store opened for reading only. In a read-only folder SQLite cannot make the WAL's
        index beside the file; the file is then read as immutable, which is safe only when no
        write-ahead log holds rows not yet folded into it."""
        uri = self.path.resolve().as_uri() + "?mode=ro"  # as_uri escapes what a URI cannot hold ("?", "#", "%")
        try:
            db = self._connect(uri, uri=True)
            try:
                db.execute("SELECT name FROM sqlite_master").fetchall()
            except BaseException:
                db.close()
                raise
        except sqlite3.Error as exc:
            if not _cannot_write(exc):
                raise _store_error(self.path, exc) from None
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size:
                raise StoreError(
                    f"store {self.path}: {self.read_only}, and its write-ahead log {wal.name} holds rows not yet "
                    "in the file; open it once where it can be written (any llamav command folds them in), or copy "
                    "the folder elsewhere and pass --store COPY") from None
            try:
                db = self._connect(uri + "&immutable=1", uri=True)
            except sqlite3.Error as again:
                raise _store_error(self.path, again) from None
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            db.close()
            raise _store_error(self.path, exc) from None
        if not set(_TABLES) <= tables:
            db.close()
            raise StoreError(f"store {self.path}: {self.read_only}, and it is not a llamav store; pass another --store")
        return db

    def _write(self, action) -> Any:
        """Run `action(db)` in one write transaction: all of it is committed, or none. Returns what
        `action` returns."""
        with self._lock:
            if self.read_only is not None:
                raise StoreError(
                    f"store {self.path}: opened read-only ({self.read_only}), and this run has something to add "
                    "to it; make the file and its folder writable, or copy it elsewhere and pass --store COPY")
            return write_transaction(self._db, action, lambda exc: _store_error(self.path, exc))

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- predictions -------------------------------------------------------------------------

    def add_predictions(self, key: GenerationKey, rows: Sequence[tuple[Sample, Prediction]]) -> None:
        """Commit predictions (failed ones too, with their reason) in one transaction, with the end
        of this process's claims on them: no one ever sees a claim gone and its prediction missing."""
        now = time.time()
        values = [
            (key.for_sample(sample), sample.id, key.model_identity, key.generation_hash, key.protocol,
             key.strategy, key.seed, prediction_hash(p), p.error, p.model_dump_json(), now)
            for sample, p in rows
        ]

        def insert(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO predictions (key, sample_id, model_identity, generation_hash, protocol, strategy, seed,"
                " prediction_hash, error, record, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            db.executemany("DELETE FROM claims WHERE key = ? AND pid = ? AND host = ?",
                           [(value[0], *self._me) for value in values])
            db.execute("UPDATE claims SET seen = ? WHERE pid = ? AND host = ?", (now, *self._me))

        self._write(insert)

    def predictions(self, key: GenerationKey, samples: Iterable[Sample]) -> dict[str, Prediction]:
        """The stored prediction of each sample that has one: its first success, else its latest
        failure."""
        keys = {key.for_sample(s): s.id for s in samples}
        found: dict[str, Prediction] = {}
        for row_key, error, record in self._select("predictions", "error, record", keys):
            have = found.get(keys[row_key])
            if have is not None and have.error is None:
                continue  # the first success is the result; later rows are never read
            found[keys[row_key]] = Prediction.model_validate_json(record)
        return found

    def _select(self, table: str, columns: str, keys: dict[str, str]) -> list[tuple]:
        rows: list[tuple] = []
        wanted = list(keys)
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                try:
                    rows += self._db.execute(
                        f"SELECT key, {columns} FROM {table} WHERE key IN ({marks}) ORDER BY rowid", chunk
                    ).fetchall()
                except sqlite3.Error as exc:
                    raise _store_error(self.path, exc) from None
        return rows

    def attempts(self, key: GenerationKey, samples: Iterable[Sample]) -> dict[str, int]:
        """How many prediction rows each sample has (0 for none)."""
        keys = {key.for_sample(s): s.id for s in samples}
        counts = dict.fromkeys(keys.values(), 0)
        for row_key, _ in self._select("predictions", "id", keys):
            counts[keys[row_key]] += 1
        return counts

    # -- claims: the store as a work queue ---------------------------------------------------

    def claim(self, key: GenerationKey, samples: Sequence[Sample], attempts: dict[str, int]) -> Claimed:
        """In one transaction, claim every sample's prediction that nobody is making: not claimed,
        claimed by this process, or claimed by a process that has died (same host: its pid is
        gone; another host: no sign of life for CLAIM_STALE_SECONDS). `attempts` is the caller's
        last count of rows (`attempts`): a sample with more rows now was made by another process
        and is `done`. Nothing is written when there is nothing to claim."""
        if not samples:
            return Claimed()
        keys = {key.for_sample(s): s for s in samples}

        def take(db: sqlite3.Connection) -> Claimed:
            rows = dict.fromkeys(keys, 0)
            for row_key, _ in self._select("predictions", "id", {k: "" for k in keys}):
                rows[row_key] += 1
            claims = self._select("claims", "pid, host, seen", {k: "" for k in keys})
            holders = {k: (pid, host, seen) for k, pid, host, seen in claims}
            now, result = time.time(), Claimed()
            for row_key, sample in keys.items():
                if rows[row_key] > attempts.get(sample.id, 0):
                    result.done.append(sample)
                elif row_key in holders and self._making(*holders[row_key], now):
                    result.held.append(sample)
                else:
                    result.mine.append(sample)
            db.executemany("INSERT OR REPLACE INTO claims (key, pid, host, started, seen) VALUES (?, ?, ?, ?, ?)",
                           [(key.for_sample(s), *self._me, now, now) for s in result.mine])
            return result

        return self._write(take)

    def _making(self, pid: int, host: str, seen: float, now: float) -> bool:
        """Whether a claim's process is (as far as can be told) alive and not this one."""
        if (pid, host) == self._me:
            return False
        if host == self._me[1]:
            return _alive(pid)
        return now - seen < CLAIM_STALE_SECONDS

    def release(self, key: GenerationKey, samples: Sequence[Sample]) -> None:
        """Drop this process's claims on samples it will not make after all (an error, Ctrl-C),
        so that another process takes them at once."""
        if samples:
            self._write(lambda db: db.executemany("DELETE FROM claims WHERE key = ? AND pid = ? AND host = ?",
                                                  [(key.for_sample(s), *self._me) for s in samples]))

    # -- scores ------------------------------------------------------------------------------

    def add_scores(self, scorer_hash: str, rows: Sequence[tuple[Sample, str, Score]]) -> None:
        """rows: (sample, prediction digest, score)."""
        now = time.time()
        values = [
            (score_key(scorer_hash, p_hash, sample), sample.id, score.metric, scorer_hash, p_hash, score.error,
             score.model_dump_json(), now)
            for sample, p_hash, score in rows
        ]
        self._write(lambda db: db.executemany(
            "INSERT INTO scores (key, sample_id, metric, scorer_hash, prediction_hash, error, record, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values))

    def scores(self, scorer_hash: str, wanted: Iterable[tuple[Sample, str]]) -> dict[str, Score]:
        """The stored score of each (sample, prediction digest): first success, else latest failure.
        Keyed by the score key."""
        keys = {score_key(scorer_hash, p_hash, sample): sample.id for sample, p_hash in wanted}
        found: dict[str, Score] = {}
        for row_key, error, record in self._select("scores", "error, record", keys):
            have = found.get(row_key)
            if have is not None and have.error is None:
                continue
            found[row_key] = Score.model_validate_json(record)
        return found

    # -- spend (judge calls and the like, not tied to one prediction) -------------------------

    def add_spend(self, run_hash: str, kind: str, record: dict[str, Any]) -> None:
        now = time.time()
        self._write(lambda db: db.execute(
            "INSERT INTO spend (run_hash, kind, record, created) VALUES (?, ?, ?, ?)",
            (run_hash, kind, json.dumps(record), now)))

    def spend(self, run_hash: str, kind: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT record FROM spend WHERE run_hash = ? AND kind = ? ORDER BY id", (run_hash, kind))
        return [json.loads(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        return {table: self._read(f"SELECT COUNT(*) FROM {table}")[0][0] for table in _TABLES}

    def integrity(self) -> str:
        return self._read("PRAGMA integrity_check")[0][0]
