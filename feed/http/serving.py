"""Serving the app with uvicorn: connection timeouts that hold against slow clients.

uvicorn closes keep-alive connections that sit idle, but not one whose client
sends a request's headers a byte at a time, or opens a connection and sends
nothing (slowloris): each such client holds a connection, and a file
descriptor, for ever. `HeaderDeadlineProtocol` gives every request's headers a
deadline, counted from the connection opening or from the first byte of a
later request on a kept-alive connection, and closes the connection when it
passes. Past the headers, no deadline: a client that sends its body, or reads
its response, a byte a minute still holds its connection. `MAX_CONNECTIONS`
bounds how many such connections can pile up (past it, new requests get 503);
a reverse proxy with body and send timeouts is the fuller answer.
"""

from __future__ import annotations

import asyncio
import gc
import logging

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
# Idle keep-alive connections close after this long. It must outlast the idle
# timeout of any client pool or proxy in front (5 s in httpx, 60 s in common
# proxies): when the server closes first, a request sent at that instant is lost.
KEEP_ALIVE_S = 75
MAX_CONNECTIONS = 1000


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers."""

    header_timeout_s = HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        between_requests = self.cycle is None or self.cycle.response_complete
        if between_requests and self._header_deadline is None:
            self._arm_header_deadline()  # the first byte of a later request
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_header_deadline()  # a request began: its headers are in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.info("closing a connection from %s: no request headers in %.0f s",
                     self.client, self.header_timeout_s)  # fmt: skip
            self.transport.close()


def serve_app(app: FastAPI, host: str, port: int) -> None:
    """Run the app until interrupted, with the timeouts above."""
    uvicorn.run(app, host=host, port=port, log_level="warning", http=HeaderDeadlineProtocol,
                timeout_keep_alive=KEEP_ALIVE_S, limit_concurrency=MAX_CONNECTIONS)  # fmt: skip


def serve_workers(host: str, port: int, workers: int) -> None:
    """Run `workers` processes on one port, each building its app from the STEERFEED_*
    environment (`app_from_env`), until interrupted; a worker that dies is replaced."""
    uvicorn.run("feed.http.serving:app_from_env", factory=True, workers=workers, host=host,
                port=port, log_level="warning", http=HeaderDeadlineProtocol,
                timeout_keep_alive=KEEP_ALIVE_S, limit_concurrency=MAX_CONNECTIONS)  # fmt: skip


def app_from_env() -> FastAPI:
    """The app of the settings in the environment: what each worker process serves."""
    from feed.bootstrap import use_one_thread_per_request
    from feed.http.app import create_app
    from feed.settings import Settings

    use_one_thread_per_request()
    app = create_app(Settings.from_env())
    freeze_long_lived(app)
    return app


def freeze_long_lived(app: FastAPI | None = None) -> None:
    """Move what is loaded so far (models, the catalog snapshot) out of the GC's way:
    full collections scanning ~500k long-lived objects stall requests for 300+ ms.
    With `app`, its service is warmed up first (`FeedService.warm_up`), so what the first
    instruction and phrase load is frozen too."""
    if app is not None:
        app.state.context.service.warm_up()
    gc.collect()
    gc.freeze()
