"""Evenly spaced frame sampling from video files with PyAV.

Frames are decoded sequentially rather than by seeking: generated clips are
short, and seeking in a long-GOP stream re-decodes from the last keyframe for
every sample, which costs more than one straight pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)


class MediaError(ValueError):
    """A media file is missing, unreadable, corrupt or has no video."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as read from its container (nothing decoded).

    `frames` is the container's frame count, or duration x frame rate where the
    container does not say; 0 when neither is known.
    """

    duration_s: float
    width: int
    height: int
    has_audio: bool
    container: str = ""
    codec: str = ""
    frames: int = 0


# Containers and codecs a short generated clip comes in. Images (PNG, GIF, JPEG, WebP)
# renamed to .mp4 open as one-frame "videos" through their own demuxers: refused.
VIDEO_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})


@dataclass(frozen=True)
class MediaLimits:
    """What one clip may cost to decode, checked from its container before decoding."""

    max_side: int = 1920
    max_pixels: int = 1920 * 1080
    max_duration_s: float = 180.0
    max_frames: int = 180 * 60
    containers: frozenset[str] = VIDEO_CONTAINERS
    codecs: frozenset[str] = VIDEO_CODECS


def check_limits(info: VideoInfo, limits: MediaLimits) -> None:
    """Raise MediaError (naming the limit) for a video the limits do not allow."""
    if info.container not in limits.containers:
        raise MediaError(f"not a video container ({info.container or 'unknown'});"
                         " use MP4, MOV, MKV or WebM")  # fmt: skip
    if info.codec not in limits.codecs:
        raise MediaError(f"video codec {info.codec or 'unknown'!r} is not accepted;"
                         f" use one of {sorted(limits.codecs)}")  # fmt: skip
    if max(info.width, info.height) > limits.max_side or info.width * info.height > (
        limits.max_pixels
    ):
        raise MediaError(
            f"video is {info.width}x{info.height}; at most {limits.max_side} pixels a side"
            f" and {limits.max_pixels} pixels a frame"
        )
    if not 0 < info.duration_s <= limits.max_duration_s:
        raise MediaError(f"video lasts {info.duration_s:.1f} s; 0-{limits.max_duration_s:g} s")
    if info.frames > limits.max_frames:
        raise MediaError(f"video has {info.frames} frames; at most {limits.max_frames}")


@dataclass(frozen=True)
class SampledFrames:
    """RGB frames (n, H, W, 3) uint8 and their timestamps (n,) in seconds."""

    frames: np.ndarray
    times_s: np.ndarray
    info: VideoInfo


def sample_targets(duration_s: float, n: int) -> np.ndarray:
    """Midpoints of n equal slices of the clip, in seconds."""
    if n <= 0:
        raise ValueError("n must be positive")
    return (np.arange(n, dtype=np.float64) + 0.5) * (max(duration_s, 0.0) / n)


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc})") from exc


def _info(container: av.container.InputContainer, path: Path) -> VideoInfo:
    if not container.streams.video:
        raise MediaError(f"{path}: no video stream")
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / 1_000_000
    else:
        duration_s = 0.0
    width = stream.codec_context.width
    height = stream.codec_context.height
    if not width or not height:
        raise MediaError(f"{path}: video stream has no frame size")
    frames = int(stream.frames or 0)
    if not frames and stream.average_rate:
        frames = int(duration_s * float(stream.average_rate))
    return VideoInfo(
        duration_s, width, height, has_audio=bool(container.streams.audio),
        container=container.format.name, codec=stream.codec_context.name, frames=frames,
    )  # fmt: skip


def probe_video(path: Path, limits: MediaLimits | None = None) -> VideoInfo:
    """Read duration, size, codec and audio presence without decoding frames; with
    `limits`, MediaError for a video they do not allow."""
    with _open(path) as container:
        info = _info(container, path)
    if limits is not None:
        check_limits(info, limits)
    return info


def sample_frames(path: Path, n: int, max_side: int = 448) -> SampledFrames:
    """Decode the clip once and keep the frame nearest each of n evenly spaced times.

    Frames are downscaled so the longer side is at most `max_side` pixels
    (encoders resize to ~224 anyway). Raises MediaError on unreadable input.
    """
    with _open(path) as container:
        info = _info(container, path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        scale = min(1.0, max_side / max(info.width, info.height))
        width = max(2, int(info.width * scale) // 2 * 2)
        height = max(2, int(info.height * scale) // 2 * 2)
        targets = sample_targets(info.duration_s, n)
        picked: list[np.ndarray] = []
        times: list[float] = []
        last_frame: av.VideoFrame | None = None
        last_t = 0.0
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                if t + 1e-6 >= targets[len(picked)]:
                    image = frame.to_ndarray(width=width, height=height, format="rgb24")
                    while len(picked) < n and t + 1e-6 >= targets[len(picked)]:
                        picked.append(image)
                        times.append(t)
                    if len(picked) == n:
                        break
                last_frame, last_t = frame, t
        except av.FFmpegError as exc:
            if last_frame is None and not picked:
                raise MediaError(f"{path}: corrupt video ({exc})") from exc
            log.warning("%s: decoding stopped early (%s); using frames read so far", path, exc)
        if last_frame is not None and len(picked) < n:
            # Durations in headers can overstate the stream; pad with the final frame.
            image = last_frame.to_ndarray(width=width, height=height, format="rgb24")
            picked.extend([image] * (n - len(picked)))
            times.extend([last_t] * (n - len(times)))
        if not picked:
            raise MediaError(f"{path}: no decodable frames")
    return SampledFrames(np.stack(picked), np.asarray(times, dtype=np.float64), info)
