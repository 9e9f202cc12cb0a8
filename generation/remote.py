"""Client for remote asynchronous video-generation APIs.

Speaks the common shape of such services: `POST /videos` starts a job (deduplicated by an
`Idempotency-Key` header), `GET /videos/{id}` reports its status and progress, and
`GET /videos/{id}/content` serves the MP4 until the asset expires.

The client owns the unreliable parts so callers do not have to:

- 429, 5xx, connection errors and request timeouts are retried with exponential backoff
  (doubling from `backoff_s`, capped at `max_backoff_s`), honouring `Retry-After`;
  creating a job is safe to retry because the idempotency key makes it one job;
- 401/403 and other 4xx are not retried and raise at once with the service's message;
- `wait` polls until the job finishes and gives up after `max_wait_s` on the injected clock;
- `download` streams to a temp file beside the target, checks the byte count against
  `Content-Length`, retries a truncated body, and renames only a complete file into place.

Every failure is a `RemoteVideoError` subclass with a one-line message. The API key is sent
only in the `Authorization` header: it is kept out of reprs, logs and error messages.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, TypeVar, cast, get_args
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)

JobStatus = Literal["queued", "in_progress", "completed", "failed"]
JOB_STATUSES: frozenset[str] = frozenset(get_args(JobStatus))
FINISHED_STATUSES: frozenset[str] = frozenset({"completed", "failed"})

ENV_URL = "STEERFEED_VIDEO_API_URL"
ENV_KEY = "STEERFEED_VIDEO_API_KEY"
ENV_TIMEOUT = "STEERFEED_VIDEO_API_TIMEOUT_S"

_SIZE = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")
_SERVICE_MESSAGE_MAX_CHARS = 300
_DOWNLOAD_CHUNK_BYTES = 1 << 16

T = TypeVar("T")


# -- requests, jobs, settings ---------------------------------------------------------------


@dataclass(frozen=True)
class VideoRequest:
    """What to make: a prompt, a frame size ("WIDTHxHEIGHT"), a length, optional inputs."""

    prompt: str
    size: str = "288x512"
    seconds: int = 4
    reference_image: bytes | None = None  # raw image bytes; sent base64-encoded
    remix_of: str | None = None  # the remote id of the video to remix

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("prompt must not be empty")
        if not _SIZE.match(self.size):
            raise ValueError(f"size must look like '288x512', got {self.size!r}")
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int):
            raise ValueError(f"seconds must be an int, got {self.seconds!r}")
        if self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if self.reference_image is not None and not self.reference_image:
            raise ValueError("reference_image must not be empty (pass None for no image)")
        if self.remix_of is not None and not self.remix_of.strip():
            raise ValueError("remix_of must not be empty (pass None for a new video)")

    def to_json(self) -> dict[str, Any]:
        """The body of `POST /videos`; optional fields appear only when set."""
        body: dict[str, Any] = {"prompt": self.prompt, "size": self.size, "seconds": self.seconds}
        if self.reference_image is not None:
            body["reference_image"] = base64.b64encode(self.reference_image).decode("ascii")
        if self.remix_of is not None:
            body["remix_of"] = self.remix_of
        return body


@dataclass(frozen=True)
class RemoteJob:
    """The service's view of a job; `expires_at` is epoch seconds when the asset goes away."""

    id: str
    status: JobStatus
    progress: int  # 0-100
    error: str | None
    expires_at: float | None

    @property
    def finished(self) -> bool:
        """Whether the job has reached a final status (completed or failed)."""
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class RemoteSettings:
    """Where the service is, the key, and how patient to be (all times in seconds)."""

    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 30.0  # per HTTP request
    max_retries: int = 4  # extra attempts after the first, per request
    backoff_s: float = 0.5  # first retry delay; doubled each retry
    max_backoff_s: float = 30.0  # cap on the doubled delay; Retry-After is honoured instead
    poll_interval_s: float = 2.0
    max_wait_s: float = 900.0  # a job not finished by then is stuck

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.api_key.strip():
            raise ValueError("api_key must not be empty")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("timeout_s", "poll_interval_s", "max_wait_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("backoff_s", "max_backoff_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RemoteSettings:
        """Settings from STEERFEED_VIDEO_API_URL, _KEY and optional _TIMEOUT_S (os.environ)."""
        source = os.environ if env is None else env
        missing = [name for name in (ENV_URL, ENV_KEY) if not source.get(name, "").strip()]
        if missing:
            raise RemoteConfigError(
                f"remote video API is not configured: set {' and '.join(missing)}"
            )
        base_url = source[ENV_URL].strip()
        if not base_url.startswith(("http://", "https://")):
            raise RemoteConfigError(f"{ENV_URL} must be an http(s):// URL, got {base_url!r}")
        timeout_s = cls.timeout_s
        raw_timeout = source.get(ENV_TIMEOUT, "").strip()
        if raw_timeout:
            try:
                timeout_s = float(raw_timeout)
            except ValueError:
                timeout_s = float("nan")
            if not timeout_s > 0:
                raise RemoteConfigError(
                    f"{ENV_TIMEOUT} must be a positive number of seconds, got {raw_timeout!r}"
                )
        return cls(
            base_url=base_url,
            api_key=source[ENV_KEY].strip(),
            timeout_s=timeout_s,
        )


# -- errors ---------------------------------------------------------------------------------


class RemoteVideoError(RuntimeError):
    """A remote video request failed; the message says what and why in one line."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RemoteConfigError(RemoteVideoError):
    """The client is not configured (a missing or malformed environment variable)."""


class RemoteAuthError(RemoteVideoError):
    """The service rejected the API key (401/403); not retried."""


class RemoteBadRequestError(RemoteVideoError):
    """The service rejected the request (400, 404, 409, 422, ...); not retried."""


class RemoteRateLimitedError(RemoteVideoError):
    """Still rate limited (429) after every retry."""


class RemoteServerError(RemoteVideoError):
    """The service kept failing (5xx) after every retry."""


class RemoteConnectionError(RemoteVideoError):
    """The service could not be reached after every retry."""


class RemoteTimeoutError(RemoteVideoError):
    """Something took too long: an HTTP request (after retries) or a whole job."""


class RemoteJobStuckError(RemoteTimeoutError):
    """A job did not finish within `max_wait_s`."""

    def __init__(self, message: str, *, job: RemoteJob) -> None:
        super().__init__(message)
        self.job = job


class RemoteJobFailedError(RemoteVideoError):
    """The service reports the job failed; `service_message` is its reason."""

    def __init__(self, message: str, *, job: RemoteJob) -> None:
        super().__init__(message)
        self.job = job
        self.service_message = job.error


class RemoteExpiredError(RemoteVideoError):
    """The finished video is no longer served (404/410 on its content); not retried."""


class RemoteTruncatedError(RemoteVideoError):
    """The download kept ending short of its Content-Length after every retry."""


class _Retry(Exception):
    """Raised inside one attempt: the attempt failed in a way worth trying again."""

    def __init__(self, error: RemoteVideoError, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


# -- the client -----------------------------------------------------------------------------


class RemoteVideoClient:
    """Video provider backed by a remote asynchronous video-generation API."""

    name = "remote"

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {settings.api_key}"},
            timeout=httpx.Timeout(settings.timeout_s),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RemoteVideoClient(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._http.close()

    def __enter__(self) -> RemoteVideoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the protocol --------------------------------------------------------------------

    def create(self, request: VideoRequest, idempotency_key: str) -> RemoteJob:
        """Start a job; the same idempotency key always names the same remote job."""
        if not idempotency_key.strip():
            raise ValueError("idempotency_key must not be empty")
        data = self._request_json(
            "POST",
            "videos",
            json=request.to_json(),
            headers={"Idempotency-Key": idempotency_key},
        )
        job = _parse_job(data, "POST videos")
        logger.info("remote video job %s created (%s)", job.id, job.status)
        return job

    def get(self, job_id: str) -> RemoteJob:
        """The job's current status, progress, error and expiry."""
        path = _job_path(job_id)
        return _parse_job(self._request_json("GET", path), f"GET {path}")

    def wait(
        self, job_id: str, on_progress: Callable[[RemoteJob], None] | None = None
    ) -> RemoteJob:
        """Poll until the job is completed or failed and return it (a failed job is returned).

        `on_progress` is called with the first poll and whenever status or progress changes.
        Raises RemoteJobStuckError once `max_wait_s` has passed on the injected clock.
        """
        started = self._clock()
        reported: tuple[str, int] | None = None
        while True:
            job = self.get(job_id)
            if on_progress is not None and (job.status, job.progress) != reported:
                reported = (job.status, job.progress)
                on_progress(job)
            if job.finished:
                logger.info("remote video job %s %s", job.id, job.status)
                return job
            elapsed_s = self._clock() - started
            if elapsed_s >= self.settings.max_wait_s:
                raise RemoteJobStuckError(
                    f"remote video job {job.id} is stuck: still {job.status} at "
                    f"{job.progress}% after {elapsed_s:.0f} s (max_wait_s="
                    f"{self.settings.max_wait_s:g})",
                    job=job,
                )
            logger.debug("remote video job %s %s %d%%", job.id, job.status, job.progress)
            self._sleep(min(self.settings.poll_interval_s, self.settings.max_wait_s - elapsed_s))

    def download(self, job_id: str, out_path: Path) -> int:
        """Fetch the finished video to out_path atomically; return the number of bytes.

        A body shorter than its Content-Length is retried; an expired asset raises
        RemoteExpiredError at once. On failure out_path is left as it was.
        """
        path = f"{_job_path(job_id)}/content"
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> int:
            fd, tmp_name = tempfile.mkstemp(
                dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part"
            )
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as sink:
                    written = self._stream_content(path, job_id, sink)
                os.replace(tmp, out_path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return written

        written = self._with_retries(f"GET {path}", attempt)
        logger.info("remote video job %s downloaded to %s (%d bytes)", job_id, out_path, written)
        return written

    def generate(
        self,
        request: VideoRequest,
        idempotency_key: str,
        out_path: Path,
        *,
        on_progress: Callable[[RemoteJob], None] | None = None,
    ) -> RemoteJob:
        """Create, wait for and download one video; a failed job raises RemoteJobFailedError."""
        job = self.create(request, idempotency_key)
        if not job.finished:
            job = self.wait(job.id, on_progress)
        if job.status == "failed":
            raise RemoteJobFailedError(
                f"remote video job {job.id} failed: {job.error or 'the service gave no reason'}",
                job=job,
            )
        self.download(job.id, out_path)
        return job

    # -- HTTP with retries ---------------------------------------------------------------

    def _with_retries(self, what: str, attempt: Callable[[], T]) -> T:
        """Run attempt, retrying on _Retry with backoff; raise the last error when out."""
        attempts = self.settings.max_retries + 1
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except _Retry as retry:
                if number == attempts:
                    raise retry.error from retry.__cause__
                if retry.retry_after_s is not None:
                    # Honour the service's Retry-After, but never block longer than a job may.
                    delay_s = min(retry.retry_after_s, self.settings.max_wait_s)
                else:
                    delay_s = min(
                        self.settings.backoff_s * 2 ** (number - 1), self.settings.max_backoff_s
                    )
                logger.warning(
                    "%s: %s; retrying in %.1f s (attempt %d of %d)",
                    what,
                    retry.error,
                    delay_s,
                    number + 1,
                    attempts,
                )
                self._sleep(delay_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_json(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        what = f"{method} {path}"

        def attempt() -> dict[str, Any]:
            try:
                response = self._http.request(method, path, json=json, headers=headers)
            except httpx.TransportError as exc:
                raise _Retry(self._transport_error(what, exc)) from exc
            self._check_status(response, what)
            try:
                data = response.json()
            except ValueError as exc:
                raise RemoteVideoError(f"{what}: the service sent a body that is not JSON") from exc
            if not isinstance(data, dict):
                raise RemoteVideoError(f"{what}: expected a JSON object, got {type(data).__name__}")
            return data

        return self._with_retries(what, attempt)

    def _stream_content(self, path: str, job_id: str, sink: IO[bytes]) -> int:
        """One download attempt into sink; returns bytes written or raises (maybe _Retry)."""
        what = f"GET {path}"
        body_started = False
        try:
            with self._http.stream("GET", path, follow_redirects=True) as response:
                if response.status_code in (404, 410):
                    response.read()
                    raise RemoteExpiredError(
                        f"video for remote job {job_id} is no longer available "
                        f"(HTTP {response.status_code}: "
                        f"{self._service_message(response) or 'expired'}); generate it again",
                        status_code=response.status_code,
                    )
                if not response.is_success:
                    response.read()
                    self._check_status(response, what)
                expected = _content_length(response)
                body_started = True
                written = 0
                for chunk in response.iter_bytes(_DOWNLOAD_CHUNK_BYTES):
                    sink.write(chunk)
                    written += len(chunk)
                # Content-Length counts bytes on the wire (before any content decoding).
                received = response.num_bytes_downloaded
        except httpx.TransportError as exc:
            if body_started:
                raise _Retry(
                    RemoteTruncatedError(
                        f"{what}: the download ended early ({type(exc).__name__}: {exc})"
                    )
                ) from exc
            raise _Retry(self._transport_error(what, exc)) from exc
        if expected is not None and received != expected:
            raise _Retry(
                RemoteTruncatedError(
                    f"{what}: received {received} of {expected} bytes (Content-Length)"
                )
            )
        if written == 0:
            raise _Retry(RemoteTruncatedError(f"{what}: the service sent an empty video"))
        return written

    def _check_status(self, response: httpx.Response, what: str) -> None:
        """Return on 2xx; raise _Retry for 429/5xx and the right error for other codes."""
        code = response.status_code
        if response.is_success:
            return
        message = self._service_message(response)
        detail = f"{what}: HTTP {code}" + (f": {message}" if message else "")
        if code == 429:
            raise _Retry(
                RemoteRateLimitedError(f"{detail} (rate limited)", status_code=code),
                _retry_after_s(response),
            )
        if code >= 500:
            raise _Retry(RemoteServerError(detail, status_code=code), _retry_after_s(response))
        if code in (401, 403):
            raise RemoteAuthError(
                f"{detail} (the video API rejected the API key; check {ENV_KEY})",
                status_code=code,
            )
        if 400 <= code < 500:
            raise RemoteBadRequestError(detail, status_code=code)
        raise RemoteVideoError(f"{detail} (unexpected status)", status_code=code)

    def _transport_error(self, what: str, exc: httpx.TransportError) -> RemoteVideoError:
        if isinstance(exc, httpx.TimeoutException):
            return RemoteTimeoutError(
                f"{what}: no answer within {self.settings.timeout_s:g} s ({type(exc).__name__})"
            )
        return RemoteConnectionError(f"{what}: could not reach the video API ({exc})")

    def _service_message(self, response: httpx.Response) -> str:
        """The service's own words from an error body, shortened, with the key scrubbed."""
        try:
            data = response.json()
        except ValueError:
            text = response.text.strip()
        else:
            text = _message_from(data)
        text = " ".join(text.split())[:_SERVICE_MESSAGE_MAX_CHARS]
        return text.replace(self.settings.api_key, "***")


# -- parsing --------------------------------------------------------------------------------


def _job_path(job_id: str) -> str:
    if not job_id or not job_id.strip():
        raise ValueError("job_id must not be empty")
    return f"videos/{quote(job_id, safe='')}"


def _message_from(data: object) -> str:
    """The message in the usual error shapes: {"error": {"message"}}, {"error"}, {"detail"}."""
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if key in data and data[key] is not None:
                return _message_from(data[key])
        return ""
    return "" if data is None else str(data)


def _parse_job(data: dict[str, Any], what: str) -> RemoteJob:
    """A RemoteJob from a job body; a malformed body raises RemoteVideoError."""

    def malformed(why: str) -> NoReturn:
        raise RemoteVideoError(f"{what}: malformed job from the service ({why})")

    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        malformed("no id")
    status = data.get("status")
    if status not in JOB_STATUSES:
        malformed(f"unknown status {status!r}")
    progress = data.get("progress") or 0
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        malformed(f"progress {progress!r}")
    expires_at = data.get("expires_at")
    if expires_at is not None and (
        isinstance(expires_at, bool) or not isinstance(expires_at, int | float)
    ):
        malformed(f"expires_at {expires_at!r}")
    error = _message_from(data.get("error")) or None
    return RemoteJob(
        id=job_id,
        status=cast(JobStatus, status),
        progress=max(0, min(100, int(progress))),
        error=error,
        expires_at=None if expires_at is None else float(expires_at),
    )


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length", "").strip()
    return int(raw) if raw.isdigit() else None


def _retry_after_s(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if it has one."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
