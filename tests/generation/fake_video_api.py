"""A fake asynchronous video-generation API on 127.0.0.1 that can be told to misbehave.

It speaks the protocol `generation.remote` expects (under a `/v1` prefix, like a real one):

- `POST /v1/videos` creates a job, deduplicated by `Idempotency-Key` (the same key with a
  different body is a 409, as real services do);
- `GET /v1/videos/{id}` walks the job through `plan`, one step per poll, then holds the
  last step (so a plan ending in "in_progress" is a stuck job);
- `GET /v1/videos/{id}/content` serves `video` once completed, 410 once expired.

Faults are queued per route ("create", "get", "content") and consumed one per request;
`always` makes one permanent. The server runs in a daemon thread and shuts itself down
after `lifetime_s` even if a test forgets to stop it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import socketserver
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

ROUTES = ("create", "get", "content")
DEFAULT_PLAN: tuple[tuple[str, int], ...] = (
    ("queued", 0),
    ("in_progress", 30),
    ("in_progress", 80),
    ("completed", 100),
)
SIZE = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")
MAX_SECONDS = 20


@dataclass(frozen=True)
class Fault:
    """One misbehaviour: answer `status` (with headers and body), and/or wait, or truncate."""

    status: int | None = None  # None: answer normally (after any delay)
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected fault"
    delay_s: float = 0.0  # sleep before answering (to trip the client's timeout)
    truncate: bool = False  # content only: announce the full length, send half, hang up


@dataclass
class FakeJob:
    """A job as the fake service stores it."""

    id: str
    body: dict[str, Any]
    idempotency_key: str
    plan: tuple[tuple[str, int], ...]
    error_message: str
    ttl_s: float
    polls: int = 0
    expired: bool = False
    completed_at: float | None = None

    def view(self) -> dict[str, Any]:
        status, progress = self.plan[min(self.polls, len(self.plan) - 1)]
        if status == "completed" and self.completed_at is None:
            self.completed_at = time.time()
        return {
            "id": self.id,
            "object": "video",
            "status": status,
            "progress": progress,
            "error": {"message": self.error_message} if status == "failed" else None,
            "expires_at": (
                None if self.completed_at is None else int(self.completed_at + self.ttl_s)
            ),
            "prompt": self.body["prompt"],
            "size": self.body["size"],
            "seconds": self.body["seconds"],
            "remixed_from_video_id": self.body.get("remix_of"),
        }


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    route: str | None
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


class FakeVideoAPI:
    """The fake service: state, faults, and the HTTP server thread that serves them."""

    def __init__(
        self,
        video: bytes,
        *,
        api_key: str = "sk-test-fake-key-0123456789",
        prefix: str = "/v1",
        lifetime_s: float = 60.0,
    ) -> None:
        self.video = video
        self.api_key = api_key
        self.prefix = prefix
        self.lifetime_s = lifetime_s
        self.plan: tuple[tuple[str, int], ...] = DEFAULT_PLAN  # for jobs created from now on
        self.error_message = "content policy violation: the prompt was refused"
        self.ttl_s = 3600.0
        self.expired_status = 410
        self.jobs: dict[str, FakeJob] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[Seen] = []
        self._faults: dict[str, deque[Fault]] = {route: deque() for route in ROUTES}
        self._always: dict[str, Fault | None] = dict.fromkeys(ROUTES)
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None

    # -- control from tests --------------------------------------------------------------

    def inject(self, route: str, *faults: Fault) -> None:
        """Queue faults for the next requests on a route, one fault per request."""
        assert route in ROUTES, route
        with self._lock:
            self._faults[route].extend(faults)

    def always(self, route: str, fault: Fault) -> None:
        """Answer every request on a route with this fault."""
        assert route in ROUTES, route
        with self._lock:
            self._always[route] = fault

    def expire(self, job_id: str) -> None:
        """Make a job's video unavailable, as when its retention period has passed."""
        with self._lock:
            self.jobs[job_id].expired = True

    def count(self, route: str) -> int:
        """How many requests reached a route (faulted ones included)."""
        with self._lock:
            return sum(1 for seen in self.requests if seen.route == route)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://{self._httpd.server_name}:{self._httpd.server_port}{self.prefix}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeVideoAPI:
        """Serve on a free port of 127.0.0.1 in a daemon thread."""
        httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        self._watchdog = threading.Timer(self.lifetime_s, httpd.shutdown)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeVideoAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- behaviour (called from handler threads) -----------------------------------------

    def _next_fault(self, route: str) -> Fault | None:
        with self._lock:
            if self._faults[route]:
                return self._faults[route].popleft()
            return self._always[route]

    def _create(self, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        problem = _invalid(body, self.jobs)
        if problem:
            return 422, {"error": {"message": problem, "type": "invalid_request_error"}}
        with self._lock:
            if key in self.by_key:
                job = self.jobs[self.by_key[key]]
                if job.body != body:
                    return 409, {
                        "error": {"message": "Idempotency-Key reused with a different request"}
                    }
                return 200, job.view()
            job = FakeJob(
                id=f"video_{len(self.jobs) + 1:04d}",
                body=body,
                idempotency_key=key,
                plan=self.plan,
                error_message=self.error_message,
                ttl_s=self.ttl_s,
            )
            self.jobs[job.id] = job
            self.by_key[key] = job.id
            return 201, job.view()

    def _poll(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, {"error": {"message": f"no video {job_id}"}}
            job.polls += 1
            return 200, job.view()

    def _content_state(self, job_id: str) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, {"error": {"message": f"no video {job_id}"}}
            if job.expired:
                return self.expired_status, {"error": {"message": "video content has expired"}}
            status = job.plan[min(job.polls, len(job.plan) - 1)][0]
            if status != "completed":
                return 409, {"error": {"message": f"video is {status}, not completed"}}
            return 200, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a delay fault must not block shutdown

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN; on 127.0.0.1 that is only a delay.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-response is part of the tests, not an error


def _invalid(body: dict[str, Any], jobs: dict[str, FakeJob]) -> str | None:
    """Why a create body is invalid, or None."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    if not isinstance(body.get("size"), str) or not SIZE.match(body["size"]):
        return f"size {body.get('size')!r} is not WIDTHxHEIGHT"
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or not 1 <= seconds <= MAX_SECONDS:
        return f"seconds must be between 1 and {MAX_SECONDS}, got {seconds!r}"
    image = body.get("reference_image")
    if image is not None:
        try:
            base64.b64decode(image, validate=True)
        except (binascii.Error, TypeError):
            return "reference_image is not valid base64"
    remix_of = body.get("remix_of")
    if remix_of is not None and remix_of not in jobs:
        return f"remix_of: no video {remix_of}"
    return None


def _handler_for(api: FakeVideoAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so Content-Length framing matters
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

        def handle(self) -> None:
            # The client may give up (its timeout) before a delayed answer is written.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def _serve(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            route, job_id = self._route(method)
            body: dict[str, Any] | None = None
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                body = parsed if isinstance(parsed, dict) else None
            with api._lock:
                api.requests.append(Seen(method, route, self.path, dict(self.headers), body))
            if route is None:
                self._json(404, {"error": {"message": f"no route {method} {self.path}"}})
                return
            if self.headers.get("Authorization") != f"Bearer {api.api_key}":
                self._json(401, {"error": {"message": "Incorrect API key provided"}})
                return
            fault = api._next_fault(route)
            if fault is not None:
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault.status is not None:
                    self._json(fault.status, {"error": {"message": fault.message}}, fault.headers)
                    return
            if route == "create":
                if body is None:
                    self._json(400, {"error": {"message": "body must be a JSON object"}})
                    return
                key = self.headers.get("Idempotency-Key")
                if not key:
                    self._json(400, {"error": {"message": "Idempotency-Key is required"}})
                    return
                self._json(*api._create(body, key))
            elif route == "get":
                assert job_id is not None
                self._json(*api._poll(job_id))
            else:
                assert job_id is not None
                status, error = api._content_state(job_id)
                if error is not None:
                    self._json(status, error)
                else:
                    self._video(truncate=fault is not None and fault.truncate)

        def _route(self, method: str) -> tuple[str | None, str | None]:
            if not self.path.startswith(api.prefix + "/"):
                return None, None
            parts = self.path[len(api.prefix) + 1 :].split("/")
            if method == "POST" and parts == ["videos"]:
                return "create", None
            if method == "GET" and len(parts) == 2 and parts[0] == "videos":
                return "get", unquote(parts[1])
            if method == "GET" and len(parts) == 3 and parts[::2] == ["videos", "content"]:
                return "content", unquote(parts[1])
            return None, None

        def _json(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _video(self, *, truncate: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(api.video)))
            self.end_headers()
            if truncate:
                self.wfile.write(api.video[: len(api.video) // 2])
                self.wfile.flush()
                self.close_connection = True  # hang up mid-body
                return
            self.wfile.write(api.video)

    return Handler
