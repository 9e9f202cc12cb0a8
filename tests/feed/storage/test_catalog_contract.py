"""The catalog contract: every Catalog backend runs this suite.

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request (for `tmp_path`, or a server fixture), returns the URL of an empty catalog.
SQLite specifics (migrations, foreign files) stay in tests/feed/test_catalog.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from feed.storage.catalog import CatalogError, ClipRecord
from feed.storage.interfaces import Catalog
from feed.storage.stores import open_store

DIM = 4
Opener = Callable[[], Catalog]


def _sqlite(request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{request.getfixturevalue('tmp_path') / 'catalog.sqlite'}"


def _postgresql(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("postgres_url"))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def open_catalog(request) -> Iterator[Opener]:
    """Opens the backend's catalog; each call opens the same clips again, as after a restart."""
    url = BACKENDS[request.param](request)
    opened: list[Catalog] = []

    def open_one() -> Catalog:
        opened.append(open_store("catalog", url))
        return opened[-1]

    yield open_one
    for catalog in opened:
        catalog.close()


@pytest.fixture
def catalog(open_catalog) -> Catalog:
    """A fresh, empty catalog of each backend."""
    return open_catalog()


def record(clip_id: str, created_at: float = 1000.0, creator: str = "ann", **kw) -> ClipRecord:
    return ClipRecord(id=clip_id, prompt=kw.pop("prompt", f"prompt {clip_id}"), creator=creator,
                      created_at=created_at, **kw)  # fmt: skip


def unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def as_dict(seqs: np.ndarray, vectors: np.ndarray) -> dict[int, tuple[float, ...]]:
    return {int(s): tuple(v.tolist()) for s, v in zip(seqs, vectors, strict=True)}


def test_an_upserted_clip_reads_back_field_for_field(catalog, rng):
    full = ClipRecord(
        id="a", prompt="a heron at dawn", creator="ann", created_at=1000.5, caption="dawn",
        tags=("birds", "water"), cameos=("cy", "bo"), remix_of="z", duration_s=6.5, width=720,
        height=1280, has_audio=True, video_path="media/a.mp4", provider="fake",
    )  # fmt: skip
    text, visual = unit_rows(rng, 2), unit_rows(rng, 2, dim=8)
    visual[1] = np.nan  # b has no visual vector
    vectors = {"text": ("mt", text), "visual": ("mv", visual)}
    seq_a, seq_b = catalog.upsert_clips([full, record("b")], vectors)
    assert seq_a != seq_b and catalog.count() == 2
    a = catalog.get("a")
    assert a is not None and a.seq == seq_a
    assert (a.id, a.prompt, a.creator, a.created_at, a.caption) == (
        "a", "a heron at dawn", "ann", 1000.5, "dawn")  # fmt: skip
    assert a.tags == ("birds", "water") and a.cameos == ("bo", "cy")  # cameos sorted
    assert (a.remix_of, a.duration_s, a.width, a.height, a.has_audio) == ("z", 6.5, 720, 1280,
                                                                         True)  # fmt: skip
    assert (a.video_path, a.provider, a.channels) == ("media/a.mp4", "fake", ("text", "visual"))
    b = catalog.get("b")
    assert b is not None and b.channels == ("text",)
    assert (b.caption, b.tags, b.cameos, b.remix_of, b.has_audio) == ("", (), (), None, False)
    assert (b.duration_s, b.width, b.height, b.video_path, b.provider) == (None,) * 5
    assert catalog.get("missing") is None


def test_get_many_and_get_creators_leave_out_what_is_missing(catalog, rng):
    seqs = catalog.upsert_clips([record("a"), record("b", creator="bo")],
                                {"text": ("m", unit_rows(rng, 2))})  # fmt: skip
    many = catalog.get_many([seqs[1], 999_999, seqs[0]])
    assert sorted(many) == sorted(seqs)
    assert {s: c.id for s, c in many.items()} == {seqs[0]: "a", seqs[1]: "b"}
    assert catalog.get_many([]) == {}
    assert catalog.get_creators(["a", "b", "nope"]) == {"a": "ann", "b": "bo"}
    assert catalog.get_creators([]) == {}


def test_lookups_of_many_ids_cover_every_one(catalog, rng):
    n = 1_200  # more than one batch of query parameters in SQL backends
    records = [record(f"c{i:04d}", video_path=f"v/{i}.mp4") for i in range(n)]
    seqs = catalog.upsert_clips(records, {"text": ("m", unit_rows(rng, n))})
    ids = [r.id for r in records]
    assert len(catalog.get_many(seqs)) == n
    assert len(catalog.get_creators(ids)) == n
    assert len(catalog.video_paths(ids)) == n


def test_an_update_keeps_seq_and_cameos_and_replaces_the_rest(catalog, rng):
    first = unit_rows(rng, 1)
    (seq,) = catalog.upsert_clips(
        [record("a", tags=("cats",), cameos=("bo",), video_path="old.mp4")],
        {"text": ("m", first), "visual": ("v", unit_rows(rng, 1))},
    )
    second = unit_rows(rng, 1)
    again = catalog.upsert_clips(
        [record("a", prompt="new words", creator="cy", cameos=("dee",))],
        {"text": ("m", second)},
    )
    assert again == [seq] and catalog.count() == 1
    a = catalog.get("a")
    assert a is not None and (a.prompt, a.creator, a.tags, a.video_path) == (
        "new words", "cy", (), None)  # fmt: skip
    # a likeness once in a clip stays under consent until the clip is deleted
    assert a.cameos == ("bo", "dee")
    assert a.channels == ("text",)  # the update named no visual vector: it has none now
    stored = catalog.channel_vectors("text")
    assert stored.seqs.tolist() == [seq]
    np.testing.assert_array_equal(stored.vectors, second)
    assert len(catalog.channel_vectors("visual").seqs) == 0


def test_delete_removes_the_clip_everywhere(catalog, rng):
    seq_a, seq_b = catalog.upsert_clips(
        [record("a", cameos=("bo",), video_path="a.mp4"), record("b", remix_of="x")],
        {"text": ("m", unit_rows(rng, 2))},
    )
    assert catalog.delete_clip("a") == seq_a
    assert catalog.delete_clip("a") is None and catalog.delete_clip("never") is None
    assert catalog.get("a") is None and catalog.count() == 1
    assert catalog.get_many([seq_a, seq_b]).keys() == {seq_b}
    assert catalog.ids() == ["b"] and catalog.get_creators(["a"]) == {}
    assert catalog.clips_with_cameo("bo") == [] and catalog.video_paths(["a"]) == {}
    assert catalog.channel_vectors("text").seqs.tolist() == [seq_b]


def test_generation_moves_on_every_change_and_only_then(catalog, rng):
    g0 = catalog.generation
    catalog.upsert_clips([record("a"), record("b")], {"text": ("m", unit_rows(rng, 2))})
    g1 = catalog.generation
    assert g1 > g0
    catalog.get("a"), catalog.channel_vectors("text"), catalog.ids()  # reads change nothing
    assert catalog.generation == g1
    catalog.upsert_clips([record("a", prompt="again")], {"text": ("m", unit_rows(rng, 1))})
    g2 = catalog.generation
    assert g2 > g1
    catalog.delete_clip("b")
    g3 = catalog.generation
    assert g3 > g2
    catalog.delete_clip("b")  # nothing to delete, nothing changed
    assert catalog.generation == g3


def test_channel_vectors_hold_every_stored_vector_of_one_model(catalog, rng):
    text = unit_rows(rng, 3)
    visual = unit_rows(rng, 3, dim=8)
    visual[1] = np.nan
    seqs = catalog.upsert_clips([record("a"), record("b"), record("c")],
                                {"text": ("mt", text), "visual": ("mv", visual)})  # fmt: skip
    stored = catalog.channel_vectors("text")
    assert (stored.channel, stored.model) == ("text", "mt")
    assert stored.seqs.dtype == np.int64 and stored.vectors.dtype == np.float32
    assert stored.vectors.shape == (3, DIM)
    assert as_dict(stored.seqs, stored.vectors) == as_dict(np.array(seqs), text)
    stored = catalog.channel_vectors("visual")
    assert stored.model == "mv" and stored.vectors.shape == (2, 8)
    assert as_dict(stored.seqs, stored.vectors) == as_dict(np.array(seqs)[[0, 2]], visual[[0, 2]])
    assert len(catalog.channel_vectors("audio").seqs) == 0
    assert catalog.channel_model("text") == "mt" and catalog.channel_model("visual") == "mv"
    assert catalog.channel_model("audio") is None


def test_channel_blocks_read_every_vector_a_block_at_a_time(catalog, rng):
    text = unit_rows(rng, 7)
    visual = unit_rows(rng, 7, dim=8)
    visual[[1, 4]] = np.nan  # clips without a visual vector
    catalog.upsert_clips([record(f"c{i}") for i in range(7)],
                         {"text": ("mt", text), "visual": ("mv", visual)})  # fmt: skip
    catalog.delete_clip("c2")
    for channel in ("text", "visual"):
        whole = catalog.channel_vectors(channel)
        for rows in (1, 3, 5, 6, 100):  # 6 text rows: blocks of 6 end without an empty one
            blocks = list(catalog.channel_blocks(channel, rows))
            sizes = [len(b.seqs) for b in blocks]
            assert all(0 < size <= rows for size in sizes) and sum(sizes) == len(whole.seqs)
            assert len(blocks) == -(-len(whole.seqs) // rows)
            assert {(b.channel, b.model) for b in blocks} == {(channel, whole.model)}
            seqs = np.concatenate([b.seqs for b in blocks])
            np.testing.assert_array_equal(seqs, whole.seqs)  # in seq order, each once
            np.testing.assert_array_equal(np.concatenate([b.vectors for b in blocks]),
                                          whole.vectors)  # fmt: skip
        # A read resumed after a seq (a stopped index build) starts with the next one.
        after = int(whole.seqs[2])
        rest = list(catalog.channel_blocks(channel, 2, after=after))
        np.testing.assert_array_equal(np.concatenate([b.seqs for b in rest]), whole.seqs[3:])
        np.testing.assert_array_equal(np.concatenate([b.vectors for b in rest]),
                                      whole.vectors[3:])  # fmt: skip
        assert list(catalog.channel_blocks(channel, 2, after=int(whole.seqs[-1]))) == []
    assert list(catalog.channel_blocks("audio", 3)) == []
    with pytest.raises(ValueError, match="at least one row"):
        list(catalog.channel_blocks("text", 0))


def test_channel_blocks_refuse_a_channel_of_two_models(catalog, rng):
    catalog.upsert_clips([record("a"), record("b")], {"text": ("old", unit_rows(rng, 2))})
    catalog.upsert_clips([record("c")], {"text": ("new", unit_rows(rng, 1))})
    blocks = catalog.channel_blocks("text", 2)
    assert next(blocks).model == "old"
    with pytest.raises(CatalogError, match="several models"):
        next(blocks)
    with pytest.raises(CatalogError, match="several models"):
        list(catalog.channel_blocks("text", 5))


def test_vectors_stored_as_float16_read_back_within_its_rounding(open_catalog, rng):
    catalog = open_catalog()
    assert catalog.vector_format == "float32"
    early, late = unit_rows(rng, 3), unit_rows(rng, 4)
    catalog.upsert_clips([record(f"e{i}") for i in range(3)], {"text": ("m", early)})
    saved_at = catalog.generation
    catalog.set_vector_format("float16")
    late_seqs = catalog.upsert_clips([record(f"l{i}") for i in range(4)], {"text": ("m", late)})
    again = open_catalog()  # the format is the catalog's, kept across a restart
    assert again.vector_format == "float16"
    # Earlier vectors keep their float32 values; later ones read as float16 rounds them.
    expected = np.concatenate([early, late.astype(np.float16).astype(np.float32)])
    stored = again.channel_vectors("text")
    assert stored.vectors.dtype == np.float32
    np.testing.assert_array_equal(stored.vectors, expected)
    assert np.abs(stored.vectors[3:] - late).max() < 1e-3
    for rows in (1, 2, 5):  # blocks of one format, and blocks of both
        blocks = list(again.channel_blocks("text", rows))
        np.testing.assert_array_equal(np.concatenate([b.vectors for b in blocks]), expected)
    changes = again.channel_changes("text", saved_at)
    np.testing.assert_array_equal(changes.upserted.seqs, late_seqs)
    np.testing.assert_array_equal(changes.upserted.vectors, expected[3:])
    again.set_vector_format("float32")
    catalog.upsert_clips([record("f")], {"text": ("m", late[:1])})
    np.testing.assert_array_equal(again.channel_vectors("text").vectors[-1], late[0])


def test_a_bad_vector_format_or_value_is_refused_and_changes_nothing(catalog, rng):
    with pytest.raises(ValueError, match="unknown vector format 'float8'"):
        catalog.set_vector_format("float8")
    assert catalog.vector_format == "float32"
    catalog.set_vector_format("float16")
    generation, big = catalog.generation, unit_rows(rng, 2)
    big[1, 0] = 1e6  # finite in float32, beyond float16
    with pytest.raises(ValueError, match="beyond float16's range"):
        catalog.upsert_clips([record("a"), record("b")], {"text": ("m", big)})
    assert catalog.generation == generation and catalog.count() == 0
    assert len(catalog.channel_vectors("text").seqs) == 0


def test_channel_changes_are_what_an_index_needs_to_catch_up(catalog, rng):
    seq_a, seq_b, seq_c = catalog.upsert_clips(
        [record("a"), record("b"), record("c")], {"text": ("m", unit_rows(rng, 3))}
    )
    saved_at = catalog.generation  # an index saved here
    assert len(catalog.channel_changes("text", saved_at).upserted.seqs) == 0
    assert len(catalog.channel_changes("text", saved_at).removed) == 0
    new_a, d = unit_rows(rng, 1), unit_rows(rng, 1)
    catalog.upsert_clips([record("a", prompt="redone")], {"text": ("m", new_a)})
    (seq_d,) = catalog.upsert_clips([record("d")], {"text": ("m", d)})
    catalog.delete_clip("b")
    catalog.upsert_clips([record("c", prompt="no text now")], {})  # c lost its text vector
    changes = catalog.channel_changes("text", saved_at)
    assert changes.upserted.model == "m"
    assert as_dict(changes.upserted.seqs, changes.upserted.vectors) == as_dict(
        np.array([seq_a, seq_d]), np.concatenate([new_a, d]))  # fmt: skip
    assert changes.removed.dtype == np.int64
    assert sorted(changes.removed.tolist()) == sorted([seq_b, seq_c])
    # from the start, the change log holds everything there is
    everything = catalog.channel_changes("text", 0)
    assert sorted(everything.upserted.seqs.tolist()) == [seq_a, seq_d]
    assert seq_b in everything.removed.tolist()
    # and nothing after the newest generation
    latest = catalog.channel_changes("text", catalog.generation)
    assert len(latest.upserted.seqs) == 0 and len(latest.removed) == 0


def test_a_deleted_clip_upserted_again_is_no_longer_removed(catalog, rng):
    catalog.upsert_clips([record("a")], {"text": ("m", unit_rows(rng, 1))})
    saved_at = catalog.generation
    catalog.delete_clip("a")
    (seq,) = catalog.upsert_clips([record("a")], {"text": ("m", unit_rows(rng, 1))})
    changes = catalog.channel_changes("text", saved_at)
    assert changes.upserted.seqs.tolist() == [seq]
    assert seq not in changes.removed.tolist()
    assert catalog.get("a").seq == seq


def test_handles_creators_and_ids(catalog, rng):
    catalog.upsert_clips(
        [record("z1", creator="cy", cameos=("dee",)), record("a1", creator="ann"),
         record("z2", creator="cy", cameos=("ann", "eve"))],
        {"text": ("m", unit_rows(rng, 3))},
    )  # fmt: skip
    assert catalog.ids() == ["z1", "a1", "z2"]  # in the order they were added
    assert catalog.creators() == ["ann", "cy"]
    assert catalog.handles() == {"ann", "cy", "dee", "eve"}


def test_clips_by_cameo_creator_and_remix_come_newest_first(catalog, rng):
    catalog.upsert_clips(
        [record("old", 100.0, cameos=("bo",)), record("mid", 200.0, creator="cy"),
         record("new", 300.0, cameos=("bo", "dee")),
         record("r1", 110.0, creator="cy", remix_of="old"),
         record("r2", 310.0, creator="dee", remix_of="old"),
         record("r3", 210.0, remix_of="old")],
        {"text": ("m", unit_rows(rng, 6))},
    )  # fmt: skip
    assert [c.id for c in catalog.clips_with_cameo("bo")] == ["new", "old"]
    assert [c.id for c in catalog.clips_with_cameo("dee")] == ["new"]
    assert catalog.clips_with_cameo("nobody") == []
    assert [c.id for c in catalog.clips_by_creator("ann", 10)] == ["new", "r3", "old"]
    assert [c.id for c in catalog.clips_by_creator("ann", 2)] == ["new", "r3"]
    assert [c.id for c in catalog.clips_by_creator("cy", 10)] == ["mid", "r1"]
    assert catalog.clips_by_creator("nobody", 10) == []
    assert [c.id for c in catalog.remixes_of("old", 10)] == ["r2", "r3", "r1"]
    assert [c.id for c in catalog.remixes_of("old", 1)] == ["r2"]
    assert catalog.remixes_of("new", 10) == []


def test_video_paths_only_for_clips_that_have_one(catalog, rng):
    catalog.upsert_clips([record("a", video_path="media/a.mp4"), record("b")],
                         {"text": ("m", unit_rows(rng, 2))})  # fmt: skip
    assert catalog.video_paths(["a", "b", "nope"]) == {"a": "media/a.mp4"}
    assert catalog.video_paths([]) == {}


def test_a_batch_with_the_wrong_number_of_vectors_changes_nothing(catalog, rng):
    catalog.upsert_clips([record("a")], {"text": ("m", unit_rows(rng, 1))})
    before = catalog.generation
    with pytest.raises(ValueError):
        catalog.upsert_clips([record("b"), record("c")], {"text": ("m", unit_rows(rng, 3))})
    assert catalog.ids() == ["a"] and catalog.generation == before


def test_reopening_keeps_clips_vectors_generation_and_change_log(open_catalog, rng):
    catalog = open_catalog()
    vectors = unit_rows(rng, 2)
    seq_a, seq_b = catalog.upsert_clips(
        [record("a", cameos=("bo",), remix_of="b", video_path="a.mp4"), record("b")],
        {"text": ("m", vectors)},
    )
    catalog.delete_clip("b")
    clip, generation = catalog.get("a"), catalog.generation
    catalog.close()
    again = open_catalog()
    assert again.generation == generation and again.count() == 1
    assert again.get("a") == clip and again.get_many([seq_a]) == {seq_a: clip}
    assert again.handles() == {"ann", "bo"} and again.video_paths(["a"]) == {"a": "a.mp4"}
    assert [c.id for c in again.clips_with_cameo("bo")] == ["a"]
    assert [c.id for c in again.remixes_of("b", 5)] == ["a"]
    stored = again.channel_vectors("text")
    assert as_dict(stored.seqs, stored.vectors) == as_dict(np.array([seq_a]), vectors[:1])
    assert again.channel_changes("text", 0).removed.tolist() == [seq_b]
    assert again.channel_model("text") == "m"
    (seq_c,) = again.upsert_clips([record("c")], {"text": ("m", unit_rows(rng, 1))})
    assert seq_c not in (seq_a, seq_b)  # a seq is never handed out twice
    assert again.generation > generation


def test_an_id_repeated_in_one_batch_is_one_clip_as_last_written(catalog, rng):
    text = unit_rows(rng, 3)
    seqs = catalog.upsert_clips(
        [record("a", cameos=("bo",)), record("b"), record("a", prompt="later", cameos=("cy",))],
        {"text": ("m", text)},
    )
    assert seqs[0] == seqs[2] != seqs[1] and catalog.ids() == ["a", "b"]
    a = catalog.get("a")
    assert a is not None and (a.prompt, a.cameos) == ("later", ("bo", "cy"))
    stored = catalog.channel_vectors("text")
    assert as_dict(stored.seqs, stored.vectors) == as_dict(np.array(seqs[1:]), text[1:])


def test_a_channel_holding_vectors_of_two_models_is_refused(catalog, rng):
    catalog.upsert_clips([record("a")], {"text": ("old", unit_rows(rng, 1))})
    saved_at = catalog.generation
    catalog.upsert_clips([record("b")], {"text": ("new", unit_rows(rng, 1))})
    with pytest.raises(CatalogError, match="several models"):
        catalog.channel_vectors("text")
    assert catalog.channel_changes("text", saved_at).upserted.model == "new"
    with pytest.raises(CatalogError, match="several models"):
        catalog.channel_changes("text", 0)
