"""Comparing two experiment runs metric by metric (e.g. before and after a ranking change).

Runs are matched by variant and metric name. Their intervals come from
different resamples (and perhaps different users), so the comparison says
whether the two intervals overlap rather than claiming a paired difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from feed.experiments.report import fmt, fmt_ci


@dataclass(frozen=True)
class MetricChange:
    """One variant's metric in run A and run B."""

    variant: str
    metric: str
    group: str
    a: float
    a_lo: float
    a_hi: float
    b: float
    b_lo: float
    b_hi: float

    @property
    def diff(self) -> float:
        """B minus A."""
        return self.b - self.a

    @property
    def apart(self) -> bool:
        """Whether the two confidence intervals do not overlap."""
        bounds = (self.a_lo, self.a_hi, self.b_lo, self.b_hi)
        if not all(np.isfinite(x) for x in bounds):
            return False
        return self.a_hi < self.b_lo or self.b_hi < self.a_lo


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side, and what only one of them has."""

    a: Path
    b: Path
    a_name: str
    b_name: str
    changes: tuple[MetricChange, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]


def _read(run: Path) -> tuple[str, pl.DataFrame]:
    path = run / "metrics.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{run} holds no experiment results (no metrics.parquet)")
    name = run.name
    info = run / "run.json"
    if info.is_file():
        name = str(json.loads(info.read_text(encoding="utf-8")).get("name", name))
    return name, pl.read_parquet(path)


def compare_runs(a: Path, b: Path) -> Comparison:
    """Match two runs' metrics by variant and metric."""
    a_name, a_frame = _read(a)
    b_name, b_frame = _read(b)
    joined = a_frame.join(b_frame, on=["variant", "metric"], how="full", suffix="_b", coalesce=True)
    changes, only_a, only_b = [], [], []
    for row in joined.iter_rows(named=True):
        label = f"{row['variant']}/{row['metric']}"
        if row["value"] is None and row["value_b"] is None:
            continue
        if row["group_b"] is None:
            only_a.append(label)
        elif row["group"] is None:
            only_b.append(label)
        else:
            changes.append(
                MetricChange(
                    row["variant"],
                    row["metric"],
                    row["group"],
                    *(
                        np.nan if row[k] is None else float(row[k])
                        for k in ("value", "lo", "hi", "value_b", "lo_b", "hi_b")
                    ),
                )
            )
    return Comparison(a, b, a_name, b_name, tuple(changes), tuple(only_a), tuple(only_b))


def format_comparison(comparison: Comparison) -> str:
    """A Markdown table of B against A, intervals that moved apart marked."""
    c = comparison
    lines = [
        f"# {c.b_name} ({c.b}) vs {c.a_name} ({c.a})",
        "",
        "| variant | metric | A | B | B - A | CIs |",
        "|---|---|---|---|---|---|",
    ]
    for ch in c.changes:
        diff = "–" if not np.isfinite(ch.diff) else f"{ch.diff:+.3f}"
        lines.append(
            f"| {ch.variant} | {ch.metric} | {fmt_ci(ch.a, ch.a_lo, ch.a_hi)} |"
            f" {fmt_ci(ch.b, ch.b_lo, ch.b_hi)} | {diff} | {'apart' if ch.apart else 'overlap'} |"
        )
    apart = [ch for ch in c.changes if ch.apart]
    lines += ["", f"{len(apart)} of {len(c.changes)} metrics moved with non-overlapping CIs."]
    for ch in apart:
        lines.append(f"- {ch.variant} {ch.metric}: {fmt(ch.a)} → {fmt(ch.b)}")
    if c.only_a:
        lines.append(f"Only in A: {', '.join(c.only_a)}")
    if c.only_b:
        lines.append(f"Only in B: {', '.join(c.only_b)}")
    return "\n".join(lines) + "\n"


def comparison_frame(comparison: Comparison) -> pl.DataFrame:
    """The comparison as a table (for CSV)."""
    return pl.DataFrame(
        [
            {
                "variant": ch.variant,
                "metric": ch.metric,
                "group": ch.group,
                "a": ch.a,
                "a_lo": ch.a_lo,
                "a_hi": ch.a_hi,
                "b": ch.b,
                "b_lo": ch.b_lo,
                "b_hi": ch.b_hi,
                "diff": ch.diff,
                "apart": ch.apart,
            }
            for ch in comparison.changes
        ],
        schema={
            "variant": pl.String(),
            "metric": pl.String(),
            "group": pl.String(),
            "a": pl.Float64(),
            "a_lo": pl.Float64(),
            "a_hi": pl.Float64(),
            "b": pl.Float64(),
            "b_lo": pl.Float64(),
            "b_hi": pl.Float64(),
            "diff": pl.Float64(),
            "apart": pl.Boolean(),
        },
    )
