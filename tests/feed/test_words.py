"""A phrase looked up in the word index names exactly the rows a scan of every text names:
whole words with plurals, Japanese written as is, and the texts where words and whole words
differ ("_", letters outside ASCII touching ASCII ones)."""

from __future__ import annotations

import numpy as np
import pytest

from feed.core import naming as naming_mod
from feed.core import ranking
from feed.core import words as words_mod
from feed.core.ranking import ClipTexts, SegmentedTexts, lexical_matches, lexical_naming
from feed.core.words import WordIndex, is_plain

WORDS = [
    "cat",
    "cats",
    "catalog",
    "dog",
    "dogs",
    "fox",
    "foxes",
    "box",
    "boxes",
    "glass",
    "glasses",
    "space",
    "3d",
    "clown",
    "clowns",
    "horror",
    "ballet",
    "shark",
    "sea_cat",
    "café",
    "naïve",
    "über",
    "猫",
    "猫cat",
    "cat猫",
    "サメ",
    "サメの動画",
    "バレエ",
    "ジブリ",
    "アニメ風",
    "ねこ",
    "の",
    "ｃａｔ",
]
PHRASES = (
    "cats", "cat", "dog", "fox", "foxes", "box", "glass", "space", "3d", "clown",
    "horror ballet", "Horror  Ballet", "cat dog", "shark", "sea", "café", "naïve", "über",
    "catalog", "サメ", "猫", "猫の", "サメの動画", "アニメ", "アニメ風", "ねこ", "の",
    "ジブリ anime", "ｃａｔ", "anime style", "a", "",
)  # fmt: skip


def random_texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 7))) for _ in range(n)]


def scanned(texts: list[str]) -> ClipTexts:
    plain = ClipTexts.of(texts)
    return ClipTexts(plain.blob, plain.starts)  # no index: every lookup scans


def test_index_lookups_name_what_a_scan_names(rng, monkeypatch):
    monkeypatch.setattr(ranking, "INDEXED_ROWS", 1)
    texts = random_texts(rng, 3000)
    indexed, scan = ClipTexts.of(texts), scanned(texts)
    assert indexed.words is not None and scan.words is None
    for phrase in PHRASES:
        found = lexical_matches(indexed, phrase)
        np.testing.assert_array_equal(found, lexical_matches(scan, phrase), err_msg=phrase)
    assert lexical_matches(indexed, "cats").sum() > 100  # the check is not vacuous
    assert lexical_matches(indexed, "サメ").sum() > 100


def test_a_word_touching_other_letters_is_not_a_whole_word(monkeypatch):
    monkeypatch.setattr(ranking, "INDEXED_ROWS", 1)
    texts = ["猫cat on a sofa", "sea_cat swimming", "a cat asleep", "cats and foxes", "catalog"]
    found = lexical_matches(ClipTexts.of(texts), "cat")
    assert found.tolist() == [False, False, True, True, False]
    assert [is_plain(t) for t in texts] == [False, False, True, True, True]
    assert is_plain("サメ と cat")  # Japanese apart from the word leaves it a whole word


def test_grown_segments_keep_their_index_and_read_like_one_blob(rng, monkeypatch):
    monkeypatch.setattr(ranking, "INDEXED_ROWS", 64)
    texts = random_texts(rng, 1000)
    grown = SegmentedTexts(())
    for start in range(0, 1000, 37):
        grown = grown.extended(ClipTexts.of(texts[start : start + 37]))
    assert any(s.words is not None for s in grown.segments)
    assert any(s.words is None for s in grown.segments)  # small ones are scanned
    scan = scanned(texts)
    for phrase in PHRASES:
        np.testing.assert_array_equal(
            lexical_matches(grown, phrase), lexical_matches(scan, phrase), err_msg=phrase
        )


def test_naming_answers_what_a_scan_names_without_finding_every_row(rng, monkeypatch):
    """`lexical_naming`'s three questions (which of some rows name a phrase, the newest
    that do, all that do) get the scan's answers, over one index and over grown segments
    (indexed and scanned ones side by side)."""
    monkeypatch.setattr(ranking, "INDEXED_ROWS", 64)
    texts = random_texts(rng, 3000)
    scan, grown = scanned(texts), SegmentedTexts(())
    for start in range(0, 3000, 37):
        grown = grown.extended(ClipTexts.of(texts[start : start + 37]))
    asked = rng.permutation(3300)[:700]  # some past the last row: they name nothing
    for named_in in (ClipTexts.of(texts), grown):
        for phrase in PHRASES:
            expected = np.flatnonzero(lexical_matches(scan, phrase))
            named = lexical_naming(named_in, phrase)
            np.testing.assert_array_equal(named.every(), expected, err_msg=phrase)
            np.testing.assert_array_equal(
                named.among(asked), np.isin(asked, expected), err_msg=phrase
            )
            for most in (1, 7, 300, 5000):
                np.testing.assert_array_equal(named.newest(most), expected[-most:], phrase)
    assert len(lexical_naming(grown, "cats").every()) > 300  # the checks are not vacuous
    assert len(lexical_naming(grown, "サメ").newest(300)) == 300


def test_the_newest_named_rows_read_a_bounded_share_of_the_rarest_words_rows(monkeypatch):
    """Asked for the newest 50 rows naming "horror ballet", the index reads the rows of
    "ballet" from the newest back only until it has them, not all 20,000."""
    texts = ["horror ballet" if i % 2 else "ballet at noon" for i in range(40_000)]
    named = lexical_naming(ClipTexts.of(texts), "horror ballet")
    read: list[int] = []
    real = naming_mod.find_sorted

    def counted(keys, wanted):
        read.append(len(wanted))
        return real(keys, wanted)

    monkeypatch.setattr(naming_mod, "find_sorted", counted)
    np.testing.assert_array_equal(named.newest(50), np.arange(39_901, 40_000, 2))
    assert 0 < sum(read) < 1000


def test_joined_indexes_equal_one_built_over_both(rng):
    first, second = random_texts(rng, 300), random_texts(rng, 200)
    joined = WordIndex.build(first).joined(WordIndex.build(second))
    whole = WordIndex.build(first + second)
    assert len(joined) == 500
    np.testing.assert_array_equal(joined.plain, whole.plain)
    assert set(joined.tokens) == set(whole.tokens)
    for token in whole.tokens:
        np.testing.assert_array_equal(joined.rows_of(token), whole.rows_of(token))


def test_saved_parts_that_do_not_fit_are_refused(rng):
    index = WordIndex.build(random_texts(rng, 50))
    again = WordIndex.loaded(index.tokens, index.offsets, index.rows, index.plain)
    np.testing.assert_array_equal(again.rows_of("cat"), index.rows_of("cat"))
    with pytest.raises(ValueError, match="do not fit"):
        WordIndex.loaded(index.tokens[:-1], index.offsets, index.rows, index.plain)


def test_an_index_built_a_chunk_at_a_time_is_the_index_built_at_once(rng, monkeypatch):
    texts = [t.lower() for t in random_texts(rng, 500)]
    whole = WordIndex.build(texts)
    monkeypatch.setattr(words_mod, "BUILD_CHUNK", 7)  # 71 full chunks and one of 3
    chunked = WordIndex.build(iter(texts))
    assert chunked.tokens == whole.tokens
    np.testing.assert_array_equal(chunked.offsets, whole.offsets)
    np.testing.assert_array_equal(chunked.rows, whole.rows)
    np.testing.assert_array_equal(chunked.plain, whole.plain)
    assert len(WordIndex.build([])) == 0
    clean = ClipTexts.of(texts, clean=True)  # already lower-cased: joined as given
    assert clean.blob == ClipTexts.of(texts).blob
    np.testing.assert_array_equal(clean.starts, ClipTexts.of(texts).starts)
