"""The rate limits contract: every RateLimits backend runs this suite.

A new backend (Redis, say) joins by adding one entry to BACKENDS: a function that, given
a test's tmp_path, returns the URL of empty limits for `open_limits`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from feed.storage.interfaces import RateLimits
from feed.storage.ratelimit import Limit
from feed.storage.stores import StoreURLError, open_limits

NOW = 1_000_000.0
LIMITS = {"steer": Limit(per_minute=60, burst=2), "feed": Limit(per_minute=6, burst=1)}


def _memory(tmp_path: Path) -> str:
    return "memory://"


BACKENDS: dict[str, Callable[[Path], str]] = {"memory": _memory}


@pytest.fixture(params=sorted(BACKENDS))
def limits(request, tmp_path) -> RateLimits:
    """Fresh limits of each backend: steer at 1/s with a burst of 2, feed at 1 per 10 s."""
    return open_limits(BACKENDS[request.param](tmp_path), LIMITS)


def test_a_burst_then_a_wait_for_the_next_token(limits):
    assert limits.acquire("steer", "u1", NOW) == 0.0
    assert limits.acquire("steer", "u1", NOW) == 0.0
    assert limits.acquire("steer", "u1", NOW) == pytest.approx(1.0)
    assert limits.acquire("steer", "u1", NOW + 0.25) == pytest.approx(0.75)
    assert limits.acquire("feed", "u1", NOW) == 0.0
    assert limits.acquire("feed", "u1", NOW) == pytest.approx(10.0)


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst(limits):
    for _ in range(2):
        limits.acquire("steer", "u1", NOW)
    assert limits.acquire("steer", "u1", NOW + 1.0) == 0.0  # one token a second
    assert limits.acquire("steer", "u1", NOW + 1.0) > 0.0
    # a long quiet spell fills the bucket to the burst, no further
    later = [limits.acquire("steer", "u1", NOW + 3600) for _ in range(3)]
    assert later == [0.0, 0.0, pytest.approx(1.0)]


def test_refused_requests_take_no_token(limits):
    limits.acquire("feed", "u1", NOW)
    for t in range(9):  # asking while waiting does not push the next token back
        assert limits.acquire("feed", "u1", NOW + t) == pytest.approx(10.0 - t)
    assert limits.acquire("feed", "u1", NOW + 10) == 0.0


def test_each_key_has_its_own_bucket(limits):
    for _ in range(2):
        limits.acquire("steer", "u1", NOW)
    assert limits.acquire("steer", "u1", NOW) > 0.0
    assert limits.acquire("steer", "u2", NOW) == 0.0  # another user
    assert limits.acquire("feed", "u1", NOW) == 0.0  # another kind of request


def test_an_unknown_scheme_is_refused():
    with pytest.raises(StoreURLError, match="memory"):
        open_limits("memcached://localhost:11211", LIMITS)
