"""The durable job table: generation requests that survive restarts, with budgets.

A job moves queued → in_progress → completed | failed, and reports how far its
provider has got (0..1) while it runs. Claiming a job takes a lease; a process that
dies mid-job leaves the lease to expire, and the next run resumes the job (the
provider's idempotency key makes the redo the same job, and the clip id is derived
from the job id, so ingest never duplicates).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from generation.providers import (
    DEFAULT_ASPECT,
    DEFAULT_SECONDS,
    GenerationRequest,
    VideoProvider,
)

log = logging.getLogger(__name__)

SCHEMA = """
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
# Columns added after the first release, appended in this order (SELECT * keeps it).
ADDED_COLUMNS = (
    ("remix_of", "TEXT"),
    ("seconds", "REAL"),
    ("aspect", "TEXT"),
    ("progress", "REAL NOT NULL DEFAULT 0"),
)
DAY_S = 86_400.0
MAX_ATTEMPTS = 3
LEASE_S = 600.0


class BudgetExceeded(RuntimeError):
    """A daily generation budget would be exceeded; nothing was queued.

    `retry_after_s` is how long until the rolling window frees a slot.
    """

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class NewJob:
    """A job to queue. `requester` is a user id, or None for operator gap fills."""

    prompt: str
    idempotency_key: str
    requester: str | None = None
    gap_id: str | None = None
    phrase: str | None = None
    remix_of: str | None = None
    seconds: float | None = None
    aspect: str | None = None


@dataclass(frozen=True)
class Job:
    """A stored job."""

    id: str
    idempotency_key: str
    requester: str | None
    gap_id: str | None
    phrase: str | None
    prompt: str
    provider: str
    status: str
    attempts: int
    created_at: float
    updated_at: float
    lease_until: float | None
    error: str | None
    clip_id: str | None
    external_id: str | None
    remix_of: str | None = None
    seconds: float | None = None
    aspect: str | None = None
    progress: float = 0.0

    @property
    def clip_id_for_ingest(self) -> str:
        """The catalog id this job's clip gets: derived from the job, so re-ingest updates."""
        return f"gen-{self.id}"


@dataclass(frozen=True)
class Budgets:
    """Daily caps (rolling 24 h) and how many jobs may run at once."""

    per_user_daily: int = 10
    global_daily: int = 200
    max_in_progress: int = 2


class JobStore:
    """Jobs in their own SQLite file (WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._tx() as db:
            for statement in SCHEMA.split(";"):
                db.execute(statement)
            have = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, kind in ADDED_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def enqueue(
        self, jobs: Sequence[NewJob], provider: str, now: float, budgets: Budgets
    ) -> list[Job]:
        """Queue jobs atomically; a key seen before returns the existing job.

        Raises BudgetExceeded (queuing nothing) if any requester, or everyone
        together, would pass a daily budget.
        """
        with self._tx() as db:
            seen = "SELECT 1 FROM jobs WHERE idempotency_key=?"
            fresh = [j for j in jobs if db.execute(seen, (j.idempotency_key,)).fetchone() is None]
            since = now - DAY_S
            total, oldest = db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE created_at > ?", (since,)
            ).fetchone()
            if total + len(fresh) > budgets.global_daily:
                raise BudgetExceeded(
                    f"global daily generation budget of {budgets.global_daily} reached"
                    f" ({total} in the last 24 h)",
                    _frees_in(oldest, now),
                )
            for requester in {j.requester for j in fresh if j.requester is not None}:
                used, first = db.execute(
                    "SELECT COUNT(*), MIN(created_at) FROM jobs"
                    " WHERE requester=? AND created_at > ?",
                    (requester, since),
                ).fetchone()
                wanted = sum(j.requester == requester for j in fresh)
                if used + wanted > budgets.per_user_daily:
                    raise BudgetExceeded(
                        f"daily generation budget of {budgets.per_user_daily} per user reached"
                        f" ({used} in the last 24 h)",
                        _frees_in(first, now),
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
                f"SELECT * FROM jobs WHERE idempotency_key IN ({','.join('?' * len(keys))})", keys
            ).fetchall()
        by_key = {r[1]: Job(*r) for r in rows}
        return [by_key[k] for k in keys]

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else Job(*row)

    def for_requester(self, requester: str, limit: int = 50) -> list[Job]:
        """A requester's jobs, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE requester=? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (requester, limit),
            ).fetchall()
        return [Job(*r) for r in rows]

    def set_progress(self, job_id: str, progress: float, now: float) -> None:
        """Record how far a running job has got (0..1; never moves back within an attempt)."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET progress=max(progress, ?), updated_at=?"
                " WHERE id=? AND status='in_progress'",
                (min(max(progress, 0.0), 1.0), now, job_id),
            )

    def list(self, status: str | None = None, limit: int = 100) -> list[Job]:
        """Recent jobs, newest first."""
        with self._lock:
            if status is None:
                rows = self._db.execute(
                    "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM jobs WHERE status=? ORDER BY created_at DESC LIMIT ?",
                    (status, limit),
                ).fetchall()
        return [Job(*r) for r in rows]

    def claim(self, now: float, budgets: Budgets, lease_s: float = LEASE_S) -> Job | None:
        """Take the oldest runnable job (queued, or in progress with an expired lease)."""
        with self._tx() as db:
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
            claimed = db.execute("SELECT * FROM jobs WHERE id=?", (row[0],)).fetchone()
        return Job(*claimed)

    def finish(self, job_id: str, now: float, *, clip_id: str | None = None,
               error: str | None = None, external_id: str | None = None) -> Job:  # fmt: skip
        """Mark a claimed job completed (with clip_id) or failed (with error).

        A failed attempt is requeued while attempts remain.
        """
        with self._tx() as db:
            attempts = db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0]
            if error is None:
                status = "completed"
            else:
                status = "failed" if attempts >= MAX_ATTEMPTS else "queued"
            db.execute(
                "UPDATE jobs SET status=?, clip_id=coalesce(?, clip_id), error=?,"
                " external_id=coalesce(?, external_id), lease_until=NULL, updated_at=?,"
                " progress=? WHERE id=?",
                (status, clip_id, error, external_id, now, 1.0 if error is None else 0.0,
                 job_id),
            )  # fmt: skip
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job(*row)


Ingest = Callable[[Job, Path, str], str]
# The provider's share of a job's progress; ingest (embedding, indexing) is the rest.
PROVIDER_SHARE = 0.9


def _frees_in(oldest: float | None, now: float) -> float:
    """Seconds until the oldest job of the rolling window leaves it."""
    return max(1.0, (oldest if oldest is not None else now) + DAY_S - now)


def run_jobs(
    store: JobStore,
    provider: VideoProvider,
    ingest: Ingest,
    staging: Path,
    clock: Callable[[], float],
    budgets: Budgets,
    max_jobs: int = 10,
    on_done: Callable[[Job], None] | None = None,
) -> list[Job]:
    """Run up to max_jobs claimable jobs; hand each finished file to `ingest(job, path, provider)`.

    `ingest` returns the catalog clip id. Errors fail the attempt (and requeue
    it while attempts remain) without stopping the other jobs.
    """
    staging.mkdir(parents=True, exist_ok=True)
    done: list[Job] = []
    for _ in range(max_jobs):
        job = store.claim(clock(), budgets)
        if job is None:
            break
        out_path = staging / f"{job.clip_id_for_ingest}.mp4"
        report = _progress_reporter(store, job.id, clock)
        request = GenerationRequest(
            job.prompt, job.idempotency_key, seconds=job.seconds or DEFAULT_SECONDS,
            aspect=job.aspect or DEFAULT_ASPECT, on_progress=report,
        )  # fmt: skip
        try:
            video = provider.generate(request, out_path)
            store.set_progress(job.id, PROVIDER_SHARE, clock())
            clip_id = ingest(job, video.path, provider.name)
            finished = store.finish(job.id, clock(), clip_id=clip_id, external_id=video.external_id)
        except Exception as exc:  # a provider or ingest failure fails this attempt only
            log.warning("job %s attempt %d failed: %s", job.id, job.attempts, exc)
            finished = store.finish(job.id, clock(), error=str(exc)[:500])
        finally:
            out_path.unlink(missing_ok=True)
        done.append(finished)
        if on_done is not None:
            on_done(finished)
    return done


def _progress_reporter(
    store: JobStore, job_id: str, clock: Callable[[], float]
) -> Callable[[float], None]:
    """A callback for the provider's progress (0..1), written in steps of 5%."""
    last = [-1.0]

    def report(fraction: float) -> None:
        step = round(min(max(fraction, 0.0), 1.0) * 20) / 20
        if step > last[0]:
            last[0] = step
            store.set_progress(job_id, step * PROVIDER_SHARE, clock())

    return report
