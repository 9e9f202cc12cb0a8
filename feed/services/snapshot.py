"""A columnar, in-memory view of the catalog for ranking: one row per clip.

Rows follow the text index's order, so the text vectors are the index's own
array (no copy). The snapshot is rebuilt when the catalog generation moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from feed.core.ranking import ClipTexts
from feed.services.clips import TEXT, Engine
from feed.storage.catalog import embedding_text


@dataclass(frozen=True)
class CatalogSnapshot:
    """Clips as arrays aligned by row; `vectors[c]` is (N, d) with `has[c]` (N,) marking
    rows that have channel c (missing rows are zero)."""

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
    vectors: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    newest_first: np.ndarray
    texts: ClipTexts | None = None  # each clip's prompt, caption and tags

    def __len__(self) -> int:
        return len(self.seqs)

    def rows_for_ids(self, clip_ids: list[str] | set[str]) -> np.ndarray:
        """Rows of the given clip ids that are in the snapshot (unknown ids dropped)."""
        rows = [self.row_of_id[c] for c in clip_ids if c in self.row_of_id]
        return np.asarray(rows, dtype=np.int64)

    def rows_for_seqs(self, seqs: np.ndarray) -> np.ndarray:
        """Rows of the given catalog seqs that are in the snapshot (unknown seqs dropped)."""
        rows = [self.row_of_seq[s] for s in seqs.tolist() if s in self.row_of_seq]
        return np.asarray(rows, dtype=np.int64)

    def creator_code(self, handle: str) -> int:
        """Code of a creator handle, or -1 if no clip of theirs is in the snapshot."""
        try:
            return self.creator_names.index(handle)
        except ValueError:
            return -1


def build_snapshot(engine: Engine) -> CatalogSnapshot:
    """Read the catalog and indexes into a snapshot (one catalog pass)."""
    with engine.lock.read():
        return _build(engine)


def _build(engine: Engine) -> CatalogSnapshot:
    text_index = engine.indexes[TEXT]
    seqs = text_index.ids.copy()
    clips = engine.catalog.get_many(seqs.tolist())
    keep = np.array([int(s) in clips for s in seqs.tolist()], dtype=bool)
    seqs = seqs[keep]
    text_vectors = text_index.vectors[keep] if not keep.all() else text_index.vectors
    ordered = [clips[int(s)] for s in seqs.tolist()]
    clip_ids = tuple(c.id for c in ordered)
    row_of_id = {cid: row for row, cid in enumerate(clip_ids)}
    creator_names = tuple(sorted({c.creator for c in ordered}))
    code_of = {name: i for i, name in enumerate(creator_names)}
    created_at = np.array([c.created_at for c in ordered], dtype=np.float64)
    vectors = {TEXT: text_vectors}
    has = {TEXT: np.ones(len(seqs), dtype=bool)}
    for channel, index in engine.indexes.items():
        if channel == TEXT:
            continue
        present = np.array([int(s) in index for s in seqs.tolist()], dtype=bool)
        matrix = np.zeros((len(seqs), index.dim), dtype=np.float32)
        if present.any():
            matrix[present] = index.vectors_for(seqs[present])
        vectors[channel] = matrix
        has[channel] = present
    return CatalogSnapshot(
        generation=engine.catalog.generation,
        seqs=seqs,
        clip_ids=clip_ids,
        row_of_id=row_of_id,
        row_of_seq={int(s): row for row, s in enumerate(seqs.tolist())},
        created_at=created_at,
        duration_s=np.array(
            [np.nan if c.duration_s is None else c.duration_s for c in ordered], dtype=np.float64
        ),
        creator_codes=np.array([code_of[c.creator] for c in ordered], dtype=np.int32),
        creator_names=creator_names,
        remix_of_row=np.array(
            [row_of_id.get(c.remix_of, -1) if c.remix_of else -1 for c in ordered], dtype=np.int64
        ),
        cameos=tuple(c.cameos for c in ordered),
        cameo_rows=np.flatnonzero([bool(c.cameos) for c in ordered]).astype(np.int64),
        vectors=vectors,
        has=has,
        newest_first=np.argsort(-created_at, kind="stable"),
        texts=ClipTexts.of([embedding_text(c.prompt, c.caption, c.tags) for c in ordered]),
    )
