"""Property: whatever users, follows (and unfollows), policies, policy changes, uploads,
re-uploads, remixes (uploaded or generated), generation requests and deletions, no path
ever shows a clip to a viewer its cameos' owners did not allow (feed, search, clip detail,
remix lists, profiles, media, events; signed in or anonymous), a likeness goes into a clip
exactly when its owner allows the maker, and a chosen clip id outside the uploader's clips
and namespace answers the same whether that clip exists, is hidden or is free."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feed.core.manifest import parse_entry
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.settings import Settings

USERS = ["ann", "ben", "cat", "dov"]
HANDLES = USERS + ["ghost"]  # ghost never signs up: a reserved account, no consent ever
POLICIES = ["only_me", "approved", "mutuals", "everyone"]


def catalog() -> list[dict]:
    rows = []
    for i, creator in enumerate(USERS):
        rows.append({"id": f"solo-{creator}", "prompt": f"a lighthouse at dusk {i}",
                     "creator": creator})  # fmt: skip
        for j, other in enumerate(HANDLES):
            if other != creator and (i + j) % 2 == 0:
                rows.append({"id": f"{creator}-with-{other}", "creator": creator,
                             "prompt": f"@{other} dancing by a lighthouse {i}{j}",
                             "cameos": [other]})  # fmt: skip
    rows.append({"id": "trio", "creator": "ann", "prompt": "@ben and @cat at a lighthouse",
                 "cameos": ["ben", "cat"]})  # fmt: skip
    return rows


ROWS = catalog()


def expected_visible(row, viewer, consents, follows) -> bool:
    """The rule, written from the product's words rather than from feed/core/consent.py."""
    cameos = row.get("cameos", [])
    if not cameos or viewer == row["creator"] or viewer in cameos:
        return True  # no likeness involved, or the viewer co-owns the clip
    for handle in cameos:
        consent = consents.get(handle)
        if consent is None:
            return False
        policy, approved, blocked = consent
        if viewer is None:
            # Anyone at all could be behind an anonymous request, a blocked person too.
            if policy != "everyone" or blocked:
                return False
            continue
        if viewer in blocked:
            return False
        mutual = handle in follows[viewer] and viewer in follows.get(handle, set())
        if not (policy == "everyone" or (policy == "approved" and viewer in approved)
                or (policy == "mutuals" and mutual)):  # fmt: skip
            return False
    return True


def expected_may_use(handle, user, consents, follows) -> bool:
    """Whether `user` may put `handle`'s likeness in a clip (the product's words again)."""
    if user == handle:
        return True
    consent = consents.get(handle)
    if consent is None:
        return False
    policy, approved, blocked = consent
    mutual = handle in follows[user] and user in follows.get(handle, set())
    return user not in blocked and (
        policy == "everyone" or (policy == "approved" and user in approved)
        or (policy == "mutuals" and mutual)
    )  # fmt: skip


ROW_IDS = [r["id"] for r in ROWS]
# Ids nobody holds: free in a user's namespace, and free in nobody's.
FREE_IDS = [f"{u}-fresh" for u in USERS] + ["lost-1"]
FRESH = itertools.count()
ACTION = st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(USERS), st.sampled_from(POLICIES),
              st.sets(st.sampled_from(HANDLES)), st.sets(st.sampled_from(HANDLES))),
    st.tuples(st.just("follow"), st.sampled_from(USERS), st.sampled_from(USERS)),
    st.tuples(st.just("follow_route"), st.sampled_from(USERS), st.sampled_from(USERS),
              st.booleans()),
    st.tuples(st.just("generate_remix"), st.sampled_from(USERS), st.sampled_from(ROW_IDS)),
    st.tuples(st.just("check"), st.sampled_from([*USERS, None])),
    st.tuples(st.just("remix"), st.sampled_from(USERS), st.sampled_from(ROW_IDS)),
    st.tuples(st.just("upload"), st.sampled_from(USERS), st.sets(st.sampled_from(HANDLES)),
              st.sampled_from(["@{h}", "＠{h}", "x@{h}", "@\u200b{h}"])),
    st.tuples(st.just("reupload"), st.sampled_from(USERS), st.sampled_from(ROW_IDS + FREE_IDS)),
    st.tuples(st.just("generate"), st.sampled_from(USERS), st.sampled_from(HANDLES)),
    st.tuples(st.just("event"), st.sampled_from(USERS), st.sampled_from(ROW_IDS)),
    st.tuples(st.just("delete"), st.sampled_from(USERS), st.sampled_from(ROW_IDS)),
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, min_size=1, max_size=12))
def test_no_path_shows_a_clip_its_viewer_may_not_see(text_encoder, real_mp4_small, actions):
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        engine = ClipStore(home, text_encoder, None)
        app = create_app(
            Settings(home=home, run_jobs_in_background=False, generate_burst=1000,
                     gen_user_daily=1000, gen_global_daily=1000, upload_burst=1000,
                     event_burst=1000),
            engine,
        )  # fmt: skip
        with TestClient(app) as client:
            headers = {}
            for u in USERS:  # people sign up before the catalog names them
                token = client.post("/v1/users", json={"handle": u}).json()["token"]
                headers[u] = {"Authorization": f"Bearer {token}"}
            entries = [r | {"video": str(real_mp4_small)} for r in ROWS]
            engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(entries, 1)])
            consents: dict[str, tuple] = {}
            follows: dict[str, set[str]] = {u: set() for u in USERS}
            rows = {r["id"]: dict(r) for r in ROWS}
            for action in [*actions, ("check", None), *(("check", u) for u in USERS)]:
                run(client, headers, action, rows, consents, follows)


def run(client, headers, action, rows, consents, follows) -> None:
    """Do one action through the API and check its answer against the model."""
    kind = action[0]
    if kind == "consent":
        _, user, policy, approved, blocked = action
        body = {"handle": user, "policy": policy, "approved": sorted(approved),
                "blocked": sorted(blocked)}  # fmt: skip
        assert client.post("/v1/cameos", json=body, headers=headers[user]).is_success
        consents[user] = (policy, approved, blocked)
    elif kind == "follow":
        _, user, creator = action
        event = {"clip_id": f"solo-{creator}", "type": "follow"}
        client.post("/v1/events", json={"events": [event]}, headers=headers[user])
        follows[user].add(creator)
    elif kind == "follow_route":
        _, user, other, on = action
        path = f"/v1/me/follows/{other}"
        r = (client.put if on else client.delete)(path, headers=headers[user])
        assert r.status_code == (422 if user == other else 204), (action, r.text)
        if user != other:
            (follows[user].add if on else follows[user].discard)(other)
    elif kind == "generate_remix":
        _, user, original_id = action
        original = rows.get(original_id)
        body = {"prompt": "my version, at dawn", "remix_of": original_id}
        r = client.post("/v1/generate", json=body, headers=headers[user])
        if original is None or not expected_visible(original, user, consents, follows):
            assert r.status_code == 404, (action, r.text)
        else:
            ok = all(expected_may_use(c, user, consents, follows)
                     for c in original.get("cameos", []))  # fmt: skip
            assert r.status_code == (202 if ok else 403), (action, r.text)
    elif kind == "remix":
        _, user, original_id = action
        original = rows.get(original_id)
        cameos = [] if original is None else original.get("cameos", [])
        new_id = f"{user}-remix-{next(FRESH)}"
        if original is None or not expected_visible(original, user, consents, follows):
            expected = 404
        elif not all(expected_may_use(c, user, consents, follows) for c in cameos):
            expected = 403
        else:
            expected = 201
        form = {"prompt": "my take on it", "clip_id": new_id, "remix_of": original_id}
        r = client.post("/v1/clips", data=form, headers=headers[user])
        assert r.status_code == expected, (action, r.text)
        if expected == 201:
            rows[new_id] = {"id": new_id, "creator": user, "cameos": cameos}
    elif kind == "upload":
        _, user, named, spelling = action
        new_id = f"{user}-up-{next(FRESH)}"
        prompt = " and ".join(spelling.format(h=h) for h in sorted(named)) or "a quiet sea"
        ok = all(expected_may_use(h, user, consents, follows) for h in named)
        r = client.post("/v1/clips", data={"prompt": f"{prompt} at a lighthouse",
                                           "clip_id": new_id}, headers=headers[user])  # fmt: skip
        assert r.status_code == (201 if ok else 403), (action, r.text)
        if ok:
            assert sorted(r.json()["cameos"]) == sorted(named)
            rows[new_id] = {"id": new_id, "creator": user, "cameos": sorted(named)}
    elif kind == "reupload":
        # A new version without any @mention: the stored cameos stay, and need consent.
        # An id that is neither yours nor in your namespace gets one answer, whether
        # it is free, someone else's or hidden from you.
        _, user, clip_id = action
        row = rows.get(clip_id)
        form = {"prompt": "a lighthouse, plain version", "clip_id": clip_id}
        r = client.post("/v1/clips", data=form, headers=headers[user])
        if row is not None and row["creator"] == user:
            ok = all(expected_may_use(h, user, consents, follows) for h in row.get("cameos", []))
            assert r.status_code == (201 if ok else 403), (action, r.text)
            if ok:
                assert sorted(r.json()["cameos"]) == sorted(row.get("cameos", []))
        elif clip_id.startswith(f"{user}-"):
            # Free: only this user creates ids in this namespace here.
            assert row is None and r.status_code == 201, (action, r.text)
            rows[clip_id] = {"id": clip_id, "creator": user, "cameos": []}
        else:
            refused = {"detail": f"clip_id must be one of your clips or start with '{user}-'"}
            assert (r.status_code, r.json()) == (422, refused), (action, r.text)
    elif kind == "generate":
        _, user, handle = action
        r = client.post("/v1/generate", json={"prompt": f"@{handle} surfing at dawn"},
                        headers=headers[user])  # fmt: skip
        ok = expected_may_use(handle, user, consents, follows)
        assert r.status_code == (202 if ok else 403), (action, r.text)
    elif kind == "event":
        _, user, clip_id = action
        row = rows.get(clip_id)
        r = client.post("/v1/events", json={"events": [{"clip_id": clip_id, "type": "view"}]},
                        headers=headers[user])  # fmt: skip
        seen = row is not None and expected_visible(row, user, consents, follows)
        assert r.status_code == (200 if seen else 404), (action, r.text)
    elif kind == "delete":
        _, user, clip_id = action
        row = rows.get(clip_id)
        r = client.delete(f"/v1/clips/{clip_id}", headers=headers[user])
        if row is None or not expected_visible(row, user, consents, follows):
            assert r.status_code == 404, (action, r.text)
        elif user == row["creator"] or user in row.get("cameos", []):
            assert r.status_code == 204, (action, r.text)
            del rows[clip_id]
        else:
            assert r.status_code == 403, (action, r.text)
    else:
        check(client, headers, action[1], rows, consents, follows)


def check(client, headers, viewer, rows, consents, follows) -> None:
    """Everything a viewer can reach, against what they may see."""
    h = headers.get(viewer, {}) if viewer else {}
    allowed = {r["id"] for r in rows.values() if expected_visible(r, viewer, consents, follows)}
    seen = set()
    if viewer:
        page = client.get("/v1/feed", params={"limit": 100}, headers=h).json()
        seen |= {i["clip_id"] for i in page["items"]}
    hits = client.get("/v1/search", params={"q": "lighthouse", "limit": 100},
                      headers=h).json()["items"]  # fmt: skip
    seen |= {i["clip_id"] for i in hits}
    for creator in USERS:
        profile = client.get(f"/v1/users/{creator}", params={"limit": 100}, headers=h).json()
        seen |= {i["clip_id"] for i in profile["clips"]}
    assert seen <= allowed, (viewer, seen - allowed)
    for clip_id, row in rows.items():
        detail = client.get(f"/v1/clips/{clip_id}", headers=h)
        assert (detail.status_code == 200) == (clip_id in allowed), (viewer, clip_id)
        remixes = client.get(f"/v1/clips/{clip_id}/remixes", headers=h)
        assert (remixes.status_code == 200) == (clip_id in allowed), (viewer, clip_id)
        if remixes.status_code == 200:
            listed = {i["clip_id"] for i in remixes.json()["items"]}
            assert listed <= allowed, (viewer, clip_id, listed - allowed)
        plain = client.get(f"/media/{clip_id}").status_code
        assert plain in (200, 404)
        if plain == 200:  # unsigned media: only what anyone at all may see
            assert expected_visible(row, None, consents, follows), (viewer, clip_id)
        if detail.status_code == 200 and detail.json()["video_url"]:
            assert client.get(detail.json()["video_url"]).status_code == 200, (viewer, clip_id)
