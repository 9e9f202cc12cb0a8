"""ALS, BPR and item-kNN baselines, and no variant ever seeing an event from after its step."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from feed.core.manifest import parse_entry
from feed.core.profile import Event
from feed.experiments.clips import ClipTable, build_clip_table
from feed.experiments.collaborative import CollaborativeRanker
from feed.experiments.config import ModelParams, ReplayConfig, VariantConfig
from feed.experiments.logs import empty_steering_log
from feed.experiments.rankers import build_ranker
from feed.experiments.replay import Request, load_events, plan_replay, replay
from feed.services.pages import PER_SOURCE
from feed.storage.events import EVENT_SCHEMA

NOW = 1_800_000_000.0
KINDS = ("als", "bpr", "item-knn")
PARAMS = ModelParams(factors=8, iterations=30, regularization=0.01, alpha=4.0, neighbours=20)


def _taste_log(table: ClipTable) -> list[tuple[str, list[Event]]]:
    """Twelve users: half like every anime clip, half every watercolor clip, an hour ago."""
    out = []
    for u in range(12):
        style = "anime" if u % 2 == 0 else "watercolor"
        clips = [c for c, tags in zip(table.ids, table.tags, strict=True) if tags[0] == style]
        events = [Event(c, kind, NOW - 3600 + i) for i, c in enumerate(clips)
                  for kind in ("view", "like")]  # fmt: skip
        out.append((f"u{u}", events))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_recommends_what_similar_users_liked(table, kind):
    ranker = CollaborativeRanker(kind, kind, table, PARAMS, window_s=600.0, seed=1)
    log = _taste_log(table)
    # u0 liked every anime clip but one; the model's next page for u0 opens with it.
    held_out = "anime-space-1"
    ranker.record("u0", [e for e in log[0][1] if e.clip_id != held_out], NOW - 1800)
    for user, events in log[1:]:
        ranker.record(user, events, NOW - 1800)
    assert ranker.page("u0", "s", 3, NOW)[0] == held_out
    # Someone the model has never seen gets popularity: a full page, never a repeat.
    assert len(set(ranker.page("stranger", "s", 4, NOW))) == 4 and not ranker.steerable


def test_refits_once_per_window_on_events_before_it(table):
    ranker = CollaborativeRanker("als", "als", table, PARAMS, window_s=100.0, seed=1)
    ranker.record("a", [Event("anime-cats-0", "view", 1050.0)], 1050.0)
    ranker.page("a", "s", 2, 1060.0)  # window [1000, 1100): nothing before 1000
    ranker.record("b", [Event("anime-cats-1", "like", 1070.0)], 1070.0)
    ranker.page("b", "s", 2, 1099.0)  # same window: no refit
    ranker.page("a", "t", 2, 1100.0)  # window [1100, 1200): both events
    ranker.record("a", [Event("anime-food-0", "like", 1150.0)], 1150.0)
    ranker.page("a", "t", 2, 1450.0)  # window [1400, 1500): three events
    assert [(f.start, f.events, f.latest_ts) for f in ranker.fits] == [
        (1000.0, 0, -1.0),
        (1100.0, 2, 1070.0),
        (1400.0, 3, 1150.0),
    ]
    # Skips and hides count as "seen", never as taste.
    ranker.record("c", [Event("anime-space-0", "skip", 1460.0)], 1460.0)
    assert ranker.page("c", "s", 24, 1470.0).count("anime-space-0") == 0


# -- no variant sees the future ---------------------------------------------------

STEP = ReplayConfig(page_size=4, step_size=3, ks=(4,), probe_pages=1, follow_pages=0,
                    window_s=400.0)  # fmt: skip


def _random_log(table: ClipTable, seed: int = 5) -> pl.LazyFrame:
    """Eight users, two sessions each of nine clips, interleaved in time over ~2 hours."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2):
        for u in range(8):
            start = 3000.0 * s + 300.0 * u + NOW
            clips = rng.choice(len(table), size=9, replace=False)
            for i, row in enumerate(clips.tolist()):
                kind = str(rng.choice(["view", "like", "skip"], p=[0.5, 0.3, 0.2]))
                ts = start + 20.0 * i
                rows.append((ts, f"u{u}", f"u{u}-s{s}", table.ids[row], "view"))
                if kind != "view":
                    rows.append((ts + 1.0, f"u{u}", f"u{u}-s{s}", table.ids[row], kind))
    return pl.LazyFrame(
        {
            "ts": [r[0] for r in rows],
            "user_id": [r[1] for r in rows],
            "session_id": [r[2] for r in rows],
            "clip_id": [r[3] for r in rows],
            "type": [r[4] for r in rows],
            "watch_ms": [None] * len(rows),
            "received_at": [r[0] for r in rows],
        },
        schema=EVENT_SCHEMA,
    )


def _pages(events: pl.LazyFrame, table, make_ranker) -> dict[tuple[str, int], tuple[str, ...]]:
    frame = load_events(events, table.ids, None, 1800.0)
    plan = plan_replay(frame, empty_steering_log(), STEP)
    ranker = make_ranker()
    trace = replay(plan, ranker, table, {}, STEP)
    ranker.close()
    return {(s.session_id, s.step): s.page for s in trace.steps}


def _assert_past_only(table, make_ranker) -> None:
    """Pages ranked up to time T are the same whether or not the log goes on after T."""
    events = _random_log(table)
    full = _pages(events, table, make_ranker)
    cut = NOW + 3000.0 + 900.0  # mid-way through the second sessions
    past = _pages(events.filter(pl.col("ts") < cut), table, make_ranker)
    frame = load_events(events, table.ids, None, 1800.0)
    starts = {
        (a.session_id, a.step): a.ts
        for a in plan_replay(frame, empty_steering_log(), STEP).actions
        if isinstance(a, Request)
    }
    before = [key for key, ts in starts.items() if ts < cut]
    assert len(before) >= 12 and len(before) < len(starts)
    for key in before:
        assert past[key] == full[key], key


@pytest.mark.parametrize("ranker", ["popularity", "random", *KINDS])
def test_no_baseline_sees_events_after_its_step(table, ranker):
    variant = VariantConfig("v", ranker, model=PARAMS)
    _assert_past_only(
        table,
        lambda: build_ranker(variant, None, table, None, None, seed=3, window_s=STEP.window_s),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_every_fit_precedes_the_steps_it_serves(table, kind):
    frame = load_events(_random_log(table), table.ids, None, 1800.0)
    plan = plan_replay(frame, empty_steering_log(), STEP)
    ranker = CollaborativeRanker(kind, kind, table, PARAMS, STEP.window_s, seed=3)
    trace = replay(plan, ranker, table, {}, STEP)
    assert len(ranker.fits) >= 5
    for fit in ranker.fits:
        assert fit.latest_ts < fit.start
    starts = [f.start for f in ranker.fits]
    for step in trace.steps:
        serving = max(s for s in starts if s <= step.ts)
        assert step.ts - serving < STEP.window_s  # served by the fit of its own window


def test_the_engine_sees_no_event_after_its_step(tmp_path, make_engine, labelled_rows, reader):
    engine = make_engine(tmp_path / "home")
    entries = [parse_entry(dict(r, created_at=NOW - 3600), n, None, 2000)
               for n, r in enumerate(labelled_rows, 1)]  # fmt: skip
    engine.ingest(entries, now=NOW)
    table = build_clip_table(engine)
    variant = VariantConfig("engine", sources=frozenset(PER_SOURCE))
    runs = iter(range(100))
    _assert_past_only(
        table,
        lambda: build_ranker(variant, engine, table, tmp_path / f"r{next(runs)}", reader, 3),
    )
