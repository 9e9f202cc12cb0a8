"""Serving a built home in a fresh process, as a restarted server does: open time, RSS,
and page latencies (plain, boost + exclude, "only", the first page after a new phrase,
an event batch and the next page, the next page after an upload); with `--exact`,
steering checked against the exact whole-catalog method in the same process (top-20
overlap, exclusion leaks).

`feed_bench.py` builds its catalogs and measures in the process that built them, whose
memory still holds what building needed; this opens a home it built (or any home) the
way `steerfeed serve` would, with one thread per request.

    HF_HUB_OFFLINE=1 python bench/serve_bench.py --home /path/to/home-1000000 \\
        --out bench/out/serve-1m.json [--exact]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from core_bench import Latency, machine_info, summarise
from feed_bench import (
    BOOSTS,
    EXCLUDES,
    ONLYS,
    SEED,
    Clock,
    bench_exclusions,
    bench_top_overlap,
    fresh_phrases,
    readable,
    rss_mb,
    rss_parts_mb,
    steering_phrases,
)

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.bootstrap import use_one_thread_per_request
from feed.core.manifest import parse_entry
from feed.core.profile import Event
from feed.core.quantized import BorrowedCodes, QuantizedVectors
from feed.core.steering import load_reader
from feed.http.serving import freeze_long_lived
from feed.services.clips import MULTI, TEXT, ClipStore
from feed.services.feed import FeedService

log = logging.getLogger("bench.serve")
PAGE = 20


def time_pages(
    service: FeedService, users, instructions, pages: int, now: float
) -> tuple[Latency, Latency]:
    """Each user steered by its instruction, then `pages` pages timed. Returns every page,
    and the pages whose phrases the engine had met before: the first page after an
    instruction's first use pays for its new phrases (timed on its own below)."""
    took, met = [], []
    seen: set[str] = set()
    for user, instruction in zip(users, instructions, strict=True):
        new = bool(instruction) and instruction not in seen
        if instruction:
            service.steering.steer(user, instruction, now)
            seen.add(instruction)
        cursor = None
        for page_no in range(pages):
            start = time.perf_counter()
            page = service.pages.feed_page(user, PAGE, cursor, now)
            took.append(time.perf_counter() - start)
            if not (new and page_no == 0):
                met.append(took[-1])
            cursor = page.next_cursor
    return summarise(took), summarise(met)


def host_control(reps: int = 30) -> float:
    """Median ms of a fixed workload (`QuantizedVectors.dots` over 5,000 random rows of a
    200,000 x 512 code matrix): how fast this host ran during the bench, so runs on a
    shared machine can be compared (about 1.0 ms when it is quiet)."""
    rng = np.random.default_rng(0)
    matrix = QuantizedVectors(
        rng.integers(0, 256, (200_000, 512), dtype=np.uint8),
        np.zeros(512, np.float32), np.full(512, 1 / 255, np.float32),
    )  # fmt: skip
    rows = rng.choice(200_000, 5_000, replace=False)
    q = rng.standard_normal(512).astype(np.float32)
    took = []
    for _ in range(reps):
        start = time.perf_counter()
        matrix.dots(rows, q)
        took.append(time.perf_counter() - start)
    return float(np.median(took) * 1000)


def codes_held(matrix: object) -> str:
    """Whose codes a snapshot channel reads: the index's ("index"), its own ("own"), or
    none (a float32 matrix)."""
    if not isinstance(matrix, QuantizedVectors):
        return "float32"
    return "index" if isinstance(matrix.codes, BorrowedCodes) else "own"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a built home")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--pages", type=int, default=5, help="pages per user and scenario")
    parser.add_argument("--uploads", type=int, default=10)
    parser.add_argument("--new-phrases", type=int, default=60,
                        help="new phrases, each steered to and its first page timed")  # fmt: skip
    parser.add_argument("--event-rounds", type=int, default=5,
                        help="event batches per user (each with the next page timed)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    parser.add_argument(
        "--exact",
        action="store_true",
        help="after the timings, check steering against the exact whole-catalog method: "
        "top-20 overlap per phrase and exclusion leaks (slow at 1M: a full scan a phrase)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    # Builds' progress, and their saves to resume from.
    for name in ("feed.storage.vectors", "feed.services.snapshot", "embeddings.index"):
        logging.getLogger(name).setLevel(logging.INFO)
    if not (args.home / "catalog.sqlite").exists():
        parser.error(f"{args.home} holds no catalog.sqlite")
    rng = np.random.default_rng(SEED)
    encoders = {TEXT: SentenceEncoder.load(), MULTI: MultilingualEncoder.load()}
    cache = Path(os.environ.get("STEERFEED_MODEL_CACHE", args.home / "models"))
    reader = load_reader(cache)
    models_mb = rss_mb()[0]
    use_one_thread_per_request()  # as `steerfeed serve` does
    report: dict = {"machine": machine_info(), "home": str(args.home), "models_rss_mb": models_mb}
    started = time.perf_counter()
    engine = ClipStore(args.home, encoders[TEXT], None, multi_encoder=encoders[MULTI])
    opened = time.perf_counter()
    service = FeedService.open(engine, args.home, reader)
    from_saved = service.snapshots.latest() is not None
    snap = service.snapshots.current()
    service.warm_up()  # as `steerfeed serve` does once its app is built
    freeze_long_lived()
    ready = time.perf_counter()
    report["open"] = {
        "clips": len(snap), "clip_store_s": opened - started, "service_s": ready - opened,
        "total_s": ready - started, "saved_snapshot_loaded": from_saved,
        "rss_mb": rss_mb()[0], "rss_parts_mb": rss_parts_mb(),
        "codes": {c: codes_held(m) for c, m in snap.vectors.items()},
    }  # fmt: skip
    log.info("open: %s", report["open"])
    if not from_saved:
        # Saved now, not only at close: a run stopped while serving (at 10,000,000 clips
        # the snapshot's build takes about 14 minutes) opens from it next time.
        service.save_snapshot()
    try:
        now = time.time()
        users = []
        for k in range(max(args.users, args.new_phrases)):
            user, _ = service.accounts.create_user(f"serve_{int(now)}_{k:03d}", now)
            liked = rng.choice(len(snap), size=5, replace=False)
            events = [Event(str(snap.clip_ids[int(r)]), "like", now) for r in liked]
            service.intake.record_events(user, events, now)
            users.append(user)
        # The first `--users` serve every scenario; the rest only steer to a new phrase.
        users, others = users[: args.users], users[args.users :]
        n = len(users)
        scenarios = {
            "no steering": [None] * n,
            "boost + exclude": [
                f"{BOOSTS[k % len(BOOSTS)][0]}, {EXCLUDES[k % 4][0]}" for k in range(n)
            ],  # fmt: skip
            "only": [ONLYS[k % len(ONLYS)][0] for k in range(n)],
        }
        report["pages"], report["pages_phrases_met"] = {}, {}
        for name, instructions in scenarios.items():
            log.info("pages: %s", name)
            took, met = time_pages(service, users, instructions, args.pages, now)
            report["pages"][name] = asdict(took)
            report["pages_phrases_met"][name] = asdict(met)
        log.info("first page after a new phrase")
        # Phrases the reader would ask about (more or less?) change nothing: left out.
        phrases = [p for p in fresh_phrases(args.new_phrases, rng) if readable(reader, f"more {p}")]
        first = []
        for user, phrase in zip(users + others, phrases, strict=False):
            service.steering.steer(user, f"more {phrase}", now)
            start = time.perf_counter()
            service.pages.feed_page(user, PAGE, None, now)
            first.append(time.perf_counter() - start)
        report["new_phrase_first_page"] = asdict(summarise(first))
        log.info("event batch -> next page")
        record, after_events = [], []
        for user in users * args.event_rounds:  # each with the ops of every scenario above
            cursor = service.pages.feed_page(user, PAGE, None, now).next_cursor
            liked = rng.choice(len(snap), size=5, replace=False)
            events = [Event(str(snap.clip_ids[int(r)]), "like", now) for r in liked]
            start = time.perf_counter()
            service.intake.record_events(user, events, now)
            mid = time.perf_counter()
            service.pages.feed_page(user, PAGE, cursor, now)
            record.append(mid - start)
            after_events.append(time.perf_counter() - start)
        report["event_to_page"] = {"record_events": asdict(summarise(record)),
                                   "total": asdict(summarise(after_events))}  # fmt: skip
        log.info("upload -> next page")
        ingest, after = [], []
        for k in range(args.uploads):
            raw = {"id": f"serve-upload-{int(now)}-{k}", "creator": "uploader",
                   "prompt": f"a {phrases[k % n]} at dusk"}  # fmt: skip
            entry = parse_entry(raw, k + 1, None, 2000)
            start = time.perf_counter()
            engine.ingest([entry], now=time.time())
            mid = time.perf_counter()
            service.pages.feed_page(users[k % n], PAGE, None, now)
            ingest.append(mid - start)
            after.append(time.perf_counter() - mid)
        report["upload"] = {"ingest": asdict(summarise(ingest)),
                            "next_page": asdict(summarise(after))}  # fmt: skip
        report["rss_mb_after"], report["peak_rss_mb"] = rss_mb()
        report["rss_parts_mb_after"] = rss_parts_mb()
        report["host_control_ms"] = host_control()  # after RSS: it allocates 100 MB
        if args.exact:
            overlap = bench_top_overlap(service, steering_phrases(reader))
            report["top_overlap"] = asdict(overlap)
            # Every user still has the exclude op of its "boost + exclude" instruction.
            report["exclusions"] = asdict(bench_exclusions(service, users, Clock(now)))
    finally:
        service.close()
        engine.close()
    lines = [f"open: {report['open']['total_s']:.1f} s ({report['open']['clips']:,} clips;"
             f" saved snapshot loaded: {from_saved}); RSS {report['open']['rss_mb']:.0f} MiB"
             f" (models alone {models_mb:.0f}); codes: {report['open']['codes']}"]  # fmt: skip
    for name, lat in report["pages"].items():
        met = report["pages_phrases_met"][name]
        lines.append(
            f"feed_page, {name}: p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms;"
            f" phrases met before: p50 {met['p50_ms']:.1f}, p99 {met['p99_ms']:.1f}"
        )
    lat = report["new_phrase_first_page"]
    lines.append(f"first page after a new phrase: p50 {lat['p50_ms']:.1f}, p99 {lat['p99_ms']:.1f}")
    ev = report["event_to_page"]["total"]
    lines.append(f"event batch (5 likes) -> next page: p50 {ev['p50_ms']:.1f},"
                 f" p99 {ev['p99_ms']:.1f} ms")  # fmt: skip
    up = report["upload"]
    nxt = up["next_page"]
    lines.append(f"upload -> next page: p50 {nxt['p50_ms']:.1f}, p99 {nxt['p99_ms']:.1f} ms"
                 f" (ingest p50 {up['ingest']['p50_ms']:.1f})")  # fmt: skip
    lines.append(f"host control (dots over 5,000 rows): {report['host_control_ms']:.2f} ms")
    lines.append(f"RSS after serving {report['rss_mb_after']:.0f} MiB"
                 f" (peak {report['peak_rss_mb']:.0f})")  # fmt: skip
    for when, parts in (("open", report["open"]["rss_parts_mb"]),
                        ("after serving", report["rss_parts_mb_after"])):  # fmt: skip
        lines.append(f"RSS {when}: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in parts.items()))
    if args.exact:
        top = report["top_overlap"]
        ex = report["exclusions"]
        lines.append(f"top-{top['k']} overlap with the exact method: mean {top['mean']:.3f},"
                     f" min {top['minimum']:.2f} over {len(top['phrases'])} phrases; mean"
                     f" exact z of the top {top['k']} {top['mean_z_gap']:.3f} below the exact"
                     f" top {top['k']}'s (at most {top['max_z_gap']:.3f}); the first"
                     f" search alone: mean {top['first_mean']:.3f},"
                     f" min {top['first_minimum']:.2f}")  # fmt: skip
        lines.append(f"exclusions: {ex['leaks']} of {ex['served']} served clips at the exact"
                     f" bar over {ex['users']} users' {ex['pages']} pages")  # fmt: skip
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
