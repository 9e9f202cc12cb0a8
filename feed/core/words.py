"""An inverted index over clip texts, so naming a phrase costs the rows that hold its words,
not a scan of every text.

Two kinds of keys, which never collide:
- English words: each run of `[a-z0-9]` in the lower-cased text;
- for text outside ASCII (Japanese has no spaces to split at), each character that is not
  ASCII and each pair of neighbouring characters of which at least one is not.

Postings are kept as one sorted int32 array per key (CSR: `offsets` into `rows`). A row is
*plain* when its text has no "_" and no letter outside ASCII touching an ASCII one: there,
a whole-word pattern matches exactly when one of the row's words is the word (see
`lexical_matches`), so no text need be read; other rows the index returns are candidates
that the caller checks against the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from feed.core.lookup import find_sorted

WORD = re.compile(r"[a-z0-9]+")
BUILD_CHUNK = 65_536  # texts whose postings `WordIndex.build` gathers as Python ints
# What makes a text's words differ from its regex whole words: "_", or a letter or digit
# outside ASCII touching an ASCII one ("猫cat" holds the word "cat" but no whole word).
_NOT_PLAIN = re.compile(r"_|[^\x00-\x7f](?<=\w)[a-z0-9]|[a-z0-9][^\x00-\x7f](?<=\w)")


def is_plain(text: str) -> bool:
    """Whether a whole-word match in `text` is exactly one of its words (see the module)."""
    return "_" not in text if text.isascii() else _NOT_PLAIN.search(text) is None


def keys_of(text: str) -> set[str]:
    """The index keys of one lower-cased text: its words, and its non-ASCII characters and
    the pairs of neighbours that hold one."""
    keys = set(WORD.findall(text))
    if not text.isascii():
        keys.update(grams_of(text))
    return keys


def grams_of(text: str) -> set[str]:
    """Each non-ASCII character of `text`, and each neighbouring pair holding one."""
    out = {c for c in text if not c.isascii()}
    out.update(a + b for a, b in zip(text, text[1:], strict=False) if not (a + b).isascii())
    return out


def phrase_grams(phrase: str) -> set[str]:
    """The keys every text containing `phrase` (not ASCII) holds: its pairs that hold a
    non-ASCII character, or, when it has none, its non-ASCII characters."""
    pairs = {a + b for a, b in zip(phrase, phrase[1:], strict=False) if not (a + b).isascii()}
    return pairs or {c for c in phrase if not c.isascii()}


@dataclass(frozen=True)
class WordIndex:
    """Rows by index key (see the module docstring) over a fixed list of texts.

    `tokens[i]` owns rows `rows[offsets[i]:offsets[i + 1]]`, sorted; `plain` (N,) marks
    rows whose words answer a whole-word match without reading their text.
    """

    tokens: tuple[str, ...]
    offsets: np.ndarray  # (V + 1,) int64
    rows: np.ndarray  # (postings,) int32
    plain: np.ndarray  # (N,) bool
    ids: dict[str, int]

    @classmethod
    def build(cls, texts: Iterable[str]) -> WordIndex:
        """Index lower-cased texts (row i is the i-th text). Postings go into arrays a
        chunk of texts at a time: held as a list of Python ints, a catalog's postings
        (about ten a text) would cost 36 bytes each instead of 8."""
        ids: dict[str, int] = {}
        key_ids: list[int] = []
        counts: list[int] = []
        plain: list[bool] = []
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

        def flush() -> None:
            parts.append((np.asarray(key_ids, dtype=np.int64),
                          np.asarray(counts, dtype=np.int64),
                          np.asarray(plain, dtype=bool)))  # fmt: skip
            key_ids.clear()
            counts.clear()
            plain.clear()

        setdefault = ids.setdefault
        for text in texts:
            keys = keys_of(text)
            key_ids.extend(setdefault(k, len(ids)) for k in keys)
            counts.append(len(keys))
            plain.append(is_plain(text))
            if len(counts) == BUILD_CHUNK:
                flush()
        flush()
        of_key = np.concatenate([p[0] for p in parts])
        per_row = np.concatenate([p[1] for p in parts])
        rows = np.repeat(np.arange(len(per_row), dtype=np.int32), per_row)
        return cls._sorted(tuple(ids), ids, of_key, rows, np.concatenate([p[2] for p in parts]))

    @classmethod
    def _sorted(
        cls,
        tokens: tuple[str, ...],
        ids: dict[str, int],
        of_key: np.ndarray,
        rows: np.ndarray,
        plain: np.ndarray,
    ) -> WordIndex:
        # Stable: rows arrive in order, so each key's rows stay sorted.
        order = np.argsort(of_key, kind="stable")
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(np.bincount(of_key, minlength=len(tokens)), out=offsets[1:])
        return cls(tokens, offsets, rows[order], plain, ids)

    @classmethod
    def loaded(
        cls, tokens: Sequence[str], offsets: np.ndarray, rows: np.ndarray, plain: np.ndarray
    ) -> WordIndex:
        """An index from its saved parts (as `tokens`, `offsets`, `rows`, `plain` hold them)."""
        if len(offsets) != len(tokens) + 1 or int(offsets[-1]) != len(rows):
            raise ValueError("word index parts do not fit together")
        tokens = tuple(tokens)
        return cls(tokens, offsets, rows, plain, {t: i for i, t in enumerate(tokens)})

    def __len__(self) -> int:
        return len(self.plain)

    def rows_of(self, key: str) -> np.ndarray:
        """The sorted rows holding `key` (int32; empty when none)."""
        i = self.ids.get(key)
        if i is None:
            return np.zeros(0, dtype=np.int32)
        return self.rows[self.offsets[i] : self.offsets[i + 1]]

    def rows_with_all(self, groups: Sequence[Sequence[str]]) -> np.ndarray:
        """The sorted rows holding at least one key of every group.

        The group with the fewest rows is read whole; every other one only answers
        whether it holds those rows (a binary search each), so a common word ("the",
        a million rows) costs the rare word's rows, not its own.
        """
        postings = [[self.rows_of(k) for k in group] for group in groups]
        if not postings:
            return np.zeros(0, dtype=np.int32)
        sizes = [sum(len(p) for p in lists) for lists in postings]
        order = np.argsort(sizes, kind="stable")
        found = union_rows(postings[order[0]])
        for i in order[1:]:
            if not len(found):
                break
            held = np.zeros(len(found), dtype=bool)
            for rows in postings[i]:
                held |= find_sorted(rows, found)[1]
            found = found[held]
        return found

    def joined(self, other: WordIndex) -> WordIndex:
        """This index's rows, then `other`'s, as one index (no text is read again)."""
        ids = dict(self.ids)
        remap = np.fromiter(
            (ids.setdefault(t, len(ids)) for t in other.tokens), dtype=np.int64,
            count=len(other.tokens),
        )  # fmt: skip
        mine = np.repeat(np.arange(len(self.tokens), dtype=np.int64), np.diff(self.offsets))
        theirs = np.repeat(remap, np.diff(other.offsets))
        return self._sorted(
            tuple(ids),
            ids,
            np.concatenate([mine, theirs]),
            np.concatenate([self.rows, other.rows + np.int32(len(self))]),
            np.concatenate([self.plain, other.plain]),
        )


def union_rows(sorted_rows: Sequence[np.ndarray]) -> np.ndarray:
    """The union of sorted row arrays, sorted: a stable sort merges sorted runs in linear
    time, where `np.unique` would sort them afresh."""
    found = [rows for rows in sorted_rows if len(rows)]
    if len(found) <= 1:
        return found[0] if found else np.zeros(0, dtype=np.int32)
    merged = np.sort(np.concatenate(found), kind="stable")
    keep = np.ones(len(merged), dtype=bool)
    keep[1:] = merged[1:] != merged[:-1]
    return merged[keep]
