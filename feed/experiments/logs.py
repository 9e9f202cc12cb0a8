"""The steering log: instructions users gave, kept beside the event log.

The live event log (feed/storage/events.py) holds what users did with clips; what
they said lives in the user store. Experiments keep instructions in a small
Parquet file with this schema so that simulated and recorded sessions replay
the same way. `target` is the catalog tag the instruction is about when it is
known (the simulator knows it); replay then scores steering by that tag,
otherwise by the phrase's meaning. `op` is what the user meant (boost,
suppress, exclude, only) when known; `lang`, `kind` and `case_id` name the
held-out corpus case the words came from.

Beside them, the exposure log records what a logging policy served: one row
per clip on a page, with its propensity (the probability the policy had of
putting it there), which is what off-policy estimates (IPS, SNIPS, DR) need.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from feed.storage.state import user_instructions

STEERING_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Float64(),
    "user_id": pl.String(),
    "session_id": pl.String(),
    "text": pl.String(),
    "target": pl.String(),
    "op": pl.String(),
    "lang": pl.String(),
    "kind": pl.String(),
    "case_id": pl.String(),
}
OPTIONAL_STEERING = ("session_id", "target", "op", "lang", "kind", "case_id")

EXPOSURE_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Float64(),
    "user_id": pl.String(),
    "session_id": pl.String(),
    "page": pl.Int64(),
    "position": pl.Int64(),
    "clip_id": pl.String(),
    "propensity": pl.Float64(),
    "pool": pl.Int64(),
    "policy": pl.String(),
}


@dataclass(frozen=True)
class LoggedInstruction:
    """One steering instruction as logged; `ts` is seconds since the epoch."""

    ts: float
    user_id: str
    session_id: str | None
    text: str
    target: str | None
    op: str | None = None
    lang: str | None = None
    kind: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class Exposure:
    """One clip a logging policy served: page `page` of the session, at `position`, with
    the probability it had of being on that page (None when the policy cannot say), out
    of `pool` clips the policy could have served."""

    ts: float
    user_id: str
    session_id: str
    page: int
    position: int
    clip_id: str
    propensity: float | None
    pool: int | None
    policy: str


def empty_steering_log() -> pl.DataFrame:
    """A steering log with no rows."""
    return pl.DataFrame(schema=STEERING_SCHEMA)


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file via a temp file and a rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_steering_log(path: Path, instructions: Sequence[LoggedInstruction]) -> None:
    """Write instructions (atomically) as a steering log."""
    frame = pl.DataFrame(
        {name: [getattr(i, name) for i in instructions] for name in STEERING_SCHEMA},
        schema=STEERING_SCHEMA,
    )
    write_parquet_atomic(frame, path)


def read_steering_log(path: Path) -> pl.DataFrame:
    """A steering log; raises ValueError if a column is missing."""
    frame = pl.read_parquet(path)
    missing = sorted(set(STEERING_SCHEMA) - set(frame.columns) - set(OPTIONAL_STEERING))
    if missing:
        raise ValueError(f"{path} is not a steering log: no column(s) {missing}")
    for name in OPTIONAL_STEERING:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String()).alias(name))
    return frame.select([pl.col(n).cast(t) for n, t in STEERING_SCHEMA.items()])


def steering_from_state(path: Path) -> pl.DataFrame:
    """Users' instructions as stored by a live home's user state (read-only; operators'
    global steering and resets are left out, targets are unknown)."""
    rows = user_instructions(path)
    return pl.DataFrame(
        {
            "ts": [float(r[0]) for r in rows],
            "user_id": [r[1] for r in rows],
            "session_id": [r[2] for r in rows],
            "text": [r[3] for r in rows],
            **{name: [None] * len(rows) for name in OPTIONAL_STEERING[1:]},
        },
        schema=STEERING_SCHEMA,
    )


def write_exposure_log(path: Path, exposures: Sequence[Exposure]) -> None:
    """Write what a logging policy served (atomically) as an exposure log."""
    frame = pl.DataFrame(
        {name: [getattr(e, name) for e in exposures] for name in EXPOSURE_SCHEMA},
        schema=EXPOSURE_SCHEMA,
    )
    write_parquet_atomic(frame, path)


def read_exposure_log(path: Path) -> pl.DataFrame:
    """An exposure log; raises ValueError if it is not one (a `propensity` column is needed)."""
    frame = pl.read_parquet(path)
    missing = sorted(set(EXPOSURE_SCHEMA) - set(frame.columns))
    if missing:
        raise ValueError(f"{path} is not an exposure log: no column(s) {missing}")
    return frame.select([pl.col(n).cast(t) for n, t in EXPOSURE_SCHEMA.items()])
