"""Offline metrics: pure functions over ranked clip ids, numpy arrays and booleans.

Ranking accuracy is scored against held-out positives (clips the user engaged
with later in the session); list quality (diversity, novelty, coverage,
creator concentration) needs no positives; steering metrics read which items of
a page match an instruction's target. Bootstrap confidence intervals resample
users, with one shared set of resamples so that differences between variants
are paired.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

import numpy as np

# What "the feed obeys" means, per op: the same targets as `steerfeed eval-steering`.
from feed.evaluation.pages import BOOST_SHARE, SUPPRESS_FALL

# -- accuracy against held-out positives ---------------------------------------


def _hits(ranked: Sequence[str], positives: Set[str], k: int) -> np.ndarray:
    return np.array([clip in positives for clip in ranked[:k]], dtype=bool)


def ndcg_at_k(ranked: Sequence[str], positives: Set[str], k: int) -> float:
    """Binary-relevance NDCG of the top k; nan when there are no positives."""
    if not positives:
        return float("nan")
    hits = _hits(ranked, positives, k)
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(gains[: min(k, len(positives))].sum())
    return float(gains[: len(hits)][hits].sum()) / ideal


def recall_at_k(ranked: Sequence[str], positives: Set[str], k: int) -> float:
    """Share of the positives found in the top k; nan when there are no positives."""
    if not positives:
        return float("nan")
    return float(_hits(ranked, positives, k).sum()) / len(positives)


def hit_rate_at_k(ranked: Sequence[str], positives: Set[str], k: int) -> float:
    """1.0 if any positive is in the top k, else 0.0; nan when there are no positives."""
    if not positives:
        return float("nan")
    return float(_hits(ranked, positives, k).any())


def mrr_at_k(ranked: Sequence[str], positives: Set[str], k: int) -> float:
    """Reciprocal rank of the first positive in the top k (0 if none); nan without positives."""
    if not positives:
        return float("nan")
    hits = np.flatnonzero(_hits(ranked, positives, k))
    return 1.0 / (int(hits[0]) + 1) if len(hits) else 0.0


# -- list quality --------------------------------------------------------------


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 - cos) of a list's L2-normalised vectors (n, d).

    nan for lists shorter than two.
    """
    n = len(vectors)
    if n < 2:
        return float("nan")
    sims = vectors @ vectors.T
    upper = np.triu_indices(n, k=1)
    return float(np.mean(1.0 - sims[upper]))


def novelty(popularity: np.ndarray) -> float:
    """Mean self-information -log2(p) of a list's items, where p (n,) in (0, 1] is the
    share of users who had already met each item; nan for an empty list."""
    if len(popularity) == 0:
        return float("nan")
    return float(np.mean(-np.log2(popularity)))


def coverage(shown: np.ndarray) -> float:
    """Share of the catalog shown at least once; `shown` (N,) counts exposures per clip."""
    if len(shown) == 0:
        return float("nan")
    return float(np.mean(shown > 0))


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of exposure counts (0 = even, towards 1 = concentrated on few).

    Counts over every creator, those never shown included; nan when nothing was shown.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(np.sum((2 * ranks - n - 1) * x) / (n * total))


# -- steering ------------------------------------------------------------------


def target_share(matches: Sequence[bool]) -> float:
    """Share of a page's items that match the instruction's target; nan for an empty page."""
    return float(np.mean(matches)) if len(matches) else float("nan")


def adherence_at_k(op: str, matches: Sequence[bool], k: int) -> float:
    """Share of the top k that does what was asked: matches for boost/only, non-matches
    for suppress/exclude."""
    share = target_share(matches[:k])
    return share if op in ("boost", "only") else 1.0 - share


def obeys(op: str, share_after: float, share_before: float) -> bool:
    """Whether a page with target share `share_after` obeys the op (before: the page
    the same ranker showed without it)."""
    if op == "boost":
        return share_after >= BOOST_SHARE
    if op == "only":
        return share_after == 1.0
    if op == "exclude":
        return share_after == 0.0
    if op == "suppress":
        if share_before > 0:
            return share_after <= (1 - SUPPRESS_FALL) * share_before
        return share_after == 0.0
    raise ValueError(f"unknown op {op!r}")


def inverted(op: str, share_before: float, share_after: float) -> bool:
    """Whether the instruction moved its target the wrong way: more of it after a
    suppress/exclude, less of it after a boost/only (the feed did the opposite)."""
    if not (np.isfinite(share_before) and np.isfinite(share_after)):
        return False
    if op in ("boost", "only"):
        return share_after < share_before
    if op in ("suppress", "exclude"):
        return share_after > share_before
    raise ValueError(f"unknown op {op!r}")


def suppression_ratio(share_before: float, share_after: float) -> float:
    """Target share after a suppress/exclude over the share before (0 = gone, 1 = no
    change); nan when the target was absent before."""
    if not share_before > 0:
        return float("nan")
    return share_after / share_before


def collateral_change(before: np.ndarray, after: np.ndarray) -> float:
    """Relative change in the mean relevance of the non-target items of a page.

    0 means the rest of the feed is as relevant as before the instruction;
    nan when either side has no non-target item.
    """
    if len(before) == 0 or len(after) == 0:
        return float("nan")
    mean_before = float(np.mean(before))
    return (float(np.mean(after)) - mean_before) / max(abs(mean_before), 1e-9)


def steps_until_obeys(obeyed: Sequence[bool]) -> float:
    """Pages after the instruction before one obeys (0 = the very next page); nan if none did."""
    for i, ok in enumerate(obeyed):
        if ok:
            return float(i)
    return float("nan")


def persistence(obeyed: Sequence[bool]) -> float:
    """Share of the pages after an instruction that obey it; nan when there were none."""
    return float(np.mean(obeyed)) if len(obeyed) else float("nan")


# -- latency -------------------------------------------------------------------


@dataclass(frozen=True)
class LatencySummary:
    """Request latency in milliseconds."""

    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float


def latency_summary(latency_ms: np.ndarray) -> LatencySummary:
    """Mean, median, 95th percentile and maximum of per-request latencies (ms)."""
    if len(latency_ms) == 0:
        nan = float("nan")
        return LatencySummary(nan, nan, nan, nan)
    p50, p95 = np.percentile(latency_ms, [50, 95])
    return LatencySummary(
        float(np.mean(latency_ms)), float(p50), float(p95), float(np.max(latency_ms))
    )


# -- bootstrap over users ------------------------------------------------------


def resample_weights(n_users: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_users) counts: how often each user is drawn in each resample.

    Share one matrix across variants so that their differences are paired.
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_users, size=(n_boot, n_users))
    weights = np.zeros((n_boot, n_users), dtype=np.float64)
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    return weights


def weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of per-user values (n_users,) under each resample's weights; users whose
    value is nan are left out (nan where a resample holds none)."""
    present = np.isfinite(values)
    totals = weights @ np.where(present, values, 0.0)
    counts = weights @ present.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1e-12), np.nan)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap samples (nan samples ignored)."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
