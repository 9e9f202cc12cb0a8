"""Reading ingest manifests: one JSON object per line, validated line by line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.core.consent import HANDLE_PATTERN, mentioned_cameos, normalise_handle

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_LINE_BYTES = 64 * 1024
KNOWN_KEYS = {
    "id",
    "prompt",
    "creator",
    "video",
    "caption",
    "tags",
    "cameos",
    "remix_of",
    "created_at",
}


class ManifestError(ValueError):
    """One manifest line (or upload) cannot be accepted; the message says why."""


@dataclass(frozen=True)
class ManifestEntry:
    """One valid manifest line. `video` is resolved against the manifest's folder."""

    line: int
    id: str
    prompt: str
    creator: str
    video: Path | None = None
    caption: str = ""
    tags: tuple[str, ...] = ()
    cameos: tuple[str, ...] = ()
    remix_of: str | None = None
    created_at: float | None = None


@dataclass(frozen=True)
class LineError:
    """Why a line was skipped."""

    line: int
    clip_id: str | None
    reason: str


@dataclass(frozen=True)
class Manifest:
    """Parsed manifest: entries to ingest and lines that were rejected."""

    entries: tuple[ManifestEntry, ...]
    errors: tuple[LineError, ...]


def _text(obj: dict[str, Any], key: str, *, required: bool, max_chars: int) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ManifestError(f"missing {key!r}")
        return ""
    if not isinstance(value, str):
        raise ManifestError(f"{key!r} must be a string")
    value = value.strip()
    if required and not value:
        raise ManifestError(f"empty {key!r}")
    if len(value) > max_chars:
        raise ManifestError(f"{key!r} is longer than {max_chars} characters")
    return value


def parse_handle(raw: object, what: str) -> str:
    """A creator or cameo handle in its stored form (normalised, without its leading '@')."""
    if not isinstance(raw, str):
        raise ManifestError(f"{what} must be a string")
    handle = normalise_handle(raw)
    if not HANDLE_PATTERN.match(handle):
        raise ManifestError(f"{what} {raw!r} is not a valid handle (letters, digits, _ . -)")
    return handle


def _string_list(obj: dict[str, Any], key: str) -> list[object]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{key!r} must be a list")
    return value


def parse_time(value: object) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 string (UTC if no zone)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ManifestError("'created_at' must be an ISO 8601 string or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ManifestError(f"'created_at' {value!r} is not ISO 8601") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise ManifestError("'created_at' must be an ISO 8601 string or epoch seconds")


def parse_entry(
    obj: object, line: int, base_dir: Path | None, max_prompt_chars: int
) -> ManifestEntry:
    """Validate one manifest object; raise ManifestError with the first problem found."""
    if not isinstance(obj, dict):
        raise ManifestError("line is not a JSON object")
    unknown = set(obj) - KNOWN_KEYS
    if unknown:
        raise ManifestError(f"unknown keys {sorted(unknown)}")
    clip_id = obj.get("id")
    if not isinstance(clip_id, str) or not ID_PATTERN.match(clip_id):
        raise ManifestError("'id' must be 1-128 characters of letters, digits, . _ : -")
    prompt = _text(obj, "prompt", required=True, max_chars=max_prompt_chars)
    creator = parse_handle(obj.get("creator"), "'creator'") if "creator" in obj else None
    if creator is None:
        raise ManifestError("missing 'creator'")
    caption = _text(obj, "caption", required=False, max_chars=max_prompt_chars)
    tags = []
    for tag in _string_list(obj, "tags"):
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise ManifestError(
                f"tags must be non-empty strings of at most {MAX_TAG_CHARS} characters"
            )
        tags.append(tag.strip().lower())
    if len(tags) > MAX_TAGS:
        raise ManifestError(f"more than {MAX_TAGS} tags")
    declared = [parse_handle(h, "cameo") for h in _string_list(obj, "cameos")]
    # A prompt that names someone with @ puts their likeness in the clip: their consent
    # governs it whether or not the manifest lists them.
    cameos = tuple(dict.fromkeys(declared + mentioned_cameos(prompt)))
    remix_of = obj.get("remix_of")
    if remix_of is not None and (not isinstance(remix_of, str) or not ID_PATTERN.match(remix_of)):
        raise ManifestError("'remix_of' must be a clip id")
    video = obj.get("video")
    video_path: Path | None = None
    if video is not None:
        if not isinstance(video, str) or not video.strip():
            raise ManifestError("'video' must be a path")
        video_path = Path(video) if base_dir is None else (base_dir / video)
    return ManifestEntry(
        line=line,
        id=clip_id,
        prompt=prompt,
        creator=creator,
        video=video_path,
        caption=caption,
        tags=tuple(dict.fromkeys(tags)),
        cameos=cameos,
        remix_of=remix_of,
        created_at=parse_time(obj.get("created_at")),
    )


def read_manifest(path: Path, max_prompt_chars: int = 2000) -> Manifest:
    """Parse a JSONL manifest; bad lines (and repeats of an id) become LineErrors."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file")
    entries: list[ManifestEntry] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            clip_id = None
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise ManifestError(f"line is longer than {MAX_LINE_BYTES} bytes")
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ManifestError(f"not valid JSON ({exc})") from exc
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    clip_id = obj["id"]
                entry = parse_entry(obj, number, path.parent, max_prompt_chars)
                if entry.id in seen:
                    raise ManifestError(
                        f"repeated id {entry.id!r} (first on line {seen[entry.id]})"
                    )
            except ManifestError as exc:
                errors.append(LineError(number, clip_id, str(exc)))
                continue
            seen[entry.id] = number
            entries.append(entry)
    return Manifest(tuple(entries), tuple(errors))
