"""Creator routes: people and profiles, follows, remixes, clips made for you, and one's
own cameo (its reference and who may use it). Thin over FeedService; consent goes through
the service's one gate like every other path that shows a clip."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from feed.core.consent import normalise_handle
from feed.http.deps import Ctx
from feed.http.request_body import StrictJSONRoute
from feed.http.routes_feed import AUTH_ERRORS, CurrentUser, Viewer, _http
from feed.http.schemas import INVALID, ClipList, ClipOut
from feed.http.uploads import spooled_upload
from feed.services.feed import FeedError
from feed.storage.references import MEDIA_TYPES

router = APIRouter(route_class=StrictJSONRoute)
# Routes taking files: the app includes these with its upload size limit.
upload_router = APIRouter(route_class=StrictJSONRoute)

HandlePath = Annotated[str, Path(max_length=65)]
Prefix = Annotated[
    str, Query(max_length=65, description="the start of a handle (any case, @ optional)")
]
NO_ACCOUNT: dict[int | str, dict[str, Any]] = {404: {"description": "no account with that handle"}}
BINARY = {"type": "string", "format": "binary"}


class CameoChoiceOut(BaseModel):
    """Someone you might name with @ in a prompt."""

    handle: str
    allowed: bool = Field(description="whether their cameo lets you put them in a clip")
    reason: str = Field(description="why not, in words (or why, for allowed ones)")


class CameoChoiceList(BaseModel):
    """People matching a prefix: those who allow you first."""

    items: list[CameoChoiceOut]


class HandleList(BaseModel):
    """Accounts by handle, in order."""

    items: list[str]


class ProfileOut(BaseModel):
    """A person's page: their clips you may see, and how you two follow each other."""

    handle: str
    you: bool = Field(description="this is the caller's own profile")
    following: bool = Field(description="the caller follows them")
    follows_you: bool = Field(description="they follow the caller")
    clips: list[ClipOut]


class MadeForYouOut(BaseModel):
    """A clip made because you asked for it, and what you asked."""

    clip: ClipOut
    request: str = Field(description="the request it answers, in your words")
    made_at: float = Field(description="seconds since the epoch")


class MadeForYouList(BaseModel):
    """Clips made for your requests, newest first."""

    items: list[MadeForYouOut]


class ReferenceOut(BaseModel):
    """Your recorded cameo reference."""

    kind: str = Field(description="image or video")
    media_type: str
    size_bytes: int
    updated_at: float = Field(description="seconds since the epoch")


class MyCameoOut(BaseModel):
    """Your cameo: the reference you recorded and who may use it. `policy` is None while no
    consent is on record (then nobody else may use it)."""

    handle: str
    policy: str | None
    approved: list[str]
    blocked: list[str]
    reference: ReferenceOut | None


@router.get("/v1/users", responses=AUTH_ERRORS | INVALID)
def find_users(
    ctx: Ctx, user: CurrentUser, q: Prefix = "", limit: Annotated[int, Query(ge=1, le=50)] = 10
) -> HandleList:
    """Accounts whose handle starts with `q` (to pick people for approved or blocked lists)."""
    return HandleList(items=ctx.service.users.handles_starting(normalise_handle(q), limit))


@router.get("/v1/cameos", responses=AUTH_ERRORS | INVALID)
def cameo_choices(
    ctx: Ctx, user: CurrentUser, q: Prefix = "", limit: Annotated[int, Query(ge=1, le=50)] = 8
) -> CameoChoiceList:
    """People whose handle starts with `q`, for @mention completion: whether each one's cameo
    lets you put them in a clip, and if not, why (policies as of this request)."""
    choices = ctx.service.consent.cameo_choices(user, q, limit)
    return CameoChoiceList(
        items=[CameoChoiceOut(handle=c.handle, allowed=c.allowed, reason=c.reason) for c in choices]
    )


@router.get("/v1/users/{handle}", responses=AUTH_ERRORS | NO_ACCOUNT | INVALID)
def profile(
    ctx: Ctx, viewer: Viewer, handle: HandlePath,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> ProfileOut:  # fmt: skip
    """A person's clips that you may see, newest first, and whether you follow each other."""
    name = normalise_handle(handle)
    owner = ctx.service.users.user_by_handle(name)
    if owner is None:
        raise HTTPException(404, f"no account @{name}")
    now = time.time()
    clips = [
        ctx.clip_view(viewer, c, now)
        for c in ctx.clips.catalog.clips_by_creator(name, limit * 2)
        if ctx.service.consent.visible(viewer, c.cameos, c.creator)
    ][:limit]
    following = viewer is not None and name in ctx.service.users.follows(viewer.id)
    follows_you = viewer is not None and viewer.handle in ctx.service.users.follows(owner.id)
    return ProfileOut(handle=name, you=viewer is not None and viewer.id == owner.id,
                      following=following, follows_you=follows_you, clips=clips)  # fmt: skip


@router.put("/v1/me/follows/{handle}", status_code=204,
            responses=AUTH_ERRORS | NO_ACCOUNT | INVALID)  # fmt: skip
def follow(ctx: Ctx, user: CurrentUser, handle: HandlePath) -> Response:
    """Follow someone (mutual follows count for cameos set to `mutuals`, at once)."""
    try:
        ctx.service.accounts.follow(user, handle, time.time())
    except FeedError as exc:
        raise _http(exc) from exc
    return Response(status_code=204)


@router.delete("/v1/me/follows/{handle}", status_code=204,
               responses=AUTH_ERRORS | NO_ACCOUNT | INVALID)  # fmt: skip
def unfollow(ctx: Ctx, user: CurrentUser, handle: HandlePath) -> Response:
    """Stop following someone."""
    try:
        ctx.service.accounts.follow(user, handle, time.time(), on=False)
    except FeedError as exc:
        raise _http(exc) from exc
    return Response(status_code=204)


@router.get("/v1/clips/{clip_id}/remixes",
            responses=AUTH_ERRORS | {404: {"description": "no such clip"}} | INVALID)  # fmt: skip
def remixes(
    ctx: Ctx, viewer: Viewer, clip_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> ClipList:
    """Remixes of a clip, newest first (only those you may see; 404 for a clip you may not)."""
    clip = ctx.clips.catalog.get(clip_id)
    if clip is None or not ctx.service.consent.visible(viewer, clip.cameos, clip.creator):
        raise HTTPException(404, f"no clip {clip_id!r}")
    now = time.time()
    found = ctx.clips.catalog.remixes_of(clip_id, limit * 2)
    return ClipList(items=[
        ctx.clip_view(viewer, c, now) for c in found
        if ctx.service.consent.visible(viewer, c.cameos, c.creator)
    ][:limit])  # fmt: skip


@router.get("/v1/me/made-for-you", responses=AUTH_ERRORS | INVALID)
def made_for_you(
    ctx: Ctx, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 30
) -> MadeForYouList:
    """Clips the engine made for what you asked the feed for, with the request each answers."""
    now = time.time()
    return MadeForYouList(items=[
        MadeForYouOut(clip=ctx.clip_view(user, m.clip, now), request=m.request, made_at=m.made_at)
        for m in ctx.service.accounts.made_for_you(user, limit)
    ])  # fmt: skip


@router.get("/v1/me/cameo", responses=AUTH_ERRORS)
def my_cameo(ctx: Ctx, user: CurrentUser) -> MyCameoOut:
    """Your cameo: its reference (if recorded) and who may use it."""
    consent = ctx.service.consent.consents().get(user.handle)
    ref = ctx.references.get(user.id)
    reference = None if ref is None else ReferenceOut(
        kind=ref.kind, media_type=ref.media_type, size_bytes=ref.size_bytes,
        updated_at=ref.updated_at,
    )  # fmt: skip
    if consent is None:
        return MyCameoOut(handle=user.handle, policy=None, approved=[], blocked=[],
                          reference=reference)  # fmt: skip
    names = ctx.service.users.handles_of([*consent.approved, *consent.blocked])
    return MyCameoOut(handle=user.handle, policy=consent.policy,
                      approved=sorted(names[i] for i in consent.approved if i in names),
                      blocked=sorted(names[i] for i in consent.blocked if i in names),
                      reference=reference)  # fmt: skip


@upload_router.put(
    "/v1/me/cameo/reference",
    responses=AUTH_ERRORS
    | {503: {"description": "storage unavailable; nothing was stored"}}
    | INVALID
    | {413: {"description": "file too large"}},
)
def record_reference(
    ctx: Ctx, user: CurrentUser,
    file: Annotated[UploadFile, File(description="a short video or a photo of yourself")],
) -> ReferenceOut:  # fmt: skip
    """Record (or replace) your cameo reference. No liveness check: nothing verifies that
    the person in it is you."""
    settings = ctx.settings
    try:
        with spooled_upload(file, settings.home / "uploads", settings.max_video_bytes,
                            MEDIA_TYPES) as path:  # fmt: skip
            assert path is not None
            if path.stat().st_size == 0:
                raise HTTPException(422, "the file is empty")
            ref = ctx.references.put(user.id, path, path.suffix)
    except OSError as exc:
        raise HTTPException(503, "storage is unavailable; nothing was stored",
                            headers={"Retry-After": "30"}) from exc  # fmt: skip
    return ReferenceOut(kind=ref.kind, media_type=ref.media_type, size_bytes=ref.size_bytes,
                        updated_at=ref.updated_at)  # fmt: skip


@router.get(
    "/v1/me/cameo/reference",
    response_class=FileResponse,
    responses=AUTH_ERRORS | {
        200: {"description": "the reference", "content": {
            t: {"schema": BINARY} for t in sorted(set(MEDIA_TYPES.values()))}},
        404: {"description": "no reference recorded"},
    },
)  # fmt: skip
def get_reference(ctx: Ctx, user: CurrentUser) -> FileResponse:
    """Your cameo reference file (only you may fetch it)."""
    ref = ctx.references.get(user.id)
    if ref is None:
        raise HTTPException(404, "no cameo reference recorded")
    return FileResponse(ref.path, media_type=ref.media_type)


@router.delete("/v1/me/cameo/reference", status_code=204,
               responses=AUTH_ERRORS | {404: {"description": "no reference recorded"}})  # fmt: skip
def delete_reference(ctx: Ctx, user: CurrentUser) -> Response:
    """Delete your cameo reference (who may use your cameo stays as set)."""
    if not ctx.references.delete(user.id):
        raise HTTPException(404, "no cameo reference recorded")
    return Response(status_code=204)
