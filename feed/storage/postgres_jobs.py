"""Generation jobs in PostgreSQL, behind `generation.jobs.JobStore`: workers on several
machines share one queue.

The rules (budgets, attempts, leases) live in `generation.jobs`, as for the SQLite store.
A claim picks its job with `FOR UPDATE SKIP LOCKED`, so workers never wait on a row
another is taking; claims and enqueues also take a transaction-scoped advisory lock,
because the limits they check (jobs in progress, the daily budgets) are counts over
many rows that no row lock can hold still.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import fields

import psycopg

from feed.storage.postgres import PgMigration, PostgresDatabase
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
MIGRATIONS: dict[int, PgMigration] = {
    0: """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        idempotency_key TEXT NOT NULL UNIQUE,
        requester TEXT,
        gap_id TEXT,
        phrase TEXT,
        prompt TEXT NOT NULL,
        provider TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        lease_until DOUBLE PRECISION,
        error TEXT,
        clip_id TEXT,
        external_id TEXT,
        remix_of TEXT,
        seconds DOUBLE PRECISION,
        aspect TEXT,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_status ON jobs(status, created_at, seq);
    CREATE INDEX jobs_requester ON jobs(requester, created_at)
    """,
}
# Read by name, in the order of Job's fields, so Job(*row) holds.
COLUMNS = ", ".join(f.name for f in fields(Job))
# Advisory lock keys: one for queuing (budgets), one for claiming (the in-progress limit).
ENQUEUE_LOCK = "steerfeed jobs enqueue"
CLAIM_LOCK = "steerfeed jobs claim"


def _usage(cur: psycopg.Cursor, where: str, args: tuple) -> WindowUsage:
    row = cur.execute(f"SELECT COUNT(*), MIN(created_at) FROM jobs WHERE {where}", args).fetchone()
    assert row is not None
    return WindowUsage(int(row[0]), row[1])


class PostgresJobStore:
    """Jobs in a PostgreSQL database with a versioned schema."""

    def __init__(self, url: str) -> None:
        self.db = PostgresDatabase(url, KIND, MIGRATIONS)

    def close(self) -> None:
        """Close the connection (closing twice is harmless)."""
        self.db.close()

    def enqueue(
        self, jobs: Sequence[NewJob], provider: str, now: float, budgets: Budgets
    ) -> list[Job]:
        """Queue jobs atomically; a key seen before returns the existing job.

        Raises BudgetExceeded (queuing nothing) if any requester, or everyone
        together, would pass a daily budget.
        """
        keys = [j.idempotency_key for j in jobs]
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ENQUEUE_LOCK,))
            seen = {
                r[0]
                for r in cur.execute(
                    "SELECT idempotency_key FROM jobs WHERE idempotency_key = ANY(%s)", (keys,)
                )
            }
            fresh: list[NewJob] = []
            for j in jobs:  # a key twice in one batch is one job
                if j.idempotency_key not in seen:
                    seen.add(j.idempotency_key)
                    fresh.append(j)
            since = now - DAY_S
            requesters = {j.requester for j in fresh if j.requester is not None}
            check_budgets(
                fresh,
                _usage(cur, "created_at > %s", (since,)),
                {r: _usage(cur, "requester = %s AND created_at > %s", (r, since))
                 for r in requesters},
                budgets,
                now,
            )  # fmt: skip
            if fresh:
                cur.executemany(
                    "INSERT INTO jobs (id, idempotency_key, requester, gap_id, phrase, prompt,"
                    " provider, status, created_at, updated_at, remix_of, seconds, aspect)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s)",
                    [(f"job_{uuid.uuid4().hex[:12]}", j.idempotency_key, j.requester, j.gap_id,
                      j.phrase, j.prompt, provider, now, now, j.remix_of, j.seconds, j.aspect)
                     for j in fresh],
                )  # fmt: skip
            rows = cur.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE idempotency_key = ANY(%s)", (keys,)
            ).fetchall()
        by_key = {job.idempotency_key: job for job in (Job(*r) for r in rows)}
        return [by_key[k] for k in keys]

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        rows = self.db.query(f"SELECT {COLUMNS} FROM jobs WHERE id = %s", (job_id,))
        return Job(*rows[0]) if rows else None

    def for_requester(self, requester: str, limit: int = 50) -> list[Job]:
        """A requester's jobs, newest first."""
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM jobs WHERE requester = %s"
            " ORDER BY created_at DESC, seq DESC LIMIT %s",
            (requester, limit),
        )
        return [Job(*r) for r in rows]

    def list(self, status: str | None = None, limit: int = 100) -> list[Job]:
        """Recent jobs, newest first (all of them, or those with `status`)."""
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM jobs WHERE %(status)s::text IS NULL OR status = %(status)s"
            " ORDER BY created_at DESC, seq DESC LIMIT %(limit)s",
            {"status": status, "limit": limit},
        )
        return [Job(*r) for r in rows]

    def set_progress(self, job_id: str, progress: float, now: float) -> None:
        """Record how far a running job has got (0..1; never moves back within an attempt)."""
        with self.db.tx() as cur:
            cur.execute(
                "UPDATE jobs SET progress = GREATEST(progress, %s), updated_at = %s"
                " WHERE id = %s AND status = 'in_progress'",
                (min(max(progress, 0.0), 1.0), now, job_id),
            )

    def claim(self, now: float, budgets: Budgets, lease_s: float = LEASE_S) -> Job | None:
        """Take the oldest runnable job (queued, or in progress with an expired lease)."""
        with self.db.tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (CLAIM_LOCK,))
            running = cur.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'in_progress' AND lease_until > %s",
                (now,),
            ).fetchone()
            if running is not None and running[0] >= budgets.max_in_progress:
                return None
            row = cur.execute(
                f"UPDATE jobs SET status = 'in_progress', attempts = attempts + 1,"
                f" lease_until = %(lease)s, progress = 0, updated_at = %(now)s"
                f" WHERE id = (SELECT id FROM jobs WHERE status = 'queued'"
                f"  OR (status = 'in_progress' AND lease_until <= %(now)s)"
                f"  ORDER BY created_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {COLUMNS}",
                {"now": now, "lease": now + lease_s},
            ).fetchone()
        return None if row is None else Job(*row)

    def finish(self, job_id: str, now: float, *, clip_id: str | None = None,
               error: str | None = None, external_id: str | None = None) -> Job:  # fmt: skip
        """Mark a claimed job completed (with clip_id) or failed (with error).

        A failed attempt is queued again while attempts remain.
        """
        with self.db.tx() as cur:
            found = cur.execute(
                "SELECT attempts FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
            ).fetchone()
            if found is None:
                raise KeyError(job_id)
            row = cur.execute(
                f"UPDATE jobs SET status = %s, clip_id = coalesce(%s, clip_id), error = %s,"
                f" external_id = coalesce(%s, external_id), lease_until = NULL, updated_at = %s,"
                f" progress = %s WHERE id = %s RETURNING {COLUMNS}",
                (status_after(found[0], error), clip_id, error, external_id, now,
                 1.0 if error is None else 0.0, job_id),
            ).fetchone()  # fmt: skip
        assert row is not None
        return Job(*row)
