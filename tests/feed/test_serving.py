"""Connection deadlines of the served app: slow or silent clients are cut off, kept-alive
connections between requests are not."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from feed.serving import HeaderDeadlineProtocol

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


def test_a_silent_connection_is_closed_after_the_deadline(server):
    with connect(server) as sock:
        start = time.monotonic()
        assert closed_by_server(sock)
        assert DEADLINE_S * 0.8 <= time.monotonic() - start < DEADLINE_S + 3


def test_headers_trickling_in_are_cut_off(server):
    with connect(server) as sock:
        start = time.monotonic()
        for byte in REQUEST[:-2]:  # never finishes the headers
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if time.monotonic() - start > DEADLINE_S * 3:
                break
            time.sleep(0.05)
        assert closed_by_server(sock)
        assert time.monotonic() - start < DEADLINE_S * 3 + 3


def test_a_kept_alive_connection_may_idle_past_the_deadline_between_requests(server):
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert b"200 OK" in sock.recv(4096)
        time.sleep(DEADLINE_S * 2)  # idle, but not mid-request
        sock.sendall(REQUEST)
        assert b"200 OK" in sock.recv(4096)
