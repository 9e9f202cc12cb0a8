"""Vector shards: embed a manifest in pieces, resume after a kill, ingest without encoding."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import pytest
from support import write_manifest

from feed import bootstrap, cli
from feed.core.intent import has_japanese
from feed.core.manifest import read_manifest
from feed.services.clips import TEXT, VISUAL, ClipStore
from feed.services.shards import EncoderSpec, embed_manifest, read_vectors, shard_path
from feed.storage.catalog import CatalogError

TEXT_ONLY = EncoderSpec(multilingual=False)  # the packaged MiniLM, as workers load it


@dataclass
class CountingEncoder:
    """A text encoder that records every text it is asked to encode."""

    inner: object
    seen: list[str]

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def multilingual(self) -> bool:
        return bool(getattr(self.inner, "multilingual", False))

    def encode_texts(self, texts):
        self.seen.extend(texts)
        return self.inner.encode_texts(texts)


def vectors_by_id(engine, channel: str) -> dict[str, np.ndarray]:
    stored = engine.catalog.channel_vectors(channel)
    clips = engine.catalog.get_many(stored.seqs.tolist())
    return {clips[int(s)].id: v for s, v in zip(stored.seqs.tolist(), stored.vectors, strict=True)}


def assert_same_vectors(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for clip_id in a:
        np.testing.assert_allclose(a[clip_id], b[clip_id], atol=1e-4, err_msg=clip_id)


@pytest.fixture
def manifest(tmp_path, labelled_rows):
    return write_manifest(tmp_path / "m.jsonl", labelled_rows)


def test_shards_ingest_like_a_normal_ingest(tmp_path, manifest, make_engine, text_encoder):
    entries = read_manifest(manifest).entries
    report = embed_manifest(entries, tmp_path / "vec", TEXT_ONLY, shard_size=4)
    assert (report.written, report.skipped, report.clips) == (3, 0, 10)
    assert sorted(p.name for p in (tmp_path / "vec").iterdir()) == [
        "shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet",
    ]  # fmt: skip
    table = pq.read_table(shard_path(tmp_path / "vec", 0))
    assert table.column("channel").to_pylist() == [TEXT] * 4
    assert set(table.column("model_id").to_pylist()) == {"all-MiniLM-L6-v2"}
    assert set(table.column("dim").to_pylist()) == {384}

    plain = make_engine(tmp_path / "plain")
    plain.ingest(entries, now=1.0)
    counting = CountingEncoder(text_encoder, [])
    given = ClipStore(tmp_path / "given", counting, None)
    try:
        result = given.ingest(entries, now=1.0, precomputed=read_vectors(tmp_path / "vec", entries))
        assert len(result.added) == 10 and not result.errors
        assert counting.seen == []  # nothing encoded again
        assert_same_vectors(vectors_by_id(plain, TEXT), vectors_by_id(given, TEXT))
        assert [h.clip.id for h in given.search("anime style", 3)] == [
            h.clip.id for h in plain.search("anime style", 3)
        ]
    finally:
        given.catalog.close()


def test_an_edited_line_is_encoded_at_ingest(tmp_path, labelled_rows, text_encoder):
    first = read_manifest(write_manifest(tmp_path / "a.jsonl", labelled_rows)).entries
    embed_manifest(first, tmp_path / "vec", TEXT_ONLY, shard_size=4)
    edited = [dict(r) for r in labelled_rows]
    edited[0]["prompt"] = "a lighthouse in a storm"
    entries = read_manifest(write_manifest(tmp_path / "b.jsonl", edited)).entries
    counting = CountingEncoder(text_encoder, [])
    engine = ClipStore(tmp_path / "home", counting, None)
    try:
        engine.ingest(entries, now=1.0, precomputed=read_vectors(tmp_path / "vec", entries))
        assert len(counting.seen) == 1 and counting.seen[0].startswith(edited[0]["prompt"])
    finally:
        engine.catalog.close()


def test_an_english_only_tower_reads_a_japanese_prompt_in_english(
    tmp_path, text_encoder, multi_encoder
):
    rows = [
        {"id": "ja-1", "prompt": "水彩で描いた子猫が窓辺で雨粒を目で追う", "creator": "maker0"},
        {"id": "en-1", "prompt": "a lighthouse in a storm", "creator": "maker1"},
    ]
    entries = read_manifest(write_manifest(tmp_path / "m.jsonl", rows)).entries
    english, multi = CountingEncoder(text_encoder, []), CountingEncoder(multi_encoder, [])
    engine = ClipStore(tmp_path / "home", english, None, multi_encoder=multi)
    try:
        assert not engine.ingest(entries, now=1.0).errors
        # MiniLM is given the dictionary's English; USE, which reads Japanese, the prompt.
        read = [t for t in english.seen if "kitten" in t]
        assert len(read) == 1 and "watercolor" in read[0] and not has_japanese(read[0])
        assert any(t.startswith("a lighthouse in a storm") for t in english.seen)
        assert any("子猫" in t for t in multi.seen)
        english.seen.clear()
        assert engine.search("窓辺の子猫", 1)[0].clip.id == "ja-1"
        assert not any(has_japanese(t) for t in english.seen)  # the query read in English too
        out = tmp_path / "vec"
        embed_manifest(entries, out, TEXT_ONLY, shard_size=4)  # a worker reads it the same way
        assert_same_vectors(
            vectors_by_id(engine, TEXT),
            read_vectors(out, entries).vectors[TEXT],
        )
    finally:
        engine.catalog.close()


def test_rerun_skips_done_shards_and_redoes_a_missing_one(tmp_path, manifest):
    entries = read_manifest(manifest).entries
    out = tmp_path / "vec"
    embed_manifest(entries, out, TEXT_ONLY, shard_size=4)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    ticks: list[int] = []

    again = embed_manifest(entries, out, TEXT_ONLY, shard_size=4, progress=ticks.append)
    assert (again.written, again.skipped) == (0, 3)
    assert sum(ticks) == 3  # the bar still reaches the end
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps

    shard_path(out, 1).unlink()
    # A worker killed mid-write leaves at most a temp file, or a torn shard: both redone.
    (out / ".shard-00001.parquet.abcd.tmp").write_bytes(b"PAR1 torn")
    shard_path(out, 2).write_bytes(b"PAR1 torn")
    redo = embed_manifest(entries, out, TEXT_ONLY, shard_size=4)
    assert (redo.written, redo.skipped) == (2, 1)
    assert shard_path(out, 0).stat().st_mtime_ns == stamps["shard-00000.parquet"]
    assert len(read_vectors(out, entries).vectors[TEXT]) == 10


def test_a_changed_line_redoes_only_its_shard(tmp_path, labelled_rows):
    out = tmp_path / "vec"
    entries = read_manifest(write_manifest(tmp_path / "a.jsonl", labelled_rows)).entries
    embed_manifest(entries, out, TEXT_ONLY, shard_size=4)
    edited = [dict(r) for r in labelled_rows]
    edited[5]["prompt"] = "a lighthouse in a storm"
    entries = read_manifest(write_manifest(tmp_path / "b.jsonl", edited)).entries
    report = embed_manifest(entries, out, TEXT_ONLY, shard_size=4)
    assert (report.written, report.skipped) == (1, 2)


def test_visual_vectors_come_from_the_shards(
    tmp_path, media_dir, text_encoder, tiny_clip, tiny_clip_files
):
    rows = [
        {"id": "car", "prompt": "a car phone call", "creator": "a", "video": "carphone.mp4"},
        {"id": "broken", "prompt": "nothing to see", "creator": "a", "video": "corrupt.mp4"},
        {"id": "words", "prompt": "just a prompt", "creator": "a"},
    ]
    entries = read_manifest(write_manifest(media_dir / "m.jsonl", rows)).entries
    files = tiny_clip_files
    spec = EncoderSpec(
        multilingual=False,
        clip_model=files.name,
        clip_pretrained=str(files.checkpoint),
        clip_config=str(files.config),
    )
    report = embed_manifest(entries, tmp_path / "vec", spec)
    assert len(report.media_errors) == 1 and report.media_errors[0].startswith("broken:")
    given = read_vectors(tmp_path / "vec", entries)
    assert set(given.vectors[VISUAL]) == {"car"}
    assert given.model_ids[VISUAL] == tiny_clip.model_id

    class NoFrames:  # the visual encoder must not see a frame: the shard has the vector
        model_id, dim = tiny_clip.model_id, tiny_clip.dim

        def encode_texts(self, texts):
            return tiny_clip.encode_texts(texts)

        def encode_images(self, images):
            raise AssertionError("frames encoded again")

    engine = ClipStore(tmp_path / "home", text_encoder, NoFrames())
    try:
        result = engine.ingest(entries, now=1.0, precomputed=given)
        assert set(result.added) == {"car", "words"}
        assert [e.clip_id for e in result.errors] == ["broken"]
        stored = vectors_by_id(engine, VISUAL)
        assert set(stored) == {"car"}
        np.testing.assert_allclose(stored["car"], given.vectors[VISUAL]["car"], atol=1e-6)
        assert engine.catalog.get("car").width == 176  # media facts still probed
    finally:
        engine.catalog.close()


@pytest.fixture
def cli_env(monkeypatch):
    monkeypatch.setenv("STEERFEED_CLIP_PRETRAINED", "off")
    monkeypatch.setenv("STEERFEED_MULTILINGUAL", "off")


def test_cli_embed_then_ingest(tmp_path, manifest, cli_env, capsys):
    out, home = str(tmp_path / "vec"), str(tmp_path / "home")
    args = ["embed", "--manifest", str(manifest), "--out", out, "--shard-size", "3"]
    assert cli.main(args) == 0
    assert "embedded 4 shards (10 clips), 0 already done" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "embedded 0 shards (0 clips), 4 already done" in capsys.readouterr().out
    assert cli.main(["ingest", str(manifest), "--vectors", out, "--home", home]) == 0
    assert "ingested 10 new" in capsys.readouterr().out


def test_model_mismatch_is_refused_and_changes_nothing(
    tmp_path, manifest, cli_env, monkeypatch, text_encoder, capsys
):
    out, home = tmp_path / "vec", tmp_path / "home"
    entries = read_manifest(manifest).entries
    embed_manifest(entries, out, TEXT_ONLY, shard_size=4)

    other = CountingEncoder(text_encoder, [])
    monkeypatch.setattr(type(other), "model_id", property(lambda self: "another-model"))
    monkeypatch.setattr(bootstrap.SentenceEncoder, "load", lambda *a, **k: other)
    assert cli.main(["ingest", str(manifest), "--vectors", str(out), "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'all-MiniLM-L6-v2'" in err and "reindex --reembed" in err
    assert other.seen == []
    engine = ClipStore(home, other, None)
    try:
        assert engine.catalog.count() == 0
    finally:
        engine.catalog.close()
    with pytest.raises(CatalogError, match="reindex --reembed"):
        ClipStore(tmp_path / "h2", other, None).ingest(
            entries, precomputed=read_vectors(out, entries)
        )


@pytest.mark.slow
def test_local_cluster_writes_the_same_shards(tmp_path, manifest, cli_env, capsys):
    here, there = tmp_path / "here", tmp_path / "there"
    base = ["embed", "--manifest", str(manifest), "--shard-size", "3"]
    assert cli.main([*base, "--out", str(here)]) == 0
    assert cli.main([*base, "--out", str(there), "--local-cluster", "2"]) == 0
    assert "embedded 4 shards (10 clips)" in capsys.readouterr().out
    assert sorted(os.listdir(here)) == sorted(os.listdir(there))
    for name in os.listdir(here):
        a, b = pq.read_table(here / name), pq.read_table(there / name)
        assert a.schema.metadata == b.schema.metadata  # same digest: the same lines and models
        for column in ("clip_id", "source", "channel", "model_id", "dim"):
            assert a.column(column).to_pylist() == b.column(column).to_pylist()
        np.testing.assert_allclose(
            np.array(a.column("vector").to_pylist()),
            np.array(b.column("vector").to_pylist()),
            atol=1e-5,
        )
    entries = read_manifest(manifest).entries
    assert json.dumps(sorted(read_vectors(there, entries).vectors[TEXT])) == json.dumps(
        sorted(e.id for e in entries)
    )
