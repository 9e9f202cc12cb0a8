"""Off-policy estimates of a variant's reward from logs of a known, stochastic policy.

Replay credits a variant only for clips the logging policy happened to show.
When the logging policy's propensities are known (the simulator's uniform
random policy writes them in the exposure log), inverse propensity scoring
gives unbiased estimates of how often a variant's own pages would be liked or
watched (Horvitz and Thompson 1952; Li et al., WSDM 2011; Swaminathan and
Joachims, NeurIPS 2015 for self-normalisation; Dudík et al., ICML 2011 for
doubly robust).

The unit is a logged page L (clips i with propensity p_i, the probability the
policy had of putting i on that page, and reward r_i in {0, 1}) matched to the
page T of K clips the variant ranked at the same moment. Reward is assumed to
be a property of a clip shown to a user in that context, whatever else is on
the page and wherever it sits (the independent-item assumption), so with
w_i = 1[i in T] / p_i:

    IPS   = sum_pages sum_{i in L} w_i r_i / sum_pages K
    SNIPS = sum_pages sum_{i in L} w_i r_i / sum_pages sum_{i in L} w_i
    DR    = sum_pages (sum_{i in T} r^_i + sum_{i in L} w_i (r_i - r^_i)) / sum_pages K

estimate the rate per shown clip of the variant's pages. IPS and DR are
unbiased where the variant shows only clips the logging policy could have
shown (support); a clip outside it counts as reward 0 in IPS and as r^ in DR,
and `support` reports how much of the variant's pages that is. SNIPS trades a
little bias for less variance and estimates the rate over the supported part.
The reward model r^ is a clip's smoothed mean reward over the other users'
logged pages (leave-one-user-out, so a user's own reward never predicts itself).
Intervals resample users, paired across variants like every other metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from feed.experiments.replay import VariantTrace

ESTIMATORS = ("ips", "snips", "dr")
PRIOR_STRENGTH = 5.0

# Per user: the numerator and denominator whose ratio of sums is the estimate.
Ratio = tuple[np.ndarray, np.ndarray]
Predict = Callable[[str, Sequence[str]], np.ndarray]


class PropensityError(ValueError):
    """The logs do not say how likely the logging policy was to show each clip, so IPS,
    SNIPS and DR cannot be computed; the message says which logs and why."""


@dataclass(frozen=True)
class LoggedPage:
    """A page the logging policy served: clips (n,), their propensities (n,) in (0, 1],
    rewards by event type (n,) of 0/1, and the clips it could not have shown (those
    the user had already met)."""

    user_id: str
    session_id: str
    ts: float
    clips: tuple[str, ...]
    propensity: np.ndarray
    rewards: Mapping[str, np.ndarray]
    blocked: frozenset[str]

    @property
    def opens(self) -> str:
        """The page's first clip (where a replayed step opens)."""
        return self.clips[0]


@dataclass(frozen=True)
class PageTerms:
    """One page's contributions to the estimators (sums over its clips)."""

    ips: float
    weight: float
    dr: float
    shown: int
    supported: int


def require_propensities(exposures: pl.DataFrame | None, source: str) -> pl.DataFrame:
    """The exposure log, checked: every served clip has a propensity in (0, 1].

    Raises PropensityError naming `source` when there is no exposure log (KuaiRec,
    a live event log) or the policy that served it did not know its propensities.
    """
    if exposures is None:
        raise PropensityError(
            f"{source} records no logging propensities (no exposure log with a propensity"
            " column): IPS, SNIPS and DR need the probability the logging policy had of"
            " showing each clip, so they are not computed. Replay metrics still are."
        )
    known = exposures["propensity"]
    if exposures.is_empty() or known.null_count() > 0:
        policies = sorted(set(exposures.filter(known.is_null())["policy"].drop_nulls()))
        raise PropensityError(
            f"{source}: the logging policy {', '.join(policies) or '?'} did not record"
            " propensities (a deterministic policy shows other clips with probability 0),"
            ' so IPS, SNIPS and DR are not computed; log with simulation.logging = "random"'
        )
    if not ((known > 0) & (known <= 1)).all():
        raise PropensityError(f"{source}: propensities must lie in (0, 1]")
    return exposures


def logged_pages(
    exposures: pl.DataFrame,
    events: pl.DataFrame,
    rewards: Sequence[str],
    users: Iterable[str] | None = None,
) -> list[LoggedPage]:
    """Pages of an exposure log (checked by `require_propensities`) with their rewards:
    r_i = 1 when the user's session holds an event of that type on clip i."""
    keep = set(users) if users is not None else None
    happened: dict[tuple[str, str], set[str]] = {}
    met: dict[str, list[tuple[float, str]]] = {}
    for ts, user, session, clip, kind in events.select(
        ["ts", "user_id", "session_id", "clip_id", "type"]
    ).iter_rows():
        happened.setdefault((str(session), clip), set()).add(kind)
        met.setdefault(user, []).append((float(ts), clip))
    for history in met.values():
        history.sort()
    pages = []
    ordered = exposures.sort(["ts", "session_id", "page", "position"], maintain_order=True)
    for (user, session, _), rows in ordered.group_by(
        ["user_id", "session_id", "page"], maintain_order=True
    ):
        if keep is not None and user not in keep:
            continue
        clips = tuple(rows["clip_id"].to_list())
        ts = float(rows["ts"][0])
        kinds = [happened.get((str(session), c), set()) for c in clips]
        blocked = frozenset(c for t, c in met.get(str(user), []) if t < ts)
        pages.append(
            LoggedPage(
                user_id=str(user),
                session_id=str(session),
                ts=ts,
                clips=clips,
                propensity=rows["propensity"].to_numpy().astype(np.float64),
                rewards={r: np.array([r in k for k in kinds], dtype=np.float64) for r in rewards},
                blocked=blocked,
            )
        )
    return pages


class ItemMeanModel:
    """r^(u, i): clip i's mean reward over other users' logged pages, shrunk towards the
    mean of every other user's rewards (PRIOR_STRENGTH pseudo-observations)."""

    def __init__(self, pages: Sequence[LoggedPage], reward: str) -> None:
        self._sum: dict[str, float] = {}
        self._n: dict[str, float] = {}
        self._user_sum: dict[tuple[str, str], float] = {}
        self._user_n: dict[tuple[str, str], float] = {}
        self._by_user: dict[str, tuple[float, float]] = {}
        total, count = 0.0, 0.0
        for page in pages:
            r = page.rewards[reward]
            s, n = self._by_user.get(page.user_id, (0.0, 0.0))
            self._by_user[page.user_id] = (s + float(r.sum()), n + len(r))
            total += float(r.sum())
            count += len(r)
            for clip, value in zip(page.clips, r.tolist(), strict=True):
                self._sum[clip] = self._sum.get(clip, 0.0) + value
                self._n[clip] = self._n.get(clip, 0.0) + 1
                key = (page.user_id, clip)
                self._user_sum[key] = self._user_sum.get(key, 0.0) + value
                self._user_n[key] = self._user_n.get(key, 0.0) + 1
        self._total, self._count = total, count

    def predict(self, user_id: str, clips: Sequence[str]) -> np.ndarray:
        """Predicted reward (len(clips),) of each clip for this user, from others' logs."""
        own_sum, own_n = self._by_user.get(user_id, (0.0, 0.0))
        rest = self._count - own_n
        prior = (self._total - own_sum) / rest if rest > 0 else 0.0
        out = np.empty(len(clips), dtype=np.float64)
        for j, clip in enumerate(clips):
            s = self._sum.get(clip, 0.0) - self._user_sum.get((user_id, clip), 0.0)
            n = self._n.get(clip, 0.0) - self._user_n.get((user_id, clip), 0.0)
            out[j] = (s + PRIOR_STRENGTH * prior) / (n + PRIOR_STRENGTH)
        return out


def page_terms(
    page: LoggedPage, target: Sequence[str], reward: np.ndarray, predicted: Predict
) -> PageTerms:
    """A logged page's contributions for a variant that showed `target` in its context;
    `reward` (n,) is the logged clips' reward, `predicted(user, clips)` the reward model."""
    shown = set(target)
    weights = np.array([c in shown for c in page.clips], dtype=np.float64) / page.propensity
    correction = weights * (reward - predicted(page.user_id, page.clips))
    direct = float(predicted(page.user_id, list(target)).sum()) if target else 0.0
    return PageTerms(
        ips=float(weights @ reward),
        weight=float(weights.sum()),
        dr=direct + float(correction.sum()),
        shown=len(target),
        supported=sum(c not in page.blocked for c in target),
    )


def estimate(terms: Sequence[PageTerms], estimator: str) -> float:
    """One estimator (ips, snips, dr) over a set of pages' terms; nan when undefined."""
    num, den = _ratio_parts(terms, estimator)
    return num / den if den > 0 else float("nan")


def _ratio_parts(terms: Sequence[PageTerms], estimator: str) -> tuple[float, float]:
    shown = float(sum(t.shown for t in terms))
    if estimator == "ips":
        return float(sum(t.ips for t in terms)), shown
    if estimator == "snips":
        return float(sum(t.ips for t in terms)), float(sum(t.weight for t in terms))
    if estimator == "dr":
        return float(sum(t.dr for t in terms)), shown
    raise ValueError(f"unknown estimator {estimator!r}")


@dataclass(frozen=True)
class OffPolicy:
    """Per variant and metric (e.g. "dr_like", "support"), per-user numerator and
    denominator arrays; the logging policy's own rates likewise; how many pages matched."""

    ratios: dict[str, dict[str, Ratio]]
    logged: dict[str, Ratio]
    pages: int
    matched: dict[str, int]


def off_policy(
    pages: Sequence[LoggedPage],
    traces: Sequence[VariantTrace],
    users: Sequence[str],
    rewards: Sequence[str],
) -> OffPolicy:
    """IPS, SNIPS and DR of every reward for every variant, plus support, per user.

    A variant's page counts for a logged page when it was ranked for the replayed step
    that the logged page opens (same session, same first clip): both were ranked
    knowing the same past.
    """
    index = {u: i for i, u in enumerate(users)}
    by_open = {(p.session_id, p.opens): p for p in pages}
    models = {r: ItemMeanModel(pages, r).predict for r in rewards}
    logged: dict[str, Ratio] = {}
    for r in rewards:
        num, den = np.zeros(len(users)), np.zeros(len(users))
        for p in pages:
            if p.user_id in index:
                num[index[p.user_id]] += float(p.rewards[r].sum())
                den[index[p.user_id]] += len(p.clips)
        logged[f"logged_{r}"] = (num, den)
    ratios: dict[str, dict[str, Ratio]] = {}
    matched: dict[str, int] = {}
    for trace in traces:
        pairs = [
            (by_open[(s.session_id, s.opens)], s.page)
            for s in trace.steps
            if (s.session_id, s.opens) in by_open and s.user_id in index
        ]
        matched[trace.variant] = len(pairs)
        rows = np.array([index[p.user_id] for p, _ in pairs], dtype=np.int64)
        out: dict[str, Ratio] = {}
        for r in rewards:
            terms = [page_terms(p, shown, p.rewards[r], models[r]) for p, shown in pairs]
            for name in ESTIMATORS:
                parts = np.array([_ratio_parts([t], name) for t in terms]).reshape(-1, 2)
                out[f"{name}_{r}"] = _by_user(rows, parts, len(users))
            support = np.array([(t.supported, t.shown) for t in terms]).reshape(-1, 2)
            out["support"] = _by_user(rows, support, len(users))
        ratios[trace.variant] = out
    return OffPolicy(ratios, logged, len(pages), matched)


def _by_user(rows: np.ndarray, parts: np.ndarray, n_users: int) -> Ratio:
    """Sum (pages, 2) numerator/denominator pairs into per-user arrays."""
    num, den = np.zeros(n_users), np.zeros(n_users)
    np.add.at(num, rows, parts[:, 0].astype(np.float64))
    np.add.at(den, rows, parts[:, 1].astype(np.float64))
    return num, den
