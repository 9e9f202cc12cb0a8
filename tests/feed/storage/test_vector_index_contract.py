"""The vector index contract: every VectorIndexes backend runs this suite, against a real
catalog (of each backend) whose change log it catches up from.

A new backend (Milvus, say) joins by adding one entry to BACKENDS: a function that, given
a test's tmp_path, returns the URL of an empty place for indexes for `open_store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from feed.storage.catalog import ClipRecord
from feed.storage.interfaces import Catalog, VectorIndex, VectorIndexes
from feed.storage.stores import open_store

DIM = 8
MODEL = "m"
Opener = Callable[[], VectorIndexes]


def _faiss(tmp_path: Path) -> str:
    return f"faiss://{tmp_path / 'index'}"


def _milvus(tmp_path: Path) -> str:
    return f"milvus://{tmp_path / 'vectors.db'}"  # a milvus-lite file: the client, no server


BACKENDS: dict[str, Callable[[Path], str]] = {"faiss": _faiss, "milvus": _milvus}


@pytest.fixture(params=sorted(BACKENDS))
def open_indexes(request, tmp_path) -> Iterator[Opener]:
    """Opens the backend's indexes; each call opens the same saved indexes again."""
    url = BACKENDS[request.param](tmp_path)
    opened: list[VectorIndexes] = []

    def reopen() -> VectorIndexes:
        opened.append(open_store("vectors", url))
        return opened[-1]

    yield reopen
    for indexes in opened:
        indexes.close()


def _sqlite_catalog(request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{request.getfixturevalue('tmp_path') / 'catalog.sqlite'}"


def _postgresql_catalog(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("postgres_url"))


# Indexes catch up from a catalog only through the Catalog protocol: each backend of it.
CATALOGS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite_catalog,
    "postgresql": _postgresql_catalog,
}


@pytest.fixture(params=sorted(CATALOGS))
def catalog(request) -> Iterator[Catalog]:
    """An empty catalog, the source of truth the indexes follow."""
    opened = open_store("catalog", CATALOGS[request.param](request))
    yield opened
    opened.close()


def unit(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add(catalog: Catalog, ids: list[str], vectors: np.ndarray) -> list[int]:
    records = [ClipRecord(id=i, prompt=f"prompt {i}", creator="ann", created_at=1000.0)
               for i in ids]  # fmt: skip
    return catalog.upsert_clips(records, {"text": (MODEL, vectors)})


@pytest.fixture
def stocked(catalog, rng) -> dict[str, int]:
    """Six clips with random text vectors; clip id → seq."""
    ids = [f"c{i}" for i in range(6)]
    return dict(zip(ids, add(catalog, ids, unit(rng.standard_normal((6, DIM)))), strict=True))


def assert_holds_the_catalog(index: VectorIndex, catalog: Catalog) -> None:
    """The index holds exactly the catalog's text vectors, at its generation."""
    stored = catalog.channel_vectors("text")
    assert len(index) == len(stored.seqs)
    assert all(int(s) in index for s in stored.seqs)
    np.testing.assert_array_equal(index.vectors_for(stored.seqs), stored.vectors)
    assert index.generation == catalog.generation


def test_build_holds_every_catalog_vector_of_the_channel(open_indexes, catalog, stocked):
    index = open_indexes().build("text", MODEL, DIM, catalog)
    assert_holds_the_catalog(index, catalog)
    assert 999_999 not in index
    assert_holds_the_catalog(open_indexes().open("text", MODEL, DIM, catalog), catalog)


def test_search_returns_the_nearest_by_inner_product(open_indexes, catalog, rng):
    query = unit(rng.standard_normal(DIM))
    near = unit(query + 0.1 * rng.standard_normal(DIM))
    middling = unit(query + 1.0 * rng.standard_normal(DIM))
    far = -query
    seq_far, seq_near, seq_mid = add(catalog, ["far", "near", "mid"],
                                     np.concatenate([far, near, middling]))  # fmt: skip
    index = open_indexes().build("text", MODEL, DIM, catalog)
    hits = index.search(np.concatenate([query, -query]), k=2)
    assert len(hits) == 2
    assert hits[0].ids.tolist() == [seq_near, seq_mid]
    assert hits[1].ids.tolist()[0] == seq_far
    expected = index.vectors_for(hits[0].ids) @ query[0]
    np.testing.assert_allclose(hits[0].scores, expected, rtol=1e-5)
    assert hits[0].ids.dtype == np.int64 and hits[0].scores.dtype == np.float32
    (everything,) = index.search(query, k=10)  # fewer than k when the index is small
    assert everything.ids.tolist() == [seq_near, seq_mid, seq_far]
    assert np.all(np.diff(everything.scores) <= 0)  # best first


def test_upsert_replaces_a_vector_and_remove_forgets_it(open_indexes, catalog, stocked, rng):
    index = open_indexes().build("text", MODEL, DIM, catalog)
    query = unit(rng.standard_normal(DIM))
    index.upsert(np.array([stocked["c2"]]), query)
    assert len(index) == 6
    np.testing.assert_array_equal(index.vectors_for(np.array([stocked["c2"]])), query)
    (top,) = index.search(query, k=1)
    assert top.ids.tolist() == [stocked["c2"]] and top.scores[0] == pytest.approx(1.0)
    index.upsert(np.array([123_456]), -query)  # a new id is added
    assert len(index) == 7 and 123_456 in index
    assert index.remove(np.array([stocked["c2"], 999_999])) == 1  # unknown ids are ignored
    assert index.remove(np.array([stocked["c2"]])) == 0
    assert stocked["c2"] not in index and len(index) == 6
    (found,) = index.search(query, k=10)
    assert stocked["c2"] not in found.ids.tolist() and len(found.ids) == 6


def test_an_empty_catalog_gives_an_empty_index(open_indexes, catalog, rng):
    index = open_indexes().open("text", MODEL, DIM, catalog)
    assert len(index) == 0 and 1 not in index
    hits = index.search(unit(rng.standard_normal((2, DIM))), k=5)
    assert [len(h.ids) for h in hits] == [0, 0]
    # vectors arriving later reach it on the next open
    add(catalog, ["a"], unit(rng.standard_normal(DIM)))
    assert_holds_the_catalog(open_indexes().open("text", MODEL, DIM, catalog), catalog)


def test_a_saved_index_reopens_as_saved_at_the_same_generation(open_indexes, catalog, stocked,
                                                                rng):  # fmt: skip
    indexes = open_indexes()
    index = indexes.build("text", MODEL, DIM, catalog)
    extra = unit(rng.standard_normal(DIM))
    index.upsert(np.array([777]), extra)  # only in the index: shows it was not rebuilt
    indexes.save(index)
    again = open_indexes().open("text", MODEL, DIM, catalog)
    assert again.generation == catalog.generation and len(again) == 7 and 777 in again
    np.testing.assert_array_equal(again.vectors_for(np.array([777])), extra)
    seqs = np.array(sorted(stocked.values()))
    np.testing.assert_array_equal(again.vectors_for(seqs), index.vectors_for(seqs))
    query = unit(rng.standard_normal(DIM))
    (before,), (after,) = index.search(query, 3), again.search(query, 3)
    assert before.ids.tolist() == after.ids.tolist()


def test_reopening_behind_the_catalog_catches_up(open_indexes, catalog, stocked, rng):
    open_indexes().build("text", MODEL, DIM, catalog)  # saved at this generation
    catalog.upsert_clips(  # c0 gets a new vector, c1 loses its text vector
        [ClipRecord(id="c0", prompt="redone", creator="ann", created_at=1.0),
         ClipRecord(id="c1", prompt="no text", creator="ann", created_at=1.0)],
        {"text": (MODEL, np.concatenate([unit(rng.standard_normal(DIM)),
                                         np.full((1, DIM), np.nan, np.float32)]))},
    )  # fmt: skip
    (seq_new,) = add(catalog, ["new"], unit(rng.standard_normal(DIM)))
    catalog.delete_clip("c2")
    index = open_indexes().open("text", MODEL, DIM, catalog)
    assert_holds_the_catalog(index, catalog)
    assert seq_new in index
    assert stocked["c1"] not in index and stocked["c2"] not in index
    # the caught-up index was kept: opening again finds it current
    assert_holds_the_catalog(open_indexes().open("text", MODEL, DIM, catalog), catalog)


def test_an_index_ahead_of_the_catalog_is_rebuilt(open_indexes, catalog, stocked, rng):
    indexes = open_indexes()
    index = indexes.build("text", MODEL, DIM, catalog)
    index.upsert(np.array([777]), unit(rng.standard_normal(DIM)))
    index.remove(np.array([stocked["c3"]]))
    index.generation = catalog.generation + 3  # as if the catalog were restored from a backup
    indexes.save(index)
    rebuilt = open_indexes().open("text", MODEL, DIM, catalog)
    assert_holds_the_catalog(rebuilt, catalog)
    assert 777 not in rebuilt and stocked["c3"] in rebuilt


def test_an_index_of_another_model_is_rebuilt(open_indexes, catalog, stocked, rng):
    indexes = open_indexes()
    index = indexes.build("text", "old-model", DIM, catalog)
    index.upsert(np.array([777]), unit(rng.standard_normal(DIM)))
    indexes.save(index)
    rebuilt = open_indexes().open("text", MODEL, DIM, catalog)
    assert_holds_the_catalog(rebuilt, catalog)
    assert 777 not in rebuilt


def test_channels_are_indexed_apart(open_indexes, catalog, rng):
    visual = unit(rng.standard_normal((2, 4)))
    visual[0] = np.nan
    seq_a, seq_b = catalog.upsert_clips(
        [ClipRecord(id=i, prompt=i, creator="ann", created_at=1.0) for i in ("a", "b")],
        {"text": (MODEL, unit(rng.standard_normal((2, DIM)))), "visual": ("v", visual)},
    )
    indexes = open_indexes()
    text = indexes.build("text", MODEL, DIM, catalog)
    pictures = indexes.build("visual", "v", 4, catalog)
    assert len(text) == 2 and len(pictures) == 1 and seq_b in pictures and seq_a not in pictures
    assert_holds_the_catalog(open_indexes().open("text", MODEL, DIM, catalog), catalog)
    np.testing.assert_array_equal(
        open_indexes().open("visual", "v", 4, catalog).vectors_for(np.array([seq_b])), visual[1:]
    )
