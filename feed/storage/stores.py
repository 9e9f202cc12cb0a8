"""Opening the stores by URL: each URL's scheme picks a backend from a registry.

| store   | setting       | embedded default                  | schemes                     |
|---------|---------------|-----------------------------------|-----------------------------|
| catalog | `catalog_url` | `sqlite:///<home>/catalog.sqlite` | sqlite, postgresql          |
| vectors | `vectors_url` | `faiss://<home>/index`            | faiss, milvus, milvus+https |
| users   | `state_url`   | `sqlite:///<home>/state.sqlite`   | sqlite, postgresql          |
| events  | `events_url`  | `parquet://<home>/events`         | parquet                     |
| limits  | `cache_url`   | `memory://`                       | memory, redis               |
| engagement | `cache_url` | `memory://`                    | memory, redis               |
| jobs    | `jobs_url`    | `sqlite:///<home>/jobs.sqlite`    | sqlite, postgresql          |

A backend is a function from a parsed URL to a store satisfying the protocol in
`feed.storage.interfaces`; `register` adds one (see docs/architecture.md). Backends with
a server (PostgreSQL, Redis, Milvus) import their client library when first opened, so the
embedded default needs none of them. `milvus:///abs/path/vectors.db` is a milvus-lite file,
`milvus://host:19530[/db]` (or `milvus+https://`) a Milvus server; see
`feed.storage.milvus` for the options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from feed.storage.catalog import Catalog as SqliteCatalog
from feed.storage.engagement import LocalEngagement
from feed.storage.events import EventLog as ParquetEventLog
from feed.storage.interfaces import (
    Catalog,
    EventLog,
    RateLimits,
    SharedEngagement,
    UserState,
    VectorIndexes,
)
from feed.storage.ratelimit import Limit, RateLimiter
from feed.storage.state import StateStore
from feed.storage.vectors import FaissIndexes

if TYPE_CHECKING:
    from generation.jobs import JobStore

KINDS = ("catalog", "vectors", "users", "events", "limits", "jobs")
# What the embedded backends keep under a home folder (named here only).
CATALOG_FILE = "catalog.sqlite"
STATE_FILE = "state.sqlite"
JOBS_FILE = "jobs.sqlite"
INDEX_DIR = "index"
EVENTS_DIR = "events"


class StoreURLError(ValueError):
    """A store URL names no known backend, or is malformed."""


@dataclass(frozen=True)
class StoreURLs:
    """Where each store lives."""

    catalog: str
    vectors: str
    users: str
    events: str
    limits: str = "memory://"

    @classmethod
    def embedded(cls, home: Path) -> StoreURLs:
        """The one-machine default: files under `home`, limits in memory."""
        home = home.absolute()  # `sqlite:///var/x` would name /var/x, not ./var/x
        return cls(
            catalog=f"sqlite://{home / CATALOG_FILE}", vectors=f"faiss://{home / INDEX_DIR}",
            users=f"sqlite://{home / STATE_FILE}", events=f"parquet://{home / EVENTS_DIR}",
        )  # fmt: skip


@dataclass
class Stores:
    """Every store a service needs (limits are built per app, from their `Limit`s)."""

    catalog: Catalog
    vectors: VectorIndexes
    users: UserState
    events: EventLog

    def close(self) -> None:
        """Close what holds files or connections."""
        self.vectors.close()
        self.users.close()
        self.catalog.close()


def local_path(url: str) -> Path:
    """The filesystem path of `scheme:///abs/path` or `scheme://rel/path`."""
    parts = urlsplit(url)
    path = parts.netloc + parts.path
    if not path:
        raise StoreURLError(f"{url!r} names no path")
    return Path(path)


def _postgres_catalog(url: str) -> Catalog:
    from feed.storage.postgres_catalog import PostgresCatalog

    return PostgresCatalog(url)


def _postgres_users(url: str) -> UserState:
    from feed.storage.postgres import PostgresUserState

    return PostgresUserState(url)


def _sqlite_jobs(url: str) -> JobStore:
    from feed.storage.jobs import SqliteJobStore

    return SqliteJobStore(local_path(url))


def _postgres_jobs(url: str) -> JobStore:
    from feed.storage.postgres_jobs import PostgresJobStore

    return PostgresJobStore(url)


def _milvus_vectors(url: str) -> VectorIndexes:
    from feed.storage.milvus import MilvusIndexes

    return MilvusIndexes(url)


def _redis_limits(url: str, limits: Mapping[str, Limit]) -> RateLimits:
    from feed.storage.redis_store import RedisRateLimits

    return RedisRateLimits(url, dict(limits))


Opener = Callable[[str], Any]
BACKENDS: dict[str, dict[str, Opener]] = {
    "catalog": {"sqlite": lambda url: SqliteCatalog(local_path(url)),
                "postgresql": _postgres_catalog, "postgres": _postgres_catalog},
    "vectors": {"faiss": lambda url: FaissIndexes(local_path(url)),
                "milvus": _milvus_vectors, "milvus+https": _milvus_vectors},
    "users": {"sqlite": lambda url: StateStore(local_path(url)),
              "postgresql": _postgres_users, "postgres": _postgres_users},
    "events": {"parquet": lambda url: ParquetEventLog(local_path(url))},
    # generation.jobs.JobStore (opened by the gap filler, not by open_stores)
    "jobs": {"sqlite": _sqlite_jobs, "postgresql": _postgres_jobs, "postgres": _postgres_jobs},
}  # fmt: skip
LIMITS: dict[str, Callable[[str, Mapping[str, Limit]], RateLimits]] = {
    "memory": lambda url, limits: RateLimiter(dict(limits)),
    "redis": _redis_limits,
}


def _redis_engagement(url: str) -> SharedEngagement:
    from feed.storage.redis_store import RedisEngagement

    return RedisEngagement(url)


ENGAGEMENT: dict[str, Callable[[str], SharedEngagement]] = {
    "memory": lambda url: LocalEngagement(),
    "redis": _redis_engagement,
}


def register(kind: str, scheme: str, opener: Opener) -> None:
    """Add a backend: `opener(url)` returns a store of `kind` for URLs with `scheme`."""
    if kind not in BACKENDS:
        raise StoreURLError(f"unknown store kind {kind!r}; one of {', '.join(BACKENDS)}")
    BACKENDS[kind][scheme] = opener


def open_store(kind: str, url: str) -> Any:
    """The store of `kind` at `url`, from the backend its scheme names."""
    backends = BACKENDS.get(kind)
    if backends is None:
        raise StoreURLError(f"unknown store kind {kind!r}; one of {', '.join(BACKENDS)}")
    scheme = urlsplit(url).scheme
    if scheme not in backends:
        raise StoreURLError(
            f"no {kind} backend for {url!r}; known schemes: {', '.join(sorted(backends))}"
        )
    return backends[scheme](url)


def open_limits(url: str, limits: Mapping[str, Limit]) -> RateLimits:
    """Rate limits at `url` (`memory://`: private to this process)."""
    scheme = urlsplit(url).scheme
    if scheme not in LIMITS:
        raise StoreURLError(f"no limits backend for {url!r}; known: {', '.join(sorted(LIMITS))}")
    return LIMITS[scheme](url, limits)


def open_engagement(url: str) -> SharedEngagement:
    """Engagement shared between serving processes at `url` (`memory://`: none)."""
    scheme = urlsplit(url).scheme
    if scheme not in ENGAGEMENT:
        raise StoreURLError(
            f"no engagement backend for {url!r}; known: {', '.join(sorted(ENGAGEMENT))}"
        )
    return ENGAGEMENT[scheme](url)


def open_stores(urls: StoreURLs) -> Stores:
    """Open every store; a bad URL is refused before anything is opened."""
    for kind in ("catalog", "vectors", "users", "events"):
        scheme = urlsplit(getattr(urls, kind)).scheme
        if scheme not in BACKENDS[kind]:
            raise StoreURLError(
                f"no {kind} backend for {getattr(urls, kind)!r};"
                f" known schemes: {', '.join(sorted(BACKENDS[kind]))}"
            )
    catalog = open_store("catalog", urls.catalog)
    opened = [catalog]
    try:
        users = open_store("users", urls.users)
        opened.append(users)
        vectors = open_store("vectors", urls.vectors)
        events = open_store("events", urls.events)
    except Exception:
        for store in reversed(opened):
            store.close()
        raise
    return Stores(catalog, vectors, users, events)
