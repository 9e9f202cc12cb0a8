"""Ranking a page: pure functions over snapshot-aligned arrays.

Stages: steering relevance (how much each clip is about a phrase, by meaning),
hard filters, scoring with named parts, and MMR diversification with a
per-creator cap. Every kept item carries its sources and score parts, so the
page can say why each item is there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from feed.core.naming import (
    NAMES_NOTHING,
    IndexedNamed,
    Named,
    RowsNamed,
    any_of,
    as_mask,
    shifted,
)
from feed.core.quantized import Matrix
from feed.core.words import WORD, WordIndex, phrase_grams

# A clip "matches" a phrase when its similarity stands this many standard
# deviations above the catalog's mean similarity to that phrase. Exclusion uses
# a lower bar than "only": hiding a borderline clip costs less than showing one
# the user said never to show. Both were chosen on the demo catalog and are
# checked on catalogs they were not tuned on.
MATCH_Z = 1.5
EXCLUDE_Z = 1.0
EXCLUDE_SOFT_Z = -0.5
# Boosts saturate just above the match bar, so among clips that match, taste decides.
Z_CLIP = (-1.0, 2.0)


@dataclass(frozen=True)
class RankWeights:
    """Weights of the score parts and diversification settings."""

    taste: float = 1.0
    steer: float = 0.5
    suppress: float = 0.5
    exclude_margin: float = 1.0
    fresh: float = 0.08
    popular: float = 0.08
    follow: float = 0.1
    made: float = 0.6
    explore_jitter: float = 0.02
    fresh_half_life_h: float = 72.0
    mmr_lambda: float = 0.75
    creator_cap: int = 2
    pool: int = 200


@dataclass(frozen=True)
class SteerSignal:
    """A steering op resolved against the snapshot: z (N,) of each clip's relevance."""

    id: str
    op: str
    phrase: str
    weight: float
    z: np.ndarray


@dataclass(frozen=True)
class ScoredItem:
    """A candidate row with its score, named score parts, sources and steering."""

    row: int
    score: float
    parts: dict[str, float]
    sources: tuple[str, ...]
    steering: tuple[str, ...] = field(default=())


def phrase_relevance(
    vectors: Mapping[str, Matrix],
    has: Mapping[str, np.ndarray],
    query: Mapping[str, np.ndarray],
) -> np.ndarray:
    """z-scored relevance (N,) of every clip to a phrase, averaged over its channels.

    Each channel compares the phrase (encoded by that channel's own text tower)
    with clip vectors of that channel only; the two spaces are never mixed.
    """
    n = len(next(iter(has.values())))
    total = np.zeros(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    for channel, q in query.items():
        mask = has[channel]
        if not mask.any():
            continue
        # Multiply first, select after: boolean-indexing the (N, d) matrix would copy it.
        sims = (vectors[channel] @ q)[mask]
        std = float(sims.std())
        z = (sims - sims.mean()) / (std if std > 1e-9 else 1.0)
        total[mask] += z
        count[mask] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


# Words that name a kind of thing rather than the thing: "anime style" is about anime.
_GENERIC_WORDS = frozenset(
    ("style", "styles", "styled", "look", "looks", "vibe", "vibes", "aesthetic", "stuff",
     "videos", "video", "clips", "clip", "ones", "content", "things", "thing", "kind", "sort",
     "type")
)  # fmt: skip


@dataclass(frozen=True)
class ClipTexts:
    """Every clip's lower-cased text in one string, for lexical matching in C-speed scans.

    `starts[i]` is where row i's text begins in `blob` (rows are joined by newlines).
    From `INDEXED_ROWS` rows on, `words` indexes them (see `feed.core.words`), and a
    phrase is looked up there instead of scanned for.
    """

    blob: str
    starts: np.ndarray
    words: WordIndex | None = None

    @classmethod
    def of(cls, texts: Sequence[str], *, clean: bool = False) -> ClipTexts:
        """Join texts, lower-cased and with newlines as spaces (`clean`: they are already,
        and are joined as they are, without a second copy of every text)."""
        cleaned = texts if clean else [t.lower().replace("\n", " ") for t in texts]
        lengths = np.fromiter((len(t) + 1 for t in cleaned), dtype=np.int64, count=len(cleaned))
        starts = np.zeros(len(cleaned), dtype=np.int64)
        if len(cleaned) > 1:
            np.cumsum(lengths[:-1], out=starts[1:])
        words = WordIndex.build(cleaned) if len(cleaned) >= INDEXED_ROWS else None
        return cls("\n".join(cleaned), starts, words)

    def __len__(self) -> int:
        return len(self.starts)

    def indexed(self) -> ClipTexts:
        """These texts with their word index from `INDEXED_ROWS` rows on (built from the
        blob when missing)."""
        if self.words is not None or len(self) < INDEXED_ROWS:
            return self
        return replace(self, words=self._word_index())

    def _word_index(self) -> WordIndex:
        return self.words or WordIndex.build(self.blob.split("\n"))

    def rows_with_words(self, words: Sequence[str]) -> np.ndarray:
        """Rows (N,) whose text holds each of `words` as a whole word, an "e", "s" or "es"
        allowed (rarest word first is fastest)."""
        if self.words is not None:
            return as_mask(self.naming_words(words), len(self))
        patterns = [_word_pattern(w) for w in words]
        out = self.rows_naming(words[0], patterns[0])
        for pattern in patterns[1:]:
            if not out.any():
                break
            out = self.rows_matching(pattern, out)
        return out

    def naming_words(self, words: Sequence[str]) -> Named:
        """The rows `rows_with_words` finds, answered as asked (see `feed.core.naming`)."""
        if self.words is None:
            return RowsNamed(np.flatnonzero(self.rows_with_words(words)))
        patterns = [_word_pattern(w) for w in words]
        blob = self.blob
        return IndexedNamed(
            self,
            tuple(tuple(w + e for e in _ENDINGS) for w in words),
            # A plain row's words are its whole words; any other is read.
            lambda at, end: all(p.search(blob, at, end) is not None for p in patterns),
            check_all=False,
        )

    def rows_containing(self, literal: str) -> np.ndarray:
        """Rows (N,) whose text contains `literal` (lower-cased) as written."""
        if self.words is None or literal.isascii():
            return self.rows_naming(literal, re.compile(re.escape(literal)))
        return as_mask(self.naming_literal(literal), len(self))

    def naming_literal(self, literal: str) -> Named:
        """The rows `rows_containing` finds, answered as asked (see `feed.core.naming`)."""
        if self.words is None or literal.isascii():
            return RowsNamed(np.flatnonzero(self.rows_containing(literal)))
        keys = tuple((key,) for key in phrase_grams(literal))
        if len(literal) <= 2 and literal in self.words.ids:
            return IndexedNamed(self, keys, None, check_all=True)  # its rows hold the literal
        find = self.blob.find
        return IndexedNamed(self, keys, lambda at, end: find(literal, at, end) >= 0, True)

    def holding(self, rows: np.ndarray, holds: Callable[[int, int], bool]) -> np.ndarray:
        """Whether each of `rows`' text span in `blob` (start, end) `holds` (bool, aligned)."""
        starts = self.starts[rows]
        ends = np.full(len(rows), len(self.blob), dtype=np.int64)
        inner = rows + 1 < len(self)
        ends[inner] = self.starts[rows[inner] + 1] - 1  # the newline after the row
        spans = zip(starts.tolist(), ends.tolist(), strict=True)
        return np.fromiter((holds(at, end) for at, end in spans), dtype=bool, count=len(rows))

    def rows_matching(
        self, pattern: re.Pattern[str], within: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows (N,) whose text the pattern matches somewhere (a scan; the word index is
        not used).

        With `within` (N,) bool, only those rows can match: when they are few, each is
        searched on its own instead of scanning the whole blob.
        """
        out = np.zeros(len(self.starts), dtype=bool)
        if within is not None:
            rows = np.flatnonzero(within)
            if len(rows) * _ROW_SCAN_SHARE <= len(self.starts):
                blob = self.blob
                out[
                    rows[self.holding(rows, lambda a, e: pattern.search(blob, a, e) is not None)]
                ] = True
                return out
        at = np.fromiter((m.start() for m in pattern.finditer(self.blob)), dtype=np.int64)
        if len(at):
            out[np.searchsorted(self.starts, at, side="right") - 1] = True
        if within is not None:
            out &= within
        return out

    def rows_naming(self, literal: str, pattern: re.Pattern[str]) -> np.ndarray:
        """Rows (N,) whose text `pattern` matches at some occurrence of `literal`; the
        pattern must begin with the literal, so these are the rows it matches anywhere.

        `str.find` skips to each occurrence faster than the regex engine scans, and a
        row that matched is not searched further.
        """
        blob = self.blob
        find, match = blob.find, pattern.match
        hits: list[int] = []
        at = find(literal)
        while at >= 0:
            if match(blob, at) is not None:
                hits.append(at)
                at = find("\n", at)  # the rest of this row can add nothing
                if at < 0:
                    break
            at = find(literal, at + 1)
        out = np.zeros(len(self.starts), dtype=bool)
        if hits:
            out[np.searchsorted(self.starts, np.asarray(hits), side="right") - 1] = True
        return out

    def joined(self, other: ClipTexts) -> ClipTexts:
        """These rows, then `other`'s, as one blob (indexed from `INDEXED_ROWS` rows on:
        the two indexes are merged, not built again)."""
        if not len(self):
            return other
        if not len(other):
            return self
        shift = len(self.blob) + 1
        words = None
        if len(self) + len(other) >= INDEXED_ROWS:
            words = self._word_index().joined(other._word_index())
        return ClipTexts(
            f"{self.blob}\n{other.blob}",
            np.concatenate([self.starts, other.starts + shift]),
            words,
        )


@dataclass(frozen=True)
class SegmentedTexts:
    """Clip texts kept as a few `ClipTexts` segments in row order, so rows can be added
    without copying every text: `extended` adds the new rows as a segment and merges the
    last two while the newer is at least half the older, which keeps O(log N) segments and
    copies each text O(log N) times in all. Read like `ClipTexts`."""

    segments: tuple[ClipTexts, ...]

    def __len__(self) -> int:
        return sum(len(s) for s in self.segments)

    def extended(self, added: ClipTexts) -> SegmentedTexts:
        """These rows, then `added`'s as new rows (kept as given: a segment of its own
        until it is merged)."""
        segments = [*self.segments, added]
        while len(segments) > 1 and 2 * len(segments[-1]) >= len(segments[-2]):
            last = segments.pop()
            segments[-1] = segments[-1].joined(last)
        return SegmentedTexts(tuple(segments))

    def _each(
        self,
        rows: Callable[[ClipTexts, np.ndarray | None], np.ndarray],
        within: np.ndarray | None = None,
    ) -> np.ndarray:
        out, start = [], 0
        for segment in self.segments:
            end = start + len(segment)
            out.append(rows(segment, None if within is None else within[start:end]))
            start = end
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)

    def rows_with_words(self, words: Sequence[str]) -> np.ndarray:
        """As `ClipTexts.rows_with_words`, segment by segment."""
        return self._each(lambda segment, _: segment.rows_with_words(words))

    def naming_words(self, words: Sequence[str]) -> Named:
        """As `ClipTexts.naming_words`, segment by segment."""
        return self._naming(lambda segment: segment.naming_words(words))

    def naming_literal(self, literal: str) -> Named:
        """As `ClipTexts.naming_literal`, segment by segment."""
        return self._naming(lambda segment: segment.naming_literal(literal))

    def _naming(self, named: Callable[[ClipTexts], Named]) -> Named:
        parts, start = [], 0
        for segment in self.segments:
            parts.append(shifted(named(segment), start))
            start += len(segment)
        return any_of(parts)

    def rows_containing(self, literal: str) -> np.ndarray:
        """As `ClipTexts.rows_containing`, segment by segment."""
        return self._each(lambda segment, _: segment.rows_containing(literal))

    def rows_matching(
        self, pattern: re.Pattern[str], within: np.ndarray | None = None
    ) -> np.ndarray:
        """As `ClipTexts.rows_matching`, segment by segment."""
        return self._each(lambda segment, part: segment.rows_matching(pattern, part), within)

    def rows_naming(self, literal: str, pattern: re.Pattern[str]) -> np.ndarray:
        """As `ClipTexts.rows_naming`, segment by segment."""
        return self._each(lambda segment, _: segment.rows_naming(literal, pattern))


Texts = ClipTexts | SegmentedTexts
# Texts of at least this many rows are looked up through a word index; fewer are scanned.
INDEXED_ROWS = 4096


def lexical_matches(texts: Texts, phrase: str) -> np.ndarray:
    """Rows (N,) whose text names the phrase outright.

    English: every content word of the phrase appears as a word of the text (a plural's
    "s"/"es" aside). Japanese (or any non-Latin phrase): the phrase appears as written.
    The lexical half of hybrid retrieval: sentence vectors miss some clips that say
    exactly what the person named.
    """
    asked = _named_by(phrase)
    if asked is None:
        return np.zeros(len(texts), dtype=bool)
    return texts.rows_containing(asked) if isinstance(asked, str) else texts.rows_with_words(asked)


def lexical_naming(texts: Texts, phrase: str) -> Named:
    """The rows `lexical_matches` finds, answered as a page asks (`feed.core.naming`):
    whether given rows name the phrase, or the newest that do, without finding them all."""
    asked = _named_by(phrase)
    if asked is None:
        return NAMES_NOTHING
    return texts.naming_literal(asked) if isinstance(asked, str) else texts.naming_words(asked)


def _named_by(phrase: str) -> str | list[str] | None:
    """What a text holds when it names `phrase` (see `lexical_matches`): the phrase as
    written (not ASCII), or its content words' stems, longest (usually rarest) first; None
    when no text names it."""
    phrase = phrase.lower().strip()
    if not phrase or "\n" in phrase:
        return None
    if not phrase.isascii():
        return phrase
    words = [_stem(w) for w in WORD.findall(phrase) if w not in _GENERIC_WORDS]
    if not words or all(len(w) < 3 for w in words):
        return None
    return sorted(dict.fromkeys(words), key=len, reverse=True)


# Rows are searched one by one only while at most 1 in this many are left; more, one scan.
_ROW_SCAN_SHARE = 8


# What may follow a stem in a text that names it (see `_stem`: zombi → zombie, zombies):
# the word index looks up each ending's word, the scan's pattern allows each.
_ENDINGS = ("", "e", "s", "es")


def _word_pattern(word: str) -> re.Pattern[str]:
    r"""The word as a whole word with one of `_ENDINGS` (`\bword(?:e|s|es)?\b`), written to
    start with the literal word (then a look-behind for the leading boundary), so a search
    can skip to each occurrence of the word instead of trying every position."""
    w = re.escape(word)
    endings = "|".join(e for e in _ENDINGS if e)
    return re.compile(rf"{w}(?<=\b{w})(?:{endings})?\b")


def _stem(word: str) -> str:
    """The stem a plural shares with its singular, for `_word_pattern` (which adds "e",
    "s" or "es" back): boxes → box, tomatoes → tomato, zombies → zombi, cats → cat."""
    for suffix in ("es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def filter_mask(
    n: int,
    blocked_rows: Sequence[np.ndarray],
    signals: Sequence[SteerSignal],
    margins: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Rows (n,) allowed on a page: not blocked (seen, hidden, …) and within steering's
    hard ops (exclude removes matches; only keeps matches). `margins[signal id]` lowers
    an exclusion's bar (for z from sampled statistics)."""
    allowed = np.ones(n, dtype=bool)
    for rows in blocked_rows:
        allowed[rows] = False
    for s in signals:
        if s.op == "exclude":
            allowed &= s.z < EXCLUDE_Z - (margins or {}).get(s.id, 0.0)
        elif s.op == "only":
            allowed &= s.z >= MATCH_Z
    return allowed


def freshness(created_at: np.ndarray, now: float, half_life_h: float) -> np.ndarray:
    """1 for a clip made now, halving every `half_life_h` hours."""
    age_h = np.maximum(now - created_at, 0.0) / 3600.0
    return np.power(0.5, age_h / half_life_h).astype(np.float32)


def score_candidates(
    rows: np.ndarray,
    sources: Sequence[tuple[str, ...]],
    taste: np.ndarray,
    signals: Sequence[SteerSignal],
    fresh: np.ndarray,
    popular: np.ndarray,
    followed: np.ndarray,
    made: np.ndarray,
    jitter: np.ndarray,
    weights: RankWeights,
) -> list[ScoredItem]:
    """Score candidate rows; taste/fresh/popular/followed/made/jitter are (len(rows),) arrays.

    `made` marks clips generated for this user's request. Returns the best
    `weights.pool` items (in no particular order): only they can reach a page.

    Boosts add relevance (clipped z) times weight; suppressions subtract only
    positive relevance, so clips unrelated to the phrase are left alone.
    """
    parts: dict[str, np.ndarray] = {
        "taste": weights.taste * taste,
        "fresh": weights.fresh * fresh,
        "popular": weights.popular * popular,
        "follow": weights.follow * followed,
        "made": weights.made * made,
        "explore": weights.explore_jitter * jitter,
    }
    steer = np.zeros(len(rows), dtype=np.float32)
    touched: dict[int, list[str]] = {}
    for s in signals:
        z = s.z[rows]
        if s.op == "boost":
            steer += weights.steer * s.weight * np.clip(z, *Z_CLIP)
        elif s.op == "suppress":
            steer -= weights.suppress * s.weight * np.clip(z, 0.0, Z_CLIP[1])
        elif s.op == "exclude":
            # Matches are already filtered out. Near-misses (anything more related
            # than EXCLUDE_SOFT_Z) sink below unrelated clips in proportion: a
            # single sentence vector blends a clip's look with its content, so
            # "no horror" errs towards hiding a borderline clip rather than showing it.
            steer -= weights.exclude_margin * np.clip(z - EXCLUDE_SOFT_Z, 0.0, None)
        for i in np.flatnonzero(z >= MATCH_Z).tolist():
            touched.setdefault(i, []).append(s.id)
    parts["steer"] = steer
    total = np.sum(list(parts.values()), axis=0)
    # Only the best `pool` candidates can reach a page (diversify looks no further),
    # so only they become objects.
    keep = np.arange(len(rows))
    if len(rows) > weights.pool:
        keep = np.argpartition(-total, weights.pool - 1)[: weights.pool]
    names = list(parts)
    stacked = np.stack([parts[k] for k in names])[:, keep].astype(np.float64)
    kept_parts = np.round(stacked, 4).T.tolist()
    return [
        ScoredItem(
            row=row,
            score=score,
            parts={k: v for k, v in zip(names, values, strict=True) if v != 0},
            sources=sources[i],
            steering=tuple(touched.get(i, ())),
        )
        for i, row, score, values in zip(
            keep.tolist(), rows[keep].tolist(), total[keep].tolist(), kept_parts, strict=True
        )
    ]


def diversify(
    items: Sequence[ScoredItem],
    vectors: np.ndarray,
    creator_codes: np.ndarray,
    limit: int,
    weights: RankWeights,
) -> list[ScoredItem]:
    """Greedy MMR over the best `weights.pool` items with at most `creator_cap` per creator.

    vectors (N, d) are the text-channel vectors used for redundancy. When the
    cap leaves the page short, capped items fill the remaining slots in MMR order.
    """
    pool = sorted(items, key=lambda it: -it.score)[: max(weights.pool, limit)]
    if not pool:
        return []
    scores = np.array([it.score for it in pool], dtype=np.float32)
    spread = float(scores.max() - scores.min())
    relevance = (scores - scores.min()) / (spread if spread > 1e-9 else 1.0)
    rows = np.array([it.row for it in pool], dtype=np.int64)
    sims = vectors[rows] @ vectors[rows].T
    chosen: list[int] = []
    overflow: list[int] = []
    max_sim = np.full(len(pool), -1.0, dtype=np.float32)
    per_creator: dict[int, int] = {}
    remaining = np.ones(len(pool), dtype=bool)
    while len(chosen) < limit and remaining.any():
        redundancy = np.where(max_sim < 0, 0.0, max_sim)
        mmr = weights.mmr_lambda * relevance - (1 - weights.mmr_lambda) * redundancy
        mmr[~remaining] = -np.inf
        best = int(np.argmax(mmr))
        remaining[best] = False
        creator = int(creator_codes[rows[best]])
        if per_creator.get(creator, 0) >= weights.creator_cap:
            overflow.append(best)
            continue
        per_creator[creator] = per_creator.get(creator, 0) + 1
        chosen.append(best)
        max_sim = np.maximum(max_sim, sims[best])
    chosen.extend(overflow[: limit - len(chosen)])
    return [pool[i] for i in chosen]
