"""API schemas (pydantic), kept apart from the internal dataclasses they show."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from feed.services.clips import SearchResult
from feed.storage.catalog import Clip


class ValidationIssue(BaseModel):
    """One field that failed request validation."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """An error: `detail` is a message, or the fields that failed request validation."""

    detail: str | list[ValidationIssue]


# Routes that refuse requests themselves answer 422 with a message, not FastAPI's
# validation list: declare both shapes so the OpenAPI tells the truth.
INVALID: dict[int | str, dict[str, Any]] = {
    413: {"description": "request body over the server's limit"},
    422: {"model": ErrorOut, "description": "invalid request"},
}


class ClipOut(BaseModel):
    """A clip as the API shows it."""

    clip_id: str
    prompt: str
    caption: str
    creator: str
    tags: list[str]
    cameos: list[str]
    remix_of: str | None
    duration_s: float | None
    created_at: float = Field(description="seconds since the epoch")
    video_url: str | None
    channels: list[str] = Field(description="embedding channels this clip has")
    provider: str | None = Field(description="what made the clip, when known")
    may_remix: bool = Field(
        description="whether the caller may remix it: signed in, and every cameo in it allows"
        " them (a remix keeps them)"
    )


class SearchItem(ClipOut):
    """A search hit: a clip with its fused score and per-channel cosines."""

    score: float
    channel_scores: dict[str, float]


class SearchResponse(BaseModel):
    """Search hits, best first."""

    items: list[SearchItem]
    channels: list[str] = Field(description="channels the query was compared against")


class Health(BaseModel):
    """Liveness and what the engine has loaded."""

    status: str
    clips: int
    channels: list[str]


def clip_out(clip: Clip, media_query: str = "", may_remix: bool = False) -> ClipOut:
    """API view of a catalog clip; `media_query` signs the media URL for one viewer, and
    `may_remix` says whether that viewer may remix it."""
    return ClipOut(
        clip_id=clip.id,
        prompt=clip.prompt,
        caption=clip.caption,
        creator=clip.creator,
        tags=list(clip.tags),
        cameos=list(clip.cameos),
        remix_of=clip.remix_of,
        duration_s=clip.duration_s,
        created_at=clip.created_at,
        video_url=f"/media/{clip.id}{media_query}" if clip.video_path else None,
        channels=list(clip.channels),
        provider=clip.provider,
        may_remix=may_remix,
    )


def search_item(hit: SearchResult, view: ClipOut) -> SearchItem:
    """API view of a search hit, from the clip as its viewer gets it."""
    return SearchItem(
        **view.model_dump(),
        score=hit.score,
        channel_scores=hit.channel_scores,
    )


class UserCreate(BaseModel):
    """Sign-up request."""

    handle: str = Field(
        min_length=1,
        max_length=65,
        pattern=r"^@?[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
        examples=["mika"],
        description="letters, digits, _ . - (stored lower-case; a leading @ is dropped)",
    )


class UserCreated(BaseModel):
    """A new user; the token is shown once and must be sent as `Authorization: Bearer`."""

    user_id: str
    handle: str
    token: str


class SteeringOut(BaseModel):
    """One steering op as the engine understood it."""

    id: str
    op: Literal["boost", "suppress", "exclude", "only", "reset"]
    phrase: str
    weight: float
    scope: Literal["session", "persistent"]
    expires_at: float | None = Field(description="seconds since the epoch")
    description: str = Field(description="the op in words")
    is_global: bool = Field(description="set by an operator for everyone")


class FeedItemOut(ClipOut):
    """A clip on a feed page, with why it is there."""

    score: float
    reasons: list[str]
    sources: list[str] = Field(description="candidate sources that proposed the clip")
    score_parts: dict[str, float]


class FeedResponse(BaseModel):
    """A page of the feed."""

    items: list[FeedItemOut]
    next_cursor: str
    session_id: str
    steering: list[SteeringOut] = Field(description="steering in force for this page")
    channels: list[str]


class EventIn(BaseModel):
    """One event. `ts` is seconds since the epoch (defaults to now); at most seven days
    old and five minutes ahead of the server's clock."""

    clip_id: str = Field(min_length=1, max_length=128)
    type: Literal["impression", "view", "like", "skip", "hide", "share", "remix", "follow"]
    watch_ms: int | None = Field(default=None, ge=0, le=6 * 3600 * 1000)
    ts: float | None = None


class EventsIn(BaseModel):
    """A batch of events."""

    events: list[EventIn] = Field(min_length=1, max_length=500)
    session_id: str | None = Field(default=None, max_length=64)


class EventsAccepted(BaseModel):
    """How many events were stored."""

    accepted: int


class ReadingOp(BaseModel):
    """One op of a reading: what to do to which phrase."""

    op: Literal["boost", "suppress", "exclude", "only", "reset"]
    phrase: str = Field(max_length=500, description="the concept, in the user's words")


class SteerIn(BaseModel):
    """A plain-language instruction, English or Japanese (or both)."""

    text: str = Field(
        min_length=1, max_length=500, examples=["more anime style", "ホラーは見たくない"]
    )
    reading: list[ReadingOp] | None = Field(
        default=None, min_length=1, max_length=8,
        description="apply these ops (one of the readings a needs_confirmation answer offered)"
        " instead of reading `text`, which is kept for the record",
    )  # fmt: skip
    scope: Literal["session", "persistent"] = "persistent"
    ttl_s: float | None = Field(default=None, gt=0, le=365 * 24 * 3600)
    session_id: str | None = Field(default=None, max_length=64)
    is_global: bool = Field(default=False, description="apply to everyone (admin token only)")
    clip_id: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="the clip the user is watching: what \"more like this\" or"
        " 「こういうのは無理」 asks about (its text becomes the phrase)",
    )  # fmt: skip


class ReadingOut(BaseModel):
    """One way to read an instruction, offered when the engine could not tell."""

    ops: list[ReadingOp]
    description: str = Field(description="the reading in words, in the user's language")


class SteerResponse(BaseModel):
    """What the engine understood and applied, or the readings it wants the user to pick from.

    `status` "needs_confirmation" means nothing was applied: send the chosen reading back
    as `reading` with the same text.
    """

    status: Literal["applied", "needs_confirmation"] = "applied"
    applied: list[SteeringOut]
    needs_confirmation: list[ReadingOut] = Field(default_factory=list)


class SteeringList(BaseModel):
    """Steering in force."""

    items: list[SteeringOut]


class AppearanceList(BaseModel):
    """Clips a user's cameo appears in (the creator is on each)."""

    items: list[ClipOut]


class ClipList(BaseModel):
    """Clips, newest first."""

    items: list[ClipOut]
