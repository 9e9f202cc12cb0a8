"""Redis, shared by every serving process: rate limits behind `RateLimits` (one set of
token buckets) and engagement behind `SharedEngagement` (one stream of deltas).

Each bucket is a hash (`tokens`, `last`) updated by one Lua script, so taking a token is
atomic however many processes ask at once. The rules are those of the in-memory
`RateLimiter` (a steady rate with a burst; time passed in as `now`); a bucket left idle
long enough to refill expires, which is the same as full.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from typing import Any

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


ENGAGEMENT_STREAM = "steerfeed:engagement"
# Entries kept in the stream: a process further behind than this misses some deltas
# until its next snapshot rebuild, which reads every clip's counts afresh.
ENGAGEMENT_KEPT = 200_000
READ_BATCH = 2_000


class RedisEngagement:
    """Engagement deltas passed between serving processes through one Redis stream.

    Each process posts what its own events added (`post`) and, now and then, takes what
    the others posted since its last look (`take`), skipping its own entries: replicas'
    popularity then agrees within one look, without a per-page round trip.
    """

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._origin = uuid.uuid4().hex
        try:
            newest: Any = self._client.xrevrange(ENGAGEMENT_STREAM, count=1)
        except redis.RedisError as exc:
            raise DatabaseError(f"no Redis answering at {redact(url)} ({exc})") from exc
        # Only what is posted from now on: the snapshot read everything before it.
        self._last: bytes = newest[0][0] if newest else b"0-0"

    def post(self, deltas: Mapping[str, float]) -> None:
        """Tell the other processes what this one's events added to each clip
        (DatabaseError when Redis does not answer)."""
        if deltas:
            try:
                self._client.xadd(
                    ENGAGEMENT_STREAM, {"origin": self._origin, "deltas": json.dumps(deltas)},
                    maxlen=ENGAGEMENT_KEPT, approximate=True,
                )  # fmt: skip
            except redis.RedisError as exc:
                raise DatabaseError(f"engagement not shared: {exc}") from exc

    def take(self) -> dict[str, float]:
        """Deltas other processes posted since the last take, summed per clip
        (DatabaseError when Redis does not answer; the next take goes on from there)."""
        try:
            return self._take()
        except redis.RedisError as exc:
            raise DatabaseError(f"engagement of other processes not read: {exc}") from exc

    def _take(self) -> dict[str, float]:
        summed: dict[str, float] = {}
        while True:
            # redis-py types stream replies loosely: [[stream, [(id, {field: value})]]]
            read: Any = self._client.xread({ENGAGEMENT_STREAM: self._last}, count=READ_BATCH)
            entries = read[0][1] if read else []
            for entry_id, fields in entries:
                self._last = entry_id
                if fields[b"origin"].decode() == self._origin:
                    continue
                for clip_id, delta in json.loads(fields[b"deltas"]).items():
                    summed[clip_id] = summed.get(clip_id, 0.0) + float(delta)
            if len(entries) < READ_BATCH:
                return summed

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
