"""A snapshot grown by the clips added since it was built holds what a rebuild from the
whole catalog holds; older snapshots are left as they were; anything but additions
rebuilds; phrase matches carry over to the grown snapshot.

`SAMPLE_ROWS` is lowered so a small catalog takes the growing path (catalogs up to the
sample size are rebuilt and scored whole).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import ChainMap
from collections.abc import Mapping
from concurrent.futures import Future

import numpy as np
import pytest
from support import settle

from feed.core import ranking
from feed.core.manifest import parse_entry
from feed.core.quantized import QuantizedVectors
from feed.core.ranking import ClipTexts, SegmentedTexts, lexical_matches
from feed.core.steering import Glossary
from feed.services import relevance, snapshot_files
from feed.services import snapshot as snapshot_mod
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.services.relevance import DEEP_EXPLORE, PhraseRelevance, _scored, z_many
from feed.services.snapshot import CatalogSnapshot, Snapshots, build_snapshot
from feed.services.snapshot_files import load_snapshot
from feed.storage.stores import open_store

NOW = 1_800_000_000.0
FIRST = (
    ("a1", "a heron at dawn on a misty lake", "ann", None),
    ("a2", "a cat asleep on a sofa, watercolor", "bob", None),
    ("a3", "a dog running in the rain", "ann", None),
    ("a4", "@carol dancing in a kitchen", "bob", None),
    ("a5", "a city street at night, neon signs", "dee", None),
    ("a6", "a remix: the heron at dusk", "dee", "a1"),
    ("a7", "claymation robot making tea", "ann", None),
    ("a8", "a horror film scene in a graveyard", "eve", None),
)
ADDED = (
    ("b1", "a fox in the snow, anime style", "ann", None),  # a creator already there
    ("b2", "another heron remix, pencil sketch", "fay", "a1"),  # new creator, a remix
    ("b3", "@carol and @dan surfing a wave", "fay", None),  # cameos
    ("b4", "a heron catching a fish", "gus", "b2"),  # a remix of a clip just added
)


def entries(rows, start_line: int):
    out = []
    for i, (clip_id, prompt, creator, remix_of) in enumerate(rows):
        raw = {"id": clip_id, "prompt": prompt, "creator": creator}
        if remix_of:
            raw["remix_of"] = remix_of
        out.append(parse_entry(raw, start_line + i, None, 100))
    return out


@pytest.fixture
def store(tmp_path, text_encoder, monkeypatch):
    monkeypatch.setattr(snapshot_mod, "SAMPLE_ROWS", 4)
    clips = ClipStore(tmp_path / "home", text_encoder, None)
    users = open_store("users", f"sqlite://{tmp_path / 'users.db'}")
    yield clips, Snapshots(clips, users)
    clips.close()


@pytest.fixture
def served(tmp_path, text_encoder, reader, monkeypatch):
    """A clip store holding FIRST, and a way to open a feed service over it."""
    monkeypatch.setattr(snapshot_mod, "SAMPLE_ROWS", 4)
    clips = ClipStore(tmp_path / "home", text_encoder, None)
    add(clips, FIRST, NOW)
    yield clips, lambda: FeedService.open(clips, clips.home, reader)
    clips.close()


def add(clips: ClipStore, rows, when: float, line: int = 1) -> None:
    for offset, entry in enumerate(entries(rows, line)):
        clips.ingest([entry], now=when + offset)


def settled_nearest(phrases: PhraseRelevance, match, k: int):
    """`nearest` once its second, deeper search has finished (what pages after the first read)."""
    phrases.nearest(match, k)
    for pending in phrases.warming():
        pending.result()
    return phrases.nearest(match, k)


def same_content(grown: CatalogSnapshot, rebuilt: CatalogSnapshot, exact: bool = True) -> None:
    np.testing.assert_array_equal(grown.seqs, rebuilt.seqs)
    assert grown.clip_ids.tolist() == rebuilt.clip_ids.tolist()
    assert dict(grown.row_of_id.items()) == dict(rebuilt.row_of_id.items())
    np.testing.assert_array_equal(grown.created_at, rebuilt.created_at)
    np.testing.assert_array_equal(grown.duration_s, rebuilt.duration_s)
    names = lambda s: [s.creator_names[c] for c in s.creator_codes]  # noqa: E731
    assert names(grown) == names(rebuilt)
    np.testing.assert_array_equal(grown.remix_of_row, rebuilt.remix_of_row)
    assert grown.cameos.tolist() == rebuilt.cameos.tolist()
    np.testing.assert_array_equal(grown.cameo_rows, rebuilt.cameo_rows)
    np.testing.assert_array_equal(grown.newest_first, rebuilt.newest_first)
    by_name = lambda s: {s.creator_names[c]: r.tolist() for c, r in s.by_creator.items()}  # noqa: E731
    assert by_name(grown) == by_name(rebuilt)
    assert {k: v.tolist() for k, v in grown.remixes.items()} == {
        k: v.tolist() for k, v in rebuilt.remixes.items()
    }
    for handle in ("ann", "fay", "nobody"):
        assert (grown.creator_code(handle) == -1) == (rebuilt.creator_code(handle) == -1)
    assert grown.texts is not None and rebuilt.texts is not None
    for word in ("heron", "carol", "anime", "fish", "zebra"):
        pattern = re.compile(word)
        np.testing.assert_array_equal(
            grown.texts.rows_matching(pattern), rebuilt.texts.rows_matching(pattern)
        )
    everything = np.arange(len(rebuilt))
    for channel, matrix in rebuilt.vectors.items():
        np.testing.assert_array_equal(grown.has[channel], rebuilt.has[channel])
        if exact:
            np.testing.assert_array_equal(grown.vectors[channel][everything],
                                          matrix[everything])  # fmt: skip


def test_a_grown_snapshot_holds_what_a_rebuild_holds(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    old = snapshots.current()
    assert old.grown_from is None and len(old) == len(FIRST)
    add(clips, ADDED[:2], NOW + 100)
    middle = snapshots.current()
    add(clips, ADDED[2:], NOW + 200, line=3)
    grown = snapshots.current()
    assert grown.grown_from is not None and grown.grown_from.rows == len(FIRST) + 2
    same_content(grown, build_snapshot(clips))
    assert grown.generation == clips.catalog.generation
    # the older snapshots still read as they did: same rows, no later clip ids
    assert len(old) == len(FIRST) and "b1" not in old.row_of_id and "a8" in old.row_of_id
    assert len(list(old.row_of_id)) == len(FIRST) and old.rows_for_ids(["b1", "a2"]).tolist() == [1]
    assert old.newest_first.tolist() == build_snapshot_of(old).tolist()
    assert len(middle) == len(FIRST) + 2 and "b3" not in middle.row_of_id
    assert old.rows_for_seqs(grown.seqs).tolist() == list(range(len(FIRST)))
    # a grown snapshot keeps the sample it was drawn from until the catalog grows enough
    assert grown.sample_of >= len(FIRST)


def build_snapshot_of(snap: CatalogSnapshot) -> np.ndarray:
    """Rows of `snap`, newest first, computed from its own times."""
    return np.argsort(-snap.created_at, kind="stable")


def test_compact_snapshots_grow_their_codes_on_the_same_ranges(store, monkeypatch):
    clips, snapshots = store
    monkeypatch.setattr(snapshot_mod, "COMPACT_ROWS", 1)
    add(clips, FIRST, NOW)
    snapshots.current()
    # A vector outside eight clips' ranges keeps a float32 copy, read instead of its codes
    monkeypatch.setattr(QuantizedVectors, "held", lambda self, v: np.zeros(len(v), bool))
    add(clips, ADDED[:1], NOW + 100)
    kept = snapshots.current()
    assert kept.grown_from is not None
    codes = kept.vectors["text"]
    assert isinstance(codes, QuantizedVectors) and codes.exact_rows.tolist() == [len(FIRST)]
    stored = clips.catalog.channel_vectors("text").vectors[-1]
    row = np.array([len(FIRST)])
    np.testing.assert_array_equal(codes[row][0], stored)
    np.testing.assert_array_equal(codes[len(FIRST)], stored)
    np.testing.assert_allclose(codes.dots(row, stored), [stored @ stored], rtol=1e-6)
    np.testing.assert_allclose((codes @ stored)[len(FIRST)], stored @ stored, rtol=1e-6)
    # saved and opened again with its float32 rows
    folder = clips.home / "saved-snapshots"
    snapshot_files.save_snapshot(kept, clips, folder)
    loaded = load_snapshot(folder, clips)
    assert loaded is not None
    reopened = loaded.vectors["text"]
    assert isinstance(reopened, QuantizedVectors)
    np.testing.assert_array_equal(reopened.exact_rows, codes.exact_rows)
    np.testing.assert_array_equal(reopened[np.arange(len(kept))], codes[np.arange(len(kept))])
    # ... up to a share of the catalog: past it, a rebuild on new ranges
    monkeypatch.setattr(snapshot_mod, "MIN_EXACT_ROWS", 1)
    add(clips, ADDED[1:2], NOW + 150, line=2)
    assert snapshots.current().grown_from is None
    # (A large catalog's ranges hold nearly every new clip; here they are taken as holding.)
    monkeypatch.setattr(QuantizedVectors, "held", lambda self, v: np.ones(len(v), bool))
    monkeypatch.setattr(snapshot_mod, "SPARE_SHARE", 1)  # room for as many rows again
    clips.delete("b1")  # a rebuild, now with room
    old = snapshots.current()
    add(clips, ADDED[2:], NOW + 200, line=3)
    grown = snapshots.current()
    assert grown.grown_from is not None
    same_content(grown, build_snapshot(clips), exact=False)
    codes = grown.vectors["text"]
    assert isinstance(codes, QuantizedVectors) and isinstance(old.vectors["text"], QuantizedVectors)
    assert codes.low is old.vectors["text"].low  # new rows encoded on the old ranges
    # the added rows went into the spare rows after the old ones: nothing was copied
    assert np.shares_memory(codes.codes, old.vectors["text"].codes)
    assert len(old.vectors["text"]) == len(old)  # and the old snapshot still sees its rows
    assert len(grown) == len(old) + len(ADDED[2:])
    stored = clips.catalog.channel_vectors("text")
    high = codes.low + codes.step * 255
    expected = np.clip(stored.vectors, codes.low, high)
    err = np.abs(codes[np.arange(len(grown))] - expected)
    assert (err <= codes.step / 2 + 1e-6).all()


def test_anything_but_additions_rebuilds(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    snapshots.current()
    assert clips.delete("a3")
    rebuilt = snapshots.current()
    assert rebuilt.grown_from is None and "a3" not in rebuilt.row_of_id
    # an edit of a clip already there (same id, new prompt) rebuilds too
    add(clips, [("a2", "a cat asleep on a sofa, oil painting", "bob", None)], NOW + 50)
    edited = snapshots.current()
    assert edited.grown_from is None
    assert edited.texts is not None
    assert edited.texts.rows_matching(re.compile("oil painting")).sum() == 1
    # a clip older than the newest one is not appended at the end: rebuilt in order
    add(clips, [("c1", "an old home movie of a beach", "hal", None)], NOW - 10_000)
    older = snapshots.current()
    assert older.grown_from is None
    np.testing.assert_array_equal(older.newest_first, build_snapshot(clips).newest_first)
    # and additions after that grow again
    add(clips, [("c2", "a fox in the snow", "hal", None)], NOW + 500)
    assert snapshots.current().grown_from is not None


def test_small_catalogs_are_rebuilt_whole(tmp_path, text_encoder):
    clips = ClipStore(tmp_path / "home", text_encoder, None)
    snapshots = Snapshots(clips, open_store("users", f"sqlite://{tmp_path / 'users.db'}"))
    try:
        add(clips, FIRST, NOW)
        snapshots.current()
        add(clips, ADDED[:1], NOW + 100)
        assert snapshots.current().grown_from is None  # up to SAMPLE_ROWS: scored whole
    finally:
        clips.close()


def heron(store):
    """The phrases of a catalog of FIRST, and its sampled match of "heron" with every row."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    match = phrases.match("heron")
    assert match.sampled
    return phrases, match, np.arange(len(match.snap))


def kept_rows(match) -> set[int]:
    """The rows whose z the match keeps."""
    return set(match._known[0][0].tolist())


def test_a_match_keeps_the_z_of_its_best_matches_and_gives_the_same_z(store, monkeypatch):
    clips, snapshots = store
    # no deeper search: it would keep its own best matches whenever it ends
    monkeypatch.setattr(relevance, "MAX_DEEPENING", 0)
    phrases, match, rows = heron(store)
    before = _scored([match], rows)[0]  # scored, not kept
    best, z = phrases.nearest(match, 2)
    assert kept_rows(match) == set(best.tolist())
    np.testing.assert_array_equal(z, match.z(best))
    # the rows it kept are looked up, the rest scored (and kept): the same z either way (to
    # float32 rounding, which differs with how many rows one product takes)
    np.testing.assert_allclose(match.z(rows), before, atol=1e-5)
    np.testing.assert_allclose(match.z(rows[::-1]), before[::-1], atol=1e-5)
    assert kept_rows(match) == set(rows.tolist())
    # several matches over the same rows at once: what each gives alone
    others = [phrases.match(p) for p in ("tea robot", "a cat")]
    together = z_many([match, *others], rows)
    for one, z in zip([match, *others], together, strict=True):
        np.testing.assert_allclose(z, one.z(rows), atol=1e-5)
    # best matches found again (a deeper search, a grown snapshot) join the rows kept
    match.remember(*phrases.nearest(match, 2))
    assert kept_rows(match) == set(rows.tolist())
    # a match carried to a grown snapshot keeps what it kept: the same rows and vectors
    # under the same statistics, so the same z as matching the grown snapshot afresh
    add(clips, ADDED[:3], NOW + 100)
    grown = snapshots.current()
    carried = phrases.match("heron", grown)
    assert carried.snap is grown and kept_rows(carried) == set(rows.tolist())
    fresh = PhraseRelevance(clips, snapshots, Glossary({})).match("heron", grown)
    every = np.arange(len(grown))
    np.testing.assert_allclose(carried.z(every), fresh.z(every), atol=1e-5)
    # what the carried match keeps from now on is its own
    assert kept_rows(carried) == set(every.tolist()) and kept_rows(match) == set(rows.tolist())


def test_a_match_keeps_the_rows_it_scored_up_to_a_bound(store, monkeypatch):
    """A session's next page and other users' pages ask about many of the same rows: a
    match keeps the z of rows scored once, up to KEPT_ROWS, then starts again from its best
    matches; whatever it keeps, it answers as scoring afresh does."""
    monkeypatch.setattr(relevance, "MAX_DEEPENING", 0)  # as above
    phrases, match, rows = heron(store)
    assert phrases.match("heron") is match  # cached: the same match, so what it keeps is shared
    exact = _scored([match], rows)[0]
    best, _ = phrases.nearest(match, 2)
    monkeypatch.setattr(relevance, "KEPT_ROWS", len(best) + 3)
    first = rows[~np.isin(rows, best)][:3]
    np.testing.assert_allclose(match.z(first), exact[first], atol=1e-5)
    assert kept_rows(match) == set(best.tolist()) | set(first.tolist())
    # the next rows would pass the bound: the best and those rows are kept, no more
    second = rows[~np.isin(rows, np.concatenate([best, first]))][:2]
    np.testing.assert_allclose(match.z(second), exact[second], atol=1e-5)
    assert kept_rows(match) == set(best.tolist()) | set(second.tolist())
    # more rows than the bound holds at all: answered, not kept
    np.testing.assert_allclose(match.z(rows), exact, atol=1e-5)
    assert kept_rows(match) == set(best.tolist()) | set(second.tolist())


def test_a_deeper_search_after_the_first_finds_what_the_index_walk_missed(store, monkeypatch):
    """A phrase's first search is the one its first page waits for; a second, deeper one
    follows on a thread of its own, and later pages read its best matches. Here the index's
    shallow walk misses every best clip (as HNSW did for "dogs" at a million clips)."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    real = clips.nearest

    def walk(channel, vector, k, *, explore=2, background=False):
        if explore >= DEEP_EXPLORE:
            assert background  # no request waits for the deeper search
            return real(channel, vector, k, explore=explore, background=background)
        return real(channel, vector, len(FIRST), explore=explore)[::-1][:k]  # the worst k

    monkeypatch.setattr(clips, "nearest", walk)
    match = phrases.match("a small bird wading in water")  # no clip names it
    assert match.sampled and not len(match.named.every())
    exact = match.z(np.arange(len(match.snap)))
    first, _ = phrases.nearest(match, 2)
    best, z = settled_nearest(phrases, match, 2)
    assert np.argmax(exact) not in first[:1]
    assert best[0] == np.argmax(exact) == 0  # the heron at dawn
    np.testing.assert_allclose(z, exact[best], atol=1e-6)
    assert len(best) <= 4  # never more than twice as deep as asked
    assert not phrases.warming()


def watch_warm_up(phrases: PhraseRelevance, monkeypatch) -> list[str]:
    """The order in which a `PhraseRelevance` submits index searches ("search text") and
    looks phrases up in the clips' text ("naming"), filled in as it goes."""
    order: list[str] = []
    submit, naming = phrases._searcher.submit, phrases.naming

    def submitted(fn, channel, *args, **kwargs):
        order.append(f"search {channel}")
        return submit(fn, channel, *args, **kwargs)

    def named(*args):
        order.append("naming")
        return naming(*args)

    monkeypatch.setattr(phrases._searcher, "submit", submitted)
    monkeypatch.setattr(phrases, "naming", named)
    return order


def test_a_warm_up_starts_each_search_as_soon_as_its_vector_is_made(store, monkeypatch):
    """The warm-up (what `steer` hands a new phrase to) submits each space's index search
    once the phrase's vector in it is made, before the lexical matches are looked up, and
    ends with the best matches that a match and a search one after the other give."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    monkeypatch.setattr(relevance, "FETCH_DEPTH", 3)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    order = watch_warm_up(phrases, monkeypatch)
    alone = PhraseRelevance(clips, snapshots, Glossary({}))
    try:
        phrases.warm("heron by a lake")
        settle(phrases)  # the warm-up, then the deeper search it queues
        assert order == ["search text", "naming"]
        assert not phrases._early  # collected by the warm-up's own `nearest`
        best, z = settled_nearest(phrases, phrases.match("heron by a lake"), 3)
        again, z_again = settled_nearest(alone, alone.match("heron by a lake"), 3)
        np.testing.assert_array_equal(best, again)
        np.testing.assert_allclose(z, z_again, atol=1e-6)
    finally:
        phrases.close()
        alone.close()


def test_the_phrases_of_one_instruction_warm_up_together(store, monkeypatch):
    """Phrases warmed in one call (an instruction's) are encoded in one batch, every
    search starts before the first lexical lookup, and each phrase ends with the best
    matches it has when warmed alone."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    monkeypatch.setattr(relevance, "FETCH_DEPTH", 3)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    batches: list[list[str]] = []
    order = watch_warm_up(phrases, monkeypatch)
    encoder = clips.encoders["text"]
    encode = encoder.encode_texts

    def encoded(texts):
        batches.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(encoder, "encode_texts", encoded)
    alone = PhraseRelevance(clips, snapshots, Glossary({}))
    try:
        phrases.warm("heron by a lake", "a sleeping cat", "heron by a lake")
        settle(phrases)
        assert batches == [["heron by a lake", "a sleeping cat"]]
        assert order == ["search text", "search text", "naming", "naming"]
        assert not phrases._early and not phrases._warming
        for phrase in ("heron by a lake", "a sleeping cat"):
            np.testing.assert_allclose(
                phrases.phrase_vectors(phrase)["text"], alone.phrase_vectors(phrase)["text"],
                atol=1e-6,
            )  # fmt: skip
            best, z = settled_nearest(phrases, phrases.match(phrase), 3)
            again, z_again = settled_nearest(alone, alone.match(phrase), 3)
            np.testing.assert_array_equal(best, again)
            np.testing.assert_allclose(z, z_again, atol=1e-6)
    finally:
        phrases.close()
        alone.close()


class HeldWarmer:
    """A warm-up executor whose work starts only when the test runs it, on a thread named
    as the warm-up thread is."""

    def __init__(self) -> None:
        self.queue: list[tuple[Future, object, tuple]] = []
        self.ran = 0

    def submit(self, fn, *args):
        future: Future = Future()
        self.queue.append((future, fn, args))
        return future

    def run(self, count: int | None = None) -> threading.Thread:
        """Run the queued work not run yet (the first `count` of it), in order."""
        start = self.ran
        stop = None if count is None else start + count
        self.ran = len(self.queue) if stop is None else stop

        def work():
            for future, fn, args in self.queue[start:stop]:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # handed to whoever waits, as an executor does
                        future.set_exception(exc)

        thread = threading.Thread(target=work, name=f"{relevance.WARM_THREAD}-held")
        thread.start()
        return thread

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.fixture
def held_warm_ups(store, monkeypatch):
    """A `PhraseRelevance` over FIRST whose warm-ups start only when the test runs them."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    held = HeldWarmer()
    monkeypatch.setattr(phrases, "_warmer", held)
    yield phrases, held
    phrases.close()


def notice_waits(monkeypatch) -> threading.Event:
    """An event set when some thread starts waiting for a warm-up (`_wait_out`)."""
    waiting, wait_out = threading.Event(), relevance._wait_out

    def waited(warming):
        waiting.set()
        wait_out(warming)

    monkeypatch.setattr(relevance, "_wait_out", waited)
    return waiting


def test_a_page_waits_for_a_warm_up_about_to_start(held_warm_ups, monkeypatch):
    """A steer's page can ask for its phrase before the warm-up thread has taken up the
    warm-up. With no other warm-up running, the page waits for it and the phrase is
    encoded once, on the warm-up thread."""
    phrases, held = held_warm_ups
    encoder = phrases.clips.encoders["text"]
    encode = encoder.encode_texts
    encoded_on: list[str] = []
    waiting = notice_waits(monkeypatch)

    def encoded(texts):
        encoded_on.append(threading.current_thread().name)
        return encode(texts)

    monkeypatch.setattr(encoder, "encode_texts", encoded)
    phrases.warm("heron by a lake")
    assert phrases.warming_now("heron by a lake")  # a page's scoring ahead sees it coming
    found: list = []
    # A daemon: should the page wait where it must not, its wait cannot hold the run open.
    page = threading.Thread(
        target=lambda: found.append(phrases.match("heron by a lake")), daemon=True
    )
    page.start()
    assert waiting.wait(timeout=60)  # the page waits; nothing has run the warm-up yet
    assert not encoded_on
    warmer = held.run()
    for thread in (warmer, page):
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert encoded_on == [f"{relevance.WARM_THREAD}-held"]
    assert found == [phrases.match("heron by a lake")]


def test_a_page_computes_a_warm_up_queued_behind_another(held_warm_ups, monkeypatch):
    """A warm-up queued behind a running one is cancelled when a page needs its phrase:
    the page computes it on its own thread rather than waiting for both, and the other
    phrase of that warm-up is queued again."""
    phrases, held = held_warm_ups
    encoder = phrases.clips.encoders["text"]
    encode = encoder.encode_texts
    started, release = threading.Event(), threading.Event()

    def encoded(texts):
        if threading.current_thread().name.startswith(relevance.WARM_THREAD):
            started.set()
            assert release.wait(timeout=60)
        return encode(texts)

    monkeypatch.setattr(encoder, "encode_texts", encoded)
    phrases.warm("a sleeping cat")
    phrases.warm("heron by a lake", "a dog in the rain")  # one instruction's two phrases
    warmer = held.run()
    try:
        assert started.wait(timeout=60)  # the first warm-up runs, held in its encoding
        assert phrases.warming_now("a sleeping cat")
        assert not phrases.warming_now("heron by a lake")  # queued behind it
        got: list = []
        page = threading.Thread(
            target=lambda: got.append(phrases.match("heron by a lake")), daemon=True
        )
        page.start()
        page.join(timeout=60)  # returns while the first warm-up is held
        assert not page.is_alive()
        found = got[0]
        assert found.phrase == "heron by a lake"
        assert held.queue[1][0].cancelled()
        assert not phrases.warming_now("heron by a lake")
        assert phrases._warming["a dog in the rain"] is held.queue[2][0]  # queued again
    finally:
        release.set()
        warmer.join(timeout=60)
    assert not warmer.is_alive()
    held.run().join(timeout=60)  # what was queued since
    assert phrases.cached("a sleeping cat", found.snap.generation)
    assert phrases.cached("a dog in the rain", found.snap.generation)
    assert not phrases._warming


def test_a_warm_up_keeps_a_phrase_queued_again_meanwhile(held_warm_ups, monkeypatch):
    """A phrase done early in a warm-up of several and steered again meanwhile is queued
    again; the first warm-up, ending, forgets only what is still its own."""
    phrases, held = held_warm_ups
    naming = phrases.naming
    named, release = threading.Event(), threading.Event()

    def held_naming(texts, phrase):
        if phrase == "a sleeping cat":
            named.set()
            assert release.wait(timeout=60)
        return naming(texts, phrase)

    monkeypatch.setattr(phrases, "naming", held_naming)
    phrases.warm("heron by a lake", "a sleeping cat")
    first = held.run(1)
    try:
        assert named.wait(timeout=60)  # the heron is done; the cat's match is under way
        assert "heron by a lake" not in phrases._warming
        phrases.warm("heron by a lake")  # steered again, while the first warm-up runs
        again = held.queue[1][0]
        assert phrases._warming["heron by a lake"] is again
    finally:
        release.set()
        first.join(timeout=60)
    assert not first.is_alive() and held.queue[0][0].done()
    assert phrases._warming == {"heron by a lake": again}  # not forgotten by the first
    held.run().join(timeout=60)
    assert not phrases._warming


def test_a_warm_up_of_a_phrase_already_matched_searches_nothing(store, monkeypatch):
    """Steering to a phrase whose match and best matches are made starts no search."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    monkeypatch.setattr(relevance, "FETCH_DEPTH", 3)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    try:
        phrases.warm("heron by a lake")
        settle(phrases)
        order = watch_warm_up(phrases, monkeypatch)
        phrases.warm("heron by a lake")
        settle(phrases)
        assert order == []
    finally:
        phrases.close()


def test_a_page_computes_a_phrase_whose_warm_up_ended_without_it(store):
    """A warm-up that ended without making its phrase (it failed before it began) is not
    waited for again: the page computes the phrase."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    ended: Future = Future()
    ended.set_exception(RuntimeError("no snapshot"))
    phrases._warming["heron by a lake"] = ended
    try:
        assert not phrases.warming_now("heron by a lake")
        assert phrases.match("heron by a lake").phrase == "heron by a lake"
        assert "heron by a lake" not in phrases._warming
    finally:
        phrases.close()


def test_a_page_waits_for_the_searches_of_a_running_warm_up(store, monkeypatch):
    """Once a warm-up has made its phrase's match, a page reads the match at once; for
    the best matches it waits for the warm-up's own searches rather than run them again."""
    clips, snapshots = store
    add(clips, FIRST, NOW)
    monkeypatch.setattr(relevance, "FETCH_DEPTH", 3)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    real, waiting = clips.nearest, notice_waits(monkeypatch)
    searches: list[str] = []
    searching, release = threading.Event(), threading.Event()

    def walk(channel, vector, k, *, explore=2, background=False):
        if not background:  # the deeper search, queued after the first, is not counted
            searches.append(threading.current_thread().name)
            searching.set()
            assert release.wait(timeout=60)
        return real(channel, vector, k, explore=explore, background=background)

    kept, keep = threading.Event(), phrases._keep

    def keeping(found):
        kept_now = keep(found)
        kept.set()
        return kept_now

    monkeypatch.setattr(clips, "nearest", walk)
    monkeypatch.setattr(phrases, "_keep", keeping)
    # No deeper search: it may replace the first search's best matches before the page reads them.
    monkeypatch.setattr(phrases, "_deepen_later", lambda found, k: None)
    phrases.warm("heron by a lake")
    got: list = []
    try:
        assert searching.wait(timeout=60)  # the warm-up's search has started, and is held
        assert kept.wait(timeout=60)  # and the warm-up has made the match meanwhile
        match = phrases.match("heron by a lake")
        page = threading.Thread(target=lambda: got.append(phrases.nearest(match, 3)), daemon=True)
        page.start()
        assert waiting.wait(timeout=60)
        release.set()
        page.join(timeout=60)
        assert not page.is_alive()
        settle(phrases)
    finally:
        release.set()
        phrases.close()
    assert len(searches) == 1 and searches[0].startswith(relevance.SEARCH_THREAD)
    alone = PhraseRelevance(clips, snapshots, Glossary({}))
    try:  # the first search's best matches, as a match and a search one after the other give
        again, z_again = alone.nearest(alone.match("heron by a lake"), 3)
    finally:
        alone.close()
    np.testing.assert_array_equal(got[0][0], again)
    np.testing.assert_allclose(got[0][1], z_again, atol=1e-6)


def test_a_phrase_match_carries_over_to_the_grown_snapshot(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    before = phrases.match("heron")
    assert before.sampled and set(before.named.every().tolist()) == {0, 5}
    add(clips, ADDED[:3], NOW + 100)
    grown = snapshots.current()
    carried = phrases.match("heron", grown)
    assert carried.snap is grown and carried.stats is before.stats
    assert set(carried.named.every().tolist()) == {0, 5, 9}  # a1, a6, b2 name a heron
    # the same relevance as matching afresh against the grown snapshot
    fresh = PhraseRelevance(clips, snapshots, Glossary({})).match("heron", grown)
    rows = np.arange(len(grown))
    np.testing.assert_allclose(carried.z(rows), fresh.z(rows), atol=1e-6)
    np.testing.assert_array_equal(carried.named.every(), fresh.named.every())
    # its best matches too, from the older best ones and every added row scored: what
    # fetching them afresh finds, and the added rows the index did not return
    settled_nearest(phrases, before, 2)
    best, z = phrases.nearest(carried, 2)
    again, z_again = settled_nearest(PhraseRelevance(clips, snapshots, Glossary({})), fresh, 2)
    np.testing.assert_array_equal(best[: len(again)], again)
    np.testing.assert_allclose(z[: len(again)], z_again, atol=1e-6)
    np.testing.assert_allclose(z, fresh.z(best), atol=1e-6)
    assert set(best.tolist()) - set(again.tolist()) <= set(range(len(FIRST), len(grown)))
    # at half again the rows the sample was drawn from, it is drawn afresh: matched anew
    add(clips, ADDED[3:], NOW + 200, line=4)
    resampled = snapshots.current()
    assert resampled.grown_from is not None and resampled.sample_of == len(FIRST) + 4
    again = phrases.match("heron", resampled)
    assert again.stats is not before.stats and set(again.named.every().tolist()) == {0, 5, 9, 11}


def test_a_sampled_match_has_the_statistics_of_scoring_every_sample_row(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    snap = snapshots.current()
    found = PhraseRelevance(clips, snapshots, Glossary({})).match("heron by a lake", snap)
    assert found.sampled and found.stats
    for channel, q in found.queries.items():
        sims = (snap.sample_vectors[channel] @ q)[snap.sample_has[channel]]
        mean, std = found.stats[channel]
        assert mean == pytest.approx(float(sims.mean()), abs=1e-6)
        assert std == pytest.approx(float(sims.std()), rel=1e-5)


def test_sample_moments_give_the_mean_and_deviation_of_every_row():
    rng = np.random.default_rng(3)
    rows = (rng.normal(size=(500, 16)) + rng.normal(size=16)).astype(np.float32)
    moments = snapshot_mod.Moments.of(rows)
    for _ in range(5):
        q = rng.normal(size=16).astype(np.float32)
        sims = rows.astype(np.float64) @ q.astype(np.float64)
        mean, std = moments.stats(q)
        assert mean == pytest.approx(sims.mean(), rel=1e-6, abs=1e-9)
        assert std == pytest.approx(sims.std(), rel=1e-6)


def test_a_phrase_match_carries_over_many_growths(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    phrases = PhraseRelevance(clips, snapshots, Glossary({}))
    before = phrases.match("heron")
    settled_nearest(phrases, before, 2)
    for i in range(3):  # three uploads, each growing the snapshot; no one asks meanwhile
        add(clips, ADDED[i : i + 1], NOW + 100 * (i + 1), line=i + 1)
        snapshots.current()
    grown = snapshots.current()
    assert grown.grown_from is not None and grown.grown_from.generation != before.snap.generation
    carried = phrases.match("heron", grown)
    assert carried.stats is before.stats  # statistics carried, not computed again
    fresh = PhraseRelevance(clips, snapshots, Glossary({})).match("heron", grown)
    np.testing.assert_array_equal(carried.named.every(), fresh.named.every())
    best, z = phrases.nearest(carried, 2)
    # every added row was scored: those left out rank below every kept one
    left = np.setdiff1d(np.arange(len(FIRST), len(grown)), best)
    assert len(best) == 4 and (fresh.z(left) <= z.min()).all()
    np.testing.assert_allclose(z, fresh.z(best), atol=1e-6)
    # a deletion rebuilds, drawing another sample: nothing carries over it
    assert clips.delete("b1")
    rebuilt = snapshots.current()
    assert rebuilt.grown_from is None
    assert phrases.match("heron", rebuilt).stats is not before.stats
    # and what was kept against the snapshots before it is let go
    kept = [*phrases._matches.values(), *phrases._latest.values(),
            *phrases._latest_nearest.values()]  # fmt: skip
    assert kept and all(m.snap.sample is rebuilt.sample for m in kept)


def test_segmented_texts_read_like_one_blob():
    texts = [f"clip {i} {'heron' if i % 7 == 0 else 'cat'} #tag{i % 3}" for i in range(200)]
    whole = ClipTexts.of(texts)
    grown = SegmentedTexts(())
    for start in range(0, 200, 9):
        grown = grown.extended(ClipTexts.of(texts[start : start + 9]))
    assert len(grown) == 200 and len(grown.segments) <= 8
    for pattern in ("heron", r"#tag2\b", "clip 19 "):
        rx = re.compile(pattern)
        np.testing.assert_array_equal(grown.rows_matching(rx), whole.rows_matching(rx))
        within = np.arange(200) % 2 == 0
        np.testing.assert_array_equal(grown.rows_matching(rx, within),
                                      whole.rows_matching(rx, within))  # fmt: skip
    rx = re.compile("heron")
    np.testing.assert_array_equal(grown.rows_naming("heron", rx), whole.rows_naming("heron", rx))


def test_pages_over_grown_snapshots_keep_exclusions_and_show_new_clips(served):
    clips, open_service = served
    service = open_service()
    try:
        user, _ = service.accounts.create_user("grower", NOW)
        service.steering.steer(user, "no herons", NOW + 1)
        first = service.pages.feed_page(user, 50, None, NOW + 2)
        assert first.items and not [i for i in first.items if "heron" in i.clip.prompt]
        add(clips, ADDED, NOW + 100)  # two of them name a heron
        assert service.snapshots.current().grown_from is not None
        page = service.pages.feed_page(user, 50, None, NOW + 300)
        shown = {i.clip.id for i in page.items}
        assert not [i for i in page.items if "heron" in i.clip.prompt]
        assert "b1" in shown  # a new clip without a heron is served
        # @carol and @dan hold no account that allows it: their cameos stay unseen
        assert not shown & {"a4", "b3"}
    finally:
        service.close()


def test_a_saved_snapshot_opens_as_a_rebuild_would_and_grows_from_there(served, monkeypatch):
    clips, open_service = served
    monkeypatch.setattr(snapshot_mod, "COMPACT_ROWS", 1)
    monkeypatch.setattr(snapshot_files, "SPARE_SHARE", 1)  # saved with room for 8 more rows
    monkeypatch.setattr(ranking, "INDEXED_ROWS", 1)  # texts looked up through a word index
    service = open_service()
    built = service.snapshots.current()
    service.close()  # saves it
    assert (clips.home / "snapshots" / "current.json").exists()

    service = open_service()
    try:
        loaded = service.snapshots.latest()  # read from the files, before any page
        assert loaded is not None and loaded.generation == built.generation
        same_content(loaded, built)
        assert isinstance(loaded.vectors["text"], QuantizedVectors)
        np.testing.assert_array_equal(loaded.vectors["text"].codes, built.vectors["text"].codes)
        assert loaded.texts is not None and loaded.texts.segments[0].words is not None
        for phrase in ("heron", "herons", "a cat", "tea robot"):
            np.testing.assert_array_equal(lexical_matches(loaded.texts, phrase),
                                          lexical_matches(built.texts, phrase))  # fmt: skip
        assert service.snapshots.current() is loaded  # the catalog has not moved
        user, _ = service.accounts.create_user("reopened", NOW)
        assert service.pages.feed_page(user, 5, None, NOW + 1).items
        # (eight clips' code ranges are taken as holding new ones, as a large catalog's do)
        monkeypatch.setattr(QuantizedVectors, "held", lambda self, v: np.ones(len(v), bool))
        add(clips, ADDED, NOW + 100)
        grown = service.snapshots.current()
        assert grown.grown_from is not None
        same_content(grown, build_snapshot(clips), exact=False)
        # saved with spare rows, mapped copy-on-write: grown in place, the file untouched
        assert np.shares_memory(grown.vectors["text"].codes, loaded.vectors["text"].codes)
        saved = load_snapshot(clips.home / "snapshots", clips)
        assert saved is not None and len(saved) == len(FIRST)
        np.testing.assert_array_equal(saved.vectors["text"].codes, built.vectors["text"].codes)
    finally:
        service.close()


def test_a_saved_snapshot_keeps_its_sample_rows_apart_from_the_codes(served, monkeypatch):
    clips, open_service = served
    monkeypatch.setattr(snapshot_mod, "COMPACT_ROWS", 1)
    monkeypatch.setattr(snapshot_mod, "SAMPLE_ROWS", 3)  # a sample smaller than the catalog
    service = open_service()
    built = service.snapshots.current()
    service.close()  # saves it
    assert 0 < len(built.sample) < len(built)
    folder = clips.home / "snapshots"
    saved = next(p for p in folder.iterdir() if p.is_dir())
    loaded = load_snapshot(folder, clips)
    assert loaded is not None
    for channel, rows in built.sample_vectors.items():
        assert (saved / f"sample.{channel}.npy").exists()
        np.testing.assert_array_equal(loaded.sample_vectors[channel], rows)
        np.testing.assert_array_equal(loaded.sample_vectors[channel],
                                      loaded.vectors[channel][loaded.sample])  # fmt: skip
        np.testing.assert_allclose(loaded.sample_moments[channel].cov,
                                   built.sample_moments[channel].cov)  # fmt: skip
    # saved before the sample had a file of its own: gathered from the codes instead
    (saved / "sample.text.npy").unlink()
    older = load_snapshot(folder, clips)
    assert older is not None
    np.testing.assert_array_equal(older.sample_vectors["text"], built.sample_vectors["text"])
    # a sample file that does not fit the snapshot is not read: the caller rebuilds
    np.save(saved / "sample.text.npy", np.zeros((2, 3), np.float32))
    assert load_snapshot(folder, clips) is None


def test_a_saved_snapshot_that_does_not_fit_the_catalog_is_rebuilt(served):
    clips, open_service = served
    service = open_service()
    service.snapshots.current()
    service.close()
    folder = clips.home / "snapshots"
    assert load_snapshot(folder, clips) is not None
    # the last clip saved is gone: the saved rows are not the catalog's any more
    assert clips.delete("a8")
    assert load_snapshot(folder, clips) is None
    service = open_service()
    try:
        assert service.snapshots.latest() is None
        assert "a8" not in service.snapshots.current().row_of_id
    finally:
        service.close()
    # another model for a channel, or files written by another format: not read
    saved = next(p for p in folder.iterdir() if p.is_dir()) / "snapshot.json"
    manifest = json.loads(saved.read_text())
    manifest["channels"]["text"]["model"] = "another-model"
    saved.write_text(json.dumps(manifest))
    assert load_snapshot(folder, clips) is None
    manifest["channels"]["text"]["model"] = clips.encoders["text"].model_id
    manifest["format"] = 99
    saved.write_text(json.dumps(manifest))
    assert load_snapshot(folder, clips) is None
    (folder / "current.json").write_text("{not json")
    assert load_snapshot(folder, clips) is None


def test_a_remix_whose_original_arrives_later_is_linked_by_a_rebuild(store):
    clips, snapshots = store
    add(clips, [*FIRST, ("r1", "a remix of a clip not here yet", "ivy", "zz")], NOW)
    before = snapshots.current()
    assert before.remix_of_row[before.row_of_id["r1"]] == -1
    add(clips, [("zz", "the original, uploaded late", "ivy", None)], NOW + 100)
    after = snapshots.current()
    assert after.grown_from is None  # rebuilt: the older clip now has its original
    assert after.remix_of_row[after.row_of_id["r1"]] == after.row_of_id["zz"]
    same_content(after, build_snapshot(clips))


def test_a_growth_that_fails_midway_leaves_nothing_behind(store, monkeypatch):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    snapshots.current()
    add(clips, ADDED[:2], NOW + 100)
    real = snapshot_mod.Columns.append

    def failing(self, name, rows):
        if name == "seqs":
            raise MemoryError("no room")
        return real(self, name, rows)

    monkeypatch.setattr(snapshot_mod.Columns, "append", failing)
    rebuilt = snapshots.current()  # the growth failed: rebuilt from the catalog instead
    monkeypatch.setattr(snapshot_mod.Columns, "append", real)
    assert rebuilt.grown_from is None
    assert clips.delete("b1")
    add(clips, ADDED[2:], NOW + 200, line=3)
    snapshots.current()
    add(clips, [("c9", "a lighthouse in a storm", "jo", None)], NOW + 300)
    grown = snapshots.current()
    assert grown.grown_from is not None
    same_content(grown, build_snapshot(clips))
    assert len(list(grown.row_of_id)) == len(grown)


def test_codes_hold_vectors_near_their_ranges_and_not_far_outside(rng):
    from feed.core.quantized import quantize

    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    codes = quantize(vectors)
    assert codes.holds(vectors) and codes.holds(vectors[:3] * 0.5)
    near = vectors[:1].copy()
    near[0, 3] = vectors[:, 3].max() + codes.step[3]  # clipped by about a step: held
    assert codes.holds(near)
    far = vectors[:1].copy()
    far[0, 3] = vectors[:, 3].max() + 10 * float(np.linalg.norm(codes.step))
    assert not codes.holds(far)


class _FewHashes(snapshot_mod.IdTable):
    """Three hashes for every id: most lookups meet ids that share theirs."""

    hash_of = staticmethod(lambda clip_id: len(clip_id) % 3)


@pytest.mark.parametrize("table_kind", [snapshot_mod.IdTable, _FewHashes])
def test_an_id_table_answers_each_id_with_its_own_row(table_kind):
    ids = [f"clip-{i}" for i in range(0, 300, 3)] + ["a", "bb", "ccc", "é", "猫の動画"]
    table = table_kind(snapshot_mod.object_array(ids))
    for row, clip_id in enumerate(ids):
        assert table.get(clip_id) == row
    assert table.get("clip-1") is None and table.get("", 7) == 7
    table.update({"later-1": len(ids), "later-22": len(ids) + 1})
    asked = ["bb", "nope", "later-22", "clip-297", "clip-1", "猫の動画", "bb"]
    rows = table.rows_of(asked)
    assert rows.tolist() == [table.get(c, -1) for c in asked]
    assert rows.tolist() == [len(ids) - 4, -1, len(ids) + 1, 99, -1, len(ids) - 1, len(ids) - 4]
    assert table.rows_of([]).tolist() == []
    assert dict(table.items()) == {**{c: r for r, c in enumerate(ids)}, "later-1": len(ids),
                                   "later-22": len(ids) + 1}  # fmt: skip
    # A snapshot of the first rows sees only its own.
    view = snapshot_mod.RowsById(table, len(ids))
    assert "later-1" not in view and "bb" in view and 3 not in view
    assert view.rows_of(asked).tolist()[:3] == [len(ids) - 4, -1, -1]
    assert list(view) == ids and len(view) == len(ids)
    with pytest.raises(KeyError):
        view["later-1"]


def test_a_seq_table_finds_the_rows_a_binary_search_finds(rng):
    from feed.core.lookup import find_sorted

    seqs = np.sort(rng.choice(np.arange(100, 1300), size=600, replace=False)).astype(np.int64)
    table = snapshot_mod.SeqTable.of(seqs)
    assert table is not None
    asked = rng.integers(0, 1400, size=500)  # held seqs, gaps, before the first, past the last
    at, found = find_sorted(seqs, asked)
    assert table.rows_of(asked, len(seqs)).tolist() == at[found].tolist()
    assert table.rows_of(np.empty(0, np.int64), len(seqs)).tolist() == []
    # Grown: later seqs get later rows; a view of the first rows never sees them.
    later = np.array([1400, 1403, 1404], dtype=np.int64)
    assert table.extend(later, len(seqs))
    both = np.concatenate([seqs, later])
    asked = np.concatenate([asked, later, [1401]])
    at, found = find_sorted(both, asked)
    assert table.rows_of(asked, len(both)).tolist() == at[found].tolist()
    assert table.rows_of(later, len(seqs)).tolist() == []
    with pytest.raises(ValueError):
        table.extend(np.array([1402]), len(both))
    # Seqs too far apart for a table: none, or a refused extension that writes nothing.
    assert snapshot_mod.SeqTable.of(np.array([1, 10_000], dtype=np.int64)) is None
    assert not table.extend(np.array([10**6], dtype=np.int64), len(both))
    assert table.rows_of(np.array([10**6, 1404]), len(both) + 1).tolist() == [len(both) - 1]


def test_snapshots_look_seqs_up_in_a_table_shared_as_they_grow(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    old = snapshots.current()
    add(clips, ADDED, NOW + 100)
    grown = snapshots.current()
    assert old.seq_table is not None and grown.seq_table is old.seq_table
    asked = np.concatenate([grown.seqs[::-1], [grown.seqs[-1] + 5, -3]])
    assert grown.rows_for_seqs(asked).tolist() == list(range(len(grown)))[::-1]
    assert old.rows_for_seqs(asked).tolist() == list(range(len(old)))[::-1]
    without = snapshot_mod.replace(grown, seq_table=None)  # the binary search
    assert without.rows_for_seqs(asked).tolist() == grown.rows_for_seqs(asked).tolist()


def test_the_first_growth_writes_into_room_made_when_the_snapshot_was_adopted(store):
    clips, snapshots = store
    add(clips, FIRST, NOW)
    old = snapshots.current()
    same_content(old, build_snapshot(clips))
    add(clips, ADDED[:1], NOW + 100)  # one row: the room an eighth of FIRST leaves
    grown = snapshots.current()
    assert grown.grown_from is not None
    for name in ("seqs", "clip_ids", "created_at", "duration_s", "creator_codes",
                 "remix_of_row", "cameos", "newest_first"):  # fmt: skip
        assert np.shares_memory(getattr(old, name), getattr(grown, name)), name
    assert all(np.shares_memory(old.has[c], grown.has[c]) for c in old.has)
    same_content(grown, build_snapshot(clips))
    assert old.clip_ids.tolist() == [c for c, *_ in FIRST]  # the older view is unchanged


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_deeper_searches_run_only_on_cpu_pages_leave_idle():
    seen: list[tuple[int, int]] = []

    def deep() -> None:
        relevance._yield_the_cpu()
        me = threading.get_native_id()
        seen.append((os.sched_getscheduler(me), os.getpriority(os.PRIO_PROCESS, me)))

    thread = threading.Thread(target=deep)
    thread.start()
    thread.join()
    assert seen == [(os.SCHED_IDLE, 19)]
    # the thread that asked is untouched
    assert os.sched_getscheduler(threading.get_native_id()) != os.SCHED_IDLE


def test_grown_groups_share_the_older_ones_and_read_as_copied():
    """Each growth copies only the keys changed since the last whole copy: the rest stay
    shared with the older snapshot, which never sees the rows added after it."""
    rng = np.random.default_rng(5)
    groups = {k: np.arange(k, k + 3, dtype=np.int64) for k in range(400)}
    expected = {k: v.tolist() for k, v in groups.items()}
    snaps = [(groups, {k: list(v) for k, v in expected.items()})]
    mapping: Mapping[int, np.ndarray] = groups
    for step in range(40):
        added = {int(k): np.array([1000 + step], dtype=np.int64) for k in rng.choice(420, 3)}
        first = bool(step % 2)
        mapping = snapshot_mod._grown_groups(mapping, added, first)
        for k, rows in added.items():
            old = expected.get(k, [])
            expected[k] = rows.tolist() + old if first else old + rows.tolist()
        snaps.append((mapping, {k: list(v) for k, v in expected.items()}))
    assert any(isinstance(m, ChainMap) for m, _ in snaps)  # shared while few keys changed
    assert any(type(m) is dict for m, _ in snaps[1:])  # and copied whole past the share
    for mapping, want in snaps:  # every snapshot reads as its own copy, older ones too
        assert {k: v.tolist() for k, v in mapping.items()} == want
        assert all(mapping.get(k, np.empty(0)).tolist() == want.get(k, []) for k in range(420))
