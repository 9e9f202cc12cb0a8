"""The rate limits contract: the in-memory buckets and the Redis ones give the same
answers, and Redis buckets are one budget however many clients share them.

A backend joins by adding one entry to BACKENDS: a function that, given the test's
request (for a server fixture from tests/servers.py), returns a limits URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import pytest
from servers import free_port

from feed.storage.interfaces import RateLimits
from feed.storage.ratelimit import Limit
from feed.storage.sqlite import DatabaseError
from feed.storage.stores import open_limits

LIMITS = {"steer": Limit(per_minute=60, burst=2), "upload": Limit(per_minute=6, burst=1)}
Opener = Callable[[Mapping[str, Limit]], RateLimits]


def _memory(request: pytest.FixtureRequest) -> str:
    return "memory://"


def _redis(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("redis_url"))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "memory": _memory,
    "redis": _redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def limiter(request) -> RateLimits:
    """Fresh buckets of each backend."""
    return open_limits(BACKENDS[request.param](request), LIMITS)


def test_a_burst_then_the_steady_rate(limiter):
    assert limiter.acquire("steer", "u", 0.0) == 0.0
    assert limiter.acquire("steer", "u", 0.0) == 0.0
    assert limiter.acquire("steer", "u", 0.0) == 1.0  # one token per second
    assert limiter.acquire("steer", "u", 0.5) == pytest.approx(0.5)
    assert limiter.acquire("steer", "v", 0.0) == 0.0  # buckets are per user
    assert limiter.acquire("steer", "u", 1.0) == 0.0
    assert limiter.acquire("upload", "u", 0.0) == 0.0  # and per kind of request
    assert limiter.acquire("upload", "u", 1.0) == pytest.approx(9.0)
    assert limiter.acquire("steer", "u", 100.0) == 0.0  # refilled, up to the burst only
    assert limiter.acquire("steer", "u", 100.0) == 0.0
    assert limiter.acquire("steer", "u", 100.0) == 1.0


def test_redis_clients_sharing_a_bucket_see_one_budget(redis_url):
    burst = 10
    limits = {"steer": Limit(per_minute=60, burst=burst)}
    first, second = open_limits(redis_url, limits), open_limits(redis_url, limits)
    assert first.acquire("steer", "u", 0.0) == 0.0
    assert second.acquire("steer", "u", 0.0) == 0.0  # the second client took the second token
    # many clients at once, at one instant: exactly the rest of the burst gets through
    clients = [open_limits(redis_url, limits) for _ in range(8)]
    allowed: list[bool] = []
    barrier = threading.Barrier(len(clients))

    def ask(client: RateLimits) -> None:
        barrier.wait()
        allowed.extend(client.acquire("steer", "u", 0.0) == 0.0 for _ in range(5))

    threads = [threading.Thread(target=ask, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == burst - 2 and len(allowed) == 40
    assert first.acquire("steer", "u", 1.0) == 0.0  # a second later, one more for anyone
    assert second.acquire("steer", "u", 1.0) == pytest.approx(1.0)


def test_redis_that_does_not_answer_is_refused_when_opened():
    with pytest.raises(DatabaseError, match="no Redis answering"):
        open_limits(f"redis://127.0.0.1:{free_port()}/0", LIMITS)
