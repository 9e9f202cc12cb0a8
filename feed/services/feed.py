"""The feed service: the concerns of a feed, built over one set of stores.

Each concern is its own object with its own module — accounts, consent, steering,
event intake, pages — and they share the catalog snapshot and the phrase relevance
cache. Callers use the concern they need (`service.pages.feed_page(...)`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from feed.core.ranking import RankWeights
from feed.core.steering import Reader, load_reader
from feed.services import snapshot
from feed.services.accounts import Accounts, MadeForYou
from feed.services.clips import ClipStore
from feed.services.consent import CameoChoice, ConsentGate
from feed.services.errors import FeedError, Forbidden, NeedsConfirmation, NotFound
from feed.services.intake import MAX_EVENTS_PER_BATCH, EventIntake
from feed.services.pages import SOURCES, FeedItem, FeedPage, FeedPages
from feed.services.relevance import PhraseRelevance
from feed.services.snapshot import Snapshots
from feed.services.snapshot_files import load_snapshot, save_snapshot, snapshot_folder
from feed.services.steering import Steering, describe, describe_op, describe_reading
from feed.storage.dictionary import shared_dictionary, shared_english_words
from feed.storage.interfaces import EventLog, SharedEngagement, UserState
from feed.storage.stores import StoreURLs, open_engagement, open_store

__all__ = [
    "MAX_EVENTS_PER_BATCH", "CameoChoice", "FeedError", "FeedItem", "FeedPage", "FeedService",
    "Forbidden", "MadeForYou", "NeedsConfirmation", "NotFound", "describe", "describe_op",
    "describe_reading",
]  # fmt: skip

CURSOR_SECRET = "cursor_secret"
log = logging.getLogger(__name__)


class FeedService:
    """Accounts, consent, steering, events and pages over the clip store and user state."""

    def __init__(
        self,
        clips: ClipStore,
        users: UserState,
        log: EventLog,
        reader: Reader,
        *,
        weights: RankWeights | None = None,
        sources: Iterable[str] = SOURCES,
        shared: SharedEngagement | None = None,
    ) -> None:
        self.clips = clips
        self.users = users
        self.log = log
        self.reader = reader
        secret = users.secret(CURSOR_SECRET)
        self.snapshots = Snapshots(clips, users, shared)
        self.phrases = PhraseRelevance(
            clips, self.snapshots, reader.glossary, shared_dictionary(), shared_english_words()
        )
        self.consent = ConsentGate(users, clips.catalog, secret)
        self.accounts = Accounts(users, clips.catalog, self.consent)
        self.steering = Steering(users, reader, self.phrases, self.consent)
        self.intake = EventIntake(users, log, self.snapshots, self.consent)
        self.pages = FeedPages(clips, users, self.snapshots, self.phrases, self.consent, secret,
                               weights=weights, sources=sources)  # fmt: skip
        saved = load_snapshot(self.snapshot_folder, clips)
        self._saved_generation = -1 if saved is None else saved.generation
        if saved is not None:
            self.snapshots.start_from(saved)
        # Ingest reserves every handle it stores as an account, so nobody can sign up as
        # a creator or a cameo; handles stored before this service opened are reserved now.
        clips.accounts = users
        users.reserve_handles(clips.catalog.handles(), _now())

    @classmethod
    def open(
        cls, clips: ClipStore, home: Path, reader: Reader | None = None,
        urls: StoreURLs | None = None,
    ) -> FeedService:  # fmt: skip
        """A service over the user state and event log at `urls` (default: the embedded
        ones under `home`). Without a `reader`, the instruction reader is loaded (or
        trained once) under `home/models`."""
        urls = urls or StoreURLs.embedded(home)
        reader = reader or load_reader(home / "models")
        shared = open_engagement(urls.limits)
        users = open_store("users", urls.users)
        return cls(clips, users, open_store("events", urls.events), reader, shared=shared)

    def warm_up(self) -> None:
        """Read one instruction and make one phrase's queries, so that what they load on
        first use (modules, buffers, each tower's centre) is loaded before a server freezes
        its long-lived objects (`feed.http.serving.freeze_long_lived`): loaded later, it
        would stall the first request and stay in every full collection of the garbage
        collector. Also starts reading the catalog's clip records into the page cache
        (`Catalog.read_ahead`)."""
        self.clips.catalog.read_ahead()
        self.reader.read("more cats, less dogs, no clowns")
        self.reader.read("猫をもっと、ホラーは無理")
        self.phrases.queries_of(self.phrases.phrase_vectors("cats"))

    @property
    def snapshot_folder(self) -> Path:
        """Where the catalog snapshot is saved between runs."""
        return snapshot_folder(self.clips.home)

    def save_snapshot(self) -> None:
        """Save the latest catalog snapshot, when it is larger than a rebuild that costs
        well under a second (`SAMPLE_ROWS` clips), so the next open starts from it."""
        snap = self.snapshots.latest()
        if snap is None or len(snap) <= snapshot.SAMPLE_ROWS:
            return
        if snap.generation == self._saved_generation:
            return  # the one saved is this one
        try:
            save_snapshot(snap, self.clips, self.snapshot_folder)
            self._saved_generation = snap.generation
        except OSError as exc:
            log.warning("snapshot not saved (%s); the next open rebuilds it", exc)

    def close(self) -> None:
        """Save the snapshot and close the user state (the clip store belongs to the
        caller)."""
        self.save_snapshot()
        self.phrases.close()
        self.snapshots.shared.close()
        if self.clips.accounts is self.users:
            self.clips.accounts = None
        self.users.close()


def _now() -> float:
    import time

    return time.time()
