"""Load test: the real server on 127.0.0.1, many simulated users at once, over one or
several worker processes and over embedded stores or PostgreSQL + Redis.

Each server is `steerfeed serve --workers N --no-jobs` (with N = 1, one process; above
that, N uvicorn worker processes on one port, as `steerfeed serve --workers N` runs in
production) over a temp home whose catalog is the demo spec, text only (no video
rendering), built first by a separate process with the same settings. `--backend
embedded` keeps everything in the home (SQLite, FAISS, Parquet, in-memory rate limits);
`--backend servers` starts a private PostgreSQL (catalog, user state, jobs) and a Redis
(rate limits) on 127.0.0.1 in temp dirs (`tests/servers.py`), while the FAISS folder
and the event log stay in the home. Every server binds 127.0.0.1 and is stopped when
its run ends, on an error or Ctrl-C too.

The parent signs up `--users` users, then each one, for `--warmup` seconds unmeasured
and then `--duration` seconds measured, loops over: GET /v1/feed (following
`next_cursor`, starting over now and then), POST /v1/events for clips on its last page,
POST /v1/steer (English and Japanese) and, now and then, DELETE /v1/steer/{id}. Any
status but the expected one is an error, except 429 from the steering rate limiter,
counted apart. Prints requests, errors, throughput and p50/p99 latency per route and
overall; writes JSON. `--matrix` runs the same load (users, seed, duration) against
{1, 2} workers x {embedded, servers} and prints one table; `--rounds R` runs every
set-up R times, interleaved, since busy neighbours move these numbers by a lot.

The load generator is this process, on the same cores as the servers: every result
records the cores it, the server processes, the database servers and everything else
("others") kept busy during the measured window.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/load_bench.py [--users 50] [--duration 60]
[--warmup 0] [--workers 1] [--backend embedded] [--matrix [--rounds 1]]
[--out bench/out/load.json]`.
The instruction reader is trained once and cached in $STEERFEED_MODEL_CACHE (default
bench/out/models).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))  # tests.servers, and this checkout's packages

from core_bench import machine_busy_s, own_cpu_s  # noqa: E402

if TYPE_CHECKING:
    from tests.servers import PostgresServer, RedisServer

    Databases = tuple[PostgresServer, RedisServer]

HOST = "127.0.0.1"
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
BACKENDS = ("embedded", "servers")
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1


# -- the servers ------------------------------------------------------------------------


def prepare(home: Path) -> None:
    """Child process: ingest the demo spec, text only, into the stores the STEERFEED_*
    environment names (the settings the servers will run with)."""
    from feed.bootstrap import open_engine
    from feed.core.manifest import parse_entry
    from feed.services.demo import read_demo_spec
    from feed.settings import Settings

    engine = open_engine(Settings.from_env(home=home))
    try:
        entries = [
            parse_entry(dict(s.raw), i, None, 2000) for i, s in enumerate(read_demo_spec(), 1)
        ]
        report = engine.ingest(entries)
        assert not report.errors, report.errors[:3]
    finally:
        engine.close()  # saves the indexes, so the servers load them instead of rebuilding


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody is listening on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_env(home: Path, urls: dict[str, str]) -> dict[str, str]:
    """The environment of a server over `home` and the store URLs given (by setting name).

    Other STEERFEED_* settings apply, as they do for `steerfeed serve`, except store URLs:
    a bench never opens a store it did not start."""
    cache = os.environ.get("STEERFEED_MODEL_CACHE") or str(ROOT / "bench" / "out" / "models")
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("STEERFEED_") and k.endswith("_URL"))}  # fmt: skip
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env |= {
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(path),
        "STEERFEED_HOME": str(home),
        "STEERFEED_MODEL_CACHE": cache,
        "STEERFEED_CLIP_PRETRAINED": "off",  # the demo spec is text only
    }
    return env | {f"STEERFEED_{name.upper()}_URL": url for name, url in urls.items()}


def die_with_parent() -> None:
    """preexec_fn: the kernel sends the child SIGTERM if this process dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Server:
    """A running server (one process, or a supervisor and its workers) on one port."""

    base_url: str
    pid: int
    clips: int
    workers: int


@contextlib.contextmanager
def serving(
    workers: int, urls: dict[str, str], *, home: Path | None = None, build: bool = True
) -> Iterator[Server]:
    """`steerfeed serve --workers N --no-jobs` on a free port of 127.0.0.1 over `home`
    (a temp dir, removed afterwards, when None), its catalog built first unless `build`
    is False; yields it once it answers and has finished loading, and stops it (with
    every worker) on exit."""
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="steerfeed-load-")) if home is None else home
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(home, urls)
    try:
        if build:
            subprocess.run([sys.executable, __file__, "--prepare", str(home)], env=env,
                           check=True)  # fmt: skip
        port = free_port()
        command = [sys.executable, "-m", "feed.cli", "serve", "--workers", str(workers),
                   "--no-jobs", "--host", HOST, "--port", str(port)]  # fmt: skip
        # A session of its own: Ctrl-C reaches only this process, which stops the server
        # and its workers as one group.
        proc = subprocess.Popen(command, env=env, cwd=home, start_new_session=True,
                                preexec_fn=die_with_parent)  # fmt: skip
        try:
            base_url = f"http://{HOST}:{port}"
            clips = wait_ready(base_url, proc)
            wait_quiet(proc.pid)  # every worker has loaded, not only the first to answer
            yield Server(base_url, proc.pid, clips, workers)
        finally:
            stop_group(proc)
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM a server (a supervisor stops its workers), then SIGKILL whatever of its
    process group is left after the timeout."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and group_alive(proc):
        time.sleep(0.1)
    if group_alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def group_alive(proc: subprocess.Popen) -> bool:
    """Whether any process of `proc`'s group still runs (the leader reaped or not)."""
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return any(state != "Z" for state in group_states(proc.pid))


def group_states(pgid: int) -> list[str]:
    """The states of the processes in group `pgid` (from /proc)."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                states.append(fields[0])
    return states


def wait_ready(base_url: str, proc: subprocess.Popen, timeout_s: float = START_TIMEOUT_S) -> int:
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


def wait_quiet(pid: int, below_cores: float = 0.2, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until `pid` and its descendants use under `below_cores` over one second."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = tree_cpu_s({pid})
        time.sleep(1.0)
        if tree_cpu_s({pid}) - before < below_cores:
            return
    raise SystemExit(f"server still busy loading after {timeout_s:.0f} s")


@contextlib.contextmanager
def database_servers() -> Iterator[Databases]:
    """A private PostgreSQL and Redis on 127.0.0.1 (tests/servers.py), stopped on exit."""
    from tests.servers import start_postgres, start_redis

    with (
        contextlib.contextmanager(start_postgres)() as pg,
        contextlib.contextmanager(start_redis)() as redis,
    ):
        yield pg, redis


def store_urls(backend: str, databases: Databases | None, redis_db: int = 0) -> dict[str, str]:
    """STEERFEED_*_URL values (by name) for a backend: none for embedded; a fresh
    PostgreSQL database for catalog, state and jobs and a Redis database for limits."""
    if backend == "embedded":
        return {}
    assert databases is not None
    pg, redis = databases
    db = pg.create_database()
    return {"catalog": db, "state": db, "jobs": db, "cache": redis.url(redis_db)}


# -- CPU shares -------------------------------------------------------------------------


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and its reaped children) from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            # after the name: state, ppid, ..., utime (12th), stime, cutime, cstime
            cpu = sum(int(f) for f in fields[11:15]) / tick
            table[int(stat.parent.name)] = (int(fields[1]), cpu)
    return table


def descendants(roots: set[int], table: dict[int, tuple[int, float]]) -> set[int]:
    """`roots` and every process below them."""
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def tree_cpu_s(roots: set[int]) -> float:
    """CPU seconds `roots` and their descendants have used (reaped ones included)."""
    table = process_table()
    return sum(table[pid][1] for pid in descendants(roots, table) if pid in table)


def rss_mb(roots: set[int]) -> list[float]:
    """Resident memory (MB) of each process of `roots` and their descendants, largest
    first."""
    sizes = []
    for pid in descendants(roots, process_table()):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sorted(sizes, reverse=True)


@dataclass(frozen=True)
class CpuSample:
    """Busy CPU seconds so far: the machine, this process (the load generator), the
    server's processes, and this process's other children (database servers)."""

    wall_s: float
    machine_s: float
    client_s: float
    server_s: float
    databases_s: float

    @classmethod
    def take(cls, server_pids: set[int]) -> CpuSample:
        """Now, with the servers rooted at `server_pids`."""
        table = process_table()
        server = descendants(server_pids, table)
        children = descendants({os.getpid()}, table) - server - {os.getpid()}
        return cls(time.perf_counter(), machine_busy_s(), own_cpu_s(),
                   sum(table[p][1] for p in server if p in table),
                   sum(table[p][1] for p in children if p in table))  # fmt: skip


def cores_between(a: CpuSample, b: CpuSample) -> dict[str, float]:
    """Cores each kept busy between two samples; "others" is every other process."""
    wall = b.wall_s - a.wall_s
    client, server = b.client_s - a.client_s, b.server_s - a.server_s
    databases = b.databases_s - a.databases_s
    others = max(0.0, (b.machine_s - a.machine_s) - client - server - databases)
    return {name: round(value / wall, 2) for name, value in (
        ("client", client), ("server", server), ("databases", databases), ("others", others),
        ("machine", b.machine_s - a.machine_s))}  # fmt: skip


# -- the load ---------------------------------------------------------------------------


class Connection:
    """One user's keep-alive HTTP/1.1 connection, as cheap on the client as asyncio allows.

    An httpx AsyncClient shared by 50 users cost its process about 15 ms of CPU a
    request in one run here (0.6 of a core at 40 req/s), so the load generator took
    much of a core from the server it loads; this costs about 0.8 ms.
    Responses must carry Content-Length (every route here does) or be chunked.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, target: str, body: object = None,
                      token: str | None = None) -> tuple[int, bytes]:  # fmt: skip
        """Send one request; (status, body). A failed exchange closes the connection
        (the next request opens a new one) and raises."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(payload)}"]  # fmt: skip
        if body is not None:
            head.append("Content-Type: application/json")
        if token is not None:
            head.append(f"Authorization: Bearer {token}")
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = dict(
                (k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:])
            )
            if headers.get("transfer-encoding", "").lower() == "chunked":
                data = await self._read_chunks(reader)
            else:
                data = await reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, data
        except BaseException:
            self.close()
            raise

    @staticmethod
    async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return b"".join(parts)

    def close(self) -> None:
        """Drop the connection, if open."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


@dataclass
class Tally:
    """Latencies (ms) by route, and error / rate-limited counts, of measured requests."""

    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    limited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)


async def user_loop(conn: Connection, token: str, measure_from: float, deadline: float,
                    think_s: float, rng: random.Random, tally: Tally) -> None:  # fmt: skip
    """One simulated user until `deadline` (monotonic seconds); requests sent before
    `measure_from` (the warm-up) are not counted."""
    cursor: str | None = None
    page: dict = {}
    steering: list[str] = []
    while time.monotonic() < deadline:
        roll = rng.random()
        body: object = None
        if roll < 0.5 or not page.get("items"):
            kind = "feed"
            if rng.random() < 0.15 or (page and not page["items"]):  # start over at the end
                cursor = None
            params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
            method, target = "GET", f"/v1/feed?{urlencode(params)}"
        elif roll < 0.8:
            kind = "events"
            clips = [i["clip_id"] for i in page["items"]][:5]
            events = [
                {"clip_id": c, "type": rng.choice(EVENT_TYPES), "watch_ms": rng.randint(0, 15000)}
                for c in clips
            ]
            method, target = "POST", "/v1/events"
            body = {"events": events, "session_id": page["session_id"]}
        elif roll < 0.95 or not steering:
            kind = "steer"
            method, target, body = "POST", "/v1/steer", {"text": rng.choice(STEER_TEXTS)}
        else:
            kind = "unsteer"
            sid = steering.pop(rng.randrange(len(steering)))
            method, target = "DELETE", f"/v1/steer/{sid}"
        measured = time.monotonic() >= measure_from
        t0 = time.perf_counter()
        try:
            status, data = await conn.request(method, target, body, token)
        except Exception as exc:  # a refused or dropped connection is an error, not a crash
            if measured:
                tally.errors[kind] += 1
                tally.latency_ms[kind].append((time.perf_counter() - t0) * 1000)
                if len(tally.error_samples) < 20:
                    tally.error_samples.append(f"{ROUTES[kind]}: {type(exc).__name__}: {exc}")
            continue
        if measured:
            tally.latency_ms[kind].append((time.perf_counter() - t0) * 1000)
        if status == EXPECTED[kind]:
            if kind == "feed":
                page = json.loads(data)
                cursor = page["next_cursor"]
            elif kind == "steer":
                steering.extend(a["id"] for a in json.loads(data)["applied"])
        elif status == 429 and kind == "steer":
            if measured:
                tally.limited[kind] += 1
        elif measured:
            tally.errors[kind] += 1
            if len(tally.error_samples) < 20:
                text = data[:200].decode(errors="replace")
                tally.error_samples.append(f"{ROUTES[kind]}: {status} {text}")
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


@dataclass(frozen=True)
class Load:
    """What every run drives: the same users, pauses, seed and times."""

    users: int
    duration_s: float
    warmup_s: float
    think_s: float
    seed: int


async def run_load(server: Server, load: Load) -> dict:
    """Sign up the users, run them all (warm-up, then the measured window), summarise."""
    port = int(server.base_url.rsplit(":", 1)[1])
    conns = [Connection(HOST, port) for _ in range(load.users)]
    tokens = []
    for i, conn in enumerate(conns):
        status, data = await conn.request("POST", "/v1/users", {"handle": f"load{load.seed}_{i}"})
        if status != 201:
            raise SystemExit(f"sign-up answered {status}: {data[:200]!r}")
        tokens.append(json.loads(data)["token"])
    tally = Tally()
    start = time.monotonic()
    measure_from = start + load.warmup_s
    deadline = measure_from + load.duration_s
    samples: list[CpuSample] = []

    async def sample_cpu_at_start() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        samples.append(CpuSample.take({server.pid}))

    rngs = [random.Random(load.seed * 1000 + i) for i in range(load.users)]
    users = [
        user_loop(conn, token, measure_from, deadline, load.think_s, rng, tally)
        for conn, token, rng in zip(conns, tokens, rngs, strict=True)
    ]
    await asyncio.gather(sample_cpu_at_start(), *users)
    samples.append(CpuSample.take({server.pid}))
    elapsed = time.monotonic() - measure_from
    server_rss_mb = rss_mb({server.pid})
    cores = cores_between(samples[0], samples[-1])
    for conn in conns:
        conn.close()
    routes = {}
    for kind, label in ROUTES.items():
        lat = tally.latency_ms.get(kind, [])
        routes[label] = {"requests": len(lat), "errors": tally.errors.get(kind, 0),
                         "rate_limited": tally.limited.get(kind, 0),
                         "req_per_s": round(len(lat) / elapsed, 1)} | percentiles(lat)  # fmt: skip
    every = [x for lat in tally.latency_ms.values() for x in lat]
    return {
        "workers": server.workers,
        "clips": server.clips,
        "users": load.users,
        "duration_s": round(elapsed, 1),
        "warmup_s": load.warmup_s,
        "think_ms": load.think_s * 1000,
        "seed": load.seed,
        "requests": len(every),
        "errors": sum(tally.errors.values()),
        "rate_limited": sum(tally.limited.values()),
        "req_per_s": round(len(every) / elapsed, 1),
        **percentiles(every),
        "cores": cores,
        # CPU the servers spent per request: less sensitive to busy neighbours than rates
        "server_cpu_ms_per_request": round(cores["server"] * elapsed * 1000 / len(every), 2),
        "server_rss_mb": server_rss_mb,
        "routes": routes,
        "error_samples": tally.error_samples,
    }


def run_cell(workers: int, backend: str, load: Load, databases: Databases | None,
             redis_db: int = 0) -> dict:  # fmt: skip
    """Serve with `workers` processes over `backend`, run the load, stop the server."""
    urls = store_urls(backend, databases, redis_db)
    with serving(workers, urls) as server:
        result = asyncio.run(run_load(server, load))
    return {"backend": backend} | result


# -- printing ---------------------------------------------------------------------------


def print_routes(results: list[dict]) -> None:
    """One table: every run's routes and overall line."""
    head = ["requests", "errors", "429", "req/s", "p50 ms", "p99 ms"]
    print(f"{'run':<14}{'route':<24}" + "".join(f"{h:>9}" for h in head))
    for res in results:
        run = f"{res['workers']} x {res['backend']}"
        for label, r in [*res["routes"].items(), ("overall", res)]:
            print(f"{run:<14}{label:<24}{r['requests']:>9}{r['errors']:>9}"
                  f"{r['rate_limited']:>9}{r['req_per_s']:>9}{r['p50_ms']:>9}"
                  f"{r['p99_ms']:>9}")  # fmt: skip
    print(f"cores busy in the measured window (of {os.cpu_count()}), and the servers' CPU"
          " per request:")  # fmt: skip
    print(f"{'run':<14}" + "".join(f"{k:>11}" for k in results[0]["cores"]) + "  ms/request")
    for res in results:
        run = f"{res['workers']} x {res['backend']}"
        print(f"{run:<14}" + "".join(f"{v:>11}" for v in res["cores"].values())
              + f"{res['server_cpu_ms_per_request']:>12}")  # fmt: skip
    for res in results:
        print(f"{res['workers']} x {res['backend']}: server processes' RSS (MB)",
              res["server_rss_mb"])  # fmt: skip
    for res in results:
        for sample in res["error_samples"][:5]:
            print(f"error ({res['workers']} x {res['backend']}):", sample)


def main(argv: list[str] | None = None) -> int:
    """Start the server(s), run the load, print and write the summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds of load before measuring")
    p.add_argument("--think-ms", type=float, default=50.0, help="mean pause between requests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--backend", choices=BACKENDS, default="embedded",
                   help="embedded stores, or PostgreSQL + Redis started here")  # fmt: skip
    p.add_argument("--matrix", action="store_true",
                   help="run 1 and 2 workers over each backend with the same load")  # fmt: skip
    p.add_argument("--rounds", type=int, default=1,
                   help="run every server set-up this many times, interleaved")  # fmt: skip
    p.add_argument("--out", type=Path, help="JSON path (default bench/out/load.json, "
                   "load-matrix.json with --matrix)")  # fmt: skip
    p.add_argument("--prepare", type=Path, metavar="HOME", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.prepare:
        prepare(ns.prepare)
        return 0
    # SIGTERM stops the servers as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = Load(ns.users, ns.duration, ns.warmup, ns.think_ms / 1000, ns.seed)
    setups = ([(w, b) for b in BACKENDS for w in (1, 2)] if ns.matrix
              else [(ns.workers, ns.backend)])  # fmt: skip
    cells = setups * ns.rounds
    results = []
    with contextlib.ExitStack() as stack:
        databases = None
        if any(b == "servers" for _, b in cells):
            databases = stack.enter_context(database_servers())
        for n, (workers, backend) in enumerate(cells):
            results.append(run_cell(workers, backend, load, databases, redis_db=n))
            r = results[-1]
            print(f"{workers} x {backend}: {r['req_per_s']} req/s, p50 {r['p50_ms']} ms,"
                  f" p99 {r['p99_ms']} ms, {r['errors']} errors; cores {r['cores']}",
                  flush=True)  # fmt: skip
    default_out = "load-matrix.json" if ns.matrix else "load.json"
    out = ns.out or Path(__file__).parent / "out" / default_out
    summary = {"cpu_count": os.cpu_count(), "load": asdict(load), "runs": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{results[0]['clips']} clips, {load.users} users, {load.duration_s:.0f} s measured"
          f" after {load.warmup_s:.0f} s warm-up, think {ns.think_ms:.0f} ms")  # fmt: skip
    print_routes(results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
