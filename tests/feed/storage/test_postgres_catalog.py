"""What only the PostgreSQL catalog promises: its schema, a database shared with the other
stores, and several processes writing one catalog (the shared contract is in
test_catalog_contract.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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


def test_writers_on_two_connections_neither_deadlock_nor_lose_a_generation(postgres_url):
    writers = [open_store("catalog", postgres_url) for _ in range(2)]
    try:
        writers[0].upsert_clips([record(f"c{i}") for i in range(20)], text(20))
        start = writers[0].generation

        def churn(catalog, offset: int) -> int:
            writes = 0
            for i in range(offset, 20, 2):  # updates and deletes of the same clips
                catalog.upsert_clips([record(f"c{i}"), record(f"c{(i + 1) % 20}")], text(2))
                writes += 1
                writes += catalog.delete_clip(f"c{(i + 3) % 20}") is not None
            return writes

        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(churn, writers, (0, 1)))
        assert writers[1].generation == start + sum(done)
        changes = writers[1].channel_changes("text", start)
        alive = {c.seq for c in writers[1].get_many(changes.upserted.seqs.tolist()).values()}
        assert alive == set(changes.upserted.seqs.tolist())
        assert not alive & set(changes.removed.tolist())
    finally:
        for catalog in writers:
            catalog.close()
