"""What every request handler reaches: settings, engine, feed service, and the engine lock."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from feed.engine import Engine
from feed.gapfill import GapFiller
from feed.service import FeedService
from feed.settings import Settings


class AppContext:
    """The app's long-lived objects; `lock` serialises engine reads and writes."""

    def __init__(
        self, settings: Settings, engine: Engine, service: FeedService, filler: GapFiller
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.service = service
        self.filler = filler
        self.lock = threading.RLock()


def get_context(request: Request) -> AppContext:
    """The app's context (a FastAPI dependency)."""
    return request.app.state.context  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(get_context)]
