"""Running jobs: ingest once, retries, attempts running out, and kill -9 mid-job.

The stores' own behaviour (keys, budgets, leases) is the contract suite's, in
tests/feed/storage/test_jobs_contract.py; here a store in memory stands in, except
where a real file must outlive a killed process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from memory_jobs import MemoryJobStore

from feed.storage.jobs import SqliteJobStore
from generation.jobs import LEASE_S, MAX_ATTEMPTS, Budgets, NewJob, run_jobs
from generation.providers import GeneratedVideo, GenerationRequest

NOW = 1_000_000.0


class FakeProvider:
    name = "fake"

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[str] = []
        self.fail_times = fail_times

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        self.calls.append(request.idempotency_key)
        if len(self.calls) <= self.fail_times:
            raise RuntimeError("provider hiccup")
        out_path.write_bytes(b"mp4 bytes for " + request.prompt.encode())
        return GeneratedVideo(out_path, self.name, f"ext-{request.idempotency_key}")


def test_run_ingests_once_and_retries_failures(tmp_path):
    store = MemoryJobStore()
    store.enqueue([NewJob("a cat", "k1"), NewJob("a dog", "k2")], "fake", NOW, Budgets())
    provider = FakeProvider(fail_times=1)
    ingested: list[str] = []

    def ingest(job, path, provider_name):
        assert path.read_bytes().startswith(b"mp4 bytes")
        ingested.append(job.clip_id_for_ingest)
        return job.clip_id_for_ingest

    done = run_jobs(store, provider, ingest, tmp_path / "staging", lambda: NOW, Budgets())
    assert [j.status for j in done] == ["queued", "completed", "completed"]
    assert sorted(j.status for j in store.jobs.values()) == ["completed", "completed"]
    assert len(ingested) == 2 and not list((tmp_path / "staging").iterdir())
    job = list(store.jobs.values())[0]
    assert job.clip_id == job.clip_id_for_ingest and job.external_id.startswith("ext-")


def test_failures_stop_after_max_attempts(tmp_path):
    store = MemoryJobStore()
    store.enqueue([NewJob("a cat", "k1")], "fake", NOW, Budgets())
    provider = FakeProvider(fail_times=99)
    run_jobs(store, provider, lambda *a: "x", tmp_path / "s", lambda: NOW, Budgets(), max_jobs=10)
    (job,) = store.jobs.values()
    assert job.status == "failed" and job.attempts == MAX_ATTEMPTS and "hiccup" in job.error


CRASHING_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from feed.storage.jobs import SqliteJobStore
    from generation.jobs import Budgets, run_jobs
    from generation.providers import GeneratedVideo

    class Slow:
        name = "fake"
        def generate(self, request, out_path):
            Path(sys.argv[2]).write_text("started")
            time.sleep(60)

    store = SqliteJobStore(Path(sys.argv[1]))
    run_jobs(store, Slow(), lambda *a: "never", Path(sys.argv[1]).parent / "staging",
             lambda: 1_000_000.0, Budgets())
    """
)


@pytest.mark.slow
def test_kill_mid_job_neither_loses_nor_duplicates(tmp_path):
    db = tmp_path / "jobs.sqlite"
    store = SqliteJobStore(db)
    store.enqueue([NewJob("a volcano, anime style", "gap:1")], "fake", NOW, Budgets())
    marker = tmp_path / "started"
    script = tmp_path / "worker.py"
    script.write_text(CRASHING_WORKER)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(marker)], cwd=root,
                            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})  # fmt: skip
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    (job,) = store.list()
    assert job.status == "in_progress"  # not lost: still on the table
    provider = FakeProvider()
    clips: list[str] = []

    def ingest(job, path, provider_name):
        clips.append(job.clip_id_for_ingest)
        return job.clip_id_for_ingest

    staging = tmp_path / "s"
    assert run_jobs(store, provider, ingest, staging, lambda: NOW, Budgets()) == []  # lease holds
    after = run_jobs(store, provider, ingest, staging, lambda: NOW + LEASE_S + 1, Budgets())
    assert [j.status for j in after] == ["completed"]
    assert clips == [job.clip_id_for_ingest] and provider.calls == ["gap:1"]
    assert len(store.list()) == 1 and store.list()[0].attempts == 2
