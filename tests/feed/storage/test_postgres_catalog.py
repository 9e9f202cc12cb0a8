"""What only the PostgreSQL catalog promises: its schema, a database shared with the other
stores, and several processes writing one catalog (the shared contract is in
test_catalog_contract.py)."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from feed.storage.catalog import CatalogError, ClipRecord
from feed.storage.stores import open_store


def record(clip_id: str, creator: str = "ann") -> ClipRecord:
    return ClipRecord(id=clip_id, prompt=f"prompt {clip_id}", creator=creator, created_at=1.0)


def text(n: int) -> dict[str, tuple[str, np.ndarray]]:
    return {"text": ("m", np.eye(n, 4, dtype=np.float32))}


def test_catalog_user_state_and_jobs_share_one_database(postgres_url):
    users = open_store("users", postgres_url)
    jobs = open_store("jobs", postgres_url)
    catalog = open_store("catalog", postgres_url)
    try:
        user, _ = users.create_user("ann", 1.0)
        catalog.upsert_clips([record("a", creator="ann")], text(1))
        assert users.user_by_handle("ann") == user and catalog.creators() == ["ann"]
    finally:
        for store in (catalog, jobs, users):
            store.close()


def test_two_openers_see_each_others_writes_and_never_share_a_seq(postgres_url):
    first, second = open_store("catalog", postgres_url), open_store("catalog", postgres_url)
    try:
        (seq_a,) = first.upsert_clips([record("a")], text(1))
        (seq_b,) = second.upsert_clips([record("b")], text(1))
        assert seq_a != seq_b and first.ids() == second.ids() == ["a", "b"]
        assert first.generation == second.generation
        changes = first.channel_changes("text", 1)
        assert changes.upserted.seqs.tolist() == [seq_b]
    finally:
        first.close()
        second.close()


def test_a_catalog_of_a_newer_schema_is_refused(postgres_url):
    open_store("catalog", postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = version + 1 WHERE kind = 'catalog'")
    with pytest.raises(CatalogError, match="newer than this steerfeed"):
        open_store("catalog", postgres_url)


def test_an_unreachable_server_is_one_clear_error(postgres_server):
    url = postgres_server.url("no_such_database")
    with pytest.raises(CatalogError, match="not a usable steerfeed catalog"):
        open_store("catalog", url)
