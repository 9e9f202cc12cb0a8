"""Taking in what users did: a batch of events is checked whole, logged, and then moves
the user's taste, history and the clips' popularity."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from feed.core.profile import EVENT_TYPES, Event, event_weights, update_taste
from feed.core.types import ChannelTaste, User
from feed.services.consent import ConsentGate
from feed.services.errors import FeedError, NotFound
from feed.services.snapshot import Snapshots
from feed.storage.events import LoggedEvent
from feed.storage.interfaces import EventLog, UserState

MAX_EVENTS_PER_BATCH = 500
MAX_WATCH_MS = 6 * 3600 * 1000
FUTURE_SLACK_S = 300.0


class EventIntake:
    """Events in, profiles and popularity moved."""

    def __init__(self, users: UserState, log: EventLog, snapshots: Snapshots,
                 consent: ConsentGate) -> None:  # fmt: skip
        self.users = users
        self.log = log
        self.snapshots = snapshots
        self.consent = consent
        self._lock = threading.Lock()  # a user's taste is read, moved and written back

    def record_events(
        self, user: User, events: Sequence[Event], now: float, session_id: str | None = None
    ) -> int:
        """Validate a batch, append it to the event log, then update the profile.

        The whole batch is refused if any event is bad, so nothing changes.
        """
        if not events:
            raise FeedError("no events")
        if len(events) > MAX_EVENTS_PER_BATCH:
            raise FeedError(f"at most {MAX_EVENTS_PER_BATCH} events per request")
        snap = self.snapshots.current()
        rows = snap.rows_or_missing([e.clip_id for e in events])  # one bulk lookup
        # A clip the user may not see is answered as one that does not exist.
        unknown = sorted({
            e.clip_id for e, row in zip(events, rows.tolist(), strict=True)
            if row < 0 or not self.consent.visible_at(user, snap, row)
        })  # fmt: skip
        if unknown:
            raise NotFound(f"unknown clip ids: {unknown[:10]}")
        for e in events:
            if e.type not in EVENT_TYPES:
                raise FeedError(f"unknown event type {e.type!r}; expected one of {EVENT_TYPES}")
            if e.watch_ms is not None and not 0 <= e.watch_ms <= MAX_WATCH_MS:
                raise FeedError(f"watch_ms must be between 0 and {MAX_WATCH_MS}")
            if not np.isfinite(e.ts) or e.ts > now + FUTURE_SLACK_S or e.ts < 0:
                raise FeedError(f"event time {e.ts} is in the future or invalid")
        self.log.append(
            [
                LoggedEvent(e.ts, user.id, session_id, e.clip_id, e.type, e.watch_ms, now)
                for e in events
            ]
        )
        weights = [
            event_weights(e, _finite(snap.duration_s[r]))
            for e, r in zip(events, rows.tolist(), strict=True)
        ]
        positive = np.array([w[0] for w in weights], dtype=np.float32)
        negative = np.array([w[1] for w in weights], dtype=np.float32)
        with self._lock:
            tastes = self.users.tastes(user.id)
            updated: dict[str, ChannelTaste] = {}
            for channel, vectors in snap.vectors.items():
                present = snap.has[channel][rows]
                if not present.any() or (positive[present].sum() + negative[present].sum()) == 0:
                    continue
                updated[channel] = update_taste(
                    tastes.get(channel), vectors[rows[present]], positive[present],
                    negative[present], now,
                )  # fmt: skip
            follows = {
                snap.creator_names[snap.creator_codes[r]]
                for e, r in zip(events, rows.tolist(), strict=True)
                if e.type == "follow"
            }
            self.users.record_events(
                user.id, [(e.clip_id, e.type, e.ts) for e in events], updated, follows
            )
        self.snapshots.engaged([(e.clip_id, e.type) for e in events])
        return len(events)


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)
