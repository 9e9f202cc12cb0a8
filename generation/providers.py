"""Video providers behind one protocol: the local procedural renderer, or a remote API.

`generate` is synchronous and idempotent per key: calling it again with the
same key after a crash continues (remote) or redoes (local) the same job,
never a second one.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from generation.renderer import ProceduralRenderer, RenderSpec

DEFAULT_SECONDS = 3.0
DEFAULT_ASPECT = "9:16"


@dataclass(frozen=True)
class GenerationRequest:
    """What to make, and the key that makes asking twice safe.

    `aspect` is width:height ("9:16", "16:9", "1:1"); `on_progress`, when given, hears
    how far the provider has got (0..1) while it works.
    """

    prompt: str
    idempotency_key: str
    seconds: float = DEFAULT_SECONDS
    remix_of: str | None = None
    aspect: str = DEFAULT_ASPECT
    on_progress: Callable[[float], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class GeneratedVideo:
    """A finished clip on local disk."""

    path: Path
    provider: str
    external_id: str | None = None


class VideoProvider(Protocol):
    """Turns a prompt into an MP4 file.

    `durations_s` and `aspects` are the lengths and shapes it can make (the first is
    its default); a request outside them is refused before anything is queued.
    """

    name: str
    durations_s: tuple[float, ...]
    aspects: tuple[str, ...]

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Make the clip and write it to out_path."""
        ...


# Frame sizes per aspect: the procedural renderer's small ones, and a remote service's.
PROCEDURAL_SIZES = {"9:16": (288, 512), "16:9": (512, 288), "1:1": (384, 384)}
REMOTE_SIZES = {"9:16": "720x1280", "16:9": "1280x720", "1:1": "1024x1024"}


class ProceduralProvider:
    """The local procedural renderer as a provider (not a generative model)."""

    name = "procedural"
    durations_s: tuple[float, ...] = (3.0, 2.0, 5.0, 8.0)
    aspects: tuple[str, ...] = tuple(PROCEDURAL_SIZES)

    def __init__(self, spec: RenderSpec | None = None) -> None:
        self._spec = spec

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Render the prompt; the seed follows the idempotency key, so a redo is identical.

        A provider built with a fixed spec renders that spec whatever the request asks.
        """
        width, height = PROCEDURAL_SIZES.get(request.aspect, PROCEDURAL_SIZES[DEFAULT_ASPECT])
        spec = self._spec or RenderSpec(width=width, height=height, seconds=request.seconds)
        renderer = ProceduralRenderer(spec)
        renderer.render(request.prompt, out_path, seed=zlib.crc32(request.idempotency_key.encode()),
                        on_progress=request.on_progress)  # fmt: skip
        return GeneratedVideo(out_path, self.name)


class RemoteProvider:
    """A remote asynchronous video API (see generation/remote.py) as a provider."""

    name = "remote"
    durations_s: tuple[float, ...] = (4.0, 8.0, 12.0)
    aspects: tuple[str, ...] = tuple(REMOTE_SIZES)

    def __init__(self, client: object) -> None:
        self._client = client

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Create (idempotently), wait for and download the remote job."""
        from generation.remote import VideoRequest

        report = request.on_progress
        job = self._client.generate(  # type: ignore[attr-defined]
            VideoRequest(prompt=request.prompt, seconds=max(1, round(request.seconds)),
                         size=REMOTE_SIZES.get(request.aspect, REMOTE_SIZES[DEFAULT_ASPECT]),
                         remix_of=request.remix_of),
            request.idempotency_key,
            out_path,
            on_progress=None if report is None else (lambda j: report(j.progress / 100)),
        )  # fmt: skip
        return GeneratedVideo(out_path, self.name, job.id)
