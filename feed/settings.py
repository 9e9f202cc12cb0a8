"""ClipStore settings: where state lives and which models to load."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from embeddings.encoders import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from feed.storage.catalog import vector_width
from feed.storage.stores import CATALOG_FILE, EVENTS_DIR, INDEX_DIR, JOBS_FILE, StoreURLs

OFF_WORDS = {"", "off", "none", "false", "0"}
# The stores STEERFEED_DATABASE_URL (or --database-url) puts in one database.
DATABASE_STORES = ("catalog_url", "state_url", "jobs_url")


@dataclass(frozen=True)
class Settings:
    """Everything the composition root needs; built once, passed down.

    `clip_pretrained` is an open_clip pretrained tag or a checkpoint path;
    None turns the visual channel off. `text_model` None means the packaged
    all-MiniLM-L6-v2.
    """

    home: Path = Path("var")
    text_model: str | None = None
    multilingual: bool = True
    model_cache: Path | None = None
    clip_model: str = DEFAULT_CLIP_MODEL
    clip_pretrained: str | None = DEFAULT_CLIP_PRETRAINED
    clip_config: Path | None = None
    device: str = "cpu"
    frames_per_clip: int = 8
    max_video_bytes: int = 200 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024  # every request body but uploads
    max_prompt_chars: int = 2000
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = None
    open_signup: bool = True
    video_provider: str = "procedural"
    gen_user_daily: int = 10
    gen_global_daily: int = 200
    run_jobs_in_background: bool = True
    steer_per_minute: float = 30.0
    steer_burst: int = 10
    generate_per_minute: float = 6.0
    generate_burst: int = 3
    upload_per_minute: float = 12.0
    upload_burst: int = 6
    event_per_minute: float = 120.0  # batches of up to 500 events each
    event_burst: int = 60
    # Where each store lives, by URL (None: the embedded default under `home`).
    catalog_url: str | None = None
    state_url: str | None = None
    vectors_url: str | None = None
    events_url: str | None = None
    cache_url: str | None = None
    jobs_url: str | None = None  # generation jobs (None: `jobs.sqlite` under `home`)
    # The form the catalog stores new vectors in, "float32" or "float16" (half the disk);
    # None leaves the catalog's own setting as it is (float32 unless set).
    catalog_vectors: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then STEERFEED_* variables, then explicit overrides (None ones ignored)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if "STEERFEED_HOME" in env:
            values["home"] = Path(env["STEERFEED_HOME"])
        if "STEERFEED_TEXT_MODEL" in env:
            values["text_model"] = env["STEERFEED_TEXT_MODEL"] or None
        if "STEERFEED_MULTILINGUAL" in env:
            values["multilingual"] = env["STEERFEED_MULTILINGUAL"].strip().lower() not in OFF_WORDS
        if env.get("STEERFEED_MODEL_CACHE"):
            values["model_cache"] = Path(env["STEERFEED_MODEL_CACHE"])
        if "STEERFEED_CLIP_MODEL" in env:
            values["clip_model"] = env["STEERFEED_CLIP_MODEL"]
        if "STEERFEED_CLIP_PRETRAINED" in env:
            raw = env["STEERFEED_CLIP_PRETRAINED"]
            values["clip_pretrained"] = None if raw.strip().lower() in OFF_WORDS else raw
        if env.get("STEERFEED_CLIP_CONFIG"):
            values["clip_config"] = Path(env["STEERFEED_CLIP_CONFIG"])
        if "STEERFEED_DEVICE" in env:
            values["device"] = env["STEERFEED_DEVICE"]
        if env.get("STEERFEED_ADMIN_TOKEN"):
            values["admin_token"] = env["STEERFEED_ADMIN_TOKEN"]
        if env.get("STEERFEED_VIDEO_PROVIDER"):
            values["video_provider"] = env["STEERFEED_VIDEO_PROVIDER"]
        for key, name in (("gen_user_daily", "STEERFEED_GEN_USER_DAILY"),
                          ("gen_global_daily", "STEERFEED_GEN_GLOBAL_DAILY"),
                          ("max_body_bytes", "STEERFEED_MAX_BODY_BYTES")):  # fmt: skip
            if env.get(name):
                values[key] = int(env[name])
        # One database for the catalog, users and jobs, unless one of them is set apart.
        if env.get("STEERFEED_DATABASE_URL"):
            for key in DATABASE_STORES:
                values[key] = env["STEERFEED_DATABASE_URL"]
        for key in ("catalog_url", "state_url", "vectors_url", "events_url", "cache_url",
                    "jobs_url"):  # fmt: skip
            if env.get(f"STEERFEED_{key.upper()}"):
                values[key] = env[f"STEERFEED_{key.upper()}"]
        database_url = overrides.pop("database_url", None)
        if database_url is not None:
            for key in DATABASE_STORES:
                if overrides.get(key) is None:
                    overrides[key] = database_url
        if env.get("STEERFEED_CATALOG_VECTORS"):
            values["catalog_vectors"] = env["STEERFEED_CATALOG_VECTORS"].strip().lower()
            vector_width(str(values["catalog_vectors"]))  # a clear error for an unknown form
        if "STEERFEED_RUN_JOBS" in env:
            values["run_jobs_in_background"] = (
                env["STEERFEED_RUN_JOBS"].strip().lower() not in OFF_WORDS
            )
        if "STEERFEED_OPEN_SIGNUP" in env:
            values["open_signup"] = env["STEERFEED_OPEN_SIGNUP"].strip().lower() not in OFF_WORDS
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(str(values["home"]))
        return replace(cls(), **values)  # type: ignore[arg-type]

    @property
    def store_urls(self) -> StoreURLs:
        """Each store's URL: the one set, else the embedded default under `home`."""
        default = StoreURLs.embedded(self.home)
        return StoreURLs(
            catalog=self.catalog_url or default.catalog,
            vectors=self.vectors_url or default.vectors,
            users=self.state_url or default.users,
            events=self.events_url or default.events,
            limits=self.cache_url or default.limits,
        )

    @property
    def catalog_path(self) -> Path:
        """SQLite file holding clips, creators and their vectors."""
        return self.home / CATALOG_FILE

    @property
    def models_dir(self) -> Path:
        """Folder of models the engine trains itself (the instruction reader)."""
        return self.model_cache if self.model_cache is not None else self.home / "models"

    @property
    def index_dir(self) -> Path:
        """Folder of FAISS files and their manifests."""
        return self.home / INDEX_DIR

    @property
    def media_dir(self) -> Path:
        """Folder of clip media copied into the home."""
        return self.home / "media"

    @property
    def jobs_path(self) -> Path:
        """SQLite file of generation jobs."""
        return self.home / JOBS_FILE

    @property
    def jobs_store_url(self) -> str:
        """Where generation jobs live: the URL set, else the SQLite file under `home`."""
        return self.jobs_url or f"sqlite://{self.jobs_path.absolute()}"

    @property
    def events_dir(self) -> Path:
        """Folder of the Parquet event log, partitioned by date."""
        return self.home / EVENTS_DIR
