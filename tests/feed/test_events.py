"""The Parquet event log: durable batches partitioned by date, scanned lazily."""

from __future__ import annotations

import polars as pl

from feed.storage.events import EventLog, LoggedEvent, event_date


def test_append_and_scan_by_date(tmp_path):
    log = EventLog(tmp_path / "events")
    day1, day2 = 1_767_225_600.0, 1_767_225_600.0 + 86_400  # 2026-01-01 and -02 UTC
    log.append([LoggedEvent(day1 + 5, "u1", "s1", "c1", "view", 1200, day1 + 6),
                LoggedEvent(day2 + 5, "u1", None, "c2", "like", None, day2 + 6)])  # fmt: skip
    log.append([LoggedEvent(day2 + 9, "u2", "s2", "c1", "skip", 300, day2 + 10)])
    assert event_date(day1) == "2026-01-01"
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
        "date=2026-01-01", "date=2026-01-02",
    ]  # fmt: skip
    frame = log.scan().sort("ts").collect()
    assert frame["clip_id"].to_list() == ["c1", "c2", "c1"]
    assert frame["watch_ms"].to_list() == [1200, None, 300]
    assert frame["date"].to_list() == ["2026-01-01", "2026-01-02", "2026-01-02"]
    assert frame.schema["ts"] == pl.Float64
    assert not list((tmp_path / "events").rglob("*.tmp"))


def test_empty_log_scans_to_empty_frame(tmp_path):
    assert EventLog(tmp_path / "none").scan().collect().height == 0


def test_a_batch_lands_in_its_arrival_day_whatever_its_timestamps(tmp_path):
    """Finding 7: 500 events claiming 500 different days used to write 500 folders."""
    log = EventLog(tmp_path / "events")
    arrived = 1_767_225_600.0 + 3_600  # 2026-01-01 01:00 UTC
    batch = [LoggedEvent(arrived - day * 86_400, "u1", None, "c1", "view", 10, arrived)
             for day in range(500)]  # fmt: skip
    (written,) = log.append(batch)
    assert [p.name for p in (tmp_path / "events").iterdir()] == ["date=2026-01-01"]
    assert written.parent.name == "date=2026-01-01"
    assert log.scan().collect().height == 500
