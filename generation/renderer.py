"""Procedural renderer: the first video provider.

Draws a short vertical clip for a text prompt with numpy and Pillow and encodes it with
PyAV (H.264 video, AAC audio). It is a procedural renderer, not a generative model:

- the prompt names a visual style and a subject, found with small keyword lexicons;
- a fixed-step physics simulation moves the subject (a drop under gravity, bounces with
  restitution, or hops);
- every impact mixes a short percussive tone into the soundtrack at the impact time, over
  a quiet drone coloured by the style;
- the prompt is drawn as a caption, and everything is seeded by (prompt, seed).

`draw_clip` is the pure core (frames and samples in memory); `render_clip` and
`ProceduralRenderer` write the MP4.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]

DEFAULT_STYLE = "default"
DEFAULT_SUBJECT = "ball"
EARTH_GRAVITY_M_S2 = 9.81

# Matching runs on a normalised prompt (lower case, every run of non-alphanumerics turned
# into one space), so "Film-Noir" and "8-bit" match "film noir" and "8 bit". Where several
# keywords match, the one earliest in the prompt wins.
STYLE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "anime": ("anime", "manga", "ghibli", "cel shaded", "cel shading"),
    "photorealistic": (
        "photorealistic", "photoreal", "hyperrealistic", "hyperreal", "realistic", "photo",
        "photograph", "photography", "dslr", "35mm", "8mm", "documentary", "found footage",
        "home video",
    ),
    "claymation": ("claymation", "clay", "plasticine", "stop motion"),
    "pixel art": ("pixel art", "pixel", "pixelated", "8 bit", "16 bit", "retro game"),
    "watercolor": ("watercolor", "watercolour", "aquarelle"),
    "film noir": ("film noir", "noir", "black and white"),
    "cyberpunk": ("cyberpunk", "neon", "blade runner"),
    "vaporwave": ("vaporwave", "synthwave", "outrun", "retrowave", "dreamcore"),
    "oil painting": ("oil painting", "oil paint", "oil on canvas", "impasto", "painterly"),
    "pencil sketch": ("pencil sketch", "pencil", "sketch", "graphite", "charcoal"),
    "low poly": ("low poly", "lowpoly", "3d render", "3d", "polygonal", "isometric"),
}  # fmt: skip

SUBJECT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "ball": (
        "ball", "basketball", "football", "soccer", "tennis", "volleyball", "baseball", "golf",
        "sport",
    ),
    "figure": (
        "dance", "dancer", "dancing", "ballerina", "skateboard", "skateboarder", "skateboarding",
        "skater", "skating", "person", "man", "men", "woman", "women", "girl", "boy", "kid",
        "child", "toddler", "athlete", "runner", "running", "parkour", "gymnast", "jump",
        "jumping", "people", "knight", "samurai", "wizard", "monk", "magician", "robot",
        "detective",
    ),
    "cat": ("cat", "kitten", "kitty", "leopard", "tiger", "lion"),
    "dog": ("dog", "puppy", "puppies", "doggo", "corgi", "retriever", "fox", "wolf"),
    "food": (
        "food", "cooking", "cook", "chef", "recipe", "kitchen", "soup", "ramen", "noodle",
        "pasta", "dumpling", "bowl", "breakfast", "lunch", "dinner", "baking", "coffee", "tea",
    ),
    "space": (
        "space", "planet", "galaxy", "astronaut", "moon", "star", "cosmos", "cosmic", "rocket",
        "nebula", "orbit",
    ),
    "horror": (
        "horror", "scary", "ghost", "haunted", "creepy", "spooky", "zombie", "nightmare",
        "halloween", "hallway", "corridor", "pale figure",
    ),
    "ocean": (
        "ocean", "sea", "wave", "beach", "surf", "surfer", "surfing", "fish", "fisherman",
        "jellyfish", "octopus", "underwater", "swimming", "swimmer", "sailing", "whale",
        "dolphin", "lighthouse",
    ),
    "forest": (
        "nature", "forest", "tree", "woods", "mountain", "garden", "jungle", "hiking", "meadow",
        "apple", "bird", "hummingbird", "parrot", "flower", "sunflower",
    ),
    "music": (
        "music", "song", "concert", "beat", "dj", "guitar", "piano", "band", "singer", "singing",
        "drum", "rap", "edm", "jazz", "violin", "violinist",
    ),
}  # fmt: skip


def _keyword_index(lexicon: dict[str, tuple[str, ...]]) -> tuple[re.Pattern[str], dict[str, str]]:
    owner = {keyword: key for key, keywords in lexicon.items() for keyword in keywords}
    # Longest first, so that at one position "pixel art" beats "pixel".
    words = sorted(owner, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(word) for word in words) + r")(?:e?s)?\b")
    return pattern, owner


_STYLE_PATTERN, _STYLE_BY_KEYWORD = _keyword_index(STYLE_KEYWORDS)
_SUBJECT_PATTERN, _SUBJECT_BY_KEYWORD = _keyword_index(SUBJECT_KEYWORDS)


def _normalise(prompt: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", prompt.lower()).split())


def detect_style(prompt: str) -> str:
    """Return the style key named in the prompt (see STYLE_KEYWORDS), or "default"."""
    match = _STYLE_PATTERN.search(_normalise(prompt))
    return _STYLE_BY_KEYWORD[match.group(1)] if match else DEFAULT_STYLE


def detect_subject(prompt: str) -> str:
    """Return the subject kind named in the prompt (see SUBJECT_KEYWORDS), or "ball"."""
    match = _SUBJECT_PATTERN.search(_normalise(prompt))
    return _SUBJECT_BY_KEYWORD[match.group(1)] if match else DEFAULT_SUBJECT


# --------------------------------------------------------------------------- specs


_AAC_SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


@dataclass(frozen=True)
class RenderSpec:
    """Size, rate and length of a rendered clip."""

    width: int = 288
    height: int = 512
    fps: int = 12
    seconds: float = 3.0
    sample_rate: int = 44100

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"width and height must be positive and even for yuv420p; "
                f"got {self.width}x{self.height}"
            )
        if self.fps <= 0:
            raise ValueError(f"fps must be positive; got {self.fps}")
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive; got {self.seconds}")
        if self.sample_rate not in _AAC_SAMPLE_RATES:
            raise ValueError(
                f"sample_rate must be one AAC accepts {sorted(_AAC_SAMPLE_RATES)}; "
                f"got {self.sample_rate}"
            )

    @property
    def frame_count(self) -> int:
        """Number of video frames: seconds * fps, rounded, at least one."""
        return max(1, round(self.seconds * self.fps))

    @property
    def duration_s(self) -> float:
        """Exact clip length in seconds (frame_count / fps)."""
        return self.frame_count / self.fps


DEFAULT_SPEC = RenderSpec()


@dataclass(frozen=True)
class RenderedClip:
    """An MP4 written by the procedural renderer, and what it shows."""

    path: Path
    prompt: str
    style: str
    subject: str
    duration_s: float
    width: int
    height: int
    fps: int
    sound_event_times_s: tuple[float, ...]


@dataclass(frozen=True)
class ClipDrawing:
    """A clip drawn in memory, before encoding.

    frames: uint8 (n_frames, height, width, 3) RGB. audio: float32 (n_samples,) mono in
    [-1, 1] at the spec's sample rate. sound_event_times_s: impact times, ascending.
    """

    frames: np.ndarray
    audio: np.ndarray
    style: str
    subject: str
    sound_event_times_s: tuple[float, ...]


# --------------------------------------------------------------------------- physics


@dataclass(frozen=True)
class BounceTrack:
    """A body dropped onto a floor, sampled once per frame at t = i / fps.

    heights_m and velocities_m_s are float64 (n_frames,): height of the body's lowest point
    above the floor and its upward velocity. impact_times_s and impact_speeds_m_s list each
    touchdown inside the simulated span, in order.
    """

    heights_m: np.ndarray
    velocities_m_s: np.ndarray
    impact_times_s: tuple[float, ...]
    impact_speeds_m_s: tuple[float, ...]


# Rebounds slower than this end the motion even when rest_speed_m_s is 0; otherwise ever
# shorter bounces would pile up within one step and never finish.
_ZENO_SPEED_M_S = 1e-6


def simulate_bounces(
    drop_height_m: float,
    *,
    n_frames: int,
    fps: float,
    gravity_m_s2: float = EARTH_GRAVITY_M_S2,
    restitution: float = 0.75,
    hop_speed_m_s: float = 0.0,
    rest_speed_m_s: float = 0.5,
) -> BounceTrack:
    """Drop a body from rest and integrate it with a fixed step of 1 / fps.

    Within a step the motion under constant gravity is integrated exactly, and a touchdown
    inside the step is found by solving for the crossing time, so impact times do not snap
    to frames. On impact the body leaves with restitution times its impact speed, or with
    hop_speed_m_s if that is larger (a creature that jumps again on landing); a rebound
    no faster than rest_speed_m_s leaves it resting on the floor.
    """
    if drop_height_m < 0:
        raise ValueError(f"drop_height_m must be >= 0; got {drop_height_m}")
    if n_frames < 1 or fps <= 0 or gravity_m_s2 <= 0:
        raise ValueError("n_frames, fps and gravity_m_s2 must be positive")
    if not 0.0 <= restitution <= 1.0:
        raise ValueError(f"restitution must be in [0, 1]; got {restitution}")
    if rest_speed_m_s < 0 or hop_speed_m_s < 0:
        raise ValueError("rest_speed_m_s and hop_speed_m_s must be >= 0")
    step_s = 1.0 / fps
    g = gravity_m_s2
    y, v = float(drop_height_m), 0.0
    resting = y == 0.0 and hop_speed_m_s <= rest_speed_m_s
    heights = np.empty(n_frames)
    velocities = np.empty(n_frames)
    impact_times: list[float] = []
    impact_speeds: list[float] = []
    for i in range(n_frames):
        heights[i], velocities[i] = y, v
        remaining = step_s
        while remaining > 0.0 and not resting:
            to_floor = (v + math.sqrt(v * v + 2.0 * g * y)) / g
            if to_floor > remaining:
                y = max(0.0, y + v * remaining - 0.5 * g * remaining * remaining)
                v -= g * remaining
                break
            speed = g * to_floor - v
            if speed > 1e-9:  # a body launched from the floor has not landed
                impact_times.append(i * step_s + (step_s - remaining) + to_floor)
                impact_speeds.append(speed)
            remaining -= to_floor
            y, v = 0.0, max(restitution * speed, hop_speed_m_s)
            if v <= max(rest_speed_m_s, _ZENO_SPEED_M_S):
                v, resting = 0.0, True
    return BounceTrack(heights, velocities, tuple(impact_times), tuple(impact_speeds))


def _reflect(positions: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold free positions into [lo, hi] as if bouncing off walls; also return headings."""
    span = max(hi - lo, 1e-6)
    phase = np.mod(positions - lo, 2.0 * span)
    forward = phase < span
    return lo + np.where(forward, phase, 2.0 * span - phase), np.where(forward, 1.0, -1.0)


# --------------------------------------------------------------------------- looks

# Label values of the drawing layers; each indexes a colour role of the style's palette.
_SKY, _GROUND, _SCENERY, _SCENERY_DARK, _SUBJECT, _SUBJECT_DARK, _ACCENT, _INK, _SHADOW = range(9)
_BODY_LABELS = (_SUBJECT, _SUBJECT_DARK)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class StyleLook:
    """Palette, shading and drone of one visual style; colours are RGB 0-255."""

    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    scenery: RGB
    scenery_dark: RGB
    subject: RGB
    subject_dark: RGB
    accent: RGB
    ink: RGB
    shading: str = "flat"  # "flat", "cel" (hard two-tone) or "smooth" (soft, with soft shadow)
    outline_units: float = 0.0  # edge line width in design units (288 across); 0 draws none
    glow: bool = False  # edges also bloom
    drone_hz: tuple[float, ...] = (110.0, 165.0)
    drone_wave: str = "sine"  # "sine", "square", "saw" or "triangle"

    def lut(self) -> np.ndarray:
        """Colour per label, float32 (9, 3)."""
        shadow = tuple(round(0.62 * c) for c in self.ground)
        roles = (
            self.sky_bottom,
            self.ground,
            self.scenery,
            self.scenery_dark,
            self.subject,
            self.subject_dark,
            self.accent,
            self.ink,
            shadow,
        )
        return np.array(roles, dtype=np.float32)


STYLE_LOOKS: dict[str, StyleLook] = {
    "default": StyleLook(
        (150, 190, 225), (215, 230, 240), (120, 165, 105), (95, 135, 95), (80, 85, 95),
        (235, 125, 55), (150, 75, 35), (250, 235, 150), (35, 35, 45),
    ),
    "anime": StyleLook(
        (110, 185, 255), (205, 238, 255), (150, 225, 140), (255, 180, 205), (120, 125, 215),
        (255, 110, 150), (230, 60, 110), (255, 245, 140), (30, 20, 50),
        shading="cel", outline_units=3.0, drone_hz=(220.0, 277.18, 329.63),
    ),
    "photorealistic": StyleLook(
        (80, 125, 180), (200, 210, 215), (118, 104, 86), (78, 96, 66), (58, 52, 48),
        (196, 92, 44), (118, 52, 28), (232, 224, 208), (28, 26, 24),
        shading="smooth", drone_hz=(82.41, 123.47),
    ),
    "claymation": StyleLook(
        (196, 168, 138), (232, 208, 172), (176, 124, 82), (128, 152, 92), (116, 84, 62),
        (214, 112, 82), (150, 82, 62), (240, 212, 126), (62, 42, 36),
        shading="smooth", drone_hz=(146.83, 220.0), drone_wave="triangle",
    ),
    "pixel art": StyleLook(
        (41, 173, 255), (194, 195, 199), (0, 135, 81), (0, 228, 54), (95, 87, 79),
        (255, 0, 77), (126, 37, 83), (255, 236, 39), (0, 0, 0),
        outline_units=6.0, drone_hz=(110.0, 220.0), drone_wave="square",
    ),
    "watercolor": StyleLook(
        (176, 204, 222), (243, 236, 220), (196, 214, 176), (152, 190, 168), (168, 158, 182),
        (226, 146, 138), (192, 126, 150), (242, 212, 150), (116, 108, 128),
        shading="smooth", drone_hz=(196.0, 293.66),
    ),
    "film noir": StyleLook(
        (36, 36, 36), (96, 96, 96), (58, 58, 58), (124, 124, 124), (22, 22, 22),
        (214, 214, 214), (88, 88, 88), (240, 240, 240), (8, 8, 8),
        shading="smooth", drone_hz=(55.0, 65.41),
    ),
    "cyberpunk": StyleLook(
        (6, 4, 22), (40, 12, 62), (14, 8, 30), (36, 22, 70), (22, 14, 40),
        (0, 235, 255), (255, 0, 170), (255, 60, 200), (0, 255, 240),
        outline_units=2.0, glow=True, drone_hz=(55.0, 55.4, 110.7), drone_wave="saw",
    ),
    "vaporwave": StyleLook(
        (46, 16, 101), (255, 113, 206), (34, 10, 70), (185, 103, 255), (90, 40, 150),
        (1, 205, 254), (5, 160, 200), (255, 251, 150), (60, 20, 90),
        drone_hz=(261.63, 329.63, 392.0, 493.88),
    ),
    "oil painting": StyleLook(
        (58, 82, 124), (214, 172, 108), (112, 84, 46), (66, 96, 56), (52, 36, 26),
        (186, 58, 40), (108, 34, 28), (236, 198, 108), (34, 24, 18),
        shading="smooth", drone_hz=(130.81, 196.0),
    ),
    "pencil sketch": StyleLook(
        (246, 246, 246), (236, 236, 236), (205, 205, 205), (170, 170, 170), (110, 110, 110),
        (150, 150, 150), (95, 95, 95), (225, 225, 225), (40, 40, 40),
        outline_units=2.0, drone_hz=(392.0,),
    ),
    "low poly": StyleLook(
        (72, 108, 170), (240, 168, 120), (92, 142, 92), (62, 112, 82), (74, 62, 84),
        (232, 92, 70), (164, 62, 62), (250, 222, 140), (40, 40, 60),
        drone_hz=(174.61, 261.63), drone_wave="triangle",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class SubjectMotion:
    """How one subject kind moves, sounds and fits in the frame."""

    drop_height_m: float
    restitution: float
    hop_speed_m_s: float = 0.0
    gravity_m_s2: float = EARTH_GRAVITY_M_S2
    tone_hz: float = 180.0  # pitch of the impact sound
    drift_units_s: float = 30.0  # horizontal speed, design units (288 across) per second
    body_units: float = 60.0  # body height, so the highest point stays in frame
    ground_frac: float = 0.74  # ground line as a fraction of frame height
    floor_raise_units: float = 0.0  # landing floor above the ground line (a bowl's rim)
    leap_frac: float = 1.0  # share of the free height above the floor the peak reaches
    casts_shadow: bool = True

    @property
    def peak_height_m(self) -> float:
        """Highest point of the motion above the floor."""
        return max(self.drop_height_m, self.hop_speed_m_s**2 / (2.0 * self.gravity_m_s2), 1e-3)


SUBJECT_MOTIONS: dict[str, SubjectMotion] = {
    "ball": SubjectMotion(1.2, 0.75, tone_hz=180.0, drift_units_s=35.0, body_units=50.0),
    "figure": SubjectMotion(
        0.25, 0.0, hop_speed_m_s=3.0, tone_hz=110.0, body_units=85.0, leap_frac=0.8
    ),
    "cat": SubjectMotion(
        0.2, 0.0, hop_speed_m_s=2.4, tone_hz=620.0, body_units=60.0, leap_frac=0.45
    ),
    "dog": SubjectMotion(
        0.2, 0.0, hop_speed_m_s=2.8, tone_hz=340.0, body_units=60.0, leap_frac=0.5
    ),
    "food": SubjectMotion(
        1.0, 0.45, tone_hz=880.0, drift_units_s=0.0, body_units=140.0,
        floor_raise_units=46.0, casts_shadow=False,
    ),
    "space": SubjectMotion(
        0.5, 0.0, hop_speed_m_s=1.3, gravity_m_s2=1.62, tone_hz=520.0, drift_units_s=25.0,
        body_units=62.0, leap_frac=0.7,
    ),
    "horror": SubjectMotion(1.0, 0.6, tone_hz=70.0, drift_units_s=20.0, body_units=36.0),
    "ocean": SubjectMotion(
        0.5, 0.0, hop_speed_m_s=3.2, tone_hz=300.0, drift_units_s=40.0, body_units=40.0,
        ground_frac=0.64, leap_frac=0.55, casts_shadow=False,
    ),
    "forest": SubjectMotion(1.3, 0.45, tone_hz=240.0, drift_units_s=0.0, body_units=30.0),
    "music": SubjectMotion(
        0.6, 0.0, hop_speed_m_s=2.45, tone_hz=440.0, drift_units_s=25.0, body_units=55.0,
        leap_frac=0.6,
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    """Where things go in a drawing of width x height pixels."""

    width: int
    height: int
    unit: float  # pixels per design unit; the design canvas is 288 units wide
    ground_y: float
    floor_y: float  # where the subject lands
    px_per_m: float
    peak_m: float

    def px(self, units: float) -> float:
        return units * self.unit

    def line(self, units: float) -> int:
        return max(1, round(units * self.unit))


def _layout(width: int, height: int, motion: SubjectMotion) -> _Layout:
    unit = width / 288.0
    ground_y = motion.ground_frac * height
    floor_y = ground_y - motion.floor_raise_units * unit
    room_px = floor_y - 0.08 * height - motion.body_units * unit
    peak_m = motion.peak_height_m
    px_per_m = max(room_px, 1.0) * motion.leap_frac / peak_m
    return _Layout(width, height, unit, ground_y, floor_y, px_per_m, peak_m)


@dataclass(frozen=True)
class _Pose:
    """The subject at one frame, in drawing pixels."""

    t_s: float
    x: float
    base_y: float  # lowest point of the body
    height_frac: float  # height above the floor over the peak height
    velocity_frac: float  # upward velocity over the largest speed of the motion
    since_impact_s: float
    heading: float  # +1 moving right, -1 moving left


# --------------------------------------------------------------------------- scenery

_Draw = ImageDraw.ImageDraw
_SceneryDrawer = Callable[[_Draw, _Layout, np.random.Generator, float], None]
_SubjectDrawer = Callable[[_Draw, _Layout, _Pose, np.ndarray], None]


def _ellipse(draw: _Draw, cx: float, cy: float, rx: float, ry: float, label: int) -> None:
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=label)


def _ground(draw: _Draw, lay: _Layout) -> None:
    draw.rectangle([0, lay.ground_y, lay.width, lay.height], fill=_GROUND)


def _sun(draw: _Draw, lay: _Layout, rng: np.random.Generator) -> None:
    x = rng.uniform(0.15, 0.85) * lay.width
    _ellipse(draw, x, lay.height * 0.12, lay.px(22), lay.px(22), _ACCENT)


def _scenery_court(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _ground(draw, lay)
    u, g = lay.px, lay.ground_y
    pole_x = lay.width - u(26) if rng.random() < 0.5 else u(26)
    board_dir = -1.0 if pole_x > lay.width / 2 else 1.0
    draw.rectangle([pole_x - u(3), g - u(250), pole_x + u(3), g], fill=_SCENERY_DARK)
    board_x = pole_x + board_dir * u(4)
    rim_x = board_x + board_dir * u(8)
    draw.rectangle(
        [min(board_x, rim_x), g - u(270), max(board_x, rim_x), g - u(220)], fill=_SCENERY
    )
    hoop = [(rim_x, g - u(236)), (rim_x + board_dir * u(34), g - u(236))]
    draw.line(hoop, fill=_ACCENT, width=lay.line(4))
    draw.line([(0, g + u(36)), (lay.width, g + u(36))], fill=_ACCENT, width=lay.line(3))


def _scenery_park(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _sun(draw, lay, rng)
    _ground(draw, lay)
    u, g = lay.px, lay.ground_y
    for _ in range(3):
        x = rng.uniform(0.0, 1.0) * lay.width
        _ellipse(draw, x, g - u(10), u(rng.uniform(18, 30)), u(rng.uniform(14, 22)), _SCENERY)
    side = 1.0 if rng.random() < 0.5 else -1.0
    edge = lay.width if side > 0 else 0.0
    draw.polygon(
        [(edge, g), (edge - side * u(70), g), (edge - side * u(20), g - u(40)), (edge, g - u(60))],
        fill=_SCENERY_DARK,
    )


def _scenery_yard(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _sun(draw, lay, rng)
    _ground(draw, lay)
    u, g = lay.px, lay.ground_y
    start = rng.uniform(0, 30)
    for x in np.arange(start, 288, 36):
        draw.rectangle([u(x), g - u(72), u(x + 8), g], fill=_SCENERY)
    for rail_y in (54, 26):
        draw.rectangle([0, g - u(rail_y), lay.width, g - u(rail_y - 7)], fill=_SCENERY_DARK)


def _scenery_kitchen(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _ground(draw, lay)
    u, g = lay.px, lay.ground_y
    x0 = rng.uniform(20, 150)
    draw.rectangle([u(x0), u(40), u(x0 + 110), u(150)], fill=_SCENERY_DARK)
    draw.rectangle([u(x0 + 6), u(46), u(x0 + 104), u(144)], fill=_SCENERY)
    draw.line([(u(x0 + 55), u(46)), (u(x0 + 55), u(144))], fill=_SCENERY_DARK, width=lay.line(4))
    draw.rectangle([0, g, lay.width, g + u(10)], fill=_SCENERY_DARK)


def _scenery_space(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    u, g = lay.px, lay.ground_y
    for _ in range(70):
        x, y = rng.uniform(0, lay.width), rng.uniform(0, g)
        r = u(rng.uniform(0.8, 2.2))
        _ellipse(draw, x, y, r, r, _ACCENT)
    px_, py = rng.uniform(0.25, 0.75) * lay.width, lay.height * 0.2
    _ellipse(draw, px_, py, u(48), u(48), _SCENERY)
    draw.arc(
        [px_ - u(80), py - u(18), px_ + u(80), py + u(18)],
        200,
        340,
        fill=_SCENERY_DARK,
        width=lay.line(5),
    )
    draw.arc(
        [px_ - u(80), py - u(18), px_ + u(80), py + u(18)],
        -10,
        190,
        fill=_SCENERY_DARK,
        width=lay.line(5),
    )
    xs = np.linspace(0, lay.width, 12)
    ys = g + u(6) * np.sin(xs / u(40) + rng.uniform(0, 6))
    draw.polygon(
        [(0, lay.height), *zip(xs, ys, strict=True), (lay.width, lay.height)], fill=_GROUND
    )
    for _ in range(5):
        cx, cy = rng.uniform(0, lay.width), rng.uniform(g + u(20), lay.height)
        rx = u(rng.uniform(10, 24))
        _ellipse(draw, cx, cy, rx, rx * 0.35, _SCENERY_DARK)


def _scenery_corridor(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    u, w, h = lay.px, lay.width, lay.height
    cx = w / 2 + u(rng.uniform(-10, 10))
    x0, x1, y0, y1 = cx - u(48), cx + u(48), h * 0.30, h * 0.50
    draw.polygon([(0, h), (w, h), (x1, y1), (x0, y1)], fill=_GROUND)
    draw.polygon([(0, 0), (w, 0), (x1, y0), (x0, y0)], fill=_SCENERY_DARK)
    draw.polygon([(0, 0), (x0, y0), (x0, y1), (0, h)], fill=_SCENERY)
    draw.polygon([(w, 0), (x1, y0), (x1, y1), (w, h)], fill=_SCENERY)
    draw.rectangle([x0, y0, x1, y1], fill=_SCENERY_DARK)
    draw.rectangle([cx - u(20), y1 - u(64), cx + u(20), y1], fill=_INK)
    for depth in (0.25, 0.55, 0.8):  # ceiling lights, nearer ones larger
        half, y = u(10) + depth * u(30), y0 * (1 - depth)
        draw.rectangle([cx - half, y, cx + half, y + u(3) + depth * u(6)], fill=_ACCENT)


def _scenery_sea(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _sun(draw, lay, rng)
    horizon = lay.ground_y - lay.px(70)
    draw.rectangle([0, horizon, lay.width, lay.height], fill=_SCENERY_DARK)


def _scenery_forest(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _sun(draw, lay, rng)
    u, g = lay.px, lay.ground_y
    xs = np.linspace(0, lay.width, 9)
    ys = g - u(60) - u(50) * rng.random(9)
    draw.polygon([(0, g), *zip(xs, ys, strict=True), (lay.width, g)], fill=_SCENERY_DARK)
    _ground(draw, lay)
    motion = SUBJECT_MOTIONS["forest"]
    apple_top = lay.floor_y - motion.drop_height_m * lay.px_per_m - u(24)
    trees = [(anchor_x, apple_top + u(6))]
    trees += [(rng.uniform(0, lay.width), g - u(rng.uniform(120, 200))) for _ in range(2)]
    for tx, top in trees:
        draw.rectangle([tx - u(7), top, tx + u(7), g], fill=_SCENERY_DARK)
        for dx, dy, r in ((0, -8, 44), (-32, 10, 30), (32, 10, 30)):
            _ellipse(draw, tx + u(dx), top + u(dy), u(r), u(r), _SCENERY)
    for x in rng.uniform(0, lay.width, 14):
        draw.line([(x, g), (x + u(3), g - u(8))], fill=_SCENERY, width=lay.line(2))


def _scenery_stage(draw: _Draw, lay: _Layout, rng: np.random.Generator, anchor_x: float) -> None:
    _ground(draw, lay)
    u, g = lay.px, lay.ground_y
    for edge in (u(8), lay.width - u(48)):
        draw.rectangle([edge, g - u(90), edge + u(40), g], fill=_SCENERY_DARK)
        for cy, r in ((g - u(66), 13), (g - u(26), 16)):
            _ellipse(draw, edge + u(20), cy, u(r), u(r), _INK)
    beam_x = rng.uniform(0.3, 0.7) * lay.width
    draw.polygon(
        [(beam_x - u(8), 0), (beam_x + u(8), 0), (beam_x + u(40), g), (beam_x - u(40), g)],
        fill=_ACCENT,
    )


_SCENERY_DRAWERS: dict[str, _SceneryDrawer] = {
    "ball": _scenery_court,
    "figure": _scenery_park,
    "cat": _scenery_yard,
    "dog": _scenery_yard,
    "food": _scenery_kitchen,
    "space": _scenery_space,
    "horror": _scenery_corridor,
    "ocean": _scenery_sea,
    "forest": _scenery_forest,
    "music": _scenery_stage,
}


# --------------------------------------------------------------------------- subjects


def _landing_squash(pose: _Pose) -> float:
    """0 in flight, up to 1 just after touching down."""
    return math.exp(-pose.since_impact_s / 0.06) if math.isfinite(pose.since_impact_s) else 0.0


def _draw_round(draw: _Draw, lay: _Layout, pose: _Pose, radius_units: float) -> None:
    r = lay.px(radius_units)
    squash = 0.25 * _landing_squash(pose) * (1.0 - min(1.0, 4.0 * pose.height_frac))
    rx, ry = r * (1 + squash), r * (1 - squash)
    cx, cy = pose.x, pose.base_y - ry
    _ellipse(draw, cx, cy, rx, ry, _SUBJECT)
    spin = pose.x / max(r, 1e-6)  # rolls with its horizontal travel
    for angle in (spin, spin + math.pi / 2):
        dx, dy = math.cos(angle) * rx, math.sin(angle) * ry
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=_SUBJECT_DARK, width=lay.line(3))


def _draw_ball(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    _draw_round(draw, lay, pose, 24)


def _draw_figure(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, x, feet = lay.px, pose.x, pose.base_y
    tuck = min(1.0, 3.0 * pose.height_frac)
    hip = feet - u(30) + u(8) * _landing_squash(pose)
    for side in (-1.0, 1.0):
        knee = (x + side * u(7 + 5 * tuck), hip + u(15 - 5 * tuck))
        foot = (x + side * u(9 - 4 * tuck), feet - u(8) * tuck)
        draw.line(
            [(x + side * u(4), hip), knee, foot],
            fill=_SUBJECT_DARK,
            width=lay.line(6),
            joint="curve",
        )
    shoulder = hip - u(25)
    lift = 1.0 if pose.velocity_frac > 0 else -0.3
    for side in (-1.0, 1.0):
        elbow = (x + side * u(15), shoulder + u(4) - u(8) * lift)
        hand = (x + side * u(21), shoulder - u(18) * lift)
        draw.line(
            [(x + side * u(8), shoulder), elbow, hand],
            fill=_SUBJECT_DARK,
            width=lay.line(5),
            joint="curve",
        )
    draw.rounded_rectangle(
        [x - u(10), hip - u(30), x + u(10), hip + u(2)], radius=u(8), fill=_SUBJECT
    )
    head_y = hip - u(42)
    _ellipse(draw, x, head_y, u(10), u(10), _SUBJECT)
    for dx in (-3.5, 3.5):
        _ellipse(draw, x + u(dx + 2 * pose.heading), head_y - u(1), u(1.6), u(1.6), _INK)


def _draw_quadruped(
    draw: _Draw, lay: _Layout, pose: _Pose, *, length: float, leg: float, cat: bool
) -> None:
    u, x, feet, face = lay.px, pose.x, pose.base_y, pose.heading
    tuck = min(1.0, 3.0 * pose.height_frac)
    body_y = feet - u(leg + 6)
    for dx in (-0.7, -0.35, 0.35, 0.7):
        top = (x + u(dx * length), body_y + u(4))
        foot = (x + u(dx * length) - face * u(5) * tuck, feet - u(4) * tuck)
        draw.line([top, foot], fill=_SUBJECT_DARK, width=lay.line(5))
    tail_root = (x - face * u(length * 0.9), body_y - u(4))
    if cat:
        tail = [
            tail_root,
            (x - face * u(length + 12), body_y - u(16)),
            (x - face * u(length + 6), body_y - u(30)),
        ]
    else:
        tail = [tail_root, (x - face * u(length + 10), body_y - u(14))]
    draw.line(tail, fill=_SUBJECT_DARK, width=lay.line(4), joint="curve")
    _ellipse(draw, x, body_y, u(length), u(11 if cat else 13), _SUBJECT)
    hx, hy, hr = x + face * u(length + 2), body_y - u(14), u(10 if cat else 12)
    if cat:
        for dx in (-1.0, 1.0):
            draw.polygon(
                [
                    (hx + u(dx * 9), hy - u(3)),
                    (hx + u(dx * 6), hy - u(17)),
                    (hx + u(dx * 1), hy - u(8)),
                ],
                fill=_SUBJECT,
            )
        for k in (-1, 0, 1):
            draw.line(
                [(x + u(6 * k), body_y - u(10)), (x + u(6 * k - 2), body_y - u(2))],
                fill=_SUBJECT_DARK,
                width=lay.line(2),
            )
    _ellipse(draw, hx, hy, hr, hr, _SUBJECT)
    if not cat:
        _ellipse(draw, hx + face * u(11), hy + u(4), u(8), u(6), _SUBJECT)
        _ellipse(draw, hx + face * u(18), hy + u(2), u(2.5), u(2.5), _INK)
        _ellipse(draw, hx - face * u(4), hy + u(6), u(4.5), u(10), _SUBJECT_DARK)
    _ellipse(draw, hx + face * u(4), hy - u(2), u(1.8), u(1.8), _INK)


def _draw_cat(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    _draw_quadruped(draw, lay, pose, length=22, leg=12, cat=True)


def _draw_dog(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    _draw_quadruped(draw, lay, pose, length=26, leg=16, cat=False)


def _draw_food(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, cx, rim = lay.px, lay.width / 2, lay.floor_y
    for k in (-1, 0, 1):  # steam rising from the soup
        ys = np.linspace(rim - u(16), rim - u(130), 14)
        xs = cx + u(24 * k) + u(6) * np.sin((ys / u(30)) + pose.t_s * 5.0 + params[k + 1] * 6.0)
        draw.line(list(zip(xs, ys, strict=True)), fill=_ACCENT, width=lay.line(3), joint="curve")
    _ellipse(draw, cx, rim, u(62), u(10), _SUBJECT_DARK)
    r = u(12)
    _ellipse(
        draw, pose.x, pose.base_y - r + u(7), r, r * (1 - 0.2 * _landing_squash(pose)), _ACCENT
    )
    draw.chord([cx - u(62), rim - u(46), cx + u(62), rim + u(46)], 0, 180, fill=_SUBJECT)
    draw.rectangle([cx - u(24), lay.ground_y - u(4), cx + u(24), lay.ground_y], fill=_SUBJECT_DARK)


def _draw_astronaut(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, x, feet, face = lay.px, pose.x, pose.base_y, pose.heading
    tuck = min(1.0, 3.0 * pose.height_frac)
    for dx in (-6.0, 6.0):
        draw.rectangle(
            [x + u(dx - 4), feet - u(14), x + u(dx + 4), feet - u(4) * tuck], fill=_SUBJECT_DARK
        )
    pack_x = x - face * u(14)
    draw.rectangle([pack_x - u(6), feet - u(42), pack_x + u(6), feet - u(16)], fill=_SUBJECT_DARK)
    draw.rounded_rectangle(
        [x - u(12), feet - u(40), x + u(12), feet - u(10)], radius=u(6), fill=_SUBJECT
    )
    _ellipse(draw, x, feet - u(50), u(12), u(12), _SUBJECT)
    _ellipse(draw, x + face * u(3), feet - u(50), u(8), u(6), _INK)
    _ellipse(draw, x + face * u(6), feet - u(52), u(2), u(1.5), _ACCENT)


def _draw_horror(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, h = lay.px, lay.height
    visible = math.sin(pose.t_s * 7.3 + params[0] * 6.0) > -0.3
    if visible:
        cx, floor = lay.width / 2, h * 0.50
        draw.polygon(
            [
                (cx - u(7), floor),
                (cx + u(7), floor),
                (cx + u(5), floor - u(34)),
                (cx - u(5), floor - u(34)),
            ],
            fill=_ACCENT,
        )
        _ellipse(draw, cx, floor - u(40), u(5), u(6), _ACCENT)
    _draw_round(draw, lay, pose, 16)


def _wave_edge(
    lay: _Layout, base_y: float, amp_units: float, wavelength_units: float, phase: float
) -> list[tuple[float, float]]:
    xs = np.linspace(0, lay.width, 25)
    ys = base_y + lay.px(amp_units) * np.sin(2 * np.pi * xs / lay.px(wavelength_units) + phase)
    return [
        (0.0, float(lay.height)),
        *zip(xs, ys, strict=True),
        (float(lay.width), float(lay.height)),
    ]


def _draw_fish(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, t = lay.px, pose.t_s
    back = _wave_edge(lay, lay.floor_y - u(14), 5, 90, 2.0 * t + params[0] * 6)
    draw.polygon(back, fill=_SCENERY)
    # The fish points along its flight path: nose up while rising, down while falling.
    climb = math.atan(2.0 * pose.velocity_frac)
    fx, fy = pose.heading * math.cos(climb), -math.sin(climb)
    cx, cy = pose.x, pose.base_y - u(8)

    def place(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(cx + a * fx - b * fy, cy + a * fy + b * fx) for a, b in points]

    body = [(u(18) * math.cos(a), u(8) * math.sin(a)) for a in np.linspace(0, 2 * np.pi, 16)]
    tail = [(-u(14), 0.0), (-u(28), -u(10)), (-u(28), u(10))]
    draw.polygon(place(tail), fill=_SUBJECT_DARK)
    draw.polygon(place(body), fill=_SUBJECT)
    ex, ey = place([(u(10), -u(2))])[0]
    _ellipse(draw, ex, ey, u(2), u(2), _INK)
    if pose.since_impact_s < 0.3:
        s = pose.since_impact_s
        for k in range(-2, 3):
            dx = u(8) * k * (1 + 6 * s)
            dy = -u(90) * s + u(300) * s * s
            _ellipse(draw, pose.x + dx, lay.floor_y - u(4) + dy, u(2.5), u(2.5), _ACCENT)
    front = _wave_edge(lay, lay.floor_y + u(8), 6, 70, -2.8 * t + params[1] * 6)
    draw.polygon(front, fill=_GROUND)
    draw.line(front[1:-1], fill=_ACCENT, width=lay.line(2))


def _draw_apple(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u = lay.px
    r = u(12)
    cy = pose.base_y - r
    draw.line([(pose.x, cy - r), (pose.x + u(2), cy - r - u(6))], fill=_INK, width=lay.line(2))
    _ellipse(draw, pose.x, cy, r * (1 + 0.15 * _landing_squash(pose)), r, _SUBJECT)
    _ellipse(draw, pose.x + u(6), cy - r - u(3), u(5), u(2.5), _SUBJECT_DARK)


def _draw_music(draw: _Draw, lay: _Layout, pose: _Pose, params: np.ndarray) -> None:
    u, g, t = lay.px, lay.ground_y, pose.t_s
    pulse = math.exp(-pose.since_impact_s / 0.2) if math.isfinite(pose.since_impact_s) else 0.0
    n_bars, gap = 9, lay.width / 9
    for k in range(n_bars):
        level = (
            25
            + 90 * params[k] * pulse
            + 12 * (1 + math.sin(2 * math.pi * (1.3 * t + params[k + 5])))
        )
        x0 = k * gap + gap * 0.18
        draw.rectangle([x0, g - u(level), x0 + gap * 0.64, g], fill=_SCENERY)
        draw.rectangle([x0, g - u(level), x0 + gap * 0.64, g - u(level) + u(4)], fill=_ACCENT)
    for k in range(3):
        nx = (0.2 + 0.3 * k + 0.1 * params[k + 10]) * lay.width
        ny = g - u(150) - (t * u(40) + k * u(60)) % u(160)
        _ellipse(draw, nx, ny, u(6), u(4.5), _ACCENT)
        draw.line([(nx + u(5), ny), (nx + u(5), ny - u(22))], fill=_ACCENT, width=lay.line(2))
    squash = 0.3 * _landing_squash(pose)
    hx, hy = pose.x, pose.base_y - u(9) * (1 - squash)
    _ellipse(draw, hx, hy, u(13) * (1 + squash), u(9) * (1 - squash), _SUBJECT)
    top = hy - u(48)
    draw.line([(hx + u(11), hy), (hx + u(11), top)], fill=_SUBJECT_DARK, width=lay.line(4))
    draw.line([(hx + u(11), top), (hx + u(24), top + u(16))], fill=_SUBJECT_DARK, width=lay.line(4))


_SUBJECT_DRAWERS: dict[str, _SubjectDrawer] = {
    "ball": _draw_ball,
    "figure": _draw_figure,
    "cat": _draw_cat,
    "dog": _draw_dog,
    "food": _draw_food,
    "space": _draw_astronaut,
    "horror": _draw_horror,
    "ocean": _draw_fish,
    "forest": _draw_apple,
    "music": _draw_music,
}


def _draw_speed_lines(draw: _Draw, lay: _Layout, pose: _Pose, motion: SubjectMotion) -> None:
    """Anime speed lines trailing a fast body."""
    if abs(pose.velocity_frac) < 0.35:
        return
    u = lay.px
    length = u(60) * abs(pose.velocity_frac)
    top = pose.base_y - u(motion.body_units)
    for k in (-1, 0, 1):
        x = pose.x + u(11) * k
        if pose.velocity_frac < 0:  # falling: lines above
            start, end = top - u(6 + 4 * abs(k)), top - u(6 + 4 * abs(k)) - length
        else:
            start, end = pose.base_y + u(4), pose.base_y + u(4) + length * 0.6
        draw.line([(x, start), (x, end)], fill=_INK, width=lay.line(1.5))


# --------------------------------------------------------------------------- textures


def _smooth_noise(height: int, width: int, cell_px: float, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise, float32 (height, width), about zero mean and unit spread."""
    rows = max(2, math.ceil(height / max(cell_px, 1.0)) + 1)
    cols = max(2, math.ceil(width / max(cell_px, 1.0)) + 1)
    coarse = Image.fromarray(rng.standard_normal((rows, cols)).astype(np.float32))
    fine = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    return (fine - fine.mean()) / max(float(fine.std()), 1e-6)


def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    """float32 (height, width): 1 at the centre, 1 - strength in the corners."""
    ny = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    nx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    return 1.0 - strength * (nx * nx + ny * ny) / 2.0


def _perspective_grid(lay: _Layout, spacing_units: float) -> np.ndarray:
    """bool (height, width): a floor grid running to a vanishing point on the ground line."""
    img = Image.new("L", (lay.width, lay.height), 0)
    draw = ImageDraw.Draw(img)
    g, cx, depth = lay.ground_y, lay.width / 2, lay.height - lay.ground_y
    width = lay.line(1.5)
    for k in range(1, 9):
        y = g + depth * (k / 8) ** 2
        draw.line([(0, y), (lay.width, y)], fill=255, width=width)
    for k in range(-10, 11):
        bottom_x = cx + k * lay.px(spacing_units) * 2.0
        draw.line(
            [(cx + k * lay.px(spacing_units) * 0.15, g), (bottom_x, lay.height)],
            fill=255,
            width=width,
        )
    return np.asarray(img) > 0


_BAYER_4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32)
_PICO8 = np.array(
    [(0, 0, 0), (29, 43, 83), (126, 37, 83), (0, 135, 81), (171, 82, 54), (95, 87, 79),
     (194, 195, 199), (255, 241, 232), (255, 0, 77), (255, 163, 0), (255, 236, 39), (0, 228, 54),
     (41, 173, 255), (131, 118, 156), (255, 119, 168), (255, 204, 170)],
    dtype=np.float32,
)  # fmt: skip
_PICO8_NORMS = (_PICO8**2).sum(axis=1)
_PAPER = np.array([246, 243, 236], dtype=np.float32)
_WASHED = 0.8 * np.eye(3, dtype=np.float32) + 0.2 * _LUMA[:, None]  # 20% toward gray


def _rgb(values: np.ndarray) -> np.ndarray:
    """Repeat a (..., h, w) map over three channels: float32 (..., h, w, 3).

    Per-frame maths runs on arrays of the frame's full shape; numpy broadcasting over a
    trailing axis of 1 or 3 is several times slower.
    """
    values = np.asarray(values, dtype=np.float32)
    return np.stack([values, values, values], axis=-1)


@dataclass(frozen=True)
class _Textures:
    """Per-clip static maps a style's finishing pass uses; None where a style needs none."""

    tone_mul: np.ndarray | None = None  # float32 (h, w, 3), multiplied in every frame
    tone_add: np.ndarray | None = None  # float32 (h, w, 3), added in every frame
    grain: np.ndarray | None = None  # float32 (h + 32, w + 32, 3), cropped at a frame's offset
    dither: np.ndarray | None = None  # float32 (h, w, 3) ordered-dither offsets
    hatch: np.ndarray | None = None  # float32 (2, h, w): 45 and 135 degree pencil hatching
    facet_ids: np.ndarray | None = None  # intp (h, w) low-poly triangle of each pixel
    facet_light: np.ndarray | None = None  # float32 (h, w, 3) light of each pixel's triangle


def _grain(height: int, width: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gray film grain two pixels across (finer grain costs the encoder dearly), with a
    32-pixel margin for per-frame offsets: float32 (height + 32, width + 32, 3)."""
    coarse = sigma * rng.standard_normal((height // 2 + 16, width // 2 + 16))
    return _rgb(np.repeat(np.repeat(coarse, 2, axis=0), 2, axis=1)[: height + 32, : width + 32])


def _textures(style: str, lay: _Layout, rng: np.random.Generator) -> _Textures:
    h, w, u = lay.height, lay.width, lay.unit
    if style == "photorealistic":
        return _Textures(tone_mul=_rgb(_vignette(h, w, 0.25)), grain=_grain(h, w, 3.5, rng))
    if style == "claymation":
        prints = 1.0 + 0.035 * _smooth_noise(h, w, 22 * u, rng)
        return _Textures(tone_mul=_rgb(prints * _vignette(h, w, 0.15)))
    if style == "watercolor":
        paper = 1.0 - 0.03 * np.abs(_smooth_noise(h, w, 1.5, rng))
        wash = 0.03 * _smooth_noise(h, w, 60 * u, rng)
        tint = np.stack([0.012 * _smooth_noise(h, w, 60 * u, rng) for _ in range(3)], axis=2)
        return _Textures(tone_mul=_rgb(paper + wash) + tint)
    if style == "film noir":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        period = 34 * u
        slats = ((xx * 0.45 + yy) % period) / period
        blinds = np.where(slats < 0.55, 1.0, 0.42)
        return _Textures(tone_mul=_rgb(blinds * _vignette(h, w, 0.7)), grain=_grain(h, w, 6.0, rng))
    if style == "cyberpunk":
        return _Textures(tone_mul=_rgb(_vignette(h, w, 0.35)))
    if style == "vaporwave":
        scan = np.where(np.arange(h) % 3 == 0, 0.88, 1.0)
        return _Textures(tone_mul=_rgb(np.broadcast_to(scan[:, None], (h, w))))
    if style == "oil painting":
        field = rng.random((h, w)).astype(np.float32)
        strokes = np.zeros_like(field)
        for k in range(10):  # smear noise along one diagonal into brush-stroke streaks
            strokes += np.roll(field, (k, 2 * k), axis=(0, 1))
        strokes = (strokes - strokes.mean()) / max(float(strokes.std()), 1e-6)
        mul = (1.0 + 0.07 * strokes) * _vignette(h, w, 0.3)
        add = np.stack([5.0 * _smooth_noise(h, w, 40 * u, rng) for _ in range(3)], axis=2)
        return _Textures(tone_mul=_rgb(mul), tone_add=add)
    if style == "pixel art":
        tiled = np.tile(_BAYER_4, (h // 4 + 1, w // 4 + 1))[:h, :w]
        return _Textures(dither=_rgb(((tiled + 0.5) / 16.0 - 0.5) * 40.0))
    if style == "pencil sketch":
        yy, xx = np.mgrid[0:h, 0:w]
        period = max(3, round(5 * u))
        hatch = np.stack([(xx + yy) % period == 0, (xx - yy) % period == 0]).astype(np.float32)
        return _Textures(hatch=hatch)
    if style == "low poly":
        return _low_poly_facets(lay, rng)
    return _Textures()


def _low_poly_facets(lay: _Layout, rng: np.random.Generator) -> _Textures:
    """A triangle mesh over the frame, each triangle lit a little differently."""
    h, w = lay.height, lay.width
    cell = max(4.0, lay.px(18))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    row, col = (yy // cell).astype(np.intp), (xx // cell).astype(np.intp)
    fy, fx = (yy % cell) / cell, (xx % cell) / cell
    # Alternate the diagonal from cell to cell, so the mesh reads as facets, not stripes.
    upper = np.where((row + col) % 2 == 0, fx + fy < 1.0, fx < fy)
    ids = (row * (int(col.max()) + 1) + col) * 2 + upper
    light = 1.0 + 0.06 * rng.standard_normal(int(ids.max()) + 1)
    return _Textures(facet_ids=ids, facet_light=_rgb(light[ids]))


def _facet_average(rgb: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Flat-shade each triangle of the mesh with its mean colour: float32 (h, w, 3)."""
    flat_ids, n = ids.ravel(), int(ids.max()) + 1
    counts = np.maximum(np.bincount(flat_ids, minlength=n), 1)
    means = np.stack(
        [np.bincount(flat_ids, rgb[..., c].ravel(), n) / counts for c in range(3)], axis=1
    )
    return np.take(means.astype(np.float32), flat_ids, axis=0).reshape(rgb.shape)


# --------------------------------------------------------------------------- backdrop


def _edges(labels: np.ndarray, thickness: int) -> np.ndarray:
    """bool map of pixels on a label boundary, grown to about `thickness` pixels."""
    edges = np.zeros(labels.shape, dtype=bool)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    for _ in range(thickness // 2):
        grown = edges.copy()
        grown[:, 1:] |= edges[:, :-1]
        grown[:, :-1] |= edges[:, 1:]
        grown[1:, :] |= edges[:-1, :]
        grown[:-1, :] |= edges[1:, :]
        edges = grown
    return edges


def _add_glow(rgb: np.ndarray, edges: np.ndarray, lay: _Layout, color: RGB) -> None:
    strength = 0.9 * _blurred(edges, lay.px(5))
    rgb += np.stack([strength * channel for channel in color], axis=-1)


def _decorate_vaporwave(
    rgb: np.ndarray, labels: np.ndarray, lay: _Layout, rng: np.random.Generator
) -> None:
    sky, ground = labels == _SKY, labels == _GROUND
    r = lay.px(64)
    cx, cy = lay.width * rng.uniform(0.4, 0.6), lay.ground_y - lay.px(40)
    yy, xx = np.mgrid[0 : lay.height, 0 : lay.width].astype(np.float32)
    rel = (yy - (cy - r)) / (2 * r)  # 0 at the top of the sun, 1 at its bottom
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    gaps = (rel > 0.5) & (((rel - 0.5) * 9.0) % 1.0 < (rel - 0.5) * 1.3)
    sun = disc & ~gaps & sky
    top, bottom = np.array((255, 236, 130), np.float32), np.array((255, 70, 160), np.float32)
    rgb[sun] = top + (bottom - top) * np.clip(rel[sun], 0, 1)[:, None]
    rgb[_perspective_grid(lay, 24) & ground] = (255, 113, 206)


def _decorate_cyberpunk(
    rgb: np.ndarray, labels: np.ndarray, lay: _Layout, rng: np.random.Generator
) -> None:
    img = Image.new("L", (lay.width, lay.height), 0)
    draw = ImageDraw.Draw(img)
    u, g, x = lay.px, lay.ground_y, 0.0
    while x < lay.width:
        bw, bh = u(rng.uniform(22, 48)), u(rng.uniform(70, 230))
        draw.rectangle([x, g - bh, x + bw, g], fill=1)
        for wy in np.arange(g - bh + u(8), g - u(6), u(12)):
            for wx in np.arange(x + u(5), x + bw - u(6), u(9)):
                if rng.random() < 0.3:
                    draw.rectangle([wx, wy, wx + u(4), wy + u(5)], fill=2 + int(rng.random() < 0.4))
        x += bw + u(rng.uniform(2, 8))
    city, sky = np.asarray(img), labels == _SKY
    rgb[(city == 1) & sky] = (18, 12, 38)
    rgb[(city == 2) & sky] = (0, 200, 230)
    rgb[(city == 3) & sky] = (230, 40, 180)
    rgb[_perspective_grid(lay, 24) & (labels == _GROUND)] = (220, 0, 150)


def _decorate_photo(
    rgb: np.ndarray, labels: np.ndarray, lay: _Layout, rng: np.random.Generator
) -> None:
    # The ground darkens toward the viewer, as under a high sun.
    rows = np.arange(lay.height, dtype=np.float32)
    depth = np.clip((rows - lay.ground_y) / max(lay.height - lay.ground_y, 1.0), 0.0, 1.0)
    shade = (1.0 - 0.35 * depth)[:, None]
    ground = labels == _GROUND
    rgb[ground] *= np.broadcast_to(shade, labels.shape)[ground][:, None]


_BACKDROP_DECOR: dict[
    str, Callable[[np.ndarray, np.ndarray, _Layout, np.random.Generator], None]
] = {
    "vaporwave": _decorate_vaporwave,
    "cyberpunk": _decorate_cyberpunk,
    "photorealistic": _decorate_photo,
}


def _backdrop(
    style: str, look: StyleLook, labels: np.ndarray, lay: _Layout, rng: np.random.Generator
) -> np.ndarray:
    """Colour the static scenery: float32 (h, w, 3)."""
    rows = np.clip(np.arange(lay.height, dtype=np.float32) / max(lay.ground_y, 1.0), 0.0, 1.0)
    top, bottom = np.asarray(look.sky_top, np.float32), np.asarray(look.sky_bottom, np.float32)
    sky = top + (bottom - top) * rows[:, None]
    rgb = look.lut()[labels]
    is_sky = labels == _SKY
    rgb[is_sky] = np.broadcast_to(sky[:, None, :], rgb.shape)[is_sky]
    decorate = _BACKDROP_DECOR.get(style)
    if decorate is not None:
        decorate(rgb, labels, lay, rng)
    if look.outline_units:
        edges = _edges(labels, lay.line(look.outline_units))
        rgb[edges] = look.ink
        if look.glow:
            _add_glow(rgb, edges, lay, look.ink)
    return rgb


# --------------------------------------------------------------------------- caption


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_px: float, max_lines: int
) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > max_px:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + "...") > max_px:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + "..."]
    return lines


@dataclass(frozen=True)
class _Caption:
    """The prompt as a translucent caption box over the bottom rows of the frame."""

    top: int
    rgb: np.ndarray  # float32 (height - top, width, 3)
    alpha: np.ndarray  # float32 (height - top, width, 3), 0-1, equal over channels


def _caption(prompt: str, width: int, height: int) -> _Caption:
    unit = width / 288.0
    font = _font(max(10, round(14 * unit)))
    if not isinstance(font, ImageFont.FreeTypeFont):  # the bitmap font is Latin-1 only
        prompt = prompt.encode("latin-1", "replace").decode("latin-1")
    margin, pad = round(12 * unit), round(8 * unit)
    lines = _wrap(" ".join(prompt.split()), font, width - 2 * (margin + pad), max_lines=3)
    line_h = max(10, round(14 * unit)) + round(5 * unit)
    box_h = len(lines) * line_h + 2 * pad
    top = max(0, height - margin - box_h)
    img = Image.new("RGBA", (width, height - top), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        [margin, 0, width - margin, box_h], radius=round(6 * unit), fill=(0, 0, 0, 150)
    )
    for k, line in enumerate(lines):
        draw.text((margin + pad, pad + k * line_h), line, font=font, fill=(255, 255, 255, 255))
    layer = np.asarray(img, dtype=np.float32)
    return _Caption(top, np.ascontiguousarray(layer[..., :3]), _rgb(layer[..., 3] / 255.0))


# --------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class _Scene:
    """Everything fixed for one clip; frames are drawn from it by index."""

    style: str
    subject: str
    look: StyleLook
    motion: SubjectMotion
    layout: _Layout  # drawing resolution; smaller than the output for pixel art
    block: int  # output pixels per drawing pixel (see _DRAWING_BLOCKS)
    out_width: int
    out_height: int
    hold: int  # frames each drawing is shown for (2 gives claymation its stop-motion rate)
    poses: tuple[_Pose, ...]  # one per drawing
    params: np.ndarray  # float64 (16,) per-clip randoms for moving scenery
    backdrop: np.ndarray  # float32 (h, w, 3)
    lut: np.ndarray  # float32 (9, 3)
    textures: _Textures
    grain_offsets: np.ndarray  # int (n_drawings, 2)
    flicker: np.ndarray | None  # float32 (n_drawings,) light level, horror only
    caption: _Caption
    track: BounceTrack


def _rng(prompt: str, seed: int) -> np.random.Generator:
    digest = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, digest])


def _checked_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string; got {prompt!r}")
    return prompt


def _poses(
    track: BounceTrack,
    motion: SubjectMotion,
    lay: _Layout,
    fps: int,
    hold: int,
    rng: np.random.Generator,
) -> tuple[_Pose, ...]:
    n = track.heights_m.size
    t = np.arange(n) / fps
    margin = lay.px(motion.body_units * 0.5 + 10)
    lo, hi = margin, max(margin + 1.0, lay.width - margin)
    if motion.drift_units_s == 0:
        x, heading = np.full(n, lay.width / 2 + lay.px(rng.uniform(-30, 30))), np.ones(n)
    else:
        speed = lay.px(motion.drift_units_s) * rng.uniform(0.8, 1.2) * rng.choice([-1.0, 1.0])
        x, heading = _reflect(rng.uniform(lo, hi) + speed * t, lo, hi)
    base_y = lay.floor_y - track.heights_m * lay.px_per_m
    v_scale = max(math.sqrt(2 * motion.gravity_m_s2 * lay.peak_m), motion.hop_speed_m_s)
    impacts = np.asarray(track.impact_times_s)
    if impacts.size:
        last = np.searchsorted(impacts, t, side="right") - 1
        since = np.where(last >= 0, t - impacts[np.maximum(last, 0)], np.inf)
    else:
        since = np.full(n, np.inf)
    jitter = lay.px(1.6) if hold > 1 else 0.0
    poses = []
    for i in range(0, n, hold):
        jx, jy = rng.uniform(-jitter, jitter, 2) if jitter else (0.0, 0.0)
        poses.append(
            _Pose(
                t_s=float(t[i]),
                x=float(x[i] + jx),
                base_y=float(base_y[i] + jy),
                height_frac=float(track.heights_m[i] / lay.peak_m),
                velocity_frac=float(track.velocities_m_s[i] / v_scale),
                since_impact_s=float(since[i]),
                heading=float(heading[i]),
            )
        )
    return tuple(poses)


# Styles drawn below output resolution: pixel art for its blocks (nearest-neighbour
# upscale), watercolor because it is soft anyway and its washes are the costliest pass.
_DRAWING_BLOCKS = {"watercolor": 2}


def _build_scene(prompt: str, seed: int, spec: RenderSpec) -> _Scene:
    style, subject = detect_style(prompt), detect_subject(prompt)
    look, motion = STYLE_LOOKS[style], SUBJECT_MOTIONS[subject]
    rng = _rng(prompt, seed)
    block = _DRAWING_BLOCKS.get(style, 1)
    if style == "pixel art":
        block = max(2, round(spec.width / 48))
    lay = _layout(-(-spec.width // block), -(-spec.height // block), motion)
    hold = 2 if style == "claymation" else 1
    track = simulate_bounces(
        motion.drop_height_m,
        n_frames=spec.frame_count,
        fps=spec.fps,
        gravity_m_s2=motion.gravity_m_s2,
        restitution=motion.restitution,
        hop_speed_m_s=motion.hop_speed_m_s,
    )
    poses = _poses(track, motion, lay, spec.fps, hold, rng)
    labels = Image.new("L", (lay.width, lay.height), _SKY)
    _SCENERY_DRAWERS[subject](ImageDraw.Draw(labels), lay, rng, poses[0].x)
    backdrop = _backdrop(style, look, np.asarray(labels), lay, rng)
    textures = _textures(style, lay, rng)
    if textures.facet_ids is not None and textures.facet_light is not None:
        backdrop = _facet_average(backdrop, textures.facet_ids) * textures.facet_light
    n_drawings = len(poses)
    flicker = None
    if subject == "horror":
        flicker = np.where(rng.random(n_drawings) < 0.18, 0.55, 1.0).astype(np.float32)
    return _Scene(
        style=style,
        subject=subject,
        look=look,
        motion=motion,
        layout=lay,
        block=block,
        out_width=spec.width,
        out_height=spec.height,
        hold=hold,
        poses=poses,
        params=rng.random(16),
        backdrop=backdrop,
        lut=look.lut(),
        textures=textures,
        grain_offsets=rng.integers(0, 32, size=(n_drawings, 2)),
        flicker=flicker,
        caption=_caption(prompt, spec.width, spec.height),
        track=track,
    )


# --------------------------------------------------------------------------- frames


def _soft_shadow(frame: np.ndarray, scene: _Scene, pose: _Pose) -> None:
    """Darken the floor under the body through a blurred ellipse (smooth styles)."""
    lay = scene.layout
    rx = lay.px(scene.motion.body_units * 0.4) * (1.0 - 0.45 * min(1.0, pose.height_frac))
    ry, blur = rx * 0.28, lay.px(4)
    pad = 3 * blur
    x0, x1 = max(0, int(pose.x - rx - pad)), min(lay.width, int(pose.x + rx + pad) + 1)
    y0, y1 = max(0, int(lay.floor_y - ry - pad)), min(lay.height, int(lay.floor_y + ry + pad) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    img = Image.new("L", (x1 - x0, y1 - y0), 0)
    cx, cy = pose.x - x0, lay.floor_y - y0
    ImageDraw.Draw(img).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    mask = np.asarray(img.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255.0
    darkness = 0.55 * (1.0 - 0.6 * min(1.0, pose.height_frac))
    frame[y0:y1, x0:x1] *= (1.0 - darkness * mask)[..., None]


def _blurred(mask: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian-blurred bool mask: float32 in [0, 1], same shape."""
    img = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(img, dtype=np.float32) / 255.0


def _round_off(labels: np.ndarray, radius: float) -> np.ndarray:
    """Claymation: give every shape rounded, blobby outlines (a Gaussian-weighted mode)."""
    present = np.unique(labels)
    votes = np.stack([_blurred(labels == value, radius) for value in present])
    return present[votes.argmax(axis=0)].astype(np.uint8)


def _body_shade(body: np.ndarray, shading: str, lay: _Layout) -> np.ndarray | None:
    """Light factor over a layer region, lit from the top left; None for flat styles."""
    offset = max(1, round(lay.px(5)))
    if shading == "cel":
        lit = np.zeros_like(body)
        lit[:-offset, :-offset] = body[offset:, offset:]
        return np.where(body & ~lit, 0.72, 1.0).astype(np.float32)
    if shading == "smooth":
        inner = _blurred(body, lay.px(6))
        toward_light = np.zeros_like(inner)
        toward_light[:-offset, :-offset] = inner[offset:, offset:]
        return 0.45 + 0.62 * toward_light
    return None


def _paint_layer(frame: np.ndarray, layer: Image.Image, scene: _Scene) -> None:
    """Colour, shade and outline the moving layer into the frame, within its bounding box."""
    box = layer.getbbox()
    if box is None:
        return
    lay, look = scene.layout, scene.look
    thickness = lay.line(look.outline_units) if look.outline_units else 0
    pad = thickness + round(lay.px(20)) + 2
    x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
    x1, y1 = min(lay.width, box[2] + pad), min(lay.height, box[3] + pad)
    labels = np.asarray(layer)[y0:y1, x0:x1]
    if scene.style == "claymation":
        labels = _round_off(labels, lay.px(2))
    region = frame[y0:y1, x0:x1]
    color = np.take(scene.lut, labels, axis=0)
    shade = _body_shade(np.isin(labels, _BODY_LABELS), look.shading, lay)
    if shade is not None:
        color *= _rgb(shade)
    facet_light = scene.textures.facet_light
    if facet_light is not None:
        color *= facet_light[y0:y1, x0:x1]
    np.copyto(region, color, where=np.stack([labels > 0] * 3, axis=-1))
    if thickness:
        edges = _edges(labels, thickness)
        region[edges] = look.ink
        if look.glow:
            _add_glow(region, edges, lay, look.ink)


def _finish_pixel_art(frame: np.ndarray, scene: _Scene) -> np.ndarray:
    dither = scene.textures.dither
    assert dither is not None
    # Nearest palette colour: argmin of |c|^2 - 2 p.c, the squared distance less |p|^2.
    flat = (frame + dither).reshape(-1, 3)
    nearest = (_PICO8_NORMS - 2.0 * flat @ _PICO8.T).argmin(axis=1)
    return _PICO8[nearest].reshape(frame.shape)


def _soften(image: np.ndarray) -> np.ndarray:
    """One pass of a [1, 2, 1] / 4 blur down and across (edges kept)."""
    down = image.copy()
    down[1:-1] = 0.5 * image[1:-1] + 0.25 * (image[:-2] + image[2:])
    out = down.copy()
    out[:, 1:-1] = 0.5 * down[:, 1:-1] + 0.25 * (down[:, :-2] + down[:, 2:])
    return out


def _finish_watercolor(frame: np.ndarray, scene: _Scene) -> np.ndarray:
    blurred = _soften(_soften(frame))
    # Pigment pools where colours meet: darken by how much the blur moved the colour.
    wet = np.abs((frame - blurred) @ _LUMA)
    washed = blurred * _rgb(1.0 - np.minimum(wet * 0.004, 0.25))
    return washed @ _WASHED


def _finish_film_noir(frame: np.ndarray, scene: _Scene) -> np.ndarray:
    gray = np.clip((frame @ _LUMA / 255.0 - 0.5) * 1.5 + 0.5, 0.0, 1.0)
    gray = gray * gray * (3.0 - 2.0 * gray) * 255.0
    return _rgb(gray)


def _finish_vaporwave(frame: np.ndarray, scene: _Scene) -> np.ndarray:
    shift = max(1, round(scene.layout.px(2)))
    out = frame.copy()
    out[:, shift:, 0] = frame[:, :-shift, 0]
    out[:, :-shift, 2] = frame[:, shift:, 2]
    return out


def _finish_pencil(frame: np.ndarray, scene: _Scene) -> np.ndarray:
    hatch = scene.textures.hatch
    assert hatch is not None
    lum = frame @ _LUMA
    dark = 0.22 * np.clip((235.0 - lum) / 235.0, 0.0, 1.0)
    dark += 0.30 * hatch[0] * (lum < 200) + 0.35 * hatch[1] * (lum < 130)
    dark = np.where(lum < 70, 0.8, dark)
    light = 1.0 - dark
    return np.stack([light * _PAPER[0], light * _PAPER[1], light * _PAPER[2]], axis=-1)


_FINISHERS: dict[str, Callable[[np.ndarray, _Scene], np.ndarray]] = {
    "pixel art": _finish_pixel_art,
    "watercolor": _finish_watercolor,
    "film noir": _finish_film_noir,
    "vaporwave": _finish_vaporwave,
    "pencil sketch": _finish_pencil,
}


def _draw_frame(scene: _Scene, key: int) -> np.ndarray:
    """Drawing `key` at output resolution: uint8 (out_height, out_width, 3)."""
    lay, look, motion, pose = scene.layout, scene.look, scene.motion, scene.poses[key]
    layer = Image.new("L", (lay.width, lay.height), 0)
    draw = ImageDraw.Draw(layer)
    soft = look.shading == "smooth"
    if motion.casts_shadow and not soft:
        rx = lay.px(motion.body_units * 0.4) * (1.0 - 0.45 * min(1.0, pose.height_frac))
        _ellipse(draw, pose.x, lay.floor_y, rx, rx * 0.25, _SHADOW)
    if scene.style == "anime":
        _draw_speed_lines(draw, lay, pose, motion)
    _SUBJECT_DRAWERS[scene.subject](draw, lay, pose, scene.params)
    frame = scene.backdrop.copy()
    if motion.casts_shadow and soft:
        _soft_shadow(frame, scene, pose)
    _paint_layer(frame, layer, scene)
    finish = _FINISHERS.get(scene.style)
    if finish is not None:
        frame = finish(frame, scene)
    tex = scene.textures
    if tex.tone_mul is not None:
        frame *= tex.tone_mul
    if tex.tone_add is not None:
        frame += tex.tone_add
    if tex.grain is not None:
        dy, dx = scene.grain_offsets[key]
        frame += tex.grain[dy : dy + lay.height, dx : dx + lay.width]
    if scene.flicker is not None:
        frame *= scene.flicker[key]
    if scene.style == "pixel art":
        frame = np.repeat(np.repeat(frame, scene.block, axis=0), scene.block, axis=1)
        frame = frame[: scene.out_height, : scene.out_width]
    elif scene.block > 1:
        small = Image.fromarray(np.clip(frame, 0.0, 255.0).astype(np.uint8))
        size = (scene.out_width, scene.out_height)
        frame = np.asarray(small.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    cap = scene.caption
    bottom = frame[cap.top :]
    bottom += cap.alpha * (cap.rgb - bottom)
    np.clip(frame, 0.0, 255.0, out=frame)
    return frame.astype(np.uint8)


def _iter_frames(scene: _Scene, n_frames: int) -> Iterator[np.ndarray]:
    """Yield every output frame; a held drawing (claymation) is drawn once."""
    last_key, last = -1, None
    for i in range(n_frames):
        key = i // scene.hold
        if key != last_key or last is None:
            last_key, last = key, _draw_frame(scene, key)
        yield last


def _reporting(
    frames: Iterator[np.ndarray], n_frames: int, on_progress: Callable[[float], None]
) -> Iterator[np.ndarray]:
    """The frames, telling `on_progress` the share drawn as each one is handed on."""
    for i, frame in enumerate(frames, start=1):
        yield frame
        on_progress(i / n_frames)


# --------------------------------------------------------------------------- sound


def _wave(kind: str, phase: np.ndarray) -> np.ndarray:
    if kind == "square":
        return 0.6 * np.sign(np.sin(phase))
    if kind == "saw":
        return 0.6 * (2.0 * ((phase / (2 * np.pi)) % 1.0) - 1.0)
    if kind == "triangle":
        return 2.0 * np.abs(2.0 * ((phase / (2 * np.pi)) % 1.0) - 1.0) - 1.0
    return np.sin(phase)


def _soundtrack(scene: _Scene, n_samples: int, sample_rate: int) -> np.ndarray:
    """Drone plus one decaying tone burst per impact: float32 (n_samples,) in [-1, 1]."""
    look, motion, track = scene.look, scene.motion, scene.track
    t = np.arange(n_samples) / sample_rate
    drone = sum(_wave(look.drone_wave, 2 * np.pi * hz * t) for hz in look.drone_hz)
    swell = 1.0 + 0.25 * np.sin(2 * np.pi * 0.5 * t)
    fade = np.clip(np.minimum(t, t[-1] - t) / 0.05, 0.0, 1.0)
    audio = 0.07 / len(look.drone_hz) * drone * swell * fade
    burst_n = int(0.3 * sample_rate)
    tau = np.arange(burst_n) / sample_rate
    envelope = np.exp(-tau / 0.05) * np.minimum(1.0, tau / 0.002)
    # The pitch starts high and settles, which reads as a thump rather than a beep.
    phase = 2 * np.pi * motion.tone_hz * (tau + 0.6 * 0.015 * (1.0 - np.exp(-tau / 0.015)))
    burst = envelope * np.sin(phase)
    loudest = max(track.impact_speeds_m_s, default=1.0)
    for time_s, speed in zip(track.impact_times_s, track.impact_speeds_m_s, strict=True):
        start = round(time_s * sample_rate)
        if start >= n_samples:
            continue
        n = min(burst_n, n_samples - start)
        audio[start : start + n] += (0.3 + 0.4 * min(1.0, speed / loudest)) * burst[:n]
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- public


def draw_clip(prompt: str, *, seed: int = 0, spec: RenderSpec = DEFAULT_SPEC) -> ClipDrawing:
    """Draw a procedural clip in memory: frames, soundtrack and impact times."""
    prompt = _checked_prompt(prompt)
    scene = _build_scene(prompt, seed, spec)
    frames = np.stack(list(_iter_frames(scene, spec.frame_count)))
    audio = _soundtrack(scene, round(spec.duration_s * spec.sample_rate), spec.sample_rate)
    return ClipDrawing(frames, audio, scene.style, scene.subject, _event_times(scene, spec))


def _event_times(scene: _Scene, spec: RenderSpec) -> tuple[float, ...]:
    return tuple(t for t in scene.track.impact_times_s if t < spec.duration_s)


_AAC_FRAME_SAMPLES = 1024
_AAC_OPTIONS = {"aac_coder": "fast", "aac_tns": "0", "aac_pns": "0"}


def _encode_mp4(
    path: Path, frames: Iterator[np.ndarray], audio: np.ndarray, spec: RenderSpec
) -> None:
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=spec.fps)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        # AAC dominates encoding time; the fast coder without TNS and noise substitution
        # takes a quarter off, at no audible cost for tones and drones.
        sound = out.add_stream("aac", rate=spec.sample_rate, layout="mono", options=_AAC_OPTIONS)
        sound.bit_rate = 64_000
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for start in range(0, audio.size, _AAC_FRAME_SAMPLES):
            chunk = audio[np.newaxis, start : start + _AAC_FRAME_SAMPLES]
            samples = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            samples.sample_rate, samples.pts = spec.sample_rate, start
            out.mux(sound.encode(samples))
        out.mux(sound.encode(None))


def render_clip(
    prompt: str,
    out_path: Path,
    *,
    seed: int = 0,
    spec: RenderSpec = DEFAULT_SPEC,
    on_progress: Callable[[float], None] | None = None,
) -> RenderedClip:
    """Render a procedural clip for the prompt to out_path (MP4, H.264 + AAC).

    `on_progress` hears the share of frames drawn so far (0..1).
    """
    prompt = _checked_prompt(prompt)
    started = time.perf_counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    scene = _build_scene(prompt, seed, spec)
    audio = _soundtrack(scene, round(spec.duration_s * spec.sample_rate), spec.sample_rate)
    fd, tmp_name = tempfile.mkstemp(
        dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".part"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        frames = _iter_frames(scene, spec.frame_count)
        if on_progress is not None:
            frames = _reporting(frames, spec.frame_count, on_progress)
        _encode_mp4(tmp, frames, audio, spec)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.debug(
        "rendered %s (%s, %s) in %.3f s",
        out_path,
        scene.style,
        scene.subject,
        time.perf_counter() - started,
    )
    return RenderedClip(
        path=out_path,
        prompt=prompt,
        style=scene.style,
        subject=scene.subject,
        duration_s=spec.duration_s,
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        sound_event_times_s=_event_times(scene, spec),
    )


class ProceduralRenderer:
    """Video provider that draws clips procedurally (no generative model)."""

    name = "procedural"

    def __init__(self, spec: RenderSpec = DEFAULT_SPEC) -> None:
        self.spec = spec

    def render(
        self,
        prompt: str,
        out_path: Path,
        *,
        seed: int = 0,
        on_progress: Callable[[float], None] | None = None,
    ) -> RenderedClip:
        """Render one clip for the prompt to out_path with this renderer's spec."""
        return render_clip(prompt, out_path, seed=seed, spec=self.spec, on_progress=on_progress)
