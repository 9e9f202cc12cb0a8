"""Kill -9 during ingest: on restart the catalog and every index agree."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from support import assert_catalog_and_index_agree, write_manifest

TOTAL = 3000


def committed_clips(db_path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM clips").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_during_ingest_leaves_catalog_and_index_agreeing(tmp_path, make_engine):
    home = tmp_path / "home"
    rows = [
        {"id": f"c{i:05d}", "prompt": f"clip number {i} of a {['cat', 'dog', 'car'][i % 3]}",
         "creator": f"u{i % 17}"}
        for i in range(TOTAL)
    ]  # fmt: skip
    manifest = write_manifest(tmp_path / "big.jsonl", rows)
    # Crash safety, not channels: the text channel alone keeps the ingest quick.
    env = dict(os.environ, HF_HUB_OFFLINE="1", STEERFEED_CLIP_PRETRAINED="off",
               STEERFEED_MULTILINGUAL="off")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "feed.cli", "ingest", str(manifest), "--home", str(home)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while committed_clips(home / "catalog.sqlite") < 200:
            assert proc.poll() is None, "ingest ended before it could be killed"
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = committed_clips(home / "catalog.sqlite")
    assert 0 < at_kill < TOTAL

    engine = make_engine(home)
    assert engine.catalog.count() == at_kill
    assert_catalog_and_index_agree(engine)
    # and the interrupted ingest can simply be run again to completion
    from feed.core.manifest import read_manifest

    report = engine.ingest(read_manifest(manifest).entries)
    assert len(report.added) == TOTAL - at_kill and engine.catalog.count() == TOTAL
    assert_catalog_and_index_agree(engine)
