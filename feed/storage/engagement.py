"""`memory://` shared engagement: one process has no one to share its engagement with.

Popularity moves in this process as its own events arrive (`Snapshots.engaged`); what
other processes record reaches it when its snapshot is next rebuilt from the user state.
`redis://` (feed.storage.redis_store.RedisEngagement) passes it on between rebuilds.
"""

from __future__ import annotations

from collections.abc import Mapping


class LocalEngagement:
    """Shares nothing: there are no other processes to hear from."""

    def post(self, deltas: Mapping[str, float]) -> None:
        """Nothing to tell: this process applied its own engagement already."""

    def take(self) -> dict[str, float]:
        """Nothing heard."""
        return {}

    def close(self) -> None:
        """Nothing to close."""
