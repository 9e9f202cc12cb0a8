"""VectorIndex: upsert, remove, search, kinds, and manifest-checked persistence."""

from __future__ import annotations

import json
import mmap
import os
import re
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from embeddings import index as index_mod
from embeddings.encoders import l2_normalise
from embeddings.index import BuildCheckpoint, IndexMismatchError, VectorIndex, choose_kind


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    return l2_normalise(rng.standard_normal((n, d)).astype(np.float32))


def test_nearest_first(rng):
    base = unit(rng, 1)[0]
    near = l2_normalise(base + 0.05 * rng.standard_normal(16))
    far = -base
    idx = VectorIndex("text", "m", 16)
    idx.upsert(np.array([10, 20, 30]), np.stack([far, near, unit(rng, 1)[0]]))
    hits = idx.search(base[None, :], 3)[0]
    assert hits.ids[0] == 20
    assert hits.ids[-1] == 10
    assert hits.scores[0] > 0.95


def test_upsert_replaces_instead_of_duplicating(rng):
    idx = VectorIndex("text", "m", 16)
    a, b = unit(rng, 2)
    idx.upsert(np.array([1]), a[None])
    idx.upsert(np.array([1]), b[None])
    assert len(idx) == 1
    np.testing.assert_allclose(idx.vectors_for(np.array([1]))[0], b)
    assert idx.search(b[None], 5)[0].ids.tolist() == [1]


def test_remove_and_bad_shapes(rng):
    idx = VectorIndex("text", "m", 16)
    idx.upsert(np.arange(5), unit(rng, 5))
    assert idx.remove(np.array([1, 3, 99])) == 2
    assert sorted(idx.ids.tolist()) == [0, 2, 4]
    assert 3 not in idx
    with pytest.raises(ValueError):
        idx.upsert(np.array([7]), unit(rng, 1, 8))
    with pytest.raises(ValueError):
        idx.upsert(np.array([7, 7]), unit(rng, 2))
    assert len(idx) == 3


def test_adding_writes_into_room_and_reads_as_the_arrays_joined(rng):
    """Ids and labels grow in place (no copy of the whole index per clip added), and the
    index reads exactly as if each addition had joined the arrays afresh."""
    idx = VectorIndex("text", "m", 16)
    vectors = unit(rng, 40)
    for start in range(0, 20, 2):
        idx.upsert(np.arange(start, start + 2), vectors[start : start + 2])
    before = idx._ids
    idx.upsert(np.array([20]), vectors[20:21])
    assert np.shares_memory(before, idx._ids) and before.tolist() == list(range(20))
    assert idx.remove(np.array([3, 11])) == 2  # a removal makes new arrays
    idx.upsert(np.arange(21, 40), vectors[21:40])  # past the room: a new buffer
    idx.upsert(np.array([3]), vectors[3:4])  # an id back, out of order
    kept = [i for i in range(40) if i != 11]
    assert sorted(idx.ids.tolist()) == kept
    assert idx._id_by_label[idx._labels].tolist() == idx._ids.tolist()
    for i in kept:
        assert idx.search(vectors[i][None], 1)[0].ids.tolist() == [i]


def test_kind_follows_size():
    assert choose_kind(10) == "flat"
    assert choose_kind(index_mod.HNSW_THRESHOLD) == "hnsw"


def test_hnsw_recall_and_tombstones(rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 500)
    vectors = unit(rng, 2000, 32)
    ids = np.arange(2000, dtype=np.int64) * 3
    idx = VectorIndex("text", "m", 32)
    idx.upsert(ids, vectors)
    assert idx.kind == "hnsw"
    queries = unit(rng, 50, 32)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = [h.ids for h in idx.search(queries, 10)]
    recall = np.mean([len(set(ids[e]) & set(f)) / 10 for e, f in zip(exact, found, strict=True)])
    assert recall >= 0.95
    gone = found[0][:3]
    idx.remove(gone)
    again = idx.search(queries[:1], 10)[0].ids
    assert not set(gone) & set(again)
    assert len(again) == 10


def test_hnsw_explores_as_deep_as_asked(rng, monkeypatch):
    """efSearch is `explore` times k: a deeper search finds at least as much of the
    exact answer, and each asks FAISS for its own depth."""
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 500)
    monkeypatch.setattr(index_mod, "HNSW_EF_SEARCH", 1)
    vectors = unit(rng, 3000, 32)
    idx = VectorIndex("text", "m", 32)
    idx.upsert(np.arange(3000, dtype=np.int64), vectors)
    assert idx.kind == "hnsw"
    asked: list[int] = []
    search = idx._faiss.search

    def spy(q, k, params=None):
        asked.append(params.efSearch)
        return search(q, k, params=params)

    monkeypatch.setattr(idx._faiss, "search", spy)
    queries = unit(rng, 40, 32)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :200]

    def recall(explore: int) -> float:
        found = [h.ids for h in idx.search(queries, 200, explore=explore)]
        return float(np.mean([len(set(e) & set(f)) for e, f in zip(exact, found, strict=True)]))

    shallow, deep = recall(1), recall(4)
    assert asked == [200, 800]
    assert deep >= shallow and deep > 190


def test_save_load_roundtrip(tmp_path, rng):
    idx = VectorIndex("visual", "clip-x", 16)
    idx.upsert(np.array([4, 5, 6]), unit(rng, 3))
    idx.generation = 7
    idx.save(tmp_path)
    manifest = json.loads((tmp_path / "visual.json").read_text())
    assert manifest["count"] == 3 and manifest["kind"] == "flat" and manifest["dim"] == 16
    back = VectorIndex.load(tmp_path, "visual", "clip-x", 16)
    assert back.generation == 7
    assert sorted(back.ids.tolist()) == [4, 5, 6]
    q = idx.vectors_for(np.array([5]))
    assert back.search(q, 1)[0].ids.tolist() == [5]


def test_load_refuses_mismatch(tmp_path, rng):
    idx = VectorIndex("text", "model-a", 16)
    idx.upsert(np.array([1]), unit(rng, 1))
    idx.save(tmp_path)
    with pytest.raises(IndexMismatchError, match="model"):
        VectorIndex.load(tmp_path, "text", "model-b", 16)
    with pytest.raises(IndexMismatchError, match="dim"):
        VectorIndex.load(tmp_path, "text", "model-a", 32)
    with pytest.raises(IndexMismatchError, match="no visual index"):
        VectorIndex.load(tmp_path, "visual", "model-a", 16)


def test_load_refuses_data_from_another_save(tmp_path, rng):
    idx = VectorIndex("text", "m", 16)
    idx.upsert(np.array([1]), unit(rng, 1))
    idx.save(tmp_path)
    stale_manifest = (tmp_path / "text.json").read_text()
    idx.upsert(np.array([2]), unit(rng, 1))
    idx.save(tmp_path)
    (tmp_path / "text.json").write_text(stale_manifest)  # as if a crash hit between renames
    with pytest.raises(IndexMismatchError, match="different saves"):
        VectorIndex.load(tmp_path, "text", "m", 16)


def test_load_refuses_corrupt_data(tmp_path, rng):
    idx = VectorIndex("text", "m", 16)
    idx.upsert(np.array([1]), unit(rng, 1))
    idx.save(tmp_path)
    (tmp_path / "text.npz").write_bytes(b"not a zip")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        VectorIndex.load(tmp_path, "text", "m", 16)


def test_hnsw_update_is_found_at_once_and_tombstones_survive_save(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, 600, 32)
    ids = np.arange(600, dtype=np.int64) + 1000
    idx = VectorIndex.build("text", "m", ids, vectors, generation=3)
    assert idx.kind == "hnsw"
    moved = unit(rng, 1, 32)
    idx.upsert(np.array([1005]), moved)  # an updated clip: old vector tombstoned
    idx.remove(np.array([1007]))
    assert idx.search(moved, 1)[0].ids.tolist() == [1005]
    faiss_before = idx._faiss
    idx.save(tmp_path)
    assert idx._faiss is faiss_before  # saving rebuilt nothing
    back = VectorIndex.load(tmp_path, "text", "m", 32)
    assert back.search(moved, 1)[0].ids.tolist() == [1005]
    old = vectors[[5, 7]]
    for hits in back.search(old, 10):
        assert not {1007} & set(hits.ids.tolist())  # removed stays removed
        assert len(hits.ids) == len(set(hits.ids.tolist())) == 10  # no id twice
    back.upsert(np.array([2000]), unit(rng, 1, 32))  # labels go on from where they were
    assert len(back) == 600 and 2000 in back and 1007 not in back


def test_a_loaded_hnsw_index_maps_its_file_and_grows_beside_it(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, 600, 32)
    ids = np.arange(600, dtype=np.int64) + 10
    built = VectorIndex.build("text", "m", ids, vectors, generation=2)
    assert not built.mapped  # built in memory
    built.save(tmp_path)
    # The file is read through, in order, before FAISS maps it (see read_through), and
    # its page tables are filled in after (see map_in).
    calls = []
    real_read_index = faiss.read_index
    monkeypatch.setattr(index_mod, "read_through", lambda path: calls.append(("read", path)))
    monkeypatch.setattr(index_mod, "map_in", lambda path: calls.append(("fill", path)))
    monkeypatch.setattr(
        faiss,
        "read_index",
        lambda path, *a: calls.append(("map", path)) or real_read_index(path, *a),
    )
    back = VectorIndex.load(tmp_path, "text", "m", 32)
    name = Path(calls[0][1]).name
    assert name.endswith(".faiss")
    order = [(op, Path(p).name) for op, p in calls]
    assert order == [("read", name), ("map", name), ("fill", name)]
    assert back.mapped
    lent = back.codes()
    assert lent is not None
    labels = back.labels_of(ids)
    before = lent.take(labels)
    np.testing.assert_array_equal(before, built.codes().take(built.labels_of(ids)))
    # Added vectors go to an in-memory delta with the same ranges; the mapped file stays.
    new = unit(rng, 40, 32)
    new_ids = np.arange(5000, 5040)
    back.upsert(new_ids, new)
    back.upsert(np.array([12]), new[:1])  # an update: the mapped row tombstoned
    back.remove(np.array([5003]))  # a delta row removed
    assert back.mapped and back.codes() is lent and len(lent) == 641
    for k in (7, 20, 39):
        assert back.search(new[k : k + 1], 1)[0].ids.tolist() == [int(new_ids[k])]
    hits = back.search(new[:1], 2)[0].ids.tolist()
    assert sorted(hits) == [12, 5000]  # the same vector under two ids, from both parts
    assert back.search(vectors[10:11], 1)[0].ids.tolist() == [20]
    assert 5003 not in back and len(back) == 600 + 39
    np.testing.assert_array_equal(lent.take(labels[3:]), before[3:])  # the mapped rows
    np.testing.assert_allclose(back.vectors_for(new_ids[[0, 39]]), new[[0, 39]], atol=0.02)
    for hits in back.search(new, 10):
        assert len(hits.ids) == len(set(hits.ids.tolist())) == 10
        assert 5003 not in hits.ids
    # A save links the mapped file and writes the delta beside it; loading gives both.
    files_before = {f.stat().st_ino for f in tmp_path.glob("text.*.faiss")}
    back.save(tmp_path)
    saved = sorted(f.name.split(".", 2)[2] for f in tmp_path.glob("text.*.faiss"))
    assert saved == ["delta.faiss", "faiss"]
    base = next(f for f in tmp_path.glob("text.*.faiss") if "delta" not in f.name)
    assert base.stat().st_ino in files_before  # linked, not written again
    again = VectorIndex.load(tmp_path, "text", "m", 32)
    assert again.mapped and len(again) == len(back)
    for q in (new[[0, 39]], vectors[[10, 400]]):
        assert [h.ids.tolist() for h in again.search(q, 5)] == [
            h.ids.tolist() for h in back.search(q, 5)
        ]
    np.testing.assert_array_equal(
        again.codes().take(again.labels_of(new_ids[:3])), lent.take(back.labels_of(new_ids[:3]))
    )
    # A rebuild (here: shrunk below the HNSW threshold) folds both parts into one.
    again.remove(ids[:450])
    again.upsert(np.array([9000]), vectors[:1])
    assert not again.mapped and again.kind == "flat" and len(again) == 189 + 1
    assert again.search(new[39:40], 1)[0].ids.tolist() == [5039]
    assert again.search(vectors[:1], 1)[0].ids.tolist() == [9000]


def test_an_index_saved_before_labels_still_loads(tmp_path, rng):
    idx = VectorIndex.build("text", "m", np.array([3, 9, 4]), unit(rng, 3, 8), generation=1)
    idx.save(tmp_path)
    npz = tmp_path / "text.npz"
    with np.load(npz) as data:  # no label arrays, FAISS bytes inside: the older layout
        old = {k: data[k] for k in ("ids", "vectors", "save_id")}
    for separate in tmp_path.glob("text.*.faiss"):
        separate.unlink()
    # The older layout stored clip ids in FAISS, not labels.
    legacy = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    legacy.add_with_ids(idx.vectors_for(np.array([3, 9, 4])), np.array([3, 9, 4]))
    old["faiss"] = faiss.serialize_index(legacy)
    with npz.open("wb") as fh:
        np.savez(fh, **old)
    back = VectorIndex.load(tmp_path, "text", "m", 8)
    q = idx.vectors_for(np.array([9]))
    assert back.search(q, 1)[0].ids.tolist() == [9]
    back.upsert(np.array([10]), unit(rng, 1, 8))
    assert sorted(back.ids.tolist()) == [3, 4, 9, 10]
    assert back.search(back.vectors_for(np.array([10])), 1)[0].ids.tolist() == [10]


def test_hnsw_keeps_8bit_codes_only_and_decodes_them_closely(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, 400, 32)
    ids = np.arange(400, dtype=np.int64) + 7
    idx = VectorIndex.build("text", "m", ids, vectors, generation=1)
    assert idx.kind == "hnsw" and idx.codec == "sq8"
    # Decoded codes stay within a quantization step of the vectors given.
    np.testing.assert_allclose(idx.vectors_for(ids[[0, 5, 399]]), vectors[[0, 5, 399]], atol=0.01)
    idx.save(tmp_path)
    with np.load(tmp_path / "text.npz") as data:
        assert data["vectors"].shape == (0, 32)  # no float32 copy beside the codes
    back = VectorIndex.load(tmp_path, "text", "m", 32)
    assert back.codec == "sq8" and len(list(tmp_path.glob("text.*.faiss"))) == 1
    np.testing.assert_array_equal(back.vectors_for(ids[:20]), idx.vectors_for(ids[:20]))
    assert back.search(vectors[:1], 1)[0].ids.tolist() == [7]
    # Removals past the tombstone limit rebuild from the decoded codes; shrinking below
    # the threshold turns it back into an exact flat index.
    back.remove(ids[:250])
    back.upsert(np.array([9000]), vectors[:1])
    assert back.kind == "flat" and back.codec == "float32"
    assert back.search(vectors[:1], 2)[0].ids.tolist()[0] in (7, 9000)
    assert 7 not in back and len(back) == 151


def test_flat_index_saved_beside_its_faiss_file_matches_the_one_kept(tmp_path, rng):
    vectors = unit(rng, 50, 16)
    idx = VectorIndex.build("text", "m", np.arange(50), vectors, generation=1)
    idx.save(tmp_path)
    idx.save(tmp_path)  # the older FAISS file goes
    assert len(list(tmp_path.glob("text.*.faiss"))) == 1
    back = VectorIndex.load(tmp_path, "text", "m", 16)
    assert back.codec == "float32"
    np.testing.assert_array_equal(back.vectors, vectors)
    for a, b in zip(idx.search(vectors[:5], 5), back.search(vectors[:5], 5), strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)


def blocks_of(
    ids: np.ndarray, vectors: np.ndarray, rows: int, reads: list[int], stop_after: int | None = None
):
    """A `build_blocks` reader over ids and vectors (those above `after`), `rows` at a time,
    counting its reads; the read adding blocks stops the build after `stop_after` of them."""

    def blocks(after):
        reads.append(1)
        start = 0 if after is None else int(np.searchsorted(ids, after, side="right"))
        for n, at in enumerate(range(start, len(ids), rows)):
            if stop_after is not None and len(reads) > 1 and n == stop_after:
                raise KeyboardInterrupt  # the process stopped part way
            yield ids[at : at + rows], vectors[at : at + rows]

    return blocks


@pytest.mark.parametrize("count", [0, 150, 400])  # empty, flat, HNSW (threshold 200)
def test_an_index_built_block_by_block_is_the_index_built_whole(tmp_path, rng, monkeypatch, count):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, count, 32)
    ids = np.arange(count, dtype=np.int64) * 2 + 5
    whole = VectorIndex.build("text", "m", ids, vectors, generation=4)
    reads: list[int] = []
    progress: list[tuple[int, int]] = []
    built = VectorIndex.build_blocks(
        "text", "m", 32, blocks_of(ids, vectors, 64, reads), 4, lambda a, t: progress.append((a, t))
    )
    assert (built.kind, built.codec, built.generation, len(built)) == (
        whole.kind, whole.codec, 4, count,
    )  # fmt: skip
    np.testing.assert_array_equal(built.ids, whole.ids)
    if whole.kind == "hnsw":
        # Trained on each dimension's min and max alone, the codes are the same bytes.
        lent, whole_lent = built.codes(), whole.codes()
        assert lent is not None and whole_lent is not None
        every = np.arange(count)
        np.testing.assert_array_equal(lent.take(every), whole_lent.take(every))
        np.testing.assert_array_equal(lent.low, whole_lent.low)
        assert len(reads) == 2 and progress[-1] == (count, count) and len(progress) == 7
    else:
        np.testing.assert_array_equal(built.vectors, whole.vectors)
        assert len(reads) == 1 and not progress  # a flat index is small: read once, held
    if count:
        found = [h.ids[0] for h in built.search(vectors[::37], 1)]
        assert found == ids[::37].tolist()
        built.save(tmp_path)
        back = VectorIndex.load(tmp_path, "text", "m", 32)
        np.testing.assert_array_equal(back.vectors_for(ids[:9]), built.vectors_for(ids[:9]))


def test_a_stopped_build_resumes_from_its_last_save(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, 700, 32)
    ids = np.arange(700, dtype=np.int64) * 3 + 1
    whole = VectorIndex.build("text", "m", ids, vectors, generation=4)
    checkpoint = BuildCheckpoint(tmp_path / "text.building", every_s=0.0)  # save every block
    reads: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        VectorIndex.build_blocks(
            "text", "m", 32, blocks_of(ids, vectors, 64, reads, stop_after=5), 4, None, checkpoint
        )
    assert len(list(checkpoint.folder.glob("index.*.faiss"))) == 1  # the save before is gone
    reads.clear()
    progress: list[tuple[int, int]] = []
    built = VectorIndex.build_blocks(
        "text", "m", 32, blocks_of(ids, vectors, 64, reads), 4,
        lambda a, t: progress.append((a, t)), checkpoint,
    )  # fmt: skip
    # One read, of the blocks after the five saved; the ranges come from the save.
    assert len(reads) == 1 and progress[0] == (6 * 64, 700) and progress[-1] == (700, 700)
    np.testing.assert_array_equal(built.ids, whole.ids)
    lent, whole_lent = built.codes(), whole.codes()
    assert lent is not None and whole_lent is not None
    every = np.arange(700)
    np.testing.assert_array_equal(lent.take(every), whole_lent.take(every))
    found = [h.ids[0] for h in built.search(vectors[::7], 1)]
    assert found == ids[::7].tolist()  # searched across the saved part and the rest
    built.save(tmp_path)
    back = VectorIndex.load(tmp_path, "text", "m", 32)
    assert [h.ids[0] for h in back.search(vectors[::7], 1)] == ids[::7].tolist()


def _stopped_build(tmp_path, rng):
    """(ids, vectors, checkpoint) of 400 vectors whose build at generation 4 stopped after
    three blocks of 64, saved after each."""
    vectors = unit(rng, 400, 32)
    ids = np.arange(400, dtype=np.int64)
    checkpoint = BuildCheckpoint(tmp_path / "text.building", every_s=0.0)
    with pytest.raises(KeyboardInterrupt):
        VectorIndex.build_blocks(
            "text", "m", 32, blocks_of(ids, vectors, 64, [], stop_after=3), 4, None, checkpoint
        )
    return ids, vectors, checkpoint


def test_a_save_of_another_catalog_state_is_not_resumed(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    ids, vectors, checkpoint = _stopped_build(tmp_path, rng)
    # The catalog moved on (generation 5): the build reads the ranges and every block again.
    reads: list[int] = []
    built = VectorIndex.build_blocks(
        "text", "m", 32, blocks_of(ids, vectors, 64, reads), 5, None, checkpoint
    )
    assert len(reads) == 2 and len(built) == 400 and built.generation == 5
    # An unreadable save is set aside the same way.
    (checkpoint.folder / "state.npz").write_bytes(b"not a save")
    reads.clear()
    built = VectorIndex.build_blocks(
        "text", "m", 32, blocks_of(ids, vectors, 64, reads), 5, None, checkpoint
    )
    assert len(reads) == 2 and len(built) == 400
    with np.load(checkpoint.folder / "state.npz") as saved:  # saved again, up to the last block
        assert len(saved["ids"]) == 384


def test_a_save_that_fails_or_names_a_missing_file_costs_only_the_resume(
    tmp_path, rng, monkeypatch
):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    ids, vectors, checkpoint = _stopped_build(tmp_path, rng)
    for saved in checkpoint.folder.glob("index.*.faiss"):
        saved.unlink()  # the state now names a file that is gone
    reads: list[int] = []

    def disk_full(index, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_mod, "_atomic_write_index", disk_full)
    built = VectorIndex.build_blocks(
        "text", "m", 32, blocks_of(ids, vectors, 64, reads), 4, None, checkpoint
    )
    assert len(reads) == 2 and len(built) == 400  # started over, and saved nothing
    assert not list(checkpoint.folder.glob("index.*"))
    assert [h.ids[0] for h in built.search(vectors[::9], 1)] == ids[::9].tolist()


def test_one_process_at_a_time_uses_a_checkpoint(tmp_path):
    checkpoint, other = (BuildCheckpoint(tmp_path / "text.building") for _ in range(2))
    with checkpoint.claimed() as first, other.claimed() as second:
        assert (first, second) == (True, False)
    with checkpoint.claimed() as again:
        assert again


def test_an_index_built_block_by_block_refuses_repeated_ids(rng, monkeypatch):
    monkeypatch.setattr(index_mod, "HNSW_THRESHOLD", 200)
    vectors = unit(rng, 300, 32)
    ids = np.arange(300, dtype=np.int64)
    ids[250] = 3
    with pytest.raises(ValueError, match="duplicate ids"):
        VectorIndex.build_blocks("text", "m", 32, blocks_of(ids, vectors, 100, []), 1)


def _resident_kb(path: Path) -> list[int]:
    """Resident kB of each of this process's mappings of `path` (/proc/self/smaps)."""
    found, mine = [], False
    target = os.path.realpath(path)
    with open("/proc/self/smaps", encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            head = re.match(r"[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line.rstrip("\n"))
            if head:
                mine = head.group(1) == target
            elif mine and line.startswith("Rss:"):
                found.append(int(line.split()[1]))
    return found


def _linux_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", os.uname().release) if sys.platform == "linux" else None
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


@pytest.mark.skipif(
    not _linux_at_least(5, 14), reason="filling in page tables needs Linux 5.14 or later"
)
def test_map_in_fills_in_every_page_of_a_mapped_file(tmp_path):
    path = tmp_path / "f.faiss"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, 256 pages
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert _resident_kb(path) == [0]  # mapped, not touched
        index_mod.map_in(path)
        assert _resident_kb(path) == [1024]
        assert mapped[4095] == 255  # the same bytes
    index_mod.map_in(tmp_path / "not-mapped.faiss")  # nothing to fill in, and no error
    # A name that is not UTF-8, mapped beside: read as the kernel writes it.
    odd = tmp_path / os.fsdecode(b"\xff-f.faiss")
    odd.write_bytes(bytes(8192))
    with open(odd, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ):
        index_mod.map_in(path)  # not mapped now
        index_mod.map_in(odd)
        assert _resident_kb(odd) == [8]


def test_read_through_reads_a_file_start_to_end_and_shrugs_off_a_missing_one(tmp_path, monkeypatch):
    monkeypatch.setattr(index_mod, "READ_AHEAD_BYTES", 1000)
    path = tmp_path / "f.faiss"
    path.write_bytes(b"x" * 4500)
    reads = []
    real_open = open

    def counting_open(file, *args, **kwargs):
        fh = real_open(file, *args, **kwargs)
        real = fh.readinto

        class Counted:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                fh.close()

            def readinto(self, buffer):
                reads.append(n := real(buffer))
                return n

        return Counted()

    monkeypatch.setattr("builtins.open", counting_open)
    index_mod.read_through(path)
    assert reads == [1000, 1000, 1000, 1000, 500, 0]  # start to end, a buffer at a time
    monkeypatch.setattr("builtins.open", real_open)
    index_mod.read_through(tmp_path / "gone.faiss")  # logged, not raised
