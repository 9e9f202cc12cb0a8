"""Private database servers for tests: a PostgreSQL cluster and a Redis, each started
once per test run in a temp dir, listening on 127.0.0.1 at a free port, and stopped at
the end (on failure too).

A server runs in the foreground as a child of the test process, with the kernel told
to stop it if that process dies, so a killed test run leaves nothing behind. PostgreSQL
refuses to run as root: under root both `initdb` and `postgres` run as the `postgres`
account, in a temp dir it owns. A missing server binary fails the test with a message
naming the package; `make test` installs both.

tests/conftest.py loads this module as a plugin, so every test can ask for
`postgres_url` or `redis_url` (a fresh database each) without importing them. The
starters `start_postgres` and `start_redis` are plain generators: the load benches run
them as context managers (`contextlib.contextmanager(start_postgres)()`).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PG_USER = "steerfeed"
# The test cluster trades durability for speed: it is thrown away at the end.
PG_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off",
               "max_connections=200")  # fmt: skip
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


class ServerUnavailable(RuntimeError):
    """A test server could not be found or started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str, package: str) -> str:
    """Path of a server binary: on PATH, else in Debian's versioned PostgreSQL folder."""
    found = shutil.which(name)
    if found is None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
            key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
        )
        found = str(versions[-1]) if versions else None
    if found is None:
        raise ServerUnavailable(
            f"{name} not found: the tests need the Debian package {package}; `make test`"
            f" (or .ci/run) installs it, or run: apt-get install -y {package}"
        )
    return found


def _run_as(user: pwd.struct_passwd | None) -> Callable[[], None]:
    """A preexec_fn: drop to `user` (when given), then die with the parent process."""

    def preexec() -> None:
        if user is not None:
            os.setgid(user.pw_gid)
            os.setgroups([])
            os.setuid(user.pw_uid)
        # Set after setuid, which clears it: the server stops if the test run is killed.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def _server_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: `postgres` under root, else the current user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerUnavailable(
            "running as root, and PostgreSQL refuses root: no `postgres` account to run it"
            " as (the Debian package postgresql makes one; `make test` installs it)"
        ) from exc


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str) -> None:
    """Poll `ready` until it holds, the server exits, or the deadline passes."""
    deadline = time.monotonic() + START_TIMEOUT_S
    pause_s = 0.01
    while not ready():
        if proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise ServerUnavailable(
                f"{what} not ready after {START_TIMEOUT_S:.0f} s:\n{_tail(log)}"
            )
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, 0.2)


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """Signal the server and wait for it; kill it if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve(servers: Iterator[T]) -> Iterator[T]:
    """Yield the server `servers` starts and stop it afterwards; one that cannot start
    fails the tests that need it with its one message."""
    try:
        server = next(servers)
    except ServerUnavailable as exc:
        failure = str(exc)
    else:
        try:
            yield server
        finally:
            servers.close()  # runs the starter's cleanup: stop the server, remove its dir
        return
    pytest.fail(failure, pytrace=False)


# -- PostgreSQL -------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    """A running private cluster; `url(db)` is a URL for one of its databases."""

    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _accepts_connections(server: PostgresServer) -> Callable[[], bool]:
    def ready() -> bool:
        import psycopg

        try:
            with psycopg.connect(server.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    return ready


def start_postgres() -> Iterator[PostgresServer]:
    """Make a cluster in a temp dir, run it on 127.0.0.1, yield it, stop it, remove it."""
    initdb = find_binary("initdb", "postgresql")
    postgres = find_binary("postgres", "postgresql")
    account = _server_account()
    root = Path(tempfile.mkdtemp(prefix="steerfeed-pg-"))
    proc: subprocess.Popen | None = None
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        data, log = root / "data", root / "server.log"
        done = subprocess.run(
            [initdb, "-D", str(data), "-U", PG_USER, "-A", "trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            preexec_fn=_run_as(account), capture_output=True, text=True, cwd=root,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServerUnavailable(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        port = free_port()
        options = [arg for s in PG_SETTINGS for arg in ("-c", s)]
        with open(log, "wb") as out:
            # -h: TCP on loopback only; -k: the Unix socket in our temp dir, not /var/run.
            proc = subprocess.Popen(
                [postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root),
                 *options],
                preexec_fn=_run_as(account), stdout=out, stderr=subprocess.STDOUT, cwd=root,
                start_new_session=True,
            )  # fmt: skip
        server = PostgresServer("127.0.0.1", port, PG_USER)
        _wait_until(_accepts_connections(server), proc, log, "postgres")
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL for the whole test run."""
    yield from serve(start_postgres())


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh, empty database on the test cluster."""
    return postgres_server.create_database()


# -- Redis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisServer:
    """A running private Redis; `url(db)` is a URL for one of its numbered databases."""

    host: str
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


def _answers_ping(server: RedisServer) -> Callable[[], bool]:
    def ready() -> bool:
        import redis

        client = redis.Redis(host=server.host, port=server.port, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    return ready


def start_redis() -> Iterator[RedisServer]:
    """Run a Redis on 127.0.0.1 with nothing saved to disk, yield it, stop it."""
    binary = find_binary("redis-server", "redis-server")
    root = Path(tempfile.mkdtemp(prefix="steerfeed-redis-"))
    proc: subprocess.Popen | None = None
    try:
        port, log = free_port(), root / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no", "--dir", str(root), "--daemonize", "no"],
                preexec_fn=_run_as(None), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        server = RedisServer("127.0.0.1", port)
        _wait_until(_answers_ping(server), proc, log, "redis-server")
        yield server
    finally:
        if proc is not None:
            _stop(proc, signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private Redis for the whole test run."""
    yield from serve(start_redis())


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an emptied Redis database for one test."""
    import redis

    url = redis_server.url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
