"""The user simulator: tastes drive reactions, instructions parse, logs use the live schema."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from feed.core.steering import Glossary, parse_instruction
from feed.experiments.config import SimulationConfig
from feed.experiments.logs import read_steering_log
from feed.experiments.rankers import RandomRanker
from feed.experiments.simulator import (
    Facets,
    Taste,
    instruction_text,
    japanese_term,
    react,
    sample_users,
    simulate,
)
from feed.services.demo import read_demo_spec
from feed.storage.events import EVENT_SCHEMA, EventLog

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.load()


def _demo_tags() -> tuple[set[str], set[str]]:
    spec = read_demo_spec()
    styles = {str(line.raw["tags"][0]) for line in spec}  # type: ignore[index]
    topics = {str(line.raw["tags"][1]) for line in spec}  # type: ignore[index]
    return styles, topics


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_instruction_parses_to_its_op(glossary, reader, language):
    styles, topics = _demo_tags()
    misread = []
    for tag in sorted(styles | topics):
        for op in ("boost", "suppress", "exclude"):
            text = instruction_text(op, tag, tag in styles, language, glossary)
            ops = parse_instruction(text, reader)
            # The phrase is the tag as the user said it (in Japanese, the glossary's word).
            named = glossary.translate(ops[0].phrase) or ops[0].phrase
            if [o.op for o in ops] != [op] or tag.split()[0] not in named:
                misread.append((text, [(o.op, o.phrase) for o in ops]))
    assert misread == []


def test_japanese_instructions_are_japanese(glossary):
    assert japanese_term("anime", glossary) == "アニメ"
    assert japanese_term("horror", glossary) == "ホラー"
    assert instruction_text("boost", "anime", True, "ja", glossary) == "もっとアニメ風に"
    assert instruction_text("exclude", "horror", False, "ja", glossary) == "ホラーは見たくない"
    # No glossary word: the user says it in English.
    assert japanese_term("no-such-tag", glossary) is None
    assert instruction_text("suppress", "no-such-tag", False, "ja", glossary) == "less no-such-tag"


def test_reactions_follow_taste():
    taste = Taste({"anime": 1.2, "pixel art": -0.4}, {"cats": 1.1, "space": -0.4})
    rng = np.random.default_rng(0)
    loved = [react(taste, "horror", Facets("anime", "cats"), [], 0, rng) for _ in range(300)]
    meh = [react(taste, "horror", Facets("pixel art", "space"), [], 0, rng) for _ in range(300)]
    loathed = [react(taste, "horror", Facets("anime", "horror"), [], 0, rng) for _ in range(300)]
    share = lambda rs, kinds: np.mean([r.kind in kinds for r in rs])  # noqa: E731
    assert share(loved, {"like"}) > 0.8
    assert share(meh, {"skip"}) > 0.8
    assert share(loathed, {"hide", "skip"}) == 1.0 and share(loathed, {"hide"}) > 0.7
    skipped = [r.watch_ratio for r in meh if r.kind == "skip"]
    assert max(skipped) < 0.2  # a skip is under a fifth of the clip, as the engine reads it


def test_fatigue_and_novelty_move_engagement():
    taste = Taste({"anime": 0.5}, {"cats": 0.3})
    clip = Facets("anime", "cats")
    crowded = [clip] * 8
    fresh = [Facets("watercolor", "space")] * 8

    def watched(recent: list[Facets]) -> float:
        rng = np.random.default_rng(1)
        return np.mean(
            [react(taste, None, clip, recent, 0, rng).kind != "skip" for _ in range(400)]
        )

    assert watched(fresh) > watched(crowded) + 0.3


def test_users_are_seeded_per_index():
    config = SimulationConfig(averse_share=1.0, shift_share=1.0)
    styles, topics = ["anime", "watercolor", "pixel art"], ["cats", "horror", "space", "food"]
    few = sample_users(3, styles, topics, config, seed=5)
    many = sample_users(6, styles, topics, config, seed=5)
    assert few == many[:3]
    assert sample_users(3, styles, topics, config, seed=6) != few
    for user in many:
        assert user.averse in topics and user.taste.topic[user.averse] < -1
        assert user.shift_to in styles and user.taste.style[user.shift_to] < 0.5


def _simulate(table, tmp_path, glossary, seed=3):
    config = SimulationConfig(
        users=12, sessions_per_user=2, pages_per_session=3, page_size=4,
        averse_share=1.0, shift_share=1.0, ja_share=0.5, start_ts=NOW,
    )  # fmt: skip
    ranker = RandomRanker("random", table, seed)
    return simulate(config, table, ranker, tmp_path, glossary, seed)


def test_simulation_writes_the_live_log_schema(table, tmp_path, glossary):
    result = _simulate(table, tmp_path / "run", glossary)
    frame = EventLog(result.events_dir).scan().collect()
    assert {k: frame.schema[k] for k in EVENT_SCHEMA} == EVENT_SCHEMA
    assert len(frame) == result.events > 0
    assert set(frame["type"]) <= {"view", "like", "skip", "hide"}
    assert frame["ts"].min() >= NOW and frame["session_id"].n_unique() == result.sessions == 24
    # Within a session, time only moves forward.
    for _, rows in frame.sort("ts").group_by("session_id"):
        assert rows["ts"].is_sorted()
    steering = read_steering_log(result.steering_path)
    assert len(steering) == result.instructions > 0
    texts = steering["text"].to_list()
    assert any(t.startswith("more ") for t in texts) and any("見たくない" in t for t in texts)
    assert steering["target"].null_count() == 0
    users = pl.read_parquet(result.users_path)
    assert len(users) == 12 and users["shift_to"].null_count() == 0


def test_simulation_is_repeatable(table, tmp_path, glossary):
    first = _simulate(table, tmp_path / "a", glossary)
    second = _simulate(table, tmp_path / "b", glossary)
    a = EventLog(first.events_dir).scan().collect().sort(["ts", "clip_id", "type"])
    b = EventLog(second.events_dir).scan().collect().sort(["ts", "clip_id", "type"])
    assert a.equals(b)
    assert read_steering_log(first.steering_path).equals(read_steering_log(second.steering_path))
