"""Experiment fixtures: a small tagged clip table with known styles and topics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from feed.experiments.clips import ClipTable

STYLES = ("anime", "watercolor", "pixel art")
TOPICS = ("cats", "horror", "space", "food")


def make_table(copies: int = 2, dim: int = 8, seed: int = 0) -> ClipTable:
    """`copies` clips per (style, topic); clip ids say their tags (anime-cats-0)."""
    rng = np.random.default_rng(seed)
    combos = [
        (style, topic, i)
        for (style, topic), i in itertools.product(itertools.product(STYLES, TOPICS), range(copies))
    ]
    ids = tuple(f"{s.replace(' ', '')}-{t}-{i}" for s, t, i in combos)
    vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ClipTable(
        ids=ids,
        row_of_id={c: r for r, c in enumerate(ids)},
        tags=tuple((s, t) for s, t, _ in combos),
        creator_codes=np.arange(len(ids), dtype=np.int64) % 3,
        creator_names=("ana", "ben", "cy"),
        vectors=vectors,
        duration_s=np.full(len(ids), np.nan),
    )


@pytest.fixture
def table() -> ClipTable:
    return make_table()
