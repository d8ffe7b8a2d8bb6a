"""The persistent job store of the service: one SQLite table of jobs, one folder per job.

A job's status moves ``queued -> running -> done | failed``. Results are files in the job's
folder, written atomically before the status says ``done``, so a finished result survives a
restart. On opening, jobs that were ``running`` when the server stopped are marked failed with
that reason; ``queued`` jobs keep their saved input and are handed back to be run again.
Job ids are 128-bit random tokens: a result is reachable only by knowing its id.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
INTERRUPTED = "interrupted: the server stopped while this job was running; submit the scan again"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    run TEXT NOT NULL,
    status TEXT NOT NULL,
    input_kind TEXT NOT NULL,
    input_path TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    flags TEXT
)
"""


@dataclass(frozen=True)
class Job:
    """One submitted study."""

    id: str
    run: str
    status: str
    input_kind: str
    input_path: str
    created: float
    started: float | None
    finished: float | None
    error: str | None
    flags: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.run,
            "status": self.status,
            "input_kind": self.input_kind,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "error": self.error,
            "qc_flags": self.flags,
        }


def new_job_id() -> str:
    """An unguessable id (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


class JobStore:
    """Jobs in ``<data>/jobs.sqlite3``, their files in ``<data>/jobs/<id>/``; thread-safe.

    ``on_settled(job_id)`` is called after a job is marked done or failed.
    """

    def __init__(self, data_dir: str | Path, on_settled: Callable[[str], None] | None = None):
        self.root = Path(data_dir)
        self._on_settled = on_settled
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Survives a killed process (the restart contract) without an fsync per status
            # change, which cost a worker ~15 ms a study; only a power cut may lose the last few.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)

    def recover(self) -> list[Job]:
        """After a restart: fail the jobs that were running, return the queued ones to rerun."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE jobs SET status='failed', error=?, finished=? WHERE status='running'",
                (INTERRUPTED, time.time()),
            )
        return self.list(status="queued", oldest_first=True)

    def job_dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise KeyError(job_id)
        return self.root / "jobs" / job_id

    def create(self, job_id: str, run: str, input_kind: str, input_path: Path) -> Job:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO jobs (id, run, status, input_kind, input_path, created, flags) "
                "VALUES (?, ?, 'queued', ?, ?, ?, '[]')",
                (job_id, run, input_kind, str(input_path), time.time()),
            )
        return self.get(job_id)

    def start(self, job_id: str) -> None:
        self._update(job_id, status="running", started=time.time())

    def finish(self, job_id: str, flags: list[dict[str, Any]]) -> None:
        self._update(job_id, status="done", finished=time.time(), flags=json.dumps(flags))
        self._settled(job_id)

    def fail(self, job_id: str, error: str, flags: list[dict[str, Any]] | None = None) -> None:
        self._update(job_id, status="failed", finished=time.time(), error=error,
                     flags=json.dumps(flags or []))
        self._settled(job_id)

    def get(self, job_id: str) -> Job:
        """The job ``job_id``; ``KeyError`` when there is none."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _job(row)

    def list(self, status: str | None = None, oldest_first: bool = False, limit: int = 1000) -> list[Job]:
        order = "ASC" if oldest_first else "DESC"
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs {where} ORDER BY created {order} LIMIT ?", (*args, limit)
            ).fetchall()
        return [_job(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _settled(self, job_id: str) -> None:
        if self._on_settled is not None:
            self._on_settled(job_id)

    def _update(self, job_id: str, **fields: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self._lock, self._db:
            self._db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        run=row["run"],
        status=row["status"],
        input_kind=row["input_kind"],
        input_path=row["input_path"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        flags=json.loads(row["flags"] or "[]"),
    )
