"""How much each clip is about a phrase: the phrase encoded in every channel that reads
its language, compared with the snapshot's vectors, cached per catalog generation and
warmed off the request path right after a steer.

Pages never score every clip: a `PhraseMatch` holds the phrase's similarity statistics
in each space, taken over a fixed sample of the catalog (all of it up to `SAMPLE_ROWS`
clips; beyond, from the sample's mean and covariance), and scores only the rows asked
about; its best matches come from the vector indexes. `relevance` (every clip at once)
stays for offline measurement.

A phrase is compared with clips as its query: its vector less its tower's centre, the mean
vector of the phrases people steer with (`feed.services.centres`). Every similarity of a
phrase then leaves out what all such phrases share, so a clip near steering phrases in
general (a short, vague caption) no longer stands above the catalog for each of them, and
a clip that names the thing in its own words stands out more (docs/steering.md, Queries
less what every steering phrase shares).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from embeddings.encoders import multilingual
from feed.core.intent import has_japanese, name_emoji
from feed.core.looks import Looks, shipped_looks
from feed.core.lookup import distinct, find_sorted
from feed.core.naming import NAMES_NOTHING, Named, RowsNamed, any_of, as_mask, shifted
from feed.core.quantized import row_dots_many
from feed.core.ranking import (
    MATCH_Z,
    ClipTexts,
    Texts,
    lexical_matches,
    lexical_naming,
    phrase_relevance,
)
from feed.core.spelling import mended
from feed.core.steering import Glossary
from feed.services.centres import centre
from feed.services.clips import ClipStore
from feed.services.snapshot import CatalogSnapshot, Snapshots
from feed.storage.dictionary import BilingualDictionary, EnglishWords, Reading

_NO_ROWS = np.empty(0, dtype=np.int64)
_NO_Z = np.empty(0, dtype=np.float32)


@dataclass(frozen=True)
class PhraseMatch:
    """A phrase against one snapshot: z-statistics per space and the rows naming it.

    `z(rows)` is each row's relevance: in every space that has the row, its similarity
    to the phrase in standard deviations above the sample's mean, averaged over spaces;
    a row whose text names the phrase outright scores at least MATCH_Z.
    """

    phrase: str
    snap: CatalogSnapshot
    queries: dict[str, np.ndarray]
    stats: dict[str, tuple[float, float]]
    named: Named  # rows whose text names the phrase (asked of candidates, or the newest)
    sampled: bool  # statistics from a sample rather than every row
    # When the sample is the whole catalog, every row's z, computed once (N <= SAMPLE_ROWS).
    dense: np.ndarray | None = None
    # The z of rows scored before (rows sorted, z): the phrase's best matches, kept by
    # `PhraseRelevance.nearest` (every page of a boost or an "only" asks about them), and
    # up to KEPT_ROWS rows that pages scored since (a session's next page, and other
    # users' pages, ask about many of the same rows). A new match starts empty; one carried
    # to a grown snapshot starts with what the match it came from kept.
    _known: list[tuple[np.ndarray, np.ndarray]] = field(
        init=False, repr=False, compare=False, default_factory=lambda: [(_NO_ROWS, _NO_Z)]
    )
    _best: list[tuple[np.ndarray, np.ndarray]] = field(
        init=False, repr=False, compare=False, default_factory=lambda: [(_NO_ROWS, _NO_Z)]
    )
    _guard: threading.Lock = field(
        init=False, repr=False, compare=False, default_factory=threading.Lock
    )

    @property
    def exclude_margin(self) -> float:
        """How far below the exclusion bar a row is still removed (see SAMPLED_EXCLUDE_MARGIN)."""
        return SAMPLED_EXCLUDE_MARGIN if self.sampled else 0.0

    def z(self, rows: np.ndarray, keep: bool = True) -> np.ndarray:
        """Relevance of `rows` (float32, aligned with them); rows scored are kept unless
        `keep` is False."""
        return z_many([self], rows, keep)[0]

    def carried_to(self, snap: CatalogSnapshot, named: Named) -> PhraseMatch:
        """This match against `snap`, a snapshot grown from its own, with `named` as the
        rows naming the phrase. The rows scored so far keep their z: a grown snapshot keeps
        every row's vectors, and the statistics are the sample's, so only rows added since
        are scored when a page asks about them (an upload no longer costs the next page
        every op's best matches scored again)."""
        carried = replace(self, snap=snap, named=named)
        with self._guard:
            carried._known[0], carried._best[0] = self._known[0], self._best[0]
        return carried

    def remember(self, rows: np.ndarray, z: np.ndarray) -> None:
        """Keep `z` (this match's relevance of its best matches `rows`) for later calls of
        `z`, beside the rows kept before while they fit in KEPT_ROWS (their z stand: the
        same vectors and statistics give the same z), else in their place."""
        order = np.argsort(rows, kind="stable")
        best = (rows[order], np.asarray(z, dtype=np.float32)[order])
        with self._guard:
            self._best[0], self._known[0] = best, _merged(self._known[0], best)

    def _keep(self, rows: np.ndarray, z: np.ndarray) -> None:
        """Add scored rows (distinct, as every caller of `z_many` asks, and none of them
        kept yet) to those kept; past KEPT_ROWS, start again from the best matches."""
        order = np.argsort(rows, kind="stable")
        rows, z = rows[order], z[order]
        with self._guard:
            kept_rows, kept_z = self._known[0]
            if len(kept_rows) + len(rows) > KEPT_ROWS:
                kept_rows, kept_z = self._best[0]
                if len(kept_rows) + len(rows) > KEPT_ROWS:
                    return
            # Rows kept meanwhile by another page are kept twice: harmless, both alike.
            at = np.searchsorted(kept_rows, rows)
            self._known[0] = (np.insert(kept_rows, at, rows), np.insert(kept_z, at, z))


def _merged(
    kept: tuple[np.ndarray, np.ndarray], best: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept (sorted, z) and a match's best matches (sorted, z) as one sorted set, or
    the best alone where both together would pass KEPT_ROWS."""
    if not len(kept[0]) or len(kept[0]) + len(best[0]) > KEPT_ROWS:
        return best
    rows, first = np.unique(np.concatenate([best[0], kept[0]]), return_index=True)
    return rows, np.concatenate([best[1], kept[1]])[first]


def z_many(matches: Sequence[PhraseMatch], rows: np.ndarray, keep: bool = True) -> list[np.ndarray]:
    """Each match's relevance of the same rows (`PhraseMatch.z`; `rows` distinct), reading
    each space's rows once for all of them: a page scores its candidates against every op
    in force. Rows a match kept (`PhraseMatch._known`) are looked up, not scored again;
    rows scored are kept with it, unless `keep` is False."""
    out: list[np.ndarray] = []
    todo: list[tuple[int, np.ndarray]] = []  # (match, which rows it still needs)
    for i, match in enumerate(matches):
        if match.dense is not None:
            out.append(match.dense[rows])
            continue
        known_rows, known_z = match._known[0]
        at, found = find_sorted(known_rows, rows)
        z = np.empty(len(rows), dtype=np.float32)
        z[found] = known_z[at[found]]
        out.append(z)
        if not found.all():
            todo.append((i, ~found))
    by_snap: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, need in todo:
        by_snap.setdefault(id(matches[i].snap), []).append((i, need))
    for group in by_snap.values():
        need_any = np.logical_or.reduce([need for _, need in group])
        asked = rows[need_any]
        scored = _scored([matches[i] for i, _ in group], asked)
        for (i, need), z in zip(group, scored, strict=True):
            mine = need[need_any]
            out[i][need] = z[mine]
            if keep:
                matches[i]._keep(asked[mine], z[mine])
    return out


def _scored(matches: Sequence[PhraseMatch], rows: np.ndarray) -> list[np.ndarray]:
    """Relevance of `rows` for matches against one snapshot, computed from its vectors."""
    snap = matches[0].snap
    total = np.zeros((len(matches), len(rows)), dtype=np.float64)
    count = np.zeros((len(matches), len(rows)), dtype=np.float64)
    channels = dict.fromkeys(c for m in matches for c in m.queries)
    for channel in channels:
        asking = [j for j, m in enumerate(matches) if channel in m.queries]
        present = snap.has[channel][rows]
        if not present.any():
            continue
        queries = np.stack([matches[j].queries[channel] for j in asking])
        sims = row_dots_many(snap.vectors[channel], rows[present], queries)
        for k, j in enumerate(asking):
            mean, std = matches[j].stats[channel]
            total[j, present] += (sims[:, k] - mean) / std
            count[j, present] += 1
    out = []
    for j, match in enumerate(matches):
        z = total[j] / np.maximum(count[j], 1)
        named = match.named.among(rows)
        z[named] = np.maximum(z[named], MATCH_Z)
        out.append(z.astype(np.float32))
    return out


WARM_THREAD = "steerfeed-warm"
SEARCH_THREAD = "steerfeed-search"
DEEP_THREAD = "steerfeed-deep"
# With statistics from a sample, a clip's z is off by about 1/sqrt(sample) standard
# deviations; an exclusion then also removes clips this close below its bar, so it never
# shows one the exact statistics would remove (4 standard errors at 8,192 samples).
SAMPLED_EXCLUDE_MARGIN = 0.06
# How deep pages fetch a phrase's best matches from the indexes (for a boost or an
# "only"); the warm-up fetches as deep, so the page after a steer finds it done.
FETCH_DEPTH = 1200
NEAREST_DEPTH_SHARE = 2  # `nearest(found, k)` keeps at most this many times k rows
# After a phrase's first search, a second one on a thread of its own fetches this many times
# as deep from each space, exploring DEEP_EXPLORE times what it fetches (efSearch 19,200
# at FETCH_DEPTH): at 1,000,000 clips an HNSW walk of 2,400 missed the dense cluster of a
# phrase's best clips ("dogs"), and a clip best in the fused score can sit below each
# space's 1,200th hit ("claymation"). Pages after the first read the deeper matches.
DEEP_DEPTH_SHARE = 4
DEEP_EXPLORE = 4
MAX_DEEPENING = 16  # deeper searches queued at most; past it a phrase keeps its first search
MAX_PHRASES = 4096
# Rows whose z a match keeps after scoring them (see `PhraseMatch._known`): 196 KB a match,
# 100 MB at worst over the MAX_RELEVANCE matches cached.
KEPT_ROWS = 16_384
MAX_RELEVANCE = 512
# Looks' marked rows kept, one per look and text segment (see `PhraseRelevance._marked`):
# a grown snapshot's texts are a few segments (O(log N)), each kept until merged.
MAX_MARKED = 256


class PhraseRelevance:
    """Phrase vectors and relevance arrays, cached; `warm` computes ahead of the page."""

    def __init__(
        self,
        clips: ClipStore,
        snapshots: Snapshots,
        glossary: Glossary,
        dictionary: BilingualDictionary | None = None,
        words: EnglishWords | None = None,
        looks: Looks | None = None,
    ) -> None:
        self.clips = clips
        self.snapshots = snapshots
        self.glossary = glossary
        self.dictionary = dictionary
        self.words = words
        self.looks = shipped_looks() if looks is None else looks
        self._lock = threading.RLock()
        self._vectors: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._relevance: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._matches: OrderedDict[tuple[str, int], PhraseMatch] = OrderedDict()
        self._nearest: OrderedDict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = (
            OrderedDict()
        )
        # Each phrase's newest match, and its newest best matches per depth, whatever the
        # generation: a snapshot grown since reuses them (see `_carried`, `nearest`).
        self._latest: OrderedDict[str, PhraseMatch] = OrderedDict()
        self._latest_nearest: OrderedDict[tuple[str, int], Nearest] = OrderedDict()
        self._english: OrderedDict[str, Reading] = OrderedDict()
        # By (marks, id of a text segment): the segment (weakly, so a replaced snapshot's
        # segments and merged ones can go) and the rows the marks name in it.
        self._marked_rows: OrderedDict[
            tuple[tuple[str, ...], int], tuple[weakref.ref[ClipTexts], RowsNamed]
        ] = OrderedDict()
        self._warmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WARM_THREAD)
        # Two search threads: a warm-up of an instruction's two phrases starts four searches
        # (p99 of a new phrase's first page at 1,000,000 clips about 5 ms lower than one).
        self._searcher = ThreadPoolExecutor(max_workers=2, thread_name_prefix=SEARCH_THREAD)
        self._deeper = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=DEEP_THREAD, initializer=_yield_the_cpu
        )
        self._warming: dict[str, Future[None]] = {}
        self._deepening: dict[tuple[str, int, int], Future[None]] = {}
        # A warm-up's index searches, started as each of the phrase's vectors is ready
        # (see `_search_early`), by (phrase, generation), then channel.
        self._early: dict[tuple[str, int], dict[str, Future[np.ndarray]]] = {}

    def close(self) -> None:
        """Finish warm-ups in flight."""
        self._warmer.shutdown(wait=True)
        self._searcher.shutdown(wait=True)
        self._deeper.shutdown(wait=True)

    def clear(self) -> None:
        """Forget every cached vector and relevance array."""
        with self._lock:
            self._vectors.clear()
            self._relevance.clear()
            self._matches.clear()
            self._nearest.clear()
            self._latest.clear()
            self._latest_nearest.clear()
            self._english.clear()
            self._marked_rows.clear()

    def cached(self, phrase: str, generation: int) -> bool:
        """Whether the phrase's match at this catalog generation is cached."""
        with self._lock:
            return (phrase, generation) in self._matches

    def known(self, phrase: str, snap: CatalogSnapshot) -> PhraseMatch | None:
        """The phrase's match against `snap` when it is made and no warm-up of the phrase
        is under way; None otherwise. Never waits and never computes."""
        with self._lock:
            if phrase in self._warming:
                return None
            return self._matches.get((phrase, snap.generation))

    def warming_now(self, phrase: str) -> bool:
        """Whether a page that needs the phrase waits for its warm-up: one running on the
        warm-up thread, or about to start there (one queued behind another warm-up is
        not: the page computes it on its own thread)."""
        with self._lock:
            pending = self._warming.get(phrase)
            return pending is not None and not pending.done() and not self._behind(pending)

    def _behind(self, pending: Future[None]) -> bool:
        """Whether a warm-up waits in the queue while another runs. One queued while none
        runs is about to start: the thread that ran the last has not yet taken it up (a
        steer's page can ask for its phrase before then)."""
        with self._lock:
            return not pending.running() and any(
                w.running() for w in self._warming.values() if w is not pending
            )

    def match(
        self, phrase: str, snap: CatalogSnapshot | None = None, search_early: bool = False
    ) -> PhraseMatch:
        """The phrase against `snap` (default: the current snapshot), cached per generation.

        With `search_early` (the warm-up, whose `nearest` at FETCH_DEPTH follows), each
        space's index search starts as soon as the phrase's vector in it is ready.
        """
        snap = self.snapshots.current() if snap is None else snap
        key = (phrase, snap.generation)
        with self._lock:
            cached = self._matches.get(key)
            if cached is not None:
                self._matches.move_to_end(key)
                return cached
            pending = self._warming.get(phrase)
        if pending is not None and not _on_warm_thread():
            if pending.done() or (self._behind(pending) and pending.cancel()):
                # Queued behind another warm-up (or over): computed here, not waited for;
                # the other phrases of a cancelled warm-up are queued again.
                self._forget_warm(phrase, pending)
                self._warm_again(pending)
            else:
                # Running, or about to: wait rather than compute it twice.
                _wait_out(pending)
                return self.match(phrase, snap)
        carried = self._carried(phrase, snap)
        if carried is not None:
            return carried
        sampled = len(snap.sample) < len(snap)
        early = self._search_early(snap) if search_early and sampled else None
        queries = self.queries_of(self.many_phrase_vectors([phrase], early)[phrase])
        stats = {}
        for channel, q in queries.items():
            if sampled:
                moments = snap.sample_moments.get(channel)
                if moments is None:  # no sample row has the channel
                    continue
                mean, std = moments.stats(q)
            else:
                # Multiply first, select after: selecting rows first would copy the matrix.
                sims = (snap.vectors[channel] @ q)[snap.has[channel]]
                if not len(sims):
                    continue
                mean, std = float(sims.mean()), float(sims.std())
            stats[channel] = (mean, std if std > 1e-9 else 1.0)
        queries = {c: q for c, q in queries.items() if c in stats}
        named = NAMES_NOTHING if snap.texts is None else self.naming(snap.texts, phrase)
        found = PhraseMatch(phrase, snap, queries, stats, named, sampled)
        if not sampled:
            # A small catalog: score every row once (as a full scan would), so pages
            # only look z up.
            dense = phrase_relevance(snap.vectors, snap.has, queries)
            every = named.every()
            dense[every] = np.maximum(dense[every], MATCH_Z)
            found = replace(found, dense=dense)
        return self._keep(found)

    def _keep(self, found: PhraseMatch) -> PhraseMatch:
        with self._lock:
            if found.snap.grown_from is None:
                self._forget_replaced(found.snap)
            _put(self._matches, (found.phrase, found.snap.generation), found)
            newest = self._latest.get(found.phrase)
            if newest is None or newest.snap.generation <= found.snap.generation:
                _put(self._latest, found.phrase, found)
        return found

    def _forget_replaced(self, snap: CatalogSnapshot) -> None:
        """Drop matches against snapshots from before the rebuild that made `snap`: none
        can carry over again, and each holds a whole snapshot in memory (the caller holds
        the lock)."""
        caches: tuple[OrderedDict[Any, Any], ...] = (
            self._matches, self._latest, self._latest_nearest,
        )  # fmt: skip
        for cache in caches:
            stale = [key for key, kept in cache.items() if _replaced(snap, kept.snap)]
            for key in stale:
                del cache[key]

    def _carried(self, phrase: str, snap: CatalogSnapshot) -> PhraseMatch | None:
        """The phrase's newest match against a snapshot that `snap` grew from (by one
        growth or many), carried over: the same sample gives the same statistics, and the
        rows naming the phrase are asked of the grown texts when a page needs them."""
        if snap.grown_from is None:
            return None
        with self._lock:
            older = self._latest.get(phrase)
        if older is None or older.dense is not None or not _grew_from(snap, older.snap):
            return None
        assert snap.texts is not None  # a grown snapshot has texts
        return self._keep(older.carried_to(snap, self.naming(snap.texts, phrase)))

    def nearest(self, found: PhraseMatch, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The phrase's best matches (rows, z), best first, at most 2k of them: each
        space's k nearest clips from its index and the newest clips naming the phrase
        outright, the best of them kept. Kept with the match: it is the same for every
        user until the catalog moves; after the catalog grows by a few rows, the older
        best matches and the added rows are scored instead of searching again."""
        key = (found.phrase, found.snap.generation, k)
        with self._lock:
            cached = self._nearest.get(key)
            older = self._latest_nearest.get((found.phrase, k))
            pending = self._warming.get(found.phrase)
        if (
            cached is None
            and k == FETCH_DEPTH
            and pending is not None
            and pending.running()
            and not _on_warm_thread()
        ):
            # The phrase's warm-up made its match and is searching for these now: wait
            # for its searches rather than run them again beside it.
            _wait_out(pending)
            return self.nearest(found, k)
        if cached is not None:
            if not len(found._known[0][0]):
                found.remember(*cached)
            return cached
        snap = found.snap
        if found.dense is not None:
            # Every row is scored already: its best k are exact, no index needed.
            every = found.named.every()
            rows = np.argpartition(-found.dense, min(k, len(snap)) - 1)[:k] if len(snap) else every
            rows = distinct(np.concatenate([rows, every])).astype(np.int64)
        elif (
            older is not None
            and older.stats is found.stats
            and _grew_from(snap, older.snap)
            and len(snap) - len(older.snap) <= NEAREST_DEPTH_SHARE * k
        ):
            # Same statistics, so the older best keep their z; every added row is scored.
            rows = distinct(
                np.concatenate([older.rows, np.arange(len(older.snap), len(snap), dtype=np.int64)])
            )
        else:
            # A common word names a share of the catalog (75,000 "cats" in a million), all
            # of them at the match bar: the newest stand for them.
            hits = [found.named.newest(NEAREST_DEPTH_SHARE * k)]
            # The spaces' searches run side by side: FAISS lets go of the interpreter lock
            # while it searches (at 1,000,000 clips, 4-5 ms off a new phrase's first page).
            # A warm-up's searches started while the phrase was being encoded.
            early = {}
            if k == FETCH_DEPTH:
                with self._lock:
                    early = self._early.pop((found.phrase, snap.generation), {})
            spaces = [(c, q) for c, q in found.queries.items() if c in self.clips.indexes]
            rest = [(c, q) for c, q in spaces if c not in early]
            beside = [early[c] for c, _ in spaces if c in early]
            beside += [self._searcher.submit(self.clips.nearest, c, q, k) for c, q in rest[1:]]
            hits += [snap.rows_for_seqs(self.clips.nearest(c, q, k)) for c, q in rest[:1]]
            hits += [snap.rows_for_seqs(search.result()) for search in beside]
            rows = distinct(np.concatenate(hits)).astype(np.int64)
            best = self._keep_nearest(found, k, rows)
            self._deepen_later(found, k)
            return best
        return self._keep_nearest(found, k, rows)

    def _keep_nearest(
        self, found: PhraseMatch, k: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best of `rows` for the match, kept as its nearest at depth k."""
        z = found.z(rows, keep=False)  # the best of them are kept below, not all
        # Best first, and no more than twice as deep as asked: pages work over what this
        # returns, so it must not grow with the catalog.
        order = np.argsort(-z, kind="stable")[: NEAREST_DEPTH_SHARE * k]
        best = rows[order], z[order]
        found.remember(*best)
        snap = found.snap
        with self._lock:
            _put(self._nearest, (found.phrase, snap.generation, k), best)
            newest = self._latest_nearest.get((found.phrase, k))
            if newest is None or newest.snap.generation <= snap.generation:
                kept = Nearest(snap, found.stats, np.sort(best[0]))
                _put(self._latest_nearest, (found.phrase, k), kept)
        return best

    def _deepen_later(self, found: PhraseMatch, k: int) -> None:
        """Queue the second, deeper search of a phrase's best matches (see DEEP_DEPTH_SHARE)."""
        key = (found.phrase, found.snap.generation, k)
        with self._lock:
            if key in self._deepening or len(self._deepening) >= MAX_DEEPENING:
                return
            with contextlib.suppress(RuntimeError):  # closed: the first search stands
                self._deepening[key] = self._deeper.submit(self._deepen, found, k)

    def _deepen(self, found: PhraseMatch, k: int) -> None:
        key = (found.phrase, found.snap.generation, k)
        try:
            with self._lock:
                first = self._nearest.get(key)
            if first is None:  # forgotten since (the catalog was rebuilt, or the cache full)
                return
            snap, depth = found.snap, DEEP_DEPTH_SHARE * k
            # One space after the other, on a thread of its own: neither a page's searches
            # nor the next phrase's warm-up wait behind it.
            hits = [first[0]] + [
                snap.rows_for_seqs(
                    self.clips.nearest(c, q, depth, explore=DEEP_EXPLORE, background=True)
                )
                for c, q in found.queries.items()
                if c in self.clips.indexes
            ]
            with self._lock:
                if self._nearest.get(key) is not first:
                    return  # replaced or forgotten meanwhile
            self._keep_nearest(found, k, distinct(np.concatenate(hits)).astype(np.int64))
        finally:
            with self._lock:
                self._deepening.pop(key, None)

    def phrase_vectors(self, phrase: str) -> dict[str, np.ndarray]:
        """The phrase encoded by each channel's own text tower that reads its language (cached).

        A multilingual channel reads any phrase. An English-only channel (MiniLM, the CLIP
        text tower) reads English phrases, and Japanese ones only through the glossary's
        English for them; otherwise it sits this phrase out.
        """
        return self.many_phrase_vectors([phrase])[phrase]

    def queries_of(self, vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A phrase's vectors by channel as its queries: each less its tower's `centre`."""
        encoders = self.clips.encoders
        return {channel: v - centre(encoders[channel]) for channel, v in vectors.items()}

    def many_phrase_vectors(
        self,
        phrases: Sequence[str],
        ready: Callable[[str, str, np.ndarray], None] | None = None,
    ) -> dict[str, dict[str, np.ndarray]]:
        """`phrase_vectors` of several phrases, each tower encoding all it reads of them
        in one batch: a tower reads its weights once for the batch (MiniLM, two phrases:
        about 5 ms, against 3 to 4 one at a time). `ready(phrase, channel, vector)`
        is called as each vector is made (or at once, for each cached one)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        todo: dict[str, dict[str, str]] = {}
        for phrase in dict.fromkeys(phrases):
            with self._lock:
                cached = self._vectors.get(phrase)
                if cached is not None:
                    self._vectors.move_to_end(phrase)
            if cached is None:
                todo[phrase] = self.channel_texts(phrase)
                continue
            out[phrase] = cached
            if ready is not None:
                for channel, vector in cached.items():
                    ready(phrase, channel, vector)
        made: dict[str, dict[str, np.ndarray]] = {phrase: {} for phrase in todo}
        # Multilingual towers first: USE encodes a phrase in about 1 ms, MiniLM in 3-4, so
        # the multilingual search (`_search_early`) runs while MiniLM encodes.
        encoders = self.clips.encoders
        for channel in sorted(encoders, key=lambda c: not multilingual(encoders[c])):
            readers = [phrase for phrase, texts in todo.items() if channel in texts]
            if not readers:
                continue
            vectors = encoders[channel].encode_texts([todo[p][channel] for p in readers])
            for phrase, vector in zip(readers, vectors, strict=True):
                made[phrase][channel] = vector
                if ready is not None:
                    ready(phrase, channel, vector)
        for phrase, texts in todo.items():
            out[phrase] = {channel: made[phrase][channel] for channel in texts}
            with self._lock:
                self._vectors[phrase] = out[phrase]
                while len(self._vectors) > MAX_PHRASES:
                    self._vectors.popitem(last=False)
        return out

    def channel_texts(self, phrase: str) -> dict[str, str]:
        """What each channel that reads the phrase's language encodes for it (see above).
        Emoji are read as their names (🦈 → shark)."""
        spoken = self.usual(name_emoji(phrase))
        english = self.english(phrase)
        texts = {}
        for channel, encoder in self.clips.encoders.items():
            if multilingual(encoder):
                texts[channel] = spoken
            elif english:
                texts[channel] = english
        return texts

    def usual(self, phrase: str) -> str:
        """The phrase as it is usually written, where it was typed in hiragana alone
        (りょうり → 料理, ぴえろ → ピエロ): sentence encoders know the usual form best."""
        if self.dictionary is None:
            return phrase
        return self.dictionary.written(phrase) or phrase

    def english(self, phrase: str) -> str | None:
        """The phrase in English, emoji named: a Japanese one through the dictionary (the
        glossary's words first), or through the glossary alone when no dictionary is
        installed; None when neither knows a word of it."""
        return self._reading(phrase).english

    def _reading(self, phrase: str) -> Reading:
        spoken = name_emoji(phrase)
        if not has_japanese(spoken):
            return Reading(spoken or None, True)
        if self.dictionary is None:
            return Reading(self.glossary.translate(spoken), False)
        with self._lock:
            cached = self._english.get(phrase)
        if cached is None:
            cached = self.dictionary.reading(self.usual(spoken), self.glossary.terms)
            with self._lock:
                _put(self._english, phrase, cached)
        return cached

    def mended(self, phrase: str) -> str:
        """The phrase with its typos mended against the current catalog's words (see
        `feed.core.spelling`); as typed when no word list is installed."""
        snap = self.snapshots.current()
        if self.words is None or snap.texts is None or not phrase.isascii():
            return phrase
        texts = snap.texts
        return mended(
            phrase,
            self.words.knows,
            self.words.neighbours,
            lambda word: int(np.count_nonzero(lexical_matches(texts, word))),
        )

    def naming(self, texts: Texts, phrase: str) -> Named:
        """The rows of `texts` whose text names the phrase outright, as written or in its
        English (ピエロ names "clown"; 🤡 names "clown"), answered as asked: whether given
        rows do, or which are the newest (`feed.core.naming`)."""
        parts = [lexical_naming(texts, phrase)]
        usual = self.usual(phrase)
        if usual != phrase:
            parts.append(lexical_naming(texts, usual))
        # Only an English that reads the whole phrase may name it: "red" alone, from a
        # phrase whose other words the dictionary lacks, would name every red thing.
        read = self._reading(phrase)
        if read.whole and read.english and read.english.lower() != phrase.lower().strip():
            parts.append(lexical_naming(texts, read.english))
        # A look named by its technique or material: "claymation" is named by a clip
        # that says "plasticine" or 粘土 (data/lexicon/looks.toml).
        english = read.english if read.whole else None
        marks = self.looks.marks(phrase, usual, english)
        if marks:
            parts.append(self.marked(texts, marks))
        return any_of(parts)

    def marked(self, texts: Texts, marks: tuple[str, ...]) -> Named:
        """The rows of `texts` whose text holds one of a look's marks."""
        if isinstance(texts, ClipTexts):
            return self._marked(texts, marks)
        parts, start = [], 0
        for segment in texts.segments:
            parts.append(shifted(self._marked(segment, marks), start))
            start += len(segment)
        return any_of(parts)

    def _marked(self, texts: ClipTexts, marks: tuple[str, ...]) -> RowsNamed:
        """`marked` for one text segment, kept for it, so every name of the look
        ("claymation", クレイアニメ, "clay style") looks its rows up once per segment (up
        to 25 ms at 1,000,000 clips, docs/steering.md); a grown snapshot's older segments
        keep theirs."""
        key = (marks, id(texts))
        with self._lock:
            kept = self._marked_rows.get(key)
            if kept is not None and kept[0]() is texts:
                self._marked_rows.move_to_end(key)
                return kept[1]
        found = np.zeros(len(texts), dtype=bool)
        for mark in marks:
            rows = lexical_matches(texts, mark)
            outside = self.looks.outside.get(mark)
            if outside is not None and rows.any():
                rows = texts.rows_matching(outside, rows)  # not only inside a longer word
            found |= rows
        named = RowsNamed(np.flatnonzero(found))
        with self._lock:
            # Texts gone (a replaced snapshot's, segments merged since) free their slot.
            for gone in [k for k, (ref, _) in self._marked_rows.items() if ref() is None]:
                del self._marked_rows[gone]
            self._marked_rows[key] = (weakref.ref(texts), named)
            self._marked_rows.move_to_end(key)
            while len(self._marked_rows) > MAX_MARKED:
                self._marked_rows.popitem(last=False)
        return named

    def readable(self, phrase: str) -> bool:
        """True when some channel can compare this phrase with clips (a multilingual one
        only once it holds vectors: homes from before it existed lack them)."""
        return any(
            len(self.clips.indexes[channel]) or not multilingual(self.clips.encoders[channel])
            for channel in self.channel_texts(phrase)
        )

    def relevance(self, phrase: str, snap: CatalogSnapshot | None = None) -> np.ndarray:
        """z-scored relevance of every row of `snap` (default: the current snapshot) to a
        phrase, cached per generation. A request passes the snapshot it ranks over: an
        upload meanwhile makes a newer one, whose rows no longer line up with it."""
        snap = self.snapshots.current() if snap is None else snap
        key = (phrase, snap.generation)
        with self._lock:
            cached = self._relevance.get(key)
            if cached is not None:
                self._relevance.move_to_end(key)
                return cached
        # Warm-ups make matches, not these: nothing to wait for or cancel here.
        z = phrase_relevance(snap.vectors, snap.has, self.queries_of(self.phrase_vectors(phrase)))
        if snap.texts is not None:
            # A clip that names the phrase outright matches it, whatever the vectors say.
            named = as_mask(self.naming(snap.texts, phrase), len(snap))
            z = np.where(named, np.maximum(z, MATCH_Z), z)
            z = z.astype(np.float32)
        with self._lock:
            self._relevance[key] = z
            while len(self._relevance) > MAX_RELEVANCE:
                self._relevance.popitem(last=False)
        return z

    def warm(self, *phrases: str) -> None:
        """Compute phrases' matches and best matches on the warm-up thread, so the answer
        to a steer returns at once and the next page usually finds the work done. The
        phrases of one call (an instruction's) warm up together: each tower encodes them
        in one batch, and every search starts as soon as its vector is made."""
        with self._lock:
            new = [
                p for p in dict.fromkeys(phrases) if (w := self._warming.get(p)) is None or w.done()
            ]
            if new:
                # The warm-up forgets its phrases only while they are still its own: `handle`
                # holds its future, set here under the lock before it can forget any.
                handle: list[Future[None]] = []
                warming = self._warmer.submit(self._warm, new, handle)
                handle.append(warming)
                self._warming.update(dict.fromkeys(new, warming))

    def warming(self) -> list[Future[None]]:
        """Warm-ups and deeper searches queued or running."""
        with self._lock:
            return [*self._warming.values(), *self._deepening.values()]

    def _search_early(self, snap: CatalogSnapshot) -> Callable[[str, str, np.ndarray], None]:
        """A `many_phrase_vectors` callback that starts each indexed space's search at
        FETCH_DEPTH on the search thread, for `nearest` to collect. The searches then run
        while the phrase's other vectors, statistics and lexical matches are made (at
        1,000,000 clips, the multilingual search fits inside MiniLM's encoding)."""

        def ready(phrase: str, channel: str, vector: np.ndarray) -> None:
            if channel not in self.clips.indexes:
                return
            with self._lock:
                searches = self._early.setdefault((phrase, snap.generation), {})
                if channel not in searches:  # started when its phrase's batch was encoded
                    query = self.queries_of({channel: vector})[channel]
                    searches[channel] = self._searcher.submit(
                        self.clips.nearest, channel, query, FETCH_DEPTH
                    )

        return ready

    def _warm(self, phrases: list[str], handle: list[Future[None]]) -> None:
        with self._lock:  # `warm` set it while holding the lock
            mine = handle[0]
        try:
            snap = self.snapshots.current()
            sampled = len(snap.sample) < len(snap)
            # Only phrases with no match made or carried over need vectors and searches.
            new = [
                p
                for p in phrases
                if not self.cached(p, snap.generation) and self._carried(p, snap) is None
            ]
            self.many_phrase_vectors(new, self._search_early(snap) if sampled else None)
            for phrase in phrases:
                try:
                    self.nearest(self.match(phrase, snap, search_early=True), FETCH_DEPTH)
                finally:
                    self._forget_warm(phrase, mine)
        finally:
            for phrase in phrases:
                self._forget_warm(phrase, mine)
            with self._lock:  # searches no `nearest` collected (a failure, or found cached)
                for key in [k for k in self._early if k[0] in phrases]:
                    del self._early[key]

    def _forget_warm(self, phrase: str, warming: Future[None]) -> None:
        """Forget the phrase's warm-up, if it is still `warming` (not one queued since)."""
        with self._lock:
            if self._warming.get(phrase) is warming:
                del self._warming[phrase]

    def _warm_again(self, over: Future[None]) -> None:
        """Queue again the phrases still waiting on a warm-up that was cancelled, or that
        ended without them."""
        with self._lock:
            rest = [p for p, w in self._warming.items() if w is over]
        if rest:
            self.warm(*rest)


@dataclass(frozen=True)
class Nearest:
    """A phrase's best matches against one snapshot (rows sorted), under `stats`."""

    snap: CatalogSnapshot
    stats: dict[str, tuple[float, float]]
    rows: np.ndarray


def _on_warm_thread() -> bool:
    """Whether this is the warm-up thread, which must never wait for its own warm-up."""
    return threading.current_thread().name.startswith(WARM_THREAD)


def _wait_out(warming: Future[None]) -> None:
    """Wait for a warm-up to end. Its failure is not the waiter's: the waiter then computes
    what it needs itself, and meets the error there if it is one."""
    with contextlib.suppress(Exception):
        warming.result()


def _yield_the_cpu() -> None:
    """Run this thread at the lowest priority, where the system allows it: a deeper search
    takes only CPU that pages leave idle. Linux sets a thread's own niceness and policy;
    under SCHED_IDLE a thread that wakes (a page, a warm-up) takes the core from it at
    once, where a nice-19 thread could keep it to the end of its slice (a new phrase's
    first page at 1,000,000 clips: p99 mean 53.5 → 50.0 ms over nine alternating runs)."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: the same work, sooner
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))


def _put(cache: OrderedDict, key: object, value: object) -> None:
    """Store as the most recent entry, dropping the least recent past MAX_RELEVANCE."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > MAX_RELEVANCE:
        cache.popitem(last=False)


def _grew_from(snap: CatalogSnapshot, older: CatalogSnapshot) -> bool:
    """Whether `snap` was grown from `older` (by any number of growths), so rows up to
    `older`'s count are the same rows: growths keep the sample they started from, and a
    rebuild or a resample draws a new one."""
    return (
        older.sample is snap.sample
        and older.generation < snap.generation
        and len(older) <= len(snap)
    )


def _replaced(snap: CatalogSnapshot, older: CatalogSnapshot) -> bool:
    """Whether `older` is from before the rebuild that `snap` descends from."""
    return older.sample is not snap.sample and older.generation < snap.generation
