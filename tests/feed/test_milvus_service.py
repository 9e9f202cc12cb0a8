"""The feed with its vectors in Milvus (`STEERFEED_VECTORS_URL=milvus://…`; a milvus-lite
file stands in for a server, through the same client): search and the taste source
retrieve through Milvus, steering moves the page, and an engine reopened later catches
its collections up with the clips the catalog gained meanwhile."""

from __future__ import annotations

import logging
import os

import pytest
from fastapi.testclient import TestClient
from support import steering_catalog_entries, steering_catalog_rows

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.pages import PER_SOURCE
from feed.settings import Settings
from feed.storage.milvus import MilvusIndex
from feed.storage.stores import open_store

NOW = 1_800_000_000.0
ROWS = steering_catalog_rows()
LABEL = {r["id"]: r for r in ROWS}
LATER = [
    {"id": "later-1", "prompt": "Neon jellyfish drifting through a flooded subway station",
     "creator": "dee"},
    {"id": "later-2", "prompt": "A lighthouse keeper feeding seagulls at dawn",
     "creator": "dee"},
]  # fmt: skip


def open_engine(settings: Settings, text_encoder) -> ClipStore:
    """The engine over the settings' catalog and vector URLs (as `steerfeed serve` opens it,
    with the session's text encoder)."""
    urls = settings.store_urls
    return ClipStore(
        settings.home, text_encoder, None, catalog=open_store("catalog", urls.catalog),
        indexes=open_store("vectors", urls.vectors),
    )  # fmt: skip


@pytest.mark.slow
def test_a_feed_over_milvus_searches_serves_steers_and_catches_up(
    tmp_path, text_encoder, monkeypatch, caplog
):
    home = tmp_path / "home"
    url = f"milvus://{tmp_path / 'milvus' / 'vectors.db'}"
    env = os.environ | {"STEERFEED_HOME": str(home), "STEERFEED_VECTORS_URL": url}
    settings = Settings.from_env(env)
    assert settings.store_urls.vectors == url
    searched: list[tuple[str, int]] = []
    milvus_search = MilvusIndex.search

    def counted(index, queries, k, **options):
        searched.append((index.channel, k))
        return milvus_search(index, queries, k, **options)

    monkeypatch.setattr(MilvusIndex, "search", counted)

    engine = open_engine(settings, text_encoder)
    assert isinstance(engine.indexes["text"], MilvusIndex)
    engine.ingest(steering_catalog_entries(), now=NOW - 86_400)
    assert len(engine.indexes["text"]) == engine.catalog.count() == len(ROWS)
    with TestClient(create_app(settings, engine)) as client:
        found = client.get("/v1/search", params={"q": "a kitten chasing a laser dot"}).json()
        assert "kitten" in LABEL[found["items"][0]["clip_id"]]["prompt"]
        assert [channel for channel, _ in searched] == ["text"]  # candidates from Milvus

        r = client.post("/v1/users", json={"handle": "ann"})
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        cats = [row["id"] for row in ROWS if row["topic"] == "cats"][:4]
        events = [{"clip_id": c, "type": "like"} for c in cats]
        assert client.post("/v1/events", json={"events": events}, headers=auth).is_success
        before = client.get("/v1/feed", headers=auth).json()["items"]
        assert len(before) == 20
        assert ("text", PER_SOURCE["taste"] * 2) in searched  # the taste source, through Milvus

        steer = client.post("/v1/steer", json={"text": "more anime style"}, headers=auth)
        assert [a["op"] for a in steer.json()["applied"]] == ["boost"]
        after = client.get("/v1/feed", headers=auth).json()["items"]
        anime = [i["clip_id"] for i in after if LABEL[i["clip_id"]]["look"] == "anime"]
        assert len(anime) >= 16 > sum(LABEL[i["clip_id"]]["look"] == "anime" for i in before)
    engine.close()

    # Meanwhile another process adds clips to the shared catalog (with indexes of its own).
    elsewhere = open_store("vectors", f"faiss://{tmp_path / 'elsewhere'}")
    other = ClipStore(home, text_encoder, None, indexes=elsewhere)
    other.ingest([parse_entry(row, i, None, 2000) for i, row in enumerate(LATER, 1)], now=NOW)
    other.close()

    caplog.clear()
    loggers = ("feed.storage.milvus", "feed.storage.vectors")  # the index, and its catch-up
    for name in loggers:
        caplog.set_level(logging.INFO, logger=name)
    again = open_engine(settings, text_encoder)
    try:
        said = [r.getMessage() for r in caplog.records if r.name in loggers]
        assert said == ["text index caught up: 2 upserted, 0 removed"]  # not rebuilt
        assert len(again.indexes["text"]) == len(ROWS) + 2
        top = again.search("jellyfish in the subway", limit=1)
        assert [hit.clip.id for hit in top] == ["later-1"]
    finally:
        again.close()
