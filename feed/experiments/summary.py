"""From replay traces to tables: per step, per instruction, per user, and per variant
with bootstrap confidence intervals over users (paired across variants)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from feed.experiments import metrics as m
from feed.experiments.clips import ClipTable
from feed.experiments.replay import SteerTrace, VariantTrace

ACCURACY = ("ndcg", "recall", "hit", "mrr")


@dataclass(frozen=True)
class MetricInfo:
    """A reported metric: its group, which direction is better (None: neither), and words."""

    name: str
    group: str
    higher_is_better: bool | None
    description: str


@dataclass(frozen=True)
class Summary:
    """Per-variant metrics with CIs, differences from the baseline, and latency;
    `reference` holds metrics of the logs themselves (the logging policy's own rates)."""

    metrics: pl.DataFrame
    deltas: pl.DataFrame
    latency: pl.DataFrame
    info: tuple[MetricInfo, ...]
    baseline: str
    confidence: float
    n_boot: int
    reference: pl.DataFrame


def metric_infos(ks: Sequence[int], page_size: int) -> tuple[MetricInfo, ...]:
    """Every metric the harness reports, in report order."""
    words = {
        "ndcg": "NDCG@{k} against the session's later positives",
        "recall": "share of the session's later positives in the top {k}",
        "hit": "share of steps with a later positive in the top {k}",
        "mrr": "reciprocal rank of the first later positive in the top {k}",
    }
    out = [
        MetricInfo(f"{name}@{k}", "accuracy", True, words[name].format(k=k))
        for name in ACCURACY
        for k in ks
    ]
    out += [
        MetricInfo("coverage", "beyond", True, "share of the catalog shown to anyone"),
        MetricInfo("ild", "beyond", True, "intra-list diversity: mean pairwise 1 - cosine"),
        MetricInfo("novelty", "beyond", True, "mean -log2 share of users who had met an item"),
        MetricInfo("creator_gini", "beyond", False, "Gini of exposure over creators"),
        MetricInfo(
            f"adherence@{page_size}",
            "steering",
            True,
            "share of the next page that does what was asked",
        ),
        MetricInfo("obeyed", "steering", True, "share of instructions the next page obeys"),
        MetricInfo(
            "inverted",
            "steering",
            False,
            "share of instructions after which the target moved the wrong way",
        ),
        MetricInfo(
            "suppression_ratio",
            "steering",
            False,
            "target share after 'less'/'no' over the share before",
        ),
        MetricInfo(
            "collateral",
            "steering",
            None,
            "relative change in the user's relevance of the non-target items",
        ),
        MetricInfo(
            "steps_to_obey", "steering", False, "replayed pages before one obeys (0 = the next one)"
        ),
        MetricInfo(
            "persistence",
            "steering",
            True,
            "share of the replayed pages after an instruction that obey it",
        ),
        MetricInfo("latency_ms", "latency", False, "time to rank one page (ms)"),
    ]
    return tuple(out)


def off_policy_infos(rewards: Sequence[str]) -> tuple[MetricInfo, ...]:
    """The off-policy metrics: IPS, SNIPS and DR of each reward rate, and support."""
    words = {
        "ips": "IPS estimate of the {r} rate per clip of the variant's own pages",
        "snips": "self-normalised IPS estimate of the {r} rate (over the supported clips)",
        "dr": "doubly robust estimate of the {r} rate (per-clip mean reward model)",
    }
    out = [
        MetricInfo(f"{name}_{r}", "off-policy", True, words[name].format(r=r))
        for r in rewards
        for name in ("ips", "snips", "dr")
    ]
    out.append(
        MetricInfo(
            "support",
            "off-policy",
            None,
            "share of the variant's clips the logging policy could have shown",
        )
    )
    return tuple(out)


# -- per step and per instruction --------------------------------------------------


def step_table(trace: VariantTrace, table: ClipTable, ks: Sequence[int]) -> pl.DataFrame:
    """One row per replayed step: accuracy at each k, diversity, novelty, latency."""
    rows = []
    for s in trace.steps:
        row: dict[str, object] = {
            "variant": trace.variant,
            "user_id": s.user_id,
            "session_id": s.session_id,
            "step": s.step,
            "ts": s.ts,
            "positives": len(s.positives),
            "shown": len(s.page),
        }
        for k in ks:
            row[f"ndcg@{k}"] = m.ndcg_at_k(s.page, s.positives, k)
            row[f"recall@{k}"] = m.recall_at_k(s.page, s.positives, k)
            row[f"hit@{k}"] = m.hit_rate_at_k(s.page, s.positives, k)
            row[f"mrr@{k}"] = m.mrr_at_k(s.page, s.positives, k)
        row["ild"] = m.intra_list_diversity(table.vectors[table.rows(s.page)])
        row["novelty"] = m.novelty(np.asarray(s.popularity, dtype=np.float64))
        row["latency_ms"] = s.latency_ms
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None).fill_nan(None)


def _probe_share(trace: SteerTrace, page_size: int, after: bool) -> float:
    # Boosts are judged on the next page, removals over all probe pages (rarer targets).
    matches = trace.after if after else trace.before
    if trace.op in ("boost", "only"):
        matches = matches[:page_size]
    return m.target_share(matches)


def steering_table(trace: VariantTrace, page_size: int) -> pl.DataFrame:
    """One row per instruction: adherence, obedience, suppression, collateral, persistence."""
    rows = []
    for t in trace.steering:
        row: dict[str, object] = {
            "variant": trace.variant,
            "user_id": t.user_id,
            "ts": t.ts,
            "text": t.text,
            "op": t.op,
            "target": t.label,
            "applied": t.applied,
            "lang": t.lang,
            "kind": t.kind,
        }
        if t.op == "error":
            rows.append(row)
            continue
        before, after = _probe_share(t, page_size, False), _probe_share(t, page_size, True)
        obeyed_follow = [m.obeys(t.op, m.target_share(p), before) for p in t.follow if p]
        removal = t.op in ("suppress", "exclude")
        row |= {
            "share_before": before,
            "share_after": after,
            f"adherence@{page_size}": m.adherence_at_k(t.op, t.after, page_size),
            "obeyed": float(m.obeys(t.op, after, before)),
            "inverted": float(m.inverted(t.op, before, after)),
            "suppression_ratio": m.suppression_ratio(before, after) if removal else float("nan"),
            "collateral": m.collateral_change(
                np.asarray(t.before_relevance), np.asarray(t.after_relevance)
            ),
            "steps_to_obey": m.steps_until_obeys(obeyed_follow),
            "persistence": m.persistence(obeyed_follow),
            "follow_pages": len(obeyed_follow),
        }
        rows.append(row)
    schema = {
        "variant": pl.String(),
        "user_id": pl.String(),
        "ts": pl.Float64(),
        "text": pl.String(),
        "op": pl.String(),
        "target": pl.String(),
        "applied": pl.Boolean(),
        "lang": pl.String(),
        "kind": pl.String(),
        "share_before": pl.Float64(),
        "share_after": pl.Float64(),
        f"adherence@{page_size}": pl.Float64(),
        "obeyed": pl.Float64(),
        "inverted": pl.Float64(),
        "suppression_ratio": pl.Float64(),
        "collateral": pl.Float64(),
        "steps_to_obey": pl.Float64(),
        "persistence": pl.Float64(),
        "follow_pages": pl.Int64(),
    }
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.fill_nan(None)


# -- per user ------------------------------------------------------------------------


def per_user(frame: pl.DataFrame, columns: Sequence[str], users: Sequence[str]) -> np.ndarray:
    """(len(users), len(columns)) mean of each column per user; nan for users without values."""
    out = np.full((len(users), len(columns)), np.nan)
    present = [c for c in columns if c in frame.columns]
    if frame.is_empty() or not present:
        return out
    means = frame.group_by("user_id").agg([pl.col(c).cast(pl.Float64).mean() for c in present])
    index = {u: i for i, u in enumerate(users)}
    for record in means.iter_rows(named=True):
        i = index.get(record["user_id"])
        if i is None:
            continue
        for j, c in enumerate(columns):
            value = record.get(c)
            out[i, j] = np.nan if value is None else value
    return out


def exposures(trace: VariantTrace, table: ClipTable, users: Sequence[str]) -> np.ndarray:
    """(len(users), N) how often each user was shown each clip in the replayed steps."""
    index = {u: i for i, u in enumerate(users)}
    counts = np.zeros((len(users), len(table)), dtype=np.float64)
    for s in trace.steps:
        np.add.at(counts[index[s.user_id]], table.rows(s.page), 1.0)
    return counts


# -- per variant, with confidence intervals ----------------------------------------------


def summarise(
    traces: Sequence[VariantTrace],
    steps: pl.DataFrame,
    steering: pl.DataFrame,
    table: ClipTable,
    users: Sequence[str],
    infos: Sequence[MetricInfo],
    *,
    baseline: str,
    n_boot: int,
    confidence: float,
    seed: int,
    ratios: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]] | None = None,
    reference: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Summary:
    """Point estimates and percentile bootstrap CIs over users for every variant and metric,
    and paired CIs of each variant's difference from the baseline.

    `ratios[variant][metric]` holds per-user numerators and denominators (n_users,) of
    metrics that are ratios of sums (the off-policy estimates), resampled the same way;
    `reference[metric]` likewise for the logs themselves.
    """
    weights = m.resample_weights(len(users), n_boot, seed)
    ones = np.ones((1, len(users)))
    creators = np.zeros((len(table), len(table.creator_names)))
    creators[np.arange(len(table)), table.creator_codes] = 1.0
    mean_metrics = [i.name for i in infos if i.name not in ("coverage", "creator_gini")]
    step_cols = [c for c in mean_metrics if c in steps.columns]
    steer_cols = [c for c in mean_metrics if c in steering.columns and c not in step_cols]
    points: dict[tuple[str, str], float] = {}
    samples: dict[tuple[str, str], np.ndarray] = {}
    counts: dict[tuple[str, str], int] = {}
    for trace in traces:
        v = trace.variant
        by_user = np.hstack(
            [
                per_user(steps.filter(pl.col("variant") == v), step_cols, users),
                per_user(steering.filter(pl.col("variant") == v), steer_cols, users),
            ]
        )
        for j, name in enumerate(step_cols + steer_cols):
            values = by_user[:, j]
            points[(v, name)] = float(m.weighted_means(values, ones)[0])
            samples[(v, name)] = m.weighted_means(values, weights)
            counts[(v, name)] = int(np.isfinite(values).sum())
        shown = exposures(trace, table, users)
        points[(v, "coverage")] = m.coverage(shown.sum(axis=0))
        samples[(v, "coverage")] = np.mean((weights @ shown) > 0, axis=1)
        by_creator = shown @ creators
        points[(v, "creator_gini")] = m.gini(by_creator.sum(axis=0))
        samples[(v, "creator_gini")] = np.array([m.gini(r) for r in weights @ by_creator])
        active = int((shown.sum(axis=1) > 0).sum())
        counts[(v, "coverage")] = counts[(v, "creator_gini")] = active
        for name, (num, den) in (ratios or {}).get(v, {}).items():
            points[(v, name)] = ratio_of_sums(num, den, ones)[0]
            samples[(v, name)] = ratio_of_sums(num, den, weights)
            counts[(v, name)] = int((den > 0).sum())
    metric_rows, delta_rows = [], []
    for info in infos:
        for trace in traces:
            key = (trace.variant, info.name)
            if key not in points:
                continue
            lo, hi = m.percentile_interval(samples[key], confidence)
            metric_rows.append(
                {
                    "variant": trace.variant,
                    "metric": info.name,
                    "group": info.group,
                    "value": points[key],
                    "lo": lo,
                    "hi": hi,
                    "n_users": counts[key],
                }
            )
            base = (baseline, info.name)
            if trace.variant == baseline or base not in points:
                continue
            diff = samples[key] - samples[base]
            dlo, dhi = m.percentile_interval(diff, confidence)
            delta_rows.append(
                {
                    "variant": trace.variant,
                    "baseline": baseline,
                    "metric": info.name,
                    "group": info.group,
                    "delta": points[key] - points[base],
                    "lo": dlo,
                    "hi": dhi,
                    "verdict": verdict(dlo, dhi, info.higher_is_better),
                }
            )
    latency_rows = []
    for trace in traces:
        summary = m.latency_summary(np.array([s.latency_ms for s in trace.steps]))
        latency_rows.append(
            {
                "variant": trace.variant,
                "requests": len(trace.steps),
                "mean_ms": summary.mean_ms,
                "p50_ms": summary.p50_ms,
                "p95_ms": summary.p95_ms,
                "max_ms": summary.max_ms,
            }
        )
    reference_rows = []
    for name, (num, den) in (reference or {}).items():
        lo, hi = m.percentile_interval(ratio_of_sums(num, den, weights), confidence)
        reference_rows.append(
            {
                "metric": name,
                "value": float(ratio_of_sums(num, den, ones)[0]),
                "lo": lo,
                "hi": hi,
                "n_users": int((den > 0).sum()),
            }
        )
    return Summary(
        reference=_frame(reference_rows, REFERENCE_SCHEMA),
        metrics=_frame(metric_rows, METRIC_SCHEMA),
        deltas=_frame(delta_rows, DELTA_SCHEMA),
        latency=_frame(latency_rows, LATENCY_SCHEMA),
        info=tuple(infos),
        baseline=baseline,
        confidence=confidence,
        n_boot=n_boot,
    )


METRIC_SCHEMA = {
    "variant": pl.String(),
    "metric": pl.String(),
    "group": pl.String(),
    "value": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
    "n_users": pl.Int64(),
}
DELTA_SCHEMA = {
    "variant": pl.String(),
    "baseline": pl.String(),
    "metric": pl.String(),
    "group": pl.String(),
    "delta": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
    "verdict": pl.String(),
}
REFERENCE_SCHEMA = {
    "metric": pl.String(),
    "value": pl.Float64(),
    "lo": pl.Float64(),
    "hi": pl.Float64(),
    "n_users": pl.Int64(),
}
LATENCY_SCHEMA = {
    "variant": pl.String(),
    "requests": pl.Int64(),
    "mean_ms": pl.Float64(),
    "p50_ms": pl.Float64(),
    "p95_ms": pl.Float64(),
    "max_ms": pl.Float64(),
}


def _frame(rows: list[dict[str, object]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def ratio_of_sums(num: np.ndarray, den: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum(w * num) / sum(w * den) under each row of weights (n_boot, n_users); nan where
    the denominator is 0."""
    top, bottom = weights @ num, weights @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.maximum(bottom, 1e-300), np.nan)


def verdict(lo: float, hi: float, higher_is_better: bool | None) -> str:
    """'better', 'worse' or 'unclear' from a difference's CI; 'differs' when neither
    direction is better and the CI excludes 0."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 <= hi:
        return "unclear"
    if higher_is_better is None:
        return "differs"
    return "better" if (lo > 0) == higher_is_better else "worse"
