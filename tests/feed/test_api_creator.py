"""The creator side of the API: remixing through generation, job progress, profiles and
follows, @mention choices, the cameo reference, and clips made for a user's request."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.services.gaps import GapFiller
from feed.settings import Settings
from feed.storage.jobs import SqliteJobStore
from generation.jobs import Budgets
from generation.providers import ProceduralProvider
from generation.renderer import RenderSpec

ROWS = [
    {"id": "plain", "prompt": "a lighthouse at dusk", "creator": "mika"},
    {"id": "with-eve", "prompt": "@eve dancing on a pier", "creator": "mika"},
    {"id": "by-eve", "prompt": "a kite over the dunes", "creator": "eve"},
]


@pytest.fixture
def app_parts(tmp_path, text_encoder, reader):
    home = tmp_path / "home"
    engine = ClipStore(home, text_encoder, None)
    service = FeedService.open(engine, home, reader)
    filler = GapFiller(service, SqliteJobStore(home / "jobs.sqlite"),
                       ProceduralProvider(RenderSpec(seconds=1.0)), home / "staging",
                       Budgets(per_user_daily=3, global_daily=50))  # fmt: skip
    settings = Settings(home=home, run_jobs_in_background=False, generate_burst=20)
    with TestClient(create_app(settings, engine, service, filler)) as client:
        yield client, filler


def signup(client, handle):
    token = client.post("/v1/users", json={"handle": handle}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def ingest(client, rows):
    engine = client.app.state.context.clips
    engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(rows, 1)])


def test_remix_through_generation_keeps_cameos_and_lists_on_the_original(app_parts):
    client, filler = app_parts
    eve, ann = signup(client, "eve"), signup(client, "ann")
    ingest(client, ROWS)
    gone = {"prompt": "my take", "remix_of": "nope"}
    assert client.post("/v1/generate", json=gone, headers=ann).status_code == 404
    # eve has no consent on record: her clip is hidden from ann, so it cannot be remixed
    remix = {"prompt": "my take: @eve dancing on a pier at night", "remix_of": "with-eve"}
    assert client.post("/v1/generate", json=remix, headers=ann).status_code == 404
    assert client.get("/v1/clips/plain", headers=ann).json()["may_remix"] is True
    client.post("/v1/cameos", json={"handle": "eve", "policy": "approved"}, headers=eve)
    assert client.get("/v1/clips/with-eve", headers=ann).status_code == 404
    client.put("/v1/cameos/eve", json={"policy": "everyone"}, headers=eve)
    assert client.get("/v1/clips/with-eve", headers=ann).json()["may_remix"] is True
    assert client.get("/v1/clips/with-eve").json()["may_remix"] is False  # anonymous

    r = client.post("/v1/generate", json={**remix, "prompt": "my take, no names"}, headers=ann)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["remix_of"] == "with-eve" and job["status"] == "queued" and job["progress"] == 0
    assert [j["id"] for j in client.get("/v1/me/jobs", headers=ann).json()["jobs"]] == [job["id"]]
    assert client.get("/v1/me/jobs", headers=eve).json()["jobs"] == []

    (done,) = filler.run()
    assert done.status == "completed", done.error
    job = client.get(f"/v1/jobs/{job['id']}", headers=ann).json()
    assert job["status"] == "completed" and job["progress"] == 1.0
    clip = client.get(f"/v1/clips/{job['clip_id']}", headers=ann).json()
    assert clip["remix_of"] == "with-eve" and clip["cameos"] == ["eve"]
    assert clip["creator"] == "ann"
    listed = client.get("/v1/clips/with-eve/remixes", headers=ann).json()["items"]
    assert [c["clip_id"] for c in listed] == [clip["clip_id"]]

    # eve takes her cameo back: ben sees neither clip, the original cannot be remixed
    # (ann still sees the remix she made: she co-owns it)
    ben = signup(client, "ben")
    assert client.get(f"/v1/clips/{clip['clip_id']}", headers=ben).status_code == 200
    client.put("/v1/cameos/eve", json={"policy": "only_me"}, headers=eve)
    assert client.get("/v1/clips/with-eve/remixes", headers=ann).status_code == 404
    assert client.get(f"/v1/clips/{clip['clip_id']}", headers=ben).status_code == 404
    assert client.get("/v1/users/ann", headers=ben).json()["clips"] == []
    assert client.get(f"/v1/clips/{clip['clip_id']}", headers=ann).json()["may_remix"] is False
    assert client.post("/v1/generate", json=remix, headers=ann).status_code == 404
    # ...and as a co-owner she lists and may delete the remix
    mine = client.get("/v1/me/cameo-appearances", headers=eve).json()["items"]
    assert {c["clip_id"] for c in mine} == {"with-eve", clip["clip_id"]}
    assert client.delete(f"/v1/clips/{clip['clip_id']}", headers=eve).status_code == 204


def test_generation_options_length_aspect_and_budget_retry(app_parts):
    client, filler = app_parts
    ann = signup(client, "ann")
    options = client.get("/v1/generate/options").json()
    assert options["provider"] == "procedural"
    assert 2.0 in options["durations_s"] and options["aspects"][0] == "9:16"
    bad = client.post("/v1/generate", json={"prompt": "a fox", "seconds": 7}, headers=ann)
    assert bad.status_code == 422 and "seconds must be one of" in bad.text
    for prompt in ("a fox", "a hare", "a crow"):
        body = {"prompt": prompt, "seconds": 2, "aspect": "16:9"}
        r = client.post("/v1/generate", json=body, headers=ann)
        assert r.status_code == 202 and r.json()["aspect"] == "16:9"
    refused = client.post("/v1/generate", json={"prompt": "a heron"}, headers=ann)
    assert refused.status_code == 429
    assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400
    assert "try again in 24 h 0 min" in refused.json()["detail"]


def test_job_progress_is_reported_while_the_provider_renders(tmp_path):
    store = SqliteJobStore(tmp_path / "jobs.sqlite")
    seen = []

    class Watching(ProceduralProvider):
        def generate(self, request, out_path):
            def note(fraction):
                request.on_progress(fraction)
                seen.append(store.get(job.id).progress)

            return super().generate(
                type(request)(request.prompt, request.idempotency_key, seconds=1.0,
                              on_progress=note),
                out_path,
            )  # fmt: skip

    from generation.jobs import NewJob, run_jobs

    (job,) = store.enqueue([NewJob("a fox in snow", "k1", requester="u1")], "procedural",
                           time.time(), Budgets())  # fmt: skip
    done = run_jobs(store, Watching(), lambda j, p, n: "clip-1", tmp_path / "staging",
                    time.time, Budgets())  # fmt: skip
    assert done[0].status == "completed" and done[0].progress == 1.0
    assert seen[0] < 0.5 < seen[-1] <= 0.9 and seen == sorted(seen)


def test_profiles_follows_and_mention_choices(app_parts):
    client, _ = app_parts
    eve, ann, ben = signup(client, "eve"), signup(client, "ann"), signup(client, "ben")
    ingest(client, ROWS)
    client.post("/v1/cameos", json={"handle": "eve", "policy": "mutuals"}, headers=eve)
    client.post("/v1/cameos", json={"handle": "ben", "policy": "approved",
                                    "approved": ["eve"]}, headers=ben)  # fmt: skip

    def choices(q):
        items = client.get("/v1/cameos", params={"q": q}, headers=ann).json()["items"]
        return {c["handle"]: (c["allowed"], c["reason"]) for c in items}

    got = choices("")
    assert got["ann"] == (True, "your own cameo")
    assert got["eve"] == (
        False,
        "lets only mutuals use their cameo: you don't both follow each other",
    )
    assert got["ben"] == (False, "lets only people they approve use their cameo")
    assert got["mika"][0] is False and "not recorded" in got["mika"][1]
    assert list(choices("E")) == ["eve"]

    profile = client.get("/v1/users/eve", headers=ann).json()
    assert profile["following"] is False and [c["clip_id"] for c in profile["clips"]] == ["by-eve"]
    assert client.get("/v1/users/nobody", headers=ann).status_code == 404
    assert client.put("/v1/me/follows/ann", headers=ann).status_code == 422
    assert client.put("/v1/me/follows/eve", headers=ann).status_code == 204
    assert client.put("/v1/me/follows/ann", headers=eve).status_code == 204
    assert client.get("/v1/users/eve", headers=ann).json()["follows_you"] is True
    assert choices("eve")["eve"] == (True, "allows you")  # mutuals now, at once
    assert client.get("/v1/clips/with-eve", headers=ann).status_code == 200
    assert client.delete("/v1/me/follows/eve", headers=ann).status_code == 204
    assert client.get("/v1/clips/with-eve", headers=ann).status_code == 404
    assert client.get("/v1/users", params={"q": "m"}, headers=ann).json()["items"] == ["mika"]
    assert client.get("/v1/users", params={"q": "m"}).status_code == 401


def test_cameo_reference_is_recorded_replaced_and_private(app_parts, real_mp4_small):
    client, _ = app_parts
    ann, ben = signup(client, "ann"), signup(client, "ben")
    me = client.get("/v1/me/cameo", headers=ann).json()
    assert me == {"handle": "ann", "policy": None, "approved": [], "blocked": [],
                  "reference": None}  # fmt: skip
    assert client.get("/v1/me/cameo/reference", headers=ann).status_code == 404
    bad = client.put("/v1/me/cameo/reference", files={"file": ("me.txt", b"hi")}, headers=ann)
    assert bad.status_code == 422
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    r = client.put("/v1/me/cameo/reference", files={"file": ("me.png", png)}, headers=ann)
    assert r.status_code == 200 and r.json()["kind"] == "image"
    video = real_mp4_small.read_bytes()
    r = client.put("/v1/me/cameo/reference", files={"file": ("me.mp4", video)}, headers=ann)
    assert r.json()["kind"] == "video" and r.json()["size_bytes"] == len(video)
    got = client.get("/v1/me/cameo/reference", headers=ann)
    assert got.content == video and got.headers["content-type"] == "video/mp4"
    assert client.get("/v1/me/cameo/reference", headers=ben).status_code == 404
    client.post("/v1/cameos", json={"handle": "ann", "policy": "approved", "approved": ["ben"]},
                headers=ann)  # fmt: skip
    me = client.get("/v1/me/cameo", headers=ann).json()
    assert me["policy"] == "approved" and me["approved"] == ["ben"]
    assert me["reference"]["media_type"] == "video/mp4"
    assert client.delete("/v1/me/cameo/reference", headers=ann).status_code == 204
    assert client.get("/v1/me/cameo", headers=ann).json()["reference"] is None


def test_made_for_you_lists_gap_fills_with_the_request(app_parts):
    client, _ = app_parts
    ann = signup(client, "ann")
    ingest(client, ROWS)
    state = client.app.state.context.service.users
    user = state.user_by_handle("ann")
    state.add_made_for([(user.id, "by-eve", "kites", "job_1"), (user.id, "not-made", "x", "j2")],
                       time.time())  # fmt: skip
    items = client.get("/v1/me/made-for-you", headers=ann).json()["items"]
    assert [(i["clip"]["clip_id"], i["request"]) for i in items] == [("by-eve", "kites")]
