"""Cameo consent: no route shows a clip to someone its cameo owners did not allow."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from feed.api import create_app
from feed.consent import CameoConsent, clip_visible, mentioned_cameos
from feed.engine import Engine
from feed.manifest import parse_entry
from feed.settings import Settings


def test_clip_visible_rules():
    alice = CameoConsent("alice", "u_a", "approved", approved=("carl",), blocked=("dan",))
    consents = {"alice": alice}

    def sees(viewer_id, viewer_handle, cameos=("alice",), creator="bob", mutual=None):
        return clip_visible(cameos, creator, viewer_id, viewer_handle, consents,
                            {"zed": "u_z"}, mutual or {})  # fmt: skip

    assert sees("u_a", "alice") and sees("u_b", "bob") and sees("u_c", "carl")
    assert not sees("u_e", "eve") and not sees(None, None)
    assert sees("u_z", "zed", cameos=("zed",))  # no consent on record: owner sees it
    assert not sees("u_c", "carl", cameos=("zed",))  # ... and nobody else but the creator
    assert not sees("u_c", "carl", cameos=("alice", "zed"))  # every co-owner must allow
    assert sees("u_a", "alice", cameos=("alice", "zed"))  # co-owners always see it
    assert sees("u_x", "x", cameos=())
    assert mentioned_cameos("@alice and @bob meet @alice. email a@b.c") == ["alice", "bob"]


PROMPTS = [
    ("c-plain", "a cat on a rooftop, anime style", "bob", []),
    ("c-alice", "@alice dancing on a rooftop, anime style", "bob", ["alice"]),
    ("c-both", "@alice and @zoe skateboarding, anime style", "bob", ["alice", "zoe"]),
]


@pytest.fixture
def client(tmp_path, text_encoder, real_mp4_small):
    home = tmp_path / "home"
    engine = Engine(home, text_encoder, None)
    rows = [{"id": cid, "prompt": p, "creator": c, "cameos": cam, "video": str(real_mp4_small)}
            for cid, p, c, cam in PROMPTS]  # fmt: skip
    rows += [{"id": f"filler-{i}", "prompt": f"a dog number {i} in a park", "creator": f"f{i}"}
             for i in range(30)]  # fmt: skip
    engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(rows, 1)])
    settings = Settings(home=home, run_jobs_in_background=False)
    with TestClient(create_app(settings, engine)) as c:
        yield c


def signup(client, handle):
    token = client.post("/v1/users", json={"handle": handle}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def shown(client, headers):
    """Every clip id a user can reach: feed pages, search, detail, media."""
    ids, cursor = set(), None
    for _ in range(3):
        params = {"limit": 20} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/feed", params=params, headers=headers).json()
        ids |= {i["clip_id"] for i in page["items"]}
        cursor = page["next_cursor"]
    hits = client.get("/v1/search", params={"q": "anime rooftop", "limit": 50}, headers=headers)
    ids |= {i["clip_id"] for i in hits.json()["items"]}
    return ids


def test_consent_is_enforced_on_every_route_and_changes_apply_at_once(client):
    alice, bob, carl = signup(client, "alice"), signup(client, "bob"), signup(client, "carl")
    # No consent on record: only the creator (bob) and alice see c-alice.
    assert "c-alice" not in shown(client, carl)
    assert "c-alice" in shown(client, alice) and "c-alice" in shown(client, bob)
    assert client.get("/v1/clips/c-alice", headers=carl).status_code == 404
    assert client.get("/v1/clips/c-alice").status_code == 404
    assert client.get("/media/c-alice").status_code == 404
    assert client.get("/media/c-plain").status_code == 200

    # A cursor fetched before the consent change...
    old_cursor = client.get("/v1/feed", params={"limit": 2}, headers=carl).json()["next_cursor"]
    client.post("/v1/cameos", json={"handle": "alice", "policy": "everyone"}, headers=alice)
    assert "c-alice" in shown(client, carl)
    assert client.get("/media/c-alice").status_code == 200  # everyone: anonymous too
    # c-both also needs zoe, who has no consent on record
    assert "c-both" not in shown(client, carl)

    client.post("/v1/cameos", json={"handle": "alice", "policy": "approved",
                                    "approved": ["@carl"]}, headers=alice)  # fmt: skip
    detail = client.get("/v1/clips/c-alice", headers=carl).json()
    assert "?v=" in detail["video_url"]
    assert client.get(detail["video_url"]).status_code == 200  # carl's signed URL plays
    assert client.get(detail["video_url"].replace("?v=", "?v=x")).status_code == 404
    assert client.get("/media/c-alice").status_code == 404  # anonymous may not

    client.post("/v1/cameos", json={"handle": "alice", "policy": "approved", "approved": []},
                headers=alice)  # fmt: skip
    page = client.get("/v1/feed", params={"cursor": old_cursor, "limit": 50}, headers=carl).json()
    assert "c-alice" not in {i["clip_id"] for i in page["items"]}
    assert client.get(detail["video_url"]).status_code == 404  # revoked: old URL dies too
    assert "c-alice" not in shown(client, carl)


def test_co_owners_delete_and_see_their_appearances(client):
    alice, bob, carl = signup(client, "alice"), signup(client, "bob"), signup(client, "carl")
    appearances = client.get("/v1/me/cameo-appearances", headers=alice).json()["items"]
    assert {(c["clip_id"], c["creator"]) for c in appearances} == {
        ("c-alice", "bob"), ("c-both", "bob")}  # fmt: skip
    assert client.delete("/v1/clips/c-plain", headers=carl).status_code == 403
    assert client.delete("/v1/clips/c-alice", headers=carl).status_code == 404  # can't see it
    assert client.delete("/v1/clips/c-both", headers=alice).status_code == 204
    assert client.get("/v1/clips/c-both", headers=bob).status_code == 404
    assert client.delete("/v1/clips/c-plain", headers=bob).status_code == 204
    assert client.delete("/v1/clips/c-plain").status_code == 401


def test_put_changes_consent_and_only_the_owner_may(client):
    alice, bob = signup(client, "alice"), signup(client, "bob")
    body = {"policy": "everyone", "approved": [], "blocked": []}
    assert client.put("/v1/cameos/alice", json=body, headers=bob).status_code == 403
    assert client.put("/v1/cameos/alice", json=body, headers=alice).json()["policy"] == "everyone"
    assert client.get("/v1/clips/c-alice").status_code == 200
    body["policy"] = "only_me"
    assert client.put("/v1/cameos/@alice", json=body, headers=alice).status_code == 200
    assert client.get("/v1/clips/c-alice").status_code == 404
    assert client.get("/v1/clips/c-alice", headers=bob).status_code == 200  # the creator


def test_a_remix_keeps_the_originals_cameos_and_their_consent(client):
    alice, bob, carl = signup(client, "alice"), signup(client, "bob"), signup(client, "carl")
    dora = signup(client, "dora")
    body = {"policy": "approved", "approved": ["carl"]}
    assert client.post("/v1/cameos", json={"handle": "alice"} | body, headers=alice).is_success
    # dora may not see c-alice, so she cannot remix it, nor learn it exists.
    r = client.post("/v1/clips", data={"prompt": "my take", "remix_of": "c-alice"}, headers=dora)
    assert r.status_code == 404 and "nothing was stored" in r.json()["detail"]
    # carl is approved: his remix carries alice's cameo, so alice's consent governs it.
    r = client.post("/v1/clips", data={"prompt": "a slower version", "remix_of": "c-alice",
                                       "clip_id": "carl-remix"}, headers=carl)  # fmt: skip
    assert r.status_code == 201 and r.json()["cameos"] == ["alice"]
    assert client.get("/v1/clips/carl-remix", headers=dora).status_code == 404
    assert client.get("/v1/clips/carl-remix", headers=bob).status_code == 404
    assert "carl-remix" not in shown(client, dora)
    assert "carl-remix" in {c["clip_id"] for c in client.get(
        "/v1/me/cameo-appearances", headers=alice).json()["items"]}  # fmt: skip
    assert client.delete("/v1/clips/carl-remix", headers=alice).status_code == 204  # co-owner
    # Revoking carl's approval stops his next remix as well.
    client.put("/v1/cameos/alice", json={"policy": "only_me"}, headers=alice)
    r = client.post("/v1/clips", data={"prompt": "again", "remix_of": "c-alice"}, headers=carl)
    assert r.status_code == 404
    assert client.post("/v1/clips", data={"prompt": "x", "remix_of": "nope"},
                       headers=carl).status_code == 404  # fmt: skip


def test_your_own_likeness_needs_no_consent_on_record(client):
    dora, eli = signup(client, "dora"), signup(client, "eli")
    r = client.post("/v1/clips", data={"prompt": "@dora waving", "clip_id": "dora-1"},
                    headers=dora)  # fmt: skip
    assert r.status_code == 201 and r.json()["cameos"] == ["dora"]
    assert (
        client.post("/v1/generate", json={"prompt": "@dora surfing"}, headers=dora).status_code
        == 202
    )
    # Nobody else may use it, or see it, until dora says so.
    assert client.post("/v1/clips", data={"prompt": "@dora again"}, headers=eli).status_code == 403
    assert client.get("/v1/clips/dora-1", headers=eli).status_code == 404
