"""From traces to tables: per-step and per-instruction scores, per-variant CIs and verdicts."""

from __future__ import annotations

import math

import polars as pl
import pytest

from feed.experiments.replay import SteerTrace, StepTrace, VariantTrace
from feed.experiments.summary import (
    metric_infos,
    steering_table,
    step_table,
    summarise,
    verdict,
)


def _step(user: str, page: tuple[str, ...], positives: set[str], step: int = 0) -> StepTrace:
    return StepTrace(user, f"{user}-s", step, 100.0 + step, page, frozenset(positives), 2.0,
                     tuple(0.5 for _ in page))  # fmt: skip


def _steer(user: str, op: str, before, after, follow=()) -> SteerTrace:
    return SteerTrace(user, 50.0, f"{op} horror", op, "horror", True, tuple(before), tuple(after),
                      (0.4, 0.6), (0.3, 0.5), tuple(tuple(p) for p in follow))  # fmt: skip


def test_step_table_scores_each_step(table):
    trace = VariantTrace("v", True, (
        _step("u", ("anime-cats-0", "anime-cats-1"), {"anime-cats-1", "anime-food-0"}),
    ), ())  # fmt: skip
    row = step_table(trace, table, ks=(1, 2)).row(0, named=True)
    assert row["positives"] == 2 and row["shown"] == 2
    assert row["recall@1"] == 0.0 and row["recall@2"] == pytest.approx(0.5)
    assert row["hit@2"] == 1.0 and row["mrr@2"] == pytest.approx(0.5)
    assert row["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert row["novelty"] == pytest.approx(1.0) and row["latency_ms"] == 2.0
    assert 0.0 < row["ild"] < 2.0


def test_steering_table_scores_each_instruction():
    trace = VariantTrace("v", True, (), (
        # "less horror": half of the probe pages was horror, none after; follow pages obey
        # from the second one on.
        _steer("u", "suppress", [True, False, False, True], [False] * 4,
               follow=[[True, False, False, False], [False] * 4, [False] * 4]),
        # "more horror" on a page of 10: 9 of 10 match.
        _steer("w", "boost", [False] * 10, [True] * 9 + [False]),
    ))  # fmt: skip
    frame = steering_table(trace, page_size=10)
    less = frame.filter(pl.col("op") == "suppress").row(0, named=True)
    assert less["share_before"] == 0.5 and less["share_after"] == 0.0
    assert less["suppression_ratio"] == 0.0 and less["obeyed"] == 1.0
    assert less["adherence@10"] == 1.0
    assert less["collateral"] == pytest.approx(-0.2)
    assert less["steps_to_obey"] == 1.0 and less["persistence"] == pytest.approx(2 / 3)
    more = frame.filter(pl.col("op") == "boost").row(0, named=True)
    assert more["adherence@10"] == pytest.approx(0.9) and more["obeyed"] == 1.0
    assert more["suppression_ratio"] is None  # only removals have one


def test_summarise_pairs_variants_over_users(table):
    users = ["u1", "u2", "u3"]
    good = VariantTrace("good", True, tuple(
        _step(u, ("anime-cats-0", f"anime-food-{i % 2}"), {"anime-cats-0"})
        for i, u in enumerate(users)
    ), ())  # fmt: skip
    poor = VariantTrace("poor", False, tuple(
        _step(u, ("anime-food-0", "anime-food-1"), {"anime-cats-0"}) for u in users
    ), ())  # fmt: skip
    traces = [poor, good]
    steps = pl.concat([step_table(t, table, (2,)) for t in traces])
    steering = pl.concat([steering_table(t, 2) for t in traces], how="diagonal_relaxed")
    summary = summarise(traces, steps, steering, table, users, metric_infos((2,), 2),
                        baseline="poor", n_boot=200, confidence=0.9, seed=1)  # fmt: skip

    def value(variant: str, metric: str) -> dict:
        return summary.metrics.filter(
            (pl.col("variant") == variant) & (pl.col("metric") == metric)
        ).row(0, named=True)

    assert value("good", "hit@2")["value"] == 1.0 and value("poor", "hit@2")["value"] == 0.0
    assert value("good", "hit@2")["n_users"] == 3
    # Coverage: good showed 3 distinct clips of 24, poor 2.
    assert value("good", "coverage")["value"] == pytest.approx(3 / 24)
    assert value("poor", "coverage")["value"] == pytest.approx(2 / 24)
    # Every resample of users gives good a hit rate of 1 and poor 0: the CI of the
    # difference is [1, 1] and the verdict is clear.
    delta = summary.deltas.filter(pl.col("metric") == "hit@2").row(0, named=True)
    assert (delta["delta"], delta["lo"], delta["hi"]) == (1.0, 1.0, 1.0)
    assert delta["verdict"] == "better"
    latency = summary.latency.filter(pl.col("variant") == "good").row(0, named=True)
    assert latency["requests"] == 3 and latency["p50_ms"] == 2.0


def test_verdicts():
    assert verdict(0.1, 0.3, True) == "better"
    assert verdict(0.1, 0.3, False) == "worse"
    assert verdict(-0.3, -0.1, False) == "better"
    assert verdict(-0.1, 0.3, True) == "unclear"
    assert verdict(0.1, 0.3, None) == "differs"
    assert verdict(float("nan"), 0.3, True) == "unclear"
