"""Closing the loop: a user asks for what the catalog lacks, a gap appears, a job fills it
on the procedural provider, and the user's next page carries the new clip."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from support import steering_catalog_entries, steering_catalog_rows

from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.services.gaps import GapFiller
from feed.settings import Settings
from feed.storage.jobs import SqliteJobStore
from generation.jobs import Budgets
from generation.providers import ProceduralProvider
from generation.renderer import RenderSpec

ADMIN = "gap-admin"
ROWS = steering_catalog_rows()


@pytest.fixture
def app_parts(tmp_path, text_encoder, reader):
    home = tmp_path / "home"
    engine = ClipStore(home, text_encoder, None)
    engine.ingest(steering_catalog_entries())
    service = FeedService.open(engine, home, reader)
    filler = GapFiller(service, SqliteJobStore(home / "jobs.sqlite"),
                       ProceduralProvider(RenderSpec(seconds=1.0)), home / "staging",
                       Budgets(per_user_daily=2, global_daily=6))  # fmt: skip
    settings = Settings(home=home, admin_token=ADMIN, run_jobs_in_background=False,
                        generate_burst=10)  # fmt: skip
    with TestClient(create_app(settings, engine, service, filler)) as client:
        yield client, filler


def signup(client, handle):
    token = client.post("/v1/users", json={"handle": handle}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


@pytest.mark.slow
def test_steer_to_a_gap_fill_it_and_see_the_new_clip(app_parts):
    client, filler = app_parts
    h = signup(client, "vic")
    # like a skateboarding-adjacent clip so prompts reflect the user's taste
    client.post("/v1/events", json={"events": [{"clip_id": "photoreal-04", "type": "like"}]},
                headers=h)  # fmt: skip
    steered = client.post("/v1/steer", json={"text": "more volcanoes"}, headers=h).json()
    assert [(a["op"], a["phrase"]) for a in steered["applied"]] == [("boost", "volcanoes")]
    assert client.get("/v1/gaps", headers=h).status_code == 403
    gaps = client.get("/v1/gaps", headers=ADMIN_H).json()["items"]
    gap = next(g for g in gaps if g["phrase"] == "volcanoes")
    assert gap["waiting_users"] == 1 and gap["shortfall"] > 0.5

    r = client.post(f"/v1/gaps/{gap['id']}/fill", json={"count": 2}, headers=ADMIN_H)
    assert r.status_code == 202
    jobs = r.json()["jobs"]
    assert len(jobs) == 2 and all("volcanoes" in j["prompt"].lower() for j in jobs)
    assert any("basketball" in j["prompt"].lower() for j in jobs)  # the user's taste
    assert client.get(f"/v1/jobs/{jobs[0]['id']}", headers=ADMIN_H).json()["status"] == "queued"

    done = filler.run(max_jobs=5)
    assert [j.status for j in done] == ["completed", "completed"]
    job = client.get(f"/v1/jobs/{jobs[0]['id']}", headers=ADMIN_H).json()
    assert job["status"] == "completed" and job["clip_id"] == f"gen-{jobs[0]['id']}"

    page = client.get("/v1/feed", headers=h).json()["items"]
    made = [i for i in page if i["clip_id"].startswith("gen-")]
    assert {i["clip_id"] for i in made} == {f"gen-{j['id']}" for j in jobs}
    assert page[0]["clip_id"].startswith("gen-")
    assert made[0]["reasons"][0] == "made for your request: volcanoes"
    clip = client.get(f"/v1/clips/{made[0]['clip_id']}").json()
    assert clip["provider"] == "procedural" and clip["video_url"]
    assert client.get(clip["video_url"]).status_code == 200
    other = signup(client, "wes")
    other_ids = {i["clip_id"] for i in client.get("/v1/feed", headers=other).json()["items"]}
    assert not any(c.startswith("gen-") and "made" in c for c in other_ids)


def test_cameo_consent_and_budgets(app_parts):
    client, filler = app_parts
    owner, fan = signup(client, "alice"), signup(client, "bob")
    signup(client, "carl")
    r = client.post("/v1/generate", json={"prompt": "@alice dancing in the rain"}, headers=fan)
    assert r.status_code == 403 and "no consent on record" in r.json()["detail"]
    assert filler.jobs.list() == []
    assert client.post("/v1/cameos", json={"handle": "bob", "policy": "everyone"},
                       headers=owner).status_code == 403  # fmt: skip
    client.post("/v1/cameos", json={"handle": "alice", "policy": "approved", "approved": ["@carl"]},
                headers=owner)  # fmt: skip
    r = client.post("/v1/generate", json={"prompt": "@alice dancing in the rain"}, headers=fan)
    assert r.status_code == 403 and "does not allow you" in r.json()["detail"]
    client.post("/v1/cameos", json={"handle": "alice", "policy": "everyone", "blocked": []},
                headers=owner)  # fmt: skip
    first = client.post("/v1/generate", json={"prompt": "@alice dancing in the rain"}, headers=fan)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    job_id = first.json()["id"]
    assert client.get(f"/v1/jobs/{job_id}", headers=fan).status_code == 200
    assert client.get(f"/v1/jobs/{job_id}", headers=owner).status_code == 403
    client.post("/v1/generate", json={"prompt": "a second clip"}, headers=fan)
    over = client.post("/v1/generate", json={"prompt": "a third clip"}, headers=fan)
    assert over.status_code == 429 and "budget" in over.json()["detail"]
    assert len(filler.jobs.list()) == 2
    assert client.post("/v1/generate", json={"prompt": ""}, headers=fan).status_code == 422
    assert client.post("/v1/generate", json={"prompt": "x"}).status_code == 401


def test_fill_refuses_unknown_gaps(app_parts):
    client, _ = app_parts
    r = client.post("/v1/gaps/gap_nope/fill", json={"count": 1}, headers=ADMIN_H)
    assert r.status_code == 404
    assert time.time() > 0


@pytest.mark.slow
def test_a_generated_clip_carries_the_cameos_its_prompt_names(app_parts):
    client, filler = app_parts
    owner, carl, dora = signup(client, "alice"), signup(client, "carl"), signup(client, "dora")
    client.post("/v1/cameos", json={"handle": "alice", "policy": "approved", "approved": ["carl"]},
                headers=owner)  # fmt: skip
    job = client.post("/v1/generate", json={"prompt": "@alice surfing at dawn"}, headers=carl)
    assert job.status_code == 202
    (done,) = filler.run(max_jobs=1)
    clip_id = done.clip_id
    # carl may use alice's likeness; that does not let everyone else see it.
    assert client.get(f"/v1/clips/{clip_id}", headers=carl).json()["cameos"] == ["alice"]
    assert client.get(f"/v1/clips/{clip_id}", headers=owner).status_code == 200
    assert client.get(f"/v1/clips/{clip_id}", headers=dora).status_code == 404
    assert client.get(f"/v1/clips/{clip_id}").status_code == 404


@pytest.mark.slow
def test_gap_filling_never_puts_a_likeness_its_owner_did_not_allow(app_parts):
    """Finding 2: a steering phrase naming a cameo is demand only if that cameo lets the gap
    filler use it, and consent is checked again when the clip is stored."""
    client, filler = app_parts
    alice, vic = signup(client, "alice"), signup(client, "vic")
    only_me = {"handle": "alice", "policy": "only_me"}
    assert client.post("/v1/cameos", json=only_me, headers=alice).status_code == 201
    for text in ["more @alice", "more ＠alice dancing"]:
        assert client.post("/v1/steer", json={"text": text}, headers=vic).status_code == 200
    gaps = client.get("/v1/gaps", headers=ADMIN_H).json()["items"]
    assert not [g for g in gaps if "alice" in g["phrase"]]

    # Allowed to everyone, the gap opens and is filled; revoked before the clip is made,
    # the job fails and no clip shows her.
    client.post("/v1/cameos", json={"handle": "alice", "policy": "everyone"}, headers=alice)
    gaps = client.get("/v1/gaps", headers=ADMIN_H).json()["items"]
    gap = next(g for g in gaps if g["phrase"] == "@alice")
    r = client.post(f"/v1/gaps/{gap['id']}/fill", json={"count": 1}, headers=ADMIN_H)
    assert r.status_code == 202
    client.post("/v1/cameos", json=only_me, headers=alice)
    (job,) = filler.run(max_jobs=1)
    assert job.status != "completed" and "@alice" in (job.error or "")
    assert client.get("/v1/me/cameo-appearances", headers=alice).json()["items"] == []
