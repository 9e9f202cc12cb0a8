"""A job store in memory: the JobStore protocol without a database, for tests of the job rules.

It runs the same contract suite as the durable stores
(tests/feed/storage/test_jobs_contract.py), so tests written against it hold for them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace

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


def _usage(jobs: Sequence[Job]) -> WindowUsage:
    return WindowUsage(len(jobs), min((j.created_at for j in jobs), default=None))


class MemoryJobStore:
    """Jobs in a dict by id, in the order they were queued.

    Stores given the same dict share their jobs, as stores opened on one file do.
    """

    def __init__(self, jobs: dict[str, Job] | None = None) -> None:
        self.jobs: dict[str, Job] = {} if jobs is None else jobs
        self._lock = threading.Lock()

    def enqueue(
        self, jobs: Sequence[NewJob], provider: str, now: float, budgets: Budgets
    ) -> list[Job]:
        """Queue jobs atomically; a key seen before returns the existing job."""
        with self._lock:
            by_key = {j.idempotency_key: j for j in self.jobs.values()}
            fresh = [j for j in jobs if j.idempotency_key not in by_key]
            window = [j for j in self.jobs.values() if j.created_at > now - DAY_S]
            requesters = {j.requester for j in fresh if j.requester is not None}
            by_requester = {r: _usage([j for j in window if j.requester == r]) for r in requesters}
            check_budgets(fresh, _usage(window), by_requester, budgets, now)
            for new in fresh:
                job = Job(
                    f"job_{uuid.uuid4().hex[:12]}", new.idempotency_key, new.requester,
                    new.gap_id, new.phrase, new.prompt, provider, "queued", 0, now, now,
                    None, None, None, None, new.remix_of, new.seconds, new.aspect,
                )  # fmt: skip
                self.jobs[job.id] = by_key[job.idempotency_key] = job
            return [by_key[j.idempotency_key] for j in jobs]

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        return self.jobs.get(job_id)

    def for_requester(self, requester: str, limit: int = 50) -> list[Job]:
        """A requester's jobs, newest first (the later queued first among equal times)."""
        mine = [j for j in reversed(self.jobs.values()) if j.requester == requester]
        return sorted(mine, key=lambda j: -j.created_at)[:limit]

    def claim(self, now: float, budgets: Budgets, lease_s: float = LEASE_S) -> Job | None:
        """Take the oldest runnable job (queued, or in progress with an expired lease)."""
        with self._lock:
            jobs = list(self.jobs.values())
            running = [j for j in jobs if j.status == "in_progress"]
            live = [j for j in running if j.lease_until is not None and j.lease_until > now]
            if len(live) >= budgets.max_in_progress:
                return None
            runnable = [j for j in jobs if j.status == "queued" or (j in running and j not in live)]
            if not runnable:
                return None
            job = min(runnable, key=lambda j: j.created_at)
            claimed = replace(job, status="in_progress", attempts=job.attempts + 1,
                              lease_until=now + lease_s, progress=0.0, updated_at=now)  # fmt: skip
            self.jobs[job.id] = claimed
            return claimed

    def set_progress(self, job_id: str, progress: float, now: float) -> None:
        """Record how far a running job has got (0..1; never moves back within an attempt)."""
        with self._lock:
            job = self.jobs[job_id]
            if job.status == "in_progress":
                fraction = max(job.progress, min(max(progress, 0.0), 1.0))
                self.jobs[job_id] = replace(job, progress=fraction, updated_at=now)

    def finish(self, job_id: str, now: float, *, clip_id: str | None = None,
               error: str | None = None, external_id: str | None = None) -> Job:  # fmt: skip
        """Mark a claimed job completed (with clip_id) or failed (with error)."""
        with self._lock:
            job = self.jobs[job_id]
            done = replace(
                job, status=status_after(job.attempts, error), error=error,
                clip_id=job.clip_id if clip_id is None else clip_id,
                external_id=job.external_id if external_id is None else external_id,
                lease_until=None, updated_at=now, progress=1.0 if error is None else 0.0,
            )  # fmt: skip
            self.jobs[job_id] = done
            return done

    def close(self) -> None:
        """Nothing to release."""
