"""The op classifier: a small ensemble of one-hidden-layer networks over a clause's
hashed features and, when the reader has the multilingual encoder, its masked clause's
sentence vector.

A linear model over the same features reads each cue on its own; a hidden layer can
weigh cues against each other ("not" beside "stop", "wouldn't say no"). Trained without
the hand-written sets dev9 to dev17 and read on them (4,719 instructions, reader and
polarity vote as shipped), the linear model got 3,294 instructions' ops right with 306
inversions; three of these networks averaged, 3,344 with 258.

Training uses torch (imported there only); reading is numpy: each member sums its
embedding rows of the clause's features (a feature seen in training has a row; others
add nothing), adds the sentence vector's projection, and its softmax is averaged with
the other members'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

MEMBERS = 3
HIDDEN = 128
EPOCHS = 8
BATCH = 128
DROPOUT = 0.3
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-5
INIT_STD = 0.01
MIN_CLAUSES = 2


@dataclass(frozen=True)
class OpNetwork:
    """Trained weights of every member, stacked on the first axis."""

    columns: np.ndarray  # (used,) int64, sorted: the hashed columns seen in training
    bags: np.ndarray  # (members, used, hidden) float16: each column's embedding row
    dense: np.ndarray  # (members, dim, hidden) float32; dim 0 without sentence vectors
    bias: np.ndarray  # (members, hidden) float32
    head: np.ndarray  # (members, hidden, classes) float32
    head_bias: np.ndarray  # (members, classes) float32

    @property
    def dim(self) -> int:
        """Length of the sentence vector it reads (0: none)."""
        return int(self.dense.shape[1])

    def probs(self, columns: Sequence[np.ndarray], vectors: np.ndarray | None) -> np.ndarray:
        """(len(columns), classes) op probabilities, the members' softmaxes averaged.
        `columns[i]` are clause i's hashed feature columns (a repeated one counts again);
        `vectors` (len(columns), dim) are their sentence vectors when `dim` > 0."""
        members, _, hidden = self.bags.shape
        pre = np.zeros((len(columns), members, hidden), dtype=np.float32)
        for i, cols in enumerate(columns):
            at = np.minimum(np.searchsorted(self.columns, cols), len(self.columns) - 1)
            rows = at[self.columns[at] == cols] if len(self.columns) else at[:0]
            pre[i] = self.bags[:, rows, :].sum(axis=1, dtype=np.float32)
        if self.dim:
            if vectors is None or vectors.shape != (len(columns), self.dim):
                raise ValueError(f"the op network reads {self.dim}-d sentence vectors")
            pre += np.einsum("nd,mdh->nmh", vectors.astype(np.float32), self.dense)
        h = np.maximum(pre + self.bias, 0.0)
        logits = np.einsum("nmh,mhc->nmc", h, self.head) + self.head_bias
        logits -= logits.max(axis=2, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=2, keepdims=True)
        return np.asarray(p.mean(axis=1), dtype=np.float64)

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights by name, to save (`from_arrays` reads them back)."""
        return {"columns": self.columns, "bags": self.bags, "dense": self.dense,
                "bias": self.bias, "head": self.head, "head_bias": self.head_bias}  # fmt: skip

    @classmethod
    def from_arrays(cls, saved: dict[str, np.ndarray]) -> OpNetwork:
        return cls(*(np.asarray(saved[k]) for k in
                     ("columns", "bags", "dense", "bias", "head", "head_bias")))  # fmt: skip


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one intra-op thread while inside, as many as before after.

    Training's batches are small: on 2 cores a second thread saves little when the
    machine is quiet (16–18 s a network against 25 s) and costs much when another process
    keeps a core busy, where the two threads wait on each other (174–256 s against 25 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@_one_torch_thread()
def train_op_network(
    columns: Sequence[np.ndarray],
    vectors: np.ndarray | None,
    labels: np.ndarray,
    n_classes: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> OpNetwork:
    """Train MEMBERS networks (seeds seed, seed+1, …) on clauses' hashed feature columns,
    their sentence vectors (or None) and class indices `labels`, on one torch thread
    (`_one_torch_thread`)."""
    import torch

    say = progress or (lambda _msg: None)
    # A column gets a row when at least MIN_CLAUSES clauses have it; rarer ones (most are
    # one sentence's character n-grams) would be memorised, not learned.
    every, clauses_with = np.unique(
        np.concatenate([np.unique(c) for c in columns] or [np.empty(0, np.int64)]),
        return_counts=True,
    )  # fmt: skip
    used = every[clauses_with >= MIN_CLAUSES]
    # Each clause's kept columns as rows of the used table, flattened with offsets.
    kept = [c[np.isin(c, used)] for c in columns]
    flat = np.searchsorted(used, np.concatenate([*kept, np.empty(0, np.int64)]))
    offsets = np.cumsum([0, *(len(c) for c in kept)])
    dim = 0 if vectors is None else vectors.shape[1]
    dense_x = torch.from_numpy(
        np.zeros((len(columns), 0), np.float32) if vectors is None else vectors.astype(np.float32)
    )
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    out: list[tuple[np.ndarray, ...]] = []
    for m in range(MEMBERS):
        started = time.perf_counter()
        torch.manual_seed(seed + m)
        bag = torch.nn.EmbeddingBag(max(len(used), 1), HIDDEN, mode="sum", sparse=True)
        torch.nn.init.normal_(bag.weight, std=INIT_STD)
        dense = torch.nn.Linear(dim, HIDDEN, bias=False) if dim else None
        bias = torch.nn.Parameter(torch.zeros(HIDDEN))
        head = torch.nn.Linear(HIDDEN, n_classes)
        drop = torch.nn.Dropout(DROPOUT)
        sparse_opt = torch.optim.SparseAdam(list(bag.parameters()), lr=LEARNING_RATE)
        dense_params = [bias, *head.parameters(), *(dense.parameters() if dense else ())]
        dense_opt = torch.optim.Adam(dense_params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        rng = np.random.default_rng(seed + m)
        for _ in range(EPOCHS):
            order = rng.permutation(len(columns))
            for start in range(0, len(order), BATCH):
                batch = order[start : start + BATCH]
                idx, offs = _bag_input(flat, offsets, batch)
                pre = bag(idx, offs) + bias
                hidden = torch.relu(pre + dense(dense_x[batch]) if dense else pre)
                loss = torch.nn.functional.cross_entropy(head(drop(hidden)), y[batch])
                sparse_opt.zero_grad()
                dense_opt.zero_grad()
                loss.backward()
                sparse_opt.step()
                dense_opt.step()
        with torch.no_grad():
            out.append((
                bag.weight.detach().numpy()[: len(used)].astype(np.float16),
                dense.weight.detach().numpy().T.copy() if dense else np.zeros((0, HIDDEN)),
                bias.detach().numpy().copy(),
                head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy(),
            ))  # fmt: skip
        say(f"op network {m + 1}/{MEMBERS} trained in {time.perf_counter() - started:.0f} s")
    bags, *rest = (np.stack(parts) for parts in zip(*out, strict=True))
    return OpNetwork(used.astype(np.int64), bags, *(a.astype(np.float32) for a in rest))


def _bag_input(flat: np.ndarray, offsets: np.ndarray, batch: np.ndarray) -> tuple:
    """EmbeddingBag's (indices, offsets) for the clauses in `batch`."""
    import torch

    pieces = [flat[offsets[i] : offsets[i + 1]] for i in batch]
    starts = np.cumsum([0, *(len(p) for p in pieces[:-1])])
    idx = np.concatenate([*pieces, np.empty(0, np.int64)])
    return torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(starts.astype(np.int64))
