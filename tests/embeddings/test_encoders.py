"""Encoders: the real packaged sentence model, and open_clip loaded from a checkpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from embeddings.encoders import (
    ClipEncoder,
    EncoderUnavailable,
    default_text_model_path,
    l2_normalise,
    pool_frames,
)


def test_packaged_text_model_is_found():
    path = default_text_model_path()
    assert (path / "config.json").exists()


def test_sentence_model_understands_meaning(text_encoder):
    v = text_encoder.encode_texts(
        [
            "stuff that looks like a Japanese cartoon",
            "a cat jumping, anime style",
            "a photorealistic dog in a park",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_empty_batch(text_encoder):
    assert text_encoder.encode_texts([]).shape == (0, 384)


def test_tiny_clip_loads_saved_weights(tiny_clip_files, tiny_clip):
    import open_clip
    import torch

    saved = torch.load(tiny_clip_files.checkpoint)["state_dict"]
    loaded = tiny_clip._model.state_dict()
    for name, tensor in saved.items():
        assert torch.equal(tensor, loaded[name]), name
    fresh = open_clip.create_model(tiny_clip_files.name, pretrained=None)
    assert not all(torch.equal(saved[n], t) for n, t in fresh.state_dict().items())


def test_tiny_clip_towers_share_a_space(tiny_clip, rng):
    frames = rng.integers(0, 255, size=(5, 64, 48, 3), dtype=np.uint8)
    images = tiny_clip.encode_images(frames)
    texts = tiny_clip.encode_texts(["a cat", "a dog"])
    assert images.shape == (5, tiny_clip.dim) and texts.shape == (2, tiny_clip.dim)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        tiny_clip.encode_images(frames[..., 0])


def test_clip_refuses_random_weights_and_missing_checkpoints(tiny_clip_files, tmp_path):
    name, config = tiny_clip_files.name, tiny_clip_files.config
    with pytest.raises(EncoderUnavailable, match="random"):
        ClipEncoder.load(name, None, config_path=config)
    with pytest.raises(EncoderUnavailable):
        ClipEncoder.load(name, str(tmp_path / "absent.pt"), config_path=config)
    with pytest.raises(EncoderUnavailable, match="config"):
        ClipEncoder.load(name, "x", config_path=tmp_path / "absent.json")


def test_pool_frames_is_normalised_mean():
    frames = l2_normalise(np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_allclose(pool_frames(frames), [2**-0.5, 2**-0.5], rtol=1e-6)
    with pytest.raises(ValueError):
        pool_frames(np.empty((0, 2), np.float32))


def test_batched_bf16_vectors_match_float32(text_encoder):
    texts = [f"clip {i}: a {w} in the rain, watercolor" for i, w in enumerate(["cat", "dog"] * 20)]
    batched = text_encoder.encode_texts(texts)
    one_by_one = np.concatenate([text_encoder.encode_texts([t]) for t in texts[:5]])
    cos = (batched[:5] * one_by_one).sum(axis=1)
    assert cos.min() > 0.9999


@pytest.mark.parametrize("runtime", ["onnxruntime", "numpy"])
def test_numpy_bert_matches_sentence_transformers(text_encoder, runtime):
    """Queries run without torch, their layers in ONNX Runtime (installed with the
    project, so the default) or in numpy; either way the vectors are
    sentence-transformers' own to 1e-5."""
    from embeddings.bert import NumpyBert

    assert text_encoder._numpy is not None and text_encoder._numpy.runtime == "onnxruntime"
    texts = ["more anime style", "I'm tired of sports", "ホラーは無理", "🧟", "",
             "a porcelain doll turning its head, claymation " * 40]  # fmt: skip
    bert = NumpyBert(default_text_model_path(), "auto" if runtime == "onnxruntime" else "numpy")
    assert bert.runtime == runtime
    mine = bert.encode(texts)
    theirs = text_encoder._torch_model().encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(mine, theirs, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, rtol=1e-5)
    # Padding never changes a text's vector: alone and beside a long one agree.
    np.testing.assert_allclose(bert.encode(texts[:1]), mine[:1], atol=1e-6)


def test_numpy_bert_refuses_other_models(tmp_path):
    from embeddings.bert import NumpyBert, UnsupportedModel

    folder = tmp_path / "model"
    shutil.copytree(default_text_model_path(), folder)
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    with pytest.raises(UnsupportedModel, match="pooling"):
        NumpyBert(folder)
    (folder / "config.json").write_text('{"model_type": "roberta", "hidden_act": "gelu"}')
    with pytest.raises(UnsupportedModel, match="BERT"):
        NumpyBert(folder)


def test_queries_do_not_import_torch():
    """A process that only encodes queries never loads torch (about 500 MB)."""
    code = (
        "import sys\n"
        "from embeddings.encoders import SentenceEncoder\n"
        "e = SentenceEncoder.load()\n"
        "v = e.encode_texts(['more anime style'])\n"
        "assert v.shape == (1, e.dim) and e.dim == 384\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


def test_clip_without_weights_here_is_refused_before_importing_torch(tmp_path, monkeypatch):
    """Offline, with no CLIP model in any cache, a pretrained tag is refused at once; a
    missing checkpoint path too. Neither imports open_clip."""
    from huggingface_hub import constants

    from embeddings import encoders

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(encoders.Path, "home", staticmethod(lambda: tmp_path / "home"))
    monkeypatch.setitem(sys.modules, "open_clip", None)  # importing it would raise
    with pytest.raises(EncoderUnavailable, match="not on this machine"):
        ClipEncoder.load("ViT-B-32", "laion2b_s34b_b79k")
    with pytest.raises(EncoderUnavailable, match="not on this machine"):
        ClipEncoder.load("ViT-B-32", str(tmp_path / "absent.safetensors"))
    assert not encoders._clip_weights_may_be_here("laion2b_s34b_b79k")
    (tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K").mkdir(parents=True)
    assert encoders._clip_weights_may_be_here("laion2b_s34b_b79k")  # worth trying
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert encoders._clip_weights_may_be_here("anything")  # a download may work
