"""Load test: the real app under uvicorn on 127.0.0.1, many simulated users at once.

A subprocess serves the app the way `steerfeed serve` does (one thread per request,
gc.freeze after the app is built) over a temp home whose catalog is the demo spec,
text only (no video rendering). The parent signs up `--users` users, then each one, for
`--duration` seconds, loops over: GET /v1/feed (following `next_cursor`, starting over
now and then), POST /v1/events for clips on its last page, POST /v1/steer (English and
Japanese) and, now and then, DELETE /v1/steer/{id}. Any status but the expected one is
an error, except 429 from the steering rate limiter, counted apart. Prints requests,
errors, throughput and p50/p99 latency per route and overall; writes JSON.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/load_bench.py [--users 50] [--duration 60]
[--out bench/out/load.json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
ADMIN = "load-bench-admin"
STEER_TEXTS = [
    "more anime style", "no horror", "less sports", "more cats", "show me more space",
    "もっとアニメ風に", "ホラーは見たくない", "猫をもっと", "スポーツは少なめに",
]  # fmt: skip
EVENT_TYPES = ["impression", "view", "like", "skip"]
EXPECTED = {"feed": 200, "events": 200, "steer": 200, "unsteer": 204}
ROUTES = {
    "feed": "GET /v1/feed",
    "events": "POST /v1/events",
    "steer": "POST /v1/steer",
    "unsteer": "DELETE /v1/steer/{id}",
}


def serve(home: Path, port: int) -> None:
    """Child process: ingest the demo spec text-only into `home`, then serve it."""

    from embeddings.encoders import SentenceEncoder
    from feed.bootstrap import use_one_thread_per_request
    from feed.core.manifest import parse_entry
    from feed.http.app import create_app
    from feed.http.serving import serve_app
    from feed.services.clips import ClipStore
    from feed.services.demo import read_demo_spec
    from feed.settings import Settings

    use_one_thread_per_request()
    engine = ClipStore(home, SentenceEncoder.load(), None)
    entries = [parse_entry(dict(s.raw), i, None, 2000) for i, s in enumerate(read_demo_spec(), 1)]
    report = engine.ingest(entries)
    assert not report.errors, report.errors[:3]
    # STEERFEED_* variables apply, as they do for `steerfeed serve`.
    settings = Settings.from_env(home=home, host=HOST, port=port, admin_token=ADMIN,
                                 run_jobs_in_background=False)  # fmt: skip
    app = create_app(settings, engine)
    gc.collect()
    gc.freeze()
    serve_app(app, HOST, port)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Tally:
    """Latencies (ms) by route, and error / rate-limited counts."""

    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    limited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)


async def user_loop(client, token: str, deadline: float, think_s: float, rng, tally) -> None:  # type: ignore[no-untyped-def]
    """One simulated user until `deadline` (monotonic seconds)."""
    headers = {"Authorization": f"Bearer {token}"}
    cursor: str | None = None
    page: dict = {}
    steering: list[str] = []
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.5 or not page.get("items"):
            kind = "feed"
            if rng.random() < 0.15 or (page and not page["items"]):  # start over at the end
                cursor = None
            params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
            req = client.build_request("GET", "/v1/feed", params=params, headers=headers)
        elif roll < 0.8:
            kind = "events"
            clips = [i["clip_id"] for i in page["items"]][:5]
            events = [
                {"clip_id": c, "type": rng.choice(EVENT_TYPES), "watch_ms": rng.randint(0, 15000)}
                for c in clips
            ]
            body = {"events": events, "session_id": page["session_id"]}
            req = client.build_request("POST", "/v1/events", json=body, headers=headers)
        elif roll < 0.95 or not steering:
            kind = "steer"
            req = client.build_request(
                "POST", "/v1/steer", json={"text": rng.choice(STEER_TEXTS)}, headers=headers
            )
        else:
            kind = "unsteer"
            sid = steering.pop(rng.randrange(len(steering)))
            req = client.build_request("DELETE", f"/v1/steer/{sid}", headers=headers)
        t0 = time.perf_counter()
        try:
            r = await client.send(req)
        except Exception as exc:  # a refused or dropped connection is an error, not a crash
            tally.errors[kind] += 1
            tally.latency_ms[kind].append((time.perf_counter() - t0) * 1000)
            if len(tally.error_samples) < 20:
                tally.error_samples.append(f"{ROUTES[kind]}: {type(exc).__name__}: {exc}")
            continue
        tally.latency_ms[kind].append((time.perf_counter() - t0) * 1000)
        if r.status_code == EXPECTED[kind]:
            if kind == "feed":
                page = r.json()
                cursor = page["next_cursor"]
            elif kind == "steer":
                steering.extend(a["id"] for a in r.json()["applied"])
        elif r.status_code == 429 and kind == "steer":
            tally.limited[kind] += 1
        else:
            tally.errors[kind] += 1
            if len(tally.error_samples) < 20:
                tally.error_samples.append(f"{ROUTES[kind]}: {r.status_code} {r.text[:200]}")
        if think_s > 0:
            await asyncio.sleep(rng.expovariate(1 / think_s))


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p99/max of latencies in ms."""
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    a = np.asarray(values)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2)}  # fmt: skip


async def run_load(base_url: str, users: int, duration_s: float, think_s: float, seed: int) -> dict:
    """Sign up `users` users, run them all for `duration_s`, and summarise."""
    import httpx

    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=60.0, trust_env=False
    ) as client:
        tokens = []
        for i in range(users):
            r = await client.post("/v1/users", json={"handle": f"load{seed}_{i}"})
            r.raise_for_status()
            tokens.append(r.json()["token"])
        tally = Tally()
        start = time.monotonic()
        deadline = start + duration_s
        await asyncio.gather(
            *(
                user_loop(client, t, deadline, think_s, random.Random(seed * 1000 + i), tally)
                for i, t in enumerate(tokens)
            )
        )
        elapsed = time.monotonic() - start
    routes = {}
    for kind, label in ROUTES.items():
        lat = tally.latency_ms.get(kind, [])
        routes[label] = {"requests": len(lat), "errors": tally.errors.get(kind, 0),
                         "rate_limited": tally.limited.get(kind, 0),
                         "req_per_s": round(len(lat) / elapsed, 1)} | percentiles(lat)  # fmt: skip
    every = [x for lat in tally.latency_ms.values() for x in lat]
    return {
        "users": users,
        "duration_s": round(elapsed, 1),
        "think_ms": think_s * 1000,
        "requests": len(every),
        "errors": sum(tally.errors.values()),
        "rate_limited": sum(tally.limited.values()),
        "req_per_s": round(len(every) / elapsed, 1),
        **percentiles(every),
        "routes": routes,
        "error_samples": tally.error_samples,
    }


def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float = 300) -> int:
    """Poll /healthz until the server answers; the catalog's clip count."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with status {proc.returncode}")
        try:
            r = httpx.get(f"{base_url}/healthz", timeout=2, trust_env=False)
            if r.status_code == 200:
                return int(r.json()["clips"])
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Start the server, run the load, print and write the summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--think-ms", type=float, default=50.0, help="mean pause between requests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "load.json")
    p.add_argument("--serve", nargs=2, metavar=("HOME", "PORT"), help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.serve:
        serve(Path(ns.serve[0]), int(ns.serve[1]))
        return 0

    with tempfile.TemporaryDirectory(prefix="steerfeed-load-") as home:
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        proc = subprocess.Popen([sys.executable, __file__, "--serve", home, str(port)],
                                env=os.environ | {"HF_HUB_OFFLINE": "1"})  # fmt: skip
        try:
            clips = wait_ready(base_url, proc)
            result = asyncio.run(
                run_load(base_url, ns.users, ns.duration, ns.think_ms / 1000, ns.seed)
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    result = {
        "clips": clips,
        "cpu_count": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
    } | result
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{clips} clips, {result['users']} users, {result['duration_s']} s, "
          f"think {ns.think_ms:.0f} ms")  # fmt: skip
    head = ["requests", "errors", "429", "req/s", "p50 ms", "p99 ms"]
    print(f"{'route':<24}" + "".join(f"{h:>9}" for h in head))
    rows = list(result["routes"].items()) + [("overall", result)]
    for label, r in rows:
        print(f"{label:<24}{r['requests']:>9}{r['errors']:>9}{r['rate_limited']:>9}"
              f"{r['req_per_s']:>9}{r['p50_ms']:>9}{r['p99_ms']:>9}")  # fmt: skip
    for sample in result["error_samples"][:5]:
        print("error:", sample)
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
