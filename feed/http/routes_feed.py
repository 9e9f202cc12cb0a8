"""Feed routes: sign-up, the personal feed, events and steering. Thin over FeedService."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response

from feed.core.intent import has_japanese
from feed.core.profile import Event
from feed.core.types import SteeringRecord, User
from feed.http.deps import AppContext, Ctx
from feed.http.request_body import StrictJSONRoute
from feed.http.schemas import (
    INVALID,
    ClipOut,
    EventsAccepted,
    EventsIn,
    FeedItemOut,
    FeedResponse,
    ReadingOp,
    ReadingOut,
    SteerIn,
    SteeringList,
    SteeringOut,
    SteerResponse,
    UserCreate,
    UserCreated,
)
from feed.services.errors import FeedError, Forbidden, NeedsConfirmation, NotFound
from feed.services.intake import FUTURE_SLACK_S
from feed.services.pages import FeedItem
from feed.services.steering import describe, describe_reading

router = APIRouter(route_class=StrictJSONRoute)

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "missing or invalid token"}}
# How old an event a client may still report (apps queue events while offline).
MAX_EVENT_AGE_S = 7 * 86_400.0


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def is_admin(ctx: AppContext, authorization: str | None) -> bool:
    """Whether the header carries the operator token (compared in constant time)."""
    token = _bearer(authorization)
    admin = ctx.settings.admin_token
    return bool(token and admin and hmac.compare_digest(token.encode(), admin.encode()))


def current_user(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> User:
    """The user whose bearer token is on the request; 401 otherwise."""
    token = _bearer(authorization)
    user = ctx.service.users.authenticate(token) if token else None
    if user is None:
        raise HTTPException(401, "missing or invalid bearer token",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def optional_user(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> User | None:
    """The caller if a valid bearer token is sent; None for anonymous callers (401 on a bad one)."""
    if authorization is None:
        return None
    return current_user(ctx, authorization)


Viewer = Annotated[User | None, Depends(optional_user)]


def _http(exc: FeedError) -> HTTPException:
    status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 422
    return HTTPException(status, str(exc))


def steering_out(record: SteeringRecord) -> SteeringOut:
    """API view of a steering op."""
    return SteeringOut(
        id=record.id, op=record.op, phrase=record.phrase, weight=record.weight,  # type: ignore[arg-type]
        scope=record.scope, expires_at=record.expires_at,  # type: ignore[arg-type]
        description=describe(record), is_global=record.user_id is None,
    )  # fmt: skip


def feed_item_out(item: FeedItem, view: ClipOut) -> FeedItemOut:
    """API view of a feed item, from its clip as the viewer gets it."""
    return FeedItemOut(
        **view.model_dump(), score=round(item.score, 4),
        reasons=list(item.reasons), sources=list(item.sources), score_parts=item.parts,
    )  # fmt: skip


@router.post(
    "/v1/users",
    status_code=201,
    responses=INVALID
    | {403: {"description": "sign-up closed"}, 409: {"description": "handle taken"}},
)
def create_user(ctx: Ctx, body: UserCreate) -> UserCreated:
    """Sign up with a handle; the answer carries the bearer token for every other call."""
    if not ctx.settings.open_signup:
        raise HTTPException(403, "open sign-up is disabled on this server")
    try:
        user, token = ctx.service.accounts.create_user(body.handle, time.time())
    except FeedError as exc:
        raise HTTPException(409 if "taken" in str(exc) else 422, str(exc)) from exc
    return UserCreated(user_id=user.id, handle=user.handle, token=token)


@router.get(
    "/v1/feed", responses=AUTH_ERRORS | {403: {"description": "another user's cursor"}} | INVALID
)
def get_feed(
    ctx: Ctx,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> FeedResponse:
    """The next page of the caller's feed; pass `next_cursor` back for the page after."""
    try:
        page = ctx.service.pages.feed_page(user, limit, cursor, time.time())
    except FeedError as exc:
        raise _http(exc) from exc
    now = time.time()
    return FeedResponse(
        items=[feed_item_out(i, ctx.clip_view(user, i.clip, now)) for i in page.items],
        next_cursor=page.next_cursor,
        session_id=page.session_id, steering=[steering_out(r) for r in page.steering],
        channels=list(page.channels),
    )  # fmt: skip


@router.post(
    "/v1/events",
    responses=AUTH_ERRORS
    | {
        403: {"description": "another user's session"},
        404: {"description": "unknown clip"},
        429: {"description": "too many event batches; see Retry-After"},
    }
    | INVALID,
)
def post_events(ctx: Ctx, user: CurrentUser, body: EventsIn) -> EventsAccepted:
    """Record watch events; the next page reflects them."""
    now = time.time()
    ctx.rate_limit("events", user.id, now)
    events = [
        Event(e.clip_id, e.type, now if e.ts is None else e.ts, e.watch_ms) for e in body.events
    ]
    stale = [e.ts for e in events if not now - MAX_EVENT_AGE_S <= e.ts <= now + FUTURE_SLACK_S]
    if stale:
        days = MAX_EVENT_AGE_S // 86_400
        raise HTTPException(
            422, f"event time {stale[0]} is outside the last {days:.0f} days (or in the future)"
        )
    if body.session_id is not None and ctx.service.users.session_owner(body.session_id) != user.id:
        raise HTTPException(403, "that session belongs to someone else")
    try:
        accepted = ctx.service.intake.record_events(user, events, now, body.session_id)
    except FeedError as exc:
        raise _http(exc) from exc
    return EventsAccepted(accepted=accepted)


def _steer_caller(ctx: AppContext, authorization: str | None, is_global: bool) -> User | None:
    if is_global:
        if not is_admin(ctx, authorization):
            raise HTTPException(403, "global steering needs the admin token")
        return None
    return current_user(ctx, authorization)


@router.post(
    "/v1/steer",
    responses=AUTH_ERRORS
    | {403: {"description": "not allowed"}, 429: {"description": "rate limited"}}
    | {404: {"description": "no such clip to steer by"}}
    | INVALID,
)
def post_steer(
    ctx: Ctx, body: SteerIn, authorization: Annotated[str | None, Header()] = None
) -> SteerResponse:
    """Steer the feed in plain words; answers with what was understood."""
    caller = _steer_caller(ctx, authorization, body.is_global)
    ctx.rate_limit("steer", "admin" if caller is None else caller.id, time.time())
    reading = None if body.reading is None else [(r.op, r.phrase) for r in body.reading]
    try:
        records = ctx.service.steering.steer(
            caller, body.text, time.time(), scope=body.scope, ttl_s=body.ttl_s,
            session_id=body.session_id, reading=reading, clip_id=body.clip_id,
        )  # fmt: skip
    except NeedsConfirmation as exc:
        japanese = has_japanese(body.text)
        return SteerResponse(
            status="needs_confirmation", applied=[],
            needs_confirmation=[
                ReadingOut(ops=[ReadingOp(op=o.op, phrase=o.phrase) for o in ops],
                           description=describe_reading(ops, japanese))
                for ops in exc.readings
            ],
        )  # fmt: skip
    except FeedError as exc:
        raise _http(exc) from exc
    return SteerResponse(applied=[steering_out(r) for r in records])


@router.get("/v1/steer", responses=AUTH_ERRORS)
def list_steer(ctx: Ctx, user: CurrentUser) -> SteeringList:
    """Steering in force for the caller (their own and global), in words."""
    records = ctx.service.steering.active_steering(user, time.time())
    return SteeringList(items=[steering_out(r) for r in records])


@router.delete(
    "/v1/steer/{steering_id}",
    status_code=204,
    responses=AUTH_ERRORS | {403: {"description": "not yours"}, 404: {"description": "unknown"}},
)
def delete_steer(
    ctx: Ctx, steering_id: str, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Retract one steering op; the next page reverts."""
    record = ctx.service.users.get_steering(steering_id)
    caller = _steer_caller(ctx, authorization, record is not None and record.user_id is None)
    try:
        ctx.service.steering.retract(caller, steering_id, time.time())
    except FeedError as exc:
        raise _http(exc) from exc
    return Response(status_code=204)
