"""Japanese phrases for the English-only text tower: through nothing, the glossary, the dictionary.

A Japanese phrase is read by the multilingual channel as typed; MiniLM (English only)
reads it only in English. This scores three ways of doing that against the labelled
test catalogs A and B (`feed.evaluation.data`), with each label's Japanese words from
the catalogs' label files as the queries (the first reading before 「、」):

- multilingual: the multilingual channel alone (MiniLM sits the phrase out);
- glossary:     MiniLM reads the hand-made glossary's English (data/lexicon/ja.toml),
                where it has any; the two channels' z-scores averaged;
- dictionary:   MiniLM reads the English the engine gives it: JMdict/JMnedict with the
                glossary first (`feed.services.relevance.PhraseRelevance.english`).

Metrics, per (catalog, label), then averaged: ROC AUC of label membership, and at
z >= 1.0 (the engine's exclusion bar) the share of label clips caught (recall) and of
other clips caught (false exclusions). The lexical half of matching is left out: this
measures the vectors.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/translation_bench.py` (about a minute).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.ranking import EXCLUDE_Z
from feed.core.steering import load_reader
from feed.evaluation.data import CATALOGS, load_labelled_catalog
from feed.evaluation.pages import open_labelled_service
from feed.services.clips import ClipStore

VARIANTS = ("multilingual", "glossary", "dictionary")


def _z(sims: np.ndarray) -> np.ndarray:
    sims = np.asarray(sims, dtype=np.float64)
    return (sims - sims.mean()) / sims.std()


def main() -> None:
    text, multi = SentenceEncoder.load(), MultilingualEncoder.load()
    with tempfile.TemporaryDirectory() as tmp:
        reader = load_reader(Path(os.environ.get("STEERFEED_MODEL_CACHE", Path(tmp) / "models")))
        print("| catalog | reading | ROC AUC | recall at z ≥ 1 | false exclusions |")
        print("|---|---|---|---|---|")
        for name in CATALOGS:
            catalog = load_labelled_catalog(name)
            home = Path(tmp) / name
            engine = ClipStore(home, text, None, multi_encoder=multi)
            service, labels = open_labelled_service(catalog, home, engine, reader, time.time())
            snap = service.snapshots.current()
            scores: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
            for label, described in sorted(catalog.labels.items()):
                japanese = described.ja.split("、")[0].strip()
                target = np.array([label in labels[c] for c in snap.clip_ids])
                by_multi = _z(snap.vectors["multi"] @ multi.encode_texts([japanese])[0])
                english = {
                    "multilingual": None,
                    "glossary": service.phrases.glossary.translate(japanese),
                    "dictionary": service.phrases.english(japanese),
                }
                for variant, words in english.items():
                    z = by_multi
                    if words:
                        by_text = _z(snap.vectors["text"] @ text.encode_texts([words])[0])
                        z = (by_multi + by_text) / 2
                    hit = z >= EXCLUDE_Z
                    scores[variant].append(
                        (roc_auc_score(target, z), hit[target].mean(), hit[~target].mean())
                    )
            for variant in VARIANTS:
                auc, recall, false = np.mean(scores[variant], axis=0)
                print(f"| {name} | {variant} | {auc:.3f} | {recall:.3f} | {false:.1%} |")
            service.close()
            engine.close()


if __name__ == "__main__":
    main()
