"""Content gaps: what users ask for that the catalog serves thinly. Pure functions.

The feed reports demand signals — one per user per active boost/only phrase,
with how many clips that user has not yet seen match it — and this module
groups them into gaps ranked by demand x shortfall.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

# A user steering towards a phrase should find at least this many unseen
# matching clips (two pages); fewer is a shortfall.
WANTED_UNSEEN = 40
ONLY_DEMAND = 1.5


@dataclass(frozen=True)
class DemandSignal:
    """One user's standing request for a phrase and how well the catalog meets it."""

    user_id: str
    phrase: str
    op: str
    unseen_matches: int
    best_match: str | None
    best_z: float
    since: float


@dataclass(frozen=True)
class Gap:
    """A phrase the catalog serves thinly, with who is waiting for it."""

    id: str
    phrase: str
    waiting_users: tuple[str, ...]
    demand: float
    supply: int
    shortfall: float
    best_match: str | None
    best_z: float
    oldest_request: float

    @property
    def priority(self) -> float:
        """Demand x shortfall: what to fill first."""
        return self.demand * self.shortfall


def gap_id(phrase: str) -> str:
    """Stable id of the gap for a phrase."""
    return "gap_" + hashlib.sha1(phrase.strip().lower().encode()).hexdigest()[:10]


def detect_gaps(signals: Sequence[DemandSignal], wanted: int = WANTED_UNSEEN) -> list[Gap]:
    """Group demand by phrase; keep phrases whose typical waiting user finds fewer than
    `wanted` unseen matches; highest demand x shortfall first."""
    if wanted <= 0:
        raise ValueError("wanted must be positive")
    by_phrase: dict[str, list[DemandSignal]] = defaultdict(list)
    for s in signals:
        by_phrase[s.phrase.strip().lower()].append(s)
    gaps = []
    for phrase, group in by_phrase.items():
        supply = sorted(s.unseen_matches for s in group)[len(group) // 2]
        shortfall = max(0.0, (wanted - supply) / wanted)
        if shortfall <= 0:
            continue
        best = max(group, key=lambda s: s.best_z)
        gaps.append(
            Gap(
                id=gap_id(phrase),
                phrase=phrase,
                waiting_users=tuple(sorted({s.user_id for s in group})),
                demand=sum(ONLY_DEMAND if s.op == "only" else 1.0 for s in group),
                supply=supply,
                shortfall=round(shortfall, 4),
                best_match=best.best_match,
                best_z=best.best_z,
                oldest_request=min(s.since for s in group),
            )
        )
    return sorted(gaps, key=lambda g: (-g.priority, g.oldest_request, g.phrase))
