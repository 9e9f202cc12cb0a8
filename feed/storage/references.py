"""Cameo references: the short video or image a person records as their likeness.

One file per account under `home/cameos/`, named by user id; recording again replaces
it. Nothing checks that the person in it is the account holder (no liveness check).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
               ".webp": "image/webp", ".gif": "image/gif"}  # fmt: skip
VIDEO_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
               ".m4v": "video/mp4"}  # fmt: skip
MEDIA_TYPES = IMAGE_TYPES | VIDEO_TYPES


@dataclass(frozen=True)
class Reference:
    """A recorded cameo reference."""

    path: Path
    media_type: str
    kind: str  # "image" or "video"
    size_bytes: int
    updated_at: float


class CameoReferences:
    """Cameo reference files, one per user id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _files(self, user_id: str) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [self.root / f"{user_id}{suffix}" for suffix in MEDIA_TYPES
                if (self.root / f"{user_id}{suffix}").is_file()]  # fmt: skip

    def get(self, user_id: str) -> Reference | None:
        """The user's reference, or None."""
        files = self._files(user_id)
        if not files:
            return None
        path = max(files, key=lambda f: f.stat().st_mtime)
        stat = path.stat()
        suffix = path.suffix.lower()
        kind = "image" if suffix in IMAGE_TYPES else "video"
        return Reference(path, MEDIA_TYPES[suffix], kind, stat.st_size, stat.st_mtime)

    def put(self, user_id: str, source: Path, suffix: str) -> Reference:
        """Record `source` (moved in) as the user's reference, replacing any earlier one."""
        suffix = suffix.lower()
        if suffix not in MEDIA_TYPES:
            raise ValueError(f"unsupported reference type {suffix!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{user_id}{suffix}"
        os.replace(source, target)  # atomic: a reader sees the old file or the new one
        for old in self._files(user_id):
            if old != target:
                old.unlink(missing_ok=True)
        reference = self.get(user_id)
        assert reference is not None
        return reference

    def delete(self, user_id: str) -> bool:
        """Remove the user's reference; whether there was one."""
        files = self._files(user_id)
        for f in files:
            f.unlink(missing_ok=True)
        return bool(files)
