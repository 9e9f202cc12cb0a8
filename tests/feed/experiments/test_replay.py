"""Replay: steps and positives from a hand-made log, and no event from the future."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from feed.core.profile import Event
from feed.experiments.config import ReplayConfig
from feed.experiments.logs import STEERING_SCHEMA
from feed.experiments.replay import (
    Instruction,
    Observation,
    Request,
    judge_instructions,
    load_events,
    plan_replay,
    replay,
    sample_users,
)
from feed.storage.events import EVENT_SCHEMA

CONFIG = ReplayConfig(page_size=3, step_size=2, ks=(3,), positives=("like",), probe_pages=1,
                      follow_pages=2)  # fmt: skip


def _events(rows: list[tuple]) -> pl.LazyFrame:
    """Rows of (ts, user, session, clip, type) in the live schema."""
    return pl.LazyFrame(
        {
            "ts": [float(r[0]) for r in rows],
            "user_id": [r[1] for r in rows],
            "session_id": [r[2] for r in rows],
            "clip_id": [r[3] for r in rows],
            "type": [r[4] for r in rows],
            "watch_ms": [5000 if r[4] == "view" else None for r in rows],
            "received_at": [float(r[0]) for r in rows],
        },
        schema=EVENT_SCHEMA,
    )


# User A met anime-space-0 in an earlier session; in session A1 they meet four clips
# (two steps of two) and like two of them, one of them the clip met before.
# User B's session interleaves in time.
LOG = [
    (1, "A", "A0", "anime-space-0", "view"),
    (10, "A", "A1", "anime-cats-0", "view"),
    (12, "B", "B1", "watercolor-food-0", "view"),
    (20, "A", "A1", "anime-cats-1", "view"),
    (21, "A", "A1", "anime-cats-1", "like"),
    (22, "B", "B1", "watercolor-food-1", "view"),
    (23, "B", "B1", "watercolor-food-1", "like"),
    (30, "A", "A1", "anime-space-0", "view"),
    (31, "A", "A1", "anime-space-0", "like"),
    (40, "A", "A1", "pixelart-horror-0", "view"),
    (41, "A", "A1", "pixelart-horror-0", "like"),
]


def _steering(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (ts, user, session, text, target[, op, lang, kind, case_id])."""
    return pl.DataFrame(
        {k: [r[i] if i < len(r) else None for r in rows] for i, k in enumerate(STEERING_SCHEMA)},
        schema=STEERING_SCHEMA,
    )


@pytest.fixture
def plan(table):
    frame = load_events(_events(LOG), table.ids, None, 1800.0)
    steering = _steering([(25.0, "A", "A1", "no horror", "horror")])
    return plan_replay(frame, steering, CONFIG)


def test_plan_cuts_steps_and_holds_out_later_positives(plan):
    requests = [a for a in plan.actions if isinstance(a, Request)]
    a1 = [r for r in requests if r.session_id == "A1"]
    assert [(r.ts, r.step) for r in a1] == [(10.0, 0), (30.0, 1)]
    # From step 0: both later likes that were new to A; anime-space-0 was met in A0.
    assert a1[0].positives == {"anime-cats-1", "pixelart-horror-0"}
    assert a1[1].positives == {"pixelart-horror-0"}
    b1 = [r for r in requests if r.session_id == "B1"]
    assert [r.positives for r in b1] == [{"watercolor-food-1"}]
    assert plan.sessions == 3 and plan.users == ("A", "B") and plan.events == len(LOG)


def test_plan_is_in_time_order_with_requests_first(plan):
    times = [a.ts for a in plan.actions]
    assert times == sorted(times)
    # The instruction at 25 comes after A's first step's events and before the request at 30.
    kinds = [(type(a).__name__, a.ts) for a in plan.actions if a.user_id == "A"]
    assert kinds.index(("Instruction", 25.0)) < kinds.index(("Request", 30.0))
    observations = [a for a in plan.actions if isinstance(a, Observation) and a.user_id == "A"]
    assert [[e.ts for e in o.events] for o in observations] == [
        [1.0],
        [10.0, 20.0, 21.0],
        [30.0, 31.0, 40.0, 41.0],
    ]


class Recorder:
    """A ranker that remembers what it was told and fails on any event from the future."""

    name = "recorder"
    steerable = True

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.known: list[tuple[str, Event]] = []
        self.calls: list[tuple[str, str, float]] = []

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        assert all(e.ts <= now for e in events)
        self.known.extend((user_id, e) for e in events)

    def steer(self, user_id: str, text: str, now: float) -> None:
        self.calls.append(("steer", user_id, now))

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        assert all(e.ts < now for _, e in self.known), "an event from the future leaked"
        self.calls.append(("page", user_id, now))
        seen = {e.clip_id for u, e in self.known if u == user_id}
        return tuple(c for c in self.ids if c not in seen)[:k]

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        assert all(e.ts < now for _, e in self.known)
        return tuple(self.ids[: k * pages])

    def close(self) -> None:
        pass


def test_replay_feeds_only_the_past(plan, table, reader):
    ranker = Recorder(table.ids)
    judgements = judge_instructions(plan, table, reader, lambda p: np.zeros(8))
    trace = replay(plan, ranker, table, judgements, CONFIG)
    assert [c for c in ranker.calls if c[1] == "A"] == [
        ("page", "A", 1.0), ("page", "A", 10.0), ("steer", "A", 25.0), ("page", "A", 30.0)
    ]  # fmt: skip
    # Everything logged was handed over by the end, and each step recorded what was shown.
    assert len(ranker.known) == len(LOG)
    step = next(s for s in trace.steps if s.session_id == "A1" and s.step == 1)
    assert step.page == ("anime-horror-0", "anime-horror-1", "anime-space-1")
    assert step.positives == {"pixelart-horror-0"}


def test_steering_is_judged_by_its_target_tag(plan, table, reader):
    judgements = judge_instructions(plan, table, reader, lambda p: np.zeros(8))
    (judgement,) = judgements.values()
    assert judgement.op == "exclude" and judgement.label == "horror"
    assert judgement.matches.sum() == 6  # 3 styles x 2 copies of horror
    trace = replay(plan, Recorder(table.ids), table, judgements, CONFIG)
    (steer,) = trace.steering
    assert steer.op == "exclude" and steer.applied
    assert steer.before == (False, False, True)  # anime-cats-0, anime-cats-1, anime-horror-0
    # A's page at 30 follows the instruction (this ranker ignores it): two horror clips.
    assert steer.follow == ((True, True, False),)


def test_sessions_are_cut_at_idle_gaps_when_the_log_has_none(table):
    rows = [(0, "A", None, "anime-cats-0", "view"), (100, "A", None, "anime-cats-1", "view"),
            (5000, "A", None, "anime-horror-0", "view")]  # fmt: skip
    frame = load_events(_events(rows), table.ids, None, 1800.0)
    assert frame["session_id"].to_list() == ["A#1", "A#1", "A#2"]


def test_unknown_clips_and_unsampled_users_are_left_out(table):
    rows = [
        (0, "A", "s", "anime-cats-0", "view"),
        (1, "A", "s", "not-in-catalog", "view"),
        (2, "B", "t", "anime-cats-1", "view"),
        (3, "C", "u", "anime-cats-1", "view"),
    ]
    users = sample_users(_events(rows), 2, seed=0)
    assert users is not None and len(users) == 2
    assert sample_users(_events(rows), 2, seed=0) == users
    frame = load_events(_events(rows), table.ids, users, 1800.0)
    assert "not-in-catalog" not in frame["clip_id"].to_list()
    assert set(frame["user_id"]) == set(users)


def test_instructions_of_other_users_are_dropped(table):
    frame = load_events(_events(LOG), table.ids, ["A"], 1800.0)
    steering = _steering([(5.0, "Z", None, "more cats", None), (6.0, "A", None, "more cats", None)])
    plan = plan_replay(frame, steering, CONFIG)
    assert [(i.user_id, i.ts) for i in plan.instructions] == [("A", 6.0)]
    assert isinstance(plan.instructions[0], Instruction)
