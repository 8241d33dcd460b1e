"""One SQLite write transaction, all or nothing: shared by the run store and authoring projects.

A leaf module (it imports nothing of llamav), so that every layer that keeps a SQLite file commits
the same way: `BEGIN IMMEDIATE` takes the write lock up front (two writers queue instead of one
failing halfway), and anything that goes wrong, a full disk at `COMMIT` included, rolls back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")


def write_transaction(db: sqlite3.Connection, action: Callable[[sqlite3.Connection], T],
                      error: Callable[[sqlite3.Error], Exception]) -> T:
    """`action(db)` in one write transaction; an SQLite failure is raised as `error(exc)`, one line
    naming the file, instead of SQLite's own exception. The caller holds its connection's lock."""
    try:
        db.execute("BEGIN IMMEDIATE")
        result = action(db)
        db.execute("COMMIT")
        return result
    except BaseException as exc:
        if db.in_transaction:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise error(exc) from None
        raise


__all__ = ["write_transaction"]
