"""Feed pages: candidates from named sources, hard filters, scores, diversity and reasons
in words, over one snapshot of the catalog and one read of the user.

Pages are computed fresh on every request (a cursor names a session and a page number,
nothing more), so steering, events and hidden clips take effect on the very next page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from feed.core.profile import taste_similarity
from feed.core.ranking import (
    RankWeights,
    ScoredItem,
    SteerSignal,
    diversify,
    filter_mask,
    freshness,
    score_candidates,
)
from feed.core.types import ChannelTaste, SteeringRecord, User
from feed.services.clips import ClipStore
from feed.services.consent import ConsentGate
from feed.services.errors import FeedError, Forbidden
from feed.services.relevance import PhraseRelevance
from feed.services.snapshot import CatalogSnapshot, Snapshots
from feed.services.steering import describe, in_force
from feed.storage.catalog import Clip
from feed.storage.interfaces import UserState

# Candidate sources by name, each with how many candidates it may bring to a page.
PER_SOURCE = {"taste": 300, "steer": 300, "fresh": 100, "social": 100, "remix": 50,
              "explore": 40, "popular": 100, "made": 50}  # fmt: skip
SOURCES = frozenset(PER_SOURCE)
ONLY_POOL = 600
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


@dataclass(frozen=True)
class FeedItem:
    """One clip on a page, with its score parts and reasons in words."""

    clip: Clip
    score: float
    parts: dict[str, float]
    sources: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed and the cursor to the next one."""

    items: tuple[FeedItem, ...]
    session_id: str
    page: int
    next_cursor: str
    steering: tuple[SteeringRecord, ...]
    channels: tuple[str, ...]


class FeedPages:
    """The personal feed, page by page. `sources` names the candidate sources in use
    (all by default; experiments switch some off)."""

    def __init__(
        self, clips: ClipStore, users: UserState, snapshots: Snapshots,
        phrases: PhraseRelevance, consent: ConsentGate, secret: bytes, *,
        weights: RankWeights | None = None, sources: Iterable[str] = SOURCES,
    ) -> None:  # fmt: skip
        unknown = set(sources) - SOURCES
        if unknown:
            raise ValueError(f"unknown candidate sources {sorted(unknown)}")
        self.clips = clips
        self.catalog = clips.catalog
        self.users = users
        self.snapshots = snapshots
        self.phrases = phrases
        self.consent = consent
        self.weights = weights or RankWeights()
        self.sources = frozenset(sources)
        self._secret = secret

    def feed_page(self, user: User, limit: int, cursor: str | None, now: float) -> FeedPage:
        """The next page of the user's feed.

        Reads the user once (`UserState.page_view`) and writes the page once
        (`record_page`): two round trips to the user store, whatever the page holds.
        """
        if not 1 <= limit <= 100:
            raise FeedError("limit must be between 1 and 100")
        if cursor:
            session_id, page = self._read_cursor(cursor)
        else:
            session_id, page = f"s_{uuid.uuid4().hex[:16]}", 0
        view = self.users.page_view(user.id, session_id)
        if cursor and view.session_owner != user.id:
            raise Forbidden("that cursor belongs to someone else")
        snap = self.snapshots.current()
        steering = in_force(view.steering, now, session_id)
        signals = [
            SteerSignal(r.id, r.op, r.phrase, r.weight, self.phrases.relevance(r.phrase, snap))
            for r in steering
        ]
        tastes = view.tastes
        liked = snap.rows_for_ids(list(view.liked))
        follows = {snap.creator_code(c) for c in view.follows} - {-1}
        blocked = [
            snap.rows_for_ids(view.served),
            snap.rows_for_ids(view.watched),
            snap.rows_for_ids(view.hidden),
            self.consent.invisible_rows(snap, user, view),
        ]
        allowed = filter_mask(len(snap), blocked, signals)
        made_for = view.made_for
        made_rows = snap.rows_for_ids(list(made_for))
        # Seeded by user and page, not session: with nothing changed, a new session
        # shows the same page (so retracting steering visibly restores it).
        seed = zlib.crc32(f"{user.id}:{page}".encode())
        popular = self.snapshots.popularity(snap)
        candidates = self._candidates(snap, tastes, signals, liked, follows, allowed, popular, seed)
        if "made" in self.sources:
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
        clips = self.catalog.get_many([int(snap.seqs[it.row]) for it in items])
        by_id = {r.id: r for r in steering}
        out = []
        for it in items:
            clip = clips.get(int(snap.seqs[it.row]))
            # Consent is checked when candidates are fetched and again here, on the
            # clip as stored now: a revocation a moment ago still wins.
            if clip is None or not self.consent.visible(user, clip.cameos, clip.creator, view):
                continue
            reasons = _reasons(it, by_id, clip)
            if clip.id in made_for:
                generic = SOURCE_REASONS["made"]
                mine = f"made for your request: {made_for[clip.id]}"
                reasons = (mine, *(r for r in reasons if r != generic))
            out.append(FeedItem(clip, it.score, it.parts, it.sources, reasons))
        self.users.record_page(session_id, user.id, page, [i.clip.id for i in out], now)
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
            if source not in self.sources:
                return
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
                if "steer" in self.sources:
                    found.setdefault(row, []).append("steer")
        for channel, t in tastes.items():
            if t.taste is None or t.taste_weight <= 0 or channel not in self.clips.indexes:
                continue
            direction = t.taste / max(float(np.linalg.norm(t.taste)), 1e-12)
            seqs = self.clips.nearest(channel, direction, PER_SOURCE["taste"] * 2)
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
