"""Errors the services raise; each message is safe to show the caller."""

from __future__ import annotations

from feed.core.steering import ParsedOp


class FeedError(ValueError):
    """Bad input to the feed: the message is safe to show the caller."""


class NeedsConfirmation(FeedError):
    """The instruction reads two ways (more or less); nothing was applied.

    `readings` are the alternatives, each a full list of ops the caller may apply.
    """

    def __init__(self, message: str, readings: tuple[tuple[ParsedOp, ...], ...]) -> None:
        super().__init__(message)
        self.readings = readings


class NotFound(FeedError):
    """Something named in the request does not exist."""


class Forbidden(FeedError):
    """The caller may not do this."""
