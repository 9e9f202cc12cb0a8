"""Many request threads at once: pages, events and searches while clips are ingested and deleted.

The app calls the engine and the feed service from one thread per request with
no lock of its own, so the engine's readers-writer lock is all that keeps
FAISS, the catalog and the snapshots consistent.
"""

from __future__ import annotations

import threading

from support import assert_catalog_and_index_agree, steering_catalog_entries

from feed.core.manifest import parse_entry
from feed.core.profile import Event
from feed.services.feed import FeedService, NotFound

NOW = 1_800_000_000.0


def test_readers_and_writers_together_leave_a_consistent_engine(tmp_path, make_engine, reader):
    engine = make_engine(tmp_path / "home")
    base = steering_catalog_entries()
    engine.ingest(base, now=NOW - 3600)
    service = FeedService.open(engine, tmp_path / "home", reader)
    users = [service.accounts.create_user(f"reader{i}", NOW)[0] for i in range(4)]
    new_entries = [
        parse_entry(
            {
                "id": f"late{i}",
                "prompt": f"a lighthouse in a storm, take {i}",
                "creator": "latecomer",
            },
            i + 1,
            None,
            2000,
        )  # fmt: skip
        for i in range(24)
    ]
    deleted = {entry.id for entry in new_entries[::3]}
    failures: list[BaseException] = []
    written = threading.Event()
    pages_seen: list[int] = []

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # reported below, with the others
                failures.append(exc)

        return run

    def reader(user):
        service.steering.steer(user, "more storms at sea", NOW)  # pages rank by relevance, too
        cursor, mine = None, 0
        while not written.is_set() or mine < 5:
            page = service.pages.feed_page(user, 10, cursor, NOW)
            # A session never repeats a clip: start a new one before the catalog runs out.
            cursor, mine = (page.next_cursor if mine % 4 != 3 else None), mine + 1
            pages_seen.append(len(page.items))
            ids = [item.clip.id for item in page.items[:3]]
            try:
                service.intake.record_events(user, [Event(c, "like", NOW) for c in ids], NOW)
            except NotFound:
                # The writer deleted a clip of this page meanwhile: refusing is right.
                assert set(ids) & deleted, ids
            engine.search("lighthouse", 5)
            if failures:
                return

    def writer():
        for start in range(0, len(new_entries), 4):
            engine.ingest(new_entries[start : start + 4], now=NOW)
        for entry in new_entries[::3]:
            engine.delete(entry.id)
        engine.save()
        written.set()

    threads = [threading.Thread(target=guarded(lambda u=u: reader(u))) for u in users]
    threads.append(threading.Thread(target=guarded(writer)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    assert failures == []
    assert len(pages_seen) >= 20 and all(n > 0 for n in pages_seen)
    assert engine.catalog.count() == len(base) + 24 - 8
    assert_catalog_and_index_agree(engine)
    # The snapshot catches up with the writes: a fresh page can reach the new clips.
    assert service.snapshots.current().generation == engine.catalog.generation
    assert len(service.snapshots.current()) == len(base) + 16
    service.close()


def test_a_page_ranks_over_one_snapshot_when_an_upload_lands_midway(tmp_path, make_engine, reader):
    """An upload between a page's snapshot and its steering relevance used to make
    relevance over the newer, longer snapshot: its rows no longer lined up (IndexError)."""
    engine = make_engine(tmp_path / "home")
    engine.ingest(steering_catalog_entries(), now=NOW - 3600)
    service = FeedService.open(engine, tmp_path / "home", reader)
    user, _ = service.accounts.create_user("steady", NOW)
    service.steering.steer(user, "more storms at sea", NOW)
    for warming in service.phrases.warming():
        warming.result()  # the warm-up must not take the patched snapshot below
    take_snapshot = service.snapshots.current
    uploads = iter([parse_entry({"id": "midway", "prompt": "a storm at sea",
                                 "creator": "late"}, 1, None, 2000)])  # fmt: skip

    def snapshot_then_upload():
        snap = take_snapshot()
        entry = next(uploads, None)
        if entry is not None:
            engine.ingest([entry], now=NOW)  # lands after the page took its snapshot
        return snap

    service.snapshots.current = snapshot_then_upload
    try:
        page = service.pages.feed_page(user, 10, None, NOW)
    finally:
        del service.snapshots.current
    assert len(page.items) == 10 and "midway" not in {i.clip.id for i in page.items}
    assert "midway" in {i.clip.id for i in service.pages.feed_page(user, 100, None, NOW).items}
    service.close()
