"""Property: whatever users, follows, policies, policy changes and remixes, no response
ever contains a clip its viewer may not see (feed, search, clip detail), and a remix is
stored exactly when its maker may see the original and use every likeness in it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feed.api import create_app
from feed.engine import Engine
from feed.manifest import parse_entry
from feed.settings import Settings

USERS = ["ann", "ben", "cat", "dov"]
HANDLES = USERS + ["ghost"]  # ghost never signs up: no consent can exist for it
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
    """The rule, written from the product's words rather than from feed/consent.py."""
    cameos = row.get("cameos", [])
    if not cameos or viewer == row["creator"] or viewer in cameos:
        return True  # no likeness involved, or the viewer co-owns the clip
    for handle in cameos:
        consent = consents.get(handle)
        if consent is None or viewer is None and consent[0] != "everyone":
            return False
        policy, approved, blocked = consent
        if viewer is not None and viewer in blocked:
            return False
        mutual = viewer is not None and handle in follows[viewer] and viewer in follows[handle]
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


ACTION = st.one_of(
    st.tuples(st.just("consent"), st.sampled_from(USERS), st.sampled_from(POLICIES),
              st.sets(st.sampled_from(USERS)), st.sets(st.sampled_from(USERS))),
    st.tuples(st.just("follow"), st.sampled_from(USERS), st.sampled_from(USERS)),
    st.tuples(st.just("check"), st.sampled_from(USERS + [None])),
    st.tuples(st.just("remix"), st.sampled_from(USERS), st.sampled_from([r["id"] for r in ROWS])),
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, min_size=1, max_size=10))
def test_no_response_contains_a_clip_its_viewer_may_not_see(text_encoder, actions):
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        engine = Engine(home, text_encoder, None)
        engine.ingest([parse_entry(r, i, None, 2000) for i, r in enumerate(ROWS, 1)])
        app = create_app(Settings(home=home, run_jobs_in_background=False), engine)
        with TestClient(app) as client:
            headers = {}
            for u in USERS:
                token = client.post("/v1/users", json={"handle": u}).json()["token"]
                headers[u] = {"Authorization": f"Bearer {token}"}
            consents: dict[str, tuple] = {}
            follows: dict[str, set[str]] = {u: set() for u in USERS}
            rows = {r["id"]: r for r in ROWS}
            for action in [*actions, ("check", None), *(("check", u) for u in USERS)]:
                if action[0] == "consent":
                    _, user, policy, approved, blocked = action
                    body = {"handle": user, "policy": policy, "approved": sorted(approved),
                            "blocked": sorted(blocked)}  # fmt: skip
                    assert client.post("/v1/cameos", json=body, headers=headers[user]).is_success
                    consents[user] = (policy, approved, blocked)
                elif action[0] == "remix":
                    _, user, original_id = action
                    original = rows[original_id]
                    cameos = original.get("cameos", [])
                    remix = {"id": f"remix-{len(rows)}", "creator": user,
                             "prompt": "my take on it", "cameos": cameos}  # fmt: skip
                    if not expected_visible(original, user, consents, follows):
                        expected = 404
                    elif not all(expected_may_use(c, user, consents, follows)
                                 for c in remix["cameos"]):  # fmt: skip
                        expected = 403
                    else:
                        expected = 201
                    form = {"prompt": remix["prompt"], "clip_id": remix["id"],
                            "remix_of": original_id}  # fmt: skip
                    r = client.post("/v1/clips", data=form, headers=headers[user])
                    assert r.status_code == expected, (action, r.text)
                    if expected == 201:
                        rows[remix["id"]] = remix
                elif action[0] == "follow":
                    _, user, creator = action
                    event = {"clip_id": f"solo-{creator}", "type": "follow"}
                    client.post("/v1/events", json={"events": [event]}, headers=headers[user])
                    follows[user].add(creator)
                else:
                    viewer = action[1]
                    h = headers.get(viewer, {}) if viewer else {}
                    allowed = {
                        r["id"]
                        for r in rows.values()
                        if expected_visible(r, viewer, consents, follows)
                    }
                    seen = set()
                    if viewer:
                        page = client.get("/v1/feed", params={"limit": 100}, headers=h).json()
                        seen |= {i["clip_id"] for i in page["items"]}
                    hits = client.get("/v1/search", params={"q": "lighthouse", "limit": 100},
                                      headers=h).json()["items"]  # fmt: skip
                    seen |= {i["clip_id"] for i in hits}
                    assert seen <= allowed, (viewer, seen - allowed)
                    for row in rows.values():
                        status = client.get(f"/v1/clips/{row['id']}", headers=h).status_code
                        assert (status == 200) == (row["id"] in allowed), (viewer, row["id"])
