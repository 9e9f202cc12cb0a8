"""Typos in a steering phrase, mended against the words the catalog holds.

"no more clowsn" should hide clowns. A word is mended only when an English word list does
not know it, the catalog never uses it, and a word one slip of the fingers away is both a
known English word and used by the catalog: the most used such word wins. A slip is two
neighbouring letters swapped (clowsn), a letter missed (horor, cookng), or a key struck
for its neighbour on a QWERTY keyboard, instead of it or beside it (cartoom, catss).
Anything else stays as typed: a word the catalog lacks is a request the gap finder should
see ("owls" never becomes "bowls"), and a loanword the list lacks is no typo ("manga"
never becomes "mango", "kawaii" never "hawaii").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

# Shorter words have too many neighbours one edit away to guess among.
MIN_LENGTH = 5
# A word on its own: not part of "3dprinting", "don't" or "k-pop".
_WORD = re.compile(r"(?<![\w'’-])[A-Za-z]+(?![\w'’-])")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_AT = {key: (r, c) for r, row in enumerate(_ROWS) for c, key in enumerate(row)}


def mended(
    phrase: str,
    known: Callable[[str], bool],
    neighbours: Callable[[str], Iterable[str]],
    uses: Callable[[str], int],
) -> str:
    """`phrase` with each unknown word replaced by its best neighbour the catalog uses.

    `known(word)`: the word list knows it; `neighbours(word)`: known words one edit away;
    `uses(word)`: how many catalog clips use the word (0: none).
    """

    def mend(found: re.Match[str]) -> str:
        word = found.group(0)
        lower = word.lower()
        if len(lower) < MIN_LENGTH or known(lower) or uses(lower):
            return word
        scored = [
            (uses(n), n)
            for n in sorted(set(neighbours(lower)) - {lower})
            if n.isascii() and n.isalpha() and slipped(lower, n)
        ]
        count, best = max(scored, default=(0, lower))
        if count <= 0:
            return word
        return best.upper() if word.isupper() else best.capitalize() if word[0].isupper() else best

    return _WORD.sub(mend, phrase)


# Op words typed without the space after them ("lesscats", "nomoreclowns", "onlydogs"),
# longest first. What follows must be a known word of four letters or more, so that
# "noir", "nobu" and "morels" stay as typed.
_GLUED_OPS = ("nomore", "fewer", "less", "more", "only", "no")
_GLUED_REST = 4
# After an op word or an article the glued word is a name, asked about as typed ("no
# onlyfans promos", "more nosleep stories").
_NAMED_AFTER = frozenset(["no", "more", "less", "fewer", "only", "any", "some", "the", "a", "an"])


def unglued(text: str, known: Callable[[str], bool]) -> str:
    """`text` with an op word typed against the word after it set apart ("lesscats" →
    "less cats", "nomorehorror" → "no more horror"), where the word list knows neither
    the whole nor fails to know the rest. `known(word)`: the list knows the lower-case
    word."""

    def split(found: re.Match[str]) -> str:
        word = found.group(0)
        lower = word.lower()
        if lower != "nomore" and known(lower):
            return word  # most words: no need to look back
        before = text[: found.start()].split()[-1:]
        named = before and before[0].lower() in _NAMED_AFTER
        if named and not (before[0].lower() == "no" and lower.startswith("more")):
            return word  # "no morehorror" is still "no more horror"
        if lower == "nomore":
            return f"{word[:2]} {word[2:]}"
        for op in _GLUED_OPS:
            rest = word[len(op) :]
            if lower.startswith(op) and len(rest) >= _GLUED_REST and known(rest.lower()):
                head = f"{word[:2]} {word[2:6]}" if op == "nomore" else word[: len(op)]
                return f"{head} {rest}"
        return word

    return _WORD.sub(split, text)


@functools.cache
def english_word_list() -> Any:
    """pyspellchecker's English word list (160,000 words; 0.15 s and about 40 MB), one
    per process, or None when it is not installed."""
    try:
        from spellchecker import SpellChecker
    except ImportError:
        return None
    return SpellChecker(distance=1)


def english_words() -> Callable[[str], bool] | None:
    """Whether the English word list knows a lower-case word; None without the list."""
    words = english_word_list()
    return None if words is None else words.__contains__


def slipped(typed: str, meant: str) -> bool:
    """Whether `typed` is `meant` with one slip of the fingers (see the module docstring)."""
    if len(typed) == len(meant):
        diff = [i for i, (a, b) in enumerate(zip(typed, meant, strict=True)) if a != b]
        if len(diff) == 1:
            return _adjacent_keys(typed[diff[0]], meant[diff[0]])
        i = diff[0] if len(diff) == 2 else -1
        return diff == [i, i + 1] and typed[i] == meant[i + 1] and typed[i + 1] == meant[i]
    if len(typed) == len(meant) + 1:  # a key struck too many
        extra, around = _odd_one(typed, meant)
        return any(extra == c or _adjacent_keys(extra, c) for c in around)
    return len(typed) + 1 == len(meant)  # a key missed


def _odd_one(longer: str, shorter: str) -> tuple[str, str]:
    """The letter `longer` has that `shorter` lacks, and the letters either side of it."""
    i = next((k for k in range(len(shorter)) if longer[k] != shorter[k]), len(shorter))
    return longer[i], longer[max(i - 1, 0) : i] + longer[i + 1 : i + 2]


def _adjacent_keys(a: str, b: str) -> bool:
    if a not in _KEY_AT or b not in _KEY_AT:
        return False
    (ra, ca), (rb, cb) = _KEY_AT[a], _KEY_AT[b]
    return abs(ra - rb) <= 1 and abs(ca - cb) <= 1 and (ra, ca) != (rb, cb)
