"""ClipStore: ingest real and broken media, search by meaning, stay consistent across crashes."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from support import ANIME, assert_catalog_and_index_agree, write_manifest

from feed.bootstrap import open_engine
from feed.core.manifest import read_manifest
from feed.services import clips as clips_mod
from feed.services.clips import fuse_channel_scores
from feed.settings import Settings
from feed.storage.catalog import embedding_text


def ingest_rows(engine, path, rows):
    manifest = read_manifest(write_manifest(path, rows))
    return manifest, engine.ingest(manifest.entries, now=5000.0)


def test_ingest_real_and_broken_media(tmp_path, make_engine, media_dir, labelled_rows):
    rows = labelled_rows[:3] + [
        {"id": "bunny", "prompt": "A big rabbit in a sunny meadow", "creator": "blender",
         "video": "bunny.mp4"},
        {"id": "car", "prompt": "A man talking on a phone in a car", "creator": "vqeg",
         "video": "carphone.mp4"},
        {"id": "broken", "prompt": "A corrupt file", "creator": "x", "video": "corrupt.mp4"},
        {"id": "ghost", "prompt": "A file that is not there", "creator": "x", "video": "nope.mp4"},
        {"id": "anime-1", "prompt": "repeat", "creator": "x"},
    ]  # fmt: skip
    engine = make_engine(tmp_path / "home")
    manifest, report = ingest_rows(engine, media_dir / "m.jsonl", rows)
    assert set(report.added) == {"anime-1", "anime-2", "anime-3", "bunny", "car"}
    assert {e.clip_id for e in report.errors} == {"broken", "ghost"}
    assert {e.line for e in report.errors} == {6, 7}
    assert [e.line for e in manifest.errors] == [8]
    bunny = engine.catalog.get("bunny")
    assert bunny.has_audio and bunny.width == 1280 and 5 < bunny.duration_s < 6
    assert (engine.home / bunny.video_path).read_bytes() == (media_dir / "bunny.mp4").read_bytes()
    assert not engine.catalog.get("car").has_audio
    assert engine.catalog.get("broken") is None
    assert_catalog_and_index_agree(engine)


def test_oversize_video_is_skipped(tmp_path, make_engine, media_dir):
    engine = make_engine(tmp_path / "home", max_video_bytes=10_000)
    _, report = ingest_rows(
        engine, media_dir / "m.jsonl",
        [{"id": "bunny", "prompt": "rabbit", "creator": "b", "video": "bunny.mp4"}],
    )  # fmt: skip
    assert report.added == () and "over the 10000 limit" in report.errors[0].reason
    assert engine.catalog.count() == 0


def test_reingest_updates_never_duplicates(tmp_path, make_engine, labelled_rows):
    engine = make_engine(tmp_path / "home")
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    labelled_rows[0]["prompt"] = "A dog on a skateboard, photorealistic"
    _, report = ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    assert len(report.updated) == len(labelled_rows) and report.added == ()
    assert engine.catalog.count() == len(labelled_rows)
    assert len(engine.indexes["text"]) == len(labelled_rows)
    top = engine.search("a dog riding a skateboard", 1)[0]
    assert top.clip.id == "anime-1"
    assert_catalog_and_index_agree(engine)


def test_search_by_meaning(tmp_path, make_engine, labelled_rows):
    engine = make_engine(tmp_path / "home")
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    top3 = {h.clip.id for h in engine.search("anime style", 3)}
    assert top3 == ANIME
    paraphrase = engine.search("stuff that looks like a Japanese cartoon", 3)
    assert paraphrase[0].clip.id in ANIME
    assert engine.search("scary ghost in a corridor", 1)[0].clip.id == "horror-1"
    # A pictograph is read by its name, as clip texts and steering phrases are.
    assert engine.search("🦊", 1)[0].clip.id == "water-1"
    assert engine.search("🐶", 1)[0].clip.id == "real-1"
    hits = engine.search("anime style", 10)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h.channel_scores.keys() == {"text"} for h in hits)


def test_visual_channel_with_tiny_clip(tmp_path, make_engine, media_dir, tiny_clip):
    engine = make_engine(tmp_path / "home", visual=tiny_clip)
    ingest_rows(
        engine, media_dir / "m.jsonl",
        [{"id": "bunny", "prompt": "rabbit", "creator": "b", "video": "bunny.mp4"},
         {"id": "words", "prompt": "a text-only clip", "creator": "b"}],
    )  # fmt: skip
    assert engine.catalog.get("bunny").channels == ("text", "visual")
    assert engine.catalog.get("words").channels == ("text",)
    assert len(engine.indexes["visual"]) == 1
    hits = {h.clip.id: h for h in engine.search("a rabbit", 2)}
    assert hits["bunny"].channel_scores.keys() == {"text", "visual"}
    assert hits["words"].channel_scores.keys() == {"text"}
    assert_catalog_and_index_agree(engine)


def test_fusion_uses_present_channels():
    scores = np.array([[0.9, 0.30], [0.5, np.nan], [0.1, 0.20]], dtype=np.float32)
    fused = fuse_channel_scores(scores)
    assert fused[0] > fused[1] > fused[2]
    single = fuse_channel_scores(np.array([[0.4], [np.nan]], dtype=np.float32))
    assert single[0] == np.float32(0.4) and single[1] == -np.inf


def test_unsaved_index_catches_up_on_reopen(tmp_path, make_engine, labelled_rows):
    home = tmp_path / "home"
    engine = make_engine(home)
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows[:4])
    # A crash after catalog commits but before the index is updated or saved:
    entries = read_manifest(write_manifest(tmp_path / "more.jsonl", labelled_rows[4:])).entries
    records = [engine._prepare(e, 1.0).record for e in entries]
    text = engine.encoders["text"]
    engine.catalog.upsert_clips(
        records, {"text": (text.model_id, text.encode_texts([r.prompt for r in records]))}
    )
    engine.catalog.delete_clip("anime-1")
    engine.catalog.close()
    reopened = make_engine(home)
    assert len(reopened.indexes["text"]) == len(labelled_rows) - 1
    assert_catalog_and_index_agree(reopened)


def test_missing_or_corrupt_index_is_rebuilt(tmp_path, make_engine, labelled_rows, caplog):
    home = tmp_path / "home"
    engine = make_engine(home)
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    engine.close()
    (home / "index" / "text.npz").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        reopened = make_engine(home)
    assert "rebuilding the text index" in caplog.text
    assert_catalog_and_index_agree(reopened)
    reopened.close()
    for f in (home / "index").iterdir():
        f.unlink()
    again = make_engine(home)
    assert len(again.indexes["text"]) == len(labelled_rows)


def test_delete_removes_everywhere(tmp_path, make_engine, media_dir):
    engine = make_engine(tmp_path / "home")
    ingest_rows(
        engine, media_dir / "m.jsonl",
        [{"id": "car", "prompt": "phone call in a car", "creator": "v", "video": "carphone.mp4"}],
    )  # fmt: skip
    media = engine.home / engine.catalog.get("car").video_path
    assert engine.delete("car") and not engine.delete("car")
    assert not media.exists() and engine.search("phone call", 5) == []
    assert_catalog_and_index_agree(engine)


def test_reindex_and_reembed(tmp_path, make_engine, labelled_rows):
    engine = make_engine(tmp_path / "home")
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    before = engine.indexes["text"].vectors_for(engine.indexes["text"].ids).copy()
    assert engine.reindex() == {"text": len(labelled_rows)}
    assert engine.reindex(reembed=True) == {"text": len(labelled_rows)}
    np.testing.assert_allclose(
        engine.indexes["text"].vectors_for(engine.indexes["text"].ids), before, atol=1e-5
    )
    assert_catalog_and_index_agree(engine)


def test_a_remix_keeps_its_originals_cameos_and_videos_land_whole(tmp_path, make_engine, media_dir):
    engine = make_engine(tmp_path / "home")
    rows = [
        {"id": "orig", "prompt": "@ann waving", "creator": "bob", "video": "carphone.mp4"},
        {"id": "rmx", "prompt": "the same, slower", "creator": "cy", "remix_of": "orig",
         "cameos": ["dee"], "video": "bunny.mp4"},
    ]  # fmt: skip
    entries = read_manifest(write_manifest(media_dir / "m.jsonl", rows)).entries
    engine.ingest(entries[:1])
    engine.ingest(entries[1:])
    assert engine.catalog.get("rmx").cameos == ("ann", "dee")
    # Videos are staged beside their target and renamed on commit: nothing is left over.
    media = sorted(p.name for p in engine.media_dir.iterdir())
    assert media == ["orig.mp4", "rmx.mp4"]


def test_keep_creators_refuses_another_creators_id_at_commit(tmp_path, make_engine, media_dir):
    engine = make_engine(tmp_path / "home")
    rows = [{"id": "x1", "prompt": "a red kite over a beach", "creator": "ann"}]
    engine.ingest(read_manifest(write_manifest(media_dir / "a.jsonl", rows)).entries)
    theirs = [{"id": "x1", "prompt": "my own clip", "creator": "bob"},
              {"id": "x2", "prompt": "a new one", "creator": "bob"}]  # fmt: skip
    report = engine.ingest(
        read_manifest(write_manifest(media_dir / "b.jsonl", theirs)).entries, keep_creators=True
    )
    assert report.added == ("x2",) and [(e.clip_id, e.reason) for e in report.errors] == [
        ("x1", "clip id belongs to another creator")
    ]
    assert engine.catalog.get("x1").creator == "ann"
    assert engine.catalog.get("x1").prompt == "a red kite over a beach"
    assert_catalog_and_index_agree(engine)
    mine = [{"id": "x1", "prompt": "a blue kite over a beach", "creator": "ann"}]
    report = engine.ingest(
        read_manifest(write_manifest(media_dir / "c.jsonl", mine)).entries, keep_creators=True
    )
    assert report.updated == ("x1",) and engine.catalog.get("x1").prompt.startswith("a blue")


def test_repeated_nearest_is_cached_and_carried_over_additions(
    tmp_path, make_engine, labelled_rows, monkeypatch
):
    engine = make_engine(tmp_path / "home")
    ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows)
    q = engine.encoders["text"].encode_texts(["a lighthouse keeper at dawn"])[0]
    index = engine.indexes["text"]
    real = type(index).search

    def searched(k: int) -> list[int]:
        return real(index, q[None, :], k)[0].ids.tolist()

    first = engine.nearest("text", q, 3)
    assert engine.nearest("text", q, 3) is first  # the same search, answered from the cache
    assert not first.flags.writeable
    # an upload only adds: the kept search scores the new clip and keeps the best 3
    calls = []
    monkeypatch.setattr(
        type(index), "search", lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw)
    )
    ingest_rows(engine, tmp_path / "n.jsonl", [
        {"id": "keeper", "prompt": "a lighthouse keeper at dawn", "creator": "v"},
    ])  # fmt: skip
    again = engine.nearest("text", q, 3)
    keeper = engine.catalog.get("keeper").seq
    assert not calls and again[0] == keeper and not again.flags.writeable
    assert again.tolist() == searched(3)  # what searching the index now finds (flat: exact)
    # so does one that adds a clip the query does not reach
    ingest_rows(engine, tmp_path / "o.jsonl", [
        {"id": "far", "prompt": "spreadsheet formulas explained", "creator": "v"},
    ])  # fmt: skip
    assert engine.nearest("text", q, 3).tolist() == searched(3) and not calls
    # an update of a clip held already, or a delete, searches afresh
    ingest_rows(engine, tmp_path / "p.jsonl", [
        {"id": "keeper", "prompt": "a tax form on a desk", "creator": "v"},
    ])  # fmt: skip
    assert engine.nearest("text", q, 3).tolist() == searched(3) and calls
    assert keeper not in searched(3)
    calls.clear()
    ingest_rows(engine, tmp_path / "q.jsonl", [
        {"id": "keeper2", "prompt": "a lighthouse keeper at dawn", "creator": "v"},
    ])  # fmt: skip
    assert engine.nearest("text", q, 3)[0] == engine.catalog.get("keeper2").seq and not calls
    assert engine.delete("keeper2")
    assert engine.catalog.get("keeper2") is None
    assert engine.nearest("text", q, 3).tolist() == searched(3) and calls
    # past CARRIED_ROWS added rows, kept searches are forgotten
    monkeypatch.setattr(clips_mod, "CARRIED_ROWS", 1)
    engine.nearest("text", q, 3)
    calls.clear()
    ingest_rows(engine, tmp_path / "r.jsonl", [
        {"id": "a1", "prompt": "a lighthouse at dawn", "creator": "v"},
        {"id": "a2", "prompt": "a keeper at dawn", "creator": "v"},
    ])  # fmt: skip
    assert engine.nearest("text", q, 3).tolist() == searched(3) and calls


def test_a_home_set_to_float16_stores_half_the_bytes_and_searches_alike(tmp_path, labelled_rows):
    with pytest.raises(ValueError, match="unknown vector format 'half'"):
        Settings.from_env({"STEERFEED_CATALOG_VECTORS": "half"})
    settings = Settings.from_env(
        {"STEERFEED_CATALOG_VECTORS": "Float16", "STEERFEED_MULTILINGUAL": "off"},
        home=tmp_path / "home",
    )
    assert settings.catalog_vectors == "float16"
    settings = replace(settings, clip_pretrained=None)  # text only: no CLIP weights here
    engine = open_engine(settings)
    try:
        assert engine.catalog.vector_format == "float16"
        _, report = ingest_rows(engine, tmp_path / "m.jsonl", labelled_rows[:6])
        assert len(report.added) == 6
        stored = engine.catalog.channel_vectors("text")
        rows = engine.catalog.get_many(stored.seqs.tolist())
        texts = [embedding_text(c.prompt, c.caption, c.tags) for c in rows.values()]
        encoded = engine.encoders["text"].encode_texts(texts)
        np.testing.assert_array_equal(stored.vectors, encoded.astype(np.float16).astype(np.float32))
        assert_catalog_and_index_agree(engine)
        with sqlite3.connect(engine.catalog.path) as db:  # type: ignore[attr-defined]
            sql = "SELECT SUM(length(vec)), COUNT(*) FROM clip_vectors"
            size, count = db.execute(sql).fetchone()
        assert (size, count) == (6 * 384 * 2, 6)  # two bytes a value
        third = rows[int(stored.seqs[2])]
        assert engine.search(third.prompt, 1)[0].clip.id == third.id
    finally:
        engine.close()
    # Opened again without the setting, the catalog keeps its own.
    again = open_engine(replace(settings, catalog_vectors=None))
    try:
        assert again.catalog.vector_format == "float16"
    finally:
        again.close()


def test_a_home_whose_japanese_text_was_read_as_written_says_so_on_open(
    tmp_path, make_engine, monkeypatch, caplog
):
    """Homes embedded before MiniLM read Japanese clip text in English open with a warning
    naming `reindex --reembed`; once re-embedded, and in a home made now, there is none."""
    from feed.services import clips

    rows = [
        {"id": "ja-1", "prompt": "夕焼けの海で泳ぐイルカの群れ", "creator": "a"},
        {"id": "ja-2", "prompt": "雪の積もった京都の寺、静かな朝", "creator": "a"},
        {"id": "en-1", "prompt": "a cat riding a skateboard", "creator": "b"},
    ]
    with monkeypatch.context() as older:  # as an earlier release encoded clip text
        older.setattr(clips, "texts_read_by", lambda encoder, texts, dictionary: list(texts))
        engine = make_engine(tmp_path / "old")
        ingest_rows(engine, tmp_path / "m.jsonl", rows)
        engine.close()
    with caplog.at_level(logging.WARNING):
        engine = make_engine(tmp_path / "old")
    assert "2 of 2 clips sampled with Japanese text" in caplog.text
    assert "reindex --reembed" in caplog.text
    engine.reindex(reembed=True)
    engine.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_engine(tmp_path / "old")
        fresh = make_engine(tmp_path / "new")
        ingest_rows(fresh, tmp_path / "m.jsonl", rows)
        fresh.close()
        make_engine(tmp_path / "new")
    assert "Japanese text" not in caplog.text
