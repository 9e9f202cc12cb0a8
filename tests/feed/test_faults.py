"""Faults: SIGKILL in the middle of index saves and event writes loses nothing acknowledged,
and on restart the index matches the catalog."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from support import HASH_ENCODER, assert_catalog_and_index_agree

ROOT = Path(__file__).resolve().parents[2]

SAVER = (
    HASH_ENCODER
    + """
import sys
from pathlib import Path
from feed.storage.catalog import ClipRecord
from feed.services.clips import ClipStore

home = Path(sys.argv[1])
engine = ClipStore(home, HashEncoder(), None)
enc = HashEncoder()
n = 0
while True:  # keep changing the catalog and saving the index until killed
    records = [ClipRecord(id=f"c{n + i}", prompt=f"clip {n + i}", creator="x", created_at=0.0)
               for i in range(500)]
    vectors = enc.encode_texts([r.prompt for r in records])
    seqs = engine.catalog.upsert_clips(records, {"text": (enc.model_id, vectors)})
    engine.indexes["text"].upsert(np.array(seqs), vectors)
    n += 500
    Path(sys.argv[2]).write_text(str(n))
    engine.save()
"""
)

EVENTS = """
import os, sys, time
from pathlib import Path
from feed.storage.events import EventLog, LoggedEvent

log = EventLog(Path(sys.argv[1]))
acked = Path(sys.argv[2])
i = 0
while True:
    log.append([LoggedEvent(1_767_225_600.0 + i, "u1", None, f"c{i}", "view", 100, 0.0)])
    i += 1
    # Acknowledged only after append returned; written whole, so a kill cannot leave the
    # count half-written.
    acked.with_suffix(".tmp").write_text(str(i))
    os.replace(acked.with_suffix(".tmp"), acked)
"""


def run_and_kill(script: str, args: list[str], ready: Path, tmp_path: Path, min_value: int) -> None:
    path = tmp_path / "worker.py"
    path.write_text(textwrap.dedent(script))
    proc = subprocess.Popen([sys.executable, str(path), *args], cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while not ready.exists() or int(ready.read_text() or 0) < min_value:
            assert proc.poll() is None, "worker died on its own"
            assert time.monotonic() < deadline, "worker made no progress"
            time.sleep(0.01)
        time.sleep(0.05 + np.random.default_rng().random() * 0.2)  # somewhere mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_kill_during_index_save(tmp_path, attempt):
    home = tmp_path / "home"
    run_and_kill(SAVER, [str(home), str(tmp_path / "n")], tmp_path / "n", tmp_path, 1500)
    namespace: dict = {}
    exec(HASH_ENCODER, namespace)  # the same stand-in encoder
    from feed.services.clips import ClipStore

    engine = ClipStore(home, namespace["HashEncoder"](), None)
    assert engine.catalog.count() >= 1500
    assert_catalog_and_index_agree(engine)
    engine.catalog.close()


@pytest.mark.slow
def test_kill_during_event_writes_loses_no_acknowledged_event(tmp_path):
    acked = tmp_path / "acked"
    run_and_kill(EVENTS, [str(tmp_path / "events"), str(acked)], acked, tmp_path, 50)
    from feed.storage.events import EventLog

    frame = EventLog(tmp_path / "events").scan().collect()
    assert frame.height >= int(acked.read_text())
    assert frame["clip_id"].n_unique() == frame.height  # no batch written twice
