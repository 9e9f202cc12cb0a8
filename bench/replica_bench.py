"""Catch-up between replicas: how long after one server acknowledges a write another
server shows it.

Two `steerfeed serve --no-jobs` processes on two ports of 127.0.0.1, as two hosts would
run them: one private PostgreSQL (catalog, user state, jobs) and one Redis (rate limits)
shared, each server with its own home (its own FAISS folder, media and event log). The
catalog is the demo spec, text only, built through replica A's home; B builds its
indexes from the catalog's vectors when it opens.

For each of `--trials` new users, signed up through A:

1. upload: POST /v1/clips (text only) to A, then GET /v1/search for the clip's prompt
   on B, again and again, until B's answer lists the clip. The delay runs from A's 201
   arriving to B's answer that lists it arriving; B catches up from the catalog's change
   log in the first request that notices the generation moved.
2. steer: POST /v1/steer to A, then GET /v1/feed on B until the page's `steering` lists
   every op A applied (steering is read from PostgreSQL with the page's user).

Once B shows the write, the same request goes to B once more: its time with nothing to
catch up (`search_again_ms`, `page_again_ms`), beside the delay.

Prints p50/p99/max of each delay in ms and how many requests to B it took; writes JSON,
with the cores this process, the servers, the database servers and everything else
kept busy while the trials ran.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/replica_bench.py [--trials 20]
[--out bench/out/replicas.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import numpy as np
from load_bench import CpuSample, cores_between, database_servers, serving, store_urls

ANIMALS = ("heron", "otter", "fox", "lynx", "badger")
TOPICS = ("cats", "space", "anime style", "the ocean", "trains")
POLL_TIMEOUT_S = 30.0
KEYS = ("upload_ms", "search_delay_ms", "search_requests", "search_again_ms",
        "steer_delay_ms", "steer_requests", "page_again_ms")  # fmt: skip


def poll(until: Callable[[], bool]) -> tuple[float, int]:
    """Call `until` until it holds: (ms from now to the answer that held, calls made)."""
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < POLL_TIMEOUT_S:
        calls += 1
        if until():
            return (time.perf_counter() - start) * 1000, calls
    raise SystemExit(f"not caught up after {POLL_TIMEOUT_S:.0f} s")


def summary(values: list[float]) -> dict[str, float]:
    """p50/p99/max, rounded."""
    a = np.asarray(values, dtype=np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 1),
            "p99": round(float(np.percentile(a, 99)), 1),
            "max": round(float(a.max()), 1)}  # fmt: skip


def search_lists(b: httpx.Client, auth: dict[str, str], prompt: str, clip_id: str) -> bool:
    """Whether B's search for `prompt` lists `clip_id`."""
    r = b.get("/v1/search", params={"q": prompt, "limit": 10}, headers=auth)
    r.raise_for_status()
    return clip_id in [h["clip_id"] for h in r.json()["items"]]


def page_obeys(b: httpx.Client, auth: dict[str, str], applied: set[str]) -> bool:
    """Whether B's next feed page has every steering op in `applied` in force."""
    r = b.get("/v1/feed", params={"limit": 5}, headers=auth)
    r.raise_for_status()
    return applied <= {s["id"] for s in r.json()["steering"]}


def timed_ms(call: Callable[[], bool]) -> float:
    """How long one call takes, in ms."""
    t0 = time.perf_counter()
    assert call()
    return (time.perf_counter() - t0) * 1000


def run_trials(a: httpx.Client, b: httpx.Client, trials: int, pause_s: float) -> list[dict]:
    """Each trial: a new user uploads through A and waits for B's search, then steers
    through A and waits for B's page; then each request to B once more, caught up."""
    rows = []
    for i in range(trials):
        signed = a.post("/v1/users", json={"handle": f"maker{i}"})
        signed.raise_for_status()
        auth = {"Authorization": f"Bearer {signed.json()['token']}"}
        clip_id = f"maker{i}-clip"
        prompt = f"a {ANIMALS[i % len(ANIMALS)]} painting a lighthouse at dusk, take {i}"
        t0 = time.perf_counter()
        up = a.post("/v1/clips", headers=auth, data={"prompt": prompt, "clip_id": clip_id})
        upload_ms = (time.perf_counter() - t0) * 1000
        assert up.status_code == 201, up.text
        searchable = partial(search_lists, b, auth, prompt, clip_id)
        search_ms, search_calls = poll(searchable)
        search_again_ms = timed_ms(searchable)
        time.sleep(pause_s)
        steered = a.post("/v1/steer", headers=auth, json={"text": f"more {TOPICS[i % 5]}"})
        assert steered.status_code == 200, steered.text
        obeyed = partial(page_obeys, b, auth, {s["id"] for s in steered.json()["applied"]})
        steer_ms, steer_calls = poll(obeyed)
        page_again_ms = timed_ms(obeyed)
        rows.append({"upload_ms": round(upload_ms, 1), "search_delay_ms": round(search_ms, 1),
                     "search_requests": search_calls,
                     "search_again_ms": round(search_again_ms, 1),
                     "steer_delay_ms": round(steer_ms, 1), "steer_requests": steer_calls,
                     "page_again_ms": round(page_again_ms, 1)})  # fmt: skip
        time.sleep(pause_s)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Start the database servers and two replicas, run the trials, print and write."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--pause", type=float, default=0.5, help="seconds between writes")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "replicas.json")
    ns = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with (
        database_servers() as databases,
        tempfile.TemporaryDirectory(prefix="steerfeed-replicas-") as root,
    ):
        urls = store_urls("servers", databases)
        with (
            serving(1, urls, home=Path(root) / "a") as server_a,
            serving(1, urls, home=Path(root) / "b", build=False) as server_b,
            httpx.Client(base_url=server_a.base_url, timeout=30, trust_env=False) as a,
            httpx.Client(base_url=server_b.base_url, timeout=30, trust_env=False) as b,
        ):
            before = CpuSample.take({server_a.pid, server_b.pid})
            rows = run_trials(a, b, ns.trials, ns.pause)
            cores = cores_between(before, CpuSample.take({server_a.pid, server_b.pid}))
    result = {
        "trials": ns.trials,
        "clips": server_a.clips,
        "cpu_count": os.cpu_count(),
        "cores": cores,
        **{key: summary([r[key] for r in rows]) for key in KEYS},
        "rows": rows,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{ns.trials} trials over {server_a.clips} clips; cores busy: {cores}")
    for key in KEYS:
        s = result[key]
        print(f"{key:<16} p50 {s['p50']:>8}  p99 {s['p99']:>8}  max {s['max']:>8}")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
