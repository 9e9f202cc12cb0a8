"""KuaiRec as an experiment's catalog and logs.

KuaiRec (Gao et al., CIKM 2022) ships user-video interactions
(small_matrix.csv, big_matrix.csv: user_id, video_id, play_duration,
video_duration, time, date, timestamp, watch_ratio) and video side files
(item_categories.csv: video_id, feat like "[8]"; kuairec_caption_category.csv:
video_id, manual_cover_text, caption, topic_tag, first_level_category_name, ...;
optionally item_daily_features.csv with author_id). Videos become text-only
clips whose prompt is the caption; interactions become events by watch ratio
(at least `like_ratio` → a view and a like, at least `view_ratio` → a view,
below `skip_ratio` → a skip, in between → an impression). There are no
sessions or steering instructions in KuaiRec: replay cuts sessions at idle
gaps, and steering metrics stay empty unless a steering log is given.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from feed.core.manifest import ManifestEntry, ManifestError, parse_entry
from feed.experiments.config import KuaiRecConfig
from feed.storage.events import EVENT_SCHEMA

CAPTIONS = "kuairec_caption_category.csv"
CATEGORIES = "item_categories.csv"
DAILY = "item_daily_features.csv"
CLIP_PREFIX = "kr"
USER_PREFIX = "kr"
MAX_PROMPT_CHARS = 500
MAX_TAGS = 12
UNKNOWN = {"", "unknown", "nan", "none", "null"}


def clip_id(video_id: int) -> str:
    """The catalog id of a KuaiRec video."""
    return f"{CLIP_PREFIX}{video_id}"


def _matrix(folder: Path, config: KuaiRecConfig) -> pl.LazyFrame:
    path = folder / config.matrix
    if not path.is_file():
        raise ValueError(f"no KuaiRec interaction matrix at {path}")
    return pl.scan_csv(
        path,
        schema_overrides={
            "user_id": pl.Int64(),
            "video_id": pl.Int64(),
            "play_duration": pl.Float64(),
            "video_duration": pl.Float64(),
            "timestamp": pl.Float64(),
            "watch_ratio": pl.Float64(),
            "time": pl.String(),
            "date": pl.String(),
        },
    )


def _timestamp() -> pl.Expr:
    parsed = pl.col("time").str.to_datetime(strict=False, time_zone="UTC").dt.epoch("ms") / 1000.0
    ts = pl.when(pl.col("timestamp").is_finite()).then(pl.col("timestamp"))
    return pl.coalesce(ts, parsed)


def kuairec_events(folder: Path, config: KuaiRecConfig) -> pl.LazyFrame:
    """Interactions as events in the live event log's schema (lazy; no session ids)."""
    ratio = pl.col("watch_ratio")
    kind = (
        pl.when(ratio >= config.like_ratio)
        .then(pl.lit("like"))
        .when(ratio >= config.view_ratio)
        .then(pl.lit("view"))
        .when(ratio < config.skip_ratio)
        .then(pl.lit("skip"))
        .otherwise(pl.lit("impression"))
    )
    base = (
        _matrix(folder, config)
        .with_columns(_timestamp().alias("_ts"))
        .filter(pl.col("_ts").is_not_null() & ratio.is_not_null())
        .select(
            pl.col("_ts").alias("ts"),
            (pl.lit(USER_PREFIX) + pl.col("user_id").cast(pl.String)).alias("user_id"),
            pl.lit(None, dtype=pl.String()).alias("session_id"),
            (pl.lit(CLIP_PREFIX) + pl.col("video_id").cast(pl.String)).alias("clip_id"),
            kind.alias("type"),
            pl.col("play_duration").round(0).cast(pl.Int64).alias("watch_ms"),
            pl.col("_ts").alias("received_at"),
        )
    )
    # A like is also a view (the clip was watched), logged first at the same time.
    views_of_likes = base.filter(pl.col("type") == "like").with_columns(
        pl.lit("view").alias("type")
    )
    return pl.concat([views_of_likes, base]).select(
        [pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()]
    )


def _text(value: object) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in UNKNOWN else text


def _list(value: object) -> list[str]:
    """Items of a KuaiRec list cell such as "[8]", "[旅游,户外]" or "['a', 'b']"."""
    inner = _text(value).strip("[]")
    return [t for t in (p.strip(" '\"") for p in re.split(r"[,，]", inner)) if _text(t)]


def kuairec_entries(folder: Path, config: KuaiRecConfig) -> list[ManifestEntry]:
    """Every video of the interaction matrix as a text-only catalog entry.

    All clips get one creation time (a day before the first interaction), so
    freshness cannot leak when a video was first watched.
    """
    matrix = _matrix(folder, config)
    stats = matrix.select(
        pl.col("video_id").unique().sort().implode().alias("videos"),
        _timestamp().min().alias("first"),
    ).collect()
    videos: list[int] = stats["videos"][0].to_list()
    first = stats["first"][0]
    created_at = (float(first) if first is not None else 0.0) - 86400.0
    captions: dict[int, dict[str, object]] = {}
    if (folder / CAPTIONS).is_file():
        frame = pl.read_csv(folder / CAPTIONS, infer_schema=False, truncate_ragged_lines=True)
        for row in frame.iter_rows(named=True):
            if str(row.get("video_id") or "").isdigit():
                captions[int(row["video_id"])] = row
    categories: dict[int, list[str]] = {}
    if (folder / CATEGORIES).is_file():
        frame = pl.read_csv(folder / CATEGORIES, infer_schema=False)
        for video, feat in frame.select(["video_id", "feat"]).iter_rows():
            if video is not None and video.isdigit():
                categories[int(video)] = _list(feat)
    authors: dict[int, str] = {}
    if (folder / DAILY).is_file():
        frame = (
            pl.scan_csv(folder / DAILY, infer_schema=False)
            .select(["video_id", "author_id"])
            .unique(subset="video_id", keep="first")
            .collect()
        )
        for video, author in frame.iter_rows():
            if video is not None and video.isdigit() and _text(author):
                authors[int(video)] = f"author{author}"
    entries = []
    for line, video in enumerate(videos, start=1):
        row = captions.get(video, {})
        levels = [
            _text(row.get(f"{lvl}_level_category_name")) for lvl in ("first", "second", "third")
        ]
        tags = [t for t in levels if t] + _list(row.get("topic_tag"))
        tags += [f"category {c}" for c in categories.get(video, [])]
        tags = list(dict.fromkeys(t[:64] for t in tags))[:MAX_TAGS]
        prompt = (
            _text(row.get("caption"))
            or _text(row.get("manual_cover_text"))
            or " ".join(tags)
            or f"KuaiRec video {video}"
        )[:MAX_PROMPT_CHARS]
        raw = {
            "id": clip_id(video),
            "prompt": prompt,
            "creator": authors.get(video, "kuairec"),
            "caption": _text(row.get("manual_cover_text"))[:MAX_PROMPT_CHARS],
            "tags": tags,
            "created_at": created_at,
        }
        try:
            entries.append(parse_entry(raw, line, None, MAX_PROMPT_CHARS))
        except ManifestError as exc:
            raise ManifestError(f"KuaiRec video {video}: {exc}") from exc
    return entries
