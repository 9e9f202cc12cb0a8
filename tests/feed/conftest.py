"""Feed fixtures: labelled clips, real and broken media, engines on temp homes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import LABELLED

from feed.services.clips import ClipStore


@pytest.fixture
def labelled_rows() -> list[dict]:
    return [
        {"id": cid, "prompt": prompt, "creator": f"maker{i % 3}", "tags": [label]}
        for i, (cid, prompt, label) in enumerate(LABELLED)
    ]


@pytest.fixture
def media_dir(tmp_path, real_mp4_with_audio, real_mp4_small) -> Path:
    """Real third-party MP4s plus a corrupt one, beside a manifest."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(real_mp4_with_audio, folder / "bunny.mp4")
    shutil.copy(real_mp4_small, folder / "carphone.mp4")
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xde\xad" * 500)
    return folder


@pytest.fixture
def make_engine(text_encoder):
    """Open an ClipStore on a home with the shared real text encoder (visual optional)."""
    opened: list[ClipStore] = []

    def make(home: Path, visual=None, **kw) -> ClipStore:
        engine = ClipStore(home, text_encoder, visual, **kw)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.catalog.close()  # closing twice is harmless
