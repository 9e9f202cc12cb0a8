"""Video providers behind one protocol: the local procedural renderer, or a remote API.

`generate` is synchronous and idempotent per key: calling it again with the
same key after a crash continues (remote) or redoes (local) the same job,
never a second one.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from generation.renderer import ProceduralRenderer, RenderSpec


@dataclass(frozen=True)
class GenerationRequest:
    """What to make, and the key that makes asking twice safe."""

    prompt: str
    idempotency_key: str
    seconds: float = 3.0
    remix_of: str | None = None


@dataclass(frozen=True)
class GeneratedVideo:
    """A finished clip on local disk."""

    path: Path
    provider: str
    external_id: str | None = None


class VideoProvider(Protocol):
    """Turns a prompt into an MP4 file."""

    name: str

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Make the clip and write it to out_path."""
        ...


class ProceduralProvider:
    """The local procedural renderer as a provider (not a generative model)."""

    name = "procedural"

    def __init__(self, spec: RenderSpec | None = None) -> None:
        self._spec = spec

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Render the prompt; the seed follows the idempotency key, so a redo is identical."""
        spec = self._spec or RenderSpec(seconds=request.seconds)
        renderer = ProceduralRenderer(spec)
        renderer.render(request.prompt, out_path, seed=zlib.crc32(request.idempotency_key.encode()))
        return GeneratedVideo(out_path, self.name)


class RemoteProvider:
    """A remote asynchronous video API (see generation/remote.py) as a provider."""

    name = "remote"

    def __init__(self, client: object) -> None:
        self._client = client

    def generate(self, request: GenerationRequest, out_path: Path) -> GeneratedVideo:
        """Create (idempotently), wait for and download the remote job."""
        from generation.remote import VideoRequest

        job = self._client.generate(  # type: ignore[attr-defined]
            VideoRequest(prompt=request.prompt, seconds=max(1, round(request.seconds)),
                         remix_of=request.remix_of),
            request.idempotency_key,
            out_path,
        )  # fmt: skip
        return GeneratedVideo(out_path, self.name, job.id)
