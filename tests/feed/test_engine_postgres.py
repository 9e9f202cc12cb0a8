"""ClipStore over a PostgreSQL catalog: ingest, search and delete as on SQLite, and an
index lost with its machine is rebuilt from the catalog the servers share."""

from __future__ import annotations

import pytest
from support import ANIME, assert_catalog_and_index_agree, write_manifest

from feed.core.manifest import read_manifest
from feed.services.clips import ClipStore
from feed.storage.stores import open_store


def open_engine(home, text_encoder, catalog_url, index_dir) -> ClipStore:
    return ClipStore(
        home, text_encoder, None, catalog=open_store("catalog", catalog_url),
        indexes=open_store("vectors", f"faiss://{index_dir}"),
    )  # fmt: skip


@pytest.mark.slow
def test_a_postgres_catalog_serves_search_and_rebuilds_a_lost_index(
    tmp_path, text_encoder, labelled_rows, postgres_url
):
    home = tmp_path / "home"
    engine = open_engine(home, text_encoder, postgres_url, tmp_path / "index-1")
    entries = read_manifest(write_manifest(tmp_path / "m.jsonl", labelled_rows)).entries
    report = engine.ingest(entries, now=5000.0)
    assert sorted(report.added) == sorted(r["id"] for r in labelled_rows)
    assert engine.catalog.count() == len(labelled_rows)
    assert_catalog_and_index_agree(engine)
    top = [r.clip.id for r in engine.search("anime", limit=3)]
    assert set(top) == ANIME
    assert engine.delete("anime-1") and not engine.delete("anime-1")
    assert engine.catalog.get("anime-1") is None
    assert "anime-1" not in [r.clip.id for r in engine.search("anime", limit=10)]
    engine.close()

    # Another machine: the same catalog, no index on its disk.
    again = open_engine(home, text_encoder, postgres_url, tmp_path / "index-2")
    try:
        assert again.catalog.count() == len(labelled_rows) - 1
        assert len(again.indexes["text"]) == len(labelled_rows) - 1
        assert_catalog_and_index_agree(again)
        top = [r.clip.id for r in again.search("anime", limit=2)]
        assert set(top) == ANIME - {"anime-1"}
    finally:
        again.close()
