"""Exclusion through the phrase's own best matches (pseudo-relevance feedback), measured.

An exclusion removes clips whose relevance to the phrase is z >= 1.0. A label's clips
that the phrase's vectors miss leak ("claymation" against clips that say
"plasticine"). Rocchio's feedback: the clips a phrase matches best are surely about it,
and the label's other clips lie nearer to them than to the phrase. Each variant moves
the phrase's query in every space toward the mean of its best matches' vectors:

    q' = q / |q| + beta * mean(top k rows with z >= MATCH_Z) / |mean|

and scores every clip against q' (z over the catalog, as the engine does), either alone
(`moved`) or as the higher of the two z (`max`). Clips naming the phrase still match.

Catalogs: the demo catalog (data/demo/clips.jsonl, the tuning catalog: its tags are the
labels; queries are each tag, its glossary term and the synonyms below, written for this
bench) decides; `--test` adds the labelled test catalogs A and B (queries: each label's
first English and Japanese readings and its name), read only to confirm.

Metrics per (catalog, label, query), then averaged: share of the label's clips at
z >= 1.0 (exclusion recall), share of other clips there (false exclusions), the share of
queries that catch every label clip, and ROC AUC.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/feedback_bench.py [--test]` (about a minute).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.naming import as_mask
from feed.core.ranking import EXCLUDE_Z, MATCH_Z
from feed.core.steering import load_reader
from feed.evaluation.data import CatalogLabel, CatalogRow, LabelledCatalog, load_labelled_catalog
from feed.evaluation.pages import open_labelled_service
from feed.services.clips import ClipStore

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo" / "clips.jsonl"
GLOSSARY = ROOT / "data" / "lexicon" / "ja.toml"

# Other words for the demo catalog's tags (tuning queries only).
DEMO_SYNONYMS = {
    "anime": ["japanese animation"], "cars": ["automobiles"], "cats": ["kittens"],
    "city": ["urban streets"], "claymation": ["clay animation"], "cyberpunk": ["neon dystopia"],
    "dance": ["dancers"], "dogs": ["puppies"], "film noir": ["black and white detective film"],
    "food": ["cooking"], "horror": ["scary stuff"], "low poly": ["polygonal 3d"],
    "music": ["musicians"], "nature": ["forests and mountains"], "ocean": ["the sea"],
    "oil painting": ["painted on canvas"], "pencil sketch": ["drawings"],
    "photorealistic": ["realistic footage"], "pixel art": ["8-bit graphics"],
    "skateboarding": ["skaters"], "space": ["outer space"], "sports": ["athletes"],
    "vaporwave": ["retro pastel aesthetic"], "watercolor": ["watercolour painting"],
}  # fmt: skip
DEPTHS = (5, 10, 20)
BETAS = (0.5, 1.0, 2.0)


def demo_catalog() -> tuple[LabelledCatalog, dict[str, list[str]]]:
    raw = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line]
    raw = [r for r in raw if not r.get("cameos")]  # cameo clips need their owners' consent
    with GLOSSARY.open("rb") as fh:
        terms = tomllib.load(fh)["terms"]
    rows = tuple(CatalogRow(r["id"], r["prompt"], r["creator"], *r["tags"][:2]) for r in raw)
    tags = sorted({t for r in raw for t in r["tags"][:2]})
    queries = {}
    for tag in tags:
        ja = [j for j, en in terms.items() if en.lower() == tag]
        queries[tag] = [tag, *DEMO_SYNONYMS.get(tag, []), *ja[:1]]
    labels = {t: CatalogLabel(t, "look", t, "") for t in tags}
    return LabelledCatalog("demo", rows, labels), queries


def test_queries(catalog: LabelledCatalog) -> dict[str, list[str]]:
    return {
        name: [spec.en.split(",")[0].split(":")[0].strip(), spec.ja.split("、")[0].split("（")[0],
               name]
        for name, spec in catalog.labels.items()
    }  # fmt: skip


def zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(float(x.std()), 1e-9)


def moved(service, snap, phrase: str, z: np.ndarray, k: int, beta: float) -> np.ndarray | None:
    """The phrase's z after moving its query toward its k best matches (None: none match)."""
    best = np.argsort(-z, kind="stable")[:k]
    best = best[z[best] >= MATCH_Z]
    if not len(best):
        return None
    total = np.zeros(len(z))
    count = np.zeros(len(z))
    for channel, q in service.phrases.phrase_vectors(phrase).items():
        has = snap.has[channel]
        vectors = np.asarray(snap.vectors[channel], dtype=np.float32)
        rows = best[has[best]]
        if not len(rows):
            continue
        mean = vectors[rows].mean(axis=0)
        query = q / np.linalg.norm(q) + beta * mean / np.linalg.norm(mean)
        total[has] += zscore((vectors @ query)[has])
        count[has] += 1
    out = total / np.maximum(count, 1)
    named = as_mask(service.phrases.naming(snap.texts, phrase), len(snap))
    return np.where(named, np.maximum(out, MATCH_Z), out)


def scores(z: np.ndarray, member: np.ndarray) -> tuple[float, float, float, float]:
    hit = z >= EXCLUDE_Z
    return (float(hit[member].mean()), float(hit[~member].mean()),
            float(hit[member].all()), float(roc_auc_score(member, z)))  # fmt: skip


def main() -> None:
    text, multi = SentenceEncoder.load(), MultilingualEncoder.load()
    catalogs = [demo_catalog()]
    if "--test" in sys.argv:
        catalogs += [(c, test_queries(c)) for c in map(load_labelled_catalog, ("a", "b"))]
    variants = ["exact"] + [f"{how} k={k} b={b}" for how in ("moved", "max")
                            for k in DEPTHS for b in BETAS]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        reader = load_reader(Path(os.environ.get("STEERFEED_MODEL_CACHE", Path(tmp) / "models")))
        print("| catalog | variant | recall at z ≥ 1 | false exclusions | all caught | AUC |")
        print("|---|---|---|---|---|---|")
        for catalog, queries in catalogs:
            home = Path(tmp) / catalog.name
            engine = ClipStore(home, text, None, multi_encoder=multi)
            service, labels = open_labelled_service(catalog, home, engine, reader, time.time())
            snap = service.snapshots.current()
            found: dict[str, list[tuple[float, ...]]] = {v: [] for v in variants}
            for label, phrases in sorted(queries.items()):
                member = np.array([label in labels[c] for c in snap.clip_ids])
                for phrase in phrases:
                    z = np.asarray(service.phrases.relevance(phrase, snap), dtype=np.float64)
                    found["exact"].append(scores(z, member))
                    for k in DEPTHS:
                        for beta in BETAS:
                            z2 = moved(service, snap, phrase, z, k, beta)
                            z2 = z if z2 is None else z2
                            found[f"moved k={k} b={beta}"].append(scores(z2, member))
                            found[f"max k={k} b={beta}"].append(scores(np.maximum(z, z2), member))
            for variant in variants:
                recall, false, every, auc = np.mean(found[variant], axis=0)
                print(f"| {catalog.name} | {variant} | {recall:.3f} | {false:.1%} | "
                      f"{every:.2f} | {auc:.3f} |", flush=True)  # fmt: skip
            service.close()
            engine.close()


if __name__ == "__main__":
    main()
