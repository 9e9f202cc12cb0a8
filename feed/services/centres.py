"""Each text tower's centre: the mean vector of the phrases people steer with.

A phrase's query in a channel is its vector less the channel's centre (see
`feed.services.relevance`), so that what every steering phrase shares lifts no vague
caption over the bar. The phrases are the steering corpus's English concepts
(`data/steering/train/concepts_en.toml`), which every tower reads.

The packaged towers' centres ship in `data/steering/centres.npz` with a digest of those
phrases, so opening a service encodes nothing (MiniLM would take about 2.5 s, and its
batches of 16 or more would load torch into a server that never needs it). Any other
tower's centre (a CLIP text tower, a model loaded by path), or one whose shipped digest no
longer matches the corpus, is made on first use, once per process. After the corpus's
concepts change, `python -m feed.services.centres` writes the file again; a test says when
it must.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from feed.core.intent_corpus import load_corpus_spec
from feed.resources import DATA_DIR

log = logging.getLogger(__name__)

CENTRES_PATH = DATA_DIR / "steering" / "centres.npz"
# Phrases a tower encodes per batch: under MiniLM's torch threshold, so the centre is made
# on the numpy path that encodes phrases when steering (`embeddings.encoders`).
BATCH = 8


def bank() -> list[str]:
    """The phrases a centre is the mean of, sorted."""
    return sorted({c.text for c in load_corpus_spec().concepts if c.lang == "en"})


def digest(phrases: list[str]) -> str:
    """What a shipped centre was made from, in 16 hex digits."""
    return hashlib.sha256("\n".join(phrases).encode()).hexdigest()[:16]


def made(encoder: Any, phrases: list[str] | None = None) -> np.ndarray:
    """The mean of `encoder`'s vectors of `phrases` (default: `bank()`), float32."""
    phrases = bank() if phrases is None else phrases
    vectors = np.concatenate(
        [encoder.encode_texts(phrases[i : i + BATCH]) for i in range(0, len(phrases), BATCH)]
    )
    return vectors.mean(axis=0).astype(np.float32)


@functools.cache
def shipped(path: Path = CENTRES_PATH) -> dict[str, np.ndarray]:
    """The shipped centres by model id; none when the file is missing or was made from
    other phrases than the corpus's now."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as saved:
        if str(saved["digest"]) != digest(bank()):
            log.warning("%s was made from other steering concepts; centres are made anew "
                        "(python -m feed.services.centres writes it again)", path.name)  # fmt: skip
            return {}
        return {str(name): saved[f"centre{i}"] for i, name in enumerate(saved["models"])}


# By id of the encoder: (the encoder, weakly; its centre). Encoders are dataclasses,
# compared by value and so not hashable.
_centres: dict[int, tuple[weakref.ref[Any], np.ndarray]] = {}
_lock = threading.Lock()


def centre(encoder: Any) -> np.ndarray:
    """`encoder`'s centre: shipped for its model when the dimensions agree, else made once
    per encoder per process.

    Chosen on the tuning catalogs (`python bench/querybank_bench.py`): against the
    phrase's vector alone, a query less this centre catches more of a label's clips at
    the exclusion bar with no more false exclusions (recall 0.901 → 0.919 on the demo
    catalog, 0.828 → 0.845 on C, 0.625 → 0.659 on E)."""
    with _lock:
        kept = _centres.get(id(encoder))
        if kept is not None and kept[0]() is encoder:
            return kept[1]
        found = shipped().get(getattr(encoder, "model_id", ""))
        if found is None or found.shape != (encoder.dim,):
            found = made(encoder)
        key = id(encoder)
        # Forgotten when the encoder goes (its id may then name another encoder).
        _centres[key] = (weakref.ref(encoder, lambda _: _centres.pop(key, None)), found)
        return found


def write(path: Path = CENTRES_PATH) -> None:
    """Make the packaged towers' centres and write them to `path`."""
    from embeddings.encoders import MultilingualEncoder, SentenceEncoder

    phrases = bank()
    towers: list[SentenceEncoder | MultilingualEncoder] = [
        SentenceEncoder.load(),
        MultilingualEncoder.load(),
    ]
    centres: dict[str, Any] = {f"centre{i}": made(t, phrases) for i, t in enumerate(towers)}
    np.savez(path, digest=np.array(digest(phrases)),
             models=np.array([t.model_id for t in towers]), **centres)  # fmt: skip
    print(f"wrote {path} ({', '.join(t.model_id for t in towers)}; {len(phrases)} phrases)")


if __name__ == "__main__":
    write()
