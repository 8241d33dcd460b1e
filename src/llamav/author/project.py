"""An authoring project: one folder, one SQLite file (`project.db`, WAL) holding the samples and
every draft, label and review edit ever made.

- Rows are only ever added. A review edit is one row of `edits`; the state a reviewer sees is the
  draft with that reviewer's edits applied in order (`Project.state`), so what changed is always
  on record and nothing is overwritten.
- Every write is one transaction, committed before the call returns: a process killed at any
  moment loses at most the edit or draft it was making. WAL lets the review server, a `draft` and
  an `export` use one project at once; writers wait for each other instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamav.bench import CATEGORIES
from llamav.records import UNCATEGORIZED, Sample
from llamav.transaction import write_transaction

DB_NAME = "project.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    image BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    model TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    text TEXT NOT NULL,
    steps TEXT NOT NULL,
    agrees INTEGER,
    check_reason TEXT NOT NULL,
    error TEXT,
    spend TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS drafts_sample ON drafts (sample_id);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    model TEXT NOT NULL,
    spend TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_sample ON labels (sample_id);
CREATE TABLE IF NOT EXISTS reviewers (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS edits_sample ON edits (sample_id, reviewer);
"""

DECISIONS = ("accept", "reject", "open")
STEP_OPS = ("edit", "add", "delete", "move")


class ProjectError(RuntimeError):
    """A project that cannot be made, opened or changed as asked: one line that says why."""


@dataclass(frozen=True)
class Draft:
    """One drafted chain. `agrees` is the answer reader's verdict on its conclusion: True, False
    (the chain concludes something else) or None (no conclusion could be read or matched)."""

    id: int
    sample_id: str
    model: str
    attempt: int
    seed: int
    text: str
    steps: list[str]
    agrees: bool | None
    check_reason: str
    error: str | None
    spend: dict[str, float]

    @property
    def flagged(self) -> bool:
        return self.agrees is not True


@dataclass(frozen=True)
class Label:
    sample_id: str
    value: str
    reason: str
    model: str


@dataclass
class ReviewState:
    """What one reviewer sees of one sample: the draft with their edits applied."""

    sample_id: str
    reviewer: str
    drafted_steps: list[str]
    steps: list[str]
    proposed_category: str
    category: str
    decision: str = "open"
    comment: str = ""
    changes: list[str] = field(default_factory=list)  # "edit step 2", "move step 3 to 1", "category", ...
    last_edit: float = 0.0

    @property
    def steps_changed(self) -> bool:
        return self.steps != self.drafted_steps

    @property
    def category_changed(self) -> bool:
        return self.category != self.proposed_category


class Project:
    """An authoring project folder. One connection, guarded by a lock (the review server's threads
    share it); each public write is one transaction."""

    def __init__(self, folder: str | Path, *, create: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        if not create and not self.path.is_file():
            raise ProjectError(f"{self.folder}: not an authoring project (no {DB_NAME}); make one with `llamav author init`")
        self._lock = threading.RLock()
        self._ids: set[str] | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise ProjectError(f"project {self.folder}: {exc}") from None
        try:
            self._db.execute("PRAGMA busy_timeout = 60000")
            if self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise ProjectError(f"{self.path}: SQLite could not use WAL mode here")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._write(lambda db: [db.execute(statement) for statement in _SCHEMA.split(";") if statement.strip()])
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise ProjectError(f"project {self.folder}: {exc}") from None
            raise

    # -- plumbing --------------------------------------------------------------------------------

    def _write(self, action) -> Any:
        """`action(db)` in one write transaction: all of it is committed, or none."""
        with self._lock:
            return write_transaction(self._db, action, lambda exc: ProjectError(f"project {self.folder}: {exc}"))

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as exc:
                raise ProjectError(f"project {self.folder}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta and samples ------------------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    @property
    def categories(self) -> list[str]:
        return list(self.meta("categories", list(CATEGORIES)))

    def add_samples(self, samples: Iterable[Sample], meta: dict[str, Any] | None = None) -> int:
        """Add samples, and settings with them, in one transaction (ids already in the project are
        refused): a project is made whole or not at all."""
        rows = [(s.id, s.model_dump_json(exclude={"image"}), s.image) for s in samples]

        def add(db: sqlite3.Connection) -> int:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in (meta or {}).items()])
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM samples").fetchone()[0]
            try:
                db.executemany("INSERT INTO samples (position, id, record, image) VALUES (?, ?, ?, ?)",
                               [(start + i, *row) for i, row in enumerate(rows)])
            except sqlite3.IntegrityError:
                raise ProjectError(f"project {self.folder}: a sample id is already in the project") from None
            return len(rows)

        return self._write(add)

    def sample_ids(self) -> list[str]:
        return [row[0] for row in self._read("SELECT id FROM samples ORDER BY position")]

    def sample(self, sample_id: str) -> Sample:
        rows = self._read("SELECT record, image FROM samples WHERE id = ?", (sample_id,))
        if not rows:
            raise KeyError(sample_id)
        return Sample.model_validate({**json.loads(rows[0][0]), "image": rows[0][1]})

    def samples(self, *, images: bool = True) -> list[Sample]:
        column = "image" if images else "x''"
        return [Sample.model_validate({**json.loads(record), "image": image})
                for record, image in self._read(f"SELECT record, {column} FROM samples ORDER BY position")]

    def question_heads(self, length: int = 80) -> dict[str, str]:
        """sample id -> the start of its question, for a list of every sample (no image read)."""
        return dict(self._read("SELECT id, substr(json_extract(record, '$.question'), 1, ?) FROM samples", (length,)))

    def image(self, sample_id: str) -> bytes:
        rows = self._read("SELECT image FROM samples WHERE id = ?", (sample_id,))
        if not rows:
            raise KeyError(sample_id)
        return rows[0][0]

    # -- drafts and labels -----------------------------------------------------------------------

    def add_draft(self, sample_id: str, model: str, attempt: int, seed: int, text: str, steps: list[str],
                  agrees: bool | None, check_reason: str, error: str | None, spend: dict[str, float]) -> None:
        self._write(lambda db: db.execute(
            "INSERT INTO drafts (sample_id, model, attempt, seed, text, steps, agrees, check_reason, error, spend, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sample_id, model, attempt, seed, text, json.dumps(steps), None if agrees is None else int(agrees),
             check_reason, error, json.dumps(spend), time.time())))

    def drafts(self, sample_id: str | None = None) -> list[Draft]:
        where, params = ("WHERE sample_id = ?", (sample_id,)) if sample_id is not None else ("", ())
        rows = self._read("SELECT id, sample_id, model, attempt, seed, text, steps, agrees, check_reason, error, spend "
                          f"FROM drafts {where} ORDER BY id", params)
        return [Draft(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), None if r[7] is None else bool(r[7]),
                      r[8], r[9], json.loads(r[10])) for r in rows]

    def current_drafts(self) -> dict[str, Draft]:
        """sample id -> the draft review starts from: the first whose conclusion agrees with the
        reference, else the first made (flagged)."""
        by_sample: dict[str, list[Draft]] = {}
        for draft in self.drafts():
            by_sample.setdefault(draft.sample_id, []).append(draft)
        return {sid: chosen for sid, drafts in by_sample.items() if (chosen := current_draft(drafts)) is not None}

    def add_label(self, sample_id: str, value: str, reason: str, model: str, spend: dict[str, float]) -> None:
        self._write(lambda db: db.execute(
            "INSERT INTO labels (sample_id, kind, value, reason, model, spend, created) VALUES (?, 'category', ?, ?, ?, ?, ?)",
            (sample_id, value, reason, model, json.dumps(spend), time.time())))

    def labels(self) -> dict[str, Label]:
        """sample id -> the latest category label a model proposed."""
        rows = self._read("SELECT sample_id, value, reason, model FROM labels WHERE kind = 'category' ORDER BY id")
        return {r[0]: Label(*r) for r in rows}

    def spend(self) -> dict[str, float]:
        """What every model call of the project cost: calls, prompt and generated tokens, seconds."""
        total = {"model_calls": 0, "prompt_tokens": 0, "generated_tokens": 0, "seconds": 0.0}
        for (spend,) in self._read("SELECT spend FROM drafts UNION ALL SELECT spend FROM labels"):
            for key, value in json.loads(spend).items():
                total[key] = total.get(key, 0) + value
        return total

    # -- review ----------------------------------------------------------------------------------

    def add_reviewer(self, name: str) -> None:
        self._write(lambda db: db.execute("INSERT OR IGNORE INTO reviewers VALUES (?, ?)", (name, time.time())))

    def reviewers(self) -> list[str]:
        return [r[0] for r in self._read("SELECT name FROM reviewers ORDER BY name")]

    def edit(self, sample_id: str, reviewer: str, action: str, payload: dict[str, Any]) -> ReviewState:
        """Apply one review action and store it, in one transaction; returns the new state.
        A bad action (an unknown category, a step that is not there) is a ValueError and stores nothing."""

        def apply(db: sqlite3.Connection) -> ReviewState:
            state = self._state(db, sample_id, reviewer)
            stored = _apply(state, action, payload, self.categories)
            if action == "steps":
                stored["result"] = list(state.steps)
            db.execute("INSERT INTO edits (sample_id, reviewer, action, payload, created) VALUES (?, ?, ?, ?, ?)",
                       (sample_id, reviewer, action, json.dumps(stored), time.time()))
            return _replay(self._start(db, sample_id, reviewer), self._edits(db, sample_id, reviewer), self.categories)

        if sample_id not in self._known_ids():
            raise KeyError(sample_id)
        return self._write(apply)

    def state(self, sample_id: str, reviewer: str) -> ReviewState:
        with self._lock:
            return self._state(self._db, sample_id, reviewer)

    def states(self, reviewer: str) -> dict[str, ReviewState]:
        """Every sample's state for one reviewer, read in three queries (a 1,000-sample project
        opens at once)."""
        drafts, labels = self.current_drafts(), self.labels()
        edits: dict[str, list[tuple[str, dict, float]]] = {}
        for sample_id, action, payload, created in self._read(
                "SELECT sample_id, action, payload, created FROM edits WHERE reviewer = ? ORDER BY id", (reviewer,)):
            edits.setdefault(sample_id, []).append((action, json.loads(payload), created))
        states, categories = {}, self.categories
        for sample_id, category, steps in self._read(
                "SELECT id, json_extract(record, '$.category'), json_extract(record, '$.steps') FROM samples ORDER BY position"):
            start = _start_state(sample_id, reviewer, drafts.get(sample_id), labels.get(sample_id), category, json.loads(steps))
            states[sample_id] = _replay(start, edits.get(sample_id, []), categories)
        return states

    def decisions(self) -> dict[str, dict[str, ReviewState]]:
        """reviewer -> sample id -> state, for every reviewer who has edited something."""
        names = [r[0] for r in self._read("SELECT DISTINCT reviewer FROM edits ORDER BY reviewer")]
        return {name: self.states(name) for name in names}

    def _known_ids(self) -> set[str]:
        # Samples are added by `init` only, before any review: read once per Project.
        if self._ids is None:
            self._ids = set(self.sample_ids())
        return self._ids

    def _start(self, db: sqlite3.Connection, sample_id: str, reviewer: str) -> ReviewState:
        row = db.execute("SELECT json_extract(record, '$.category'), json_extract(record, '$.steps') FROM samples WHERE id = ?",
                         (sample_id,)).fetchone()
        if row is None:
            raise KeyError(sample_id)
        draft = current_draft(self.drafts(sample_id))
        labels = db.execute("SELECT sample_id, value, reason, model FROM labels WHERE sample_id = ? AND kind = 'category' "
                            "ORDER BY id DESC LIMIT 1", (sample_id,)).fetchone()
        return _start_state(sample_id, reviewer, draft, Label(*labels) if labels else None, row[0], json.loads(row[1]))

    def _edits(self, db: sqlite3.Connection, sample_id: str, reviewer: str) -> list[tuple[str, dict, float]]:
        rows = db.execute("SELECT action, payload, created FROM edits WHERE sample_id = ? AND reviewer = ? ORDER BY id",
                          (sample_id, reviewer)).fetchall()
        return [(action, json.loads(payload), created) for action, payload, created in rows]

    def _state(self, db: sqlite3.Connection, sample_id: str, reviewer: str) -> ReviewState:
        return _replay(self._start(db, sample_id, reviewer), self._edits(db, sample_id, reviewer), self.categories)


def current_draft(drafts: list[Draft]) -> Draft | None:
    """The draft review starts from: the first (in order made) whose conclusion agrees with the
    reference, else the first made; a call that failed is never one."""
    made = [d for d in drafts if d.error is None]
    return next((d for d in made if not d.flagged), made[0] if made else None)


def _start_state(sample_id: str, reviewer: str, draft: Draft | None, label: Label | None, category: str | None,
                 reference_steps: list[str]) -> ReviewState:
    """Before any edit: the current draft's steps (the source's own chain when nothing was
    drafted), and the model's proposed category (the source's when none was proposed)."""
    steps = list(draft.steps) if draft else list(reference_steps)
    # A label that named no category proposes nothing: the source's category stands.
    proposed = label.value if label and label.value != UNCATEGORIZED else (category or UNCATEGORIZED)
    return ReviewState(sample_id, reviewer, steps, list(steps), proposed, proposed)


def _replay(state: ReviewState, edits: list[tuple[str, dict, float]], categories: list[str]) -> ReviewState:
    for action, payload, created in edits:
        if action == "steps":
            # The steps as the reviewer left them, whatever the draft now is (a redraft made
            # after review began never shifts a reviewed chain).
            state.steps = list(payload["result"])
            state.changes.append(_step_change(payload))
        else:
            _apply(state, action, payload, categories)
        state.last_edit = created
    return state


def _step_change(payload: dict[str, Any]) -> str:
    """What a step edit did, in words, for the export's provenance."""
    op, at = payload["op"], payload["index"] + 1
    return f"move step {at} to {payload['to'] + 1}" if op == "move" else f"{op} step {at}"


def _apply(state: ReviewState, action: str, payload: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """Change `state` by one action; returns the payload to store (checked and normalised)."""
    if action == "steps":
        op = payload.get("op")
        index = payload.get("index")
        steps = state.steps
        if op not in STEP_OPS:
            raise ValueError(f"unknown step operation {op!r}; known: {', '.join(STEP_OPS)}")
        if op == "add":
            index = len(steps) if index is None else index
            if not isinstance(index, int) or not 0 <= index <= len(steps):
                raise ValueError(f"no place {index!r} to add a step")
        elif not isinstance(index, int) or not 0 <= index < len(steps):
            raise ValueError(f"no step {index!r}")
        text = payload.get("text", "")
        if op in ("edit", "add") and (not isinstance(text, str) or not text.strip()):
            raise ValueError("a step needs text (delete it instead)")
        if op == "edit":
            steps[index] = text.strip()
        elif op == "add":
            steps.insert(index, text.strip())
        elif op == "delete":
            del steps[index]
        else:
            to = payload.get("to")
            if not isinstance(to, int) or not 0 <= to < len(steps):
                raise ValueError(f"no step {to!r} to move to")
            steps.insert(to, steps.pop(index))
        stored = {"op": op, "index": index, **({"text": text.strip()} if op in ("edit", "add") else {}),
                  **({"to": payload["to"]} if op == "move" else {})}
        state.changes.append(_step_change(stored))
        return stored
    if action == "category":
        category = payload.get("category")
        if category not in categories:
            raise ValueError(f"unknown category {category!r}; this project's: {', '.join(categories)}")
        state.category = category
        state.changes.append("category")
        return {"category": category}
    if action == "decision":
        decision = payload.get("decision")
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}; known: {', '.join(DECISIONS)}")
        state.decision = decision
        return {"decision": decision}
    if action == "comment":
        comment = payload.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 10_000:
            raise ValueError("a comment is text of at most 10,000 characters")
        state.comment = comment
        return {"comment": comment}
    raise ValueError(f"unknown action {action!r}; known: steps, category, decision, comment")
