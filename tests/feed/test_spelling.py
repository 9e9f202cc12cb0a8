"""Typos mended against the catalog's words (feed.core.spelling)."""

from __future__ import annotations

import pytest

from feed.core.spelling import english_words, mended, slipped, unglued

KNOWN = {"clown", "clowns", "owls", "bowls", "horror", "honor", "cats", "kids", "mango",
         "hawaii", "printing", "pokémon", "cartoon"}  # fmt: skip
CATALOG = {"clowns": 3, "clown": 5, "bowls": 2, "horror": 4, "cats": 9, "mango": 6, "hawaii": 2,
           "printing": 3, "pokémon": 4, "cartoon": 2}  # fmt: skip


def _mended(phrase: str) -> str:
    def neighbours(word: str) -> set[str]:
        return {k for k in KNOWN if _one_edit(word, k)}

    return mended(phrase, KNOWN.__contains__, neighbours, lambda w: CATALOG.get(w, 0))


def _one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        return len(diff) == 1 or (swapped and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def test_a_typo_becomes_the_most_used_catalog_word_one_edit_away():
    assert _mended("no more clowsn") == "no more clown"  # clown is used more than clowns
    assert _mended("horor") == "horror"  # honor is a word, but the catalog never uses it


def test_known_words_and_words_the_catalog_uses_stay():
    assert _mended("owls") == "owls"  # a real word the catalog lacks: a request, not a typo
    assert _mended("cats") == "cats"


def test_short_words_and_words_without_a_used_neighbour_stay():
    assert _mended("kidz") == "kidz"  # too short to guess
    assert _mended("zzzzzz") == "zzzzzz"


def test_only_a_slip_of_the_fingers_is_mended():
    assert _mended("more cartoom") == "more cartoon"  # m for its neighbour n
    assert _mended("manga") == "manga"  # a loanword, not a slip for "mango"
    assert _mended("kawaii") == "kawaii"  # k and h are not neighbours
    assert _mended("pokemon") == "pokemon"  # never mended into a non-ASCII word


def test_words_inside_others_stay_and_case_is_kept():
    assert _mended("3dprintng") == "3dprintng"  # letters stuck to a digit are no word
    assert _mended("NO MORE CLOWSN") == "NO MORE CLOWN"
    assert _mended("Clowsn") == "Clown"


def test_slips():
    assert slipped("clowsn", "clowns")  # swapped
    assert slipped("horor", "horror")  # a letter missed
    assert slipped("catss", "cats")  # a letter doubled
    assert slipped("cartoom", "cartoon")  # a neighbouring key
    assert not slipped("manga", "mango")
    assert not slipped("matcha", "match")
    assert not slipped("vtuber", "tuber")


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("lesscats", "less cats"),
        ("nomorehorror please", "no more horror please"),
        ("nomore clowns", "no more clowns"),
        ("onlydogs", "only dogs"),
        ("FewerPranks", "Fewer Pranks"),
        # Known words, and what follows an op too short to be sure of, stay as typed.
        ("lessons", "lessons"),
        ("morels", "morels"),
        ("noir films", "noir films"),
        ("nobu", "nobu"),
    ],
)
def test_an_op_word_typed_against_its_thing_is_set_apart(typed, read):
    known = english_words()
    assert known is not None
    assert unglued(typed, known) == read


def test_a_glued_word_after_an_op_word_is_a_name():
    known = english_words()
    assert known is not None
    assert unglued("no onlyfans promos", known) == "no onlyfans promos"
    assert unglued("more nosleep stories", known) == "more nosleep stories"
