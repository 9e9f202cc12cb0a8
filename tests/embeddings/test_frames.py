"""Frame sampling on real MP4s written by other tools, and on broken files."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.frames import MediaError, probe_video, sample_frames, sample_targets


def test_targets_are_slice_midpoints():
    np.testing.assert_allclose(sample_targets(4.0, 4), [0.5, 1.5, 2.5, 3.5])


def test_probe_real_mp4_with_aac(real_mp4_with_audio):
    info = probe_video(real_mp4_with_audio)
    assert (info.width, info.height) == (1280, 720)
    assert info.has_audio
    assert 5.0 < info.duration_s < 5.7


def test_sample_evenly_from_real_mp4(real_mp4_with_audio):
    sampled = sample_frames(real_mp4_with_audio, 6, max_side=320)
    assert sampled.frames.shape == (6, 180, 320, 3)
    assert sampled.frames.dtype == np.uint8
    assert np.all(np.diff(sampled.times_s) > 0.5)
    targets = sample_targets(sampled.info.duration_s, 6)
    assert np.all(np.abs(sampled.times_s - targets) < 0.1)
    # distinct moments of the film, not one frame repeated
    assert len({f.tobytes() for f in sampled.frames}) == 6


def test_small_real_mp4_without_audio(real_mp4_small):
    sampled = sample_frames(real_mp4_small, 4)
    assert sampled.frames.shape == (4, 144, 176, 3)
    assert not sampled.info.has_audio


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        sample_frames(tmp_path / "absent.mp4", 4)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 this is not a video" * 100)
    with pytest.raises(MediaError):
        sample_frames(junk, 4)


def test_truncated_file_is_an_error_or_partial_not_a_crash(tmp_path, real_mp4_small):
    cut = tmp_path / "cut.mp4"
    data = real_mp4_small.read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    try:
        sampled = sample_frames(cut, 4)
    except MediaError:
        return
    assert sampled.frames.shape[0] == 4


def test_audio_only_file_is_refused(tmp_path, real_mp4_with_audio):
    import av

    audio_only = tmp_path / "audio.m4a"
    with av.open(str(real_mp4_with_audio)) as src, av.open(str(audio_only), "w") as dst:
        in_stream = src.streams.audio[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            dst.mux(packet)
    with pytest.raises(MediaError, match="no video"):
        sample_frames(audio_only, 2)
