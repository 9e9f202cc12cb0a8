"""Rate limits: a burst, then the steady rate; over it, 429 with Retry-After."""

from __future__ import annotations

from fastapi.testclient import TestClient

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.settings import Settings
from feed.storage.ratelimit import Limit, RateLimiter


def test_token_bucket():
    limiter = RateLimiter({"steer": Limit(per_minute=60, burst=2)})
    assert limiter.acquire("steer", "u", 0.0) == 0.0
    assert limiter.acquire("steer", "u", 0.0) == 0.0
    assert limiter.acquire("steer", "u", 0.0) == 1.0  # one token per second
    assert limiter.acquire("steer", "v", 0.0) == 0.0  # buckets are per user
    assert limiter.acquire("steer", "u", 1.0) == 0.0


def test_steering_is_rate_limited_per_user(tmp_path, text_encoder):
    engine = ClipStore(tmp_path / "home", text_encoder, None)
    engine.ingest([parse_entry({"id": "c1", "prompt": "a cat", "creator": "x"}, 1, None, 100)])
    settings = Settings(home=tmp_path / "home", run_jobs_in_background=False, steer_per_minute=1)
    with TestClient(create_app(settings, engine)) as client:
        token = client.post("/v1/users", json={"handle": "ann"}).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        codes = [client.post("/v1/steer", json={"text": "more cats"}, headers=h).status_code
                 for _ in range(12)]  # fmt: skip
        assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]
        r = client.post("/v1/steer", json={"text": "more cats"}, headers=h)
        assert int(r.headers["Retry-After"]) >= 1 and "too many steer" in r.json()["detail"]
