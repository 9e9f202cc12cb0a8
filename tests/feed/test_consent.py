"""Cameo consent: no route shows a clip to someone its cameo owners did not allow."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from feed.core.consent import CameoConsent, clip_visible, mentioned_cameos
from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.services.feed import FeedError
from feed.settings import Settings


def test_clip_visible_rules():
    alice = CameoConsent("alice", "u_a", "approved", approved=("u_c",), blocked=("u_d",))
    consents = {"alice": alice}
    owner_of = {"alice": "u_a", "bob": "u_b", "zed": "u_z"}

    def sees(viewer_id, cameos=("alice",), creator="bob", mutual=None):
        return clip_visible(cameos, creator, viewer_id, consents, owner_of, mutual or {})

    assert sees("u_a") and sees("u_b") and sees("u_c")
    assert not sees("u_e") and not sees(None) and not sees("u_d")
    assert sees("u_z", cameos=("zed",))  # no consent on record: owner sees it
    assert not sees("u_c", cameos=("zed",))  # ... and nobody else but the creator
    assert not sees("u_c", cameos=("alice", "zed"))  # every co-owner must allow
    assert sees("u_a", cameos=("alice", "zed"))  # co-owners always see it
    assert sees("u_x", cameos=())
    # Anonymous viewers see a cameo only when it is open to anyone: everyone, no one blocked.
    open_ = {"alice": CameoConsent("alice", "u_a", "everyone")}
    assert clip_visible(("alice",), "bob", None, open_, owner_of, {})
    guarded = {"alice": CameoConsent("alice", "u_a", "everyone", blocked=("u_d",))}
    assert not clip_visible(("alice",), "bob", None, guarded, owner_of, {})
    assert not clip_visible(("alice",), "bob", "u_d", guarded, owner_of, {})
    assert clip_visible(("alice",), "bob", "u_e", guarded, owner_of, {})


def test_mentions_are_found_however_they_are_written():
    """Finding 5: full-width, zero-width, accented, cased and glued mentions all count."""
    for prompt in [
        "＠alice dancing",
        "@\u200balice dancing",
        "x@alice dancing",
        "@ALICE.",
        "@a\u0301lice",
        "＠ａｌｉｃｅ",
        "@\u2060alice",
        "@\u3164alice",
        "hi@Alice",
    ]:
        assert mentioned_cameos(prompt) == ["alice"], prompt
    assert mentioned_cameos("@alice and @bob meet @alice.") == ["alice", "bob"]
    assert mentioned_cameos("a@b.c") == ["b.c"]  # any @handle names someone


PROMPTS = [
    ("c-plain", "a cat on a rooftop, anime style", "bob", []),
    ("c-alice", "@alice dancing on a rooftop, anime style", "bob", ["alice"]),
    ("c-both", "@alice and @zoe skateboarding, anime style", "bob", ["alice", "zoe"]),
]


CAST = ["alice", "bob", "carl", "dora", "eli"]  # signed up before the catalog names them


@pytest.fixture
def client(tmp_path, text_encoder, real_mp4_small):
    home = tmp_path / "home"
    engine = ClipStore(home, text_encoder, None)
    rows = [{"id": cid, "prompt": p, "creator": c, "cameos": cam, "video": str(real_mp4_small)}
            for cid, p, c, cam in PROMPTS]  # fmt: skip
    rows += [{"id": f"filler-{i}", "prompt": f"a dog number {i} in a park", "creator": f"f{i}"}
             for i in range(30)]  # fmt: skip
    settings = Settings(home=home, run_jobs_in_background=False)
    with TestClient(create_app(settings, engine)) as c:
        c.cast = {}
        c.cast = {h: signup(c, h) for h in CAST}
        engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(rows, 1)])
        yield c


def signup(client, handle):
    """Bearer headers of a user (the fixture's cast are signed up already)."""
    if handle in getattr(client, "cast", {}):
        return client.cast[handle]
    r = client.post("/v1/users", json={"handle": handle})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


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


def test_nobody_can_claim_a_handle_the_catalog_or_a_consent_list_names(client):
    """Finding 1: creators and cameos the catalog names are reserved accounts; consent
    lists hold accounts, never free text that whoever signs up next would match."""
    alice, carl = signup(client, "alice"), signup(client, "carl")
    for taken in ["f1", "zoe", "ALICE", "@alice", "@Zoe"]:
        r = client.post("/v1/users", json={"handle": taken})
        assert r.status_code == 409, (taken, r.text)
    for look_alike in ["Ａｌｉｃｅ", "al\u200bice", "zo\u0301e"]:  # outside the published pattern
        assert client.post("/v1/users", json={"handle": look_alike}).status_code == 422
        with pytest.raises(FeedError, match="taken"):  # and the service folds it anyway
            client.app.state.context.service.accounts.create_user(look_alike, 0.0)
    # f1 is a reserved account: nobody holds a token for it, so nobody deletes its clips.
    assert client.delete("/v1/clips/filler-1", headers=carl).status_code == 403
    # Lists name accounts: an unknown handle is refused, not kept for a future sign-up.
    body = {"handle": "alice", "policy": "approved", "approved": ["mallory"]}
    r = client.post("/v1/cameos", json=body, headers=alice)
    assert r.status_code == 422 and "@mallory" in r.json()["detail"]
    body = {"handle": "alice", "policy": "everyone", "blocked": ["nobody-yet"]}
    assert client.post("/v1/cameos", json=body, headers=alice).status_code == 422
    body = {"handle": "ALICE", "policy": "approved", "approved": ["@CARL", "zoe"]}
    r = client.post("/v1/cameos", json=body, headers=alice)
    assert r.status_code == 201 and r.json()["approved"] == ["carl", "zoe"]
    assert client.get("/v1/clips/c-alice", headers=carl).status_code == 200


def test_a_mention_however_written_needs_consent(client):
    """Finding 5: full-width, zero-width and glued mentions cannot slip past the check."""
    carl = signup(client, "carl")
    for prompt in ["＠alice dancing", "@\u200balice dancing", "x@alice dancing", "@ALICE jumps"]:
        r = client.post("/v1/clips", data={"prompt": prompt}, headers=carl)
        assert r.status_code == 403 and "@alice" in r.json()["detail"], prompt
    for prompt in ["＠alice dancing", "x@alice dancing"]:  # within the generation rate limit
        r = client.post("/v1/generate", json={"prompt": prompt}, headers=carl)
        assert r.status_code == 403, prompt
    assert client.get("/healthz").json()["clips"] == 33


def test_a_re_upload_cannot_drop_a_cameo(client, real_mp4_small):
    """Finding 4: re-uploading a clip without its cameo neither frees it nor takes it
    from the cameo's owner."""
    alice, bob, carl = signup(client, "alice"), signup(client, "bob"), signup(client, "carl")
    form = {"prompt": "a rooftop at night, anime style", "clip_id": "c-alice"}
    # alice has no consent on record: a new version of her clip needs her consent too.
    r = client.post("/v1/clips", data=form, headers=bob)
    assert r.status_code == 403 and "@alice" in r.json()["detail"]
    body = {"handle": "alice", "policy": "approved", "approved": ["bob"]}
    assert client.post("/v1/cameos", json=body, headers=alice).status_code == 201
    with real_mp4_small.open("rb") as fh:
        r = client.post("/v1/clips", data=form, headers=bob,
                        files={"video": ("v.mp4", fh, "video/mp4")})  # fmt: skip
    assert r.status_code == 201 and r.json()["cameos"] == ["alice"]
    assert client.get("/v1/clips/c-alice", headers=carl).status_code == 404
    assert client.get("/v1/clips/c-alice").status_code == 404
    assert "c-alice" in {c["clip_id"] for c in client.get(
        "/v1/me/cameo-appearances", headers=alice).json()["items"]}  # fmt: skip
    assert client.delete("/v1/clips/c-alice", headers=alice).status_code == 204


def test_blocked_holds_against_anonymous_requests(client):
    """Finding 3: a blocked person cannot sign out to see the clips. A viewer nobody can
    identify sees a cameo only when its owner allows everyone and blocks nobody."""
    alice, carl, dora = signup(client, "alice"), signup(client, "carl"), signup(client, "dora")
    body = {"handle": "alice", "policy": "everyone", "blocked": ["carl"]}
    assert client.post("/v1/cameos", json=body, headers=alice).status_code == 201

    def reach(headers):
        hits = client.get("/v1/search", params={"q": "rooftop anime", "limit": 50},
                          headers=headers).json()["items"]  # fmt: skip
        return (
            "c-alice" in {h["clip_id"] for h in hits},
            client.get("/v1/clips/c-alice", headers=headers).status_code,
            client.get("/media/c-alice").status_code,
        )

    assert reach({}) == (False, 404, 404)  # anonymous: could be carl
    assert reach(carl) == (False, 404, 404)
    detail = client.get("/v1/clips/c-alice", headers=dora).json()
    assert client.get(detail["video_url"]).status_code == 200  # dora's signed URL
    assert "c-alice" in shown(client, dora) and "c-alice" not in shown(client, carl)
    body["blocked"] = []
    client.post("/v1/cameos", json=body, headers=alice)
    assert reach({}) == (True, 200, 200)


def test_an_upload_cannot_tell_a_hidden_clip_from_a_missing_one(client):
    """Finding 9: a client-chosen clip_id outside your namespace gets one answer whether
    it is free, another creator's, or a clip you may not see; only your own clips and ids
    starting with your handle are yours to name."""
    dora, eli = signup(client, "dora"), signup(client, "eli")
    assert client.get("/v1/clips/c-alice", headers=dora).status_code == 404  # hidden from dora
    answers = []
    for clip_id in ["c-alice", "no-such-clip", "c-plain", "carl-free"]:
        # hidden, missing, someone's visible clip, free in another's namespace
        r = client.post("/v1/clips", data={"prompt": "a wave", "clip_id": clip_id}, headers=dora)
        answers.append((r.status_code, r.json()))
    assert (
        answers
        == [(422, {"detail": "clip_id must be one of your clips or start with 'dora-'"})] * 4
    )
    assert client.get("/healthz").json()["clips"] == 33
    kept = client.get("/v1/clips/c-alice", headers=signup(client, "bob")).json()
    assert kept["creator"] == "bob" and kept["prompt"].startswith("@alice dancing")
    # Your namespace and your own clips are yours.
    r = client.post("/v1/clips", data={"prompt": "a wave", "clip_id": "dora-wave"}, headers=dora)
    assert r.status_code == 201 and r.json()["creator"] == "dora"
    r = client.post("/v1/clips", data={"prompt": "a wave, v2", "clip_id": "dora-wave"},
                    headers=dora)  # fmt: skip
    assert r.status_code == 201 and r.json()["prompt"] == "a wave, v2"
    # A longer handle that is an account owns its own ids: eli cannot name eli-x's, free or not.
    eli_x = signup(client, "eli-x")
    refused = (422, {"detail": "clip_id must be one of your clips or start with 'eli-'"})
    r = client.post("/v1/clips", data={"prompt": "x", "clip_id": "eli-x-1"}, headers=eli)
    assert (r.status_code, r.json()) == refused
    r = client.post("/v1/clips", data={"prompt": "x", "clip_id": "eli-x-1"}, headers=eli_x)
    assert r.status_code == 201
    r = client.post("/v1/clips", data={"prompt": "x", "clip_id": "eli-x-1"}, headers=eli)
    assert (r.status_code, r.json()) == refused
    # Without a clip_id the server names the clip.
    r = client.post("/v1/clips", data={"prompt": "a wave"}, headers=eli)
    assert r.status_code == 201 and r.json()["creator"] == "eli"


def test_no_route_tells_a_hidden_clip_from_a_missing_one(client):
    """Finding 9, every other path: detail, media, delete, events, remix_of on upload and
    generation answer for a clip you may not see exactly as for one that does not exist."""
    dora = signup(client, "dora")

    def shape(r, clip_id):
        body = r.text.replace(clip_id, "<id>") if r.content else ""
        return r.status_code, body

    def same(call):
        hidden, missing = call("c-alice"), call("no-such-clip")
        assert shape(hidden, "c-alice") == shape(missing, "no-such-clip"), (
            hidden.text, missing.text)  # fmt: skip
        return hidden.status_code

    assert same(lambda cid: client.get(f"/v1/clips/{cid}", headers=dora)) == 404
    assert same(lambda cid: client.get(f"/media/{cid}", headers=dora)) == 404
    assert same(lambda cid: client.get(f"/media/{cid}")) == 404
    assert same(lambda cid: client.delete(f"/v1/clips/{cid}", headers=dora)) == 404
    for kind in ["view", "like", "hide", "remix"]:
        events = lambda cid, kind=kind: client.post(  # noqa: E731
            "/v1/events", json={"events": [{"clip_id": cid, "type": kind}]}, headers=dora
        )
        assert same(events) == 404
    remix = lambda cid: client.post(  # noqa: E731
        "/v1/clips", data={"prompt": "my take", "remix_of": cid}, headers=dora
    )
    assert same(remix) == 404
    # Generation remixes only what the caller may see: hidden answers as missing.
    gen = lambda cid: client.post(  # noqa: E731
        "/v1/generate", json={"prompt": "a kite", "remix_of": cid}, headers=dora
    )
    hidden, missing = gen("c-alice"), gen("no-such-clip")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json().keys() == missing.json().keys()
    assert client.get("/healthz").json()["clips"] == 33
