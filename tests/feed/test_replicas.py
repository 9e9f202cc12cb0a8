"""Two engines over one catalog, as two server processes would hold them: each keeps its
own search indexes, and each catches up with what the other wrote once it notices the
catalog's generation moved."""

from __future__ import annotations

import numpy as np
import pytest
from support import assert_catalog_and_index_agree

from feed.core.manifest import parse_entry
from feed.services import snapshot
from feed.services.clips import ClipStore
from feed.services.consent import ConsentGate
from feed.services.snapshot import Snapshots
from feed.storage.sqlite import DatabaseError
from feed.storage.stores import open_engagement, open_store

PROMPTS = ("a cat asleep on a sofa", "a dog running in the rain", "a heron at dawn")


def entry(clip_id: str, prompt: str, line: int = 1):
    return parse_entry({"id": clip_id, "prompt": prompt, "creator": "x"}, line, None, 100)


def replicas(tmp_path, text_encoder, catalog_url: str | None) -> tuple[ClipStore, ClipStore]:
    """Two engines over one catalog, each with its own index folder."""
    home = tmp_path / "home"
    url = catalog_url or f"sqlite://{home / 'catalog.db'}"
    return tuple(  # type: ignore[return-value]
        ClipStore(home, text_encoder, None, catalog=open_store("catalog", url),
                  indexes=open_store("vectors", f"faiss://{tmp_path / f'index-{i}'}"))
        for i in range(2)
    )  # fmt: skip


def check_catch_up(a: ClipStore, b: ClipStore) -> None:
    a.ingest([entry(f"c{i}", p, i + 1) for i, p in enumerate(PROMPTS)], now=100.0)
    assert [r.clip.id for r in b.search("a heron at dawn", limit=1)] == ["c2"]
    assert_catalog_and_index_agree(b)
    # a delete and an upload on one are seen by the other's search and snapshot
    assert a.delete("c2")
    a.ingest([entry("c3", "a fox in the snow")], now=200.0)
    assert [r.clip.id for r in b.search("a fox in the snow", limit=1)] == ["c3"]
    assert "c2" not in [r.clip.id for r in b.search("a heron at dawn", limit=5)]
    assert_catalog_and_index_agree(b)
    assert b.catch_up() is False  # nothing new: no write lock, no change log read


def test_an_engine_catches_up_with_writes_made_through_another(tmp_path, text_encoder):
    a, b = replicas(tmp_path, text_encoder, None)
    try:
        check_catch_up(a, b)
        # the snapshot path catches up too: a write on b, noticed by a's next page
        b.ingest([entry("c4", "a robot making tea")], now=300.0)
        snapshots = Snapshots(a, open_store("users", f"sqlite://{tmp_path / 'users.db'}"))
        snap = snapshots.current()
        assert "c4" in snap.row_of_id
        assert_catalog_and_index_agree(a)
        # saving writes each index at the generation it holds, never past it
        a.save()
        assert all(i.generation == a.catalog.generation for i in a.indexes.values())
    finally:
        a.close()
        b.close()


@pytest.mark.slow
def test_engines_over_a_postgres_catalog_catch_up(tmp_path, text_encoder, postgres_url):
    a, b = replicas(tmp_path, text_encoder, postgres_url)
    try:
        check_catch_up(a, b)
    finally:
        a.close()
        b.close()


def test_engagement_through_one_process_moves_popularity_in_another(
    tmp_path, text_encoder, redis_url, monkeypatch
):
    monkeypatch.setattr(snapshot, "HEAR_INTERVAL_S", 0.0)  # take on every look
    a, b = replicas(tmp_path, text_encoder, None)
    users = open_store("users", f"sqlite://{tmp_path / 'users.db'}")
    snapshots = [Snapshots(e, users, open_engagement(redis_url)) for e in (a, b)]
    try:
        a.ingest([entry(f"c{i}", p, i + 1) for i, p in enumerate(PROMPTS)], now=100.0)
        here, there = snapshots
        snap = there.current()
        assert there.popularity(snap, snap.rows_for_ids(["c1"])).tolist() == [0.0]
        here.current()
        here.engaged([("c1", "like"), ("c1", "view"), ("c2", "skip")])
        assert there.current() is snap  # the catalog did not move: no rebuild
        row = snap.row_of_id["c1"]
        assert there.most_popular(snap)[0] == row
        popular = there.popularity(snap, snap.rows_for_ids(["c0", "c1", "c2"]))
        assert popular[1] == 1.0 and popular[0] == popular[2] == 0.0
        # the process that recorded them counted them once, as the other did
        mine = here.current()
        assert here.popularity(mine, mine.rows_for_ids(["c1"])).tolist() == [1.0]
        every = np.arange(len(snap))
        assert here.popularity(mine, every).tolist() == there.popularity(snap, every).tolist()
    finally:
        for each in snapshots:
            each.shared.close()
        users.close()
        a.close()
        b.close()


def test_a_snapshot_goes_on_when_the_shared_engagement_does_not_answer(
    tmp_path, text_encoder, monkeypatch, caplog
):
    class Unreachable:
        def post(self, deltas):
            raise DatabaseError("no Redis answering")

        def take(self):
            raise DatabaseError("no Redis answering")

        def close(self):
            pass

    monkeypatch.setattr(snapshot, "HEAR_INTERVAL_S", 0.0)
    a, b = replicas(tmp_path, text_encoder, None)
    users = open_store("users", f"sqlite://{tmp_path / 'users.db'}")
    try:
        a.ingest([entry(f"c{i}", p, i + 1) for i, p in enumerate(PROMPTS)], now=100.0)
        snapshots = Snapshots(a, users, Unreachable())
        snap = snapshots.current()
        snapshots.engaged([("c1", "like")])  # counted here, not passed on
        assert snapshots.current() is snap
        assert snapshots.most_popular(snap)[0] == snap.row_of_id["c1"]
        assert "no Redis answering" in caplog.text
    finally:
        users.close()
        a.close()
        b.close()


def test_a_consent_change_through_one_gate_wins_at_once_through_another(tmp_path):
    url = f"sqlite://{tmp_path / 'state.sqlite'}"
    users_a, users_b = open_store("users", url), open_store("users", url)
    catalog = open_store("catalog", f"sqlite://{tmp_path / 'catalog.sqlite'}")
    a, b = (ConsentGate(u, catalog, b"k") for u in (users_a, users_b))
    ann, _ = users_a.create_user("ann", 1.0)
    viewer, _ = users_a.create_user("vee", 1.0)
    a.set_cameo(ann, "everyone", [], [], 2.0)
    # b caches the policy, with a page view and without one
    assert b.visible(viewer, ("ann",), "ann", users_b.page_view(viewer.id, "s1"))
    assert b.visible(viewer, ("ann",), "ann")
    a.set_cameo(ann, "only_me", [], [], 3.0)  # revoked through the other server
    view = users_b.page_view(viewer.id, "s1")
    assert not b.visible(viewer, ("ann",), "ann", view)
    assert not b.visible(viewer, ("ann",), "ann")
    users_a.close()
    users_b.close()
    catalog.close()
