"""Accounts: signing up, following, and the clips others made for a user's requests."""

from __future__ import annotations

from dataclasses import dataclass

from feed.core.consent import HANDLE_PATTERN, normalise_handle
from feed.core.types import User
from feed.services.consent import ConsentGate
from feed.services.errors import FeedError, NotFound
from feed.storage.catalog import Clip
from feed.storage.interfaces import Catalog, UserState


@dataclass(frozen=True)
class MadeForYou:
    """A clip made for a user's request, and the request in their words."""

    clip: Clip
    request: str
    made_at: float


class Accounts:
    """Sign-up, follows and what was made for whom."""

    def __init__(self, users: UserState, catalog: Catalog, consent: ConsentGate) -> None:
        self.users = users
        self.catalog = catalog
        self.consent = consent

    def create_user(self, handle: str, now: float) -> tuple[User, str]:
        """Sign up a user; returns the user and their bearer token.

        Handles are stored normalised ("Ａlice" and "ALICE" are "alice"), so two
        handles that look alike cannot both exist; handles the catalog names are
        reserved and refused as taken.
        """
        handle = normalise_handle(handle) if isinstance(handle, str) else ""
        if not HANDLE_PATTERN.match(handle):
            raise FeedError("handle must be 1-64 letters, digits, _ . - (not starting with . or -)")
        try:
            return self.users.create_user(handle, now)
        except ValueError as exc:
            raise FeedError(str(exc)) from exc

    def follow(self, user: User, handle: str, now: float, *, on: bool = True) -> None:
        """Follow (or, `on` False, stop following) an account; NotFound for no account."""
        handle = normalise_handle(handle)
        if self.users.user_by_handle(handle) is None:
            raise NotFound(f"no account @{handle}")
        if handle == user.handle:
            raise FeedError("you cannot follow yourself")
        if on:
            self.users.follow(user.id, handle, now)
        else:
            self.users.unfollow(user.id, handle)

    def made_for_you(self, user: User, limit: int) -> list[MadeForYou]:
        """Clips others made for the user's requests (gap fills), newest first, only those
        the user may see."""
        rows = self.users.made_for_rows(user.id, limit * 2)
        out = []
        for clip_id, phrase, made_at in rows:
            clip = self.catalog.get(clip_id)
            if clip is None or clip.creator == user.handle:
                continue  # not made yet, deleted, or the user's own generation request
            if self.consent.visible(user, clip.cameos, clip.creator):
                out.append(MadeForYou(clip, phrase, made_at))
        return out[:limit]
