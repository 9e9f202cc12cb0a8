"""Scaling out: two servers over one PostgreSQL user state and job table and one Redis
see the same accounts, sessions, steering, jobs and rate budgets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.settings import Settings
from generation.jobs import Budgets, NewJob

PROMPTS = ("a cat asleep on a sofa", "a dog running in the rain", "a heron at dawn")


@pytest.mark.slow
def test_two_servers_share_users_pages_steering_jobs_and_rate_budgets(
    tmp_path, text_encoder, reader, postgres_url, redis_url
):
    home = tmp_path / "home"
    engine = ClipStore(home, text_encoder, None)
    engine.ingest([parse_entry({"id": f"c{i}", "prompt": p, "creator": "x"}, i + 1, None, 100)
                   for i, p in enumerate(PROMPTS)])  # fmt: skip
    settings = Settings(home=home, run_jobs_in_background=False, state_url=postgres_url,
                        jobs_url=postgres_url, cache_url=redis_url, steer_per_minute=1,
                        steer_burst=4)  # fmt: skip
    apps = [
        create_app(settings, engine, FeedService.open(engine, home, reader, settings.store_urls))
        for _ in range(2)
    ]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        token = a.post("/v1/users", json={"handle": "ann"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert b.post("/v1/users", json={"handle": "ann"}).status_code == 409
        steered = b.post("/v1/steer", json={"text": "more cats"}, headers=auth)
        assert steered.status_code == 200 and steered.json()["applied"]
        first = a.get("/v1/feed", params={"limit": 2}, headers=auth).json()
        assert [s["phrase"] for s in first["steering"]] == [
            s["phrase"] for s in steered.json()["applied"]]  # fmt: skip
        # the next page, from the other server, continues the same session
        second = b.get("/v1/feed", params={"limit": 2, "cursor": first["next_cursor"]},
                       headers=auth).json()  # fmt: skip
        assert second["session_id"] == first["session_id"]
        shown = [i["clip_id"] for i in first["items"] + second["items"]]
        assert sorted(shown) == ["c0", "c1", "c2"]
        # one steering budget of four for both servers: one is spent already
        codes = [c.post("/v1/steer", json={"text": "more dogs"}, headers=auth).status_code
                 for c in (a, b, a, b)]  # fmt: skip
        assert codes == [200, 200, 200, 429]
        # a job queued through one server is seen through the other
        jobs_a, jobs_b = (app.state.context.filler.jobs for app in apps)
        assert jobs_a is not jobs_b
        (job,) = jobs_a.enqueue([NewJob("a cat in a box", "k1", requester="u")], "procedural",
                                1_800_000_000.0, Budgets())  # fmt: skip
        assert jobs_b.get(job.id) == job
