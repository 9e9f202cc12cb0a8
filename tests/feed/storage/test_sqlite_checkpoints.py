"""A database's write-ahead log is checkpointed by its own thread, not by a commit, until it
grows past a bound."""

from __future__ import annotations

import sqlite3
import time

from feed.storage import sqlite as sqlite_mod
from feed.storage.sqlite import Database


def test_the_log_is_checkpointed_off_the_request_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_WAL_BYTES", 64 << 10)
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_EVERY_S", 0.01)
    path = tmp_path / "t.sqlite"
    db = Database(path, "test", {0: "CREATE TABLE t (a TEXT)"})
    # Commits never copy the log back themselves: SQLite's own checkpoints are off.
    assert db.query("PRAGMA wal_autocheckpoint") == [(0,)]
    with db.tx() as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(512)])
    # What the commit wrote sits in the log until the thread copies it into the file.
    deadline = time.monotonic() + 30
    while path.stat().st_size < 512 * 1000 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_size >= 512 * 1000
    assert db.query("SELECT count(*) FROM t") == [(512,)]
    # Once checkpointed, the log starts over and its file shrinks with it, so its size
    # says what it holds: a small write leaves it far below the line.
    wal = tmp_path / "t.sqlite-wal"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.tx() as conn:
            conn.execute("INSERT INTO t VALUES ('y')")
        if wal.stat().st_size < 64 << 10:
            break
        time.sleep(0.01)
    assert wal.stat().st_size < 64 << 10
    db.close()
    assert not db._checkpointer.is_alive()
    db.close()  # twice is harmless
    again = Database(path, "test", {0: "CREATE TABLE t (a TEXT)"})
    assert again.query("SELECT count(*) FROM t WHERE a != 'y'") == [(512,)]
    again.close()


def test_writes_that_never_pause_keep_the_log_bounded(tmp_path, monkeypatch):
    """With the thread never catching up (here: never running), the log grew without
    bound; a commit that leaves it past the bound checkpoints it and it starts over."""
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_EVERY_S", 3600.0)
    path = tmp_path / "t.sqlite"
    db = Database(path, "test", {0: "CREATE TABLE t (a TEXT)"})
    wal = tmp_path / "t.sqlite-wal"

    def write(commits: int) -> int:
        largest = 0
        for _ in range(commits):
            with db.tx() as conn:
                conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(16)])
            largest = max(largest, wal.stat().st_size)
        return largest

    # Out of reach, the bound never acts: 100 commits of 16 KB, all of them in the log.
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_BOUND_BYTES", 1 << 40)
    assert write(100) >= 100 * 16 * 1000
    # Within reach: the log never holds more than the bound and one commit.
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_BOUND_BYTES", 256 << 10)
    assert write(200) < (256 << 10) + (64 << 10)
    assert path.stat().st_size >= 300 * 16 * 1000
    assert db.query("SELECT count(*) FROM t") == [(300 * 16,)]
    db.close()


def test_a_reader_of_the_log_never_makes_a_commit_wait(tmp_path, monkeypatch):
    """Past the bound with another connection reading, the checkpoint finds the log busy and
    the commit returns at once; the log is tried again once it has grown by the bound."""
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_EVERY_S", 3600.0)
    monkeypatch.setattr(sqlite_mod, "CHECKPOINT_BOUND_BYTES", 256 << 10)
    path = tmp_path / "t.sqlite"
    db = Database(path, "test", {0: "CREATE TABLE t (a TEXT)"})
    reader = sqlite3.connect(str(path), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchall()  # holds the log's first snapshot
    tried = []
    real = db._bound_the_log

    def counted() -> None:
        before = db._busy_log_bytes
        real()
        tried.append(db._busy_log_bytes != before)

    monkeypatch.setattr(db, "_bound_the_log", counted)
    for _ in range(40):  # 640 KB of rows: past the bound a few times
        with db.tx() as conn:
            conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(16)])
    # Busy at the bound, then once more each time the log grew by as much again.
    grown = (tmp_path / "t.sqlite-wal").stat().st_size
    assert 1 <= sum(tried) <= grown // (256 << 10)
    assert db.query("PRAGMA busy_timeout") == [(sqlite_mod.BUSY_TIMEOUT_MS,)]
    reader.execute("COMMIT")
    reader.close()
    with db.tx() as conn:
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(16)])
    assert db.query("SELECT count(*) FROM t") == [(41 * 16,)]
    db.close()
