"""One text space's vector index at a catalog size the whole engine cannot reach here.

Written when a 10,000,000-clip home did not yet fit this machine (it does now, with the
indexes served from their files: README, Feed pages at scale); its largest part, the HNSW
indexes, can still be measured alone. This builds the engine's
own `VectorIndex` (HNSW over 8-bit codes, the engine's M, efConstruction and efSearch)
for one channel over `--clips` synthetic vectors made the way `feed_bench.py` makes them
(real MiniLM vectors of `--pool` distinct prompts, each clip a pool vector plus a little
seeded noise), added in batches as uploads and catch-ups add them (the ranges are
trained on the first batch), and reports build time, RSS and single-thread search
latency at the depths pages ask (k = 600, the taste source; k = 1,200, a new phrase's
best matches; efSearch twice k), with taste-like queries (the mean of five clips).

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/index_scale_bench.py --clips 10000000
--out bench/out/index-10m.json` (about 20 minutes and 7 GB here).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
from feed_bench import NOISE, SEED, make_pool, rss_mb

from embeddings.encoders import SentenceEncoder, l2_normalise
from embeddings.index import VectorIndex, set_search_threads

log = logging.getLogger("bench.index_scale")


def batch_vectors(pool: np.ndarray, start: int, n: int) -> np.ndarray:
    """Clips start .. start + n - 1: pool vectors plus noise, seeded by the batch start."""
    rng = np.random.default_rng([SEED, start])
    picks = rng.integers(len(pool), size=n)
    noise = rng.standard_normal((n, pool.shape[1]), dtype=np.float32)
    noise *= NOISE / np.sqrt(pool.shape[1])
    return l2_normalise(pool[picks] + noise)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=3000, help="distinct prompts")
    parser.add_argument("--batch", type=int, default=500_000, help="vectors added at a time")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "index.json")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.batch < 1:
        parser.error("--clips and --batch must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rng = np.random.default_rng(SEED)
    encoder = SentenceEncoder.load()
    pool = make_pool(args.pool, {"text": encoder}, rng).vectors["text"]
    base = rss_mb()[0]
    log.info("pool of %d prompts encoded; RSS %.0f MiB", args.pool, base)
    index = VectorIndex("text", encoder.model_id, encoder.dim)
    started = time.perf_counter()
    for start in range(0, args.clips, args.batch):
        n = min(args.batch, args.clips - start)
        index.upsert(np.arange(start, start + n, dtype=np.int64), batch_vectors(pool, start, n))
        log.info("added %d/%d (%s) in %.0f s; RSS %.0f MiB", start + n, args.clips, index.kind,
                 time.perf_counter() - started, rss_mb()[0])  # fmt: skip
    build_s = time.perf_counter() - started
    rss, peak = rss_mb()
    set_search_threads(1)  # as `steerfeed serve` searches: one thread per request
    searches = {}
    for k in (600, 1200):
        took = []
        for q in range(args.queries):
            rows = np.random.default_rng([SEED, q]).integers(args.clips, size=5)
            taste = l2_normalise(index.vectors_for(rows).mean(axis=0, keepdims=True))
            t = time.perf_counter()
            index.search(taste, k)
            took.append((time.perf_counter() - t) * 1000)
        searches[k] = {"p50_ms": float(np.percentile(took, 50)),
                       "p99_ms": float(np.percentile(took, 99))}  # fmt: skip
        log.info("search k=%d: p50 %.1f ms, p99 %.1f ms", k, *searches[k].values())
    report = {
        "clips": args.clips, "dim": encoder.dim, "kind": index.kind, "codec": index.codec,
        "build_s": build_s, "rss_mb": rss, "peak_rss_mb": peak, "rss_before_mb": base,
        "index_mb": rss - base, "search": searches,
    }  # fmt: skip
    text = json.dumps(report, indent=2) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
