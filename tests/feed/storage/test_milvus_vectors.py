"""What the Milvus backend adds to the vector contract: collection names, prefixes that
keep indexes apart, a collection lost behind the index's back, and the index kind the URL
asks for. Run on milvus-lite files (the same client a server gets)."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus import MilvusClient

from feed.storage.catalog import Catalog, ClipRecord
from feed.storage.milvus import MilvusIndexes, collection_name

DIM = 8


@pytest.fixture
def catalog(tmp_path, rng):
    """A catalog of five clips with unit text vectors of model "m"."""
    opened = Catalog(tmp_path / "catalog.sqlite")
    vectors = rng.standard_normal((5, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [ClipRecord(id=f"c{i}", prompt=f"p{i}", creator="ann", created_at=1.0)
               for i in range(5)]  # fmt: skip
    opened.upsert_clips(records, {"text": ("m", vectors)})
    yield opened
    opened.close()


@pytest.fixture
def milvus(tmp_path):
    """Opens MilvusIndexes on one milvus-lite file (query options appended); all closed
    at the end."""
    opened: list[MilvusIndexes] = []

    def open_(query: str = "") -> MilvusIndexes:
        opened.append(MilvusIndexes(f"milvus://{tmp_path / 'vectors.db'}{query}"))
        return opened[-1]

    yield open_
    for indexes in opened:
        indexes.close()


def test_collections_are_named_by_prefix_and_channel_and_kept_apart():
    assert collection_name("steerfeed", "text") == "steerfeed_vectors_text"
    assert collection_name("feed_a", "text") == "feed_a_vectors_text"
    look_alikes = {collection_name("p", c) for c in ("a-b", "a_b", "a.b", "")}
    assert len(look_alikes) == 4
    assert all(name.replace("_", "").isalnum() for name in look_alikes)


def test_prefixes_keep_two_sets_of_indexes_apart(milvus, catalog):
    index = milvus().build("text", "m", DIM, catalog)
    index.upsert(np.array([777]), np.ones((1, DIM), np.float32) / np.sqrt(DIM))
    other = milvus("?prefix=replica_b").open("text", "m", DIM, catalog)
    assert len(other) == 5 and 777 not in other
    assert 777 in milvus().open("text", "m", DIM, catalog)


def test_a_collection_dropped_behind_the_index_is_rebuilt(milvus, catalog, caplog, tmp_path):
    index = milvus().build("text", "m", DIM, catalog)
    admin = MilvusClient(str(tmp_path / "vectors.db"))  # the file's server, already running
    admin.drop_collection(index.collection)
    admin.close()
    again = milvus().open("text", "m", DIM, catalog)
    assert "collection steerfeed_vectors_text is missing" in caplog.text
    assert len(again) == 5 and again.generation == catalog.generation


def test_the_index_kind_follows_the_url(milvus, catalog):
    seqs = catalog.channel_vectors("text").seqs
    flat = milvus().build("text", "m", DIM, catalog)
    query = flat.vectors_for(seqs[2:3])
    hnsw = milvus("?index=hnsw").open("text", "m", DIM, catalog)  # FLAT found: rebuilt
    assert hnsw.kind == "HNSW" and len(hnsw) == 5
    (hits,) = hnsw.search(query, 3)
    assert hits.ids[0] == seqs[2] and hits.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert milvus("?index=HNSW").open("text", "m", DIM, catalog).kind == "HNSW"
