"""The job store contract: every JobStore backend runs this suite.

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request (for `tmp_path`, or a server fixture from tests/servers.py), returns how to open
(and reopen) one store. The tests at the end are about the SQLite file itself.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from memory_jobs import MemoryJobStore

from feed.storage import stores
from feed.storage.jobs import MIGRATIONS, SqliteJobStore
from feed.storage.sqlite import DatabaseError
from generation.jobs import (
    DAY_S,
    LEASE_S,
    MAX_ATTEMPTS,
    BudgetExceeded,
    Budgets,
    Job,
    JobStore,
    NewJob,
)

NOW = 1_000_000.0
Opener = Callable[[], JobStore]


def _sqlite(request: pytest.FixtureRequest) -> Opener:
    path = request.getfixturevalue("tmp_path") / "jobs.sqlite"
    return lambda: SqliteJobStore(path)


def _memory(request: pytest.FixtureRequest) -> Opener:
    jobs: dict[str, Job] = {}
    return lambda: MemoryJobStore(jobs)


def _postgresql(request: pytest.FixtureRequest) -> Opener:
    url = request.getfixturevalue("postgres_url")
    return lambda: stores.open_store("jobs", url)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Opener]] = {
    "sqlite": _sqlite, "memory": _memory, "postgresql": _postgresql,
}  # fmt: skip


@pytest.fixture(params=sorted(BACKENDS))
def open_job_store(request) -> Iterator[Opener]:
    """Opens the backend's store; each call opens the same jobs again, as after a restart."""
    opened: list[JobStore] = []
    opener = BACKENDS[request.param](request)

    def open_store() -> JobStore:
        opened.append(opener())
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def job_store(open_job_store) -> JobStore:
    """A fresh, empty store of each backend."""
    return open_job_store()


def claim_one(store: JobStore, now: float = NOW) -> Job:
    job = store.claim(now, Budgets())
    assert job is not None
    return job


def test_a_key_seen_before_returns_the_job_it_queued(job_store):
    new = NewJob("a heron", "k1", requester="u1", gap_id="g1", phrase="birds",
                 remix_of="clip-0", seconds=8.0, aspect="9:16")  # fmt: skip
    (first,) = job_store.enqueue([new], "fake", NOW, Budgets())
    assert (first.status, first.attempts, first.progress, first.provider) == (
        "queued", 0, 0.0, "fake")  # fmt: skip
    assert (first.prompt, first.requester, first.gap_id, first.phrase) == (
        "a heron", "u1", "g1", "birds")  # fmt: skip
    assert (first.remix_of, first.seconds, first.aspect) == ("clip-0", 8.0, "9:16")
    again, other = job_store.enqueue([new, NewJob("a crane", "k2")], "fake", NOW + 5, Budgets())
    assert again == first and other.id != first.id and other.status == "queued"
    assert job_store.get(first.id) == first and job_store.get("job_missing") is None


def test_budgets_refuse_the_whole_batch_until_the_day_rolls_on(job_store):
    budgets = Budgets(per_user_daily=2, global_daily=3)
    job_store.enqueue([NewJob("p1", "k1", requester="u1")], "fake", NOW, budgets)
    job_store.enqueue([NewJob("p2", "k2", requester="u1")], "fake", NOW + 100, budgets)
    with pytest.raises(BudgetExceeded, match="per user") as per_user:
        job_store.enqueue([NewJob("p3", "k3", requester="u1")], "fake", NOW + 200, budgets)
    assert per_user.value.retry_after_s == DAY_S - 200  # when the oldest leaves the window
    with pytest.raises(BudgetExceeded, match="global"):
        job_store.enqueue([NewJob("p4", "k4", requester="u2"), NewJob("p5", "k5")], "fake",
                          NOW + 200, budgets)  # fmt: skip
    assert job_store.for_requester("u2") == []  # nothing of a refused batch was queued
    # a key seen before is not a new job, so it costs no budget
    job_store.enqueue([NewJob("p1", "k1", requester="u1")], "fake", NOW + 300, budgets)
    (later,) = job_store.enqueue([NewJob("p3", "k3", requester="u1")], "fake", NOW + DAY_S + 1,
                                 budgets)  # fmt: skip
    assert later.status == "queued" and len(job_store.for_requester("u1")) == 3


def test_a_requesters_jobs_come_newest_first(job_store):
    for i in range(4):
        job_store.enqueue([NewJob(f"p{i}", f"k{i}", requester="u1")], "fake", NOW + i, Budgets())
    job_store.enqueue([NewJob("theirs", "k9", requester="u2")], "fake", NOW, Budgets())
    assert [j.prompt for j in job_store.for_requester("u1")] == ["p3", "p2", "p1", "p0"]
    assert [j.prompt for j in job_store.for_requester("u1", limit=2)] == ["p3", "p2"]


def test_claims_take_the_oldest_job_under_a_lease_and_a_concurrency_limit(job_store):
    job_store.enqueue([NewJob("older", "k1")], "fake", NOW, Budgets())
    job_store.enqueue([NewJob("newer", "k2")], "fake", NOW + 1, Budgets())
    one = Budgets(max_in_progress=1)
    first = job_store.claim(NOW + 2, one, lease_s=60.0)
    assert first is not None and first.prompt == "older"
    assert (first.status, first.attempts, first.lease_until) == ("in_progress", 1, NOW + 62)
    assert job_store.claim(NOW + 2, one) is None  # one lease is live: the limit is reached
    second = job_store.claim(NOW + 2, Budgets(max_in_progress=2), lease_s=60.0)
    assert second is not None and second.prompt == "newer"
    assert job_store.claim(NOW + 2, Budgets(max_in_progress=5)) is None  # nothing runnable
    # a worker that died leaves its lease to expire; the job is claimed again
    resumed = job_store.claim(NOW + 63, one)
    assert resumed is not None and resumed.id == first.id and resumed.attempts == 2


def test_failed_attempts_are_queued_again_until_attempts_run_out(job_store):
    (job,) = job_store.enqueue([NewJob("a cat", "k1")], "fake", NOW, Budgets())
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = claim_one(job_store, NOW + attempt)
        assert claimed.id == job.id and claimed.attempts == attempt
        job_store.set_progress(job.id, 0.4, NOW + attempt)
        after = job_store.finish(job.id, NOW + attempt, error=f"hiccup {attempt}")
        assert after.status == ("failed" if attempt == MAX_ATTEMPTS else "queued")
        assert after.error == f"hiccup {attempt}" and after.lease_until is None
        assert after.progress == 0.0
    assert job_store.claim(NOW + LEASE_S * 10, Budgets()) is None
    assert job_store.get(job.id) == after


def test_completion_records_the_clip_and_progress_never_moves_back(job_store):
    (job,) = job_store.enqueue([NewJob("a cat", "k1")], "fake", NOW, Budgets())
    claim_one(job_store)
    job_store.set_progress(job.id, 0.5, NOW + 1)
    job_store.set_progress(job.id, 0.25, NOW + 2)
    assert job_store.get(job.id).progress == 0.5
    job_store.set_progress(job.id, 7.0, NOW + 3)
    assert job_store.get(job.id).progress == 1.0  # clamped to 0..1
    done = job_store.finish(job.id, NOW + 4, clip_id=job.clip_id_for_ingest, external_id="ext-1")
    assert (done.status, done.clip_id, done.external_id, done.error) == (
        "completed", job.clip_id_for_ingest, "ext-1", None)  # fmt: skip
    assert done.progress == 1.0 and done.lease_until is None and done.updated_at == NOW + 4
    job_store.set_progress(job.id, 0.1, NOW + 5)  # a finished job no longer moves
    assert job_store.get(job.id) == done


def test_a_retry_starts_its_progress_again_and_keeps_earlier_results(job_store):
    (job,) = job_store.enqueue([NewJob("a cat", "k1")], "fake", NOW, Budgets())
    claim_one(job_store)
    job_store.set_progress(job.id, 0.8, NOW)
    job_store.finish(job.id, NOW, error="ingest failed", external_id="ext-1")
    assert claim_one(job_store).progress == 0.0
    done = job_store.finish(job.id, NOW + 1, clip_id="clip-1")
    assert done.external_id == "ext-1" and done.error is None and done.status == "completed"


def test_reopening_keeps_jobs_and_their_keys(open_job_store):
    store = open_job_store()
    (job,) = store.enqueue([NewJob("a cat", "k1", requester="u1")], "fake", NOW, Budgets())
    claimed = claim_one(store)
    store.close()
    reopened = open_job_store()
    assert reopened.get(job.id) == claimed
    assert reopened.enqueue([NewJob("a cat", "k1", requester="u1")], "fake", NOW,
                            Budgets()) == [claimed]  # fmt: skip
    assert reopened.claim(NOW, Budgets()) is None  # the lease survived too


# -- the SQLite file ---------------------------------------------------------------------

# The job table as written before it had a versioned schema, first as first released,
# then with the columns later releases added.
UNVERSIONED_JOBS = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, requester TEXT, gap_id TEXT,
    phrase TEXT, prompt TEXT NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    lease_until REAL, error TEXT, clip_id TEXT, external_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created_at);
CREATE INDEX IF NOT EXISTS jobs_requester ON jobs(requester, created_at);
INSERT INTO jobs (id, idempotency_key, requester, prompt, provider, status, attempts,
                  created_at, updated_at, clip_id)
VALUES ('job_old', 'k-old', 'u1', 'an old fox', 'procedural', 'completed', 1, 5.0, 6.0,
        'gen-job_old');
"""
LATER_COLUMNS = """
ALTER TABLE jobs ADD COLUMN remix_of TEXT;
ALTER TABLE jobs ADD COLUMN seconds REAL;
ALTER TABLE jobs ADD COLUMN aspect TEXT;
ALTER TABLE jobs ADD COLUMN progress REAL NOT NULL DEFAULT 0;
"""


def recorded_meta(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def test_sqlite_records_what_the_file_holds_and_its_schema_version(tmp_path):
    SqliteJobStore(tmp_path / "jobs.sqlite").close()
    meta = recorded_meta(tmp_path / "jobs.sqlite")
    assert meta == {"app": "steerfeed", "kind": "generation jobs",
                    "schema_version": str(max(MIGRATIONS) + 1)}  # fmt: skip


@pytest.mark.parametrize("later_columns", [False, True], ids=["first-release", "latest"])
def test_sqlite_adopts_a_job_file_from_before_versioning(tmp_path, later_columns):
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_JOBS + (LATER_COLUMNS if later_columns else ""))
    db.close()
    store = SqliteJobStore(path)
    old = store.get("job_old")
    assert old is not None and (old.prompt, old.status, old.clip_id, old.progress) == (
        "an old fox", "completed", "gen-job_old", 0.0)  # fmt: skip
    (new,) = store.enqueue([NewJob("a new fox", "k-new", requester="u1", seconds=4.0,
                                   aspect="1:1")], "fake", NOW, Budgets())  # fmt: skip
    store.close()
    assert recorded_meta(path)["schema_version"] == str(max(MIGRATIONS) + 1)
    reopened = SqliteJobStore(path)
    assert [j.id for j in reopened.for_requester("u1")] == [new.id, "job_old"]
    assert (reopened.get(new.id).seconds, reopened.get(new.id).aspect) == (4.0, "1:1")
    reopened.close()


def test_sqlite_refuses_foreign_and_newer_files(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.executescript(UNVERSIONED_JOBS + "CREATE TABLE users (id TEXT);")
    db.close()
    with pytest.raises(DatabaseError, match="foreign tables"):
        SqliteJobStore(foreign)
    newer = tmp_path / "newer.sqlite"
    SqliteJobStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.close()
    with pytest.raises(DatabaseError, match="newer"):
        SqliteJobStore(newer)


# -- PostgreSQL --------------------------------------------------------------------------


def test_postgres_workers_claiming_at_once_share_the_jobs_and_the_limit(postgres_url):
    workers = [stores.open_store("jobs", postgres_url) for _ in range(3)]
    workers[0].enqueue([NewJob(f"p{i}", f"k{i}") for i in range(6)], "fake", NOW, Budgets())
    limit = Budgets(max_in_progress=4)
    claimed: list[Job] = []
    barrier = threading.Barrier(len(workers))

    def work(store: JobStore) -> None:
        barrier.wait()
        while (job := store.claim(NOW, limit)) is not None:
            claimed.append(job)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 4 and len({j.id for j in claimed}) == 4
    assert all(j.attempts == 1 for j in claimed)
    for w in workers:
        w.close()


def test_postgres_budgets_hold_when_workers_queue_at_once(postgres_url):
    workers = [stores.open_store("jobs", postgres_url) for _ in range(4)]
    budgets = Budgets(per_user_daily=100, global_daily=5)
    queued: list[Job] = []
    refused: list[BudgetExceeded] = []
    barrier = threading.Barrier(len(workers))

    def queue(n: int, store: JobStore) -> None:
        barrier.wait()
        try:
            queued.extend(store.enqueue([NewJob(f"p{n}-{i}", f"k{n}-{i}") for i in range(2)],
                                        "fake", NOW, budgets))  # fmt: skip
        except BudgetExceeded as exc:
            refused.append(exc)

    threads = [threading.Thread(target=queue, args=(n, w)) for n, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(queued) == 4 and len(refused) == 2  # two batches of two fit under five
    for w in workers:
        w.close()
