"""The server's state in SQLite (the standard library's): the job queue, uploads and saved
presets. The server and each job's worker process open it; WAL mode lets the worker write its
progress while the server reads."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
FINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    position REAL NOT NULL,
    state TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    options TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    stage TEXT,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER,
    fps REAL,
    eta_seconds REAL,
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    summary TEXT,
    note TEXT,
    pid INTEGER,
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS presets (
    name TEXT PRIMARY KEY,
    options TEXT NOT NULL
);
"""


_COLUMNS = frozenset({"position", "state", "input", "output", "options", "started", "finished", "stage", "frames_done",
                      "frames_total", "fps", "eta_seconds", "warnings", "error", "summary", "note", "pid"})


@dataclass(frozen=True)
class JobRow:
    """A job as the table holds it."""

    id: str
    position: float
    """Its place in the queue: lower runs first."""
    state: JobState
    input: str
    output: str
    options: dict[str, Any]
    """As the API took them (CLI names, `_` for `-`)."""
    created: float
    started: float | None
    finished: float | None
    stage: str | None
    frames_done: int
    frames_total: int | None
    fps: float | None
    eta_seconds: float | None
    warnings: list[str]
    error: str | None
    summary: dict[str, Any] | None
    """The `--json` summary, once done."""
    note: str | None
    """What the server says of it (resumed after a restart, retried)."""
    pid: int | None
    version: int
    """Bumped by every change: the event streams send what changed."""

    def public(self) -> dict[str, Any]:
        """What the API shows of it."""
        return {"id": self.id, "state": self.state, "input": self.input, "output": Path(self.output).name,
                "options": self.options, "stage": self.stage, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "fps": self.fps, "eta_seconds": self.eta_seconds,
                "warnings": self.warnings, "error": self.error, "summary": self.summary, "note": self.note,
                "created": self.created, "started": self.started, "finished": self.finished}


class Store:
    """One connection per thread; every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # its own transaction

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- jobs -----------------------------------------------------------------------------------

    def add_job(self, *, job_id: str, input: str, output: str, options: dict[str, Any],
                frames_total: int | None = None) -> JobRow:
        with self._write() as db:
            last = db.execute("SELECT MAX(position) FROM jobs").fetchone()[0]
            db.execute("INSERT INTO jobs (id, position, state, input, output, options, created, frames_total) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (job_id, (last or 0) + 1, "queued", input, output,
                                                           json.dumps(options), time.time(), frames_total))
        job = self.job(job_id)
        assert job is not None
        return job

    def job(self, job_id: str) -> JobRow | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self) -> list[JobRow]:
        """In queue order: the running and queued by position, then the finished, newest first."""
        rows = [_job(r) for r in self._db().execute("SELECT * FROM jobs ORDER BY position")]
        active = [j for j in rows if j.state not in FINAL]
        return active + sorted((j for j in rows if j.state in FINAL), key=lambda j: -(j.finished or j.created))

    def next_queued(self) -> JobRow | None:
        row = self._db().execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY position LIMIT 1").fetchone()
        return None if row is None else _job(row)

    def update(self, job_id: str, **fields: Any) -> None:
        """Set `fields` of a job (lists and dicts as JSON) and bump its version."""
        for key in ("warnings", "summary"):
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        unknown = set(fields) - _COLUMNS
        if unknown:  # the names go into the statement: only the table's own
            raise ValueError(f"no such job fields: {sorted(unknown)}")
        names = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as db:
            db.execute(f"UPDATE jobs SET {names}, version = version + 1 WHERE id = ?", (*fields.values(), job_id))

    def move(self, job_id: str, to: int) -> None:
        """Put a queued job at place `to` (0: next) among the queued ones."""
        with self._write() as db:
            queued = [r[0] for r in db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY position")]
            if job_id not in queued:
                raise KeyError(job_id)
            queued.remove(job_id)
            queued.insert(max(0, min(to, len(queued))), job_id)
            base = db.execute("SELECT COALESCE(MAX(position), 0) FROM jobs WHERE state = 'running'").fetchone()[0]
            for i, jid in enumerate(queued):
                db.execute("UPDATE jobs SET position = ?, version = version + 1 WHERE id = ?", (base + 1 + i, jid))

    def requeue_first(self, job_id: str, note: str) -> None:
        """Back to the front of the queue (a job the server was running when it stopped)."""
        with self._write() as db:
            first = db.execute("SELECT COALESCE(MIN(position), 1) FROM jobs").fetchone()[0]
            db.execute("UPDATE jobs SET state = 'queued', position = ?, pid = NULL, note = ?, version = version + 1 "
                       "WHERE id = ?", (first - 1, note, job_id))

    def delete_job(self, job_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def version(self) -> int:
        """Changes to the job table so far (deleted jobs count by their absence)."""
        row = self._db().execute("SELECT COALESCE(SUM(version), 0), COUNT(*) FROM jobs").fetchone()
        return int(row[0]) * 1000003 + int(row[1])

    # -- uploads --------------------------------------------------------------------------------

    def add_upload(self, *, upload_id: str, name: str, path: Path, size: int) -> None:
        with self._write() as db:
            db.execute("INSERT INTO uploads (id, name, path, bytes, created) VALUES (?, ?, ?, ?, ?)",
                       (upload_id, name, str(path), size, time.time()))

    def upload(self, upload_id: str) -> tuple[str, Path] | None:
        row = self._db().execute("SELECT name, path FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return None if row is None else (row["name"], Path(row["path"]))

    # -- presets --------------------------------------------------------------------------------

    def presets(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: json.loads(r["options"]) for r in self._db().execute("SELECT * FROM presets ORDER BY name")}

    def save_preset(self, name: str, options: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO presets (name, options) VALUES (?, ?)", (name, json.dumps(options)))

    def delete_preset(self, name: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM presets WHERE name = ?", (name,)).rowcount > 0


def _job(row: sqlite3.Row) -> JobRow:
    data = dict(row)
    data["options"] = json.loads(data["options"])
    data["warnings"] = json.loads(data["warnings"] or "[]")
    data["summary"] = json.loads(data["summary"]) if data["summary"] else None
    return JobRow(**data)
