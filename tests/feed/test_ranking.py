"""Pure ranking pieces: relevance, hard filters, score parts, diversity."""

from __future__ import annotations

import numpy as np

from embeddings.encoders import l2_normalise
from feed.core.ranking import (
    EXCLUDE_Z,
    MATCH_Z,
    RankWeights,
    SteerSignal,
    diversify,
    filter_mask,
    freshness,
    phrase_relevance,
    score_candidates,
)


def test_relevance_uses_each_channel_in_its_own_space():
    near, far = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    text = np.stack([near, far, far, far]).astype(np.float32)
    visual = np.zeros((4, 3), np.float32)
    visual[:, 0] = 1.0
    visual[3] = [0, 1, 0]
    has = {"text": np.ones(4, bool), "visual": np.array([False, False, True, True])}
    z = phrase_relevance(
        {"text": text, "visual": visual}, has,
        {"text": near.astype(np.float32), "visual": np.array([0, 1, 0], np.float32)},
    )  # fmt: skip
    assert z[0] > z[1] and z[3] > z[2]
    assert np.argmax(z) in (0, 3)


def test_hard_filters():
    z = np.array([3.0, EXCLUDE_Z, EXCLUDE_Z - 0.01, -1.0], np.float32)
    no = SteerSignal("s1", "exclude", "horror", 1.0, z)
    assert filter_mask(4, [], [no]).tolist() == [False, False, True, True]
    only = SteerSignal("s2", "only", "cats", 1.0, np.array([MATCH_Z, 0, 2, 5], np.float32))
    assert filter_mask(4, [np.array([3])], [only]).tolist() == [True, False, True, False]


def test_boost_and_suppress_move_only_related_clips():
    rows = np.arange(3)
    z = np.array([2.0, 0.0, -1.0], np.float32)
    zeros = np.zeros(3, np.float32)

    def scores(signals):
        items = score_candidates(rows, [("taste",)] * 3, zeros, signals, zeros, zeros, zeros,
                                 zeros, zeros, RankWeights())  # fmt: skip
        return [it.score for it in items], items

    base, _ = scores([])
    boosted, items = scores([SteerSignal("b", "boost", "x", 1.0, z)])
    suppressed, _ = scores([SteerSignal("s", "suppress", "x", 1.0, z)])
    assert boosted[0] > base[0] and boosted[1] == base[1]
    assert suppressed[0] < base[0] and suppressed[1] == base[1] and suppressed[2] == base[2]
    assert items[0].steering == ("b",) and items[1].steering == ()
    assert items[0].parts["steer"] > 0


def test_freshness_halves_per_half_life():
    now = 100 * 3600.0
    f = freshness(np.array([now, now - 72 * 3600]), now, 72.0)
    np.testing.assert_allclose(f, [1.0, 0.5])


def test_diversify_caps_creators_and_avoids_near_duplicates(rng):
    base = l2_normalise(rng.standard_normal((1, 8)))[0]
    dupes = l2_normalise(base + 0.01 * rng.standard_normal((4, 8)))
    others = l2_normalise(rng.standard_normal((6, 8)))
    vectors = np.concatenate([dupes, others]).astype(np.float32)
    creators = np.array([0, 1, 2, 3, 4, 4, 4, 4, 5, 6], np.int32)
    items = score_candidates(
        np.arange(10), [("taste",)] * 10, np.linspace(1.0, 0.5, 10).astype(np.float32), [],
        *(np.zeros(10, np.float32),) * 5, RankWeights(),
    )  # fmt: skip
    page = diversify(items, vectors, creators, 5, RankWeights(creator_cap=2))
    rows = [it.row for it in page]
    assert len(rows) == 5
    assert sum(creators[r] == 4 for r in rows) <= 2
    assert sum(r < 4 for r in rows) < 4  # top-5 by score alone would be all four duplicates


def test_lexical_matches_names_the_phrase_outright():
    from feed.core.ranking import ClipTexts, lexical_matches

    rows = [
        "a clown juggling at the circus",
        "clowns on parade",
        "a catsuit on the catwalk",
        "soft watercolor painting of a fox",
        "サメが泳ぐ水槽",
        "Anime girl at a station",
    ]
    texts = ClipTexts.of(rows)
    assert lexical_matches(texts, "clowns").tolist() == [True, True, False, False, False, False]
    assert lexical_matches(texts, "cats").tolist() == [False] * 6  # whole words only
    assert lexical_matches(texts, "Watercolor Fox").tolist() == [False, False, False, True, False,
                                                                 False]  # fmt: skip
    assert lexical_matches(texts, "anime style")[5]  # "style" names a kind, not the thing
    assert lexical_matches(texts, "サメ").tolist() == [False, False, False, False, True, False]
    assert not lexical_matches(texts, "a").any() and not lexical_matches(texts, "").any()
