"""A home's index build stopped part way resumes from its last save (faiss://)."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings import index as index_mod
from embeddings.index import VectorIndex
from feed.storage import catalog as catalog_mod
from feed.storage.catalog import ClipRecord
from feed.storage.stores import open_store
from feed.storage.vectors import FaissIndexes

DIM = 16


class StopsPartWay:
    """A catalog whose channel reads stop the process after `blocks` blocks, from the
    second read on (the first is the build's pass over the ranges)."""

    def __init__(self, catalog, blocks: int) -> None:
        self.catalog, self.blocks, self.reads = catalog, blocks, 0

    def __getattr__(self, name):
        return getattr(self.catalog, name)

    def channel_blocks(self, channel, rows=None, after=None):
        self.reads += 1
        for n, block in enumerate(self.catalog.channel_blocks(channel, rows, after)):
            if self.reads > 1 and n == self.blocks:
                raise KeyboardInterrupt
            yield block


def test_a_stopped_build_resumes_and_its_saves_go_once_it_is_done(tmp_path, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    monkeypatch.setattr(FaissIndexes, "checkpoint_every_s", 0.0)  # a save after every block
    monkeypatch.setattr(catalog_mod, "CHANNEL_BLOCK_ROWS", 100)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((450, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = open_store("catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    records = [
        ClipRecord(id=f"c{i}", prompt=f"p{i}", creator="ann", created_at=1.0) for i in range(450)
    ]
    seqs = catalog.upsert_clips(records, {"text": ("m", vectors)})
    indexes = FaissIndexes(tmp_path / "index")
    stopping = StopsPartWay(catalog, blocks=2)
    with pytest.raises(KeyboardInterrupt):
        indexes.build("text", "m", DIM, stopping)
    assert (tmp_path / "index" / "text.building" / "state.npz").exists()
    resumed = StopsPartWay(catalog, blocks=10**9)
    built = indexes.open("text", "m", DIM, resumed)  # no saved index: built, resumed
    assert resumed.reads == 1  # the blocks after the save only
    assert not (tmp_path / "index" / "text.building").exists()
    np.testing.assert_array_equal(built.ids, seqs)
    assert built.mapped and built.generation == catalog.generation
    assert [h.ids[0] for h in built.search(vectors[::9], 1)] == list(seqs[::9])
    again = VectorIndex.load(tmp_path / "index", "text", "m", DIM)
    np.testing.assert_array_equal(again.ids, seqs)
    catalog.close()
