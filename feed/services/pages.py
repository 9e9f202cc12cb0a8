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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from feed.core.lookup import distinct
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
from feed.services.relevance import FETCH_DEPTH, PhraseMatch, PhraseRelevance, z_many
from feed.services.snapshot import CatalogSnapshot, Snapshots
from feed.services.steering import describe, in_force
from feed.storage.catalog import Clip
from feed.storage.interfaces import UserState

# Candidate sources by name, each with how many candidates it may bring to a page.
PER_SOURCE = {"taste": 300, "steer": 300, "fresh": 100, "social": 100, "remix": 50,
              "explore": 40, "popular": 100, "made": 50}  # fmt: skip
SOURCES = frozenset(PER_SOURCE)
ONLY_POOL = 600
# A taste search explores only as deep as it fetches (HNSW efSearch = k): taste candidates
# are scored and diversified after, and need not be an exact search's; half the cost of a
# phrase's search, which explores twice as deep (embeddings.index.HNSW_EF_PER_K).
TASTE_EXPLORE = 1
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


# The most items one page holds.
MAX_PAGE = 100


def check_limit(limit: int) -> None:
    """FeedError unless a page of `limit` items may be asked for."""
    if not 1 <= limit <= MAX_PAGE:
        raise FeedError(f"limit must be between 1 and {MAX_PAGE}")


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
        check_limit(limit)
        if cursor:
            session_id, page = self._read_cursor(cursor)
        else:
            session_id, page = f"s_{uuid.uuid4().hex[:16]}", 0
        view = self.users.page_view(user.id, session_id)
        if cursor and view.session_owner != user.id:
            raise Forbidden("that cursor belongs to someone else")
        snap = self.snapshots.current()
        steering = in_force(view.steering, now, session_id)
        # What needs no phrase comes first (taste searches, seen and hidden rows, consent):
        # a phrase new to this page may still be warming up on its own thread meanwhile.
        taste_rows = self._taste_rows(snap, view.tastes)
        liked = snap.rows_for_ids(list(view.liked))
        follows = {snap.creator_code(c) for c in view.follows} - {-1}
        blocked = np.concatenate([
            snap.rows_for_ids(view.served),
            snap.rows_for_ids(view.watched),
            snap.rows_for_ids(view.hidden),
            self.consent.invisible_rows(snap, user, view),
        ]).astype(np.int64)  # fmt: skip
        made_for = view.made_for
        made_rows = snap.rows_for_ids(list(made_for))
        # Seeded by user and page, not session: with nothing changed, a new session
        # shows the same page (so retracting steering visibly restores it).
        seed = zlib.crc32(f"{user.id}:{page}".encode())
        sources = partial(self._fetched, snap, taste_rows, liked=liked, follows=follows,
                          made_rows=made_rows, seed=seed)  # fmt: skip
        self._score_ahead(snap, steering, sources, blocked)
        matches = {r.id: self.phrases.match(r.phrase, snap) for r in steering}
        found, gate = self._candidates(sources(steering, matches), steering, matches, blocked)
        rows = np.fromiter(found, dtype=np.int64, count=len(found))
        items: list[ScoredItem] = []
        if len(rows):
            # Hard ops' relevance was computed as the candidates were tested; the rest's now.
            relevance = gate.relevance(rows)
            rest = [r for r in steering if r.id not in relevance]
            relevance.update(
                zip([r.id for r in rest], z_many([matches[r.id] for r in rest], rows), strict=True)
            )
            signals = [
                SteerSignal(r.id, r.op, r.phrase, r.weight, relevance[r.id]) for r in steering
            ]
            taste = np.zeros(len(rows), dtype=np.float32)
            counted = np.zeros(len(rows), dtype=np.float32)
            for channel, t in view.tastes.items():
                if channel not in snap.vectors:
                    continue
                present = snap.has[channel][rows]
                taste[present] += taste_similarity(t, snap.vectors[channel][rows[present]])
                counted[present] += 1
            taste /= np.maximum(counted, 1)
            rng = np.random.default_rng(seed)
            # Scored over the candidates alone: row i of every array is candidate i.
            local = np.arange(len(rows))
            scored = score_candidates(
                local,
                [tuple(found[r]) for r in rows.tolist()],
                taste,
                signals,
                freshness(snap.created_at[rows], now, self.weights.fresh_half_life_h),
                self.snapshots.popularity(snap, rows),
                np.isin(snap.creator_codes[rows], list(follows)).astype(np.float32),
                np.isin(rows, made_rows).astype(np.float32),
                rng.random(len(rows)).astype(np.float32),
                self.weights,
            )
            chosen = diversify(scored, snap.vectors["text"][rows], snap.creator_codes[rows],
                               limit, self.weights)  # fmt: skip
            items = [replace(it, row=int(rows[it.row])) for it in chosen]
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

    def _taste_rows(
        self, snap: CatalogSnapshot, tastes: dict[str, ChannelTaste]
    ) -> list[np.ndarray]:
        """Rows nearest the user's taste in each space that has one, best first."""
        found = []
        for channel, t in tastes.items():
            if t.taste is None or t.taste_weight <= 0 or channel not in self.clips.indexes:
                continue
            direction = t.taste / max(float(np.linalg.norm(t.taste)), 1e-12)
            seqs = self.clips.nearest(channel, direction, PER_SOURCE["taste"] * 2,
                                      explore=TASTE_EXPLORE)  # fmt: skip
            found.append(snap.rows_for_seqs(seqs))
        return found

    def _score_ahead(
        self,
        snap: CatalogSnapshot,
        steering: Sequence[SteeringRecord],
        sources: Callable[[Sequence[SteeringRecord], dict[str, PhraseMatch]], list[Source]],
        blocked: np.ndarray,
    ) -> None:
        """While a phrase of this page warms up on its own thread, score the rows the other
        sources will offer in their first round against the hard ops whose matches are
        made. The gate then finds their z kept (`PhraseMatch._known`) instead of scoring
        them after the wait; the z are the same either way."""
        if not any(self.phrases.warming_now(r.phrase) for r in steering):
            return  # nothing to wait for, or the page computes it on its own thread
        ready = {r.id: m for r in steering if (m := self.phrases.known(r.phrase, snap))}
        filters = [ready[r.id] for r in steering if r.id in ready and r.op in HARD_OPS]
        if not filters:
            return
        offered = [
            s.rows[: min(_round(s.cap), s.most)]  # a first round: it lacks all it may bring
            for s in sources([r for r in steering if r.id in ready], ready)
        ]
        rows = distinct(np.concatenate(offered or [_NO_ROWS]))
        z_many(filters, rows[~np.isin(rows, blocked)])

    def _fetched(
        self,
        snap: CatalogSnapshot,
        taste_rows: list[np.ndarray],
        steering: Sequence[SteeringRecord],
        matches: dict[str, PhraseMatch],
        *,
        liked: np.ndarray,
        follows: set[int],
        made_rows: np.ndarray,
        seed: int,
    ) -> list[Source]:
        """Each named source that found rows. Each fetches its rows through an index (the
        vector indexes, the snapshot's newest-first, per-creator and remix lists, the
        popularity short list) a little deeper than it may bring."""
        fetched: list[Source] = []
        only = [r for r in steering if r.op == "only"]
        if only:
            # "only": the phrases' nearest matches, most relevant (to all of them) first.
            hits = distinct(np.concatenate(
                [self.phrases.nearest(matches[r.id], FETCH_DEPTH)[0] for r in only]
            ))  # fmt: skip
            z = np.minimum.reduce(z_many([matches[r.id] for r in only], hits))
            # The page's main supply under an "only": every row it fetched may be scored.
            ranked = hits[np.argsort(-z, kind="stable")]
            fetched.append(Source("steer", ranked, ONLY_POOL, len(ranked)))
        for rows in taste_rows:
            fetched.append(Source.of("taste", rows, PER_SOURCE["taste"]))
        for r in steering:
            if r.op == "boost":
                hits, _ = self.phrases.nearest(matches[r.id], FETCH_DEPTH)
                fetched.append(Source.of("steer", hits, PER_SOURCE["steer"]))
        newest = snap.newest_first[: PER_SOURCE["fresh"] * 4]
        fetched.append(Source.of("fresh", newest, PER_SOURCE["fresh"]))
        if follows:
            mine = np.concatenate(
                [
                    snap.by_creator[c][: PER_SOURCE["social"] * 2]
                    for c in follows
                    if c in snap.by_creator
                ]
                or [_NO_ROWS]
            )
            mine = mine[np.argsort(-snap.created_at[mine], kind="stable")]
            fetched.append(Source.of("social", mine, PER_SOURCE["social"]))
        if len(liked):
            remixes = np.concatenate([snap.remixes.get(int(r), _NO_ROWS) for r in liked])
            originals = snap.remix_of_row[liked]
            remix = np.concatenate([np.sort(remixes), originals[originals >= 0]])
            fetched.append(Source.of("remix", remix, PER_SOURCE["remix"]))
        popular = self.snapshots.most_popular(snap)[: PER_SOURCE["popular"] * 2]
        fetched.append(Source.of("popular", popular, PER_SOURCE["popular"]))
        rng = np.random.default_rng(seed)
        drawn = _draw(rng, len(snap), PER_SOURCE["explore"] * 4)
        fetched.append(Source.of("explore", drawn, PER_SOURCE["explore"]))
        fetched.append(Source.of("made", made_rows, len(made_rows)))
        return [f for f in fetched if f.name in self.sources and len(f.rows)]

    def _candidates(
        self,
        fetched: list[Source],
        steering: Sequence[SteeringRecord],
        matches: dict[str, PhraseMatch],
        blocked: np.ndarray,
    ) -> tuple[dict[int, list[str]], _Gate]:
        """Rows from the sources (`_fetched`), with the sources that found them, and the
        gate that tested them.

        Each source keeps its first rows that pass the gate: not what the page must not
        show (seen, hidden, not allowed by a cameo, excluded, outside an "only"). Rows are
        tested in rounds: each source offers its next rows (twice what it still lacks),
        all are tested at once, and a source that still lacks rows offers more in the next
        round, until it has had `Source.most` rows scored (rows refused unscored, as seen,
        hidden or not allowed, do not count). A row no source could keep is never scored;
        every row kept was tested.
        """
        pool = distinct(np.concatenate([f.rows for f in fetched] or [_NO_ROWS]))
        filters = [(r, matches[r.id]) for r in steering if r.op in HARD_OPS]
        gate = _Gate(pool, blocked, filters)
        at = [np.searchsorted(pool, f.rows) for f in fetched]
        kept: list[list[int]] = [[] for _ in fetched]
        start = [0] * len(fetched)
        budget = [f.most for f in fetched]  # rows each source may still have scored
        while True:  # rounds: each source's next rows, all tested at once
            asks = []
            for i, f in enumerate(fetched):
                need = f.cap - len(kept[i])
                if need > 0 and start[i] < len(f.rows) and budget[i] > 0:
                    size = min(_round(need), budget[i])
                    asks.append((i, start[i], start[i] + size, need))
            if not asks:
                break
            gate.test(np.concatenate([at[i][a:b] for i, a, b, _ in asks]))
            for i, a, b, need in asks:
                rows = fetched[i].rows
                kept[i] += rows[a:b][gate.allowed(at[i][a:b])][:need].tolist()
                budget[i] -= int(np.count_nonzero(~gate.blocked[at[i][a:b]]))
                start[i] = b
        found: dict[int, list[str]] = {}
        for f, rows_kept in zip(fetched, kept, strict=True):
            for row in rows_kept:
                found.setdefault(row, []).append(f.name)
        return found, gate

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


_NO_ROWS = np.empty(0, dtype=np.int64)
# Fewest rows a source offers in a round (it offers twice what it still lacks, at least this).
GATE_CHUNK = 64
# A source has at most this many times its share of rows scored by the hard ops. Under an
# "only", the hard ops refuse almost every row of the other sources; without a bound, each
# page scored every row they fetched (a boost's 2,400 best matches among them: about 8,000
# rows a page at 1,000,000 clips), to keep next to none of them.
# The "only" source is not bound: it is the page's main supply.
SCORED_SHARE = 2
HARD_OPS = ("exclude", "only")


@dataclass(frozen=True)
class Source:
    """A candidate source's rows for one page, best first: `cap` of them it may bring,
    `most` of them it may have scored by the hard ops."""

    name: str
    rows: np.ndarray
    cap: int
    most: int

    @classmethod
    def of(cls, name: str, rows: np.ndarray, cap: int) -> Source:
        """A source bound to SCORED_SHARE times its share."""
        return cls(name, rows, cap, max(SCORED_SHARE * cap, GATE_CHUNK))


def _round(need: int) -> int:
    """How many rows a source that still lacks `need` offers the gate in a round (before
    its bound on rows scored)."""
    return max(2 * need, GATE_CHUNK)


class _Gate:
    """Which of a page's pooled candidate rows (`pool`, ascending) it may show: not
    `blocked`, and within the hard ops (`filters`: exclude, only). Rows are tested when
    first asked about, so relevance is computed only for rows a source could keep; each
    hard op's relevance of the rows tested is kept for scoring them."""

    def __init__(
        self,
        pool: np.ndarray,
        blocked: np.ndarray,
        filters: Sequence[tuple[SteeringRecord, PhraseMatch]],
    ) -> None:
        self.pool = pool
        self.filters = list(filters)
        self.blocked = np.isin(pool, blocked)
        self.state = np.full(len(pool), -1, dtype=np.int8)  # -1 untested, 0 refused, 1 allowed
        self.z = np.zeros((len(self.filters), len(pool)), dtype=np.float32)

    def allowed(self, at: np.ndarray) -> np.ndarray:
        """Whether each pool position in `at`, all tested (`test`), may be shown."""
        return self.state[at] == 1

    def test(self, at: np.ndarray) -> None:
        """Test the pool positions in `at` not tested yet, all in one pass."""
        todo = distinct(at[self.state[at] < 0])
        # A blocked row (served, watched, hidden, not allowed) is refused unscored.
        blocked = self.blocked[todo]
        self.state[todo[blocked]] = 0
        todo = todo[~blocked]
        if len(todo):
            relevance = z_many([m for _, m in self.filters], self.pool[todo])
            signals = []
            for k, ((record, _), z) in enumerate(zip(self.filters, relevance, strict=True)):
                self.z[k, todo] = z
                signals.append(SteerSignal(record.id, record.op, record.phrase, record.weight, z))
            margins = {r.id: m.exclude_margin for r, m in self.filters if r.op == "exclude"}
            self.state[todo] = filter_mask(len(todo), [], signals, margins)

    def relevance(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Each hard op's relevance of `rows`, tested rows of the pool, by steering id."""
        at = np.searchsorted(self.pool, rows)
        if len(rows) and (self.state[at] < 0).any():
            raise ValueError("relevance asked of rows the gate never tested")
        return {record.id: self.z[k, at] for k, (record, _) in enumerate(self.filters)}


def _draw(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Up to k distinct rows of n, drawn at random without touching all n."""
    if n <= 4 * k:
        return rng.permutation(n)[:k]
    drawn = rng.integers(0, n, size=2 * k)
    _, first = np.unique(drawn, return_index=True)
    return drawn[np.sort(first)][:k]
