"""HTTP API: a FastAPI app built by `create_app(settings)`; routes stay thin."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from feed.core.consent import normalise_handle
from feed.core.manifest import ManifestError, parse_entry
from feed.http.deps import AppContext, Ctx
from feed.http.request_body import StrictJSONRoute
from feed.http.routes_creator import router as creator_router
from feed.http.routes_creator import upload_router as creator_upload_router
from feed.http.routes_feed import AUTH_ERRORS, CurrentUser, Viewer
from feed.http.routes_feed import router as feed_router
from feed.http.routes_generation import router as generation_router
from feed.http.schemas import (
    INVALID,
    AppearanceList,
    ClipOut,
    Health,
    SearchResponse,
    search_item,
)
from feed.http.uploads import VIDEO_SUFFIXES, spooled_upload
from feed.services.clips import NOT_YOURS, ClipStore, sweep_temp_files
from feed.services.errors import FeedError, NotFound
from feed.services.feed import FeedService
from feed.services.gaps import GapFiller
from feed.settings import Settings

log = logging.getLogger(__name__)

UPLOAD_OVERHEAD = 1024 * 1024  # multipart framing and form fields beside the video
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_TEXT_CHARS = 2000
VIDEO = {"type": "string", "format": "binary"}
FOREIGN_ID = "a clip_id that is neither one of your clips nor starts with your handle and '-'"
TAKEN_ID = (
    "an id in your namespace that another creator took before it was yours (a catalog id), "
    "or one your own concurrent upload just took"
)


def create_app(
    settings: Settings,
    engine: ClipStore | None = None,
    service: FeedService | None = None,
    filler: GapFiller | None = None,
) -> FastAPI:
    """Build the app; opens the engine, feed service and gap filler from settings unless given.

    With `settings.run_jobs_in_background`, a worker thread runs queued
    generation jobs while the app is up.
    """
    from feed.bootstrap import open_gap_filler

    if engine is None:
        from feed.bootstrap import open_engine

        engine = open_engine(settings)
    if service is None:
        from feed.bootstrap import open_service

        service = open_service(settings, engine)
    if filler is None:
        filler = open_gap_filler(settings, service)
    context = AppContext(settings, engine, service, filler)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweep_temp_files(settings.home, time.time())  # what a killed server left behind
        lease = JobWorkerLease.take(settings.home) if settings.run_jobs_in_background else None
        worker = JobWorker(context) if lease is not None else None
        if worker is not None:
            worker.start()
        yield
        if worker is not None:
            worker.stop()
        if lease is not None:
            lease.release()
        context.clips.save()

    app = FastAPI(
        title="steerfeed",
        version="0.1.0",
        summary="Feed engine for AI-generated short video.",
        lifespan=lifespan,
        # Bodies are counted as they arrive: an oversized one is cut off with 413
        # before it is buffered or parsed. Uploads have their own limit below.
        max_body_size=settings.max_body_bytes,
    )
    app.router.route_class = StrictJSONRoute
    install_error_handlers(app)
    app.state.context = context
    app.include_router(feed_router)
    app.include_router(generation_router)
    app.include_router(creator_router)
    app.include_router(creator_upload_router,
                       max_body_size=settings.max_video_bytes + UPLOAD_OVERHEAD)  # fmt: skip
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The web app: a vertical feed with steering."""
        page = STATIC_DIR / "index.html"
        if not page.is_file():
            raise HTTPException(404, "the web app is not installed")
        return FileResponse(page, media_type="text/html")

    @app.get("/healthz")
    def healthz(ctx: Ctx) -> Health:
        """Liveness, clip count and loaded channels."""
        return Health(
            status="ok", clips=ctx.clips.catalog.count(), channels=list(ctx.clips.channels)
        )

    @app.get("/v1/search", responses=AUTH_ERRORS | INVALID)
    def search(
        ctx: Ctx,
        viewer: Viewer,
        q: Annotated[str, Query(min_length=1, max_length=MAX_TEXT_CHARS)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchResponse:
        """Clips nearest to the query text, across every loaded channel (only those the
        caller may see: send a bearer token to include consent-gated cameo clips)."""
        if not q.strip():
            raise HTTPException(422, "q must not be blank")
        hits = ctx.clips.search(q, limit * 2)
        now = time.time()
        visible = [
            x for x in hits if ctx.service.consent.visible(viewer, x.clip.cameos, x.clip.creator)
        ]
        return SearchResponse(
            items=[search_item(x, ctx.clip_view(viewer, x.clip, now)) for x in visible[:limit]],
            channels=list(ctx.clips.channels),
        )

    @app.get("/v1/clips/{clip_id}", responses=AUTH_ERRORS | {404: {"description": "no such clip"}})
    def get_clip(ctx: Ctx, viewer: Viewer, clip_id: str) -> ClipOut:
        """One clip's metadata (404 also for clips the caller may not see)."""
        clip = ctx.clips.catalog.get(clip_id)
        if clip is None or not ctx.service.consent.visible(viewer, clip.cameos, clip.creator):
            raise HTTPException(404, f"no clip {clip_id!r}")
        return ctx.clip_view(viewer, clip, time.time())

    @app.delete("/v1/clips/{clip_id}", status_code=204,
                responses={401: {}, 403: {"description": "not a co-owner"}, 404: {}})  # fmt: skip
    def delete_clip(ctx: Ctx, user: CurrentUser, clip_id: str) -> Response:
        """Delete a clip: its creator and everyone whose cameo is in it co-own it."""
        clip = ctx.clips.catalog.get(clip_id)
        if clip is None or not ctx.service.consent.visible(user, clip.cameos, clip.creator):
            raise HTTPException(404, f"no clip {clip_id!r}")
        if not ctx.service.consent.co_owns(user, clip):
            raise HTTPException(403, "only the clip's creator and its cameos' owners may delete it")
        ctx.clips.delete(clip_id)
        ctx.clips.save()
        log.info("clip %s deleted by co-owner %s", clip_id, user.handle)
        return Response(status_code=204)

    @app.get("/v1/me/cameo-appearances", responses={401: {}})
    def cameo_appearances(ctx: Ctx, user: CurrentUser) -> AppearanceList:
        """Every clip your likeness is in, and who made it."""
        clips = ctx.clips.catalog.clips_with_cameo(user.handle)
        now = time.time()
        return AppearanceList(items=[ctx.clip_view(user, c, now) for c in clips])

    @app.post(
        "/v1/clips",
        status_code=201,
        max_body_size=settings.max_video_bytes + UPLOAD_OVERHEAD,
        responses={
            401: {"description": "missing or invalid token"},
            403: {"description": "someone else's handle, or a cameo that does not allow you"},
            404: {"description": "remix_of names no clip you may see"},
            409: {"description": TAKEN_ID},
            413: {"description": "video too large"},
            429: {"description": "too many uploads; see Retry-After"},
            503: {"description": "storage unavailable; nothing was stored"},
            **INVALID,
            422: INVALID[422] | {"description": f"invalid request, or {FOREIGN_ID}"},
        },
    )
    def upload_clip(
        ctx: Ctx,
        user: CurrentUser,
        prompt: Annotated[str, Form(max_length=MAX_TEXT_CHARS)],
        creator: Annotated[str | None, Form(max_length=64, description="defaults to you")] = None,
        video: Annotated[UploadFile | None, File()] = None,
        clip_id: Annotated[str | None, Form(max_length=128)] = None,
        caption: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
        tags: Annotated[str, Form(description="comma-separated")] = "",
        cameos: Annotated[str, Form(description="comma-separated handles")] = "",
        remix_of: Annotated[str | None, Form(max_length=128)] = None,
    ) -> ClipOut:
        """Upload a clip as yourself (multipart: optional video file plus metadata fields).

        Cameos named in `cameos` or as @handles in the prompt need their owners' consent.
        A remix keeps the original's cameos: they need consent too, and co-own the remix.

        `clip_id` is optional (the server assigns one). A chosen id must be one of your
        own clips (a re-upload: a new version of it) or start with your handle and '-'
        (`alice-holiday` for @alice); any other id is refused with the same 422 whether it
        is free, another creator's or a clip you may not see, so an upload never tells
        whether a clip you cannot see exists.
        """
        ctx.rate_limit("upload", user.id, time.time())
        if creator is not None and normalise_handle(creator) != user.handle:
            raise HTTPException(403, "you can upload clips only as yourself")
        existing = ctx.clips.catalog.get(clip_id) if clip_id else None
        if clip_id and (existing is None or existing.creator != user.handle):
            # Checked before anything that depends on whether the id exists, so an id
            # outside your namespace gets one answer whether it is free, taken or hidden.
            if not ctx.service.consent.in_id_namespace(user, clip_id):
                raise HTTPException(422, f"clip_id must be one of your clips or start with "
                                         f"'{user.handle}-'")  # fmt: skip
            if existing is not None:
                # Only an id named before your namespace was yours gets here: a catalog
                # id, or one taken before your account existed (by a shorter handle).
                raise HTTPException(409, NOT_YOURS)
        handles = [c for c in (s.strip() for s in cameos.split(",")) if c]
        if existing is not None:
            # A re-upload keeps the stored clip's cameos (they co-own it), so it needs
            # their consent now as much as a new clip would.
            handles += existing.cameos
        try:
            handles = list(
                ctx.service.consent.remix_cameos(user, prompt, handles, remix_of or None)
            )
        except NotFound as exc:
            raise HTTPException(404, f"{exc}; nothing was stored") from exc
        except FeedError as exc:
            raise HTTPException(403, f"{exc}; nothing was stored") from exc
        raw = {
            "id": clip_id or f"up-{uuid.uuid4().hex[:12]}",
            "prompt": prompt,
            "creator": user.handle,
            "caption": caption,
            "tags": [t for t in (s.strip() for s in tags.split(",")) if t],
            "cameos": handles,
        }
        if remix_of:
            raw["remix_of"] = remix_of
        try:
            with spooled_upload(
                video, settings.home / "uploads", settings.max_video_bytes, VIDEO_SUFFIXES
            ) as path:
                if path is not None:
                    raw["video"] = str(path)
                try:
                    entry = parse_entry(raw, 1, None, settings.max_prompt_chars)
                except ManifestError as exc:
                    raise HTTPException(422, str(exc)) from exc
                report = ctx.clips.ingest([entry], keep_creators=True)
        except OSError as exc:  # the home cannot be written: nothing was committed
            log.error("upload by %s not stored: %s", user.handle, exc)
            raise HTTPException(503, "storage is unavailable; nothing was stored",
                                headers={"Retry-After": "30"}) from exc  # fmt: skip
        if report.errors:
            reason = _without_paths(report.errors[0].reason, path, settings.home)
            raise HTTPException(409 if reason == NOT_YOURS else 422, reason)
        clip = ctx.clips.catalog.get(entry.id)
        assert clip is not None
        log.info("uploaded clip %s by %s", clip.id, clip.creator)
        return ctx.clip_view(user, clip, time.time())

    @app.get(
        "/media/{clip_id}",
        response_class=FileResponse,
        responses={
            200: {"description": "the video", "content": {"video/mp4": {"schema": VIDEO}}},
            206: {"description": "the requested byte range",
                  "content": {"video/mp4": {"schema": VIDEO}}},
            404: {"description": "no media"},
            416: {"description": "range not satisfiable"},
            **INVALID,
        },
    )  # fmt: skip
    def media(
        ctx: Ctx, clip_id: str, v: Annotated[str | None, Query(max_length=200)] = None
    ) -> FileResponse:
        """The clip's video, with HTTP range requests. Clips with cameos need the signed
        `v` token their video_url carries; whoever may not see the clip gets 404."""
        clip = ctx.clips.catalog.get(clip_id)
        if clip is None or not clip.video_path:
            raise HTTPException(404, f"no media for clip {clip_id!r}")
        viewer = ctx.service.consent.media_viewer(clip_id, v, time.time())
        if not ctx.service.consent.visible(viewer, clip.cameos, clip.creator):
            raise HTTPException(404, f"no media for clip {clip_id!r}")
        path = (settings.home / clip.video_path).resolve()
        if not path.is_file() or settings.home.resolve() not in path.parents:
            raise HTTPException(404, f"no media for clip {clip_id!r}")
        return FileResponse(path, media_type="video/mp4")

    return app


def install_error_handlers(app: FastAPI) -> None:
    """Answer request errors in the documented shapes, without echoing what was sent.

    Validation errors list where and why (FastAPI's default also echoes the input, and
    an input that cannot be written back as JSON, NaN or a lone surrogate, turned a 422
    into a 500). A body that cannot be parsed at all is a 422 like any invalid input.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = []
        for error in exc.errors():
            msg = error.get("msg", "invalid")
            if error.get("type") == "json_invalid" and error.get("ctx", {}).get("error"):
                msg = f"{msg}: {error['ctx']['error']}"
            issues.append({"loc": [_printable(part) for part in error.get("loc", ())],
                           "msg": _printable(msg),
                           "type": _printable(error.get("type", "value_error"))})  # fmt: skip
        return JSONResponse({"detail": issues}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = 422 if exc.status_code == 400 else exc.status_code
        if status == 405:
            # Starlette names only the first route that matched the path; every method
            # the path answers belongs in Allow.
            allowed = {
                method.upper()
                for path, item in app.openapi()["paths"].items()
                if compile_path(path)[0].match(request.url.path)
                for method in item
            }
            headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
            return JSONResponse({"detail": "method not allowed"}, 405, headers=headers)
        if status in (204, 304):
            return Response(status_code=status, headers=exc.headers)
        return JSONResponse({"detail": _printable(exc.detail)}, status_code=status,
                            headers=exc.headers)  # fmt: skip


def _without_paths(reason: str, upload: Path | None, home: Path) -> str:
    """An ingest error as the uploader may read it: no server paths in it."""
    if upload is not None:
        reason = reason.replace(str(upload), "the video").replace(upload.name, "the video")
    return reason.replace(str(home.resolve()), "<home>").replace(str(home), "<home>")


def _printable(value: object) -> Any:
    """Text that encodes as UTF-8 (lone surrogates replaced); ints stay ints."""
    if isinstance(value, int):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")


class JobWorkerLease:
    """The right to run the job worker for one home, held by one process at a time.

    `serve --workers N` starts N identical processes; the first to take this lock (an
    exclusive `flock` on `<home>/job-worker.lock`) runs jobs, the others serve only. The
    kernel drops the lock when its process dies, so the worker process uvicorn starts in
    its place takes it over. Servers on other hosts run no jobs with `--no-jobs`.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def take(cls, home: Path) -> JobWorkerLease | None:
        """The lease, or None while another process holds it."""
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / "job-worker.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.info("another process runs the generation jobs of %s", home)
            return None
        return cls(fd)

    def release(self) -> None:
        """Give the lease up (closing the file drops the lock)."""
        os.close(self._fd)


class JobWorker:
    """A background thread that runs queued generation jobs while the app is up."""

    def __init__(self, ctx: AppContext, idle_s: float = 1.0) -> None:
        self._ctx = ctx
        self._idle_s = idle_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="steerfeed-jobs", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop after its current job, and wait for it."""
        self._stop.set()
        self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self._ctx.filler.run(max_jobs=1)
            except Exception:  # keep serving; the job table records the failure
                log.exception("generation worker failed")
                ran = []
            if not ran:
                self._stop.wait(self._idle_s)
