"""Uploaded files, streamed to a temp file of bounded size before anything reads them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import HTTPException, UploadFile

UPLOAD_CHUNK = 1024 * 1024
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".m4v"})


@contextmanager
def spooled_upload(
    upload: UploadFile | None, directory: Path, max_bytes: int, suffixes: Collection[str]
) -> Iterator[Path | None]:
    """Stream an upload to a temp file of bounded size; the file is removed on exit."""
    if upload is None:
        yield None
        return
    suffix = Path(upload.filename or "clip.mp4").suffix.lower() or ".mp4"
    if suffix not in suffixes:
        raise HTTPException(422, f"unsupported file type {suffix!r}; one of {sorted(suffixes)}")
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, suffix=suffix)
    path = Path(name)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := upload.file.read(UPLOAD_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise HTTPException(413, f"upload is over {max_bytes} bytes")
                out.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)
