"""The procedural renderer: real MP4s decoded back, physics with closed-form answers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from generation.renderer import (
    EARTH_GRAVITY_M_S2,
    STYLE_LOOKS,
    SUBJECT_MOTIONS,
    ProceduralRenderer,
    RenderSpec,
    detect_style,
    detect_subject,
    draw_clip,
    render_clip,
    simulate_bounces,
)

BALL_PROMPT = "a basketball bouncing on a court, anime style"
SHORT = RenderSpec(seconds=1.0)  # 12 frames: enough to tell styles apart, cheap to draw
ENVELOPE_HOP_S = 0.005

# One prompt per style, all about the same bouncing ball, so only the style differs.
STYLE_PROMPTS = {
    "default": "a ball bouncing",
    "anime": "a ball bouncing, anime style",
    "photorealistic": "a ball bouncing, photorealistic",
    "claymation": "a ball bouncing, claymation",
    "pixel art": "a ball bouncing, 8-bit pixel art",
    "watercolor": "a ball bouncing, watercolor",
    "film noir": "a ball bouncing, film noir",
    "cyberpunk": "a ball bouncing, cyberpunk",
    "vaporwave": "a ball bouncing, vaporwave",
    "oil painting": "a ball bouncing, oil painting",
    "pencil sketch": "a ball bouncing, pencil sketch",
    "low poly": "a ball bouncing, low poly",
}


@dataclass(frozen=True)
class Decoded:
    """What PyAV reads back from an MP4."""

    video_streams: int
    audio_streams: int
    audio_codec: str
    frames: np.ndarray  # uint8 (n, h, w, 3)
    samples: np.ndarray  # float32 (n_samples,), mono
    sample_rate: int


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as container:
        video_streams = len(container.streams.video)
        audio = container.streams.audio
        audio_codec = audio[0].codec_context.name if audio else ""
        sample_rate = audio[0].rate if audio else 0
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return Decoded(
        video_streams, len(audio), audio_codec, frames, np.concatenate(chunks), sample_rate
    )


def envelope(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS over consecutive 5 ms windows."""
    hop = int(sample_rate * ENVELOPE_HOP_S)
    n = samples.size // hop
    return np.sqrt((samples[: n * hop].reshape(n, hop) ** 2).mean(axis=1))


def channels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb = frames.astype(np.float32)
    return rgb[..., 0], rgb[..., 1], rgb[..., 2]


def saturation(frames: np.ndarray) -> float:
    """Mean HSV saturation."""
    r, g, b = channels(frames)
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    return float(np.mean((high - low) / np.maximum(high, 1.0)))


def sharp_edges(frames: np.ndarray) -> float:
    """Fraction of neighbouring pixel pairs whose brightness jumps by more than 40 levels."""
    r, g, b = channels(frames)
    gray = (r + g + b) / 3.0
    return float(
        (np.abs(np.diff(gray, axis=-1)) > 40).mean() + (np.abs(np.diff(gray, axis=-2)) > 40).mean()
    )


def colour_count(frames: np.ndarray) -> int:
    codes = frames.astype(np.int32)
    return len(np.unique((codes[..., 0] << 16) | (codes[..., 1] << 8) | codes[..., 2]))


@pytest.fixture(scope="module")
def ball_clip(tmp_path_factory):
    """The anime basketball clip, rendered once and decoded back."""
    path = tmp_path_factory.mktemp("renderer") / "ball.mp4"
    clip = render_clip(BALL_PROMPT, path, seed=3)
    return clip, decode(path)


# --------------------------------------------------------------------------- the file


def test_clip_decodes_as_vertical_h264_with_aac_sound(ball_clip):
    clip, decoded = ball_clip
    spec = RenderSpec()
    assert decoded.video_streams == 1 and decoded.audio_streams == 1
    assert decoded.audio_codec == "aac"
    n, height, width, _ = decoded.frames.shape
    assert (width, height) == (spec.width, spec.height) and height > width
    assert n == spec.fps * spec.seconds == 36
    assert (clip.width, clip.height, clip.fps, clip.duration_s) == (288, 512, 12, 3.0)
    assert (clip.style, clip.subject) == ("anime", "ball")
    rms = float(np.sqrt(np.mean(decoded.samples**2)))
    assert rms > 0.02, "soundtrack is silent"
    assert decoded.samples.size >= 3.0 * decoded.sample_rate


def test_sound_peaks_at_every_impact(ball_clip):
    clip, decoded = ball_clip
    env = envelope(decoded.samples, decoded.sample_rate)
    assert len(clip.sound_event_times_s) >= 5
    for t in clip.sound_event_times_s:
        lo, hi = int((t - 0.05) / ENVELOPE_HOP_S), int((t + 0.05) / ENVELOPE_HOP_S)
        peak = lo + int(env[lo:hi].argmax())
        peak_time = (peak + 0.5) * ENVELOPE_HOP_S
        assert abs(peak_time - t) <= 0.05, (t, peak_time)
        just_before = env[int((t - 0.03) / ENVELOPE_HOP_S)]
        assert env[peak] > 4 * just_before, t
    loudest = (int(env.argmax()) + 0.5) * ENVELOPE_HOP_S
    assert min(abs(loudest - t) for t in clip.sound_event_times_s) <= 0.05


def test_first_impact_is_free_fall_time(ball_clip):
    clip, _ = ball_clip
    drop = SUBJECT_MOTIONS["ball"].drop_height_m
    expected = math.sqrt(2 * drop / EARTH_GRAVITY_M_S2)
    assert clip.sound_event_times_s[0] == pytest.approx(expected, abs=1e-9)


def test_renderer_writes_atomically_and_names_itself(tmp_path):
    renderer = ProceduralRenderer(RenderSpec(seconds=1.0))
    out = tmp_path / "clips" / "cat.mp4"
    clip = renderer.render("a cat hopping in the yard, watercolor", out, seed=1)
    assert renderer.name == "procedural"
    assert clip.path == out and out.stat().st_size > 0
    assert (clip.style, clip.subject, clip.duration_s) == ("watercolor", "cat", 1.0)
    assert [p.name for p in out.parent.iterdir()] == ["cat.mp4"], "temp file left behind"
    assert decode(out).frames.shape == (12, 512, 288, 3)


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_refused(tmp_path, prompt):
    out = tmp_path / "empty.mp4"
    with pytest.raises(ValueError, match="prompt"):
        render_clip(prompt, out)
    with pytest.raises(ValueError, match="prompt"):
        draw_clip(prompt)
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs", [{"width": 287}, {"height": 0}, {"fps": 0}, {"seconds": 0.0}, {"sample_rate": 1234}]
)
def test_spec_refuses_unencodable_settings(kwargs):
    with pytest.raises(ValueError):
        RenderSpec(**kwargs)


def test_same_prompt_and_seed_decode_to_the_same_first_frame(tmp_path):
    prompt = "a dog hopping, oil painting"
    first = render_clip(prompt, tmp_path / "a.mp4", seed=7, spec=SHORT)
    again = render_clip(prompt, tmp_path / "b.mp4", seed=7, spec=SHORT)
    other = render_clip(prompt, tmp_path / "c.mp4", seed=8, spec=SHORT)
    frame_a, frame_b = decode(first.path).frames[0], decode(again.path).frames[0]
    assert np.array_equal(frame_a, frame_b)
    assert not np.array_equal(frame_a, decode(other.path).frames[0])
    assert first.sound_event_times_s == again.sound_event_times_s


# --------------------------------------------------------------------------- physics


def test_first_impact_matches_closed_form():
    for height in (0.3, 1.0, 2.5):
        track = simulate_bounces(height, n_frames=40, fps=12)
        assert track.impact_times_s[0] == pytest.approx(math.sqrt(2 * height / 9.81), abs=1e-9)


def test_bounce_heights_shrink_by_restitution_squared():
    e, h, fps = 0.6, 1.0, 1000
    track = simulate_bounces(h, n_frames=3 * fps, fps=fps, restitution=e, rest_speed_m_s=0.3)
    t = np.arange(track.heights_m.size) / fps
    impacts = track.impact_times_s
    apexes = np.array([track.heights_m[(t > a) & (t < b)].max() for a, b in pairwise(impacts)])
    assert len(apexes) >= 3
    np.testing.assert_allclose(apexes, h * e ** (2 * np.arange(1, len(apexes) + 1)), rtol=1e-3)
    np.testing.assert_allclose(apexes[1:] / apexes[:-1], e**2, rtol=1e-3)
    # Flight between impacts k and k + 1 lasts 2 * e^k * v1 / g.
    v1 = math.sqrt(2 * 9.81 * h)
    gaps = np.diff(impacts)
    np.testing.assert_allclose(gaps, 2 * v1 * e ** np.arange(1, len(gaps) + 1) / 9.81, rtol=1e-9)


@pytest.mark.parametrize(
    ("restitution", "hop_speed_m_s", "fps"), [(0.75, 0.0, 12), (0.9, 0.0, 7), (0.0, 3.0, 24)]
)
def test_body_never_goes_below_the_floor(restitution, hop_speed_m_s, fps):
    track = simulate_bounces(
        1.3, n_frames=10 * fps, fps=fps, restitution=restitution, hop_speed_m_s=hop_speed_m_s
    )
    assert track.heights_m.min() >= 0.0
    assert np.all(np.diff(track.impact_times_s) > 0)


def test_a_ball_comes_to_rest_and_a_hopper_keeps_hopping():
    ball = simulate_bounces(1.0, n_frames=120, fps=12, restitution=0.5, rest_speed_m_s=0.5)
    assert ball.heights_m[-20:].max() == 0.0 and ball.velocities_m_s[-1] == 0.0
    hopper = simulate_bounces(0.0, n_frames=120, fps=12, restitution=0.0, hop_speed_m_s=3.0)
    np.testing.assert_allclose(np.diff(hopper.impact_times_s), 2 * 3.0 / 9.81, rtol=1e-9)
    assert len(hopper.impact_times_s) == int(10.0 / (2 * 3.0 / 9.81))


def test_endless_bounces_stop_at_the_zeno_time():
    # With no rest threshold, bounce times form a geometric series that sums to a finite
    # stopping time t1 (1 + e) / (1 - e); the simulation must get there and stop.
    e, h = 0.8, 1.0
    track = simulate_bounces(h, n_frames=120, fps=12, restitution=e, rest_speed_m_s=0.0)
    t1 = math.sqrt(2 * h / 9.81)
    assert track.impact_times_s[-1] == pytest.approx(t1 * (1 + e) / (1 - e), rel=1e-6)
    assert track.heights_m[-12:].max() == 0.0


def test_bad_physics_input_is_refused():
    with pytest.raises(ValueError):
        simulate_bounces(-1.0, n_frames=10, fps=12)
    with pytest.raises(ValueError):
        simulate_bounces(1.0, n_frames=10, fps=12, restitution=1.5)


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    ("prompt", "style"),
    [
        ("A cat leaping across rooftops, anime style", "anime"),
        ("Realistic 35mm footage of waves crashing on rocks", "photorealistic"),
        ("Claymation chef flipping pancakes", "claymation"),
        ("8-bit pixel art knight jumping over lava", "pixel art"),
        ("Soft WATERCOLOUR painting of a fox", "watercolor"),
        ("Black-and-white film noir detective in the rain", "film noir"),
        ("a snow leopard in a neon Tokyo alley", "cyberpunk"),
        ("vaporwave sunset over a mall", "vaporwave"),
        ("an oil painting of a harbour", "oil painting"),
        ("pencil sketch of a violinist", "pencil sketch"),
        ("a low-poly 3D fox", "low poly"),
        ("a watercolor of a neon sign", "watercolor"),  # the earlier keyword wins
        ("a cat on a sofa", "default"),
        ("a photocopier", "default"),  # whole words only
    ],
)
def test_detect_style(prompt, style):
    assert detect_style(prompt) == style


@pytest.mark.parametrize(
    ("prompt", "subject"),
    [
        ("slow-motion basketball dunk", "ball"),
        ("a street dancer spinning", "figure"),
        ("two kittens playing", "cat"),
        ("a golden retriever in the snow", "dog"),
        ("cooking ramen at midnight", "food"),
        ("an astronaut on the moon", "space"),
        ("a pale figure at the end of a dark hallway", "horror"),
        ("waves rolling onto the beach", "ocean"),
        ("a misty pine forest", "forest"),
        ("a jazz trio on stage", "music"),
        ("a cat chasing a ball", "cat"),  # the earlier keyword wins
        ("an abstract swirl", "ball"),
    ],
)
def test_detect_subject(prompt, subject):
    assert detect_subject(prompt) == subject


# --------------------------------------------------------------------------- looks


@pytest.fixture(scope="module")
def style_frames():
    """Every style drawn for the same ball prompt, seeds 0 and 1: {style: (frames0, frames1)}."""
    return {
        style: tuple(draw_clip(prompt, seed=seed, spec=SHORT).frames for seed in (0, 1))
        for style, prompt in STYLE_PROMPTS.items()
    }


def test_every_style_has_a_look_and_a_prompt():
    assert set(STYLE_PROMPTS) == set(STYLE_LOOKS)
    for style, prompt in STYLE_PROMPTS.items():
        assert detect_style(prompt) == style


def test_film_noir_is_grayscale(style_frames, tmp_path):
    frames = style_frames["film noir"][0].astype(np.int16)
    assert np.array_equal(frames[..., 0], frames[..., 1])
    assert np.array_equal(frames[..., 1], frames[..., 2])
    colour = style_frames["default"][0].astype(np.int16)
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 20
    decoded = decode(
        render_clip(STYLE_PROMPTS["film noir"], tmp_path / "noir.mp4", spec=SHORT).path
    )
    spread = decoded.frames.max(axis=-1).astype(np.int16) - decoded.frames.min(axis=-1)
    assert np.percentile(spread, 99) <= 6  # chroma stays neutral through H.264


def test_pixel_art_is_flat_blocks_of_a_small_palette(style_frames):
    frames = style_frames["pixel art"][0]
    block = round(288 / 48)
    above_caption = frames[:, : 70 * block]  # whole blocks, clear of the caption
    corners = above_caption[:, ::block, ::block]
    flat = np.repeat(np.repeat(corners, block, axis=1), block, axis=2)
    assert np.array_equal(flat, above_caption), "blocks are not flat"
    assert colour_count(above_caption) <= 16
    assert colour_count(style_frames["photorealistic"][0][:, : 70 * block]) > 1000


def test_anime_is_more_saturated_and_crisper_than_watercolor(style_frames):
    anime, watercolor = style_frames["anime"][0][:, :400], style_frames["watercolor"][0][:, :400]
    assert saturation(anime) > saturation(watercolor) + 0.15
    assert sharp_edges(anime) > 3 * sharp_edges(watercolor)


def test_claymation_moves_at_half_the_frame_rate(style_frames):
    frames = style_frames["claymation"][0]
    assert all(np.array_equal(frames[i], frames[i + 1]) for i in range(0, len(frames) - 1, 2))
    assert not np.array_equal(frames[1], frames[2])


def test_a_nearest_centroid_classifier_tells_every_style_apart(style_frames):
    def features(frames: np.ndarray) -> np.ndarray:
        scene = frames[:, :400]  # above the caption
        r, g, b = channels(scene)
        gray = (r + g + b) / 3.0
        return np.array(
            [
                *(c.mean() for c in (r, g, b)),
                *(c.std() for c in (r, g, b)),
                saturation(scene),
                sharp_edges(scene),
                (np.abs(r - g) + np.abs(g - b)).mean(),
                np.abs(np.diff(gray, axis=-1)).mean(),  # texture, grain and hatching
            ]
        )

    styles = list(style_frames)
    centroids = np.stack([features(style_frames[s][0]) for s in styles])
    queries = np.stack([features(style_frames[s][1]) for s in styles])
    scale = centroids.std(axis=0) + 1e-6
    distances = np.linalg.norm((queries[:, None] - centroids[None]) / scale, axis=-1)
    predicted = [styles[i] for i in distances.argmin(axis=1)]
    assert predicted == styles


def test_caption_is_drawn_at_the_bottom():
    drawing = draw_clip("a ball bouncing", spec=SHORT)
    frame = drawing.frames[0].astype(np.int16)
    caption, scene = frame[440:], frame[:400]
    white = (caption.min(axis=-1) > 220).sum()
    assert white > 50, "no caption text"
    assert caption.mean() < scene.mean(), "the caption box should darken the bottom"


def test_drawing_is_deterministic_and_audio_matches_the_spec():
    spec = RenderSpec(seconds=1.5, fps=10, sample_rate=48000)
    a = draw_clip("a dancer jumping, vaporwave", seed=5, spec=spec)
    b = draw_clip("a dancer jumping, vaporwave", seed=5, spec=spec)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert a.frames.shape == (15, 512, 288, 3) and a.frames.dtype == np.uint8
    assert a.audio.shape == (72000,) and a.audio.dtype == np.float32
    assert np.abs(a.audio).max() <= 1.0
    # The dancer hops: landings every 2 v / g seconds.
    hop = SUBJECT_MOTIONS["figure"].hop_speed_m_s
    np.testing.assert_allclose(np.diff(a.sound_event_times_s), 2 * hop / 9.81, rtol=1e-9)
