"""FAISS vector index keyed by catalog ids, persisted with a manifest.

Vectors are float32 (n, d), L2-normalised, so inner product is cosine
similarity. IDs are int64 (n,).

Kind is chosen by size: exact (flat inner product) below `HNSW_THRESHOLD`
vectors, HNSW above. A flat index keeps its own float32 copy of every vector, so
`vectors_for(ids)` is exact. An HNSW index stores its vectors once, inside FAISS,
as 8-bit scalar-quantized codes (a quarter of float32; range per dimension trained
on the vectors it is built from), and `vectors_for` decodes them: callers that rank
re-score its candidates from their own vectors. HNSW cannot delete in place, so
removals are tombstoned and filtered out of results until enough pile up to rebuild.
FAISS holds each vector under a label of its own, not under the clip id: an updated
clip gets a new label while its old one lies tombstoned, so it is found again at once.
Tombstones are saved with the index, so a save never has to rebuild it.
An HNSW index lends its codes (`codes`): a catalog snapshot reads candidates' rows from
them by label instead of holding the same codes a second time.
An HNSW index read from disk maps its file instead of copying it into memory: its codes
and graph are pages of the file, which the system may drop again when memory runs short,
so a large index need not fit in memory beside everything else. Opening reads the file
once, in order, so that FAISS and the first searches find its pages cached
(`read_through`). A mapped structure cannot grow, so vectors
added to it go to a second, in-memory HNSW structure (the delta) with the same 8-bit
ranges, under the labels that follow the mapped ones; searches read both and merge
them, and a save writes the delta beside the mapped file, which it links, not copies.
A rebuild (`steerfeed reindex`, or tombstones past a tenth) folds both into one.
An HNSW index built block by block can save what it has added as it goes (a
`BuildCheckpoint`), so a build stopped part way starts again where it was saved.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from errno import EINVAL
from pathlib import Path
from typing import Any, BinaryIO, Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

IndexKind = Literal["flat", "hnsw"]
# How an HNSW index stores its vectors: "sq8" (8-bit codes) since compact storage;
# "float32" in manifests written before it (IndexHNSWFlat), still loaded as they are.
Codec = Literal["float32", "sq8"]
HNSW_THRESHOLD = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# A search of depth k explores at least this many times k candidates (efSearch): with
# efSearch = k, a catalog of near-copies lost up to 70% of a phrase's exact top 20 among
# its 600 nearest; with 2k, at most 10% (bench/feed_bench.py, 100,000 clips).
HNSW_EF_PER_K = 2
MANIFEST_VERSION = 1
READ_AHEAD_BYTES = 4 << 20  # what `read_through` reads at a time
MADV_POPULATE_READ = 22  # Linux 5.14 and later: fill a mapping's page tables (see `map_in`)


class IndexMismatchError(RuntimeError):
    """The index on disk does not match what the caller expects."""


@dataclass(frozen=True)
class IndexManifest:
    """What an index file holds; written beside it and checked on load."""

    channel: str
    model: str
    dim: int
    kind: IndexKind
    count: int
    generation: int = 0
    version: int = MANIFEST_VERSION
    codec: Codec = "float32"


@dataclass(frozen=True)
class BuildCheckpoint:
    """Where a block-by-block HNSW build keeps what it has added so far (a folder of its
    own), saved after the first block to end `every_s` seconds or more after the last save.
    A build asked again for the same channel, model and catalog generation starts from
    the last save instead of the first vector; anything else starts over (a catalog
    written to meanwhile, even once). At 10,000,000 clips one 384-d index takes about 45
    minutes to build, more than a stopped process should lose. A save needs room for two
    copies of the part built (the last save stays until the next is whole), and resuming
    holds the part read back beside the buffers it grows into."""

    folder: Path
    every_s: float = 600.0

    def clear(self) -> None:
        """Forget what was saved (the build is done, or stale)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @contextmanager
    def claimed(self) -> Iterator[bool]:
        """Whether this process may use the folder: an exclusive lock on a file beside it,
        held until the block ends. Two processes building the same channel at once (a
        server's workers opening a home with no index) would otherwise write, read and
        clear one another's saves; the one that finds the lock taken builds without."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with open(self.folder.with_name(self.folder.name + ".lock"), "a+b") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass
class _Resumed:
    """What a checkpoint holds: the FAISS structure so far, the ids it holds, and how
    many vectors the ranges' pass counted."""

    index: faiss.Index
    ids: np.ndarray
    count: int


@dataclass(frozen=True)
class SearchHits:
    """Neighbours of one query: ids (k,) int64 and scores (k,) float32, best first."""

    ids: np.ndarray
    scores: np.ndarray


def set_search_threads(n: int) -> None:
    """How many threads FAISS may use inside one search or build."""
    faiss.omp_set_num_threads(n)


def choose_kind(count: int) -> IndexKind:
    """Exact search while small; HNSW once exact search gets slow."""
    return "hnsw" if count >= HNSW_THRESHOLD else "flat"


def as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Vectors as contiguous float32 (n, dim); ValueError on another shape."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {x.shape}")
    return x


def as_ids(ids: np.ndarray) -> np.ndarray:
    """IDs as contiguous int64 (n,); ValueError on another shape."""
    out = np.ascontiguousarray(ids, dtype=np.int64)
    if out.ndim != 1:
        raise ValueError(f"expected ids of shape (n,), got {out.shape}")
    return out


def upsert_rows(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The ids and float32 rows of one upsert, checked: one row per id, no id twice."""
    ids, x = as_ids(ids), as_matrix(vectors, dim)
    if len(ids) != len(x):
        raise ValueError(f"{len(ids)} ids for {len(x)} vectors")
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("duplicate ids in one upsert")
    return ids, x


class IndexCodes:
    """An sq8 index's codes as they are now, one row of `dim` bytes per FAISS label, and
    the ranges that decode them (value = low + code * step, per dimension).

    `take(labels, axis=0, out=...)` copies rows out of FAISS's own buffers (the structure's,
    then its delta's, for labels past the structure's rows), as `np.ndarray.take` would.
    FAISS may move a buffer as it grows, so callers hold the owner's read lock while they
    read. It keeps the FAISS structures it reads alive: after a rebuild replaces them in the
    index, codes lent before still read the rows they were lent."""

    def __init__(self, owner: faiss.Index, dim: int) -> None:
        self.dim = dim
        self._owner = owner  # the IndexIDMap: owns the HNSW index and its storage
        self._storage = _storage_of(owner)
        self._delta_owner: faiss.Index | None = None  # the delta's IndexIDMap, once there is one
        self._delta: Any = None  # its storage
        trained = faiss.vector_to_array(self._storage.sq.trained).astype(np.float32)
        vmin, vdiff = trained[:dim], trained[dim:]
        # FAISS encodes floor((x - vmin) / step) and decodes the middle of that step.
        self.step = (vdiff / np.float32(255)).astype(np.float32)
        self.low = (vmin + self.step / 2).astype(np.float32)

    def lend_delta(self, delta: faiss.Index) -> None:
        """Read labels past the structure's rows from `delta` (an IndexIDMap like it)."""
        self._delta_owner = delta
        self._delta = _storage_of(delta)

    def __len__(self) -> int:
        n = int(self._storage.ntotal)
        return n + (int(self._delta.ntotal) if self._delta is not None else 0)

    def _rows(self, storage: Any) -> np.ndarray:
        n = int(storage.ntotal)
        if not n:
            return np.empty((0, self.dim), dtype=np.uint8)
        return faiss.rev_swig_ptr(storage.codes.data(), n * self.dim).reshape(n, self.dim)

    def take(self, labels: np.ndarray, axis: int = 0, out: np.ndarray | None = None) -> np.ndarray:
        """The codes under `labels`, uint8 (len(labels), dim), into `out` when given."""
        if axis != 0:
            raise ValueError("codes are taken by row")
        labels = np.asarray(labels, dtype=np.int64)
        if out is None:
            out = np.empty((len(labels), self.dim), dtype=np.uint8)
        base = self._rows(self._storage)
        if self._delta is None:
            return np.take(base, labels, axis=0, out=out)
        past = labels >= len(base)
        if not past.any():
            return np.take(base, labels, axis=0, out=out)
        out[~past] = base[labels[~past]]
        out[past] = self._rows(self._delta)[labels[past] - len(base)]
        return out


class VectorIndex:
    """A channel's vectors in FAISS, with upsert, remove, search and atomic save."""

    def __init__(self, channel: str, model: str, dim: int) -> None:
        self.channel = channel
        self.model = model
        self.dim = dim
        self.generation = 0
        self._ids = np.empty(0, dtype=np.int64)
        # Float32 copies, row-aligned with _ids; None when FAISS holds the only copy (sq8).
        self._vectors: np.ndarray | None = np.empty((0, dim), dtype=np.float32)
        # Rows are found by binary search: over `_ids` while they increase (catalog seqs
        # arrive in order), else over them in `_order` (computed when first needed).
        self._increasing = True
        self._order: np.ndarray | None = None
        self._labels = np.empty(0, dtype=np.int64)  # FAISS label of each row
        self._id_by_label = np.empty(0, dtype=np.int64)  # clip id per label, -1 if dead
        # Buffers that the three arrays above are the first rows of, with room to append
        # (`_appended`); an array replaced otherwise no longer reads from its buffer.
        self._room: dict[str, np.ndarray] = {}
        self._tombstones: set[int] = set()  # labels of removed vectors still in FAISS
        self._next_label = 0
        self._faiss: faiss.Index = self._empty_faiss("flat")
        self.kind: IndexKind = "flat"
        self.codec: Codec = "float32"
        self._codes: IndexCodes | None = None  # lent codes of the current FAISS structure
        self._mapped: Path | None = None  # the file the FAISS structure maps, if it does
        # Vectors added to a mapped structure: an in-memory HNSW over the same ranges,
        # holding labels from the mapped structure's count on (`_base`).
        self._delta: faiss.Index | None = None
        self._base = 0

    # -- building -------------------------------------------------------------

    def _empty_faiss(self, kind: IndexKind) -> faiss.Index:
        if kind == "hnsw":
            qt: Any = faiss.ScalarQuantizer.QT_8bit  # an enum value the stubs type as int
            inner = faiss.IndexHNSWSQ(self.dim, qt, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
            return faiss.IndexIDMap(inner)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _rebuild_faiss(self, vectors: np.ndarray | None = None) -> None:
        """A new FAISS structure over every live vector (`vectors`, row-aligned with ids;
        default: the rows' float32 copies, or their codes decoded)."""
        if vectors is None:
            vectors = self._vectors if self._vectors is not None else self._decoded(self._ids)
        kind = choose_kind(len(self._ids))
        index = self._empty_faiss(kind)
        if len(self._ids):
            if kind == "hnsw":
                index.train(vectors)
            index.add_with_ids(vectors, np.arange(len(self._ids), dtype=np.int64))
        self._adopt(index, kind)
        if self.codec == "float32" and self._vectors is None:
            self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def _adopt(self, index: faiss.Index, kind: IndexKind) -> None:
        """Make `index`, a new FAISS structure holding row i of `_ids` under label i, this
        index's own (no tombstones)."""
        self.kind = kind
        self._labels = np.arange(len(self._ids), dtype=np.int64)
        self._id_by_label = self._ids.copy()
        self._next_label = len(self._ids)
        self._faiss = index
        self._mapped = None
        self._delta = None
        self._tombstones.clear()
        # An HNSW index's codes are its only copy: the float32 rows are dropped.
        self.codec = "sq8" if kind == "hnsw" else "float32"
        self._codes = IndexCodes(index, self.dim) if self.codec == "sq8" else None
        if self.codec == "sq8":
            self._vectors = None

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids, replacing any vector already stored for an id."""
        ids, x = upsert_rows(ids, vectors, self.dim)
        _, present = self._rows_of(ids)
        if present.any():
            self.remove(ids[present])
        rebuild = self.kind != choose_kind(len(self._ids) + len(ids))
        if rebuild:  # the new structure is built from every vector, old and new
            old = self._vectors if self._vectors is not None else self._decoded(self._ids)
            every = np.concatenate([old, x])
        labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
        self._next_label += len(ids)
        self._increasing = self._increasing and _increasing(ids, self._ids[-1:])
        self._order = None
        self._ids = self._appended("_ids", ids)
        if self._vectors is not None:
            self._vectors = np.concatenate([self._vectors, x])
        self._labels = self._appended("_labels", labels)
        self._id_by_label = self._appended("_id_by_label", ids)  # labels run on
        if rebuild:
            self._rebuild_faiss(every)
        elif self._mapped is not None:  # a mapped structure cannot grow (FAISS aborts)
            self._growing().add_with_ids(x, labels)
        else:
            self._faiss.add_with_ids(x, labels)

    def _appended(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The array held as `name` with `rows` after it. Written into the spare room of
        a buffer this index made for it, when the array is still that buffer's first rows
        and the room suffices; else into a new buffer with an eighth to spare. Adding a
        clip to a 10,000,000-vector index used to copy three arrays of 80 MB each."""
        current: np.ndarray = getattr(self, name)
        n, need = len(current), len(current) + len(rows)
        buffer = self._room.get(name)
        if (
            buffer is None
            or len(buffer) < need
            or current.base is not buffer
            or current.__array_interface__["data"][0] != buffer.__array_interface__["data"][0]
        ):
            buffer = np.empty(need + need // 8, dtype=current.dtype)
            buffer[:n] = current
            self._room[name] = buffer
        buffer[n:need] = rows
        return buffer[:need]

    def _growing(self) -> faiss.Index:
        """The delta that vectors added to the mapped structure go to, made when first
        needed: an empty HNSW over 8-bit codes with the mapped structure's ranges."""
        if self._delta is not None:
            return self._delta
        delta = self._empty_faiss("hnsw")
        storage = _storage_of(delta)
        faiss.copy_array_to_vector(
            faiss.vector_to_array(_storage_of(self._faiss).sq.trained), storage.sq.trained
        )
        storage.is_trained = True
        _inner(delta).is_trained = True
        delta.is_trained = True
        self._adopt_delta(delta)
        return delta

    def _adopt_delta(self, delta: faiss.Index) -> None:
        self._delta = delta
        self._base = int(self._faiss.ntotal)
        if self._codes is not None:
            self._codes.lend_delta(delta)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (unknown ids are ignored); return how many were removed."""
        rows, present = self._rows_of(as_ids(ids))
        if not present.any():
            return 0
        keep = np.ones(len(self._ids), dtype=bool)
        keep[rows[present]] = False
        gone = self._labels[~keep]
        self._ids = self._ids[keep]  # still in order: still increasing if they were
        self._order = None
        if self._vectors is not None:
            self._vectors = self._vectors[keep]
        self._labels = self._labels[keep]
        self._id_by_label[gone] = -1
        if self.kind == "flat":
            self._faiss.remove_ids(gone)  # type: ignore[arg-type]
        else:
            self._tombstones.update(gone.tolist())
            if len(self._tombstones) > max(1000, len(self._ids) // 10):
                self._rebuild_faiss()
        return int(np.unique(rows[present]).size)

    # -- reading --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, clip_id: int) -> bool:
        return bool(self._rows_of(np.array([int(clip_id)], dtype=np.int64))[1][0])

    def _rows_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of each id (int64), and whether it is stored (rows of missing ids are 0)."""
        if not len(self._ids):
            return np.zeros(len(ids), np.int64), np.zeros(len(ids), dtype=bool)
        if self._increasing:
            keys, order = self._ids, None
        else:
            if self._order is None:
                self._order = np.argsort(self._ids, kind="stable")
            keys, order = self._ids[self._order], self._order
        at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
        found = keys[at] == ids
        return (at if order is None else order[at]).astype(np.int64), found

    def _rows_for(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ids that must be stored; KeyError naming the first that is not."""
        ids = as_ids(ids)
        rows, found = self._rows_of(ids)
        if not found.all():
            raise KeyError(int(ids[~found][0]))
        return rows

    @property
    def ids(self) -> np.ndarray:
        """All ids, int64 (n,), in storage order (read-only view)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def vectors(self) -> np.ndarray:
        """All vectors, float32 (n, d), rows aligned with `ids` (read-only; an sq8
        index decodes them)."""
        view = self._vectors.view() if self._vectors is not None else self._decoded(self._ids)
        view.flags.writeable = False
        return view

    def vectors_for(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of the given ids, float32 (len(ids), d); KeyError on an unknown id.
        Exact for a flat index; an sq8 index decodes its codes (error about 1e-3)."""
        if self._vectors is None:
            return self._decoded(ids)
        return self._vectors[self._rows_for(ids)]

    def _decoded(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of ids decoded from the FAISS codes (FAISS position == label: labels
        are numbered in the order vectors are added, and HNSW never drops one)."""
        labels = self._labels[self._rows_for(ids)]
        if not len(labels):
            return np.empty((0, self.dim), dtype=np.float32)
        if self._delta is None:
            return _inner(self._faiss).reconstruct_batch(labels)
        out = np.empty((len(labels), self.dim), dtype=np.float32)
        past = labels >= self._base
        if (~past).any():
            out[~past] = _inner(self._faiss).reconstruct_batch(labels[~past])
        if past.any():
            out[past] = _inner(self._delta).reconstruct_batch(labels[past] - self._base)
        return out

    def labels_of(self, ids: np.ndarray) -> np.ndarray:
        """The FAISS label of each id, int64 (len(ids),); -1 for an id not stored."""
        rows, found = self._rows_of(as_ids(ids))
        out = np.full(len(rows), -1, dtype=np.int64)
        out[found] = self._labels[rows[found]]
        return out

    @property
    def mapped(self) -> bool:
        """Whether the FAISS structure maps its file (loaded HNSW, nothing added since)."""
        return self._mapped is not None

    def codes(self) -> IndexCodes | None:
        """The current FAISS structure's codes, to read rows from by label (see
        `IndexCodes`); None unless the index holds 8-bit codes. The same object until the
        structure is rebuilt, so a holder can tell whether its labels still apply."""
        return self._codes

    def search(
        self, queries: np.ndarray, k: int, *, explore: int = HNSW_EF_PER_K
    ) -> list[SearchHits]:
        """k nearest ids per query row, best first (fewer when the index is small). An HNSW
        search explores `explore` times as many candidates as it returns (efSearch)."""
        q = as_matrix(queries, self.dim)
        if k <= 0 or len(self._ids) == 0:
            empty = SearchHits(np.empty(0, np.int64), np.empty(0, np.float32))
            return [empty for _ in range(len(q))]
        fetch = min(len(self._ids) + len(self._tombstones), k + len(self._tombstones))
        params = None
        if self.kind == "hnsw":  # per call, so concurrent searches never share it
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(HNSW_EF_SEARCH, explore * fetch)
        scores, labels = self._faiss.search(q, fetch, params=params)  # type: ignore[call-arg]
        if self._delta is not None and self._delta.ntotal:
            more = self._delta.search(q, fetch, params=params)  # type: ignore[call-arg]
            scores, labels = _merged(scores, labels, *more, fetch)
        hits = []
        for row_labels, row_scores in zip(labels, scores, strict=True):
            found = np.full(len(row_labels), -1, dtype=np.int64)
            valid = row_labels >= 0
            found[valid] = self._id_by_label[row_labels[valid]]  # a tombstone's is -1
            keep = found >= 0
            hits.append(SearchHits(found[keep][:k], row_scores[keep][:k]))
        return hits

    # -- persistence ----------------------------------------------------------

    def manifest(self) -> IndexManifest:
        """Describe this index as it is now."""
        return IndexManifest(
            channel=self.channel,
            model=self.model,
            dim=self.dim,
            kind=self.kind,
            count=len(self._ids),
            generation=self.generation,
            codec=self.codec,
        )

    def save(self, directory: Path) -> None:
        """Write `<channel>.<save id>.faiss` (the FAISS structure), `<channel>.npz` (ids,
        labels, tombstones, a flat index's vectors) then `<channel>.json`, atomically.

        All three carry the same random save id; a crash between the renames leaves
        a manifest whose id the data lacks, which `load` refuses, so the caller
        rebuilds from the catalog instead of serving a half-written index. FAISS
        writes its file itself, so no serialized copy of the index is held in memory.
        """
        directory.mkdir(parents=True, exist_ok=True)
        save_id = uuid.uuid4().hex
        manifest = asdict(self.manifest()) | {"save_id": save_id}
        stem = directory / self.channel
        path = _faiss_path(directory, self.channel, save_id)
        if self._mapped is None:
            _atomic_write_index(self._faiss, path)
        else:  # unchanged since it was written: the same file under the new name
            _link_or_write(self._mapped, self._faiss, path)
            self._mapped = path
        if self._delta is not None:
            _atomic_write_index(self._delta, _delta_path(directory, self.channel, save_id))
        vectors = self._vectors
        if vectors is None:
            vectors = np.empty((0, self.dim), np.float32)
        _atomic_write(
            stem.with_suffix(".npz"),
            lambda fh: np.savez(
                fh,
                ids=self._ids,
                vectors=vectors,
                save_id=np.array(save_id),
                labels=self._labels,
                tombstones=np.array(sorted(self._tombstones), np.int64),
                next_label=np.array(self._next_label),
            ),  # fmt: skip
        )
        payload = json.dumps(manifest, indent=2).encode()
        _atomic_write(stem.with_suffix(".json"), lambda fh: fh.write(payload))
        keep = {path.name, _delta_path(directory, self.channel, save_id).name}
        for stale in directory.glob(f"{self.channel}.*.faiss"):
            if stale.name not in keep:
                stale.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path, channel: str, model: str, dim: int) -> VectorIndex:
        """Load a channel's index; raise IndexMismatchError unless model and dim match.
        An HNSW index maps its FAISS file (see the module's docstring).

        The manifest's generation says which catalog state the index reflects;
        the caller catches it up or rebuilds it.
        """
        stem = directory / channel
        manifest_path = stem.with_suffix(".json")
        if not manifest_path.exists():
            raise IndexMismatchError(f"no {channel} index in {directory}")
        try:
            raw = json.loads(manifest_path.read_text())
            save_id = raw.pop("save_id")
            found = IndexManifest(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise IndexMismatchError(f"unreadable manifest {manifest_path}: {exc}") from exc
        expected = {"version": MANIFEST_VERSION, "channel": channel, "model": model, "dim": dim}
        for field, want in expected.items():
            got = getattr(found, field)
            if want != got:
                raise IndexMismatchError(f"{channel} index {field} is {got!r}, expected {want!r}")
        try:
            with np.load(stem.with_suffix(".npz")) as data:
                if str(data["save_id"]) != save_id:
                    raise IndexMismatchError(
                        f"{channel} index data and manifest are from different saves"
                    )
                ids, vectors = data["ids"], data["vectors"]
                blob = data["faiss"] if "faiss" in data.files else None  # before .faiss files
                if "labels" in data.files:
                    labels, tombstones = data["labels"], data["tombstones"]
                    next_label = int(data["next_label"])
                else:  # saved before labels: FAISS holds clip ids, compacted on every save
                    labels, tombstones = ids, np.empty(0, np.int64)
                    next_label = int(ids.max()) + 1 if len(ids) else 0
            mapped = _faiss_path(directory, channel, save_id) if found.kind == "hnsw" else None
            delta_path = _delta_path(directory, channel, save_id)
            delta = faiss.read_index(str(delta_path)) if delta_path.exists() else None
            if blob is None:
                path = str(_faiss_path(directory, channel, save_id))
                if mapped is not None:
                    # Read in order first: FAISS then finds every page it maps in the page
                    # cache. Read as FAISS touches them, page by page, the same bytes took
                    # 4.8 s cold for a million clips' 664 MB; read in order, 1.3 s.
                    read_through(mapped)
                index = faiss.read_index(path, 0 if mapped is None else faiss.IO_FLAG_MMAP_IFC)
                if mapped is not None:
                    map_in(mapped)
            else:
                mapped = None
                index = faiss.deserialize_index(blob)
            del blob
        except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile) as exc:
            raise IndexMismatchError(f"unreadable {channel} index: {exc}") from exc
        kept = found.count if found.codec == "float32" else 0  # sq8: FAISS holds them
        if len(ids) != found.count or vectors.shape != (kept, found.dim):
            raise IndexMismatchError(f"{channel} index data disagrees with its manifest")
        held = index.ntotal + (delta.ntotal if delta is not None else 0)
        if held != found.count + len(tombstones) or index.d != found.dim:
            raise IndexMismatchError(f"{channel} FAISS data disagrees with its manifest")
        if len(labels) != len(ids):
            raise IndexMismatchError(f"{channel} index labels disagree with its ids")
        out = cls(found.channel, found.model, found.dim)
        out.generation = found.generation
        out._ids = as_ids(ids)
        out._vectors = as_matrix(vectors, found.dim) if found.codec == "float32" else None
        out.codec = found.codec
        out._increasing = _increasing(out._ids)
        out._labels = as_ids(labels)
        out._id_by_label = np.full(next_label, -1, dtype=np.int64)
        out._id_by_label[out._labels] = out._ids
        out._tombstones = set(as_ids(tombstones).tolist())
        out._next_label = next_label
        out._faiss = index
        out._mapped = mapped
        out.kind = found.kind
        if out.kind == "hnsw":
            _set_ef_search(index)
            if out.codec == "sq8":
                out._codes = IndexCodes(index, found.dim)
            if delta is not None:
                _set_ef_search(delta)
                out._adopt_delta(delta)
        return out

    @classmethod
    def build(
        cls, channel: str, model: str, ids: np.ndarray, vectors: np.ndarray, generation: int
    ) -> VectorIndex:
        """A fresh index over the given vectors (used by reindex and recovery)."""
        x = np.asarray(vectors, dtype=np.float32)
        dim = x.shape[1]
        out = cls(channel, model, dim)
        out._ids = as_ids(ids).copy()
        x = as_matrix(x, dim)
        # A flat index keeps its own copy; an HNSW one only its codes (no copy made).
        out._vectors = x.copy() if choose_kind(len(out._ids)) == "flat" else None
        if len(np.unique(out._ids)) != len(out._ids):
            raise ValueError("duplicate ids")
        out._increasing = _increasing(out._ids)
        out._rebuild_faiss(x)
        out.generation = generation
        return out

    @classmethod
    def build_blocks(
        cls,
        channel: str,
        model: str,
        dim: int,
        blocks: Callable[[int | None], Iterable[tuple[np.ndarray, np.ndarray]]],
        generation: int,
        progress: Callable[[int, int], None] | None = None,
        checkpoint: BuildCheckpoint | None = None,
    ) -> VectorIndex:
        """A fresh index over vectors read block by block, so no more than a block of
        float32 rows is ever held: `blocks(None)` gives (ids, vectors) blocks and is read
        twice, first for the count and each dimension's range (what 8-bit codes are trained
        on), then to add them (`progress(added, total)` after each block). The index holds
        what the second reading gives; a vector that reading adds beyond the first one's
        ranges takes the nearest code. A catalog small enough for a flat index is held whole.

        With a `checkpoint`, an HNSW build saves what it has added now and then, and a
        build that finds a save of the same channel, model and `generation` adds only the
        blocks after it: `blocks(after)` gives those of ids above `after` (ids must rise
        from block to block). The resumed index holds the same ids and codes; its graph
        differs from an unbroken build's as two builds' random levels differ."""
        resumed = _read_checkpoint(checkpoint, channel, model, dim, generation)
        if resumed is None:
            count, low, high, small = _ranges(blocks(None), dim)
            if choose_kind(count) == "flat":
                ids = np.concatenate([i for i, _ in small] or [np.empty(0, np.int64)])
                x = np.concatenate([v for _, v in small] or [np.empty((0, dim), np.float32)])
                return cls.build(channel, model, ids, x, generation)
            index = cls(channel, model, dim)._empty_faiss("hnsw")
            # 8-bit codes train on each dimension's min and max alone (FAISS's default
            # range statistic), so the two rows of the ranges train them as every row would.
            index.train(np.stack([low, high]))
            parts: list[np.ndarray] = []
            reading = blocks(None)
        else:
            index, count = resumed.index, resumed.count
            parts = [resumed.ids]
            log.info("%s index: resumed at %d of %d vectors", channel, len(resumed.ids), count)
            reading = blocks(int(resumed.ids[-1]) if len(resumed.ids) else None)
        _reserve(index, count)
        added = index.ntotal
        saved_at = time.monotonic()
        for ids, vectors in reading:
            ids = as_ids(ids)
            labels = np.arange(added, added + len(ids), dtype=np.int64)
            index.add_with_ids(as_matrix(vectors, dim), labels)
            parts.append(ids)
            added += len(ids)
            due = checkpoint is not None and time.monotonic() - saved_at >= checkpoint.every_s
            if checkpoint is not None and due and added < count:
                parts = [np.concatenate(parts)]
                state = _state(channel, model, dim, generation) | {"count": count}
                if not _write_checkpoint(checkpoint, index, parts[0], state):
                    checkpoint = None  # a save is a convenience: the build goes on without
                saved_at = time.monotonic()
            if progress is not None:
                progress(added, count)
        out = cls(channel, model, dim)
        out._ids = np.concatenate(parts) if parts else np.empty(0, np.int64)
        if len(np.unique(out._ids)) != len(out._ids):
            raise ValueError("duplicate ids")
        out._increasing = _increasing(out._ids)
        out._adopt(index, "hnsw")
        out.generation = generation
        return out


def _ranges(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]], dim: int
) -> tuple[int, np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The count of the blocks' vectors, each dimension's minimum and maximum, and the
    blocks themselves while they are few enough for a flat index."""
    low = np.full(dim, np.inf, dtype=np.float32)
    high = np.full(dim, -np.inf, dtype=np.float32)
    count, small = 0, []
    for ids, vectors in blocks:
        x = as_matrix(vectors, dim)
        count += len(x)
        if len(x):
            np.minimum(low, x.min(axis=0), out=low)
            np.maximum(high, x.max(axis=0), out=high)
        if choose_kind(count) == "flat":
            small.append((as_ids(ids), x))
        else:
            small.clear()
    return count, low, high, small


# What a saved build must share with the build asked for, beside the catalog's state.
CHECKPOINT_FORMAT = {
    "format": 1, "m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "codec": "sq8",
}  # fmt: skip


def _state(channel: str, model: str, dim: int, generation: int) -> dict[str, Any]:
    return CHECKPOINT_FORMAT | {
        "channel": channel, "model": model, "dim": dim, "generation": generation,
    }  # fmt: skip


def _write_checkpoint(
    checkpoint: BuildCheckpoint, index: faiss.Index, ids: np.ndarray, state: dict[str, Any]
) -> bool:
    """Save a build in progress: the FAISS structure under a new token, then the state
    naming it (atomically), then drop the structure of the save before. A stop between
    the two leaves the save before whole. False when it cannot (a full disk, ids that
    do not rise, so that the next build could not tell where to resume): nothing is left
    of the attempt, and the save before stays."""
    channel = state["channel"]
    if not _increasing(ids):
        log.warning("%s index: ids out of order; this build saves nothing to resume", channel)
        return False
    token = uuid.uuid4().hex
    try:
        checkpoint.folder.mkdir(parents=True, exist_ok=True)
        for leftover in checkpoint.folder.glob(".*.tmp"):  # a save stopped part way
            leftover.unlink(missing_ok=True)
        _atomic_write_index(index, checkpoint.folder / f"index.{token}.faiss")
        payload = np.array(json.dumps(state | {"token": token}))
        _atomic_write(
            checkpoint.folder / "state.npz", lambda fh: np.savez(fh, state=payload, ids=ids)
        )
    except (OSError, RuntimeError) as exc:
        (checkpoint.folder / f"index.{token}.faiss").unlink(missing_ok=True)
        log.warning("%s index: could not save the build to resume from (%s)", channel, exc)
        return False
    for stale in checkpoint.folder.glob("index.*.faiss"):
        if stale.name != f"index.{token}.faiss":
            stale.unlink(missing_ok=True)
    log.info("%s index: %d of %d vectors saved to resume from", channel, len(ids), state["count"])
    return True


def _read_checkpoint(
    checkpoint: BuildCheckpoint | None, channel: str, model: str, dim: int, generation: int
) -> _Resumed | None:
    """The build a checkpoint saved, read into memory to add to; None when there is none,
    or it is of another channel, model, catalog generation or index format, or it is
    unreadable (then it is cleared: the build starts over)."""
    if checkpoint is None or not (checkpoint.folder / "state.npz").exists():
        return None
    want = _state(channel, model, dim, generation)
    try:
        with np.load(checkpoint.folder / "state.npz") as data:
            state, ids = json.loads(str(data["state"])), as_ids(data["ids"])
        if {k: state.get(k) for k in want} != want:
            log.info("%s index: a saved build of another catalog state; starting over", channel)
            checkpoint.clear()
            return None
        index = faiss.read_index(str(checkpoint.folder / f"index.{state['token']}.faiss"))
        count = int(state["count"])
        if index.ntotal != len(ids) or index.d != dim or not _increasing(ids):
            raise ValueError("the saved structure and its ids disagree")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            RuntimeError, zipfile.BadZipFile) as exc:  # fmt: skip
        log.warning("%s index: unreadable saved build (%s); starting over", channel, exc)
        checkpoint.clear()
        return None
    return _Resumed(index, ids, count)


def read_through(path: Path) -> None:
    """Read a file once, start to end, so that what maps it next finds its pages in the
    system's page cache instead of waiting on the disk for each one. On a cold cache the
    first pages of a million-clip home took up to 2 s (bench/serve_bench.py), and FAISS's
    own reading of a mapped index 4.8 s; reading 664 MB in order takes about 1.3 s here,
    and a file already cached about a tenth of that. Advising the system
    (POSIX_FADV_WILLNEED) read next to nothing on this machine. The system may drop the
    pages again when memory runs short."""
    buffer = bytearray(READ_AHEAD_BYTES)
    try:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buffer):
                pass
    except OSError as exc:  # gone meanwhile (a later save replaced it)
        log.debug("no read-through of %s: %s", path, exc)


def map_in(path: Path) -> None:
    """Fill in this process's page tables for every mapping of `path` (which
    `read_through` has just put in the page cache), so that a search does not stop on a
    page fault at each part of the index it is first to touch. At a million clips, 30 new
    phrases' first searches in both spaces, in a fresh process: up to 5,048 faults and 27.6
    ms for a search pair without it, none and 14.2 ms with it; filling in both indexes'
    1.4 GB took 68 ms. Where the system cannot (not Linux, or a kernel before 5.14), the
    faults come as before. Never raises: at worst the faults come as before."""
    if sys.platform != "linux":
        return
    try:
        with open("/proc/self/maps", "rb") as fh:
            maps = fh.read().splitlines()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError) as exc:
        log.debug("no page tables filled in for %s: %s", path, exc)
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    target = os.fsencode(os.path.realpath(path))
    for line in maps:  # "start-end perms offset dev inode path", the path as the kernel has it
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or fields[5] != target:
            continue
        try:
            start, end = (int(x, 16) for x in fields[0].split(b"-"))
        except ValueError:
            continue
        if madvise(start, end - start, MADV_POPULATE_READ) != 0:
            code = ctypes.get_errno()
            log.debug("no page tables filled in for %s: errno %d", path, code)
            if code == EINVAL:  # a kernel without the advice: no other mapping will take it
                return


def _inner(index: faiss.Index) -> Any:
    """The index an IndexIDMap wraps, as its own class."""
    id_map: Any = faiss.downcast_index(index)
    return faiss.downcast_index(id_map.index)


def _storage_of(index: faiss.Index) -> Any:
    """The 8-bit codes' storage of an HNSW index inside its IndexIDMap."""
    return faiss.downcast_index(_inner(index).storage)


def _merged(
    scores: np.ndarray, labels: np.ndarray, more_scores: np.ndarray, more_labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two searches' results per query row merged, best (highest) score first, k kept;
    FAISS pads a short row with label -1, which sorts last."""
    s = np.concatenate([scores, more_scores], axis=1)
    s[np.concatenate([labels, more_labels], axis=1) < 0] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    both = np.concatenate([labels, more_labels], axis=1)
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(both, order, axis=1)


def _set_ef_search(index: faiss.Index) -> None:
    """Give a loaded HNSW index (inside its IndexIDMap) the default search breadth."""
    _inner(index).hnsw.efSearch = HNSW_EF_SEARCH


def _reserve(index: faiss.Index, count: int) -> None:
    """Size an HNSW index's two largest buffers (codes, neighbour lists) for `count`
    vectors in all before the rest are added. Left to grow, each grows by copying itself
    into one twice as large, so adding vectors block by block peaks at up to half again
    the index's final size. FAISS's vectors have no `reserve`, but shrinking one keeps
    what it holds allocated, so each is grown to its size and shrunk back."""
    hnsw_index = _inner(index)
    storage = _storage_of(index)
    held = storage.codes.size()
    storage.codes.resize(max(count * storage.code_size, held))
    storage.codes.resize(held)
    # Neighbour slots a vector takes, by the level it is drawn at, averaged over the
    # levels' odds, with 1% to spare for a draw above the average.
    hnsw = hnsw_index.hnsw
    odds = faiss.vector_to_array(hnsw.assign_probas)
    slots = faiss.vector_to_array(hnsw.cum_nneighbor_per_level)[1 : len(odds) + 1]
    to_come = max(count - index.ntotal, 0)
    held = hnsw.neighbors.size()
    hnsw.neighbors.resize(held + int(to_come * float(odds @ slots) * 1.01) + 1024)
    hnsw.neighbors.resize(held)


def _increasing(ids: np.ndarray, after: np.ndarray | None = None) -> bool:
    """Whether ids rise strictly, and start above `after` (its one id, if any)."""
    if after is not None and len(after) and len(ids) and ids[0] <= after[0]:
        return False
    return bool((np.diff(ids) > 0).all())


def _faiss_path(directory: Path, channel: str, save_id: str) -> Path:
    return directory / f"{channel}.{save_id}.faiss"


def _delta_path(directory: Path, channel: str, save_id: str) -> Path:
    return directory / f"{channel}.{save_id}.delta.faiss"


def _link_or_write(mapped: Path, index: faiss.Index, path: Path) -> None:
    """Give `path` the mapped file's contents: a hard link where the file system allows
    one (no bytes copied), else `index` written out."""
    try:
        os.link(mapped, path)
    except OSError:
        _atomic_write_index(index, path)


def _atomic_write_index(index: faiss.Index, path: Path) -> None:
    """faiss.write_index to a temp file beside `path`, fsync, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(file) on a temp file beside `path`, fsync, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
