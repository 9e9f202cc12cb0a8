"""The plain values the layers pass each other: accounts, tastes, steering records, and
the view of a user that one feed page reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class User:
    """An account. A reserved one was made for a handle the catalog names (a creator or a
    cameo nobody signed up as): it holds the handle, and nobody can sign in as it."""

    id: str
    handle: str
    created_at: float
    reserved: bool = False


@dataclass(frozen=True)
class ChannelTaste:
    """A user's taste on one channel: weighted sums of liked and disliked clip vectors."""

    taste: np.ndarray | None
    taste_weight: float
    negative: np.ndarray | None
    negative_weight: float
    updated_at: float


@dataclass(frozen=True)
class SteeringRecord:
    """A stored steering op (user_id None means global, set by an operator)."""

    id: str
    user_id: str | None
    op: str
    phrase: str
    weight: float
    scope: str
    session_id: str | None
    text: str
    created_at: float
    expires_at: float | None
    retracted_at: float | None

    def live(self, now: float) -> bool:
        """Neither retracted nor expired at `now`."""
        if self.retracted_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at

    def active(self, now: float, session_id: str | None) -> bool:
        """In force at `now` for a feed in `session_id`."""
        return self.live(now) and (self.scope != "session" or self.session_id == session_id)


@dataclass(frozen=True)
class UserView:
    """Everything one feed page needs to know about its user, read together.

    `session_owner` is who the requested session belongs to (None: no such session yet).
    `mutual_followers` holds the ids of "mutuals" cameo owners who follow the user back
    (with `follows`, whether the two are mutuals); `steering` holds the user's and global
    ops, retracted ones included, oldest first. `consent_version` is the counter every
    cameo consent change moves (`UserState.consent_version`), read with the rest.
    """

    user_id: str
    session_owner: str | None
    tastes: dict[str, ChannelTaste] = field(default_factory=dict)
    follows: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()
    watched: frozenset[str] = frozenset()
    served: frozenset[str] = frozenset()
    liked: tuple[str, ...] = ()
    steering: tuple[SteeringRecord, ...] = ()
    made_for: dict[str, str] = field(default_factory=dict)
    mutual_followers: frozenset[str] = frozenset()
    consent_version: int = 0
