"""Where a catalog's memory goes: bytes per clip of each step that builds the serving state.

For each size, a catalog of synthetic clips with the feed bench's two text channels
("text", 384-d; "multi", 512-d; random unit vectors, since memory does not depend on
their geometry) is filled, then, in this process:

1. the channels' stored vectors read whole (`Catalog.channel_vectors`), then dropped;
2. the indexes built from the catalog and saved (`ClipStore` on a new home);
3. the ranking snapshot built (`build_snapshot`);

and, in a fresh process, the built home opened again (indexes loaded, snapshot built), as
a restarted server would. Each step reports the RSS it keeps and its peak above the RSS
it started from (VmHWM, reset before each step), divided by the clip count, and of what
it keeps, the process's own memory (`_anon_b`, RssAnon): the rest are pages of mapped
files, as a loaded HNSW index is, which the system may drop under pressure and read
again. The catalog file's size is reported the same way. `--catalog-vectors float16`
stores the catalog's vectors at two bytes a value.

`--recall N` instead builds, over N such "text" vectors, HNSW with float32 storage
(IndexHNSWFlat, as before compact storage) and with 8-bit codes (the engine's index),
with the engine's M, efConstruction and efSearch, and prints each one's recall@10
against exact search for 300 queries (noisy catalog vectors and means of 5 of them).

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/memory_bench.py [--sizes 100000,200000]`
or `... bench/memory_bench.py --recall 100000`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(ROOT)  # `feed` is the package, not bench/feed_bench.py's neighbour

from embeddings.encoders import l2_normalise  # noqa: E402
from feed.services.clips import MULTI, TEXT, ClipStore  # noqa: E402
from feed.services.snapshot import build_snapshot  # noqa: E402
from feed.storage.catalog import Catalog, ClipRecord  # noqa: E402

DIMS = {TEXT: 384, MULTI: 512}
POOL = 3000
BATCH = 5000
NOISE = 0.15


class StubEncoder:
    """An encoder that is never asked to encode: memory steps need only its id and dim."""

    def __init__(self, channel: str) -> None:
        self.model_id = f"stub-{channel}"
        self.dim = DIMS[channel]
        self.multilingual = channel == MULTI

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors seeded by the texts (unused by the measured steps)."""
        rng = np.random.default_rng(abs(hash(tuple(texts))) % (1 << 32))
        return l2_normalise(rng.standard_normal((len(texts), self.dim)).astype(np.float32))


def encoders() -> tuple[StubEncoder, StubEncoder]:
    """(text, multi) stub encoders."""
    return StubEncoder(TEXT), StubEncoder(MULTI)


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def fill(path: Path, count: int, seed: int, vector_format: str = "float32") -> None:
    """`count` clips, each a pool vector plus seeded noise on both channels, stored in
    the catalog as `vector_format`."""
    rng = np.random.default_rng(seed)
    pool = {
        c: l2_normalise(rng.standard_normal((POOL, d)).astype(np.float32)) for c, d in DIMS.items()
    }
    catalog = Catalog(path)
    catalog.set_vector_format(vector_format)
    try:
        for start in range(0, count, BATCH):
            rows = range(start, min(start + BATCH, count))
            entry = rng.integers(POOL, size=len(rows))
            records = [
                ClipRecord(id=f"clip-{i:07d}", prompt=f"prompt {entry[k]} of clip {i}",
                           creator=f"creator_{i % 2000:04d}", created_at=1.7e9 + i,
                           tags=("tag",), duration_s=8.0, width=720, height=1280)
                for k, i in enumerate(rows)
            ]  # fmt: skip
            vectors = {}
            for channel, matrix in pool.items():
                noise = rng.standard_normal((len(rows), matrix.shape[1]), dtype=np.float32)
                noise *= NOISE / np.sqrt(matrix.shape[1])
                vectors[channel] = (f"stub-{channel}", l2_normalise(matrix[entry] + noise))
            catalog.upsert_clips(records, vectors)
    finally:
        catalog.close()


class Step:
    """RSS kept and peak of one step, in MiB, measured around a `with` block."""

    def __enter__(self) -> Step:
        _trim()
        _reset_peak()
        self.start = _status("VmRSS")
        self.start_anon = _status("RssAnon")
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.peak = _status("VmHWM") - self.start
        _trim()
        self.kept = _status("VmRSS") - self.start
        # Of what it keeps, the process's own memory; the rest is pages of mapped files
        # (a loaded HNSW index), which the system may drop and read again.
        self.kept_anon = _status("RssAnon") - self.start_anon


def measure(count: int, work: Path, seed: int, vector_format: str) -> dict[str, float]:
    """Fill a catalog of `count` clips and measure each step (bytes per clip)."""
    home = work / f"home-{count}"
    home.mkdir(parents=True)
    fill(home / "catalog.sqlite", count, seed, vector_format)
    per = 1024.0 * 1024.0 / count
    out: dict[str, float] = {"count": count}
    out["catalog_file_b"] = (home / "catalog.sqlite").stat().st_size / count
    catalog = Catalog(home / "catalog.sqlite")
    with Step() as read:
        stored = [catalog.channel_vectors(c) for c in DIMS]
        del stored
    catalog.close()
    out["read_peak_b"] = read.peak * per
    text, multi = encoders()
    with Step() as index:
        engine = ClipStore(home, text, None, multi_encoder=multi)  # type: ignore[arg-type]
    out["index_kept_b"] = index.kept * per
    out["index_anon_b"] = index.kept_anon * per
    out["index_peak_b"] = index.peak * per
    out["index_s"] = index.seconds
    with Step() as snap_step:
        snap = build_snapshot(engine)
    out["snapshot_kept_b"] = snap_step.kept * per
    out["snapshot_anon_b"] = snap_step.kept_anon * per
    out["snapshot_peak_b"] = snap_step.peak * per
    out["snapshot_s"] = snap_step.seconds
    out["snapshot_vectors_b"] = sum(_nbytes(v) for v in snap.vectors.values()) / count
    out["rss_after_build_mb"] = _status("VmRSS")
    del snap
    engine.catalog.close()
    del engine
    _trim()
    opened = subprocess.run(
        [sys.executable, __file__, "--open", str(home)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    out |= json.loads(opened.stdout.strip().splitlines()[-1])
    return out


def _nbytes(vectors: object) -> int:
    return int(getattr(vectors, "nbytes", 0))


def open_home(home: Path) -> dict[str, float]:
    """Open a built home as a restarted server would: indexes loaded, snapshot built."""
    count = Catalog(home / "catalog.sqlite").count()
    text, multi = encoders()
    per = 1024.0 * 1024.0 / count
    with Step() as opened:
        engine = ClipStore(home, text, None, multi_encoder=multi)  # type: ignore[arg-type]
        snap = build_snapshot(engine)
    assert len(snap) == count
    return {
        "open_s": opened.seconds,
        "open_kept_b": opened.kept * per,
        "open_anon_b": opened.kept_anon * per,
        "open_peak_b": opened.peak * per,
        "rss_after_open_mb": _status("VmRSS"),
    }


def recall(count: int, seed: int) -> dict[str, float]:
    """recall@10 against exact search of HNSW with float32 storage and with 8-bit codes."""
    import faiss

    from embeddings import index as index_mod

    rng = np.random.default_rng(seed)
    dim = DIMS[TEXT]
    pool = l2_normalise(rng.standard_normal((POOL, dim)).astype(np.float32))
    noise = rng.standard_normal((count, dim), dtype=np.float32) * (NOISE / np.sqrt(dim))
    base = l2_normalise(pool[rng.integers(POOL, size=count)] + noise)
    near = base[rng.integers(count, size=150)]
    near = l2_normalise(near + rng.standard_normal(near.shape).astype(np.float32) * 0.02)
    taste = l2_normalise(base[rng.integers(count, size=(150, 5))].mean(axis=1))
    queries = np.concatenate([near, taste]).astype(np.float32)
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    out: dict[str, float] = {"count": count}
    for name, inner in (
        ("hnsw_flat", faiss.IndexHNSWFlat(dim, index_mod.HNSW_M, faiss.METRIC_INNER_PRODUCT)),
        ("hnsw_sq8", faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, index_mod.HNSW_M,
                                       faiss.METRIC_INNER_PRODUCT)),
    ):  # fmt: skip
        inner.hnsw.efConstruction = index_mod.HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = index_mod.HNSW_EF_SEARCH
        t0 = time.perf_counter()
        inner.train(base)
        inner.add(base)
        out[f"{name}_build_s"] = time.perf_counter() - t0
        _, found = inner.search(queries, 10)
        hits = [len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]
        out[f"{name}_recall_at_10"] = float(np.mean(hits))
        out[f"{name}_bytes_per_vector"] = len(faiss.serialize_index(inner)) / count
        del inner
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Measure each size, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,200000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "memory.json")
    parser.add_argument("--recall", type=int, help="recall@10 of HNSW float32 vs 8-bit codes")
    parser.add_argument("--catalog-vectors", default="float32", choices=["float32", "float16"],
                        help="the form the catalog stores vectors in")  # fmt: skip
    parser.add_argument("--open", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(1)
    if args.open:
        print(json.dumps(open_home(args.open)))
        return 0
    if args.recall:
        print(json.dumps(recall(args.recall, args.seed), indent=2))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="steerfeed-bench-memory-") as tmp:
        for count in (int(n) for n in args.sizes.split(",")):
            rows.append(measure(count, Path(tmp), args.seed, args.catalog_vectors))
            print(json.dumps(rows[-1]), flush=True)
    keys = [k for k in rows[0] if k != "count"]
    print(f"{'':22}" + "".join(f"{r['count']:>12,}" for r in rows))
    for key in keys:
        print(f"{key:22}" + "".join(f"{r[key]:>12.1f}" for r in rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sizes": rows, "loadavg": os.getloadavg()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
