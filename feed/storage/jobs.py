"""Generation jobs in their own SQLite file (WAL), behind `generation.jobs.JobStore`.

The rules (budgets, attempts, leases) live in `generation.jobs`; this module
keeps the rows. Files written before the job table had a versioned schema are
adopted as they are: the first migration is idempotent over them.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from feed.storage.sqlite import Database, Migration
from generation.jobs import (
    DAY_S,
    LEASE_S,
    Budgets,
    Job,
    NewJob,
    WindowUsage,
    check_budgets,
    status_after,
)

KIND = "generation jobs"
# The table as first released; the columns after it were added later, in this order.
FIRST_TABLE = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    requester TEXT,
    gap_id TEXT,
    phrase TEXT,
    prompt TEXT NOT NULL,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_until REAL,
    error TEXT,
    clip_id TEXT,
    external_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created_at);
CREATE INDEX IF NOT EXISTS jobs_requester ON jobs(requester, created_at)
"""
ADDED_COLUMNS = (
    ("remix_of", "TEXT"),
    ("seconds", "REAL"),
    ("aspect", "TEXT"),
    ("progress", "REAL NOT NULL DEFAULT 0"),
)
# Read by name, in the order of Job's fields, so Job(*row) holds whatever order a
# file's columns were added in.
COLUMNS = ", ".join(f.name for f in fields(Job))


def _jobs_table(db: sqlite3.Connection) -> None:
    """v1: the job table, made or completed in place (a file from before versioning)."""
    for statement in FIRST_TABLE.split(";"):
        db.execute(statement)
    have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    for name, kind in ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")


# MIGRATIONS[v] upgrades a job file at version v to v + 1; version 0 is an empty
# file or one written before versioning (tables in UNVERSIONED_TABLES only).
MIGRATIONS: dict[int, Migration] = {0: _jobs_table}
UNVERSIONED_TABLES = frozenset({"jobs"})


def _usage(db: sqlite3.Connection, where: str, args: tuple) -> WindowUsage:
    count, oldest = db.execute(
        f"SELECT COUNT(*), MIN(created_at) FROM jobs WHERE {where}", args
    ).fetchone()
    return WindowUsage(count, oldest)


class SqliteJobStore:
    """Jobs in one SQLite file with a versioned schema."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, KIND, MIGRATIONS, unversioned_tables=UNVERSIONED_TABLES)

    def close(self) -> None:
        """Close the database (closing twice is harmless)."""
        self.db.close()

    def enqueue(
        self, jobs: Sequence[NewJob], provider: str, now: float, budgets: Budgets
    ) -> list[Job]:
        """Queue jobs atomically; a key seen before returns the existing job.

        Raises BudgetExceeded (queuing nothing) if any requester, or everyone
        together, would pass a daily budget.
        """
        with self.db.tx() as db:
            seen = "SELECT 1 FROM jobs WHERE idempotency_key=?"
            fresh = [j for j in jobs if db.execute(seen, (j.idempotency_key,)).fetchone() is None]
            since = now - DAY_S
            requesters = {j.requester for j in fresh if j.requester is not None}
            check_budgets(
                fresh,
                _usage(db, "created_at > ?", (since,)),
                {r: _usage(db, "requester=? AND created_at > ?", (r, since)) for r in requesters},
                budgets,
                now,
            )
            for j in fresh:
                db.execute(
                    "INSERT INTO jobs (id, idempotency_key, requester, gap_id, phrase, prompt,"
                    " provider, status, created_at, updated_at, remix_of, seconds, aspect)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (f"job_{uuid.uuid4().hex[:12]}", j.idempotency_key, j.requester, j.gap_id,
                     j.phrase, j.prompt, provider, "queued", now, now, j.remix_of, j.seconds,
                     j.aspect),
                )  # fmt: skip
            keys = [j.idempotency_key for j in jobs]
            rows = db.execute(
                f"SELECT {COLUMNS} FROM jobs"
                f" WHERE idempotency_key IN ({','.join('?' * len(keys))})",
                keys,
            ).fetchall()
        by_key = {job.idempotency_key: job for job in (Job(*r) for r in rows)}
        return [by_key[k] for k in keys]

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        rows = self.db.query(f"SELECT {COLUMNS} FROM jobs WHERE id=?", (job_id,))
        return Job(*rows[0]) if rows else None

    def for_requester(self, requester: str, limit: int = 50) -> list[Job]:
        """A requester's jobs, newest first."""
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM jobs WHERE requester=?"
            " ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (requester, limit),
        )
        return [Job(*r) for r in rows]

    def list(self, status: str | None = None, limit: int = 100) -> list[Job]:
        """Recent jobs, newest first (all of them, or those with `status`)."""
        if status is None:
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self.db.query(
                f"SELECT {COLUMNS} FROM jobs WHERE status=?"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (status, limit),
            )
        return [Job(*r) for r in rows]

    def set_progress(self, job_id: str, progress: float, now: float) -> None:
        """Record how far a running job has got (0..1; never moves back within an attempt)."""
        with self.db.tx() as db:
            db.execute(
                "UPDATE jobs SET progress=max(progress, ?), updated_at=?"
                " WHERE id=? AND status='in_progress'",
                (min(max(progress, 0.0), 1.0), now, job_id),
            )

    def claim(self, now: float, budgets: Budgets, lease_s: float = LEASE_S) -> Job | None:
        """Take the oldest runnable job (queued, or in progress with an expired lease)."""
        with self.db.tx() as db:
            running = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status='in_progress' AND lease_until > ?", (now,)
            ).fetchone()[0]
            if running >= budgets.max_in_progress:
                return None
            row = db.execute(
                "SELECT id FROM jobs WHERE status='queued'"
                " OR (status='in_progress' AND lease_until <= ?)"
                " ORDER BY created_at, rowid LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status='in_progress', attempts=attempts+1, lease_until=?,"
                " progress=0, updated_at=? WHERE id=?",
                (now + lease_s, now, row[0]),
            )
            claimed = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id=?", (row[0],)).fetchone()
        return Job(*claimed)

    def finish(self, job_id: str, now: float, *, clip_id: str | None = None,
               error: str | None = None, external_id: str | None = None) -> Job:  # fmt: skip
        """Mark a claimed job completed (with clip_id) or failed (with error).

        A failed attempt is queued again while attempts remain.
        """
        with self.db.tx() as db:
            attempts = db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0]
            db.execute(
                "UPDATE jobs SET status=?, clip_id=coalesce(?, clip_id), error=?,"
                " external_id=coalesce(?, external_id), lease_until=NULL, updated_at=?,"
                " progress=? WHERE id=?",
                (status_after(attempts, error), clip_id, error, external_id, now,
                 1.0 if error is None else 0.0, job_id),
            )  # fmt: skip
            row = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job(*row)
