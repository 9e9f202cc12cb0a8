"""The shared engagement contract: every SharedEngagement backend runs this suite.

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request, returns the URL for `open_engagement`. Backends shared between processes are
also listed in SHARED, whose tests open two of them as two processes would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from feed.storage.interfaces import SharedEngagement
from feed.storage.stores import StoreURLError, open_engagement


def _memory(request: pytest.FixtureRequest) -> str:
    return "memory://"


def _redis(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("redis_url"))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "memory": _memory,
    "redis": _redis,
}
SHARED = sorted({"redis"} & set(BACKENDS))


def _opened(request: pytest.FixtureRequest, backend: str, count: int) -> Iterator[list]:
    url = BACKENDS[backend](request)
    opened = [open_engagement(url) for _ in range(count)]
    yield opened
    for each in opened:
        each.close()


@pytest.fixture(params=sorted(BACKENDS))
def engagement(request) -> Iterator[SharedEngagement]:
    """One process's view of a fresh shared engagement, of each backend."""
    for (only,) in _opened(request, request.param, 1):
        yield only


@pytest.fixture(params=SHARED)
def two(request) -> Iterator[list[SharedEngagement]]:
    """Two processes' views of one fresh shared engagement."""
    yield from _opened(request, request.param, 2)


def test_a_process_never_hears_its_own_engagement(engagement):
    engagement.post({"c1": 3.0, "c2": -1.0})
    assert engagement.take() == {}


def test_nothing_posted_nothing_heard(engagement):
    assert engagement.take() == {}
    engagement.post({})
    assert engagement.take() == {}


def test_another_process_hears_each_post_once_summed_per_clip(two):
    a, b = two
    a.post({"c1": 3.0, "c2": 1.0})
    a.post({"c1": -1.0})
    b.post({"c3": 1.0})
    assert b.take() == {"c1": 2.0, "c2": 1.0}
    assert b.take() == {}
    assert a.take() == {"c3": 1.0}


def test_a_process_opened_later_hears_only_what_is_posted_after(request, two):
    a, _ = two
    a.post({"c1": 1.0})
    backend = request.node.callspec.params["two"]
    for (late,) in _opened(request, backend, 1):
        assert late.take() == {}
        a.post({"c2": 1.0})
        assert late.take() == {"c2": 1.0}


def test_a_long_backlog_is_heard_whole(two):
    a, b = two
    for i in range(5_000):
        a.post({f"c{i % 7}": 1.0})
    heard = b.take()
    assert sum(heard.values()) == 5_000 and len(heard) == 7


def test_an_unknown_scheme_is_refused():
    with pytest.raises(StoreURLError, match="no engagement backend"):
        open_engagement("carrier-pigeon://loft")
