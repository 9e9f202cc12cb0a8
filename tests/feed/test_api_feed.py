"""Feed API: sign-up, auth on every user route, feed, events and steering over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support import steering_catalog_entries, steering_catalog_rows

from feed.core.steering import AmbiguousInstruction, ParsedOp, ReaderVote
from feed.http.app import create_app
from feed.services.clips import ClipStore
from feed.settings import Settings

ADMIN = "admin-secret-token"
ROWS = steering_catalog_rows()


@pytest.fixture(scope="module")
def client(tmp_path_factory, text_encoder, reader):
    # `reader` loads the readers from the run's model cache first; the app then finds
    # them loaded rather than training them into its own home.
    home = tmp_path_factory.mktemp("api-feed")
    engine = ClipStore(home, text_encoder, None)
    engine.ingest(steering_catalog_entries())
    with TestClient(create_app(Settings(home=home, admin_token=ADMIN), engine)) as c:
        yield c


def signup(client, handle):
    r = client.post("/v1/users", json={"handle": handle})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


USER_ROUTES = [
    ("get", "/v1/feed", None),
    ("post", "/v1/events", {"events": [{"clip_id": ROWS[0]["id"], "type": "like"}]}),
    ("post", "/v1/steer", {"text": "more cats"}),
    ("get", "/v1/steer", None),
    ("delete", "/v1/steer/st_000000000000", None),
]


@pytest.mark.parametrize(("method", "path", "body"), USER_ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Basic abc", f"Bearer {ADMIN}"])
def test_every_user_route_needs_a_valid_user_token(client, method, path, body, auth):
    headers = {} if auth is None else {"Authorization": auth}
    kwargs = {"headers": headers} | ({} if body is None else {"json": body})
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == 401, (method, path, auth, r.text)


def test_signup_rules(client):
    signup(client, "ann")
    assert client.post("/v1/users", json={"handle": "ann"}).status_code == 409
    assert client.post("/v1/users", json={"handle": "no spaces"}).status_code == 422
    assert client.post("/v1/users", json={}).status_code == 422


def test_feed_steer_retract_over_http(client):
    h = signup(client, "bea")
    page = client.get("/v1/feed", headers=h).json()
    assert len(page["items"]) == 20 and page["next_cursor"] and page["steering"] == []
    item = page["items"][0]
    assert {"clip_id", "prompt", "creator", "video_url", "score", "reasons"} <= item.keys()
    assert item["reasons"]

    applied = client.post("/v1/steer", json={"text": "もっとアニメ風に"}, headers=h).json()[
        "applied"
    ]
    assert [(a["op"], a["phrase"], a["description"]) for a in applied] == [
        ("boost", "アニメ", "アニメを多めに")
    ]
    steered = client.get("/v1/feed", headers=h).json()
    anime = sum(i["clip_id"].startswith("anime-") for i in steered["items"])
    assert anime >= 16 and steered["steering"][0]["id"] == applied[0]["id"]
    assert client.get("/v1/steer", headers=h).json()["items"][0]["description"] == "アニメを多めに"

    assert client.delete(f"/v1/steer/{applied[0]['id']}", headers=h).status_code == 204
    assert client.get("/v1/steer", headers=h).json()["items"] == []
    assert client.delete(f"/v1/steer/{applied[0]['id']}", headers=h).status_code == 204
    assert client.delete("/v1/steer/st_unknown", headers=h).status_code == 404


def test_cross_user_access_is_refused(client):
    a, b = signup(client, "cy"), signup(client, "dee")
    cursor = client.get("/v1/feed", headers=a).json()["next_cursor"]
    assert client.get("/v1/feed", params={"cursor": cursor}, headers=b).status_code == 403
    sid = client.post("/v1/steer", json={"text": "no horror"}, headers=a).json()["applied"][0]["id"]
    assert client.delete(f"/v1/steer/{sid}", headers=b).status_code == 403
    assert client.get("/v1/steer", headers=b).json()["items"] == []
    session = client.get("/v1/feed", headers=a).json()["session_id"]
    events = {"events": [{"clip_id": ROWS[0]["id"], "type": "view"}], "session_id": session}
    assert client.post("/v1/events", json=events, headers=b).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"events": [{"clip_id": "nope", "type": "like"}]}, 404),
        ({"events": [{"clip_id": ROWS[0]["id"], "type": "superlike"}]}, 422),
        ({"events": [{"clip_id": ROWS[0]["id"], "type": "view", "watch_ms": -5}]}, 422),
        ({"events": [{"clip_id": ROWS[0]["id"], "type": "view", "ts": 9e12}]}, 422),
        ({"events": []}, 422),
        ({"events": [{"clip_id": ROWS[0]["id"], "type": "like"}] * 501}, 422),
        ({"nope": 1}, 422),
    ],
)
def test_bad_events_are_refused_and_change_nothing(client, body, status):
    h = signup(client, f"ev{status}{len(str(body))}")
    before = client.get("/v1/feed", headers=h, params={"limit": 5}).json()
    assert client.post("/v1/events", json=body, headers=h).status_code == status
    again = client.get("/v1/feed", headers=h, params={"limit": 5}).json()
    assert [i["clip_id"] for i in again["items"]] == [i["clip_id"] for i in before["items"]]


@pytest.mark.parametrize(
    "params", [{"cursor": "garbage"}, {"cursor": "x" * 600}, {"limit": 0}, {"limit": 101}]
)
def test_bad_feed_requests(client, params):
    h = signup(client, f"fd{len(str(params))}{params.get('limit', '')}")
    assert client.get("/v1/feed", params=params, headers=h).status_code == 422


@pytest.mark.parametrize("text", ["", "   ", "x" * 501, "もっとぬぬぬぬぬ", "more"])
def test_bad_instructions_are_refused(client, text):
    h = signup(client, f"in{len(text)}{abs(hash(text)) % 1000}")
    r = client.post("/v1/steer", json={"text": text}, headers=h)
    assert r.status_code == 422
    assert client.get("/v1/steer", headers=h).json()["items"] == []


def test_global_steering_needs_the_admin_token(client):
    h = signup(client, "eve")
    body = {"text": "no horror", "is_global": True}
    assert client.post("/v1/steer", json=body, headers=h).status_code == 403
    r = client.post("/v1/steer", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200 and r.json()["applied"][0]["is_global"]
    sid = r.json()["applied"][0]["id"]
    assert client.get("/v1/steer", headers=h).json()["items"][0]["id"] == sid
    assert client.delete(f"/v1/steer/{sid}", headers=h).status_code == 403
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.delete(f"/v1/steer/{sid}", headers=admin).status_code == 204


@pytest.mark.parametrize("text", ["🦈🦈🦈", "?!…", "\u0000\u0007", "　"])
def test_instruction_without_words_is_422_and_changes_nothing(client, text):
    h = signup(client, f"nowords{len(text)}{ord(text[0])}")
    r = client.post("/v1/steer", json={"text": text}, headers=h)
    assert r.status_code == 422
    assert client.get("/v1/steer", headers=h).json()["items"] == []


def test_unclear_instruction_needs_confirmation_then_the_reading_picked_applies(
    client, monkeypatch
):
    service = client.app.state.context.service
    reader = service.reader

    class Unsure:
        glossary = reader.glossary

        def read(self, text):
            readings = ((ParsedOp("boost", "horror", 1.0, text),),
                        (ParsedOp("suppress", "horror", 1.0, text),))  # fmt: skip
            raise AmbiguousInstruction("not sure", readings)

    monkeypatch.setattr(service.steering, "reader", Unsure())
    h = signup(client, "unsure")
    r = client.post("/v1/steer", json={"text": "horror... hmm"}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "needs_confirmation" and body["applied"] == []
    assert [x["description"] for x in body["needs_confirmation"]] == ["more horror", "less horror"]
    assert client.get("/v1/steer", headers=h).json()["items"] == []  # nothing applied
    chosen = body["needs_confirmation"][1]["ops"]
    r = client.post("/v1/steer", json={"text": "horror... hmm", "reading": chosen}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "applied"
    assert [(a["op"], a["phrase"]) for a in r.json()["applied"]] == [("suppress", "horror")]
    bad = {"text": "x", "reading": [{"op": "boost", "phrase": "  "}]}
    assert client.post("/v1/steer", json=bad, headers=h).status_code == 422


def test_readers_that_all_read_differently_offer_each_reading_and_the_one_picked_applies(
    client, monkeypatch
):
    """Three voting readers that split a concept three ways: the answer offers all three
    readings, and applies nothing until one is picked."""
    service = client.app.state.context.service
    glossary = service.reader.glossary

    class Reads:
        def __init__(self, *phrases: str) -> None:
            self.glossary = glossary
            self.phrases = phrases

        def read(self, text):
            return [ParsedOp("boost", p, 1.0, text) for p in self.phrases]

    vote = ReaderVote((Reads("ballet"), Reads("ballet", "dancing"), Reads("ballet dancing")))
    monkeypatch.setattr(service.steering, "reader", vote)
    h = signup(client, "spans")
    r = client.post("/v1/steer", json={"text": "more ballet dancing vids"}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "needs_confirmation" and body["applied"] == []
    offered = [[(o["op"], o["phrase"]) for o in x["ops"]] for x in body["needs_confirmation"]]
    assert offered == [[("boost", "ballet")], [("boost", "ballet"), ("boost", "dancing")],
                       [("boost", "ballet dancing")]]  # fmt: skip
    assert client.get("/v1/steer", headers=h).json()["items"] == []
    chosen = body["needs_confirmation"][2]["ops"]
    r = client.post("/v1/steer", json={"text": "more ballet dancing vids", "reading": chosen},
                    headers=h)  # fmt: skip
    assert [(a["op"], a["phrase"]) for a in r.json()["applied"]] == [("boost", "ballet dancing")]


def test_events_outside_a_sane_window_are_refused_and_batches_are_rate_limited(
    tmp_path, make_engine
):
    """Finding 7: any timestamp from 1970 on was accepted, and batches had no limit."""
    import time as clock

    home = tmp_path / "home"
    engine = make_engine(home)
    engine.ingest(steering_catalog_entries())
    settings = Settings(home=home, event_per_minute=1, event_burst=4)
    with TestClient(create_app(settings, engine)) as c:
        token = c.post("/v1/users", json={"handle": "tess"}).json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        now = clock.time()
        clip = ROWS[0]["id"]
        for ts in [0.0, now - 8 * 86_400, now + 3_600]:
            r = c.post("/v1/events", json={"events": [{"clip_id": clip, "type": "view",
                                                       "ts": ts}]}, headers=h)  # fmt: skip
            assert r.status_code == 422, (ts, r.text)
        days = [{"clip_id": clip, "type": "view", "ts": now - d * 3_600} for d in range(100)]
        assert c.post("/v1/events", json={"events": days}, headers=h).status_code == 200
        assert len(list((home / "events").iterdir())) == 1  # the day it arrived
        r = c.post("/v1/events", json={"events": days[:1]}, headers=h)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_more_like_this_steers_by_the_clip_being_watched(client):
    """An ask about "this" takes the text of the clip the user is watching; without a
    clip, or with one the user cannot see, it is refused and changes nothing."""
    h = signup(client, "fay")
    watched = next(r for r in ROWS if r["id"] == "anime-03")
    look, topic = watched["look"], watched["topic"]
    alike = {r["id"] for r in ROWS if r["look"] == look or r["topic"] == topic}
    plain = client.get("/v1/feed", headers=h).json()["items"]

    r = client.post("/v1/steer", json={"text": "more like this"}, headers=h)
    assert r.status_code == 422 and "clip_id" in r.json()["detail"]
    r = client.post("/v1/steer", json={"text": "more like this", "clip_id": "nope"}, headers=h)
    assert r.status_code == 404
    assert client.get("/v1/steer", headers=h).json()["items"] == []

    body = {"text": "もっとこういうのちょうだい", "clip_id": watched["id"]}
    applied = client.post("/v1/steer", json=body, headers=h).json()["applied"]
    assert [a["op"] for a in applied] == ["boost"]
    assert applied[0]["phrase"].startswith(watched["prompt"])
    assert applied[0]["description"].endswith("」を多めに")
    steered = client.get("/v1/feed", headers=h).json()["items"]
    assert sum(i["clip_id"] in alike for i in steered) > sum(i["clip_id"] in alike for i in plain)

    body = {"text": "never show me this again", "clip_id": watched["id"]}
    applied = client.post("/v1/steer", json=body, headers=h).json()["applied"]
    assert [a["op"] for a in applied] == ["exclude"]
    shown, cursor = [], None
    for _ in range(3):
        page = client.get("/v1/feed", headers=h, params={"cursor": cursor} if cursor else {}).json()
        shown += [i["clip_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert watched["id"] not in shown


def test_the_clip_on_screen_and_a_thing_named_in_one_instruction(client):
    """ "less of this, more cats": less of the clip being watched, more of the cats; without
    the clip the whole instruction is refused, none of it applied."""
    h = signup(client, "gus")
    watched = next(r for r in ROWS if r["id"] == "noir-00")
    r = client.post("/v1/steer", json={"text": "less of this, more cats"}, headers=h)
    assert r.status_code == 422 and "clip_id" in r.json()["detail"]
    assert client.get("/v1/steer", headers=h).json()["items"] == []

    body = {"text": "less of this, more cats", "clip_id": watched["id"]}
    applied = client.post("/v1/steer", json=body, headers=h).json()["applied"]
    assert [(a["op"], a["phrase"]) for a in applied][1:] == [("boost", "cats")]
    assert applied[0]["op"] == "suppress" and applied[0]["phrase"].startswith(watched["prompt"])
