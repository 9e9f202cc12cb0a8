"""Building the engine from settings: the one place encoders are chosen and loaded."""

from __future__ import annotations

import logging

from embeddings.encoders import (
    ClipEncoder,
    EncoderUnavailable,
    MultilingualEncoder,
    SentenceEncoder,
    TextEncoder,
    VisualEncoder,
)
from feed.core.steering import Reader, load_reader
from feed.services.clips import ClipStore
from feed.services.feed import FeedService
from feed.services.gaps import GapFiller
from feed.settings import Settings
from feed.storage.interfaces import VectorIndexes
from feed.storage.stores import open_store

log = logging.getLogger(__name__)


def load_visual_encoder(settings: Settings) -> VisualEncoder | None:
    """The CLIP encoder, or None (logged once) when its weights cannot be had here."""
    if settings.clip_pretrained is None:
        log.warning("visual channel off: no CLIP weights configured (STEERFEED_CLIP_PRETRAINED)")
        return None
    try:
        return ClipEncoder.load(
            settings.clip_model,
            settings.clip_pretrained,
            config_path=settings.clip_config,
            device=settings.device,
        )
    except EncoderUnavailable as exc:
        log.warning(
            "visual channel off: %s. Ranking uses the text channel only; set"
            " STEERFEED_CLIP_PRETRAINED to a local checkpoint to turn it on.",
            exc,
        )
        return None


def use_one_thread_per_request() -> None:
    """Serve with single-threaded torch, FAISS and BLAS.

    Requests already run in parallel threads; intra-op threads on top of them
    oversubscribe the cores (measured on 2 cores: search p99 32-49 ms with two
    torch threads, 18 ms with one, and 20x worse when another process is busy).
    """
    from threadpoolctl import threadpool_limits

    from embeddings.encoders import limit_torch_threads
    from embeddings.index import set_search_threads

    limit_torch_threads(1)  # torch itself loads only if an encoder needs it
    set_search_threads(1)
    threadpool_limits(1)  # numpy's BLAS, for relevance over the whole catalog


def load_multilingual_encoder(settings: Settings) -> TextEncoder | None:
    """The multilingual text encoder, or None (logged once) when turned off or missing."""
    if not settings.multilingual:
        log.warning("multilingual channel off (STEERFEED_MULTILINGUAL)")
        return None
    try:
        return MultilingualEncoder.load()
    except EncoderUnavailable as exc:
        log.warning("multilingual channel off: %s; Japanese phrases need the glossary", exc)
        return None


def open_engine(settings: Settings) -> ClipStore:
    """Load encoders and open the clip store over the settings' catalog and indexes."""
    text = SentenceEncoder.load(settings.text_model, device=settings.device)
    visual = load_visual_encoder(settings)
    urls = settings.store_urls
    catalog = open_store("catalog", urls.catalog)
    indexes: VectorIndexes | None = None
    try:
        wanted = settings.catalog_vectors
        if wanted is not None and wanted != catalog.vector_format:
            catalog.set_vector_format(wanted)
            log.info("the catalog stores new vectors as %s", wanted)
        indexes = open_store("vectors", urls.vectors)
        return ClipStore(
            settings.home,
            text,
            visual,
            multi_encoder=load_multilingual_encoder(settings),
            frames_per_clip=settings.frames_per_clip,
            max_video_bytes=settings.max_video_bytes,
            catalog=catalog,
            indexes=indexes,
        )
    except BaseException:
        if indexes is not None:
            indexes.close()
        catalog.close()
        raise


def open_service(settings: Settings, clips: ClipStore, reader: Reader | None = None) -> FeedService:
    """The feed service over the settings' user state and event log (the reader loaded,
    or trained once, in the settings' model folder unless given)."""
    reader = reader or load_reader(settings.models_dir)
    return FeedService.open(clips, settings.home, reader, settings.store_urls)


def open_gap_filler(settings: Settings, service: FeedService) -> GapFiller:
    """The gap filler with the configured provider, job table and budgets."""
    from generation.jobs import Budgets
    from generation.providers import ProceduralProvider, RemoteProvider, VideoProvider

    provider: VideoProvider
    if settings.video_provider == "procedural":
        provider = ProceduralProvider()
    elif settings.video_provider == "remote":
        from generation.remote import RemoteSettings, RemoteVideoClient

        provider = RemoteProvider(RemoteVideoClient(RemoteSettings.from_env()))
    else:
        raise ValueError(
            f"unknown video provider {settings.video_provider!r}; use 'procedural' or 'remote'"
        )
    budgets = Budgets(per_user_daily=settings.gen_user_daily,
                      global_daily=settings.gen_global_daily)  # fmt: skip
    return GapFiller(service, open_store("jobs", settings.jobs_store_url), provider,
                     settings.home / "staging", budgets)  # fmt: skip
