"""The catalog as experiments see it: clip ids, tags, creators and text vectors by row.

Tags are used only to simulate users and to score steering; rankers never see
them. Rows follow the engine's snapshot, so vectors are the ones ranking uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from feed.core.quantized import Matrix, QuantizedVectors
from feed.services.clips import TEXT, ClipStore
from feed.services.snapshot import build_snapshot


@dataclass(frozen=True)
class ClipTable:
    """Clips by row: `vectors` (N, d) float32 text vectors, `creator_codes` (N,) int into
    `creator_names`, `duration_s` (N,) with nan where unknown."""

    ids: tuple[str, ...]
    row_of_id: dict[str, int]
    tags: tuple[tuple[str, ...], ...]
    creator_codes: np.ndarray
    creator_names: tuple[str, ...]
    vectors: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, clip_ids: Iterable[str]) -> np.ndarray:
        """Rows (int64) of the given clip ids, unknown ids dropped."""
        return np.asarray([self.row_of_id[c] for c in clip_ids if c in self.row_of_id], np.int64)

    def tag_mask(self, tag: str) -> np.ndarray:
        """Rows (N,) whose tags include `tag`."""
        return np.array([tag in t for t in self.tags], dtype=bool)


def build_clip_table(engine: ClipStore) -> ClipTable:
    """Read the engine's catalog into a table aligned with its ranking snapshot."""
    snap = build_snapshot(engine)
    clips = engine.catalog.get_many([int(s) for s in snap.seqs.tolist()])
    tags = tuple(clips[int(s)].tags for s in snap.seqs.tolist())
    return ClipTable(
        ids=tuple(snap.clip_ids.tolist()),
        row_of_id=dict(snap.row_of_id.items()),
        tags=tags,
        creator_codes=snap.creator_codes.astype(np.int64),
        creator_names=snap.creator_names,
        vectors=_dense(snap.vectors[TEXT]),
        duration_s=snap.duration_s,
    )


def _dense(matrix: Matrix) -> np.ndarray:
    """A snapshot channel's matrix as float32 (N, d) (8-bit codes decoded)."""
    if isinstance(matrix, QuantizedVectors):
        return matrix.dense()
    return np.ascontiguousarray(matrix, dtype=np.float32)
