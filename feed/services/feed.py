"""The feed service: users, events, steering and pages, over the engine and user state.

This is the one place where stores, encoders and the pure ranking functions
meet. Pages are computed fresh on every request (a cursor names a session and
a page number, nothing more), so steering, events and hidden clips take effect
on the very next page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.core.consent import (
    HANDLE_PATTERN,
    POLICIES,
    CameoConsent,
    clip_visible,
    may_use,
    mentioned_cameos,
    normalise_handle,
    refusal,
)
from feed.core.intent import has_japanese
from feed.core.profile import (
    EVENT_TYPES,
    Event,
    event_weights,
    taste_similarity,
    update_taste,
)
from feed.core.ranking import (
    MATCH_Z,
    RankWeights,
    ScoredItem,
    SteerSignal,
    diversify,
    filter_mask,
    freshness,
    lexical_matches,
    phrase_relevance,
    score_candidates,
)
from feed.core.steering import (
    MAX_INSTRUCTION_CHARS,
    MAX_OPS_PER_INSTRUCTION,
    OPS,
    AmbiguousInstruction,
    InstructionError,
    InstructionReader,
    ParsedOp,
    load_reader,
)
from feed.services.clips import Engine
from feed.services.snapshot import CatalogSnapshot, build_snapshot
from feed.storage.catalog import Clip
from feed.storage.events import EventLog, LoggedEvent
from feed.storage.state import ChannelTaste, StateStore, SteeringRecord, User

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 7 * 24 * 3600.0
MAX_TTL_S = 365 * 24 * 3600.0
MAX_EVENTS_PER_BATCH = 500
MAX_WATCH_MS = 6 * 3600 * 1000
FUTURE_SLACK_S = 300.0
PER_SOURCE = {"taste": 300, "steer": 300, "fresh": 100, "social": 100, "remix": 50,
              "explore": 40, "popular": 100, "made": 50}  # fmt: skip
ONLY_POOL = 600
MEDIA_TOKEN_TTL_S = 6 * 3600
WARM_THREAD = "steerfeed-warm"
SOURCE_REASONS = {
    "taste": "like clips you watched",
    "steer": "matches what you asked for",
    "fresh": "new",
    "social": "from a creator you follow",
    "remix": "a remix related to a clip you liked",
    "explore": "something different to explore",
    "popular": "popular right now",
    "made": "made for your request",
}


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


@dataclass(frozen=True)
class FeedItem:
    """One clip on a page, with its score parts and reasons in words."""

    clip: Clip
    score: float
    parts: dict[str, float]
    sources: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CameoChoice:
    """A person one may try to name in a prompt: whether their cameo allows it, and if
    not, why (in words for the requester)."""

    handle: str
    allowed: bool
    reason: str


@dataclass(frozen=True)
class MadeForYou:
    """A clip made for a user's request, and the request in their words."""

    clip: Clip
    request: str
    made_at: float


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed and the cursor to the next one."""

    items: tuple[FeedItem, ...]
    session_id: str
    page: int
    next_cursor: str
    steering: tuple[SteeringRecord, ...]
    channels: tuple[str, ...]


def describe(record: SteeringRecord) -> str:
    """A steering op in words, as the user would say it back, in the language they used."""
    words = describe_op(record.op, record.phrase, record.weight, has_japanese(record.text))
    if record.user_id is None:
        return f"{words}（全員）" if has_japanese(record.text) else f"{words} (for everyone)"
    return words


def describe_reading(ops: Sequence[ParsedOp], japanese: bool) -> str:
    """A whole reading (several ops) in words."""
    return ("、" if japanese else ", ").join(
        describe_op(o.op, o.phrase, o.weight, japanese) for o in ops
    )


def describe_op(op: str, phrase: str, weight: float, japanese: bool) -> str:
    """One op in words, in Japanese or English."""
    if japanese:
        strength = ""
        if op in ("boost", "suppress") and weight != 1.0:
            strength = "かなり" if weight > 1.0 else "少し"
        return {
            "boost": f"{phrase}を{strength}多めに",
            "suppress": f"{phrase}を{strength}少なめに",
            "exclude": f"{phrase}はなし",
            "only": f"{phrase}だけ",
            "reset": "元に戻す",
        }[op]
    strength = ""
    if op in ("boost", "suppress") and weight != 1.0:
        strength = "much " if weight > 1.0 else "a bit "
    return {
        "boost": f"{strength}more {phrase}",
        "suppress": f"{strength}less {phrase}",
        "exclude": f"no {phrase}",
        "only": f"only {phrase}",
        "reset": "back to normal",
    }[op]


class FeedService:
    """Users, events, steering and feed pages."""

    def __init__(
        self,
        engine: Engine,
        state: StateStore,
        events: EventLog,
        reader: InstructionReader,
        *,
        cursor_secret: bytes,
        weights: RankWeights | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self.events = events
        self.reader = reader
        self.weights = weights or RankWeights()
        self._secret = cursor_secret
        self._lock = threading.RLock()
        self._snapshot: CatalogSnapshot | None = None
        self._popular: np.ndarray = np.empty(0, dtype=np.float32)
        self._phrase_vectors: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._relevance: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._consents: dict[str, CameoConsent] | None = None
        self._owner_ids: dict[str, str] = {}  # handle → user id; a binding never changes
        # Ingest reserves every handle it stores as an account, so nobody can sign up as
        # a creator or a cameo; handles stored before this service opened are reserved now.
        engine.accounts = state
        state.reserve_handles(engine.catalog.handles(), time.time())
        self._warmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WARM_THREAD)
        self._warming: dict[str, Future[None]] = {}

    @classmethod
    def open(
        cls, engine: Engine, home: Path, reader: InstructionReader | None = None
    ) -> FeedService:
        """A service over the home's user state and event log.

        Without a `reader`, the instruction reader is loaded (or trained once) under
        `home/models`.
        """
        reader = reader or load_reader(home / "models")
        state = StateStore(home / "state.sqlite")
        secret = _cursor_secret(state)
        return cls(engine, state, EventLog(home / "events"), reader, cursor_secret=secret)

    def close(self) -> None:
        """Close the user state (the engine belongs to the caller)."""
        self._warmer.shutdown(wait=True)
        if self.engine.accounts is self.state:
            self.engine.accounts = None
        self.state.close()

    # -- snapshot and caches --------------------------------------------------

    def snapshot(self) -> CatalogSnapshot:
        """The current catalog snapshot, rebuilt if the catalog moved."""
        with self._lock:
            if (
                self._snapshot is None
                or self._snapshot.generation != self.engine.catalog.generation
            ):
                self._snapshot = build_snapshot(self.engine)
                self._popular = self._popularity(self._snapshot)
                self._relevance.clear()
            return self._snapshot

    def popularity_of(self, snap: CatalogSnapshot) -> np.ndarray:
        """Popularity in [0, 1] aligned with `snap`'s rows (even if a newer one replaced it)."""
        with self._lock:
            if snap is self._snapshot:
                return self._popular
        return self._popularity(snap)

    def _popularity(self, snap: CatalogSnapshot) -> np.ndarray:
        raw = np.zeros(len(snap), dtype=np.float32)
        for clip_id, (
            views,
            likes,
            skips,
            hides,
            shares,
            remixes,
        ) in self.state.clip_stats().items():
            row = snap.row_of_id.get(clip_id)
            if row is not None:
                raw[row] = views + 3 * (likes + shares + remixes) - skips - 3 * hides
        raw = np.log1p(np.maximum(raw, 0.0))
        return raw / max(float(raw.max()), 1.0)

    def phrase_vectors(self, phrase: str) -> dict[str, np.ndarray]:
        """The phrase encoded by each channel's own text tower that reads its language (cached).

        A multilingual channel reads any phrase. An English-only channel (MiniLM, the CLIP
        text tower) reads English phrases, and Japanese ones only through the glossary's
        English for them; otherwise it sits this phrase out.
        """
        with self._lock:
            cached = self._phrase_vectors.get(phrase)
            if cached is not None:
                self._phrase_vectors.move_to_end(phrase)
                return cached
        vectors = {
            channel: self.engine.encoders[channel].encode_texts([text])[0]
            for channel, text in self._channel_texts(phrase).items()
        }
        with self._lock:
            self._phrase_vectors[phrase] = vectors
            while len(self._phrase_vectors) > 4096:
                self._phrase_vectors.popitem(last=False)
        return vectors

    def _channel_texts(self, phrase: str) -> dict[str, str]:
        """What each channel that reads the phrase's language encodes for it (see above)."""
        english = self.reader.glossary.translate(phrase) if has_japanese(phrase) else phrase
        texts = {}
        for channel, encoder in self.engine.encoders.items():
            if getattr(encoder, "multilingual", False):
                texts[channel] = phrase
            elif english:
                texts[channel] = english
        return texts

    def relevance(self, phrase: str, snap: CatalogSnapshot | None = None) -> np.ndarray:
        """z-scored relevance of every row of `snap` (default: the current snapshot) to a
        phrase, cached per generation. A request passes the snapshot it ranks over: an
        upload meanwhile makes a newer one, whose rows no longer line up with it."""
        snap = self.snapshot() if snap is None else snap
        key = (phrase, snap.generation)
        with self._lock:
            cached = self._relevance.get(key)
            if cached is not None:
                self._relevance.move_to_end(key)
                return cached
            pending = self._warming.get(phrase)
        on_warmer = threading.current_thread().name.startswith(WARM_THREAD)
        if pending is not None and not on_warmer and not pending.cancel():
            # Already running on the warm-up thread: wait rather than compute it twice.
            # (A warm-up still queued behind others was cancelled: compute it here.)
            pending.result()
            return self.relevance(phrase, snap)
        if pending is not None and pending.cancelled():
            self._forget_warm(phrase)
        z = phrase_relevance(snap.vectors, snap.has, self.phrase_vectors(phrase))
        if snap.texts is not None:
            # A clip that names the phrase outright matches it, whatever the vectors say.
            z = np.where(lexical_matches(snap.texts, phrase), np.maximum(z, MATCH_Z), z)
            z = z.astype(np.float32)
        with self._lock:
            self._relevance[key] = z
            while len(self._relevance) > 512:
                self._relevance.popitem(last=False)
        return z

    def _warm(self, phrase: str) -> None:
        """Compute a phrase's relevance ahead of the next page (runs on the warm-up thread)."""
        try:
            self.relevance(phrase)
        finally:
            with self._lock:
                self._warming.pop(phrase, None)

    def _forget_warm(self, phrase: str) -> None:
        with self._lock:
            self._warming.pop(phrase, None)

    # -- users ----------------------------------------------------------------

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
            return self.state.create_user(handle, now)
        except ValueError as exc:
            raise FeedError(str(exc)) from exc

    def user_ids(self, handles: Sequence[str]) -> tuple[str, ...]:
        """The user ids of these handles (with or without '@', in any case); FeedError
        naming every handle that is no account, so a list never holds a name that
        whoever signs up next would get."""
        wanted = list(dict.fromkeys(normalise_handle(h) for h in handles))
        found = self.state.users_by_handles(wanted)
        unknown = [h for h in wanted if h not in found]
        if unknown:
            raise FeedError(f"no account with handle {', '.join('@' + h for h in unknown[:10])}")
        return tuple(found[h].id for h in wanted)

    # -- steering -------------------------------------------------------------

    def steer(
        self,
        user: User | None,
        text: str,
        now: float,
        *,
        scope: str = "persistent",
        ttl_s: float | None = None,
        session_id: str | None = None,
        reading: Sequence[tuple[str, str]] | None = None,
    ) -> list[SteeringRecord]:
        """Read an instruction and apply it; `user` None sets global steering (operators).

        `reading` applies ops the caller already chose — (op, phrase) pairs, as offered
        by NeedsConfirmation — instead of reading `text`, which is kept for the record.
        A new op on a phrase replaces earlier ops on the same phrase; a new "only"
        replaces earlier ones; "reset" retracts everything active. An instruction that
        reads two ways raises NeedsConfirmation and applies nothing.
        """
        if scope not in ("session", "persistent"):
            raise FeedError("scope must be 'session' or 'persistent'")
        ttl = DEFAULT_TTL_S if ttl_s is None else float(ttl_s)
        if not 0 < ttl <= MAX_TTL_S:
            raise FeedError(f"ttl_s must be between 1 and {int(MAX_TTL_S)} seconds")
        ops = self._read(text) if reading is None else _chosen_ops(reading, text)
        for op in ops:
            if op.op != "reset" and not self._readable(op.phrase):
                raise FeedError(
                    f"{op.phrase!r} is Japanese and this engine has no multilingual space to"
                    " match it in; run `steerfeed reindex --reembed`"
                )
        user_id = None if user is None else user.id
        if scope == "session":
            if user is None:
                raise FeedError("global steering cannot be session-scoped")
            if session_id is None:
                session_id = self.state.latest_session(user.id)
            elif self.state.session_owner(session_id) != user.id:
                raise Forbidden("that session belongs to someone else")
            if session_id is None:
                raise FeedError("no feed session yet; fetch the feed first or use scope=persistent")
        active = [r for r in self.state.steering_for(user_id, include_global=False) if r.live(now)]
        records: list[SteeringRecord] = []
        retract: set[str] = set()
        for op in ops:
            if op.op == "reset":
                retract.update(r.id for r in active)
                retract.update(r.id for r in records)
                records.append(self._record(user_id, op, scope, session_id, text, now, ttl, now))
                continue
            for r in active + records:
                if r.phrase == op.phrase or (op.op == "only" and r.op == "only"):
                    retract.add(r.id)
            records.append(self._record(user_id, op, scope, session_id, text, now, ttl, None))
        self.state.retract_steering(sorted(retract), now)
        self.state.add_steering(records)
        for record in records:
            if record.op != "reset":
                # Warm the relevance cache off the request path: the answer returns
                # at once and the next page usually finds the work done.
                with self._lock:
                    if record.phrase not in self._warming:
                        self._warming[record.phrase] = self._warmer.submit(
                            self._warm, record.phrase
                        )
        return [r for r in records if r.id not in retract]

    def _read(self, text: str) -> list[ParsedOp]:
        try:
            return self.reader.read(text)
        except AmbiguousInstruction as exc:
            raise NeedsConfirmation(str(exc), exc.readings) from exc
        except InstructionError as exc:
            raise FeedError(str(exc)) from exc

    def _readable(self, phrase: str) -> bool:
        """True when some channel can compare this phrase with clips (a multilingual one
        only once it holds vectors: homes from before it existed lack them)."""
        return any(
            len(self.engine.indexes[channel])
            or not getattr(self.engine.encoders[channel], "multilingual", False)
            for channel in self._channel_texts(phrase)
        )

    @staticmethod
    def _record(
        user_id: str | None, op: ParsedOp, scope: str, session_id: str | None, text: str,
        now: float, ttl: float, retracted_at: float | None,
    ) -> SteeringRecord:  # fmt: skip
        return SteeringRecord(
            id=f"st_{uuid.uuid4().hex[:12]}", user_id=user_id, op=op.op, phrase=op.phrase,
            weight=op.weight, scope=scope, session_id=session_id if scope == "session" else None,
            text=text.strip()[:500], created_at=now, expires_at=now + ttl,
            retracted_at=retracted_at,
        )  # fmt: skip

    def active_steering(
        self, user: User | None, now: float, session_id: str | None = None
    ) -> list[SteeringRecord]:
        """Steering in force for a user (their own and global), oldest first."""
        if user is not None and session_id is None:
            session_id = self.state.latest_session(user.id)
        records = self.state.steering_for(None if user is None else user.id)
        return [r for r in records if r.op != "reset" and r.active(now, session_id)]

    def retract(self, user: User | None, steering_id: str, now: float) -> None:
        """Retract one steering op; users may retract only their own, operators only global ones."""
        record = self.state.get_steering(steering_id)
        if record is None:
            raise NotFound(f"no steering {steering_id!r}")
        owner = None if user is None else user.id
        if record.user_id != owner:
            raise Forbidden("that steering belongs to someone else")
        self.state.retract_steering([steering_id], now)

    # -- events ---------------------------------------------------------------

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
        snap = self.snapshot()
        # A clip the user may not see is answered as one that does not exist.
        unknown = sorted({e.clip_id for e in events if not self.visible_row(user, snap, e.clip_id)})
        if unknown:
            raise NotFound(f"unknown clip ids: {unknown[:10]}")
        for e in events:
            if e.type not in EVENT_TYPES:
                raise FeedError(f"unknown event type {e.type!r}; expected one of {EVENT_TYPES}")
            if e.watch_ms is not None and not 0 <= e.watch_ms <= MAX_WATCH_MS:
                raise FeedError(f"watch_ms must be between 0 and {MAX_WATCH_MS}")
            if not np.isfinite(e.ts) or e.ts > now + FUTURE_SLACK_S or e.ts < 0:
                raise FeedError(f"event time {e.ts} is in the future or invalid")
        self.events.append(
            [
                LoggedEvent(e.ts, user.id, session_id, e.clip_id, e.type, e.watch_ms, now)
                for e in events
            ]
        )
        rows = np.array([snap.row_of_id[e.clip_id] for e in events], dtype=np.int64)
        weights = [
            event_weights(e, _finite(snap.duration_s[r]))
            for e, r in zip(events, rows.tolist(), strict=True)
        ]
        positive = np.array([w[0] for w in weights], dtype=np.float32)
        negative = np.array([w[1] for w in weights], dtype=np.float32)
        with self._lock:
            tastes = self.state.tastes(user.id)
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
            self.state.record_events(
                user.id, [(e.clip_id, e.type, e.ts) for e in events], updated, follows
            )
            # Bump popularity in the newest snapshot's rows (another request may
            # have replaced `snap` meanwhile; a clip it dropped is skipped).
            current = self._snapshot if self._snapshot is not None else snap
            bump = np.zeros(len(current), dtype=np.float32)
            for e in events:
                row = current.row_of_id.get(e.clip_id)
                if row is not None and e.type in ("like", "share", "remix", "view"):
                    bump[row] += 0.02
            self._popular = np.minimum(self._popular + bump, 1.0)
        return len(events)

    # -- pages ----------------------------------------------------------------

    def feed_page(self, user: User, limit: int, cursor: str | None, now: float) -> FeedPage:
        """The next page of the user's feed."""
        if not 1 <= limit <= 100:
            raise FeedError("limit must be between 1 and 100")
        if cursor:
            session_id, page = self._read_cursor(cursor)
            if self.state.session_owner(session_id) != user.id:
                raise Forbidden("that cursor belongs to someone else")
        else:
            session_id, page = self.state.start_session(user.id, now), 0
        snap = self.snapshot()
        steering = self.active_steering(user, now, session_id)
        signals = [
            SteerSignal(r.id, r.op, r.phrase, r.weight, self.relevance(r.phrase, snap))
            for r in steering
        ]
        tastes = self.state.tastes(user.id)
        liked = snap.rows_for_ids(self.state.liked(user.id))
        follows = {snap.creator_code(c) for c in self.state.follows(user.id)} - {-1}
        blocked = [
            snap.rows_for_ids(self.state.served(session_id)),
            snap.rows_for_ids(self.state.watched(user.id)),
            snap.rows_for_ids(self.state.hidden(user.id)),
            self.invisible_rows(snap, user),
        ]
        allowed = filter_mask(len(snap), blocked, signals)
        made_for = self.state.made_for(user.id)
        made_rows = snap.rows_for_ids(list(made_for))
        # Seeded by user and page, not session: with nothing changed, a new session
        # shows the same page (so retracting steering visibly restores it).
        seed = zlib.crc32(f"{user.id}:{page}".encode())
        popular = self.popularity_of(snap)
        candidates = self._candidates(snap, tastes, signals, liked, follows, allowed, popular, seed)
        for row in made_rows[allowed[made_rows]].tolist():
            candidates.setdefault(row, []).append("made")
        rows = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        items: list[ScoredItem] = []
        if len(rows):
            taste = np.zeros(len(rows), dtype=np.float32)
            counted = np.zeros(len(rows), dtype=np.float32)
            for channel, t in tastes.items():
                if channel not in snap.vectors:
                    continue
                present = snap.has[channel][rows]
                taste[present] += taste_similarity(t, snap.vectors[channel][rows[present]])
                counted[present] += 1
            taste /= np.maximum(counted, 1)
            rng = np.random.default_rng(seed)
            scored = score_candidates(
                rows,
                [tuple(candidates[r]) for r in rows.tolist()],
                taste,
                signals,
                freshness(snap.created_at[rows], now, self.weights.fresh_half_life_h),
                popular[rows],
                np.isin(snap.creator_codes[rows], list(follows)).astype(np.float32),
                np.isin(rows, made_rows).astype(np.float32),
                rng.random(len(rows)).astype(np.float32),
                self.weights,
            )
            items = diversify(scored, snap.vectors["text"], snap.creator_codes, limit, self.weights)
        clips = self.engine.catalog.get_many([int(snap.seqs[it.row]) for it in items])
        by_id = {r.id: r for r in steering}
        out = []
        for it in items:
            clip = clips.get(int(snap.seqs[it.row]))
            # Consent is checked when candidates are fetched and again here, on the
            # clip as stored now: a revocation a moment ago still wins.
            if clip is None or not self.visible(user, clip.cameos, clip.creator):
                continue
            reasons = _reasons(it, by_id, clip)
            if clip.id in made_for:
                generic = SOURCE_REASONS["made"]
                mine = f"made for your request: {made_for[clip.id]}"
                reasons = (mine, *(r for r in reasons if r != generic))
            out.append(FeedItem(clip, it.score, it.parts, it.sources, reasons))
        self.state.record_page(session_id, page, [i.clip.id for i in out])
        return FeedPage(
            items=tuple(out), session_id=session_id, page=page,
            next_cursor=self._write_cursor(session_id, page + 1), steering=tuple(steering),
            channels=tuple(snap.vectors),
        )  # fmt: skip

    def _candidates(
        self,
        snap: CatalogSnapshot,
        tastes: dict[str, ChannelTaste],
        signals: Sequence[SteerSignal],
        liked: np.ndarray,
        follows: set[int],
        allowed: np.ndarray,
        popular: np.ndarray,
        seed: int,
    ) -> dict[int, list[str]]:
        """Rows from each named source (only allowed rows), with the sources that found them."""
        found: dict[int, list[str]] = {}

        def add(rows: np.ndarray, source: str) -> None:
            for row in rows[allowed[rows]][: PER_SOURCE[source]].tolist():
                found.setdefault(row, []).append(source)

        only = [s for s in signals if s.op == "only"]
        if only:
            # "only": every allowed clip is a candidate, most relevant first.
            z = np.minimum.reduce([s.z for s in only])
            rows = np.flatnonzero(allowed)
            if len(rows) > ONLY_POOL:
                rows = rows[np.argpartition(-z[rows], ONLY_POOL - 1)[:ONLY_POOL]]
            for row in rows.tolist():
                found.setdefault(row, []).append("steer")
        for channel, t in tastes.items():
            if t.taste is None or t.taste_weight <= 0 or channel not in self.engine.indexes:
                continue
            direction = t.taste / max(float(np.linalg.norm(t.taste)), 1e-12)
            seqs = self.engine.nearest(channel, direction, PER_SOURCE["taste"] * 2)
            add(snap.rows_for_seqs(seqs), "taste")
        for s in signals:
            if s.op == "boost":
                top = np.argpartition(-s.z, min(len(s.z) - 1, PER_SOURCE["steer"] * 2))[
                    : PER_SOURCE["steer"] * 2
                ]
                add(top[np.argsort(-s.z[top], kind="stable")], "steer")
        add(snap.newest_first[: PER_SOURCE["fresh"] * 4], "fresh")
        if follows:
            mine = snap.newest_first[np.isin(snap.creator_codes[snap.newest_first], list(follows))]
            add(mine, "social")
        if len(liked):
            remixes = np.flatnonzero(np.isin(snap.remix_of_row, liked))
            originals = snap.remix_of_row[liked]
            add(np.concatenate([remixes, originals[originals >= 0]]), "remix")
        add(np.argsort(-popular, kind="stable")[: PER_SOURCE["popular"] * 2], "popular")
        rng = np.random.default_rng(seed)
        pool = np.flatnonzero(allowed)
        if len(pool):
            add(
                rng.choice(pool, size=min(len(pool), PER_SOURCE["explore"]), replace=False),
                "explore",
            )
        return found

    # -- consent --------------------------------------------------------------
    #
    # The one gate: every path that shows a clip asks `visible`, every path that puts
    # a likeness in a clip asks `check_cameos`, and deleting asks `co_owns`.

    def set_cameo(self, user: User, policy: str, approved: Sequence[str],
                  blocked: Sequence[str], now: float) -> CameoConsent:  # fmt: skip
        """Record who may use (and see clips with) the user's cameo; effective at once.

        `approved` and `blocked` are handles, stored as the user ids they name now.
        """
        if policy not in POLICIES:
            raise FeedError(f"policy must be one of {POLICIES}")
        approved_ids, blocked_ids = self.user_ids(approved), self.user_ids(blocked)
        self.state.set_cameo(user.handle, user.id, policy, approved_ids, blocked_ids, now)
        with self._lock:
            self._consents = None
        return self.consents()[user.handle]

    def consents(self) -> dict[str, CameoConsent]:
        """Every cameo's consent on record (cached until one changes)."""
        with self._lock:
            if self._consents is None:
                self._consents = {
                    handle: CameoConsent(handle, owner, policy, approved, blocked)  # type: ignore[arg-type]
                    for handle, owner, policy, approved, blocked in self.state.all_cameos()
                }
            return self._consents

    def owner_ids(self, handles: set[str]) -> dict[str, str]:
        """The user id holding each handle that is an account (cached: a handle's account
        never changes once it has one)."""
        with self._lock:
            missing = handles - self._owner_ids.keys()
        if missing:
            found = {h: u.id for h, u in self.state.users_by_handles(missing).items()}
            with self._lock:
                self._owner_ids.update(found)
        with self._lock:
            return {h: self._owner_ids[h] for h in handles if h in self._owner_ids}

    def in_id_namespace(self, user: User, clip_id: str) -> bool:
        """Whether a clip id is the user's to choose: it starts with '<handle>-' and no
        longer handle that is an account claims it too ('bob-x-1' is @bob-x's, not @bob's).
        Depends only on accounts, never on which clips exist."""
        prefix = user.handle + "-"
        if not clip_id.startswith(prefix):
            return False
        longer = {clip_id[:i] for i in range(len(prefix), len(clip_id)) if clip_id[i] == "-"}
        return not longer or not self.owner_ids(longer)

    def visible(self, viewer: User | None, cameos: tuple[str, ...], creator: str) -> bool:
        """Whether the viewer may see a clip with these cameos by this creator."""
        if not cameos:
            return True
        owner_of, mutual = self._cameo_facts(viewer, set(cameos) | {creator})
        return clip_visible(cameos, creator, None if viewer is None else viewer.id,
                            self.consents(), owner_of, mutual)  # fmt: skip

    def visible_row(self, viewer: User | None, snap: CatalogSnapshot, clip_id: str) -> bool:
        """Whether the clip is in the snapshot and the viewer may see it."""
        row = snap.row_of_id.get(clip_id)
        if row is None:
            return False
        return self.visible(viewer, snap.cameos[row], snap.creator_names[snap.creator_codes[row]])

    def co_owns(self, user: User, clip: Clip) -> bool:
        """Whether the user co-owns the clip: made it, or their likeness is in it."""
        owners = self.owner_ids({clip.creator, *clip.cameos})
        return user.id in owners.values()

    def check_cameos(self, user: User, prompt: str, listed: Sequence[str] = ()) -> tuple[str, ...]:
        """Every cameo in a new clip (`listed`, and @named in the prompt after
        normalisation), normalised; Forbidden unless each allows this user."""
        handles = tuple(dict.fromkeys([*(normalise_handle(h) for h in listed),
                                       *mentioned_cameos(prompt)]))  # fmt: skip
        consents = self.consents()
        owner_of = self.owner_ids(set(handles))
        for handle in handles:
            if owner_of.get(handle) == user.id:
                continue  # your own likeness is yours to use, consent on record or not
            consent = consents.get(handle)
            mutual = False
            if consent is not None and consent.policy == "mutuals":
                owner = self.state.get_user(consent.owner_id)
                mutual = owner is not None and self.state.follows_between(
                    user.id, user.handle, owner.id, owner.handle
                )
            if not may_use(consent, user.id, mutual):
                reason = "has no consent on record" if consent is None else "does not allow you"
                raise Forbidden(f"cameo @{handle} {reason}")
        return handles

    def may_remix(self, viewer: User | None, clip: Clip) -> bool:
        """Whether the viewer may remix the clip: signed in, and every cameo in it (which
        a remix keeps) allows them."""
        if viewer is None:
            return False
        try:
            self.check_cameos(viewer, "", clip.cameos)
        except Forbidden:
            return False
        return True

    def cameo_choices(self, user: User, prefix: str, limit: int) -> list[CameoChoice]:
        """People whose handle starts with `prefix`, for @mention completion: those whose
        cameo allows the user first, then those that do not, each with the reason."""
        prefix = normalise_handle(prefix)
        handles = self.state.handles_starting(prefix, max(limit * 4, 40))
        consents = self.consents()
        owner_of = self.owner_ids(set(handles))
        choices = []
        for handle in handles:
            if handle == user.handle:
                choices.append(CameoChoice(handle, True, "your own cameo"))
                continue
            consent = consents.get(handle)
            mutual = False
            if consent is not None and consent.policy == "mutuals":
                mutual = self.state.follows_between(user.id, user.handle, owner_of.get(handle, ""),
                                                    handle)  # fmt: skip
            why = refusal(consent, user.id, mutual)
            choices.append(CameoChoice(handle, why is None, why or "allows you"))
        choices.sort(key=lambda c: not c.allowed)  # stable: allowed first, each by handle
        return choices[:limit]

    def follow(self, user: User, handle: str, now: float, *, on: bool = True) -> None:
        """Follow (or, `on` False, stop following) an account; NotFound for no account."""
        handle = normalise_handle(handle)
        if self.state.user_by_handle(handle) is None:
            raise NotFound(f"no account @{handle}")
        if handle == user.handle:
            raise FeedError("you cannot follow yourself")
        if on:
            self.state.follow(user.id, handle, now)
        else:
            self.state.unfollow(user.id, handle)

    def made_for_you(self, user: User, limit: int) -> list[MadeForYou]:
        """Clips others made for the user's requests (gap fills), newest first, only those
        the user may see."""
        rows = self.state.made_for_rows(user.id, limit * 2)
        out = []
        for clip_id, phrase, made_at in rows:
            clip = self.engine.catalog.get(clip_id)
            if clip is None or clip.creator == user.handle:
                continue  # not made yet, deleted, or the user's own generation request
            if self.visible(user, clip.cameos, clip.creator):
                out.append(MadeForYou(clip, phrase, made_at))
        return out[:limit]

    def _cameo_facts(
        self, viewer: User | None, handles: set[str]
    ) -> tuple[dict[str, str], dict[str, bool]]:
        """What consent checks need beyond the policies, looked up once per handle: the
        user id behind each handle, and for "mutuals" cameos whether viewer and owner
        follow each other."""
        consents = self.consents()
        owner_of = self.owner_ids(handles)
        mutual: dict[str, bool] = {}
        if viewer is not None:
            for handle in handles:
                consent = consents.get(handle)
                if consent is not None and consent.policy == "mutuals":
                    owner = self.state.get_user(consent.owner_id)
                    mutual[handle] = owner is not None and self.state.follows_between(
                        viewer.id, viewer.handle, owner.id, owner.handle
                    )
        return owner_of, mutual

    def media_query(self, viewer: User | None, clip: Clip, now: float) -> str:
        """A query string that lets this viewer's browser fetch a consent-gated clip's media.

        Video elements cannot send bearer headers, so clips with cameos get a
        short-lived signed URL per viewer; clips without cameos need none.
        """
        if viewer is None or not clip.cameos:
            return ""
        expires = int(now + MEDIA_TOKEN_TTL_S)
        sig = hmac.new(self._secret, f"{viewer.id}:{clip.id}:{expires}".encode(), hashlib.sha256)
        return f"?v={viewer.id}.{expires}.{sig.hexdigest()[:24]}"

    def media_viewer(self, clip_id: str, token: str | None, now: float) -> User | None:
        """The user a signed media token was issued to, if it is valid for this clip now."""
        if not token:
            return None
        try:
            user_id, expires_raw, sig = token.split(".")
            expires = int(expires_raw)
        except ValueError:
            return None
        want = hmac.new(self._secret, f"{user_id}:{clip_id}:{expires}".encode(), hashlib.sha256)
        if expires < now or not hmac.compare_digest(sig, want.hexdigest()[:24]):
            return None
        return self.state.get_user(user_id)

    def invisible_rows(self, snap: CatalogSnapshot, viewer: User | None) -> np.ndarray:
        """Snapshot rows the viewer may not see (clips whose cameo owners did not allow it).

        Runs on every page, so the store is asked about each cameo handle once, not
        once per clip.
        """
        cameo_rows = snap.cameo_rows.tolist()
        if not cameo_rows:
            return np.empty(0, dtype=np.int64)
        handles = {h for r in cameo_rows for h in snap.cameos[r]}
        handles |= {snap.creator_names[snap.creator_codes[r]] for r in cameo_rows}
        owner_of, mutual = self._cameo_facts(viewer, handles)
        consents = self.consents()
        viewer_id = None if viewer is None else viewer.id
        rows = [
            r for r in cameo_rows
            if not clip_visible(snap.cameos[r], snap.creator_names[snap.creator_codes[r]],
                                viewer_id, consents, owner_of, mutual)
        ]  # fmt: skip
        return np.asarray(rows, dtype=np.int64)

    # -- cursors --------------------------------------------------------------

    def _write_cursor(self, session_id: str, page: int) -> str:
        body = json.dumps({"s": session_id, "p": page}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def _read_cursor(self, cursor: str) -> tuple[str, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            body, mac = raw[:-12], raw[-12:]
            if not hmac.compare_digest(
                mac, hmac.new(self._secret, body, hashlib.sha256).digest()[:12]
            ):
                raise ValueError("signature")
            data = json.loads(body)
            session_id, page = str(data["s"]), int(data["p"])
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError("malformed cursor") from exc
        if page < 0 or not re.fullmatch(r"s_[0-9a-f]{16}", session_id):
            raise FeedError("malformed cursor")
        return session_id, page


def _chosen_ops(reading: Sequence[tuple[str, str]], text: str) -> list[ParsedOp]:
    """Ops a caller picked from the readings offered, checked like parsed ones."""
    if not reading or len(reading) > MAX_OPS_PER_INSTRUCTION:
        raise FeedError(f"a reading holds 1 to {MAX_OPS_PER_INSTRUCTION} ops")
    ops = []
    for op, phrase in reading:
        if op not in OPS:
            raise FeedError(f"unknown op {op!r}; one of {', '.join(OPS)}")
        phrase = " ".join(str(phrase).split())
        if op != "reset" and not phrase:
            raise FeedError(f"the {op} op needs a phrase")
        if len(phrase) > MAX_INSTRUCTION_CHARS:
            raise FeedError(f"phrase is longer than {MAX_INSTRUCTION_CHARS} characters")
        ops.append(ParsedOp(op, "" if op == "reset" else phrase, 1.0, text))  # type: ignore[arg-type]
    return ops


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _reasons(item: ScoredItem, steering: dict[str, SteeringRecord], clip: Clip) -> tuple[str, ...]:
    reasons = []
    for sid in item.steering:
        record = steering.get(sid)
        if record is not None and record.op in ("boost", "only"):
            reasons.append(f"you asked: {describe(record)}")
        elif record is not None and record.op == "suppress":
            reasons.append(f"shown despite '{describe(record)}': it scored high for you")
    for source in item.sources:
        text = SOURCE_REASONS[source]
        if source == "social":
            text = f"from @{clip.creator}, whom you follow"
        if source == "steer" and any(r.startswith("you asked") for r in reasons):
            continue
        reasons.append(text)
    return tuple(dict.fromkeys(reasons))


def _cursor_secret(state: StateStore) -> bytes:
    """A per-home secret for signing cursors, created once and kept in the state database."""
    with state.db.tx() as db:
        row = db.execute("SELECT value FROM meta WHERE key='cursor_secret'").fetchone()
        if row is None:
            value = uuid.uuid4().hex + uuid.uuid4().hex
            db.execute("INSERT INTO meta VALUES ('cursor_secret', ?)", (value,))
            return value.encode()
        return str(row[0]).encode()
