"""Rankers: the popularity and random baselines, and the engine under chosen settings."""

from __future__ import annotations

import pytest
from support import LABELLED

from feed.core.manifest import parse_entry
from feed.core.profile import Event
from feed.core.ranking import RankWeights
from feed.experiments.clips import build_clip_table
from feed.experiments.config import VariantConfig
from feed.experiments.rankers import EngineRanker, PopularityRanker, RandomRanker, build_ranker
from feed.services.pages import PER_SOURCE

NOW = 1_800_000_000.0


def test_popularity_ranks_by_engagement_and_skips_what_was_seen(table):
    ranker = PopularityRanker("pop", table, seed=0)
    ranker.record("u1", [Event("anime-cats-0", "view", NOW), Event("anime-cats-0", "like", NOW),
                         Event("anime-space-0", "view", NOW),
                         Event("anime-food-0", "skip", NOW)], NOW)  # fmt: skip
    ranker.record("u2", [Event("anime-cats-0", "view", NOW)], NOW)
    # Scores: anime-cats-0 = 1 + 3 + 1, anime-space-0 = 1, anime-food-0 = -1, the rest 0.
    page = ranker.page("u3", "s3", 2, NOW)
    assert page == ("anime-cats-0", "anime-space-0")
    everything = ranker.page("u3", "s3-all", len(table), NOW)
    assert everything[-1] == "anime-food-0"
    # u1 saw (or skipped) three clips; their session then goes on without repeats.
    first = ranker.page("u1", "s1", 3, NOW)
    assert not {"anime-cats-0", "anime-space-0", "anime-food-0"} & set(first)
    second = ranker.page("u1", "s1", 3, NOW)
    assert not set(first) & set(second)
    # A probe is a fresh session: it repeats the session's first page and changes nothing.
    assert ranker.probe("u1", 3, 1, NOW) == first
    assert ranker.page("u1", "s1", 3, NOW) != first


def test_popularity_ignores_steering(table):
    ranker = PopularityRanker("pop", table, seed=0)
    before = ranker.probe("u", 5, 1, NOW)
    ranker.steer("u", "no horror", NOW)
    assert ranker.probe("u", 5, 1, NOW) == before and not ranker.steerable


def test_random_baseline_is_seeded_and_skips_seen(table):
    a, b = RandomRanker("r", table, seed=4), RandomRanker("r", table, seed=4)
    a.record("u", [Event("anime-cats-0", "view", NOW)], NOW)
    b.record("u", [Event("anime-cats-0", "view", NOW)], NOW)
    pages = [a.page("u", "s", 5, NOW) for _ in range(4)]
    assert pages == [b.page("u", "s", 5, NOW) for _ in range(4)]
    shown = [c for p in pages for c in p]
    assert len(shown) == len(set(shown)) == 20 and "anime-cats-0" not in shown


@pytest.fixture
def labelled_engine(tmp_path, make_engine, labelled_rows):
    engine = make_engine(tmp_path / "home")
    entries = [parse_entry(dict(r, created_at=NOW - 3600), n, None, 2000)
               for n, r in enumerate(labelled_rows, 1)]  # fmt: skip
    engine.ingest(entries, now=NOW)
    return engine


def test_engine_variant_uses_only_enabled_sources(labelled_engine, tmp_path, reader):
    only_fresh = EngineRanker(
        "fresh", labelled_engine, tmp_path / "v", reader,
        weights=RankWeights(), sources=frozenset({"fresh"}), salt="1",
    )  # fmt: skip
    user = only_fresh._user("u", NOW)
    page = only_fresh.service.pages.feed_page(user, 5, None, NOW)
    assert page.items and all(item.sources == ("fresh",) for item in page.items)
    only_fresh.close()


def test_engine_rankers_with_one_salt_rank_alike(labelled_engine, tmp_path, reader):
    table = build_clip_table(labelled_engine)
    variant = VariantConfig("engine", sources=frozenset(PER_SOURCE))
    pages = []
    for run in ("a", "b"):
        ranker = build_ranker(variant, labelled_engine, table, tmp_path / run, reader, seed=9)
        ranker.record("u", [Event(cid, "like", NOW) for cid, _, lab in LABELLED if lab == "anime"],
                      NOW)  # fmt: skip
        pages.append((ranker.page("u", "s", 4, NOW + 1), ranker.probe("u", 4, 1, NOW + 1)))
        ranker.steer("u", "no horror", NOW + 2)
        assert "horror-1" not in ranker.probe("u", 10, 1, NOW + 3)
        ranker.close()
    assert pages[0] == pages[1]
