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
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from llamav.evaluate.keys import GenerationKey, prediction_hash, score_key
from llamav.records import Prediction, Sample, Score

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
"""


def default_store_path() -> Path:
    return Path(os.environ.get("LLAMAV_STORE") or DEFAULT_STORE)


class StoreError(RuntimeError):
    """The store file cannot be opened or used: the message names the file and what to do."""


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    reason = str(exc)
    if "malformed" in reason or "not a database" in reason:
        advice = "the file is damaged or is not a llamav store; move it aside (or pass another --store) and run again"
    elif "unable to open" in reason or "readonly" in reason or "read-only" in reason:
        advice = "check that its folder exists and is writable, or pass another --store"
    elif "full" in reason:
        advice = "the disk is full; free space and run again (everything committed so far is kept)"
    else:
        advice = "pass another --store, or move this one aside"
    return StoreError(f"store {path}: {reason}; {advice}")


class Store:
    """Append-only SQLite store of predictions and scores. One connection per Store, guarded by a
    lock so that judge threads can share it. SQLite's own errors leave it as StoreError, one line
    that names the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"store {self.path}: is a folder; give a file path for --store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create its folder ({exc.strerror})") from None
        try:
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE takes the write lock up
            # front, so two writers queue instead of one failing halfway through).
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
            self._lock = threading.RLock()
            with self._lock:
                self._db.execute("PRAGMA busy_timeout = 60000")
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise sqlite3.OperationalError(f"the store needs WAL mode (got {mode})")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._write(lambda db: db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;"), script=True)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def _write(self, action, script: bool = False) -> None:
        with self._lock:
            if script:
                action(self._db)
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    action(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
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
        """Commit predictions (failed ones too, with their reason) in one transaction."""
        now = time.time()
        values = [
            (key.for_sample(sample), sample.id, key.model_identity, key.generation_hash, key.protocol,
             key.strategy, key.seed, prediction_hash(p), p.error, p.model_dump_json(), now)
            for sample, p in rows
        ]
        self._write(lambda db: db.executemany(
            "INSERT INTO predictions (key, sample_id, model_identity, generation_hash, protocol, strategy, seed,"
            " prediction_hash, error, record, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values))

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
                        f"SELECT key, {columns} FROM {table} WHERE key IN ({marks}) ORDER BY id", chunk
                    ).fetchall()
                except sqlite3.Error as exc:
                    raise _store_error(self.path, exc) from None
        return rows

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
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM spend WHERE run_hash = ? AND kind = ? ORDER BY id", (run_hash, kind)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                table: self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("predictions", "scores", "spend")
            }

    def integrity(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]
