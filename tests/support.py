"""Helpers shared by tests: a small labelled catalog and consistency checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELLED = [
    ("anime-1", "A cat leaping across rooftops, anime style", "anime"),
    ("anime-2", "Cel-shaded anime girl running through a train station", "anime"),
    ("anime-3", "90s anime aesthetic: a robot flying over the city", "anime"),
    ("real-1", "Photorealistic dog catching a frisbee, shot on a DSLR", "photorealistic"),
    ("real-2", "Realistic 35mm footage of waves crashing on rocks", "photorealistic"),
    ("clay-1", "Claymation chef flipping pancakes", "claymation"),
    ("pixel-1", "8-bit pixel art knight jumping over lava", "pixel art"),
    ("noir-1", "Black-and-white film noir detective in the rain", "film noir"),
    ("horror-1", "A pale figure at the end of a dark hallway", "horror"),
    ("water-1", "Soft watercolor painting of a fox in the snow", "watercolor"),
]
ANIME = {cid for cid, _, label in LABELLED if label == "anime"}


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def assert_catalog_and_index_agree(engine) -> None:
    """Every channel's index holds exactly the catalog's vectors for that channel."""
    for channel, index in engine.indexes.items():
        stored = engine.catalog.channel_vectors(channel)
        assert sorted(index.ids.tolist()) == sorted(stored.seqs.tolist()), channel
        if len(stored.seqs):
            np.testing.assert_allclose(index.vectors_for(stored.seqs), stored.vectors, atol=1e-6)
