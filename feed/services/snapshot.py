"""A columnar, in-memory view of the catalog for ranking: one row per clip.

Built from the catalog's stored vectors (the source of truth, not the search index),
and brought up to date when the catalog generation moves: clips only added since (the
usual change: uploads, made clips) are appended in time proportional to what was added
(`grow_snapshot`); a deletion or an edit rebuilds it from the catalog. From
`COMPACT_ROWS` clips on, each channel's vectors are held as 8-bit codes
(`QuantizedVectors`, a quarter of float32) and decoded only for the rows a page scores;
smaller catalogs keep float32 matrices. Where the channel's search index holds the same
vectors as 8-bit codes (HNSW), the snapshot reads its rows from the index's codes by
label (`borrow_codes`) instead of keeping a copy of its own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np

from embeddings.index import VectorIndex
from feed.core.lookup import distinct, find_sorted
from feed.core.popularity import ENGAGEMENT, engagement, popularity
from feed.core.quantized import (
    LEVELS,
    BorrowedCodes,
    Matrix,
    QuantizedVectors,
    quantize_blocks,
    spare_rows,
)
from feed.core.ranking import ClipTexts, SegmentedTexts
from feed.services.clips import TEXT, ClipStore
from feed.storage.catalog import ChannelVectors, Clip, embedding_text
from feed.storage.engagement import LocalEngagement
from feed.storage.interfaces import SharedEngagement, UserState
from feed.storage.sqlite import DatabaseError

log = logging.getLogger(__name__)


class IdTable:
    """Clip id → row, for millions of ids. The ids a snapshot is built with are held as
    their hashes, sorted, beside their rows: 16 bytes an id, where a dict of a million
    ids costs about 66 and an int object per row. Ids added later (a grown snapshot's)
    go into a small dict. An id is only ever answered with a row holding that very id
    (two ids may share a hash), and a bulk lookup (`rows_of`) is one vectorised pass.
    Hashes are Python's own: valid in this process only, never saved."""

    hash_of = staticmethod(hash)

    def __init__(self, ids: np.ndarray) -> None:
        self._ids = ids  # object (N,): the built rows' ids, which never change
        hash_of = self.hash_of
        hashes = np.fromiter((hash_of(c) for c in ids.tolist()), np.int64, count=len(ids))
        self._order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[self._order]
        self._added: dict[str, int] = {}

    def get(self, clip_id: str, default: int | None = None) -> int | None:
        """The id's row, or `default`."""
        row = self._row(clip_id)
        return default if row < 0 else row

    def _row(self, clip_id: str) -> int:
        h = self.hash_of(clip_id)
        at = int(np.searchsorted(self._hashes, h))
        while at < len(self._hashes) and self._hashes[at] == h:
            row = int(self._order[at])
            if self._ids[row] == clip_id:
                return row
            at += 1
        return self._added.get(clip_id, -1)

    def rows_of(self, clip_ids: Sequence[str]) -> np.ndarray:
        """Each id's row, int64 (len(clip_ids),); -1 for an id not held."""
        asked = np.array(clip_ids, dtype=object).reshape(-1)  # ids are strings: one axis
        out = np.full(len(asked), -1, dtype=np.int64)
        if len(self._hashes) and len(asked):
            hash_of = self.hash_of
            h = np.fromiter((hash_of(c) for c in clip_ids), dtype=np.int64, count=len(asked))
            # Searched in hash order: neighbouring searches then share cache lines (2,000
            # ids among a million: 0.16 ms, against 0.42 in the order asked).
            by_hash = np.argsort(h)
            at = np.empty(len(h), dtype=np.int64)
            at[by_hash] = np.searchsorted(self._hashes, h[by_hash])
            np.minimum(at, len(self._hashes) - 1, out=at)
            rows = self._order[at]
            hit = self._hashes[at] == h
            hit[hit] = self._ids[rows[hit]] == asked[hit]
            out[hit] = rows[hit]
        else:
            hit = np.zeros(len(asked), dtype=bool)
        for i in np.flatnonzero(~hit).tolist():  # added later, sharing a hash, or unknown
            out[i] = self._row(asked[i])
        return out

    def update(self, rows: Mapping[str, int]) -> None:
        """Add ids of rows past the built ones."""
        self._added.update(rows)

    def items(self) -> Iterator[tuple[str, int]]:
        """Every (id, row), built rows first."""
        yield from ((c, row) for row, c in enumerate(self._ids.tolist()))
        yield from list(self._added.items())


class RowsById(Mapping[str, int]):
    """The row of each clip id in a snapshot of `n` rows. The table may be shared with
    snapshots grown from this one, which only add ids of rows past `n`: those are not
    this snapshot's, and it does not see them."""

    def __init__(self, rows: IdTable, n: int) -> None:
        self._rows = rows
        self._n = n

    @property
    def table(self) -> IdTable:
        """The shared table (ids of later rows included)."""
        return self._rows

    def __getitem__(self, clip_id: str) -> int:
        row = self._rows.get(clip_id)
        if row is None or row >= self._n:
            raise KeyError(clip_id)
        return row

    def __contains__(self, clip_id: object) -> bool:
        if not isinstance(clip_id, str):
            return False
        return self._rows.get(clip_id, self._n) < self._n  # type: ignore[operator]

    def __iter__(self) -> Iterator[str]:
        return (c for c, row in self._rows.items() if row < self._n)

    def __len__(self) -> int:
        return self._n

    def rows_of(self, clip_ids: Sequence[str]) -> np.ndarray:
        """Each id's row, int64 (len(clip_ids),); -1 for an id not this snapshot's."""
        rows = self._rows.rows_of(clip_ids)
        rows[rows >= self._n] = -1
        return rows


class SeqTable:
    """Catalog seq → row by direct lookup: a table with one int32 per seq from the first
    (-1 where a seq has no row). A page turns a few hundred index hits into rows; a binary
    search over a million seqs took about 0.7 ms of a page for that (each search's last
    steps miss the cache), and the table about 0.13 ms. Only catalogs whose seqs are
    dense enough get one (`of`); others keep the binary search. Grown snapshots share the
    table: `extend` writes past every seq that older snapshots hold, into spare room that
    reads as -1 until then, and a reader drops rows at or past its own row count."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.end = first  # one past the last seq written
        self._data = np.full(0, -1, dtype=np.int32)

    @classmethod
    def of(cls, seqs: np.ndarray) -> SeqTable | None:
        """The table of ascending `seqs` (row i holds seqs[i]), or None when they are
        sparse (the table would take more than DENSE_SPAN seqs a row)."""
        if not len(seqs) or len(seqs) >= np.iinfo(np.int32).max:
            return None
        table = cls(int(seqs[0]))
        return table if table.extend(seqs, 0) else None

    def extend(self, seqs: np.ndarray, first_row: int) -> bool:
        """Give ascending `seqs`, all past `end`, the rows from `first_row` on; False (and
        nothing written) when that would leave the table sparse."""
        if not len(seqs):
            return True
        if int(seqs[0]) < self.end:
            raise ValueError("seqs must follow the ones the table holds")
        rows = first_row + len(seqs)
        if int(seqs[-1]) - self.first + 1 > DENSE_SPAN * rows:
            return False
        span = np.full(int(seqs[-1]) + 1 - self.end, -1, dtype=np.int32)
        span[seqs - self.end] = np.arange(first_row, rows, dtype=np.int32)
        self._write(span)
        return True

    def _write(self, span: np.ndarray) -> None:
        at, need = self.end - self.first, self.end - self.first + len(span)
        data = self._data
        if need > len(data):  # half again as much room, the spare reading as -1
            bigger = np.full(max(need, len(data) + len(data) // 2), -1, dtype=np.int32)
            bigger[:at] = data[:at]
            bigger[at:need] = span
            self._data = bigger
        else:
            data[at:need] = span
        self.end += len(span)

    def rows_of(self, seqs: np.ndarray, n: int) -> np.ndarray:
        """Rows below `n` of the given seqs, in their order (seqs without one dropped)."""
        data = self._data  # one read: a concurrent extend may replace it
        at = np.asarray(seqs, dtype=np.int64) - self.first
        at = at[(at >= 0) & (at < len(data))]
        rows = data[at].astype(np.int64)
        return rows[(rows >= 0) & (rows < n)]


# A snapshot looks seqs up in a table when the catalog's seqs span at most this many
# seqs a row (deleted clips and clips without a text vector leave gaps): 16 bytes a row
# at most, against the 8 of the seqs themselves.
DENSE_SPAN = 4


@dataclass(frozen=True)
class Growth:
    """How a snapshot was grown from an older one: that one's generation and row count
    (rows from there on are new)."""

    generation: int
    rows: int


@dataclass(frozen=True)
class CatalogSnapshot:
    """Clips as arrays aligned by row; `vectors[c]` is (N, d) with `has[c]` (N,) marking
    rows that have channel c (missing rows are zero). `vectors[c][rows]` is float32
    whichever form the matrix takes (float32, or 8-bit codes in a large catalog), and
    `vectors[c] @ q` scores every row."""

    generation: int
    seqs: np.ndarray  # ascending: catalog seqs only grow, and rows follow them
    clip_ids: np.ndarray  # object (N,): str
    row_of_id: Mapping[str, int]
    created_at: np.ndarray
    duration_s: np.ndarray
    creator_codes: np.ndarray
    creator_names: tuple[str, ...]
    remix_of_row: np.ndarray
    cameos: np.ndarray  # object (N,): tuple[str, ...] of each clip's cameo handles
    cameo_rows: np.ndarray
    vectors: dict[str, Matrix]
    has: dict[str, np.ndarray]
    newest_first: np.ndarray
    texts: SegmentedTexts | None = None  # each clip's prompt, caption and tags
    # Small secondary indexes, so candidate sources never scan every row:
    by_creator: Mapping[int, np.ndarray] = field(default_factory=dict)  # code → rows, newest first
    remixes: Mapping[int, np.ndarray] = field(default_factory=dict)  # row → rows remixing it
    code_of_creator: dict[str, int] = field(default_factory=dict)
    sample: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # for z statistics
    # The sample's rows of each channel, contiguous (for catalogs larger than the sample).
    sample_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    sample_has: dict[str, np.ndarray] = field(default_factory=dict)
    # Each channel's sample mean and covariance: a phrase's statistics from them cost
    # a d x d product, not a pass over the sample (see `Moments`).
    sample_moments: dict[str, Moments] = field(default_factory=dict)
    sample_of: int = 0  # the row count when the sample was drawn
    grown_from: Growth | None = None  # None: built from the whole catalog
    # Seq → row by direct lookup, when the seqs are dense (else a binary search); shared
    # with the snapshots grown from this one, so read up to this one's row count.
    seq_table: SeqTable | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    def rows_for_ids(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows of the given clip ids that are in the snapshot (unknown ids dropped)."""
        rows = self.rows_or_missing(list(clip_ids))
        return rows[rows >= 0]

    def rows_or_missing(self, clip_ids: Sequence[str]) -> np.ndarray:
        """Each clip id's row, int64 (len(clip_ids),); -1 for an id not in the snapshot."""
        if isinstance(self.row_of_id, RowsById):
            return self.row_of_id.rows_of(clip_ids)
        get = self.row_of_id.get
        return np.array([get(c, -1) for c in clip_ids], dtype=np.int64)

    def rows_for_seqs(self, seqs: np.ndarray) -> np.ndarray:
        """Rows of the given catalog seqs that are in the snapshot (unknown seqs dropped)."""
        if self.seq_table is not None:
            return self.seq_table.rows_of(seqs, len(self))
        rows, found = find_sorted(self.seqs, np.asarray(seqs, dtype=np.int64))
        return rows[found]

    def creator_code(self, handle: str) -> int:
        """Code of a creator handle, or -1 if no clip of theirs is in the snapshot."""
        return self.code_of_creator.get(handle, -1)


# From this many clips on, a snapshot holds its vectors as 8-bit codes (as the indexes
# switch to HNSW over 8-bit codes at embeddings.index.HNSW_THRESHOLD).
COMPACT_ROWS = 50_000
# A compact snapshot's codes sit in a buffer this share of rows longer (1/8), which the
# clips added next fill without copying every row.
SPARE_SHARE = 8


def build_snapshot(clips: ClipStore) -> CatalogSnapshot:
    """Read the catalog and indexes into a snapshot (one catalog pass)."""
    with clips.lock.read():
        return _build(clips)


def _build(clips: ClipStore) -> CatalogSnapshot:
    # Read block by block: first the clips (rows are the clips with a text vector, in
    # catalog order), then each channel's vectors, placed or encoded a block at a time,
    # so the float32 held is a block, not a channel. Other channels line up with the
    # text rows, zero where a clip lacks the channel.
    # The generation first: a write committed while the rest is read is then read again
    # by the next catch-up, never taken as included.
    generation = clips.catalog.generation
    rows = _read_clips(clips)
    seqs, n = rows.seqs, len(rows.seqs)
    clip_ids = object_array(rows.ids)
    del rows.ids[:]  # the array holds them now
    row_of_id = IdTable(clip_ids)
    texts = ClipTexts.of(rows.texts, clean=True)
    del rows.texts[:]  # the blob holds them now
    code_of = {name: i for i, name in enumerate(rows.creator_names)}
    compact = n >= COMPACT_ROWS
    vectors: dict[str, Matrix] = {}
    has: dict[str, np.ndarray] = {}
    for channel in (TEXT, *(c for c in clips.channels if c != TEXT)):
        vectors[channel], has[channel] = _read_channel(clips, channel, seqs, compact)
    remix_of_row = np.full(n, -1, dtype=np.int64)
    remixes = list(rows.remix_of.items())
    remix_of_row[[row for row, _ in remixes]] = row_of_id.rows_of([o for _, o in remixes])
    cameos = np.empty(n, dtype=object)
    cameos.fill(())
    for row, handles in rows.cameos.items():
        cameos[row] = handles
    newest_first = np.argsort(-rows.created_at, kind="stable")
    sample = sample_rows(n)
    sample_vectors, sample_has, sample_moments = sample_parts(vectors, has, sample, n)
    return CatalogSnapshot(
        generation=generation,
        seqs=seqs,
        clip_ids=clip_ids,
        row_of_id=RowsById(row_of_id, n),
        created_at=rows.created_at,
        duration_s=rows.duration_s,
        creator_codes=rows.creator_codes,
        creator_names=rows.creator_names,
        remix_of_row=remix_of_row,
        cameos=cameos,
        cameo_rows=np.array(sorted(rows.cameos), dtype=np.int64),
        vectors=vectors,
        has=has,
        newest_first=newest_first,
        texts=SegmentedTexts((texts,)),
        by_creator=group_rows(rows.creator_codes[newest_first], newest_first),
        remixes=group_rows(remix_of_row, np.arange(n, dtype=np.int64), skip=-1),
        code_of_creator=code_of,
        sample=sample,
        sample_vectors=sample_vectors,
        sample_has=sample_has,
        sample_moments=sample_moments,
        sample_of=n,
        seq_table=SeqTable.of(seqs),
    )


@dataclass
class _ClipColumns:
    """The fields a snapshot keeps of each clip, in row order: arrays where a field is a
    number, the few remixes and cameos by row, and only ids and texts as Python strings
    (a Python float or int per clip costs 32 bytes where an array's costs 8)."""

    seqs: np.ndarray
    ids: list[str]
    created_at: np.ndarray  # float64
    duration_s: np.ndarray  # float64, NaN where unknown
    creator_codes: np.ndarray  # int32 codes into creator_names
    creator_names: tuple[str, ...]  # sorted
    remix_of: dict[int, str]  # row → the id of the clip it remixes
    cameos: dict[int, tuple[str, ...]]  # row → its cameos' handles
    texts: list[str]  # lower-cased, one line each (as `ClipTexts` keeps them)


# A snapshot build logs its progress each this many clips read.
PROGRESS_ROWS = 1_000_000


def _read_clips(clips: ClipStore) -> _ClipColumns:
    """The clips with a text vector, in catalog order, a block at a time (a clip deleted
    between its vector and its row being read is left out)."""
    seqs: list[np.ndarray] = []
    created_at: list[np.ndarray] = []
    duration_s: list[np.ndarray] = []
    creators: list[np.ndarray] = []  # codes in order of first appearance
    first_seen: dict[str, int] = {}
    ids: list[str] = []
    texts: list[str] = []
    remix_of: dict[int, str] = {}
    cameos: dict[int, tuple[str, ...]] = {}
    for block in clips.catalog.channel_blocks(TEXT):
        by_seq = clips.catalog.get_many(block.seqs.tolist())
        found = [by_seq[s] for s in block.seqs.tolist() if s in by_seq]
        row = len(ids)
        for clip in found:
            ids.append(clip.id)
            texts.append(_text(clip).lower().replace("\n", " "))
            if clip.remix_of:
                remix_of[row] = clip.remix_of
            if clip.cameos:
                cameos[row] = clip.cameos
            row += 1
        if row // PROGRESS_ROWS > (row - len(found)) // PROGRESS_ROWS:
            log.info("snapshot: %d clips read", row)
        seqs.append(np.array([c.seq for c in found], dtype=np.int64))
        created_at.append(np.array([c.created_at for c in found], dtype=np.float64))
        duration_s.append(
            np.array([np.nan if c.duration_s is None else c.duration_s for c in found])
        )
        creators.append(
            np.array([first_seen.setdefault(c.creator, len(first_seen)) for c in found])
        )
    names = tuple(sorted(first_seen))
    sorted_code = np.empty(len(first_seen), dtype=np.int32)
    for code, name in enumerate(names):
        sorted_code[first_seen[name]] = code
    return _ClipColumns(
        seqs=_joined(seqs, np.int64),
        ids=ids,
        created_at=_joined(created_at, np.float64),
        duration_s=_joined(duration_s, np.float64),
        creator_codes=sorted_code[_joined(creators, np.int64)],
        creator_names=names,
        remix_of=remix_of,
        cameos=cameos,
        texts=texts,
    )


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The blocks' arrays as one array of `dtype`."""
    return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)


def _read_channel(
    clips: ClipStore, channel: str, seqs: np.ndarray, compact: bool
) -> tuple[Matrix, np.ndarray]:
    """A channel's rows for snapshot `seqs` and which rows have it, read block by block:
    a float32 matrix, or in a compact snapshot 8-bit codes, the channel index's own (read
    by label) when they hold these vectors (rows they do not hold keep float32 copies, up
    to the share a grown snapshot allows), else codes of the snapshot's own."""
    n = len(seqs)
    has = np.zeros(n, dtype=bool)
    dim = clips.encoders[channel].dim

    def placed() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for block in clips.catalog.channel_blocks(channel):
            rows, found = find_sorted(seqs, block.seqs)
            has[rows[found]] = True
            yield rows[found], block.vectors[found]

    if not compact:
        matrix: np.ndarray | None = None
        for rows, block in placed():
            if matrix is None:  # the stored vectors' width, which the encoder's should be
                matrix = np.zeros((n, block.shape[1]), dtype=np.float32)
            matrix[rows] = block
        return (np.zeros((n, dim), np.float32) if matrix is None else matrix), has
    room = n // SPARE_SHARE  # rows the codes can grow by without a copy
    borrowed = borrow_codes(clips, channel, seqs, np.ones(n, dtype=bool), room)
    if borrowed is not None:
        limit = exact_limit(n, borrowed)
        off_rows, off_vectors, missed = [_NO_ROWS], [np.empty((0, dim), np.float32)], 0
        for rows, block in placed():
            miss = ~borrowed.codes_hold(rows, block)
            off_rows.append(rows[miss])
            off_vectors.append(block[miss])
            missed += int(miss.sum())
            if missed > limit:
                break
        if missed <= limit:
            borrowed.codes.labels[~has] = -1  # type: ignore[union-attr]
            if not missed:
                return borrowed, has
            return borrowed.with_exact(np.concatenate(off_rows), np.concatenate(off_vectors)), has
        log.warning(
            "the %s index's 8-bit ranges miss more than %d of %d clips, so the snapshot keeps"
            " codes of its own (a second copy in memory); `steerfeed reindex` trains the"
            " index again",
            channel, limit, n,
        )  # fmt: skip
    return quantize_blocks(n, dim, placed, room), has


def borrow_codes(
    clips: ClipStore, channel: str, seqs: np.ndarray, has: np.ndarray, room: int = 0
) -> QuantizedVectors | None:
    """The rows of catalog `seqs` as the channel index's 8-bit codes, read by label (a row
    not marked in `has`, or that the index lacks, reads as zero), or None when the index
    holds no such codes. The labels sit in a buffer `room` rows longer, for growth.
    Unchecked: the caller compares what the codes decode to with the vectors they stand
    for (`QuantizedVectors.codes_hold`)."""
    with clips.lock.read():
        index = clips.indexes.get(channel)
        if not isinstance(index, VectorIndex) or (lent := index.codes()) is None:
            return None
        buffer = np.empty(len(seqs) + room, dtype=np.int64)
        labels = buffer[: len(seqs)]
        labels[:] = index.labels_of(seqs)
    labels[~has] = -1
    fill = np.clip(np.rint(-lent.low / lent.step), 0, LEVELS).astype(np.uint8)  # zero
    return QuantizedVectors(BorrowedCodes(lent, clips.lock.read, labels, fill), lent.low, lent.step)


def _text(clip: Clip) -> str:
    return embedding_text(clip.prompt, clip.caption, clip.tags)


def object_array(values: Sequence[object]) -> np.ndarray:
    """A 1-D object array of the values (tuples stay whole, not a second axis)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


# The snapshot's per-clip arrays that `Columns` keeps under their own names.
_CLIP_COLUMNS = ("seqs", "clip_ids", "created_at", "duration_s", "creator_codes",
                 "remix_of_row", "cameos")  # fmt: skip


class Columns:
    """The newest snapshot's row-aligned arrays, with room to grow.

    A grown snapshot's arrays are views of the first N rows of these buffers, so
    appending writes past every view in use and rows a snapshot sees never change. Only
    the newest snapshot grows (`Snapshots` holds the lock while it does), so no two
    snapshots ever write the same spare rows.
    """

    def __init__(self, snap: CatalogSnapshot, room: int = 0) -> None:
        """The columns of `snap`, each clip column and `has` copied into a buffer with
        `room` rows to spare unless it has them (see `views`)."""
        self.rows = len(snap)
        if not isinstance(snap.row_of_id, RowsById):
            raise TypeError("a snapshot grows from one it built or grew")
        self.ids = snap.row_of_id.table
        self.by_seq = snap.seq_table
        self._data: dict[str, np.ndarray] = {
            **{name: getattr(snap, name) for name in _CLIP_COLUMNS},
            "oldest_first": spare_rows(snap.newest_first[::-1]),
        }
        for channel, matrix in snap.vectors.items():
            # Codes built or loaded with spare rows grow into them (see `quantize`), and
            # borrowed codes' labels likewise; a float32 matrix may be a view of what the
            # catalog holds, so it is copied.
            if not isinstance(matrix, QuantizedVectors):
                column = matrix
            elif isinstance(matrix.codes, BorrowedCodes):
                column = spare_rows(matrix.codes.labels)
            else:
                column = spare_rows(matrix.codes)
            self._data[f"vectors:{channel}"] = column
            self._data[f"has:{channel}"] = snap.has[channel]
        for name, data in self._data.items():
            if not name.startswith("vectors:") and len(spare_rows(data)) < self.rows + room:
                bigger = np.empty((self.rows + room, *data.shape[1:]), dtype=data.dtype)
                bigger[: self.rows] = data
                self._data[name] = bigger

    def views(self, snap: CatalogSnapshot) -> CatalogSnapshot:
        """`snap` reading its clip columns and `has` from these buffers: the same values,
        so the arrays it held before are let go."""
        n, data = self.rows, self._data
        return replace(
            snap, seqs=data["seqs"][:n], clip_ids=data["clip_ids"][:n],
            created_at=data["created_at"][:n], duration_s=data["duration_s"][:n],
            creator_codes=data["creator_codes"][:n], remix_of_row=data["remix_of_row"][:n],
            cameos=data["cameos"][:n], newest_first=data["oldest_first"][:n][::-1],
            has={channel: data[f"has:{channel}"][:n] for channel in snap.has},
        )  # fmt: skip

    def append(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The column with `rows` after its first `self.rows` rows (call `advance` once
        every column has them)."""
        data, n = self._data[name], self.rows
        need = n + len(rows)
        if need > len(data):  # half again as much room: each row is copied O(1) times
            bigger = np.empty((max(need, n + n // 2), *data.shape[1:]), dtype=data.dtype)
            bigger[:n] = data[:n]
            data = self._data[name] = bigger
        data[n:need] = rows
        return data[:need]

    def advance(self, added: int) -> None:
        self.rows += added


# A grown compact snapshot keeps float32 copies of the added rows its code ranges cannot
# hold (about 2% of real uploads at 1,000,000 noisy clips) for up to one row in
# EXACT_SHARE (at least MIN_EXACT_ROWS); past that it is rebuilt with new ranges. Codes
# borrowed from an index keep its ranges, which were set when it was trained (a catalog
# that grew past 50,000 clips: on those first clips), so they may keep more: one row in
# BORROWED_EXACT_SHARE, whose float32 copies take an eighth of the codes it spares.
EXACT_SHARE = 256
BORROWED_EXACT_SHARE = 32
MIN_EXACT_ROWS = 256


def exact_limit(rows: int, matrix: QuantizedVectors) -> int:
    """How many of `rows` rows may keep float32 copies beside `matrix`'s codes."""
    share = BORROWED_EXACT_SHARE if isinstance(matrix.codes, BorrowedCodes) else EXACT_SHARE
    return max(MIN_EXACT_ROWS, rows // share)


# Grow the sample's pool once the catalog is this many times the size it was drawn from.
RESAMPLE_GROWTH = 1.5


@dataclass(frozen=True)
class _Additions:
    """Clips added to the catalog after a snapshot's generation, and nothing else."""

    generation: int
    seqs: np.ndarray
    clips: list[Clip]
    vectors: dict[str, ChannelVectors]  # each channel's upserts (all of them new clips)


def _additions(clips: ClipStore, snap: CatalogSnapshot) -> _Additions | None:
    """What was added since `snap`, or None when anything else changed: a deletion, an
    edit, a clip no newer than every row, a remix whose original only arrives now, a
    move across `COMPACT_ROWS`."""
    with clips.lock.read():
        generation = clips.catalog.generation  # first: see `_build`
        changes = {c: clips.catalog.channel_changes(c, snap.generation) for c in clips.channels}
        last = int(snap.seqs[-1])
        if set(changes) != set(snap.vectors) or any(
            (ch.removed <= last).any() or (ch.upserted.seqs <= last).any()
            for ch in changes.values()
        ):
            return None
        text = changes[TEXT].upserted
        found = clips.catalog.get_many(text.seqs.tolist())
        seqs = np.array([s for s in text.seqs.tolist() if s in found], dtype=np.int64)
        added = [found[int(s)] for s in seqs.tolist()]
        # An older clip naming a new one as its original is linked by a rebuild only
        # (newest first: at most the new clips come before it).
        if any(
            r.seq <= last for c in added for r in clips.catalog.remixes_of(c.id, len(added) + 1)
        ):
            return None
    n0, n1 = len(snap), len(snap) + len(added)
    newest = float(snap.created_at[snap.newest_first[0]])
    if added and (
        min(c.created_at for c in added) <= newest
        or (n0 >= COMPACT_ROWS) != (n1 >= COMPACT_ROWS)
        or any(c.id in snap.row_of_id for c in added)
    ):
        return None
    return _Additions(generation, seqs, added, {c: ch.upserted for c, ch in changes.items()})


def grow_snapshot(
    clips: ClipStore, snap: CatalogSnapshot, columns: Columns
) -> CatalogSnapshot | None:
    """`snap` with the clips added to the catalog since its generation, or None when more
    than additions happened (see `_additions`) or the catalog is small enough to be
    scored whole: the caller then rebuilds. Costs what was added, not the catalog's size.
    """
    n0 = len(snap)
    if n0 <= SAMPLE_ROWS or columns.rows != n0:
        return None
    found = _additions(clips, snap)
    if found is None:
        return None
    seqs, added, generation = found.seqs, found.clips, found.generation
    k, n1 = len(added), n0 + len(added)
    if not k:
        return replace(snap, generation=generation,
                       grown_from=Growth(snap.generation, n0))  # fmt: skip
    matrices = {}
    for channel, upserted in found.vectors.items():
        old = snap.vectors[channel]
        at, present = find_sorted(seqs, upserted.seqs)
        matrix = np.zeros((k, old.shape[1]), dtype=np.float32)
        matrix[at[present]] = upserted.vectors[present]
        marks = np.zeros(k, dtype=bool)
        marks[at[present]] = True
        outside, labels = _NO_ROWS, _NO_ROWS
        if isinstance(old, QuantizedVectors):
            if isinstance(old.codes, BorrowedCodes):
                # The new rows' codes are the index's, if it is still the structure the
                # old rows were borrowed from (a rebuilt index has new labels and ranges).
                lent = borrow_codes(clips, channel, seqs, marks)
                if lent is None or lent.codes.source is not old.codes.source:  # type: ignore[union-attr]
                    return None
                labels = lent.codes.labels  # type: ignore[union-attr]
                held = lent.codes_hold(np.arange(k), matrix)
            else:
                held = old.held(matrix)
            # Rows the old ranges cannot hold keep a float32 copy; past a share of the
            # catalog, new ranges are due (a rebuild).
            outside = np.flatnonzero(marks & ~held)
            if len(old.exact_rows) + len(outside) > exact_limit(n1, old):
                return None
        matrices[channel] = (matrix, marks, outside, labels)
    ids = [c.id for c in added]
    new_ids = {clip_id: row for row, clip_id in enumerate(ids, start=n0)}
    # From here nothing reads the catalog or refuses: the columns take the new rows, and
    # the shared ids take them last, just before the row count moves on.
    vectors: dict[str, Matrix] = {}
    has: dict[str, np.ndarray] = {}
    for channel, (matrix, marks, outside, labels) in matrices.items():
        old = snap.vectors[channel]
        has[channel] = columns.append(f"has:{channel}", marks)
        if isinstance(old, QuantizedVectors):
            if isinstance(old.codes, BorrowedCodes):
                grown_codes = old.codes.with_labels(columns.append(f"vectors:{channel}", labels))
                grown_matrix = replace(old, codes=grown_codes)
            else:
                codes = columns.append(f"vectors:{channel}", old.encode(matrix))
                grown_matrix = replace(old, codes=codes)
            if len(outside):
                grown_matrix = grown_matrix.with_exact(outside + n0, matrix[outside])
            vectors[channel] = grown_matrix
        else:
            vectors[channel] = columns.append(f"vectors:{channel}", matrix)
    names, code_of = list(snap.creator_names), dict(snap.code_of_creator)
    for clip in added:
        if clip.creator not in code_of:
            code_of[clip.creator] = len(names)
            names.append(clip.creator)
    codes = np.array([code_of[c.creator] for c in added], dtype=np.int32)
    remix_of = np.array(
        [new_ids.get(c.remix_of, columns.ids.get(c.remix_of, -1)) if c.remix_of else -1
         for c in added], dtype=np.int64,
    )  # fmt: skip
    created = np.array([c.created_at for c in added], dtype=np.float64)
    new_rows = np.arange(n0, n1, dtype=np.int64)
    order = new_rows[np.argsort(-created, kind="stable")]  # the new rows, newest first
    by_creator = _grown_groups(snap.by_creator, group_rows(codes[order - n0], order), True)
    remixes = _grown_groups(snap.remixes, group_rows(remix_of, new_rows, skip=-1), False)
    cameos = object_array([c.cameos for c in added])
    added_texts = ClipTexts.of([_text(c) for c in added])
    if columns.by_seq is not None and not columns.by_seq.extend(seqs, n0):
        columns.by_seq = None  # sparse from here on: binary search
    grown = replace(
        snap,
        generation=generation,
        seqs=columns.append("seqs", seqs),
        clip_ids=columns.append("clip_ids", object_array(ids)),
        row_of_id=RowsById(columns.ids, n1),
        created_at=columns.append("created_at", created),
        duration_s=columns.append("duration_s", np.array(
            [np.nan if c.duration_s is None else c.duration_s for c in added], np.float64)),
        creator_codes=columns.append("creator_codes", codes),
        creator_names=tuple(names),
        remix_of_row=columns.append("remix_of_row", remix_of),
        cameos=columns.append("cameos", cameos),
        cameo_rows=np.concatenate([snap.cameo_rows, new_rows[[bool(c) for c in cameos]]]),
        vectors=vectors,
        has=has,
        newest_first=columns.append("oldest_first", order[::-1])[::-1],
        texts=(snap.texts or SegmentedTexts(())).extended(added_texts),
        by_creator=by_creator,
        remixes=remixes,
        code_of_creator=code_of,
        grown_from=Growth(snap.generation, n0),
        seq_table=columns.by_seq,
    )  # fmt: skip
    columns.ids.update(new_ids)
    columns.advance(k)
    if n1 >= RESAMPLE_GROWTH * snap.sample_of:
        sample = sample_rows(n1)
        sample_vectors, sample_has, sample_moments = sample_parts(vectors, has, sample, n1)
        grown = replace(
            grown, sample=sample, sample_of=n1, sample_vectors=sample_vectors,
            sample_has=sample_has, sample_moments=sample_moments,
        )  # fmt: skip
    return grown


_NO_ROWS = np.empty(0, dtype=np.int64)
SAMPLE_ROWS = 8192
# A grown snapshot's groups (`_grown_groups`) are copied whole once the keys changed since
# the last copy pass this share of the rest.
GROUPS_COPY_SHARE = 8


def _grown_groups(
    groups: Mapping[int, np.ndarray], added: Mapping[int, np.ndarray], first: bool
) -> Mapping[int, np.ndarray]:
    """`groups` with `added`'s rows joined to each key's rows (before them when `first`).
    Only the keys changed since the last whole copy are copied; the rest stay shared with
    the older snapshot, under them (a ChainMap). At 10,000,000 clips, copying every
    original's remixes took a third of an upload's next page."""
    top, shared = (groups.maps[0], groups.maps[1]) if isinstance(groups, ChainMap) else ({}, groups)
    top = dict(top)
    for key, rows in added.items():
        held = top.get(key, shared.get(key, _NO_ROWS))
        top[key] = np.concatenate([rows, held] if first else [held, rows])
    if len(top) * GROUPS_COPY_SHARE > len(shared):
        return {**shared, **top}
    return ChainMap(top, cast(dict[int, np.ndarray], shared))  # read only, never written


def sample_rows(n: int, size: int | None = None) -> np.ndarray:
    """The rows a phrase's similarity statistics are taken over: every row of a catalog
    up to `size` (default `SAMPLE_ROWS`) rows, else a fixed random `size` of them (sorted)."""
    size = SAMPLE_ROWS if size is None else size
    if n <= size:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))


@dataclass(frozen=True)
class Moments:
    """The mean (d,) and covariance (d, d) of a channel's sample vectors, in float64.

    A phrase's similarity to the sample rows has mean `q . mean` and variance
    `q . cov . q`: the same statistics as scoring every sample row (to about 1e-9), from
    a product of d x d numbers instead of a pass over the sample's megabytes, which a
    new phrase paid in full from memory when the sample was out of the cache.
    """

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        mean = rows.mean(axis=0, dtype=np.float64)
        centred = rows - mean.astype(rows.dtype)
        return cls(mean, (centred.T @ centred).astype(np.float64) / len(rows))

    def stats(self, q: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the sample rows' similarity to `q`."""
        q64 = q.astype(np.float64)
        return float(q64 @ self.mean), math.sqrt(max(float(q64 @ self.cov @ q64), 0.0))


SampleParts = tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Moments]]


def sample_parts(
    vectors: Mapping[str, Matrix], has: Mapping[str, np.ndarray], sample: np.ndarray,
    rows: int, saved: Mapping[str, np.ndarray] | None = None,
) -> SampleParts:  # fmt: skip
    """A snapshot's sample fields: each channel's sample rows (contiguous), which of them
    have the channel, and their `Moments` (channels with no sample row left out); all
    empty when the sample is the whole catalog of `rows` rows. `saved`: sample rows read
    back from disk."""
    if len(sample) >= rows:
        return {}, {}, {}
    picked = dict(saved) if saved is not None else {c: v[sample] for c, v in vectors.items()}
    flags = {c: h[sample] for c, h in has.items()}
    moments = {c: Moments.of(picked[c][flags[c]]) for c in picked if flags[c].any()}
    return picked, flags, moments


def group_rows(
    keys: np.ndarray, rows: np.ndarray, skip: int | None = None
) -> dict[int, np.ndarray]:
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
        self._columns: Columns | None = None
        self.grow = True  # False: every catalog change rebuilds (to measure the difference)
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
                grown = None
                if snap is not None and self._columns is not None and self.grow:
                    try:
                        grown = grow_snapshot(self.clips, snap, self._columns)
                    except Exception:  # a rebuild reads it all again: it is the safe path
                        log.exception("snapshot could not grow; rebuilding it")
                if snap is not None and grown is not None:
                    # New clips have no engagement yet (spare rows are zeros, and only
                    # rows of a snapshot are ever counted); the short list stands.
                    if len(self._engagement) < len(grown):
                        bigger = np.zeros(len(grown) + len(grown) // SPARE_SHARE)
                        bigger[: len(snap)] = self._engagement[: len(snap)]
                        self._engagement = bigger
                    snap = self._snapshot = grown
                    return snap
                snap = self._adopt(build_snapshot(self.clips))
            elif time.monotonic() - self._heard_at >= HEAR_INTERVAL_S:
                self._heard_at = time.monotonic()
                self._apply(snap, self._heard().items())
            return snap

    def start_from(self, snap: CatalogSnapshot) -> None:
        """Serve from `snap` (a saved one just loaded) until the catalog moves past it;
        then it grows, or is rebuilt, like any other."""
        with self._lock:
            self._adopt(snap)

    def latest(self) -> CatalogSnapshot | None:
        """The snapshot last served, without catching up (None before the first)."""
        with self._lock:
            return self._snapshot

    def _adopt(self, snap: CatalogSnapshot) -> CatalogSnapshot:
        """Make `snap`, read whole from the catalog or from files, the current snapshot
        (returned: the same rows in the columns' buffers); the caller holds the lock."""
        # Room for the clips added next, made now: the first growth would otherwise copy
        # every column inside a page (185 ms at 1,000,000 clips). A catalog up to the
        # sample's size is rebuilt whole at each change (see grow_snapshot): no room.
        room = len(snap) // SPARE_SHARE if len(snap) > SAMPLE_ROWS else 0
        self._columns = Columns(snap, room)
        snap = self._snapshot = self._columns.views(snap)
        self._heard()  # the counts read next hold what was posted so far
        self._heard_at = time.monotonic()
        # With the columns' room: the first growth would otherwise copy it (80 MB, a
        # quarter of an upload's next page at 10,000,000 clips).
        self._engagement = self._raw_engagement(snap, room)
        self._peak = float(self._engagement.max(initial=0.0))
        self._top = _most(self._engagement, np.arange(len(snap)), POPULAR_DEPTH)
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
            pool = distinct(np.concatenate([self._top, np.asarray(rows, dtype=np.int64)]))
            self._top = _most(self._engagement, pool, POPULAR_DEPTH)

    def _raw_engagement(self, snap: CatalogSnapshot, room: int = 0) -> np.ndarray:
        """Each row's engagement, then `room` zeros."""
        raw = np.zeros(len(snap) + room, dtype=np.float64)
        stats = self.users.clip_stats()
        rows = snap.rows_or_missing(list(stats))
        for row, counts in zip(rows.tolist(), stats.values(), strict=True):
            if row >= 0:
                raw[row] = engagement(counts)
        return raw


def _most(raw: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The k rows of `rows` with the most engagement, most first (ties: lower row first)."""
    if len(rows) > k:
        rows = rows[np.argpartition(-raw[rows], k - 1)[:k]]
    return rows[np.lexsort((rows, -raw[rows]))]
