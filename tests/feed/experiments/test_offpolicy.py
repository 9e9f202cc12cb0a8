"""Off-policy estimators against hand-computed values, unbiasedness, and refusals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from feed.experiments.logs import EXPOSURE_SCHEMA
from feed.experiments.offpolicy import (
    ItemMeanModel,
    LoggedPage,
    PropensityError,
    estimate,
    logged_pages,
    off_policy,
    page_terms,
    require_propensities,
)
from feed.experiments.replay import StepTrace, VariantTrace
from feed.experiments.summary import ratio_of_sums
from feed.storage.events import EVENT_SCHEMA


def _page(user: str, clips: str, p: float, likes: Sequence[int], blocked: str = "") -> LoggedPage:
    return LoggedPage(
        user_id=user,
        session_id=f"{user}-s",
        ts=0.0,
        clips=tuple(clips),
        propensity=np.full(len(clips), p),
        rewards={"like": np.asarray(likes, dtype=np.float64)},
        blocked=frozenset(blocked),
    )


def _constant(value: float):
    return lambda user, clips: np.full(len(clips), value)


def test_one_page_by_hand():
    # Logged a, b, c, d (each drawn with chance 1/2), liked a and c; the variant shows
    # a, b and x. Weights: a 2, b 2, c 0, d 0.
    page = _page("u", "abcd", 0.5, [1, 0, 1, 0])
    terms = page_terms(page, ("a", "b", "x"), page.rewards["like"], _constant(0.25))
    assert terms.ips == 2.0 and terms.weight == 4.0 and terms.shown == 3
    # DR: 3 x 0.25 predicted, corrected by 2 (1 - 0.25) + 2 (0 - 0.25) = 1.
    assert terms.dr == pytest.approx(1.75)
    assert estimate([terms], "ips") == pytest.approx(2 / 3)
    assert estimate([terms], "snips") == pytest.approx(0.5)
    assert estimate([terms], "dr") == pytest.approx(1.75 / 3)


def test_two_pages_pool_their_sums():
    # Page 1: a, b at 1/4 each, b liked; the variant shows a, c -> a's weight 4, reward 0.
    # Page 2: c, d, e at 1/2 each, c and e liked; the variant shows d, e, f -> d 2 x 0, e 2 x 1.
    one = page_terms(_page("A", "ab", 0.25, [0, 1]), ("a", "c"), np.array([0.0, 1.0]),
                     _constant(0.0))  # fmt: skip
    two = page_terms(_page("B", "cde", 0.5, [1, 0, 1]), ("d", "e", "f"),
                     np.array([1.0, 0.0, 1.0]), _constant(0.0))  # fmt: skip
    assert estimate([one, two], "ips") == pytest.approx(2 / 5)
    assert estimate([one, two], "snips") == pytest.approx(2 / 8)
    assert estimate([one, two], "dr") == pytest.approx(2 / 5)  # a zero model: DR is IPS
    assert np.isnan(estimate([], "ips"))  # no pages: no estimate


def test_reward_model_leaves_the_user_out():
    # A: a liked, b not. B: a not, c liked. C: a liked. 3 likes in 5 impressions.
    pages = [_page("A", "ab", 0.5, [1, 0]), _page("B", "ac", 0.5, [0, 1]),
             _page("C", "a", 0.5, [1])]  # fmt: skip
    predicted = ItemMeanModel(pages, "like").predict("A", ["a", "c", "z"])
    prior = 2 / 3  # everyone but A: 2 likes in 3 impressions
    assert predicted == pytest.approx([(1 + 5 * prior) / (2 + 5), (1 + 5 * prior) / (1 + 5), prior])


def _trace(variant: str, shown: dict[tuple[str, str], tuple[str, ...]]) -> VariantTrace:
    steps = tuple(
        StepTrace(session.split("-")[0], session, 0, 0.0, page, frozenset(), 1.0, (), opens)
        for (session, opens), page in shown.items()
    )
    return VariantTrace(variant, False, steps, ())


def test_per_user_sums_feed_paired_intervals():
    pages = [_page("A", "ab", 0.25, [0, 1]), _page("B", "cde", 0.5, [1, 0, 1], blocked="f")]
    trace = _trace("v", {("A-s", "a"): ("a", "c"), ("B-s", "c"): ("d", "e", "f"),
                         ("B-s", "zz"): ("x",)})  # fmt: skip
    result = off_policy(pages, [trace], ["A", "B"], ["like"])
    assert result.pages == 2 and result.matched == {"v": 2}  # the step opening at zz matches none
    num, den = result.ratios["v"]["ips_like"]
    assert num.tolist() == [0.0, 2.0] and den.tolist() == [2.0, 3.0]
    assert ratio_of_sums(num, den, np.ones((1, 2)))[0] == pytest.approx(2 / 5)
    # Resampling user B twice: (2 + 2) / (3 + 3).
    assert ratio_of_sums(num, den, np.array([[0.0, 2.0]]))[0] == pytest.approx(4 / 6)
    supported, shown = result.ratios["v"]["support"]
    assert supported.tolist() == [2.0, 2.0] and shown.tolist() == [2.0, 3.0]  # f was met before
    logged_num, logged_den = result.logged["logged_like"]
    assert logged_num.tolist() == [1.0, 2.0] and logged_den.tolist() == [2.0, 3.0]


def test_estimates_are_unbiased_under_uniform_logging():
    """40 clips with known like chances; the random policy shows 5, the variant the top 10."""
    rng = np.random.default_rng(11)
    chance = np.linspace(0.05, 0.6, 40)
    names = [f"c{i}" for i in range(40)]
    target = tuple(names[30:])
    pages = []
    for n in range(4000):
        drawn = rng.choice(40, size=5, replace=False)
        likes = (rng.random(5) < chance[drawn]).astype(np.float64)
        pages.append(LoggedPage(f"u{n % 50}", f"s{n}", 0.0, tuple(names[i] for i in drawn),
                                np.full(5, 5 / 40), {"like": likes}, frozenset()))  # fmt: skip
    truth = float(chance[30:].mean())
    model = ItemMeanModel(pages, "like").predict
    terms = [page_terms(p, target, p.rewards["like"], model) for p in pages]
    for name in ("ips", "snips", "dr"):
        assert estimate(terms, name) == pytest.approx(truth, abs=0.03), name
    # The logging policy's own rate is the mean chance, far below the variant's.
    assert np.mean([p.rewards["like"].mean() for p in pages]) < truth - 0.15


def _exposures(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (ts, user, session, page, position, clip, propensity, pool, policy)."""
    return pl.DataFrame(
        {k: [r[i] for r in rows] for i, k in enumerate(EXPOSURE_SCHEMA)}, schema=EXPOSURE_SCHEMA
    )


def test_logged_pages_read_rewards_and_what_could_not_be_shown():
    exposures = _exposures([
        (10.0, "A", "s1", 0, 0, "a", 0.5, 4, "random"),
        (10.0, "A", "s1", 0, 1, "b", 0.5, 4, "random"),
        (20.0, "A", "s1", 1, 0, "c", 1.0, 2, "random"),
        (20.0, "A", "s1", 1, 1, "d", 1.0, 2, "random"),
    ])  # fmt: skip
    events = pl.DataFrame(
        {
            "ts": [11.0, 11.2, 12.0, 21.0, 22.0],
            "user_id": ["A"] * 5,
            "session_id": ["s1"] * 5,
            "clip_id": ["a", "a", "b", "c", "d"],
            "type": ["view", "like", "skip", "view", "view"],
            "watch_ms": [None] * 5,
            "received_at": [0.0] * 5,
        },
        schema=EVENT_SCHEMA,
    )
    first, second = logged_pages(require_propensities(exposures, "test"), events, ["like", "view"])
    assert first.clips == ("a", "b") and first.opens == "a" and first.blocked == frozenset()
    assert first.rewards["like"].tolist() == [1.0, 0.0]
    assert first.rewards["view"].tolist() == [1.0, 0.0]  # b was skipped
    assert second.rewards["view"].tolist() == [1.0, 1.0] and second.blocked == {"a", "b"}
    assert second.propensity.tolist() == [1.0, 1.0]


def test_logs_without_propensities_are_refused():
    with pytest.raises(PropensityError, match="KuaiRec records no logging propensities"):
        require_propensities(None, "KuaiRec")
    deterministic = _exposures([(1.0, "A", "s", 0, 0, "a", None, None, "engine")])
    with pytest.raises(PropensityError, match="policy engine did not record propensities"):
        require_propensities(deterministic, "simulated logs")
    impossible = _exposures([(1.0, "A", "s", 0, 0, "a", 0.0, 3, "random")])
    with pytest.raises(PropensityError, match=r"in \(0, 1\]"):
        require_propensities(impossible, "simulated logs")
