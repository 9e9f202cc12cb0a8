"""What every request handler reaches (`AppContext`): settings, the clip store, the feed
service, the gap filler and rate limits.

Handlers call the clip store and the service's concerns directly: both are safe to
share between request threads: the clip store behind its readers-writer lock, the
services behind their own locks for caches and the stores' for state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from feed.core.types import User
from feed.http.schemas import ClipOut, clip_out
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.services.gaps import GapFiller
from feed.settings import Settings
from feed.storage.catalog import Clip
from feed.storage.ratelimit import Limit
from feed.storage.references import CameoReferences
from feed.storage.stores import open_limits


class AppContext:
    """The app's long-lived objects."""

    def __init__(
        self, settings: Settings, engine: ClipStore, service: FeedService, filler: GapFiller
    ) -> None:
        self.settings = settings
        self.clips = engine
        self.service = service
        self.filler = filler
        self.references = CameoReferences(settings.home / "cameos")
        self.limiter = open_limits(
            settings.store_urls.limits,
            {"steer": Limit(settings.steer_per_minute, settings.steer_burst),
             "generate": Limit(settings.generate_per_minute, settings.generate_burst),
             "upload": Limit(settings.upload_per_minute, settings.upload_burst),
             "events": Limit(settings.event_per_minute, settings.event_burst)},
        )  # fmt: skip

    def rate_limit(self, what: str, who: str, now: float) -> None:
        """Raise 429 (with Retry-After) when `who` is over the `what` rate."""
        wait_s = self.limiter.acquire(what, who, now)
        if wait_s > 0:
            raise HTTPException(
                429, f"too many {what} requests; try again in {wait_s:.0f} s",
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )  # fmt: skip

    def clip_view(self, viewer: User | None, clip: Clip, now: float) -> ClipOut:
        """A clip as this viewer gets it: media URL signed for them, and whether they may
        remix it."""
        return clip_out(clip, self.service.consent.media_query(viewer, clip, now),
                        self.service.consent.may_remix(viewer, clip))  # fmt: skip


def get_context(request: Request) -> AppContext:
    """The app's context (a FastAPI dependency)."""
    return request.app.state.context  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(get_context)]
