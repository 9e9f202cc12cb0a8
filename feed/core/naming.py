"""The clips whose text names a phrase outright, answered as a page asks.

A page asks two things of them (see `feed.services.relevance`): whether each of its few
thousand candidates names the phrase (such a clip scores at least MATCH_Z), and which are
the newest few thousand (beside the indexes' nearest clips, as a boost's or an "only"'s
best matches). Neither needs every row that names it. Finding them all through the word
index took 21 ms p50 at 10,000,000 clips, nearly all of it intersecting rows no page
reads (docs/scaling.md, Naming a phrase without finding every clip that names it).

`Named` answers each question on its own:
- `among(rows)`: a binary search of each candidate in each key's rows, then the text of
  the candidates the index alone cannot answer;
- `newest(most)`: the rarest key group's rows read from the newest back, a window at a
  time (each sized by the share named so far), each checked like candidates, until `most`
  are found;
- `every()`: all of them (the exact whole-catalog method, and small catalogs).
Texts below `INDEXED_ROWS` have no word index: they are scanned once, and their rows kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from feed.core.lookup import distinct, find_sorted
from feed.core.words import WordIndex, union_rows

if TYPE_CHECKING:
    from feed.core.ranking import ClipTexts

# A text span (start, end) of the blob: whether the row whose text it is names the phrase.
Holds = Callable[[int, int], bool]

# `newest`'s first window holds about this many times `most` of the rarest group's rows
# (a phrase's words mostly go together: many of them name it).
FIRST_WINDOW_SHARE = 2


class Named(Protocol):
    """Rows of one set of texts whose text names a phrase (sorted int64 answers)."""

    def among(self, rows: np.ndarray) -> np.ndarray:
        """Whether each of `rows` names it (bool, aligned with `rows`; any order, and rows
        outside these texts do not)."""
        ...

    def newest(self, most: int) -> np.ndarray:
        """The `most` highest rows that name it (all of them when fewer), ascending."""
        ...

    def every(self) -> np.ndarray:
        """Every row that names it, ascending."""
        ...


@dataclass(frozen=True)
class RowsNamed:
    """Named rows known outright (sorted int64)."""

    rows: np.ndarray

    def among(self, rows: np.ndarray) -> np.ndarray:
        return find_sorted(self.rows, rows)[1]

    def newest(self, most: int) -> np.ndarray:
        if most <= 0:
            return NAMES_NOTHING.rows
        return self.rows[len(self.rows) - most :] if most < len(self.rows) else self.rows

    def every(self) -> np.ndarray:
        return self.rows


NAMES_NOTHING = RowsNamed(np.empty(0, dtype=np.int64))


@dataclass(frozen=True)
class IndexedNamed:
    """Rows of `texts` (indexed; its row 0 is row `offset` here) that hold a key of each of
    `keys`' groups, and whose text then `holds`: every such row when `check_all`, else only
    those the index marks as not plain (see `feed.core.words`)."""

    texts: ClipTexts
    keys: tuple[tuple[str, ...], ...]
    holds: Holds | None
    check_all: bool
    offset: int = 0

    @property
    def _index(self) -> WordIndex:
        assert self.texts.words is not None
        return self.texts.words

    def among(self, rows: np.ndarray) -> np.ndarray:
        local = np.asarray(rows, dtype=np.int64) - self.offset
        inside = np.flatnonzero((local >= 0) & (local < len(self.texts)))
        out = np.zeros(len(local), dtype=bool)
        if len(inside):
            # Ascending, as `_named` asks.
            if np.any(local[inside[1:]] < local[inside[:-1]]):
                inside = inside[np.argsort(local[inside], kind="stable")]
            out[inside] = self._named(local[inside], skip=-1)
        return out

    def newest(self, most: int) -> np.ndarray:
        if most <= 0 or not self.keys:
            return NAMES_NOTHING.rows
        groups = [[self._index.rows_of(k) for k in group] for group in self.keys]
        sizes = [sum(len(rows) for rows in group) for group in groups]
        rarest = int(np.argmin(sizes))
        n = len(self.texts)
        # The first window holds about FIRST_WINDOW_SHARE * most of the rarest group's
        # rows; each next one what the share named so far says is left to find, a quarter
        # over (never less than the one before), or twice the one before while none were.
        window = max(1, FIRST_WINDOW_SHARE * most * n // max(sizes[rarest], 1))
        found: list[np.ndarray] = []
        count, end = 0, n
        while end > 0 and count < most and sizes[rarest]:
            start = max(0, end - window)
            rows = union_rows([r[np.searchsorted(r, start) : np.searchsorted(r, end)]
                               for r in groups[rarest]])  # fmt: skip
            rows = rows[self._named(rows, skip=rarest)]
            found.append(rows)
            count += len(rows)
            end = start
            window = (
                2 * window
                if not count
                else max(window, 5 * (most - count) * (n - end) // (4 * count))
            )
        rows = np.concatenate([NAMES_NOTHING.rows, *found[::-1]]).astype(np.int64)
        return rows[max(0, len(rows) - most) :] + self.offset

    def every(self) -> np.ndarray:
        if not self.keys:
            return NAMES_NOTHING.rows
        rows = self._index.rows_with_all(self.keys)
        return rows[self._checked(rows)].astype(np.int64) + self.offset

    def _named(self, rows: np.ndarray, skip: int) -> np.ndarray:
        """Whether each local row (ascending) holds a key of every group (but group `skip`,
        known held) and passes the text check. Rarest group first, each asked only of the
        rows left, and only its keys' rows between the first and last of them: a common
        word costs a binary search per row left, not the word's own rows."""
        groups = [[self._index.rows_of(k) for k in group] for group in self.keys]
        # Searched as the keys' own int32: int64 rows would make NumPy copy each key's rows
        # to int64 first (3,000 sorted rows against 4,000,000 keys: 0.1 ms as int32, 2.2
        # as int64, 3.7 as int64 in random order).
        rows = rows.astype(np.int32, copy=False)
        left = np.arange(len(rows))
        for g in np.argsort([sum(len(r) for r in group) for group in groups], kind="stable"):
            if g == skip or not len(left):
                continue
            asked = rows[left]
            here = np.zeros(len(left), dtype=bool)
            for keyed in groups[g]:
                keyed = keyed[
                    np.searchsorted(keyed, asked[0]) : np.searchsorted(keyed, asked[-1], "right")
                ]
                if len(keyed):
                    here |= find_sorted(keyed, asked)[1]
            left = left[here]
        held = np.zeros(len(rows), dtype=bool)
        held[left] = True
        return self._checked(rows, held)

    def _checked(self, rows: np.ndarray, held: np.ndarray | None = None) -> np.ndarray:
        """Whether each local row (of those `held`, default all) passes the text check."""
        out = np.ones(len(rows), dtype=bool) if held is None else held.copy()
        if self.holds is None:
            return out
        check = out if self.check_all else out & ~self._index.plain[rows]
        at = np.flatnonzero(check)
        out[at] = self.texts.holding(rows[at], self.holds)
        return out


@dataclass(frozen=True)
class AnyNamed:
    """Rows that one of `parts` names (segments of texts side by side, or the names of one
    phrase: as written, its usual spelling, its English)."""

    parts: tuple[Named, ...]

    def among(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows), dtype=bool)
        for part in self.parts:
            out |= part.among(rows)
        return out

    def newest(self, most: int) -> np.ndarray:
        rows = distinct(np.concatenate([NAMES_NOTHING.rows, *(p.newest(most) for p in self.parts)]))
        return rows[max(0, len(rows) - most) :]

    def every(self) -> np.ndarray:
        return distinct(np.concatenate([NAMES_NOTHING.rows, *(p.every() for p in self.parts)]))


def any_of(parts: Sequence[Named]) -> Named:
    """The rows any of `parts` names (the only part itself when there is one)."""
    kept = tuple(p for p in parts if not (isinstance(p, RowsNamed) and not len(p.rows)))
    if not kept:
        return NAMES_NOTHING
    return kept[0] if len(kept) == 1 else AnyNamed(kept)


def shifted(named: Named, offset: int) -> Named:
    """`named` for texts that begin at row `offset` of a longer list."""
    if not offset:
        return named
    if isinstance(named, RowsNamed):
        return RowsNamed(named.rows + offset)
    if isinstance(named, IndexedNamed):
        return replace(named, offset=named.offset + offset)
    if isinstance(named, AnyNamed):
        return AnyNamed(tuple(shifted(p, offset) for p in named.parts))
    raise TypeError(f"cannot shift {type(named).__name__}")


def as_mask(named: Named, n: int) -> np.ndarray:
    """Every row `named` names, as a mask (n,) over texts of n rows."""
    out = np.zeros(n, dtype=bool)
    out[named.every()] = True
    return out
