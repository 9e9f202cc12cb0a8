"""Generation jobs: requests that survive restarts, with budgets, leases and retries.

A job moves queued → in_progress → completed | failed, and reports how far its
provider has got (0..1) while it runs. Claiming a job takes a lease; a process that
dies mid-job leaves the lease to expire, and the next run resumes the job (the
provider's idempotency key makes the redo the same job, and the clip id is derived
from the job id, so ingest never duplicates).

This module holds the rules and the `JobStore` protocol; the stores that keep jobs
durably live in `feed.storage.jobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generation.providers import (
    DEFAULT_ASPECT,
    DEFAULT_SECONDS,
    GenerationRequest,
    VideoProvider,
)

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class WindowUsage:
    """Jobs created in the rolling day before now: how many, and when the oldest was."""

    count: int
    oldest: float | None


def check_budgets(
    fresh: Sequence[NewJob],
    everyone: WindowUsage,
    by_requester: Mapping[str, WindowUsage],
    budgets: Budgets,
    now: float,
) -> None:
    """Raise BudgetExceeded if queuing `fresh` would pass a daily budget.

    `everyone` is the usage of the rolling day by all jobs, `by_requester` that of
    each requester among `fresh`.
    """
    if everyone.count + len(fresh) > budgets.global_daily:
        raise BudgetExceeded(
            f"global daily generation budget of {budgets.global_daily} reached"
            f" ({everyone.count} in the last 24 h)",
            _frees_in(everyone.oldest, now),
        )
    for requester, used in sorted(by_requester.items()):
        wanted = sum(j.requester == requester for j in fresh)
        if used.count + wanted > budgets.per_user_daily:
            raise BudgetExceeded(
                f"daily generation budget of {budgets.per_user_daily} per user reached"
                f" ({used.count} in the last 24 h)",
                _frees_in(used.oldest, now),
            )


def _frees_in(oldest: float | None, now: float) -> float:
    """Seconds until the oldest job of the rolling window leaves it."""
    return max(1.0, (oldest if oldest is not None else now) + DAY_S - now)


def status_after(attempts: int, error: str | None) -> str:
    """Where an attempt leaves its job: completed, queued again while attempts remain, or failed."""
    if error is None:
        return "completed"
    return "failed" if attempts >= MAX_ATTEMPTS else "queued"


class JobStore(Protocol):
    """Where jobs are kept: what `run_jobs` and the feed side need.

    Every backend runs the contract suite in tests/feed/storage/test_jobs_contract.py.
    """

    def enqueue(
        self, jobs: Sequence[NewJob], provider: str, now: float, budgets: Budgets
    ) -> list[Job]:
        """Queue jobs atomically; a key seen before returns the existing job.

        Raises BudgetExceeded (queuing nothing) if any requester, or everyone
        together, would pass a daily budget (`check_budgets`).
        """
        ...

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        ...

    def for_requester(self, requester: str, limit: int = 50) -> list[Job]:
        """A requester's jobs, newest first."""
        ...

    def claim(self, now: float, budgets: Budgets, lease_s: float = LEASE_S) -> Job | None:
        """Take the oldest runnable job (queued, or in progress with an expired lease).

        None when nothing is runnable or `budgets.max_in_progress` leases are live.
        Claiming counts an attempt, resets progress and holds the job until `now + lease_s`.
        """
        ...

    def set_progress(self, job_id: str, progress: float, now: float) -> None:
        """Record how far a running job has got (0..1; never moves back within an attempt)."""
        ...

    def finish(self, job_id: str, now: float, *, clip_id: str | None = None,
               error: str | None = None, external_id: str | None = None) -> Job:  # fmt: skip
        """Mark a claimed job completed (with clip_id) or failed (with error).

        The new status is `status_after(attempts, error)`; the lease is released and
        progress is 1 on completion, 0 otherwise.
        """
        ...

    def close(self) -> None:
        """Close the store (closing twice is harmless)."""
        ...


Ingest = Callable[[Job, Path, str], str]
# The provider's share of a job's progress; ingest (embedding, indexing) is the rest.
PROVIDER_SHARE = 0.9


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
