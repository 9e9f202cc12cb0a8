"""The event log contract: every EventLog backend runs this suite.

A new backend joins by adding one entry to BACKENDS: a function that, given a test's
tmp_path, returns the URL of an empty log for `open_store`. How Parquet files are laid
out by date stays in tests/feed/test_events.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from feed.storage.events import EVENT_SCHEMA, LoggedEvent
from feed.storage.interfaces import EventLog
from feed.storage.stores import open_store

DAY = 1_767_225_600.0  # 2026-01-01 00:00 UTC
Opener = Callable[[], EventLog]


def _parquet(tmp_path: Path) -> str:
    return f"parquet://{tmp_path / 'events'}"


BACKENDS: dict[str, Callable[[Path], str]] = {"parquet": _parquet}


@pytest.fixture(params=sorted(BACKENDS))
def open_log(request, tmp_path) -> Opener:
    """Opens the backend's log; each call opens the same events again."""
    url = BACKENDS[request.param](tmp_path)
    return lambda: open_store("events", url)


def rows(log: EventLog) -> list[tuple]:
    """Every logged event as a LoggedEvent-ordered tuple, oldest first."""
    frame = log.scan().select(list(EVENT_SCHEMA)).collect()
    return sorted(frame.iter_rows(), key=lambda r: (r[0], r[3]))


def as_row(event: LoggedEvent) -> tuple:
    return tuple(getattr(event, name) for name in EVENT_SCHEMA)


FIRST = [LoggedEvent(DAY + 5, "u1", "s1", "c1", "view", 1200, DAY + 6),
         LoggedEvent(DAY + 7, "u1", None, "c2", "like", None, DAY + 8)]  # fmt: skip
SECOND = [LoggedEvent(DAY + 86_400 + 1, "u2", "s2", "c1", "skip", 300, DAY + 86_400 + 2),
          LoggedEvent(DAY + 9, "u3", "s3", "c3", "hide", 0, DAY + 86_400 + 2)]  # fmt: skip


def test_an_empty_log_scans_empty_with_the_event_columns(open_log):
    frame = open_log().scan().collect()
    assert frame.height == 0
    assert {name: frame.schema[name] for name in EVENT_SCHEMA} == EVENT_SCHEMA


def test_appended_batches_scan_back_with_their_types(open_log):
    log = open_log()
    log.append(FIRST)
    log.append(SECOND)
    assert log.append([]) == []
    assert rows(log) == sorted(map(as_row, FIRST + SECOND), key=lambda r: (r[0], r[3]))
    schema = log.scan().collect_schema()
    assert {name: schema[name] for name in EVENT_SCHEMA} == EVENT_SCHEMA
    assert schema["watch_ms"] == pl.Int64 and schema["ts"] == pl.Float64


def test_reopening_keeps_every_batch(open_log):
    log = open_log()
    log.append(FIRST)
    open_log().append(SECOND)  # another process appending to the same log
    assert rows(open_log()) == rows(log)
    assert len(rows(open_log())) == 4


def test_a_large_batch_is_kept_whole(open_log):
    batch = [LoggedEvent(DAY + i, f"u{i % 7}", None, f"c{i}", "view", i, DAY + 10)
             for i in range(2_000)]  # fmt: skip
    log = open_log()
    log.append(batch)
    assert rows(log) == [as_row(e) for e in batch]
