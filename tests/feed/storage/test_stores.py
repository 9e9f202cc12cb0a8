"""Opening stores by URL: the registry, the embedded defaults, and URLs it refuses."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from feed.storage.catalog import Catalog as SqliteCatalog
from feed.storage.events import EventLog as ParquetEventLog
from feed.storage.interfaces import (
    Catalog,
    EventLog,
    RateLimits,
    UserState,
    VectorIndex,
    VectorIndexes,
)
from feed.storage.state import StateStore
from feed.storage.stores import (
    BACKENDS,
    CATALOG_FILE,
    STATE_FILE,
    StoreURLError,
    StoreURLs,
    local_path,
    open_limits,
    open_store,
    open_stores,
    register,
)

NOW = 1_000_000.0
OPENED_BY_STORES = ("catalog", "vectors", "users", "events")


def protocol_members(protocol: type) -> set[str]:
    """The methods and attributes a protocol declares."""
    names = {n for n in vars(protocol) if not n.startswith("_") or n in ("__len__", "__contains__")}
    return names | set(getattr(protocol, "__annotations__", {}))


@pytest.fixture
def backends(monkeypatch) -> dict:
    """The registry, restored after the test whatever it registers."""
    for kind in list(BACKENDS):
        monkeypatch.setitem(BACKENDS, kind, dict(BACKENDS[kind]))
    return BACKENDS


def test_the_embedded_urls_open_every_store(tmp_path):
    home = tmp_path / "home"
    stores = open_stores(StoreURLs.embedded(home))
    try:
        opened = ((stores.catalog, Catalog), (stores.users, UserState),
                  (stores.vectors, VectorIndexes), (stores.events, EventLog))  # fmt: skip
        for store, protocol in opened:
            missing = {n for n in protocol_members(protocol) if not hasattr(store, n)}
            assert missing == set(), protocol.__name__
        assert (home / CATALOG_FILE).exists() and (home / STATE_FILE).exists()
        assert stores.catalog.count() == 0 and stores.events.scan().collect().height == 0
        index = stores.vectors.open("text", "m", 4, stores.catalog)
        assert len(index) == 0 and protocol_members(VectorIndex) <= set(dir(index))
        user, token = stores.users.create_user("ann", NOW)
    finally:
        stores.close()
    again = open_stores(StoreURLs.embedded(home))
    assert again.users.authenticate(token) == user
    again.close()
    limits = open_limits(StoreURLs.embedded(home).limits, {})
    assert protocol_members(RateLimits) <= set(dir(limits))


@pytest.mark.parametrize("kind", OPENED_BY_STORES)
def test_an_unknown_scheme_opens_nothing_and_names_the_known_ones(tmp_path, kind):
    home = tmp_path / "home"
    urls = replace(StoreURLs.embedded(home), **{kind: f"nosuch://{home / 'x'}"})
    with pytest.raises(StoreURLError) as refused:
        open_stores(urls)
    message = str(refused.value)
    assert "nosuch" in message
    assert all(scheme in message for scheme in BACKENDS[kind])
    assert list(tmp_path.iterdir()) == []  # no file, no folder
    with pytest.raises(StoreURLError, match=re.escape(", ".join(sorted(BACKENDS[kind])))):
        open_store(kind, f"nosuch://{home / 'x'}")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_refused(backends):
    with pytest.raises(StoreURLError, match="catalog"):
        open_store("caches", "memory://")
    with pytest.raises(StoreURLError, match="unknown store kind"):
        register("caches", "memory", lambda url: {})


def test_a_registered_backend_is_opened_by_its_scheme(tmp_path, backends):
    seen: list[str] = []

    def open_spare(url: str) -> ParquetEventLog:
        seen.append(url)
        return ParquetEventLog(local_path(url))

    register("events", "spare", open_spare)
    url = f"spare://{tmp_path / 'spare-events'}"
    log = open_store("events", url)
    assert seen == [url] and isinstance(log, ParquetEventLog)
    assert log.directory == tmp_path / "spare-events"
    stores = open_stores(replace(StoreURLs.embedded(tmp_path / "home"), events=url))
    assert seen == [url, url] and stores.events.directory == tmp_path / "spare-events"
    stores.close()
    with pytest.raises(StoreURLError, match="parquet, spare"):
        open_store("events", "nosuch://x")


@pytest.mark.parametrize("failing", ["users", "vectors", "events"])
def test_a_store_that_fails_to_open_closes_those_opened_before_it(tmp_path, backends, failing):
    closed: list[str] = []

    class RecordedCatalog(SqliteCatalog):
        def close(self) -> None:
            closed.append("catalog")
            super().close()

    class RecordedUsers(StateStore):
        def close(self) -> None:
            closed.append("users")
            super().close()

    def fail(url: str) -> None:
        raise OSError(f"cannot reach {url}")

    register("catalog", "recorded", lambda url: RecordedCatalog(local_path(url)))
    register("users", "recorded", lambda url: RecordedUsers(local_path(url)))
    register(failing, "down", fail)
    urls = replace(StoreURLs.embedded(tmp_path), catalog=f"recorded://{tmp_path / 'c.sqlite'}",
                   users=f"recorded://{tmp_path / 'u.sqlite'}")  # fmt: skip
    with pytest.raises(OSError, match="cannot reach"):
        open_stores(replace(urls, **{failing: "down://elsewhere"}))
    assert sorted(closed) == (["catalog"] if failing == "users" else ["catalog", "users"])


def test_local_paths_of_store_urls():
    assert local_path("sqlite:///srv/feed/catalog.sqlite") == Path("/srv/feed/catalog.sqlite")
    assert local_path("faiss://home/index") == Path("home/index")
    with pytest.raises(StoreURLError, match="no path"):
        local_path("sqlite://")
