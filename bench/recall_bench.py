"""HNSW recall at 100,000 real sentence vectors: the engine's index against exact search.

`core_bench.py` measures recall on 100,000 *random* vectors (HNSW's worst case)
and on 10,000 real ones; this fills the gap between. It embeds `--count` unique
synthetic prompts with the packaged all-MiniLM-L6-v2 (about 6 minutes for
100,000 on 2 cores; the vectors are cached under bench/out/ for reruns), builds
the engine's own `VectorIndex` over them (HNSW above 50,000 vectors, with the
engine's M, efConstruction and efSearch), and compares its top 10 with exact
inner-product search for two kinds of query the engine asks:

- typed searches ("anime cats at night"), encoded like `ClipStore.search` does;
- taste vectors: the normalised mean of a few catalog clips, like a user's
  profile direction in the feed's `taste` source.

Prints recall@10 and single-query latency for each efSearch; writes JSON.
Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/recall_bench.py [--count 100000]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import faiss
import numpy as np
from core_bench import (
    EF_SWEEP,
    exact_top_k,
    hnsw_graph,
    make_prompts,
    make_queries,
    progress_bar,
    recall_at_10,
)

from embeddings.encoders import SentenceEncoder
from embeddings.index import HNSW_EF_SEARCH, VectorIndex

log = logging.getLogger("recall_bench")
OUT = Path(__file__).parent / "out"
CHUNK = 2048


def unique_prompts(count: int, seed: int) -> list[str]:
    """`count` distinct synthetic prompts (duplicates would tie in exact search)."""
    rng = np.random.default_rng(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        for prompt in make_prompts(count - len(seen), rng):
            seen.setdefault(prompt)
    return list(seen)[:count]


def embed(prompts: list[str], cache: Path, model_id: str) -> np.ndarray:
    """MiniLM vectors of the prompts, from the cache when it holds exactly these."""
    meta = cache.with_suffix(".json")
    key = {"model": model_id, "count": len(prompts), "first": prompts[0], "last": prompts[-1]}
    if cache.exists() and meta.exists() and json.loads(meta.read_text()) == key:
        log.info("vectors from %s", cache)
        return np.load(cache)
    encoder = SentenceEncoder.load()
    parts = []
    with progress_bar(len(prompts), "embed") as bar:
        for start in range(0, len(prompts), CHUNK):
            parts.append(encoder.encode_texts(prompts[start : start + CHUNK]))
            bar.update(len(parts[-1]))
    vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    meta.write_text(json.dumps(key))
    return vectors


def taste_queries(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Normalised means of 5 random catalog vectors each."""
    picks = rng.integers(len(base), size=(n, 5))
    mean = base[picks].mean(axis=1)
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


def measure(index: VectorIndex, ids: np.ndarray, base: np.ndarray, queries: np.ndarray) -> dict:
    """Recall@10 and single-query latency per efSearch."""
    truth = ids[exact_top_k(base, queries, 10)]
    graph = hnsw_graph(index) if index.kind == "hnsw" else None
    out = {}
    for ef in EF_SWEEP if graph is not None else (0,):
        if graph is not None:
            graph.efSearch = ef
        found, times = [], []
        for q in queries:
            t0 = time.perf_counter()
            found.append(index.search(q[None], k=10)[0].ids)
            times.append(time.perf_counter() - t0)
        out[str(ef)] = {
            "recall_at_10": round(recall_at_10(found, truth), 4),
            "p50_ms": round(float(np.percentile(times, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(times, 99)) * 1000, 3),
        }
    if graph is not None:
        graph.efSearch = HNSW_EF_SEARCH
    return out


def main(argv: list[str] | None = None) -> int:
    """Embed, index, measure, print and write the summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=OUT / "recall.json")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    faiss.omp_set_num_threads(1)  # as `serve` runs
    prompts = unique_prompts(ns.count, ns.seed)
    model_id = SentenceEncoder.load().model_id
    base = embed(prompts, OUT / f"recall-vectors-{ns.count}.npy", model_id)
    ids = np.arange(1, len(base) + 1, dtype=np.int64)
    t0 = time.perf_counter()
    index = VectorIndex.build("text", model_id, ids, base, generation=0)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(ns.seed + 1)
    encoder = SentenceEncoder.load()
    sets = {
        "typed searches": encoder.encode_texts(make_queries(ns.queries, rng)),
        "taste vectors": taste_queries(base, ns.queries, rng),
    }
    result = {
        "count": len(base),
        "kind": index.kind,
        "build_s": round(build_s, 1),
        "queries_per_set": ns.queries,
        "cpu_count": os.cpu_count(),
        "by_query_set": {
            name: {
                "nn_cosine_mean": round(float((q @ base.T).max(axis=1).mean()), 3),
                "by_ef_search": measure(index, ids, base, q),
            }
            for name, q in sets.items()
        },
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['count']} vectors, {index.kind}, built in {result['build_s']} s")
    print(f"{'queries':<16} {'efSearch':>8} {'recall@10':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, block in result["by_query_set"].items():
        for ef, m in block["by_ef_search"].items():
            print(f"{name:<16} {ef:>8} {m['recall_at_10']:>10} {m['p50_ms']:>8} {m['p99_ms']:>8}")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
