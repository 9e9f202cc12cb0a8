"""faiss://<folder>: one FAISS index file per channel, kept consistent with the catalog.

The catalog commits first; an index found behind it (on open, or while serving when
another process moved the catalog) catches up from the catalog's change log, one found
ahead of it (or of another model) is rebuilt from the catalog's vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.index import BuildCheckpoint, IndexMismatchError, VectorIndex
from feed.storage.interfaces import Catalog
from feed.storage.interfaces import VectorIndex as SearchIndex

log = logging.getLogger(__name__)


def catch_up(
    index: SearchIndex, catalog: Catalog, generation: int | None = None
) -> tuple[int, int]:
    """Apply the catalog's changes after the index's generation to the index, which is
    then at `generation` (the catalog's, read first when not given); returns how many
    vectors were upserted and removed.

    The generation is read before the change log, so a write committed in between is
    applied now and again (to the same effect) by the next catch-up, never missed.
    """
    target = catalog.generation if generation is None else generation
    changes = catalog.channel_changes(index.channel, index.generation)
    removed = index.remove(changes.removed) if len(changes.removed) else 0
    if len(changes.upserted.seqs):
        index.upsert(changes.upserted.seqs, changes.upserted.vectors)
    index.generation = max(index.generation, target)
    return len(changes.upserted.seqs), removed


def caught_up_on_open(index: SearchIndex, catalog: Catalog, save: Callable[[Any], None]) -> None:
    """An index just opened behind the catalog: caught up from its change log and saved
    at the catalog's generation (an index in step is left as it is)."""
    if index.generation < catalog.generation:
        upserted, removed = catch_up(index, catalog)
        log.info("%s index caught up: %d upserted, %d removed", index.channel, upserted, removed)
        save(index)


class FaissIndexes:
    """Channel indexes saved as files (with a manifest) under one folder."""

    # A large build saves what it has added this often (seconds), and one stopped part
    # way resumes from its last save when the catalog has not moved since.
    checkpoint_every_s = 600.0

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self, channel: str, model: str, dim: int, catalog: Catalog) -> VectorIndex:
        """The channel's saved index, caught up with the catalog (or rebuilt from it)."""
        try:
            index = VectorIndex.load(self.folder, channel, model, dim)
        except IndexMismatchError as exc:
            if catalog.count():
                log.warning("%s; rebuilding the %s index from the catalog", exc, channel)
            return self.build(channel, model, dim, catalog)
        if index.generation > catalog.generation:
            log.warning("%s index is ahead of the catalog; rebuilding", channel)
            return self.build(channel, model, dim, catalog)
        caught_up_on_open(index, catalog, self.save)
        return index

    def build(self, channel: str, model: str, dim: int, catalog: Catalog) -> VectorIndex:
        """A new index of every vector the catalog holds for the channel, saved."""
        # The generation before the vectors: a write in between is applied again by the
        # next catch-up (to the same effect), never missed.
        generation = catalog.generation

        def blocks(after: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for block in catalog.channel_blocks(channel, after=after):
                yield block.seqs, block.vectors

        logged = [0]  # the twentieths logged so far

        def progress(added: int, total: int) -> None:
            # A line each twentieth: 610 blocks at 10,000,000 vectors.
            twentieths = added * 20 // max(total, 1)
            if twentieths > logged[0]:
                logged[0] = twentieths
                log.info("%s index: %d of %d vectors added", channel, added, total)

        checkpoint = BuildCheckpoint(self.folder / f"{channel}.building", self.checkpoint_every_s)
        with checkpoint.claimed() as mine:
            index = VectorIndex.build_blocks(
                channel, model, dim, blocks, generation, progress, checkpoint if mine else None
            )
            if mine:  # built whole: the last save goes before the index is written (disk)
                checkpoint.clear()
        self.save(index)
        if index.kind != "hnsw":
            return index
        # Served from its file, mapped as a restarted server would (embeddings/index.py):
        # the built copy's memory is given back before the next channel builds.
        del index
        return VectorIndex.load(self.folder, channel, model, dim)

    def save(self, index: VectorIndex) -> None:  # type: ignore[override]
        """Write the index (atomically) at its generation."""
        index.save(self.folder)

    def close(self) -> None:
        """Nothing to release: each save wrote its files whole."""
