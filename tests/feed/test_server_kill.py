"""SIGKILL of the live server under concurrent uploads, events, steering and pages.

Every write the server acknowledged (201 upload, 200 events, 200 steering) must
be there after the kill, the index must match the catalog, and the server must
come back up on the same home and serve the same users with the same tokens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support import HASH_ENCODER, assert_catalog_and_index_agree

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

SERVER = (
    HASH_ENCODER
    + """
import os
import sys
from pathlib import Path

from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.http.serving import serve_app
from feed.settings import Settings

home, port = Path(sys.argv[1]), int(sys.argv[2])
engine = ClipStore(home, HashEncoder(), None)
settings = Settings(home=home, host="127.0.0.1", port=port, admin_token="admin",
                    run_jobs_in_background=False, steer_per_minute=6000, steer_burst=1000,
                    upload_per_minute=6000, upload_burst=1000, event_per_minute=60000,
                    event_burst=1000, model_cache=Path(os.environ["STEERFEED_MODEL_CACHE"]))
serve_app(create_app(settings, engine), "127.0.0.1", port)
"""
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(home: Path, script: Path) -> tuple[subprocess.Popen, str]:
    MODELS = os.environ["STEERFEED_MODEL_CACHE"]  # noqa: N806 - the trained reader, shared
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(home), str(port)], cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                 "HF_HUB_OFFLINE": "1",
                                 "STEERFEED_MODEL_CACHE": MODELS})  # fmt: skip
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited on its own"
        try:
            if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not come up")


@pytest.mark.slow
def test_kill_9_of_the_live_server_loses_nothing_acknowledged(tmp_path, reader):
    # `reader`: the instruction reader is trained before the server starts, which loads it.
    home = tmp_path / "home"
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(SERVER))
    proc, base = start_server(home, script)
    uploaded: list[str] = []  # acknowledged clip ids
    events: list[tuple[str, str, str]] = []  # acknowledged (user id, clip id, type)
    steering: list[str] = []  # acknowledged steering ids
    lock = threading.Lock()
    stop = threading.Event()
    try:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
            users = []
            for i in range(3):
                body = client.post("/v1/users", json={"handle": f"survivor{i}"}).json()
                users.append((body["user_id"], {"Authorization": f"Bearer {body['token']}"}))
            for i in range(20):
                form = {"prompt": f"seed clip {i}", "clip_id": f"survivor{i % 3}-seed{i}"}
                r = client.post("/v1/clips", headers=users[i % 3][1], data=form)
                assert r.status_code == 201, r.text
                uploaded.append(form["clip_id"])

        def uploader() -> None:
            with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    form = {"prompt": f"clip under fire {i}", "clip_id": f"survivor{i % 3}-live{i}"}
                    r = c.post("/v1/clips", headers=users[i % 3][1], data=form)
                    if r.status_code == 201:
                        with lock:
                            uploaded.append(form["clip_id"])

        def watcher(user_id: str, headers: dict) -> None:
            with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
                while not stop.is_set():
                    page = c.get("/v1/feed", params={"limit": 5}, headers=headers).json()
                    batch = [(item["clip_id"], kind) for item in page["items"]
                             for kind in ("view", "like")]  # fmt: skip
                    if not batch:
                        continue
                    r = c.post("/v1/events", headers=headers, json={
                        "session_id": page["session_id"],
                        "events": [{"clip_id": cid, "type": kind, "watch_ms": 3000}
                                   for cid, kind in batch]})  # fmt: skip
                    if r.status_code == 200:
                        with lock:
                            events.extend((user_id, cid, kind) for cid, kind in batch)

        def steerer() -> None:
            with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    r = c.post("/v1/steer", headers=users[i % 3][1],
                               json={"text": f"more clips about {_made_up_word(i)}"})  # fmt: skip
                    if r.status_code == 200:
                        with lock:
                            steering.extend(a["id"] for a in r.json()["applied"])

        def guarded(work, *args):
            def run() -> None:
                with contextlib.suppress(httpx.HTTPError):  # the kill cuts requests off
                    work(*args)

            return threading.Thread(target=run, daemon=True)

        threads = [guarded(uploader), guarded(steerer)]
        threads += [guarded(watcher, uid, headers) for uid, headers in users]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(uploaded) < 40 or len(events) < 40 or len(steering) < 10:
            assert time.monotonic() < deadline, "the load made no progress"
            assert all(t.is_alive() for t in threads), "a client stopped before the kill"
            time.sleep(0.05)
        seed = int(time.time())
        print(f"kill delay seed {seed}")  # shown on failure, to replay the timing
        time.sleep(np.random.default_rng(seed).random() * 0.5)  # somewhere mid-request
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()

    namespace: dict = {}
    exec(HASH_ENCODER, namespace)
    from feed.services.clips import ClipStore
    from feed.storage.events import EventLog
    from feed.storage.state import StateStore

    engine = ClipStore(home, namespace["HashEncoder"](), None)
    try:
        assert set(uploaded) <= set(engine.catalog.ids())
        assert_catalog_and_index_agree(engine)
        clips = engine.catalog.count()
    finally:
        engine.catalog.close()
    logged = EventLog(home / "events").scan().collect()
    on_disk = set(zip(logged["user_id"], logged["clip_id"], logged["type"], strict=True))
    assert set(events) <= on_disk
    state = StateStore(home / "state.sqlite")
    try:
        assert all(state.get_steering(sid) is not None for sid in steering)
        for user_id, _ in users:
            liked = {cid for uid, cid, kind in events if uid == user_id and kind == "like"}
            assert liked <= state.watched(user_id)
    finally:
        state.close()

    proc, base = start_server(home, script)
    try:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
            assert client.get("/healthz").json()["clips"] == clips
            for _, headers in users:
                assert client.get("/v1/feed", headers=headers).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _made_up_word(i: int) -> str:
    """A distinct word for each i ("zobaa", "zobab", …): a new phrase each steer, named
    the way a concept is (a bare number is not one)."""
    letters = ""
    i += 26 * 26
    while i:
        i, rest = divmod(i, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[rest] + letters
    return "zo" + letters
