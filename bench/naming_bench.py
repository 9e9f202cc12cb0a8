"""What naming a phrase outright costs as the catalog grows.

Finding every row whose text names a phrase (`lexical_matches`, the exact whole-catalog
method) reads the rarest word's rows and checks each against every other word's: those
rows grow with the catalog. A page asks less (`lexical_naming`, see `feed.core.naming`):
the newest 2,400 rows that name it (a boost's or an "only"'s best matches), and which of its
candidates do. Texts are drawn at random from `feed_bench.py`'s pool of 3,000 prompts, as
its synthetic catalogs are; the phrases are its fresh ones (subject + scene, four to nine
words). For each size: every row (and, of that, the word index's intersection alone, and
the N-sized work around it: a mask set and read back), then what a page asks: the newest
2,400, and 3,000 random candidates.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/naming_bench.py --sizes 1000000 5000000`
(about 5 s of index building a million texts, and 2.5 GB at 5,000,000).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feed_bench import fresh_phrases, make_pool  # noqa: E402

from feed.core.ranking import (  # noqa: E402
    _ENDINGS,
    _GENERIC_WORDS,
    WORD,
    ClipTexts,
    _stem,
    lexical_matches,
    lexical_naming,
)
from feed.storage.catalog import embedding_text  # noqa: E402

POOL = 3000
PHRASES = 60
NEWEST = 2400  # NEAREST_DEPTH_SHARE * FETCH_DEPTH (feed.services.relevance)
CANDIDATES = 3000


class _Unencoded:
    """`make_pool` encodes its prompts; only their texts are needed here."""

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 1), np.float32)


def _ms(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):.2f} / p99 {np.percentile(ms, 99):.2f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    pool = make_pool(POOL, {"text": _Unencoded()}, rng)
    texts = [embedding_text(p, "", t) for p, t in zip(pool.prompts, pool.tags, strict=True)]
    phrases = fresh_phrases(PHRASES, np.random.default_rng(1))
    for n in args.sizes:
        started = time.perf_counter()
        clip_texts = ClipTexts.of([texts[i] for i in rng.integers(len(texts), size=n)])
        built_s = time.perf_counter() - started
        assert clip_texts.words is not None
        whole, intersect, masks, named, newest, among = [], [], [], [], [], []
        for phrase in phrases:
            asked = np.unique(rng.integers(n, size=CANDIDATES))  # a page's rows, distinct
            t0 = time.perf_counter()
            page = lexical_naming(clip_texts, phrase)
            latest = page.newest(NEWEST)
            newest.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            page.among(asked)
            among.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = np.flatnonzero(lexical_matches(clip_texts, phrase))
            whole.append(time.perf_counter() - t0)
            named.append(len(rows))
            words = [_stem(w) for w in WORD.findall(phrase.lower()) if w not in _GENERIC_WORDS]
            groups = [tuple(w + e for e in _ENDINGS) for w in sorted(set(words), key=len)[::-1]]
            t0 = time.perf_counter()
            clip_texts.words.rows_with_all(groups)
            intersect.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mask = np.zeros(n, dtype=bool)
            mask[rows] = True
            np.flatnonzero(mask)
            masks.append(time.perf_counter() - t0)
            assert np.array_equal(latest, rows[-NEWEST:]), phrase
        print(
            f"{n:,} texts (index {built_s:.1f} s): every row {_ms(whole)}; the word index's"
            f" intersection {_ms(intersect)}; N-sized mask {_ms(masks)}; rows named"
            f" p50 {np.median(named):,.0f}, most {max(named):,}. A page: the newest"
            f" {NEWEST:,} {_ms(newest)}; {CANDIDATES:,} candidates {_ms(among)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
