"""8-bit scalar-quantized vectors: a channel's (N, d) matrix in a quarter of its float32
bytes, decoded to float32 only for the rows a caller asks for.

Each dimension j keeps an offset `low[j]` and a step `step[j]` (its range over the
vectors encoded, in 255 steps); a value is stored as the nearest step, so decoding is
off by at most `step[j] / 2` in that dimension. The type answers the two ways ranking
reads a snapshot's matrix: `vectors[rows]` (a few thousand candidates; float32) and
`vectors @ q` (every row against one query, computed in blocks so no float32 copy of
the whole matrix is ever made).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = 255
BLOCK_ROWS = 32_768  # rows decoded at a time by a whole-matrix product (~64 MiB at 512-d)


@dataclass(frozen=True, eq=False)
class QuantizedVectors:
    """(N, d) vectors stored as uint8 codes with a per-dimension offset and step."""

    codes: np.ndarray  # uint8 (N, d)
    low: np.ndarray  # float32 (d,)
    step: np.ndarray  # float32 (d,)

    @property
    def shape(self) -> tuple[int, int]:
        """(N, d), as the float32 matrix it stands for."""
        return self.codes.shape  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        """Bytes held (codes and the two per-dimension arrays)."""
        return int(self.codes.nbytes + self.low.nbytes + self.step.nbytes)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, rows: np.ndarray | list[int] | int) -> np.ndarray:
        """Decoded float32 vectors of the given rows ((len(rows), d), or (d,) for one)."""
        return self._decoded(self.codes[rows])

    def _decoded(self, codes: np.ndarray) -> np.ndarray:
        """float32 vectors of uint8 codes on this matrix's ranges."""
        return (codes.astype(np.float32) * self.step + self.low).astype(np.float32, copy=False)

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
        return out

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes of more float32 vectors (k, d) on this matrix's per-dimension ranges; a
        value outside its dimension's range takes the nearest end."""
        return _codes(vectors, self.low, self.step)

    def holds(self, vectors: np.ndarray) -> bool:
        """Whether `encode` keeps every one of these vectors within twice the error a
        vector inside the ranges can have, in L2 norm (which bounds the error of its dot
        product with a unit query); a value far outside its dimension's range is not."""
        decoded = self._decoded(self.encode(vectors))
        bound = 2.0 * float(np.linalg.norm(self.step / 2))
        return bool((np.linalg.norm(decoded - vectors, axis=1) <= bound).all())

    def dense(self) -> np.ndarray:
        """The whole matrix decoded, float32 (N, d) (for offline use on small catalogs)."""
        return self.rows(slice(None))  # type: ignore[arg-type]


# A snapshot channel's matrix: float32 (N, d), or its 8-bit codes in a large catalog.
Matrix = np.ndarray | QuantizedVectors


def _widen(vectors: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    """Widen `low` and `high` (d,) in place to cover every row of `vectors`."""
    if len(vectors):
        np.minimum(low, vectors.min(axis=0), out=low)
        np.maximum(high, vectors.max(axis=0), out=high)


def quantize(vectors: np.ndarray) -> QuantizedVectors:
    """Encode float32 (N, d) vectors, range per dimension taken from every row (block by
    block, so the only float32 copy held is a block)."""
    n, d = vectors.shape
    low = np.full(d, np.inf, dtype=np.float32)
    high = np.full(d, -np.inf, dtype=np.float32)
    for start in range(0, n, BLOCK_ROWS):
        _widen(vectors[start : start + BLOCK_ROWS], low, high)
    if not n:
        low[:], high[:] = 0.0, 0.0
    step = np.maximum(high - low, 1e-12).astype(np.float32) / LEVELS
    return QuantizedVectors(_codes(vectors, low, step), low, step)


def _codes(vectors: np.ndarray, low: np.ndarray, step: np.ndarray) -> np.ndarray:
    """uint8 codes (N, d) of float32 vectors, block by block."""
    codes = np.empty(vectors.shape, dtype=np.uint8)
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = (vectors[start : start + BLOCK_ROWS] - low) / step
        codes[start : start + BLOCK_ROWS] = np.clip(np.rint(block), 0, LEVELS)
    return codes
