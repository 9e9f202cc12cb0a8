"""A compact snapshot reads its rows from the search index's own 8-bit codes, by label,
instead of holding a second copy: what it reads is what the index decodes, rows the
index's ranges cannot hold keep float32 copies, growth extends the labels, a rebuilt
index is never mixed with the structure a snapshot borrowed from, and a saved snapshot
borrows again on open only where the index fits it.

`HNSW_THRESHOLD` and `COMPACT_ROWS` are lowered so a few clips take the large-catalog
path (an HNSW index over 8-bit codes, a snapshot of codes).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from embeddings import index as index_mod
from embeddings.encoders import l2_normalise
from embeddings.index import VectorIndex
from feed.core.quantized import BorrowedCodes, QuantizedVectors, quantize
from feed.services import snapshot as snapshot_mod
from feed.services import snapshot_files
from feed.services.clips import ClipStore
from feed.services.rwlock import ReadWriteLock
from feed.services.snapshot import Snapshots, build_snapshot
from feed.services.snapshot_files import load_snapshot
from feed.storage import catalog as catalog_mod
from feed.storage.catalog import ClipRecord
from feed.storage.stores import open_store

from .test_snapshot_growth import ADDED, FIRST, NOW, add, same_content


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    return l2_normalise(rng.standard_normal((n, d)).astype(np.float32))


def test_borrowed_codes_read_like_the_array_they_borrow(rng):
    vectors = unit(rng, 40)
    own = quantize(vectors)
    codes = np.asarray(own.codes)
    labels = rng.permutation(40).astype(np.int64)  # row i is the owner's label labels[i]
    labels[5] = -1  # a row the owner has no vector for
    borrowed = QuantizedVectors(
        BorrowedCodes(codes, ReadWriteLock().read, labels, np.full(16, 7, np.uint8)),
        own.low,
        own.step,
    )
    expected = codes[np.where(labels < 0, 0, labels)].copy()
    expected[5] = 7
    plain = QuantizedVectors(expected, own.low, own.step)
    rows = np.array([3, 5, 0, 39, 5, 12])
    np.testing.assert_array_equal(borrowed[rows], plain[rows])
    np.testing.assert_array_equal(borrowed[7], plain[7])
    np.testing.assert_array_equal(borrowed.rows(slice(2, 9)), plain.rows(slice(2, 9)))  # type: ignore[arg-type]
    mask = np.zeros(40, bool)
    mask[[1, 5, 30]] = True
    np.testing.assert_array_equal(borrowed[mask], plain[mask])
    queries = unit(rng, 3)
    np.testing.assert_allclose(borrowed.dots_many(rows, queries), plain.dots_many(rows, queries))
    np.testing.assert_allclose(borrowed @ queries[0], plain @ queries[0], rtol=1e-6)
    assert borrowed.shape == (40, 16) and len(borrowed) == 40
    assert borrowed.nbytes < plain.nbytes  # the labels, not the codes
    # every label missing: no read of the owner at all
    empty = BorrowedCodes(np.empty((0, 16), np.uint8), ReadWriteLock().read,
                          np.full(3, -1, np.int64), np.zeros(16, np.uint8))  # fmt: skip
    assert (empty[np.arange(3)] == 0).all()


@pytest.fixture
def small_hnsw(monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 8)


def test_an_sq8_index_lends_codes_that_decode_as_it_does(rng, small_hnsw):
    vectors = unit(rng, 50)
    index = VectorIndex.build("text", "m", np.arange(100, 150), vectors, generation=1)
    lent = index.codes()
    assert lent is not None and index.codes() is lent
    labels = index.labels_of(np.array([149, 100, 7, 120]))
    assert labels.tolist()[2] == -1
    held = labels[labels >= 0]
    decoded = lent.low + lent.take(held).astype(np.float32) * lent.step
    np.testing.assert_allclose(decoded, index.vectors_for(np.array([149, 100, 120])), atol=1e-6)
    # growing moves FAISS's buffer; a new call gives the moved one
    index.upsert(np.arange(150, 2150), unit(rng, 2000))
    assert index.codes() is lent and len(lent) == 2050
    row = index.labels_of(np.array([2000]))
    np.testing.assert_allclose(
        lent.low + lent.take(row).astype(np.float32) * lent.step,
        index.vectors_for(np.array([2000])), atol=1e-6,
    )  # fmt: skip
    # a rebuild lends another structure's codes; the old one still reads its rows
    before = lent.take(np.arange(50))
    index.remove(np.arange(150, 1500))  # tombstones past a tenth: rebuilt
    assert index.codes() is not lent
    np.testing.assert_array_equal(lent.take(np.arange(50)), before)
    flat = VectorIndex.build("text", "m", np.arange(3), unit(rng, 3), generation=1)
    assert flat.codes() is None


def test_reads_never_meet_a_buffer_the_index_is_moving(rng, small_hnsw):
    lock = ReadWriteLock()
    first = unit(rng, 64)
    index = VectorIndex.build("text", "m", np.arange(64), first, generation=1)
    lent = index.codes()
    assert lent is not None
    labels = index.labels_of(np.arange(64))
    codes = QuantizedVectors(BorrowedCodes(lent, lock.read, labels, np.zeros(16, np.uint8)),
                             lent.low, lent.step)  # fmt: skip
    expected = codes[np.arange(64)]
    done = threading.Event()

    def grow() -> None:
        for start in range(64, 64 + 40 * 256, 256):
            with lock.write():
                index.upsert(np.arange(start, start + 256), unit(rng, 256))
        done.set()

    writer = threading.Thread(target=grow)
    writer.start()
    reads = 0
    while not done.is_set() or reads < 10:
        np.testing.assert_array_equal(codes[np.arange(64)], expected)
        reads += 1
    writer.join()
    assert len(lent) == 64 + 40 * 256


@pytest.fixture
def store(tmp_path, text_encoder, monkeypatch, small_hnsw):
    monkeypatch.setattr(snapshot_mod, "SAMPLE_ROWS", 4)
    monkeypatch.setattr(snapshot_mod, "COMPACT_ROWS", 1)
    monkeypatch.setattr(snapshot_mod, "SPARE_SHARE", 1)  # room for as many rows again
    clips = ClipStore(tmp_path / "home", text_encoder, None)
    users = open_store("users", f"sqlite://{tmp_path / 'users.db'}")
    yield clips, Snapshots(clips, users)
    clips.close()


def borrowed_rows_hold(clips: ClipStore, matrix: QuantizedVectors, n: int) -> None:
    """Each row reads as the index decodes it, or as its float32 vector where kept."""
    stored = clips.catalog.channel_vectors("text")
    index = clips.indexes["text"]
    everything = np.arange(n)
    exact = np.isin(everything, matrix.exact_rows)
    np.testing.assert_array_equal(matrix[everything][exact], stored.vectors[exact])
    np.testing.assert_allclose(
        matrix[everything][~exact], index.vectors_for(stored.seqs[~exact]), atol=1e-6
    )
    assert matrix.codes_hold(everything[~exact], stored.vectors[~exact]).all()


def test_a_compact_snapshot_borrows_the_index_codes_and_grows_by_label(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    old = snapshots.current()
    matrix = old.vectors["text"]
    assert isinstance(matrix, QuantizedVectors) and isinstance(matrix.codes, BorrowedCodes)
    # The index was trained when it turned HNSW (8 clips); later clips may fall outside
    # its ranges, and keep float32 copies.
    borrowed_rows_hold(clips, matrix, len(old))
    # Borrowed codes keep the index's ranges, so they may keep more rows exact than codes
    # of the snapshot's own, which take new ranges instead.
    own = quantize(clips.catalog.channel_vectors("text").vectors)
    assert snapshot_mod.exact_limit(100_000, matrix) > snapshot_mod.exact_limit(100_000, own)
    add(clips, ADDED, NOW + 100)
    grown = snapshots.current()
    assert grown.grown_from is not None
    same_content(grown, build_snapshot(clips), exact=False)
    codes = grown.vectors["text"]
    assert isinstance(codes, QuantizedVectors) and isinstance(codes.codes, BorrowedCodes)
    assert codes.codes.source is matrix.codes.source
    assert np.shares_memory(codes.codes.labels, matrix.codes.labels)  # grown in place
    borrowed_rows_hold(clips, codes, len(grown))
    assert len(old.vectors["text"]) == len(old)
    # A rebuilt index is another structure: the snapshot is rebuilt, not grown, on it,
    # and the older snapshot still reads the rows it borrowed.
    before = old.vectors["text"][np.arange(len(old))]
    clips.reindex()
    add(clips, (("c1", "a whale under the ice", "hal", None),), NOW + 300, line=9)
    rebuilt = snapshots.current()
    assert rebuilt.grown_from is None
    new_codes = rebuilt.vectors["text"]
    assert isinstance(new_codes, QuantizedVectors) and isinstance(new_codes.codes, BorrowedCodes)
    assert new_codes.codes.source is not matrix.codes.source
    borrowed_rows_hold(clips, new_codes, len(rebuilt))
    np.testing.assert_array_equal(old.vectors["text"][np.arange(len(old))], before)


def test_a_snapshot_borrowing_from_a_mapped_index_grows_on_as_the_index_grows_beside_it(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    clips.reindex()  # built, saved, then served from its file, mapped
    index = clips.indexes["text"]
    assert isinstance(index, VectorIndex) and index.mapped
    old = snapshots.current()
    matrix = old.vectors["text"]
    assert isinstance(matrix, QuantizedVectors) and isinstance(matrix.codes, BorrowedCodes)
    before = matrix[np.arange(len(old))]
    add(clips, ADDED, NOW + 100)  # uploads go to the index's in-memory delta
    assert index.mapped and index.codes() is matrix.codes.source
    grown = snapshots.current()
    assert grown.grown_from is not None  # the same structure lends them: grown, not rebuilt
    np.testing.assert_array_equal(old.vectors["text"][np.arange(len(old))], before)
    borrowed_rows_hold(clips, grown.vectors["text"], len(grown))
    same_content(grown, build_snapshot(clips), exact=False)
    # Saved and opened again: the index maps its file, reads its delta, and the saved
    # snapshot borrows from both.
    folder = snapshot_files.snapshot_folder(clips.home)
    snapshot_files.save_snapshot(grown, clips, folder)
    clips.index_store.save(index)
    reopened = VectorIndex.load(clips.home / "index", "text", index.model, index.dim)
    clips.indexes["text"] = reopened
    assert reopened.mapped and len(reopened) == len(index)
    loaded = load_snapshot(folder, clips)
    assert loaded is not None
    codes = loaded.vectors["text"]
    assert isinstance(codes, QuantizedVectors) and isinstance(codes.codes, BorrowedCodes)
    everything = np.arange(len(grown))
    np.testing.assert_array_equal(codes[everything], grown.vectors["text"][everything])


def test_a_saved_snapshot_borrows_again_on_open_only_where_the_index_fits(store):
    clips, snapshots = store
    add(clips, FIRST + ADDED, NOW)
    clips.reindex()  # one index over every clip: no row outside its ranges
    snap = snapshots.current()
    matrix = snap.vectors["text"]
    assert isinstance(matrix, QuantizedVectors) and isinstance(matrix.codes, BorrowedCodes)
    assert len(matrix.exact_rows) == 0
    folder = clips.home / "saved-snapshots"
    snapshot_files.save_snapshot(snap, clips, folder)
    loaded = load_snapshot(folder, clips)
    assert loaded is not None
    reopened = loaded.vectors["text"]
    assert isinstance(reopened, QuantizedVectors) and isinstance(reopened.codes, BorrowedCodes)
    everything = np.arange(len(snap))
    np.testing.assert_array_equal(reopened[everything], matrix[everything])
    # An index whose ranges differ from the saved codes' (other vectors) is not borrowed:
    # the snapshot reads the codes it saved.
    own = quantize(clips.catalog.channel_vectors("text").vectors)
    snapshot_files.save_snapshot(
        snapshot_mod.replace(snap, vectors={"text": own}), clips, folder
    )  # fmt: skip
    clips.indexes["text"].upsert(np.array([10_000]), 3 * unit(np.random.default_rng(0), 1, 384))
    clips.indexes["text"].remove(np.array([10_000]))
    clips.indexes["text"]._rebuild_faiss()  # trained again on the index's vectors alone
    kept = load_snapshot(folder, clips)
    assert kept is not None
    text = kept.vectors["text"]
    assert isinstance(text, QuantizedVectors) and isinstance(text.codes, np.ndarray)


def test_codes_the_index_does_not_hold_are_the_snapshot_own_and_say_so(store, monkeypatch, caplog):
    clips, _ = store
    add(clips, FIRST, NOW)
    # Every row read as one the index's ranges miss: past the share kept exact, the
    # snapshot encodes its own codes, and warns that the index wants training again.
    monkeypatch.setattr(
        QuantizedVectors, "codes_hold", lambda self, rows, v: np.zeros(len(rows), bool)
    )
    monkeypatch.setattr(snapshot_mod, "MIN_EXACT_ROWS", 0)
    with caplog.at_level("WARNING", logger="feed.services.snapshot"):
        snap = build_snapshot(clips)
    matrix = snap.vectors["text"]
    assert isinstance(matrix, QuantizedVectors) and isinstance(matrix.codes, np.ndarray)
    assert any("steerfeed reindex" in r.getMessage() for r in caplog.records)
    stored = clips.catalog.channel_vectors("text").vectors
    err = np.abs(matrix[np.arange(len(stored))] - stored)
    assert (err <= matrix.step / 2 + 1e-6).all()  # its own ranges, over every row


def test_reindexing_saves_the_snapshot_again_over_the_new_indexes(store):
    clips, snapshots = store
    add(clips, FIRST + ADDED, NOW)  # the index was trained on the first 8 clips
    folder = snapshot_files.snapshot_folder(clips.home)
    assert not snapshot_files.resave_snapshot(clips)  # nothing saved: nothing to replace
    saved = snapshot_files.save_snapshot(snapshots.current(), clips, folder)
    # Its codes were the index's: the saved snapshot holds their ranges, not a copy.
    assert (saved / "low.text.npy").exists() and not (saved / "vectors.text.npy").exists()
    clips.reindex()  # trained again on all 12: the saved ranges no longer fit
    assert load_snapshot(folder, clips) is None  # with no codes of its own: rebuilt
    assert snapshot_files.resave_snapshot(clips)
    fresh = load_snapshot(folder, clips)
    assert fresh is not None and isinstance(fresh.vectors["text"].codes, BorrowedCodes)


@pytest.mark.parametrize("path", ["float32", "own codes", "borrowed codes"])
def test_a_snapshot_read_block_by_block_is_the_snapshot_read_whole(
    tmp_path, text_encoder, multi_encoder, monkeypatch, rng, path
):
    if path != "float32":
        monkeypatch.setattr(snapshot_mod, "COMPACT_ROWS", 1)
    if path == "borrowed codes":
        monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 8)
    clips = ClipStore(tmp_path / "home", text_encoder, None, multi_encoder=multi_encoder)
    try:
        n = 30
        records = [
            ClipRecord(id=f"c{i}", prompt=f"clip {i}", creator=f"maker{i % 4}",
                       created_at=NOW + i, remix_of="c0" if i % 7 == 3 else None)
            for i in range(n)
        ]  # fmt: skip
        multi = unit(rng, n, multi_encoder.dim)
        multi[[2, 11, 12, 29]] = np.nan  # clips without a multilingual vector
        clips.catalog.upsert_clips(records, {
            "text": (text_encoder.model_id, unit(rng, n, text_encoder.dim)),
            "multi": (multi_encoder.model_id, multi),
        })  # fmt: skip
        clips.catalog.delete_clip("c5")
        clips.catch_up()
        whole = build_snapshot(clips)  # one block
        monkeypatch.setattr(catalog_mod, "CHANNEL_BLOCK_ROWS", 4)
        blocks = build_snapshot(clips)
    finally:
        clips.close()
    same_content(blocks, whole)
    lacking = blocks.rows_for_ids(["c2", "c11", "c12", "c29"])
    assert len(blocks) == n - 1 and not blocks.has["multi"][lacking].any()
    assert blocks.has["multi"].sum() == n - 5 and blocks.has["text"].all()
    for channel, matrix in blocks.vectors.items():
        other = whole.vectors[channel]
        assert type(matrix) is type(other)
        if path == "float32":
            assert isinstance(matrix, np.ndarray)
            continue
        assert isinstance(matrix, QuantizedVectors) and isinstance(other, QuantizedVectors)
        assert isinstance(matrix.codes, BorrowedCodes) == (path == "borrowed codes")
        np.testing.assert_array_equal(matrix.low, other.low)
        np.testing.assert_array_equal(matrix.exact_rows, other.exact_rows)


def test_a_saved_snapshot_whose_index_lends_no_codes_is_rebuilt(store, monkeypatch, caplog):
    clips, snapshots = store
    add(clips, FIRST + ADDED, NOW)
    folder = snapshot_files.snapshot_folder(clips.home)
    snapshot_files.save_snapshot(snapshots.current(), clips, folder)
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 1000)
    clips.reindex()  # a flat index now: float32 rows, no 8-bit codes to lend
    assert clips.indexes["text"].codes() is None
    with caplog.at_level("INFO", logger="feed.services.snapshot_files"):
        assert load_snapshot(folder, clips) is None
    assert any("lends no codes" in r.getMessage() for r in caplog.records)
