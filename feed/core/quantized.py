"""8-bit scalar-quantized vectors: a channel's (N, d) matrix in a quarter of its float32
bytes, decoded to float32 only for the rows a caller asks for.

Each dimension j keeps an offset `low[j]` and a step `step[j]` (its range over the
vectors encoded, in 255 steps); a value is stored as the nearest step, so decoding is
off by at most `step[j] / 2` in that dimension. The type answers the two ways ranking
reads a snapshot's matrix: `vectors[rows]` (a few thousand candidates; float32) and
`vectors @ q` (every row against one query, computed in blocks so no float32 copy of
the whole matrix is ever made).

The codes may be the matrix's own array, or borrowed from a search index that holds the
same vectors as 8-bit codes on the same kind of ranges (`BorrowedCodes`), so a catalog
is not held twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

LEVELS = 255
BLOCK_ROWS = 32_768  # rows decoded at a time by a whole-matrix product (~64 MiB at 512-d)
DOT_CHUNK = 512  # rows per step of `dots`: 256 KiB of codes, 1 MiB decoded at 512-d


class CodeSource(Protocol):
    """Where borrowed codes live: rows taken by label, as `np.ndarray.take` takes them."""

    def take(self, indices: np.ndarray, axis: int, out: np.ndarray) -> np.ndarray: ...


class BorrowedCodes:
    """Codes another structure holds (a search index's storage), read by row through a
    row → label map, so a snapshot and an index do not keep the same codes twice.

    `source.take(labels, axis=0, out=...)` copies the owner's codes of those labels (an
    index's `IndexCodes`, or a (labels, d) uint8 array), while `guard()` is held: the
    owner may move them when it changes, never while guarded.
    Reads copy the rows out under the guard. A row whose label is -1 (the owner has no
    vector for it) reads as `fill`. Supports what `QuantizedVectors` asks of its codes:
    `shape`, `len`, indexing by row, slice or mask (a copy), and `take`."""

    dtype = np.dtype(np.uint8)

    def __init__(
        self,
        source: CodeSource,
        guard: Callable[[], AbstractContextManager[object]],
        labels: np.ndarray,
        fill: np.ndarray,
    ) -> None:
        self.source = source
        self.guard = guard
        self.labels = labels  # int64 (N,)
        self.fill = fill  # uint8 (d,)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.labels), len(self.fill))

    @property
    def nbytes(self) -> int:
        """Bytes this holds itself: the labels (the codes are the owner's)."""
        return int(self.labels.nbytes)

    def __len__(self) -> int:
        return len(self.labels)

    def with_labels(self, labels: np.ndarray) -> BorrowedCodes:
        """The same owner's codes for other rows."""
        return BorrowedCodes(self.source, self.guard, labels, self.fill)

    def __getitem__(self, rows: np.ndarray | slice | list[int] | int) -> np.ndarray:
        labels = self.labels[rows]
        if np.ndim(labels) == 0:
            return self.take(np.asarray([rows]).reshape(1))[0]
        out = np.empty((len(labels), len(self.fill)), dtype=np.uint8)
        return self._gather(np.asarray(labels), out)

    def take(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The codes of the given rows, uint8 (len(rows), d) (into `out` when given)."""
        if out is None:
            out = np.empty((len(rows), len(self.fill)), dtype=np.uint8)
        return self._gather(self.labels[rows], out)

    def _gather(self, labels: np.ndarray, out: np.ndarray) -> np.ndarray:
        missing = labels < 0
        if missing.all():
            out[:] = self.fill
            return out
        some_missing = bool(missing.any())
        if some_missing:
            labels = np.where(missing, 0, labels)
        with self.guard():
            self.source.take(labels, axis=0, out=out)
        if some_missing:
            out[missing] = self.fill
        return out


def take_codes(codes: np.ndarray | BorrowedCodes, rows: np.ndarray, out: np.ndarray) -> None:
    """Copy the codes of `rows` into `out` (len(rows), d), whatever holds them."""
    if isinstance(codes, BorrowedCodes):
        codes.take(rows, out)
    else:
        np.take(codes, rows, axis=0, out=out)


@dataclass(frozen=True, eq=False)
class QuantizedVectors:
    """(N, d) vectors stored as uint8 codes with a per-dimension offset and step.

    A vector added after the ranges were set that they cannot hold (`held`) keeps its
    float32 copy in `exact_rows` / `exact_vectors`, and every read of that row uses it:
    a new clip outside the ranges costs one row, not a re-encoding of the catalog.
    """

    codes: np.ndarray | BorrowedCodes  # uint8 (N, d)
    low: np.ndarray  # float32 (d,)
    step: np.ndarray  # float32 (d,)
    exact_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # sorted
    exact_vectors: np.ndarray | None = None  # float32 (len(exact_rows), d)

    def with_exact(self, rows: np.ndarray, vectors: np.ndarray) -> QuantizedVectors:
        """These vectors with float32 copies kept for more rows (rows past every kept one)."""
        kept = (
            np.empty((0, self.codes.shape[1]), np.float32)
            if self.exact_vectors is None
            else self.exact_vectors
        )
        return replace(
            self,
            exact_rows=np.concatenate([self.exact_rows, np.asarray(rows, np.int64)]),
            exact_vectors=np.concatenate([kept, np.asarray(vectors, np.float32)]),
        )

    def _exact_among(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in `rows` of rows kept exact, and where each sits in `exact_vectors`."""
        if not len(self.exact_rows) or not len(rows):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        at = np.minimum(np.searchsorted(self.exact_rows, rows), len(self.exact_rows) - 1)
        hit = np.flatnonzero(self.exact_rows[at] == rows)
        return hit, at[hit]

    @property
    def shape(self) -> tuple[int, int]:
        """(N, d), as the float32 matrix it stands for."""
        return self.codes.shape  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        """Bytes held (codes and the two per-dimension arrays)."""
        exact = 0 if self.exact_vectors is None else self.exact_vectors.nbytes
        return int(self.codes.nbytes + self.low.nbytes + self.step.nbytes + exact)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, rows: np.ndarray | list[int] | int) -> np.ndarray:
        """Decoded float32 vectors of the given rows ((len(rows), d), or (d,) for one)."""
        out = self._decoded(self.codes[rows])
        if not len(self.exact_rows):
            return out
        if isinstance(rows, slice):
            asked = np.arange(*rows.indices(len(self.codes)))
        else:
            asked = np.asarray(rows)
            asked = np.flatnonzero(asked) if asked.dtype == bool else asked.astype(np.int64)
        hit, at = self._exact_among(asked.reshape(-1))
        if not len(hit):
            return out
        exact = self.exact_vectors[at]  # type: ignore[index]
        if asked.ndim == 0:  # one row asked: (d,)
            return exact[0].copy()
        out[hit] = exact
        return out

    def _decoded(self, codes: np.ndarray) -> np.ndarray:
        """float32 vectors of uint8 codes on this matrix's ranges."""
        out = codes.astype(np.float32)
        out *= self.step
        out += self.low
        return out

    def dots(self, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The given rows' dot products with q (d,), float32 (len(rows),), without decoding
        them: each is its codes against `step * q`, plus `low @ q`.

        Rows are read in ascending order, DOT_CHUNK at a time into buffers that stay in
        cache (a page's few thousand candidates: 1.0 ms instead of 3.8 ms at 512-d over a
        million rows, where gathering in request order and converting the whole block to
        float32 at once went to memory three times)."""
        q = np.asarray(q, dtype=np.float32)
        return self.dots_many(rows, q[None, :])[:, 0]

    def dots_many(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """The given rows' dot products with each of several queries (p, d), float32
        (len(rows), p): the rows are read once for all of them (see `dots`)."""
        queries = np.asarray(queries, dtype=np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        w = np.ascontiguousarray((self.step * queries).T)  # (d, p)
        n, d = len(rows), self.codes.shape[1]
        p = len(queries)
        if n == 0:
            return np.empty((0, p), dtype=np.float32)
        order = None
        if n > 1 and (rows[1:] < rows[:-1]).any():
            order = np.argsort(rows, kind="stable")
            rows = rows[order]
        out = np.empty((n, p), dtype=np.float32)
        chunk = min(n, DOT_CHUNK)
        codes = np.empty((chunk, d), dtype=np.uint8)
        decoded = np.empty((chunk, d), dtype=np.float32)
        for start in range(0, n, chunk):
            part = rows[start : start + chunk]
            k = len(part)
            take_codes(self.codes, part, codes[:k])
            decoded[:k] = codes[:k]
            np.matmul(decoded[:k], w, out=out[start : start + k])
        out += (queries @ self.low).astype(np.float32)
        hit, at = self._exact_among(rows)
        if len(hit):
            out[hit] = self.exact_vectors[at] @ queries.T  # type: ignore[index]
        if order is None:
            return out
        unsorted = np.empty_like(out)
        unsorted[order] = out
        return unsorted

    __getitem__ = rows

    def __matmul__(self, q: np.ndarray) -> np.ndarray:
        """Every row's dot product with q (d,), float32 (N,), computed block by block."""
        q = np.asarray(q, dtype=np.float32)
        scaled = self.step * q
        offset = np.float32(self.low @ q)
        out = np.empty(len(self.codes), dtype=np.float32)
        for start in range(0, len(self.codes), BLOCK_ROWS):
            block = self.codes[start : start + BLOCK_ROWS].astype(np.float32)
            out[start : start + BLOCK_ROWS] = block @ scaled + offset
        if len(self.exact_rows):
            out[self.exact_rows] = self.exact_vectors @ q  # type: ignore[operator]
        return out

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes of more float32 vectors (k, d) on this matrix's per-dimension ranges; a
        value outside its dimension's range takes the nearest end."""
        return _codes(vectors, self.low, self.step)

    def holds(self, vectors: np.ndarray) -> bool:
        """Whether `encode` keeps every one of these vectors within twice the error a
        vector inside the ranges can have, in L2 norm (which bounds the error of its dot
        product with a unit query); a value far outside its dimension's range is not."""
        return bool(self.held(vectors).all())

    def held(self, vectors: np.ndarray) -> np.ndarray:
        """Per vector, whether `encode` holds it (see `holds`), bool (k,)."""
        return self._within(self._decoded(self.encode(vectors)), vectors)

    def codes_hold(self, rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Per row, whether its codes (not a float32 copy kept for it) decode to within
        the error `holds` allows of the vector given for it, bool (len(rows),): borrowed
        codes are checked against the vectors they stand for this way."""
        return self._within(self._decoded(self.codes[rows]), vectors)

    def _within(self, decoded: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        bound = 2.0 * float(np.linalg.norm(self.step / 2))
        return np.asarray(np.linalg.norm(decoded - vectors, axis=1) <= bound)

    def dense(self) -> np.ndarray:
        """The whole matrix decoded, float32 (N, d) (for offline use on small catalogs)."""
        return self.rows(slice(None))  # type: ignore[arg-type]


# A snapshot channel's matrix: float32 (N, d), or its 8-bit codes in a large catalog.
Matrix = np.ndarray | QuantizedVectors


def row_dots_many(matrix: Matrix, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Dot products of the given rows of `matrix` with each query (p, d), float32
    (len(rows), p), the rows read once."""
    if isinstance(matrix, QuantizedVectors):
        return matrix.dots_many(rows, queries)
    return matrix[rows] @ np.asarray(queries, dtype=np.float32).T


def _widen(vectors: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Widen `low` and `high` (d,) in place to cover every row of `vectors`."""
    if len(vectors):
        np.minimum(low, vectors.min(axis=0), out=low)
        np.maximum(high, vectors.max(axis=0), out=high)


def quantize(vectors: np.ndarray, room: int = 0) -> QuantizedVectors:
    """Encode float32 (N, d) vectors, range per dimension taken from every row (block by
    block, so the only float32 copy held is a block). With `room`, the codes are the first
    N rows of a buffer that many rows longer (see `spare_rows`), so a snapshot grows into
    it without copying them; untouched, the spare rows take no memory."""
    n, d = vectors.shape

    def blocks() -> Iterator[tuple[slice, np.ndarray]]:
        for start in range(0, n, BLOCK_ROWS):
            yield slice(start, start + BLOCK_ROWS), vectors[start : start + BLOCK_ROWS]

    return quantize_blocks(n, d, blocks, room)


def quantize_blocks(
    n: int,
    dim: int,
    blocks: Callable[[], Iterable[tuple[np.ndarray | slice, np.ndarray]]],
    room: int = 0,
) -> QuantizedVectors:
    """8-bit codes of the (n, dim) matrix whose rows `blocks()` gives as (rows, float32
    vectors) blocks, a row no block gives being zero, without ever holding more float32
    than a block: `blocks()` is read twice, for each dimension's range over every row
    and then the codes (laid out as `quantize` says)."""
    low = np.full(dim, np.inf, dtype=np.float32)
    high = np.full(dim, -np.inf, dtype=np.float32)
    given = np.zeros(n, dtype=bool)
    for rows, vectors in blocks():
        _widen(vectors, low, high)
        given[rows] = True
    if not given.all():  # the zero rows count, as any other row does
        _widen(np.zeros((1, dim), dtype=np.float32), low, high)
    if not n:
        low[:], high[:] = 0.0, 0.0
    step = np.maximum(high - low, 1e-12).astype(np.float32) / LEVELS
    codes = np.empty((n + room, dim), dtype=np.uint8)[:n]
    codes[~given] = _codes(np.zeros((1, dim), dtype=np.float32), low, step)[0]
    for rows, vectors in blocks():
        codes[rows] = _codes(vectors, low, step)
    return QuantizedVectors(codes, low, step)


def spare_rows(array: np.ndarray) -> np.ndarray:
    """The writable buffer `array` is the first rows of (same dtype and row shape, starting
    at the same address), or `array` itself when it is not such a view."""
    base = array.base
    if (
        isinstance(base, np.ndarray)
        and base.dtype == array.dtype
        and base.shape[1:] == array.shape[1:]
        and len(base) >= len(array)
        and base.flags.c_contiguous
        and base.flags.writeable
        and base.__array_interface__["data"][0] == array.__array_interface__["data"][0]
    ):
        return base
    return array


def _codes(vectors: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """uint8 codes (N, d) of float32 vectors, block by block."""
    codes = np.empty(vectors.shape, dtype=np.uint8)
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = (vectors[start : start + BLOCK_ROWS] - low) / step
        codes[start : start + BLOCK_ROWS] = np.clip(np.rint(block), 0, LEVELS)
    return codes
