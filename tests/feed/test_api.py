"""HTTP API: health, search, clip detail, uploads and ranged media."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from support import ANIME, write_manifest

from feed.core.manifest import read_manifest
from feed.http.app import create_app
from feed.settings import Settings


@pytest.fixture
def client(tmp_path, make_engine, labelled_rows, media_dir):
    home = tmp_path / "home"
    engine = make_engine(home)
    rows = labelled_rows + [
        {"id": "car", "prompt": "A man on a phone in a car", "creator": "vqeg",
         "video": "carphone.mp4"}
    ]  # fmt: skip
    engine.ingest(read_manifest(write_manifest(media_dir / "m.jsonl", rows)).entries)
    settings = Settings(home=home, max_video_bytes=2_000_000)
    with TestClient(create_app(settings, engine)) as c:
        yield c


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "clips": 11, "channels": ["text"]}


def test_search_anime_first(client):
    body = client.get("/v1/search", params={"q": "anime style", "limit": 3}).json()
    assert {i["clip_id"] for i in body["items"]} == ANIME
    item = body["items"][0]
    assert {"clip_id", "prompt", "creator", "score", "channels", "channel_scores"} <= item.keys()
    assert body["channels"] == ["text"]


@pytest.mark.parametrize(
    "params", [{}, {"q": ""}, {"q": "   "}, {"q": "x", "limit": 0}, {"q": "x", "limit": "many"},
               {"q": "x" * 5000}]
)  # fmt: skip
def test_search_rejects_bad_queries(client, params):
    assert client.get("/v1/search", params=params).status_code == 422


def test_clip_detail_and_404(client):
    body = client.get("/v1/clips/car").json()
    assert body["clip_id"] == "car" and body["video_url"] == "/media/car"
    assert client.get("/v1/clips/nope").status_code == 404
    assert client.get("/media/anime-1").status_code == 404  # no video


def test_media_supports_range_requests(client):
    full = client.get("/media/car")
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    part = client.get("/media/car", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"


def signup(client, handle):
    token = client.post("/v1/users", json={"handle": handle}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def upload(client, headers, data, name=None, path=None, kind="video/mp4"):
    """POST /v1/clips with form fields and, when given, a video file."""
    if path is None:
        return client.post("/v1/clips", data=data, headers=headers)
    with path.open("rb") as fh:
        return client.post("/v1/clips", data=data, headers=headers,
                           files={"video": (name, fh, kind)})  # fmt: skip


def test_upload_clip(client, real_mp4_small):
    dee, eve = signup(client, "dee"), signup(client, "eve")
    client.post("/v1/cameos", json={"handle": "eve", "policy": "approved", "approved": ["dee"]},
                headers=eve)  # fmt: skip
    with real_mp4_small.open("rb") as fh:
        r = client.post(
            "/v1/clips",
            data={"clip_id": "dee-call", "prompt": "A phone call, watercolor", "creator": "@dee",
                  "tags": "watercolor, phone", "cameos": "@eve"},
            files={"video": ("call.mp4", fh, "video/mp4")},
            headers=dee,
        )  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["creator"] == "dee" and body["cameos"] == ["eve"] and body["tags"] == [
        "watercolor", "phone",
    ]  # fmt: skip
    # eve allows dee only: anonymous callers cannot see the clip or fetch its media
    assert client.get("/media/dee-call").status_code == 404
    assert client.get("/v1/clips/dee-call").status_code == 404
    signed = client.get("/v1/clips/dee-call", headers=dee).json()["video_url"]
    assert client.get(signed).status_code == 200
    assert client.get("/healthz").json()["clips"] == 12


def test_upload_needs_you_and_your_cameos_consent(client):
    dee = signup(client, "dee")
    assert client.post("/v1/clips", data={"prompt": "x"}).status_code == 401
    r = client.post("/v1/clips", data={"prompt": "x", "creator": "zed"}, headers=dee)
    assert r.status_code == 403
    r = client.post("/v1/clips", data={"prompt": "@ghost waving", "cameos": ""}, headers=dee)
    assert r.status_code == 403 and "nothing was stored" in r.json()["detail"]
    # Another creator's id is not yours to overwrite (nor to learn about: see test_consent).
    r = client.post("/v1/clips", data={"prompt": "a wave", "clip_id": "anime-1"}, headers=dee)
    assert r.status_code == 422 and "'dee-'" in r.json()["detail"]
    assert client.get("/healthz").json()["clips"] == 11


def test_upload_rejects_bad_input_and_changes_nothing(client, tmp_path):
    h = signup(client, "dee")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    assert upload(client, h, {"prompt": "x"}, "junk.mp4", junk).status_code == 422
    assert upload(client, h, {"prompt": " "}).status_code == 422
    assert upload(client, h, {"prompt": "x", "creator": "bad handle!"}).status_code == 403
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 2_100_000)
    assert upload(client, h, {"prompt": "x"}, "big.mp4", big).status_code == 413
    exe = upload(client, h, {"prompt": "x"}, "junk.exe", junk, "application/octet-stream")
    assert exe.status_code == 422
    assert client.get("/healthz").json()["clips"] == 11
    assert not list((tmp_path / "home" / "uploads").glob("*"))


def test_oversized_bodies_are_cut_off_with_413_and_change_nothing(client, tmp_path):
    h = signup(client, "bulky")
    padding = "x" * (1024 * 1024 + 10)  # over the 1 MiB limit on every JSON body
    r = client.post("/v1/steer", content=f'{{"text": "more cats", "pad": "{padding}"}}',
                    headers=h | {"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413
    assert client.get("/v1/steer", headers=h).json()["items"] == []
    # Uploads have their own, larger limit: the video's limit plus form overhead. A body
    # over 1 MiB but within it gets through to the video check (junk: 422, not 413).
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\1" * 1_500_000)
    assert upload(client, h, {"prompt": "x"}, "junk.mp4", junk).status_code == 422
    huge = tmp_path / "huge.mp4"
    huge.write_bytes(b"\0" * 3_200_000)
    assert upload(client, h, {"prompt": "x"}, "huge.mp4", huge).status_code == 413
    assert client.get("/healthz").json()["clips"] == 11
    assert not list((tmp_path / "home" / "uploads").glob("*"))


def test_body_limit_comes_from_the_environment():
    assert Settings.from_env({"STEERFEED_MAX_BODY_BYTES": "2048"}).max_body_bytes == 2048
    assert Settings.from_env({}).max_body_bytes == 1024 * 1024


BAD_JSON = [
    b'{"handle": NaN}',
    b'{"handle": Infinity}',
    b'{"handle": -Infinity}',
    b'{"handle": 1e400}',
    b'{"handle": "\\ud800"}',
    b'{"\\udfff": "x"}',
    b'{"handle": "\xff\xfe"}',
    b'{"handle": 1' + b"0" * 5000 + b"}",
    b"[" * 100_000,
]


@pytest.mark.parametrize("body", BAD_JSON, ids=range(len(BAD_JSON)))
def test_json_that_is_not_finite_or_not_unicode_is_a_422_everywhere(client, body):
    """Finding 8: non-finite numbers, lone surrogates and undecodable bodies used to reach
    validation (or SQLite) and come back as 500s with a traceback."""
    h = signup(client, "dee") | {"content-type": "application/json"}
    for method, path in [("POST", "/v1/users"), ("POST", "/v1/steer"), ("POST", "/v1/events"),
                         ("POST", "/v1/cameos"), ("PUT", "/v1/cameos/dee"),
                         ("POST", "/v1/generate")]:  # fmt: skip
        r = client.request(method, path, content=body, headers=h)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert isinstance(r.json()["detail"], list)


def test_non_finite_values_inside_valid_fields_are_422(client):
    h = signup(client, "dee") | {"content-type": "application/json"}
    for path, body in [
        ("/v1/steer", '{"text": "more cats", "ttl_s": NaN}'),
        ("/v1/steer", '{"text": "more \\ud83d cats"}'),
        ("/v1/events", '{"events": [{"clip_id": "anime-1", "type": "view", "ts": Infinity}]}'),
    ]:
        assert client.post(path, content=body, headers=h).status_code == 422, body


def test_a_long_cameo_handle_in_the_path_is_a_4xx(client):
    h = signup(client, "dee")
    for handle in ["a" * 65, "a" * 66, "@" + "a" * 64, "a" * 5000]:
        r = client.put(f"/v1/cameos/{handle}", json={"policy": "everyone"}, headers=h)
        assert 400 <= r.status_code < 500, (len(handle), r.status_code)


def write_video(path, width, height, frames=2, fps=24, codec="mpeg4"):
    """A tiny real video of the given frame size (grey frames, so it compresses to little)."""
    import av
    import numpy as np

    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 128, np.uint8), "rgb24")
        for _ in range(frames):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_media_is_probed_and_limited_before_it_is_decoded(client, tmp_path, monkeypatch):
    """Finding 6: frame size, duration, frame count and container are checked from the
    container; an image renamed .mp4 is not a video."""
    from PIL import Image

    import feed.services.clips

    decoded = []
    real_sample = feed.services.clips.sample_frames
    monkeypatch.setattr(feed.services.clips, "sample_frames",
                        lambda *a, **k: decoded.append(a[0]) or real_sample(*a, **k))  # fmt: skip
    h = signup(client, "dee")
    huge = write_video(tmp_path / "huge.mp4", 4096, 4096)
    assert huge.stat().st_size < 200_000
    r = upload(client, h, {"prompt": "huge"}, "huge.mp4", huge)
    assert r.status_code == 422 and "4096x4096" in r.json()["detail"], r.text
    wide = write_video(tmp_path / "wide.mp4", 2560, 720)
    assert upload(client, h, {"prompt": "wide"}, "wide.mp4", wide).status_code == 422
    long = write_video(tmp_path / "long.mp4", 64, 64, frames=200, fps=1)
    r = upload(client, h, {"prompt": "long"}, "long.mp4", long)
    assert r.status_code == 422 and "lasts" in r.json()["detail"], r.text
    for fmt in ("PNG", "GIF"):
        image = tmp_path / f"image-{fmt}.mp4"
        Image.new("RGB", (64, 64), "red").save(image, format=fmt)
        r = upload(client, h, {"prompt": "an image"}, "pic.mp4", image)
        assert r.status_code == 422 and "not a video container" in r.json()["detail"], r.text
    assert decoded == []  # every refusal came before decoding
    ok = write_video(tmp_path / "ok.mp4", 1080, 1920, frames=3)
    assert upload(client, h, {"prompt": "fine"}, "ok.mp4", ok).status_code == 201
    assert len(decoded) == 1
    assert client.get("/healthz").json()["clips"] == 12


def test_uploads_are_rate_limited_per_user(tmp_path, make_engine):
    home = tmp_path / "home"
    settings = Settings(home=home, upload_per_minute=1, upload_burst=2)
    with TestClient(create_app(settings, make_engine(home))) as c:
        dee, eve = signup(c, "dee"), signup(c, "eve")
        codes = [c.post("/v1/clips", data={"prompt": f"clip {i}"}, headers=dee).status_code
                 for i in range(3)]  # fmt: skip
        assert codes == [201, 201, 429]
        r = c.post("/v1/clips", data={"prompt": "x"}, headers=dee)
        assert int(r.headers["retry-after"]) >= 1
        assert c.post("/v1/clips", data={"prompt": "mine"}, headers=eve).status_code == 201


def test_an_index_that_cannot_be_saved_does_not_fail_a_stored_upload(client, monkeypatch):
    """Finding 9: with the index folder unwritable the upload answered 500 although the
    clip was stored. The catalog is the record: the upload stands, the index catches up."""
    import embeddings.index

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/home/index/text.npz")

    monkeypatch.setattr(embeddings.index.VectorIndex, "save", refuse)
    h = signup(client, "dee")
    r = client.post("/v1/clips", data={"prompt": "a kite over dunes"}, headers=h)
    assert r.status_code == 201, r.text
    assert client.get(f"/v1/clips/{r.json()['clip_id']}").status_code == 200


def test_a_failed_upload_leaves_nothing_and_shows_no_server_path(client, tmp_path, monkeypatch):
    import feed.services.clips

    h = signup(client, "dee")
    home = client.app.state.context.settings.home
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 300)
    r = upload(client, h, {"prompt": "x"}, "holiday.mp4", junk)
    assert r.status_code == 422
    assert str(home) not in r.text and "/tmp" not in r.text and "uploads" not in r.text, r.text

    def unwritable(source, target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(feed.services.clips, "_stage_copy", unwritable)
    ok = tmp_path / "ok.mp4"
    ok.write_bytes(next(home.glob("media/*.mp4")).read_bytes())
    r = upload(client, h, {"prompt": "a kite", "clip_id": "dee-kite-1"}, "ok.mp4", ok)
    assert r.status_code == 503 and str(home) not in r.text
    assert client.get("/v1/clips/dee-kite-1").status_code == 404
    assert client.get("/healthz").json()["clips"] == 11
    assert list((home / "uploads").iterdir()) == []


def test_re_uploading_without_a_video_leaves_no_orphaned_file(client, real_mp4_small):
    h = signup(client, "dee")
    home = client.app.state.context.settings.home
    assert upload(client, h, {"prompt": "v1", "clip_id": "dee-1"}, "a.mov", real_mp4_small)
    assert (home / "media" / "dee-1.mov").is_file()
    r = upload(client, h, {"prompt": "v2", "clip_id": "dee-1"}, "a.mp4", real_mp4_small)
    assert r.status_code == 201 and not (home / "media" / "dee-1.mov").exists()
    r = client.post("/v1/clips", data={"prompt": "v3", "clip_id": "dee-1"}, headers=h)
    assert r.status_code == 201 and r.json()["video_url"] is None
    assert not list((home / "media").glob("dee-1*"))


def test_start_up_removes_stale_temp_files(tmp_path, make_engine):
    import os
    import time as clock

    home = tmp_path / "home"
    engine = make_engine(home)
    stale = [home / "uploads" / "tmpab12.mp4", home / "media" / ".c1.mp4.x1.tmp",
             home / "index" / ".text.npz.y2.tmp", home / "events" / "date=2026-01-01" /
             ".part-z3.tmp", home / "staging" / "gen-j1.mp4"]  # fmt: skip
    fresh = home / "uploads" / "tmpcd34.mp4"
    keep = home / "media" / "c1.mp4"
    for path in [*stale, fresh, keep]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    old = clock.time() - 2 * 3600
    for path in [*stale, keep]:
        os.utime(path, (old, old))
    with TestClient(create_app(Settings(home=home), engine)):
        assert [p for p in stale if p.exists()] == []
        assert fresh.exists() and keep.exists()  # maybe still being written; not temp
