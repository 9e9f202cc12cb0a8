"""A second reading of a clause's polarity: the training clauses nearest to it in meaning.

The op classifier reads words it has seen; a clause in words it has not ("VTuberの歌枠は
マシマシで", "big yikes on X") it can read confidently backwards. This keeps every
training clause with its concept masked ("no more X pls"), as a multilingual sentence
vector with the share of its labels that ask for less. A clause being read is encoded
the same way; when at least VOTE_SHARE of its VOTE_NEIGHBOURS nearest training clauses
ask for the opposite of what the classifier read, the reader asks instead of applying.

A cue word of the reading's own polarity ("more", "no", だけ) outweighs the neighbours.

Measured by leaving each of nine hand-written sets (dev9 to dev17, 4,719 cases) out of
training and reading it: inversions 369 → 330, right readings 3,358 → 3,312 (about as
many right readings became questions as inversions were avoided). Without the cue-word
exception, shares of 0.6, 0.7 and 0.8 avoided 90, 47 and 28 inversions for 4.1, 1.3 and
0.7 points of op accuracy (mean over the sets); 0.7 was kept. With the exception, 7 or 31
neighbours, or neighbours weighted by similarity, traded the same (57 inversions avoided
for 73 right readings; 32 for 40; 40 for 42), so the plain 15 stays.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.core.intent import (
    MASK,
    NEGATIVE,
    POSITIVE,
    Encode,
    LabelledText,
    atomic_write,
    clause_vector_text,
    encode_in_batches,
    labelled_clauses,
    normalise,
)

log = logging.getLogger(__name__)

VOTE_NEIGHBOURS = 15
VOTE_SHARE = 0.7
MEMORY_FILE = "polarity.npz"
MEMORY_VERSION = 1


@dataclass(frozen=True)
class PolarityMemory:
    """The training clauses' vectors (rows L2-normalised) and their negative shares."""

    vectors: np.ndarray  # (n, d) float32
    negative: np.ndarray  # (n,) float32, 1.0 when every label of the clause asks for less
    fingerprint: str

    def negative_share(self, query: np.ndarray) -> float:
        """Share of the VOTE_NEIGHBOURS training clauses nearest `query` that ask for less
        (each weighted by its own negative share)."""
        sims = self.vectors @ np.asarray(query, dtype=np.float32)
        k = min(VOTE_NEIGHBOURS, len(sims))
        nearest = np.argpartition(-sims, k - 1)[:k]
        return float(self.negative[nearest].mean())

    def disagrees(self, query: np.ndarray, read_as_more: bool) -> bool:
        """True when the neighbours ask for the opposite of the reading (more, or less)."""
        if not len(self.negative):
            return False
        share = self.negative_share(query)
        return share >= VOTE_SHARE if read_as_more else 1.0 - share >= VOTE_SHARE

    def save(self, folder: Path) -> None:
        """Write the memory under `folder` (atomically)."""
        folder.mkdir(parents=True, exist_ok=True)
        saved = io.BytesIO()
        np.savez(saved, vectors=self.vectors.astype(np.float16), negative=self.negative,
                 fingerprint=np.array(self.fingerprint))  # fmt: skip
        atomic_write(folder / MEMORY_FILE, saved.getvalue())

    @classmethod
    def load(cls, folder: Path, fingerprint: str) -> PolarityMemory | None:
        """The memory saved under `folder` if it was built for `fingerprint`, else None."""
        path = folder / MEMORY_FILE
        try:
            with np.load(path) as saved:
                if str(saved["fingerprint"]) != fingerprint:
                    return None
                vectors = saved["vectors"].astype(np.float32)
                negative = saved["negative"].astype(np.float32)
        except (OSError, KeyError, ValueError) as exc:
            if path.exists():
                log.warning("polarity memory %s unreadable (%s); building it again", path, exc)
            return None
        return cls(vectors, negative, fingerprint)


def memory_fingerprint(model_fingerprint: str, encoder_id: str) -> str:
    """What a memory was built from: the reader's corpus (its fingerprint) and encoder."""
    return f"v{MEMORY_VERSION}|{model_fingerprint}|{encoder_id}|{MASK}"


def training_clauses(examples: Sequence[LabelledText]) -> dict[str, list[float]]:
    """Each distinct masked training clause with a boost, only, suppress or exclude label,
    and its labels as 1.0 (less) or 0.0 (more). A clause naming several concepts masks
    them all, as the classifier's training rows do."""
    found: dict[str, list[float]] = {}
    for ex in examples:
        text = normalise(ex.text)
        for op, clause in labelled_clauses(ex):
            if op in NEGATIVE | POSITIVE:
                words = clause_vector_text(text, clause)
                found.setdefault(words, []).append(1.0 if op in NEGATIVE else 0.0)
    return found


def build_memory(
    examples: Sequence[LabelledText],
    encode: Encode,
    fingerprint: str,
    progress: Callable[[str], None] | None = None,
) -> PolarityMemory:
    """Encode every distinct training clause (a few seconds for ~15,000)."""
    clauses = training_clauses(examples)
    words = sorted(clauses)
    say = progress or (lambda _msg: None)
    say(f"encoding {len(words)} training clauses for the polarity vote")
    # Rounded to the half precision it is saved in, so a memory reads the same built or loaded.
    vectors = encode_in_batches(encode, words).astype(np.float16).astype(np.float32)
    negative = np.array([np.mean(clauses[w]) for w in words], dtype=np.float32)
    return PolarityMemory(vectors, negative, fingerprint)
