"""A BERT sentence encoder in numpy: the forward pass of a sentence-transformers folder
(BERT, mean pooling, normalisation) without importing torch.

Importing torch and sentence-transformers costs a serving process about 900 MB of
memory and seconds of start-up, for a six-layer model whose weights are 90 MB. Queries
are a few short phrases at a time, where numpy is as fast as torch; `SentenceEncoder`
uses this for them and loads torch only for large batches (ingest). The layers run in
ONNX Runtime where it is installed (`embeddings/onnx_layers.py`, twice as fast on a
phrase), in numpy otherwise.

The arithmetic is BERT's, step for step (transformers' BertModel in eval mode):
embeddings (word + position + token type 0), LayerNorm, then per layer self-attention
with an additive padding mask, a residual LayerNorm, a GELU (erf) feed-forward and a
second residual LayerNorm; sentence-transformers then averages the unmasked tokens and
scales the mean to unit length. Tests check it against sentence-transformers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.special import erf

from embeddings import onnx_layers

WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


class UnsupportedModel(ValueError):
    """The folder is not a BERT sentence model this encoder can run."""


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (d, 3d): query, key and value projections side by side
    qkv_bias: np.ndarray  # (3d,)
    out: np.ndarray  # (d, d)
    out_bias: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray  # (d, ffn)
    up_bias: np.ndarray
    down: np.ndarray  # (ffn, d)
    down_bias: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]


def _check_folder(folder: Path) -> tuple[dict, int]:
    """The BERT config and the maximum sequence length, or UnsupportedModel."""
    try:
        config = json.loads((folder / "config.json").read_text())
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise UnsupportedModel(f"{folder}: no readable config.json and modules.json") from exc
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise UnsupportedModel(f"{folder}: not a BERT model with GELU")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedModel(f"{folder}: position embeddings are not absolute")
    kinds = [m.get("type", "") for m in modules]
    if kinds != [
        "sentence_transformers.models.Transformer",
        "sentence_transformers.models.Pooling",
        "sentence_transformers.models.Normalize",
    ]:
        raise UnsupportedModel(f"{folder}: modules are {kinds}, not transformer, pool, normalise")
    pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        raise UnsupportedModel(f"{folder}: pooling is {modes}, not the mean of tokens")
    for name in (WEIGHTS_FILE, TOKENIZER_FILE):
        if not (folder / name).is_file():
            raise UnsupportedModel(f"{folder}: no {name}")
    max_len = int(config.get("max_position_embeddings", 512))
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        max_len = min(max_len, int(json.loads(st_config.read_text())["max_seq_length"]))
    return config, max_len


class NumpyBert:
    """A BERT sentence model from a sentence-transformers folder, run in numpy; its layers
    run in ONNX Runtime where that is installed (`embeddings/onnx_layers.py`), unless
    `runtime` is "numpy"."""

    def __init__(self, folder: Path, runtime: Literal["auto", "numpy"] = "auto") -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config, self.max_len = _check_folder(folder)
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = load_file(str(folder / WEIGHTS_FILE))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[prefix + name], dtype=np.float32)

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        self.token_type = get("embeddings.token_type_embeddings.weight")[0]
        self.norm0 = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self.layers.append(_Layer(
                qkv=np.ascontiguousarray(np.concatenate(
                    [get(att + "query.weight"), get(att + "key.weight"),
                     get(att + "value.weight")]).T),
                qkv_bias=np.concatenate(
                    [get(att + "query.bias"), get(att + "key.bias"), get(att + "value.bias")]),
                out=np.ascontiguousarray(get(p + "attention.output.dense.weight").T),
                out_bias=get(p + "attention.output.dense.bias"),
                norm1=(get(p + "attention.output.LayerNorm.weight"),
                       get(p + "attention.output.LayerNorm.bias")),
                up=np.ascontiguousarray(get(p + "intermediate.dense.weight").T),
                up_bias=get(p + "intermediate.dense.bias"),
                down=np.ascontiguousarray(get(p + "output.dense.weight").T),
                down_bias=get(p + "output.dense.bias"),
                norm2=(get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")),
            ))  # fmt: skip
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=self.max_len)
        pad = config.get("pad_token_id", 0)
        tokenizer.enable_padding(pad_id=pad, pad_token=tokenizer.id_to_token(pad) or "[PAD]")
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # a Tokenizer's padding state is not shared safely
        self._onnx: onnx_layers.OnnxLayers | None = None
        if runtime == "auto" and onnx_layers.available():
            self._onnx = onnx_layers.OnnxLayers(self.layers, self.dim, self.heads, self.eps)
            self.layers = []  # the session holds its own copy
        self.runtime = "onnxruntime" if self._onnx is not None else "numpy"

    def _norm(self, x: np.ndarray, scale_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        x = x - mean
        var = np.mean(x * x, axis=-1, keepdims=True)
        x *= 1.0 / np.sqrt(var + self.eps)
        x *= scale_bias[0]
        x += scale_bias[1]
        return x

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows of unit length."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        with self._lock:
            batch = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.float32)
        b, n = ids.shape
        d, h = self.dim, self.heads
        hd = d // h
        # Token rows stay one (b * n, d) matrix, so each projection is one BLAS call.
        x = (self.word[ids] + self.position[:n] + self.token_type).reshape(b * n, d)
        x = self._norm(x, self.norm0)
        # Padding keys get a large negative score, as BertModel's extended mask does.
        bias = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        if self._onnx is not None:
            x = self._onnx.run(x.reshape(b, n, d), bias).reshape(b * n, d)
        for layer in self.layers:  # none when they run in ONNX Runtime
            qkv = x @ layer.qkv + layer.qkv_bias  # (b * n, 3d)
            qkv = qkv.reshape(b, n, 3, h, hd).transpose(2, 0, 3, 1, 4)  # (3, b, h, n, hd)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q * scale) @ k.transpose(0, 1, 3, 2) + bias  # (b, h, n, n)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, d)
            x = self._norm(x + (context @ layer.out + layer.out_bias), layer.norm1)
            up = x @ layer.up + layer.up_bias
            up *= 0.5 * (1.0 + erf(up * np.float32(1.0 / np.sqrt(2.0))))
            x = self._norm(x + (up @ layer.down + layer.down_bias), layer.norm2)
        x = x.reshape(b, n, d)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)
