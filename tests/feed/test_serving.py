"""Connection deadlines of the served app: slow or silent clients are cut off, kept-alive
connections between requests are not."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from feed.http.serving import HeaderDeadlineProtocol

DEADLINE_S = 0.5


class QuickDeadline(HeaderDeadlineProtocol):
    header_timeout_s = DEADLINE_S


@pytest.fixture
def server():
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=QuickDeadline,
                            timeout_keep_alive=30, log_level="warning", lifespan="off")  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


REQUEST = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n"


def response(sock: socket.socket) -> bytes:
    """One whole response to REQUEST (headers and body may arrive apart)."""
    data = b""
    while not data.endswith(b'{"ok":true}'):
        chunk = sock.recv(4096)
        assert chunk, f"closed mid-response after {data!r}"
        data += chunk
    return data


def test_a_silent_connection_is_closed_after_the_deadline(server):
    with connect(server) as sock:
        start = time.monotonic()
        assert closed_by_server(sock)
        assert DEADLINE_S * 0.8 <= time.monotonic() - start < DEADLINE_S + 3


def trickle_until_closed(sock: socket.socket, data: bytes, give_up_s: float) -> float | None:
    """Send one byte every 50 ms; seconds until the server closed, or None if it never did."""
    start = time.monotonic()
    sock.setblocking(False)
    try:
        for byte in data:
            if time.monotonic() - start > give_up_s:
                return None
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1024) == b"":
                    return time.monotonic() - start
            except BlockingIOError:
                pass  # nothing to read: still open
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
            time.sleep(0.05)
    finally:
        sock.setblocking(True)
    return None


SLOW_HEADERS = b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"a" * 400  # never ends


def test_headers_trickling_in_are_cut_off_while_still_trickling(server):
    with connect(server) as sock:
        closed_after = trickle_until_closed(sock, SLOW_HEADERS, give_up_s=10)
    # Cut off by the deadline counted from the connection, not re-armed by each byte.
    assert closed_after is not None and closed_after < DEADLINE_S + 2


def test_a_later_request_trickling_on_a_kept_alive_connection_is_cut_off(server):
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert b"200 OK" in response(sock)
        time.sleep(DEADLINE_S * 2)  # idle between requests is allowed ...
        closed_after = trickle_until_closed(sock, SLOW_HEADERS, give_up_s=10)
    assert closed_after is not None and closed_after < DEADLINE_S + 2  # ... trickling is not


def test_a_kept_alive_connection_may_idle_past_the_deadline_between_requests(server):
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert b"200 OK" in response(sock)
        time.sleep(DEADLINE_S * 2)  # idle, but not mid-request
        sock.sendall(REQUEST)
        assert b"200 OK" in response(sock)
