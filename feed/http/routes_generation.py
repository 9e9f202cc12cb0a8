"""Generation routes: gaps (operators), fill jobs, a user's own requests, cameo consent."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path
from pydantic import BaseModel, Field

from feed.core.consent import normalise_handle
from feed.core.types import User
from feed.http.deps import AppContext, Ctx
from feed.http.request_body import StrictJSONRoute
from feed.http.routes_feed import CurrentUser, _http, is_admin
from feed.http.schemas import INVALID
from feed.services.feed import FeedError
from feed.services.gaps import BudgetError
from generation.gaps import Gap
from generation.jobs import Job

router = APIRouter(route_class=StrictJSONRoute)
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {403: {"description": "needs the admin token"}}


class GapOut(BaseModel):
    """A phrase users ask for that the catalog serves thinly."""

    id: str
    phrase: str
    demand: float = Field(description="users waiting (an 'only' counts 1.5)")
    waiting_users: int
    supply: int = Field(description="unseen matching clips for the typical waiting user")
    shortfall: float = Field(description="0..1, how far supply falls short of two pages")
    priority: float = Field(description="demand x shortfall")
    best_match: str | None
    best_z: float


class GapList(BaseModel):
    """Open gaps, highest priority first."""

    items: list[GapOut]


class JobOut(BaseModel):
    """A generation job."""

    id: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    prompt: str
    provider: str
    gap_id: str | None
    phrase: str | None
    attempts: int
    created_at: float
    updated_at: float
    error: str | None = Field(description="why the last attempt failed (a queued job retries)")
    clip_id: str | None = Field(description="the finished clip")
    progress: float = Field(ge=0, le=1, description="how far the job has got, 0..1")
    remix_of: str | None = Field(description="the clip this job remixes")
    seconds: float | None = Field(description="requested length (None: the provider's default)")
    aspect: str | None = Field(description="requested width:height (None: the default)")


class JobList(BaseModel):
    """Jobs queued for a request."""

    jobs: list[JobOut]


class FillIn(BaseModel):
    """How many clips to make for a gap."""

    count: int = Field(default=3, ge=1, le=8)


class GenerateIn(BaseModel):
    """A user's own generation request; @handles name cameos. A remix names the clip it
    remixes and keeps that clip's cameos (their consent is needed too)."""

    prompt: str = Field(min_length=1, max_length=1000)
    remix_of: str | None = Field(default=None, min_length=1, max_length=128)
    seconds: float | None = Field(
        default=None, gt=0, le=60, description="one of the provider's durations_s"
    )
    aspect: Literal["9:16", "16:9", "1:1"] | None = Field(
        default=None, description="one of the provider's aspects"
    )


class GenerationOptions(BaseModel):
    """What the configured provider can make: lengths and shapes, defaults first."""

    provider: str
    durations_s: list[float]
    aspects: list[str]
    max_prompt_chars: int


class CameoUpdate(BaseModel):
    """A new consent policy for your cameo."""

    policy: Literal["only_me", "approved", "mutuals", "everyone"]
    approved: list[str] = Field(default_factory=list, max_length=1000)
    blocked: list[str] = Field(default_factory=list, max_length=1000)


class CameoIn(CameoUpdate):
    """Who may put your likeness in clips: your handle, a policy, accounts by handle."""

    handle: str = Field(min_length=1, max_length=65)


class CameoOut(BaseModel):
    """A cameo's consent as recorded."""

    handle: str
    policy: str
    approved: list[str]
    blocked: list[str]


def gap_out(gap: Gap) -> GapOut:
    """API view of a gap."""
    return GapOut(
        id=gap.id, phrase=gap.phrase, demand=gap.demand, waiting_users=len(gap.waiting_users),
        supply=gap.supply, shortfall=gap.shortfall, priority=round(gap.priority, 4),
        best_match=gap.best_match, best_z=round(gap.best_z, 3),
    )  # fmt: skip


def job_out(job: Job) -> JobOut:
    """API view of a job."""
    return JobOut(
        id=job.id, status=job.status, prompt=job.prompt, provider=job.provider,  # type: ignore[arg-type]
        gap_id=job.gap_id, phrase=job.phrase, attempts=job.attempts, created_at=job.created_at,
        updated_at=job.updated_at, error=job.error, clip_id=job.clip_id,
        progress=round(job.progress, 3), remix_of=job.remix_of, seconds=job.seconds,
        aspect=job.aspect,
    )  # fmt: skip


def budget_refusal(exc: BudgetError) -> HTTPException:
    """429 for a spent budget, saying when a slot frees (and in Retry-After)."""
    wait_s = max(1, round(exc.retry_after_s))
    hours, minutes = divmod(-(-wait_s // 60), 60)
    when = f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"
    return HTTPException(429, f"{exc}; try again in {when}", headers={"Retry-After": str(wait_s)})


def _require_admin(ctx: AppContext, authorization: str | None) -> None:
    if not is_admin(ctx, authorization):
        raise HTTPException(403, "this route needs the admin token")


@router.get("/v1/gaps", responses=ADMIN_ERRORS)
def list_gaps(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> GapList:
    """What users steer towards that the catalog lacks (operators only)."""
    _require_admin(ctx, authorization)
    gaps = ctx.filler.gaps(time.time())
    return GapList(items=[gap_out(g) for g in gaps])


@router.post(
    "/v1/gaps/{gap_id}/fill", status_code=202, responses=ADMIN_ERRORS | {404: {}, 429: {}} | INVALID
)
def fill_gap(
    ctx: Ctx, gap_id: str, body: FillIn | None = None,
    authorization: Annotated[str | None, Header()] = None,
) -> JobList:  # fmt: skip
    """Queue generation jobs for a gap (operators only)."""
    _require_admin(ctx, authorization)
    try:
        result = ctx.filler.fill_gap(gap_id, (body or FillIn()).count, time.time())
    except BudgetError as exc:
        raise budget_refusal(exc) from exc
    except FeedError as exc:
        raise _http(exc) from exc
    return JobList(jobs=[job_out(j) for j in result.jobs])


@router.get("/v1/generate/options")
def generation_options(ctx: Ctx) -> GenerationOptions:
    """The lengths and shapes the configured provider makes (the first of each is the default)."""
    provider = ctx.filler.provider
    return GenerationOptions(provider=provider.name, durations_s=list(provider.durations_s),
                             aspects=list(provider.aspects), max_prompt_chars=1000)  # fmt: skip


@router.post(
    "/v1/generate",
    status_code=202,
    responses=INVALID
    | {
        401: {"description": "missing or invalid token"},
        403: {"description": "a cameo (named or kept from the remixed clip) does not allow you"},
        404: {"description": "remix_of names no clip you may see"},
        429: {"description": "rate limit or daily budget; Retry-After says when to try again"},
    },
)
def generate(ctx: Ctx, user: CurrentUser, body: GenerateIn) -> JobOut:
    """Ask for a clip of your own (or a remix of a clip you may see); it appears on your
    feed and your profile when made. Poll `GET /v1/jobs/{id}` for status and progress."""
    ctx.rate_limit("generate", user.id, time.time())
    try:
        job = ctx.filler.request(user, body.prompt, time.time(), remix_of=body.remix_of,
                                 seconds=body.seconds, aspect=body.aspect)  # fmt: skip
    except BudgetError as exc:
        raise budget_refusal(exc) from exc
    except FeedError as exc:
        raise _http(exc) from exc
    return job_out(job)


@router.get("/v1/me/jobs", responses={401: {"description": "missing or invalid token"}})
def my_jobs(ctx: Ctx, user: CurrentUser) -> JobList:
    """Your generation jobs, newest first (the last 50)."""
    return JobList(jobs=[job_out(j) for j in ctx.filler.jobs.for_requester(user.id, 50)])


@router.get("/v1/jobs/{job_id}", responses={401: {}, 403: {}, 404: {}})
def get_job(ctx: Ctx, job_id: str, authorization: Annotated[str | None, Header()] = None) -> JobOut:
    """A job's status and progress: its requester or an operator may look."""
    job = ctx.filler.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    if not is_admin(ctx, authorization):
        from feed.http.routes_feed import current_user

        user = current_user(ctx, authorization)
        if job.requester != user.id:
            raise HTTPException(403, "that job belongs to someone else")
    return job_out(job)


@router.post("/v1/cameos", status_code=201, responses=INVALID | {401: {}, 403: {}, 404: {}})
def set_cameo(ctx: Ctx, user: CurrentUser, body: CameoIn) -> CameoOut:
    """Record who may use your cameo (your own handle only). `approved` and `blocked` name
    accounts by handle (422 for a handle that is no account); they are kept as those
    accounts, so whoever takes a handle later is not on your lists."""
    return _record_cameo(ctx, user, body.handle, body)


@router.put("/v1/cameos/{handle}", responses=INVALID | {401: {}, 403: {}})
def update_cameo(
    ctx: Ctx, user: CurrentUser, handle: Annotated[str, Path(max_length=65)], body: CameoUpdate
) -> CameoOut:
    """Change who may use and see your cameo; takes effect on the very next request."""
    return _record_cameo(ctx, user, handle, body)


def _record_cameo(ctx: AppContext, user: User, handle: str, body: CameoUpdate) -> CameoOut:
    if normalise_handle(handle) != user.handle:
        raise HTTPException(403, "you can only set consent for your own cameo")
    try:
        consent = ctx.service.consent.set_cameo(user, body.policy, body.approved, body.blocked,
                                        time.time())  # fmt: skip
    except FeedError as exc:
        raise _http(exc) from exc
    names = ctx.service.users.handles_of([*consent.approved, *consent.blocked])
    return CameoOut(handle=user.handle, policy=consent.policy,
                    approved=sorted(names[i] for i in consent.approved if i in names),
                    blocked=sorted(names[i] for i in consent.blocked if i in names))  # fmt: skip
