"""Rate limits in Redis, behind `RateLimits`: one set of token buckets shared by every
serving process.

Each bucket is a hash (`tokens`, `last`) updated by one Lua script, so taking a token is
atomic however many processes ask at once. The rules are those of the in-memory
`RateLimiter` (a steady rate with a burst; time passed in as `now`); a bucket left idle
long enough to refill expires, which is the same as full.
"""

from __future__ import annotations

import math

import redis

from feed.storage.ratelimit import Limit
from feed.storage.sqlite import DatabaseError
from feed.storage.urls import redact

KEY_PREFIX = "steerfeed:ratelimit"
# KEYS[1]: the bucket. ARGV: burst, tokens per second, now (s), idle expiry (ms).
# Returns the seconds to wait, as a string: Lua numbers returned to Redis become integers.
TAKE_TOKEN = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(bucket[1]) or burst
local last = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(now - last, 0) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'last', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return string.format('%.17g', wait)
"""


class RedisRateLimits:
    """Token buckets keyed by (what, who), kept in the Redis at `url`."""

    def __init__(self, url: str, limits: dict[str, Limit]) -> None:
        self._limits = limits
        self._client = redis.Redis.from_url(url)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise DatabaseError(f"no Redis answering at {redact(url)} ({exc})") from exc
        self._take = self._client.register_script(TAKE_TOKEN)

    def acquire(self, what: str, who: str, now: float) -> float:
        """Take one token; returns 0.0 if allowed, else seconds until one is available."""
        limit = self._limits[what]
        rate = limit.per_minute / 60.0
        # Past this a bucket has refilled: dropping it changes nothing.
        idle_ms = math.ceil(limit.burst / rate * 1000) + 1000
        wait = self._take(
            keys=[f"{KEY_PREFIX}:{what}:{who}"], args=[limit.burst, repr(rate), repr(now), idle_ms]
        )
        return float(wait)

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
