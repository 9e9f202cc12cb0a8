"""Catalog: upserts, generations, change logs, and refusing homes it cannot open."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from feed.storage import catalog as catalog_mod
from feed.storage.catalog import SCHEMA_VERSION, Catalog, CatalogError, ClipRecord, embedding_text


def record(clip_id: str, **kw) -> ClipRecord:
    return ClipRecord(id=clip_id, prompt=kw.pop("prompt", f"prompt {clip_id}"), creator="ann",
                      created_at=1000.0, **kw)  # fmt: skip


def vec(n: int, d: int = 4, fill: float = 0.5) -> np.ndarray:
    return np.full((n, d), fill, dtype=np.float32)


def test_upsert_get_and_update_in_place(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    seqs = cat.upsert_clips(
        [record("a", tags=("anime", "cats"), cameos=("bo",)), record("b")],
        {"text": ("m", vec(2))},
    )
    clip = cat.get("a")
    assert clip is not None and clip.seq == seqs[0]
    assert clip.tags == ("anime", "cats") and clip.cameos == ("bo",) and clip.channels == ("text",)
    again = cat.upsert_clips([record("a", prompt="new words")], {"text": ("m", vec(1, fill=0.1))})
    assert again == [seqs[0]]
    assert cat.count() == 2
    assert cat.get("a").prompt == "new words"
    assert cat.get("a").cameos == ("bo",)  # a likeness stays in the clip until it is deleted
    stored = cat.channel_vectors("text")
    assert stored.vectors.shape == (2, 4)
    assert stored.vectors[stored.seqs.tolist().index(seqs[0])][0] == pytest.approx(0.1)


def test_nan_row_means_no_vector_on_that_channel(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    visual = vec(2)
    visual[1] = np.nan
    cat.upsert_clips([record("a"), record("b")], {"text": ("m", vec(2)), "visual": ("v", visual)})
    assert cat.get("a").channels == ("text", "visual")
    assert cat.get("b").channels == ("text",)


def test_generation_and_changes(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    g0 = cat.generation
    seq_a, seq_b = cat.upsert_clips([record("a"), record("b")], {"text": ("m", vec(2))})
    g1 = cat.generation
    assert g1 == g0 + 1
    cat.upsert_clips([record("c")], {"text": ("m", vec(1))})
    assert cat.delete_clip("a") == seq_a
    assert cat.delete_clip("a") is None
    changes = cat.channel_changes("text", g1)
    assert len(changes.upserted.seqs) == 1
    assert changes.removed.tolist() == [seq_a]
    assert cat.get("a") is None and cat.count() == 2


def test_embedding_text_joins_prompt_caption_tags():
    assert embedding_text("A cat", "cute", ["cats", "anime"]) == "A cat. cute. #cats #anime"
    assert embedding_text("A cat", "A cat", []) == "A cat"


def test_refuses_foreign_and_newer_databases(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(CatalogError, match="not a steerfeed catalog"):
        Catalog(foreign)
    newer = tmp_path / "newer.sqlite"
    Catalog(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(CatalogError, match="newer than this steerfeed"):
        Catalog(newer)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"definitely not sqlite" * 200)
    with pytest.raises(CatalogError):
        Catalog(garbage)


def test_reopen_keeps_data(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    cat.upsert_clips([record("a")], {"text": ("m", vec(1))})
    cat.close()
    again = Catalog(tmp_path / "c.sqlite")
    assert again.ids() == ["a"] and again.channel_model("text") == "m"


def test_user_state_migrates_from_v1(tmp_path):
    """A user-state file from schema v1 gains the later tables and keeps its users."""
    from feed.storage.sqlite import Database
    from feed.storage.state import MIGRATIONS, StateStore

    path = tmp_path / "state.sqlite"
    old = Database(path, "user state", {0: MIGRATIONS[0]})
    old.conn.execute("INSERT INTO users VALUES ('u1', 'ann', 'h', 1.0)")
    old.close()
    state = StateStore(path)
    assert state.get_user("u1").handle == "ann"
    state.set_cameo("ann", "u1", "everyone", [], [], 2.0)
    assert state.cameo("ann") == ("u1", "everyone", (), ())
    assert dict(state.db.query("SELECT key, value FROM meta"))["schema_version"] == str(
        len(MIGRATIONS)
    )


def test_user_state_v2_gets_one_normalised_handle_per_account_and_lists_of_ids(tmp_path):
    """Finding 1 and 5 on an existing home: handles that differ only in case collapse to one
    (the older account keeps it), and consent lists of handles become lists of user ids."""
    from feed.storage.sqlite import Database
    from feed.storage.state import MIGRATIONS, StateStore

    path = tmp_path / "state.sqlite"
    old = Database(path, "user state", {0: MIGRATIONS[0], 1: MIGRATIONS[1]})
    old.conn.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?)",
        [("u1", "Ann", "h1", 1.0), ("u2", "ann", "h2", 2.0), ("u3", "ＢＯＢ", "h3", 3.0)],
    )
    old.conn.execute("INSERT INTO follows VALUES ('u1', 'BOB', 1.0)")
    old.conn.execute("INSERT INTO cameos VALUES ('Ann', 'u1', 'approved', ?, ?, 1.0)",
                     ('["bob", "ghost"]', '["ANN"]'))  # fmt: skip
    old.close()
    state = StateStore(path)
    assert state.get_user("u1").handle == "ann" and state.get_user("u3").handle == "bob"
    assert state.get_user("u2").handle == "ann-2"
    assert state.follows("u1") == {"bob"}
    assert state.cameo("ann") == ("u1", "approved", ("u3",), ("u1",))  # ghost: nobody
    with pytest.raises(ValueError, match="taken"):
        state.create_user("bob", 4.0)
    state.close()


def test_a_catalog_v1_gets_normalised_handles(tmp_path):
    from feed.storage.catalog import MIGRATIONS as CATALOG_MIGRATIONS
    from feed.storage.sqlite import Database

    path = tmp_path / "catalog.sqlite"
    old = Database(path, "catalog", {0: CATALOG_MIGRATIONS[0]})
    old.conn.executemany("INSERT INTO creators VALUES (?, ?)", [("Bob", 1.0), ("bob", 2.0)])
    old.conn.execute(
        "INSERT INTO clips (id, prompt, creator, created_at, gen) VALUES ('c1', 'hi', 'Bob', 1, 1)"
    )
    old.conn.execute("INSERT INTO clip_cameos VALUES (1, 'Alice')")
    old.close()
    catalog = Catalog(path)
    assert catalog.get("c1").creator == "bob" and catalog.get("c1").cameos == ("alice",)
    assert catalog.creators() == ["bob"] and catalog.handles() == {"alice", "bob"}
    catalog.close()


def test_an_older_catalog_gets_its_prompts_mentions_as_cameos_once(tmp_path):
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    catalog.upsert_clips([record("c1", prompt="＠zed waves at x@ann.")], {"text": ("m", vec(1))})
    # As a catalog written before mentions counted: the mention is not stored as a cameo.
    with catalog._tx() as db:
        db.execute("DELETE FROM clip_cameos")
        db.execute("DELETE FROM meta WHERE key='mentions_are_cameos'")
    generation = catalog.generation
    catalog.close()
    reopened = Catalog(path)
    assert reopened.get("c1").cameos == ("ann", "zed")
    assert reopened.generation == generation + 1  # snapshots and indexes see the change
    assert [c.id for c in reopened.clips_with_cameo("zed")] == ["c1"]
    reopened.close()
    assert Catalog(path).generation == generation + 1  # done once


def test_read_ahead_scans_every_page_a_feed_page_reads(tmp_path, monkeypatch):
    """`read_ahead` reads, on a connection of its own, each table and index `get_many`
    reads, whole; a catalog removed meanwhile is logged, not raised."""
    cat = Catalog(tmp_path / "c.sqlite")
    cat.upsert_clips([record("a", cameos=("bo",)), record("b")], {"text": ("m", vec(2))})
    plans = {
        sql: " | ".join(row[-1] for row in cat._db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in catalog_mod._READ_AHEAD
    }
    first, vectors, cameos = catalog_mod._READ_AHEAD
    assert plans[first] == "SCAN clips"
    assert (
        plans[vectors] == "SCAN clip_vectors USING COVERING INDEX sqlite_autoindex_clip_vectors_1"
    )
    assert plans[cameos].startswith("SCAN clip_cameos")
    get_many = cat._db.execute(f"EXPLAIN QUERY PLAN {cat._SELECT} WHERE c.seq IN (1, 2)")
    used = " | ".join(row[-1] for row in get_many)
    assert "sqlite_autoindex_clip_vectors_1" in used and "clip_cameos" in used
    executed: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(executed.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    cat.read_ahead().join()
    assert executed == list(catalog_mod._READ_AHEAD)
    cat.close()
    (tmp_path / "c.sqlite").unlink()
    cat.read_ahead().join()  # nothing to read: logged, not raised
