"""Two server processes over one PostgreSQL (catalog, user state, jobs) and one Redis
(rate limits) behave as one service: steering, sessions, rate budgets, uploads and
consent changes made through one are in force on the next request to the other, and a
SIGKILL of one loses no write it acknowledged."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import HASH_ENCODER

from feed.storage.stores import open_store

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ANIMALS = ("cat", "dog", "heron")

SERVER = (
    HASH_ENCODER
    + """
import json
import os
import sys
from pathlib import Path

from feed.http.app import create_app
from feed.http.serving import serve_app
from feed.services.clips import ClipStore
from feed.settings import Settings
from feed.storage.stores import open_store

home, port, pg, redis_url = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
limits = json.loads(sys.argv[5])
engine = ClipStore(home, HashEncoder(), None, catalog=open_store("catalog", pg),
                   indexes=open_store("vectors", f"faiss://{home / 'indexes'}"))
settings = Settings(home=home, host="127.0.0.1", port=port, run_jobs_in_background=False,
                    catalog_url=pg, state_url=pg, jobs_url=pg, cache_url=redis_url,
                    model_cache=Path(os.environ["STEERFEED_MODEL_CACHE"]), **limits)
serve_app(create_app(settings, engine), "127.0.0.1", port)
"""
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start(
    script: Path, home: Path, pg: str, redis_url: str, limits: dict
) -> tuple[subprocess.Popen, str]:
    """One replica, once its /healthz answers (deadline 90 s)."""
    port = free_port()
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
           "STEERFEED_MODEL_CACHE": os.environ["STEERFEED_MODEL_CACHE"],
           "STEERFEED_CLIP_PRETRAINED": "off"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(script), str(home), str(port), pg, redis_url,
                             json.dumps(limits)], cwd=ROOT, env=env)  # fmt: skip
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "replica exited on its own"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200:
                return proc, base
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("replica did not come up")


@contextlib.contextmanager
def replicas(tmp_path: Path, pg: str, redis_url: str, limits: dict) -> Iterator[list]:
    """Two replicas (processes, base URLs), each with its own home, stopped afterwards."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(SERVER))
    started: list[tuple[subprocess.Popen, str]] = []
    try:
        for name in ("a", "b"):
            started.append(start(script, tmp_path / name, pg, redis_url, limits))
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def until(condition, deadline_s: float = 20.0) -> bool:
    """Poll `condition` until it holds or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def sign_up(client: httpx.Client, handle: str) -> dict[str, str]:
    body = client.post("/v1/users", json={"handle": handle}).json()
    return {"Authorization": f"Bearer {body['token']}"}


@pytest.mark.slow
def test_two_replicas_behave_as_one_service(tmp_path, reader, postgres_url, redis_url):
    limits = {
        "steer_per_minute": 1,
        "steer_burst": 4,
        "upload_per_minute": 6000,
        "upload_burst": 1000,
    }
    with replicas(tmp_path, postgres_url, redis_url, limits) as [(_, url_a), (_, url_b)]:
        a = httpx.Client(base_url=url_a, timeout=30, trust_env=False)
        b = httpx.Client(base_url=url_b, timeout=30, trust_env=False)
        with a, b:
            maker, vee = sign_up(a, "maker"), sign_up(b, "vee")
            for i in range(12):
                r = a.post(
                    "/v1/clips",
                    headers=maker,
                    data={
                        "prompt": f"a {ANIMALS[i % 3]} in the rain, take {i}",
                        "clip_id": f"maker-s{i}",
                    },
                )
                assert r.status_code == 201, r.text
            # an upload on A is searchable on B
            assert until(lambda: [h["clip_id"] for h in b.get(
                "/v1/search", params={"q": "a dog in the rain, take 7", "limit": 1}
            ).json()["items"]] == ["maker-s7"])  # fmt: skip
            # a steer on A is obeyed by the next page from B
            steered = a.post("/v1/steer", json={"text": "more cats"}, headers=vee)
            assert steered.status_code == 200, steered.text
            applied = [s["phrase"] for s in steered.json()["applied"]]
            page = b.get("/v1/feed", params={"limit": 4}, headers=vee).json()
            assert [s["phrase"] for s in page["steering"]] == applied
            # a session's pages alternating A and B never repeat a clip
            shown = [i["clip_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            for client in (a, b, a):
                page = client.get("/v1/feed", params={"limit": 3, "cursor": cursor},
                                  headers=vee).json()  # fmt: skip
                shown += [i["clip_id"] for i in page["items"]]
                cursor = page["next_cursor"]
            assert len(shown) == len(set(shown)) and len(shown) >= 8
            # one steering budget of four across both: one is spent already
            codes = [c.post("/v1/steer", json={"text": "more dogs"}, headers=vee).status_code
                     for c in (b, a, b, a)]  # fmt: skip
            assert codes == [200, 200, 200, 429]
            # a revocation on A hides the clip on B at once
            ann = sign_up(a, "ann")
            assert a.post("/v1/cameos", json={"handle": "ann", "policy": "everyone"},
                          headers=ann).status_code == 201  # fmt: skip
            r = a.post(
                "/v1/clips",
                headers=maker,
                data={"prompt": "ann on a swing", "clip_id": "maker-ann", "cameos": "ann"},
            )
            assert r.status_code == 201, r.text
            assert b.get("/v1/clips/maker-ann", headers=vee).status_code == 200
            revoked = a.put("/v1/cameos/ann", json={"policy": "only_me"}, headers=ann)
            assert revoked.status_code == 200
            assert b.get("/v1/clips/maker-ann", headers=vee).status_code == 404
            hits = b.get("/v1/search", params={"q": "ann on a swing"}, headers=vee).json()
            assert "maker-ann" not in [h["clip_id"] for h in hits["items"]]


@pytest.mark.slow
def test_a_killed_replica_loses_no_acknowledged_write(tmp_path, reader, postgres_url, redis_url):
    limits = {"steer_per_minute": 60000, "steer_burst": 1000, "event_per_minute": 60000,
              "event_burst": 1000, "upload_per_minute": 6000, "upload_burst": 1000}  # fmt: skip
    acked_steers: list[str] = []
    acked_likes: list[tuple[str, str]] = []  # (user id, clip id)
    lock = threading.Lock()
    stop = threading.Event()
    with replicas(tmp_path, postgres_url, redis_url, limits) as [(proc_a, url_a), (_, url_b)]:
        with httpx.Client(base_url=url_b, timeout=30, trust_env=False) as b:
            maker = sign_up(b, "maker")
            for i in range(10):
                b.post("/v1/clips", headers=maker, data={"prompt": f"clip {i}",
                                                         "clip_id": f"maker-k{i}"})  # fmt: skip
            users = []
            for i in range(3):
                body = b.post("/v1/users", json={"handle": f"writer{i}"}).json()
                users.append((body["user_id"], {"Authorization": f"Bearer {body['token']}"}))

        def writer(user_id: str, headers: dict[str, str]) -> None:
            with httpx.Client(base_url=url_a, timeout=10, trust_env=False) as a:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    with contextlib.suppress(httpx.HTTPError):
                        r = a.post("/v1/steer", headers=headers,
                                   json={"text": f"more topic {i}"})  # fmt: skip
                        if r.status_code == 200:
                            with lock:
                                acked_steers.extend(s["id"] for s in r.json()["applied"])
                        clip = f"maker-k{i % 10}"
                        r = a.post(
                            "/v1/events",
                            headers=headers,
                            json={
                                "events": [{"clip_id": clip, "type": "like", "watch_ms": 1000}],
                            },
                        )
                        if r.status_code == 200:
                            with lock:
                                acked_likes.append((user_id, clip))

        threads = [threading.Thread(target=writer, args=u) for u in users]
        for t in threads:
            t.start()
        assert until(lambda: len(acked_steers) >= 20 and len(acked_likes) >= 20, 60)
        proc_a.kill()  # SIGKILL mid-burst
        proc_a.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        state = open_store("users", postgres_url)
        try:
            with lock:
                steers, likes = list(acked_steers), list(acked_likes)
            assert all(state.get_steering(s) is not None for s in steers)
            for user_id in {u for u, _ in likes}:
                liked = set(state.liked(user_id, limit=1000))
                assert {c for u, c in likes if u == user_id} <= liked
        finally:
            state.close()
