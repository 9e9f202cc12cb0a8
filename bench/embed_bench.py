"""Benchmark batch embedding: `embed_manifest` in-process against a 2-worker LocalCluster.

Text only (the packaged MiniLM; the multilingual channel with `--multilingual`), over the
demo spec's prompts repeated with a numbered suffix up to `--clips`. Each mode embeds the
same manifest into a fresh folder twice over: cold (cluster start and model loads
included) and warm (encoders already loaded in every process). Before each mode the
script samples how many cores other processes keep busy: on a 2-core machine that
number decides the result.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/embed_bench.py [--clips 400] [--shard-size 50]
[--out bench/out/embed.json]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from feed.core.manifest import ManifestEntry, parse_entry
from feed.services.demo import read_demo_spec
from feed.services.shards import (
    EncoderSpec,
    ShardRunner,
    dask_runner,
    embed_manifest,
    load_encoders,
    run_here,
)


@dataclass(frozen=True)
class Run:
    """One timed embed of the whole manifest."""

    mode: str
    workers: int
    clips: int
    shards: int
    cold_s: float
    warm_s: float
    warm_clips_per_s: float
    others_cores: float


def machine_busy_s() -> float:
    """CPU seconds all processes have spent busy since boot, from /proc/stat (0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def others_busy_cores(window_s: float = 2.0) -> float:
    """Cores other processes keep busy, sampled while this one sleeps."""
    start = machine_busy_s()
    time.sleep(window_s)
    return (machine_busy_s() - start) / window_s


def manifest_entries(clips: int) -> list[ManifestEntry]:
    """`clips` text-only entries from the demo spec's prompts."""
    spec = [dict(s.raw) for s in read_demo_spec()]
    entries = []
    for i in range(clips):
        raw = spec[i % len(spec)]
        prompt = raw["prompt"] if i < len(spec) else f"{raw['prompt']}, take {i // len(spec)}"
        obj = {"id": f"b{i:06d}", "prompt": prompt, "creator": raw["creator"],
               "tags": raw.get("tags", [])}  # fmt: skip
        entries.append(parse_entry(obj, i + 1, None, 2000))
    return entries


def timed(
    entries: list[ManifestEntry], out: Path, spec: EncoderSpec, size: int, run: ShardRunner
) -> float:
    """Seconds to embed every entry into fresh shards under `out`."""
    started = time.perf_counter()
    report = embed_manifest(entries, out, spec, shard_size=size, run=run)
    assert report.written == -(-len(entries) // size), report
    return time.perf_counter() - started


def bench(clips: int, shard_size: int, multilingual: bool) -> list[Run]:
    """Cold and warm runs in-process and on a 2-worker LocalCluster."""
    entries = manifest_entries(clips)
    shards = -(-clips // shard_size)
    runs = []
    with tempfile.TemporaryDirectory(prefix="steerfeed-embed-bench-") as tmp:
        root = Path(tmp)
        spec = EncoderSpec(multilingual=multilingual)
        others = others_busy_cores()
        cold = timed(entries, root / "here-cold", spec, shard_size, run_here)
        warm = timed(entries, root / "here-warm", spec, shard_size, run_here)
        runs.append(Run("in-process", 1, clips, shards, cold, warm, clips / warm, others))

        one_thread = EncoderSpec(multilingual=multilingual, torch_threads=1)
        others = others_busy_cores()
        started = time.perf_counter()
        with dask_runner(local_workers=2) as run:
            cold = time.perf_counter() - started
            cold += timed(entries, root / "cluster-cold", one_thread, shard_size, run)
            warm = timed(entries, root / "cluster-warm", one_thread, shard_size, run)
        runs.append(Run("LocalCluster", 2, clips, shards, cold, warm, clips / warm, others))
        load_encoders.cache_clear()
    return runs


def main() -> int:
    """Run the benchmark, print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--multilingual", action="store_true", help="embed the multi channel too")
    parser.add_argument("--out", default="bench/out/embed.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import distributed  # noqa: F401  (sets its loggers' levels on import)

    logging.getLogger("distributed").setLevel(logging.WARNING)
    runs = bench(args.clips, args.shard_size, args.multilingual)
    print(f"{'mode':<13} workers  clips  shards  cold s  warm s  clips/s (warm)  others' cores")
    for r in runs:
        print(f"{r.mode:<13} {r.workers:7}  {r.clips:5}  {r.shards:6}  {r.cold_s:6.1f}"
              f"  {r.warm_s:6.1f}  {r.warm_clips_per_s:14.1f}  {r.others_cores:13.2f}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = {"cpus": os.cpu_count(), "python": platform.python_version(), "args": vars(args)}
    out.write_text(json.dumps({"machine": facts, "runs": [asdict(r) for r in runs]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
