"""The event log: append-only Parquet files partitioned by arrival date (polars).

Each accepted batch becomes one file, written to a temp name, fsynced and
renamed, so a reader never sees half a batch and an acknowledged batch is on
disk. Batches land in the folder of the day they arrived (`received_at`), not of
the times their clients claim: a batch is one file, whatever its timestamps say.
Offline experiments scan the folder lazily.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Float64(),
    "user_id": pl.String(),
    "session_id": pl.String(),
    "clip_id": pl.String(),
    "type": pl.String(),
    "watch_ms": pl.Int64(),
    "received_at": pl.Float64(),
}


@dataclass(frozen=True)
class LoggedEvent:
    """One row of the event log; `ts` and `received_at` are seconds since the epoch."""

    ts: float
    user_id: str
    session_id: str | None
    clip_id: str
    type: str
    watch_ms: int | None
    received_at: float


def event_date(ts: float) -> str:
    """UTC date (YYYY-MM-DD) of a timestamp (an event's arrival: its partition)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


class EventLog:
    """Parquet event log under `directory/date=YYYY-MM-DD/part-*.parquet` (arrival date)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def append(self, events: Sequence[LoggedEvent]) -> list[Path]:
        """Durably write a batch (one file per arrival date, normally one); returns the files."""
        if not events:
            return []
        by_date: dict[str, list[LoggedEvent]] = {}
        for e in events:
            by_date.setdefault(event_date(e.received_at), []).append(e)
        written = []
        stamp = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        for date, batch in by_date.items():
            part = pl.DataFrame(
                {name: [getattr(e, name) for e in batch] for name in EVENT_SCHEMA},
                schema=EVENT_SCHEMA,
            )
            folder = self.directory / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"part-{stamp}.parquet"
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    part.write_parquet(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            written.append(target)
        return written

    def scan(self) -> pl.LazyFrame:
        """All events as a lazy frame (with a `date` column from the partition)."""
        files = sorted(self.directory.glob("date=*/part-*.parquet"))
        if not files:
            return pl.LazyFrame(schema=EVENT_SCHEMA | {"date": pl.String()})
        return pl.scan_parquet(
            [str(f) for f in files], hive_partitioning=True, hive_schema={"date": pl.String()}
        )
