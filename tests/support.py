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


# A catalog for steering tests, worded unlike the demo spec and without tags,
# so matching relies on the prompts' meaning alone. 7 looks x 20 scenes = 140
# clips: each look is 1/7 (14%) of the catalog, horror and sports 3/20 (15%).
LOOKS = {
    "anime": [
        "anime",
        "cel-shaded Japanese animation",
        "hand-drawn anime",
        "manga-inspired animation",
    ],
    "photoreal": [
        "photorealistic",
        "realistic smartphone video",
        "live-action documentary footage",
        "hyperrealistic 4K footage",
    ],
    "watercolor": [
        "watercolor",
        "soft watercolor painting",
        "watercolor illustration",
        "wet-on-wet watercolor",
    ],
    "pixel": ["pixel art", "16-bit sprite animation", "retro pixel graphics", "8-bit pixel art"],
    "clay": ["claymation", "plasticine stop-motion", "clay stop motion", "handmade clay animation"],
    "noir": ["film noir", "black-and-white noir", "shadowy noir cinematography", "1940s noir"],
    "paper": [
        "paper cutout animation",
        "origami papercraft",
        "layered paper collage",
        "cut-paper puppets",
    ],
}
SCENES = {
    "horror": [
        "a pale figure at the end of a dark hallway",
        "a zombie crawling out of a grave",
        "a possessed doll whispering in an abandoned nursery",
    ],
    "sports": [
        "a striker scoring a goal in a stadium",
        "a basketball player dunking",
        "a marathon runner crossing the finish line",
    ],
    "cats": ["a ginger cat knocking a cup off a table", "a kitten chasing a laser dot"],
    "dogs": ["a golden retriever fetching a stick in a lake", "a puppy chewing a slipper"],
    "food": ["a chef tossing noodles in a wok", "a chocolate cake being sliced"],
    "nature": ["a mountain lake at sunrise", "a hummingbird sipping from a flower"],
    "space": ["a satellite orbiting the moon", "two galaxies colliding"],
    "music": ["a jazz trio playing in a smoky club", "a violinist on a rooftop"],
    "city": ["a tram passing through rainy streets", "a night market full of lanterns"],
    "travel": ["a hot air balloon over a desert"],
    "kids": ["a toddler building a tower of blocks"],
}


def steering_catalog_rows() -> list[dict]:
    """Manifest rows of the steering test catalog, each with 'look' and 'topic' labels."""
    rows = []
    scenes = [(topic, scene) for topic, items in SCENES.items() for scene in items]
    for li, (look, phrasings) in enumerate(LOOKS.items()):
        for si, (topic, scene) in enumerate(scenes):
            phrase = phrasings[(li + si) % len(phrasings)]
            lead = f"{phrase[0].upper()}{phrase[1:]}"
            prompt = f"{scene}, {phrase}" if si % 2 else f"{lead} of {scene}"
            creator = f"c{(li * 7 + si) % 23}"
            rows.append(
                {"id": f"{look}-{si:02d}", "prompt": prompt, "creator": creator,
                 "look": look, "topic": topic}
            )  # fmt: skip
    return rows


def steering_catalog_entries() -> list:
    """The steering test catalog as manifest entries, without the labels the engine never sees."""
    from feed.core.manifest import parse_entry

    return [
        parse_entry({k: v for k, v in r.items() if k not in ("look", "topic")}, i, None, 2000)
        for i, r in enumerate(steering_catalog_rows(), 1)
    ]


def settle(phrases) -> None:
    """Wait for every phrase warm-up of a `PhraseRelevance`, and for the deeper searches
    they queue while they run (one look at `warming()` can miss those)."""
    while pending := phrases.warming():
        for future in pending:
            future.result()


# Source of a deterministic stand-in text encoder, for scripts run in a subprocess
# (fault tests): no model to load, so a killed worker restarts in a moment.
HASH_ENCODER = '''
import hashlib
import numpy as np

class HashEncoder:
    """Deterministic stand-in text encoder (no model): vectors from a hash of the text."""
    model_id = "hash-64"
    dim = 64
    def encode_texts(self, texts):
        rows = [np.frombuffer(hashlib.sha512(t.encode()).digest(), dtype=np.uint8)[:64]
                for t in texts]
        out = np.stack(rows).astype(np.float32) - 127.5 if rows else np.empty((0, 64), np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)
'''
