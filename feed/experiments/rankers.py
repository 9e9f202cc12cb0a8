"""Rankers an experiment can drive: the real feed service under chosen settings, and
baselines (popularity alone, uniform random; collaborative filtering lives in
feed/experiments/collaborative.py).

Every ranker keeps its own memory of users, fed only through `record` and
`steer`, so whoever drives it decides what it may know and when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from feed.core.popularity import ENGAGEMENT
from feed.core.profile import Event
from feed.core.ranking import RankWeights
from feed.core.steering import Reader
from feed.core.types import User
from feed.experiments.clips import ClipTable
from feed.experiments.config import CF_RANKERS, VariantConfig
from feed.services.clips import ClipStore
from feed.services.feed import MAX_EVENTS_PER_BATCH, FeedService
from feed.storage.events import EventLog, LoggedEvent
from feed.storage.state import StateStore
from feed.storage.stores import EVENTS_DIR, STATE_FILE


class Ranker(Protocol):
    """What the simulator and replay drive: events and instructions in, pages out."""

    name: str
    steerable: bool

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        """Take in a user's events (all with ts <= now)."""

    def steer(self, user_id: str, text: str, now: float) -> None:
        """Apply a user's instruction; raises FeedError if it cannot be understood."""

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        """The next k clip ids of a session (clips served earlier in it are not repeated)."""

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        """The first `pages` pages of a fresh session, without touching other sessions."""

    def close(self) -> None:
        """Release what the ranker holds."""


@dataclass(frozen=True)
class Served:
    """A page from a stochastic policy: its clips, the probability each had of being on
    it (its propensity), and how many clips the policy drew from."""

    clips: tuple[str, ...]
    propensities: tuple[float, ...]
    pool: int


@runtime_checkable
class StochasticPolicy(Protocol):
    """A ranker that knows the probability of every page it serves (a logging policy
    whose logs support off-policy estimates)."""

    def serve(self, user_id: str, session_id: str, k: int, now: float) -> Served:
        """The session's next page, with each clip's propensity."""


# -- the engine ------------------------------------------------------------------


class _DiscardedLog(EventLog):
    """An event log that keeps nothing: the log being replayed is the record."""

    def append(self, events: Sequence[LoggedEvent]) -> list[Path]:
        """Accept a batch and drop it."""
        return []


class _ReplayState(StateStore):
    """A throw-away user store whose user ids derive from the handle and a salt, so a
    seeded replay ranks exactly the same way every time (the service seeds its
    exploration by user id)."""

    def __init__(self, path: Path, salt: str) -> None:
        super().__init__(path)
        self._salt = salt

    def create_user(self, handle: str, now: float, user_id: str | None = None) -> tuple[User, str]:
        """A user with a reproducible id."""
        digest = hashlib.sha256(f"{self._salt}:{handle}".encode()).hexdigest()
        return super().create_user(handle, now, user_id or f"u_{digest[:16]}")


class EngineRanker:
    """The real feed service over the real engine, with a throw-away user store."""

    steerable = True

    def __init__(
        self,
        name: str,
        engine: ClipStore,
        folder: Path,
        reader: Reader,
        *,
        weights: RankWeights,
        sources: frozenset[str],
        salt: str,
    ) -> None:
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.state = _ReplayState(folder / STATE_FILE, salt)
        self.service = FeedService(
            engine, self.state, _DiscardedLog(folder / EVENTS_DIR), reader,
            weights=weights, sources=sources,
        )  # fmt: skip
        self._users: dict[str, User] = {}
        self._cursors: dict[str, str] = {}

    def _user(self, user_id: str, now: float) -> User:
        user = self._users.get(user_id)
        if user is None:
            user, _ = self.service.accounts.create_user(f"r{len(self._users)}", now)
            self._users[user_id] = user
        return user

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        """Feed events to the service (which updates profile, seen clips and popularity).

        Events on clips this user may not see (a logging policy that ignored cameo consent
        served them) are dropped: the service answers them as unknown clips.
        """
        user = self._user(user_id, now)
        snap = self.service.snapshots.current()
        events = [e for e in events if self.service.consent.visible_row(user, snap, e.clip_id)]
        for start in range(0, len(events), MAX_EVENTS_PER_BATCH):
            self.service.intake.record_events(
                user, events[start : start + MAX_EVENTS_PER_BATCH], now
            )

    def steer(self, user_id: str, text: str, now: float) -> None:
        """Steer the user's feed (persistent scope, default lifetime)."""
        self.service.steering.steer(self._user(user_id, now), text, now)

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        """The session's next page from the service."""
        page = self.service.pages.feed_page(
            self._user(user_id, now), k, self._cursors.get(session_id), now
        )
        self._cursors[session_id] = page.next_cursor
        return tuple(item.clip.id for item in page.items)

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        """Pages of a fresh service session (its own cursor; replayed sessions are untouched)."""
        user = self._user(user_id, now)
        out: list[str] = []
        cursor = None
        for _ in range(pages):
            page = self.service.pages.feed_page(user, k, cursor, now)
            out.extend(item.clip.id for item in page.items)
            cursor = page.next_cursor
        return tuple(out)

    def close(self) -> None:
        """Close the throw-away user store."""
        self.service.close()


# -- baselines -------------------------------------------------------------------


class BlockList:
    """What a baseline may not show again: clips each user watched, skipped or hid, and
    what each session served."""

    def __init__(self, table: ClipTable) -> None:
        self.table = table
        self.blocked: dict[str, set[int]] = {}
        self.served: dict[str, set[int]] = {}

    def record(self, user_id: str, events: Sequence[Event]) -> None:
        """Block the clips a user met."""
        blocked = self.blocked.setdefault(user_id, set())
        for e in events:
            row = self.table.row_of_id.get(e.clip_id)
            if row is not None and e.type in ("view", "skip", "hide"):
                blocked.add(row)

    def allowed(self, user_id: str, served: set[int]) -> np.ndarray:
        """Rows (N,) the user may be shown, given what their session served."""
        mask = np.ones(len(self.table), dtype=bool)
        mask[list(self.blocked.get(user_id, set()) | served)] = False
        return mask


class PopularityRanker:
    """Ranks every unseen clip by engagement so far (views, likes, skips, hides of all
    users), ignoring who asks and what they say."""

    steerable = False

    def __init__(self, name: str, table: ClipTable, seed: int) -> None:
        self.name = name
        self.table = table
        self._memory = BlockList(table)
        self._score = np.zeros(len(table), dtype=np.float64)
        # Ties (every clip, before any event) break in a seeded order, not catalog order.
        self._tiebreak = np.random.default_rng(seed).permutation(len(table))

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        """Count engagement and remember what the user has seen."""
        self._memory.record(user_id, events)
        for e in events:
            row = self.table.row_of_id.get(e.clip_id)
            if row is not None:
                self._score[row] += ENGAGEMENT.get(e.type, 0.0)

    def steer(self, user_id: str, text: str, now: float) -> None:
        """Instructions are ignored: this baseline cannot be steered."""

    def _top(self, allowed: np.ndarray, k: int) -> list[int]:
        order = np.lexsort((self._tiebreak, -self._score))
        return order[allowed[order]][:k].tolist()

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        """The k most popular clips the user has not seen in the session or before."""
        served = self._memory.served.setdefault(session_id, set())
        rows = self._top(self._memory.allowed(user_id, served), k)
        served.update(rows)
        return tuple(self.table.ids[r] for r in rows)

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        """The first pages of a fresh session."""
        rows = self._top(self._memory.allowed(user_id, set()), k * pages)
        return tuple(self.table.ids[r] for r in rows)

    def close(self) -> None:
        """Nothing to release."""


class RandomRanker:
    """Serves unseen clips uniformly at random (seeded): an unbiased logging policy."""

    steerable = False

    def __init__(self, name: str, table: ClipTable, seed: int) -> None:
        self.name = name
        self.table = table
        self._memory = BlockList(table)
        self._rng = np.random.default_rng(seed)

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        """Remember what the user has seen."""
        self._memory.record(user_id, events)

    def steer(self, user_id: str, text: str, now: float) -> None:
        """Instructions are ignored: this baseline cannot be steered."""

    def _draw(self, allowed: np.ndarray, n: int) -> list[int]:
        pool = np.flatnonzero(allowed)
        return self._rng.choice(pool, size=min(n, len(pool)), replace=False).tolist()

    def serve(self, user_id: str, session_id: str, k: int, now: float) -> Served:
        """k clips drawn at random from the n the user has not seen; each had k/n chance."""
        served = self._memory.served.setdefault(session_id, set())
        allowed = self._memory.allowed(user_id, served)
        pool = int(allowed.sum())
        rows = self._draw(allowed, k)
        served.update(rows)
        chance = len(rows) / pool if pool else 0.0
        return Served(tuple(self.table.ids[r] for r in rows), (chance,) * len(rows), pool)

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        """k clips drawn at random from those the user has not seen."""
        return self.serve(user_id, session_id, k, now).clips

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        """Random clips for a fresh session."""
        rows = self._draw(self._memory.allowed(user_id, set()), k * pages)
        return tuple(self.table.ids[r] for r in rows)

    def close(self) -> None:
        """Nothing to release."""


def build_ranker(
    variant: VariantConfig,
    engine: ClipStore,
    table: ClipTable,
    folder: Path,
    reader: Reader,
    seed: int,
    *,
    window_s: float = 3600.0,
) -> Ranker:
    """The ranker a variant describes, with fresh memory under `folder` (collaborative
    filtering models refit every `window_s` seconds)."""
    if variant.ranker in CF_RANKERS:
        from feed.experiments.collaborative import CollaborativeRanker

        return CollaborativeRanker(
            variant.name, variant.ranker, table, variant.model, window_s, seed
        )
    if variant.ranker == "popularity":
        return PopularityRanker(variant.name, table, seed)
    if variant.ranker == "random":
        return RandomRanker(variant.name, table, seed)
    return EngineRanker(
        variant.name,
        engine,
        folder / variant.name,
        reader,
        weights=variant.weights,
        sources=variant.sources,
        salt=str(seed),
    )
