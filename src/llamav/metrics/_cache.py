"""An on-disk cache of judge verdicts, so the same prediction is never judged twice.

SQLite from the standard library: one file, safe against a crash mid-run (each verdict is
committed as it is stored), and a later run resumes by finding what is already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any


def default_cache_path() -> Path:
    root = os.environ.get("LLAMAV_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "llamav")
    return Path(root) / "judge.sqlite"


def cache_key(**parts: Any) -> str:
    """A stable digest of everything that determines a verdict (canonical JSON, sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """key -> JSON value. `path=None` keeps nothing (every lookup misses)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._db: sqlite3.Connection | None = None
        # Judge calls to an API run in threads; one connection behind a lock serves them all.
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> Any | None:
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT value FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        if self._db is None:
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO verdicts (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            self._db.commit()

    def __len__(self) -> int:
        if self._db is None:
            return 0
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
