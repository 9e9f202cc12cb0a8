"""A columnar, in-memory view of the catalog for ranking: one row per clip.

Built from the catalog's stored vectors (the source of truth, not the search index),
and rebuilt when the catalog generation moves. From `COMPACT_ROWS` clips on, each
channel's vectors are held as 8-bit codes (`QuantizedVectors`, a quarter of float32)
and decoded only for the rows a page scores; smaller catalogs keep float32 matrices.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from feed.core.popularity import ENGAGEMENT, engagement, popularity
from feed.core.quantized import Matrix, quantize
from feed.core.ranking import ClipTexts
from feed.services.clips import TEXT, ClipStore
from feed.storage.catalog import embedding_text
from feed.storage.engagement import LocalEngagement
from feed.storage.interfaces import SharedEngagement, UserState
from feed.storage.sqlite import DatabaseError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSnapshot:
    """Clips as arrays aligned by row; `vectors[c]` is (N, d) with `has[c]` (N,) marking
    rows that have channel c (missing rows are zero). `vectors[c][rows]` is float32
    whichever form the matrix takes (float32, or 8-bit codes in a large catalog), and
    `vectors[c] @ q` scores every row."""

    generation: int
    seqs: np.ndarray
    clip_ids: tuple[str, ...]
    row_of_id: dict[str, int]
    row_of_seq: dict[int, int]
    created_at: np.ndarray
    duration_s: np.ndarray
    creator_codes: np.ndarray
    creator_names: tuple[str, ...]
    remix_of_row: np.ndarray
    cameos: tuple[tuple[str, ...], ...]
    cameo_rows: np.ndarray
    vectors: dict[str, Matrix]
    has: dict[str, np.ndarray]
    newest_first: np.ndarray
    texts: ClipTexts | None = None  # each clip's prompt, caption and tags
    # Small secondary indexes, so candidate sources never scan every row:
    by_creator: dict[int, np.ndarray] = field(default_factory=dict)  # code → rows, newest first
    remixes: dict[int, np.ndarray] = field(default_factory=dict)  # row → rows remixing it
    code_of_creator: dict[str, int] = field(default_factory=dict)
    sample: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # for z statistics
    # The sample's rows of each channel, contiguous (for catalogs larger than the sample).
    sample_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    sample_has: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.seqs)

    def rows_for_ids(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows of the given clip ids that are in the snapshot (unknown ids dropped)."""
        rows = [self.row_of_id[c] for c in clip_ids if c in self.row_of_id]
        return np.asarray(rows, dtype=np.int64)

    def rows_for_seqs(self, seqs: np.ndarray) -> np.ndarray:
        """Rows of the given catalog seqs that are in the snapshot (unknown seqs dropped)."""
        rows = [self.row_of_seq[s] for s in seqs.tolist() if s in self.row_of_seq]
        return np.asarray(rows, dtype=np.int64)

    def creator_code(self, handle: str) -> int:
        """Code of a creator handle, or -1 if no clip of theirs is in the snapshot."""
        return self.code_of_creator.get(handle, -1)


# From this many clips on, a snapshot holds its vectors as 8-bit codes (as the indexes
# switch to HNSW over 8-bit codes at embeddings.index.HNSW_THRESHOLD).
COMPACT_ROWS = 50_000


def build_snapshot(clips: ClipStore) -> CatalogSnapshot:
    """Read the catalog and indexes into a snapshot (one catalog pass)."""
    with clips.lock.read():
        return _build(clips)


def _build(clips: ClipStore) -> CatalogSnapshot:
    # Each channel's float32 matrix is read, placed and (in a large catalog) encoded
    # before the next is read, so at most one is held beside the snapshot being built.
    # Rows are the clips with a text vector, in catalog order; other channels line up
    # with them, zero where a clip lacks the channel.
    text = clips.catalog.channel_vectors(TEXT)
    by_seq = clips.catalog.get_many(text.seqs.tolist())
    keep = np.array([int(s) in by_seq for s in text.seqs.tolist()], dtype=bool)
    seqs = text.seqs[keep]
    ordered = [by_seq[int(s)] for s in seqs.tolist()]
    clip_ids = tuple(c.id for c in ordered)
    row_of_id = {cid: row for row, cid in enumerate(clip_ids)}
    row_of_seq = {int(s): row for row, s in enumerate(seqs.tolist())}
    creator_names = tuple(sorted({c.creator for c in ordered}))
    code_of = {name: i for i, name in enumerate(creator_names)}
    created_at = np.array([c.created_at for c in ordered], dtype=np.float64)
    dim = text.vectors.shape[1] if len(seqs) else clips.encoders[TEXT].dim
    compact = len(seqs) >= COMPACT_ROWS
    if not len(seqs):
        matrix = np.zeros((0, dim), np.float32)
    else:  # every row kept (the usual case): the matrix read is the snapshot's, uncopied
        matrix = text.vectors if keep.all() else text.vectors[keep]
    del text
    vectors: dict[str, Matrix] = {TEXT: quantize(matrix) if compact else matrix}
    has = {TEXT: np.ones(len(seqs), dtype=bool)}
    for channel in clips.channels:
        if channel == TEXT:
            continue
        stored = clips.catalog.channel_vectors(channel)
        rows = np.array([row_of_seq.get(int(s), -1) for s in stored.seqs.tolist()], np.int64)
        found = rows >= 0
        has[channel] = np.zeros(len(seqs), dtype=bool)
        has[channel][rows[found]] = True
        if len(seqs) and np.array_equal(rows, np.arange(len(seqs))):
            matrix = stored.vectors  # row i is snapshot row i already: no copy
        else:
            matrix = np.zeros((len(seqs), clips.encoders[channel].dim), dtype=np.float32)
            if found.any():
                matrix[rows[found]] = stored.vectors[found]
        del stored
        vectors[channel] = quantize(matrix) if compact else matrix
    del matrix
    creator_codes = np.array([code_of[c.creator] for c in ordered], dtype=np.int32)
    remix_of_row = np.array(
        [row_of_id.get(c.remix_of, -1) if c.remix_of else -1 for c in ordered], dtype=np.int64
    )
    newest_first = np.argsort(-created_at, kind="stable")
    sample = sample_rows(len(seqs))
    sampled = len(sample) < len(seqs)
    return CatalogSnapshot(
        generation=clips.catalog.generation,
        seqs=seqs,
        clip_ids=clip_ids,
        row_of_id=row_of_id,
        row_of_seq=row_of_seq,
        created_at=created_at,
        duration_s=np.array(
            [np.nan if c.duration_s is None else c.duration_s for c in ordered], dtype=np.float64
        ),
        creator_codes=creator_codes,
        creator_names=creator_names,
        remix_of_row=remix_of_row,
        cameos=tuple(c.cameos for c in ordered),
        cameo_rows=np.flatnonzero([bool(c.cameos) for c in ordered]).astype(np.int64),
        vectors=vectors,
        has=has,
        newest_first=newest_first,
        texts=ClipTexts.of([embedding_text(c.prompt, c.caption, c.tags) for c in ordered]),
        by_creator=_group(creator_codes[newest_first], newest_first),
        remixes=_group(remix_of_row, np.arange(len(seqs), dtype=np.int64), skip=-1),
        code_of_creator=code_of,
        sample=sample,
        sample_vectors={c: v[sample] for c, v in vectors.items()} if sampled else {},
        sample_has={c: h[sample] for c, h in has.items()} if sampled else {},
    )


SAMPLE_ROWS = 8192


def sample_rows(n: int, size: int = SAMPLE_ROWS) -> np.ndarray:
    """The rows a phrase's similarity statistics are taken over: every row of a catalog
    up to `size` rows, else a fixed random `size` of them (sorted)."""
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


def _group(keys: np.ndarray, rows: np.ndarray, skip: int | None = None) -> dict[int, np.ndarray]:
    """rows grouped by key, each group in the order given (`skip`: a key left out)."""
    if not len(keys):
        return {}
    order = np.argsort(keys, kind="stable")
    keys, rows = keys[order], rows[order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    firsts = keys[np.r_[0, cuts]].tolist()
    return {
        key: group
        for key, group in zip(firsts, np.split(rows, cuts), strict=True)
        if skip is None or key != skip
    }


POPULAR_DEPTH = 1000
HEAR_INTERVAL_S = 1.0  # how often a snapshot takes other processes' engagement


class Snapshots:
    """The current catalog snapshot and its popularity, rebuilt when the catalog moves.

    Popularity is kept as raw engagement per row, so events between rebuilds move it by
    the same formula (`feed.core.popularity`) a rebuild would apply; the most popular
    rows are kept as a short list, so no page sorts the whole catalog. Events recorded
    by other serving processes arrive through `shared` (at most every
    `HEAR_INTERVAL_S`); a rebuild reads every clip's counts afresh from the user state.
    An event posted while a rebuild reads the counts may count twice until the next one.
    """

    def __init__(
        self, clips: ClipStore, users: UserState, shared: SharedEngagement | None = None
    ) -> None:
        self.clips = clips
        self.users = users
        self.shared: SharedEngagement = shared or LocalEngagement()
        self._heard_at = -math.inf  # when other processes' engagement was last taken
        self._lock = threading.Lock()
        self._snapshot: CatalogSnapshot | None = None
        self._engagement = np.empty(0, dtype=np.float64)
        self._peak = 0.0
        self._top = np.empty(0, dtype=np.int64)

    def current(self) -> CatalogSnapshot:
        """The current snapshot, rebuilt if the catalog's generation moved."""
        with self._lock:
            snap = self._snapshot
            generation = self.clips.catalog.generation
            if snap is None or snap.generation != generation:
                # Another process may have moved the catalog: the search indexes follow
                # it before candidate sources read them.
                self.clips.catch_up(generation)
                snap = self._snapshot = build_snapshot(self.clips)
                self._heard()  # the counts read next hold what was posted so far
                self._heard_at = time.monotonic()
                self._engagement = self._raw_engagement(snap)
                self._peak = float(self._engagement.max(initial=0.0))
                self._top = _most(self._engagement, np.arange(len(snap)), POPULAR_DEPTH)
            elif time.monotonic() - self._heard_at >= HEAR_INTERVAL_S:
                self._heard_at = time.monotonic()
                self._apply(snap, self._heard().items())
            return snap

    def _heard(self) -> dict[str, float]:
        """Other processes' engagement since the last look; none when the shared store
        does not answer (popularity then moves with this process's events alone)."""
        try:
            return self.shared.take()
        except DatabaseError as exc:
            log.warning("%s; popularity goes on from this process's events", exc)
            return {}

    def popularity(self, snap: CatalogSnapshot, rows: np.ndarray) -> np.ndarray:
        """Popularity in [0, 1] of `snap`'s rows (even if a newer snapshot replaced it)."""
        with self._lock:
            if snap is self._snapshot:
                return popularity(self._engagement[rows], self._peak)
        raw = self._raw_engagement(snap)
        return popularity(raw[rows], float(raw.max(initial=0.0)))

    def most_popular(self, snap: CatalogSnapshot) -> np.ndarray:
        """Rows of `snap` by popularity, most popular first (the first POPULAR_DEPTH)."""
        with self._lock:
            if snap is self._snapshot:
                return self._top
        return _most(self._raw_engagement(snap), np.arange(len(snap)), POPULAR_DEPTH)

    def engaged(self, events: Sequence[tuple[str, str]]) -> None:
        """Count (clip_id, event type) pairs just recorded into the newest snapshot's
        popularity (a clip it lacks is skipped), and pass them on to other processes."""
        deltas: dict[str, float] = {}
        for clip_id, kind in events:
            if ENGAGEMENT.get(kind, 0.0):
                deltas[clip_id] = deltas.get(clip_id, 0.0) + ENGAGEMENT[kind]
        with self._lock:
            if self._snapshot is not None:
                self._apply(self._snapshot, deltas.items())
        try:
            self.shared.post(deltas)
        except DatabaseError as exc:
            log.warning("%s; the other processes count these at their next rebuild", exc)

    def _apply(self, snap: CatalogSnapshot, deltas: Iterable[tuple[str, float]]) -> None:
        """Add engagement deltas to the rows of `snap`, the current snapshot (a clip it
        lacks is skipped); the caller holds the lock."""
        rows = []
        for clip_id, delta in deltas:
            row = snap.row_of_id.get(clip_id)
            if row is not None:
                self._engagement[row] += delta
                self._peak = max(self._peak, float(self._engagement[row]))
                rows.append(row)
        if rows:
            pool = np.union1d(self._top, np.asarray(rows, dtype=np.int64))
            self._top = _most(self._engagement, pool, POPULAR_DEPTH)

    def _raw_engagement(self, snap: CatalogSnapshot) -> np.ndarray:
        raw = np.zeros(len(snap), dtype=np.float64)
        for clip_id, counts in self.users.clip_stats().items():
            row = snap.row_of_id.get(clip_id)
            if row is not None:
                raw[row] = engagement(counts)
        return raw


def _most(raw: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The k rows of `rows` with the most engagement, most first (ties: lower row first)."""
    if len(rows) > k:
        rows = rows[np.argpartition(-raw[rows], k - 1)[:k]]
    return rows[np.lexsort((rows, -raw[rows]))]
