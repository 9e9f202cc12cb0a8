"""Japanese clip texts in the English-only space: read as written, or as their English.

MiniLM reads English only; a clip whose prompt is Japanese gets a vector from word pieces
it does not know. The engine now gives MiniLM the dictionary's English of such a text
(`feed.storage.dictionary.texts_read_by`), as it gives it a Japanese query's English.
This compares the two readings on the labelled catalogs that have Japanese prompts:
catalog C (tuning; the reading was chosen on it), catalog E (tuning, written after it:
mostly Japanese generator prompts and descriptions) and catalog D (test, never tuned on:
mostly Japanese creator captions).

For each label (look or topic) and query language (the label's first English and first
Japanese name; MiniLM reads a Japanese query as the dictionary's English), each clip's
relevance is scored as the engine scores it: the z of its similarity over the whole
catalog in each space (MiniLM, USE multilingual), averaged. Reported, averaged over labels
with at least one Japanese clip, for the Japanese-text clips:
- ROC AUC of label membership among them, MiniLM alone and fused;
- exclusion recall: the share of the label's Japanese clips at z >= EXCLUDE_Z (what "no X"
  removes), and false exclusions: the share of other clips (any language) removed.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/japanese_clips_bench.py [--catalogs c d]`
(about a minute). Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.ranking import EXCLUDE_Z
from feed.evaluation.data import load_labelled_catalog
from feed.storage.dictionary import shared_dictionary, texts_read_by

T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def z(sims: np.ndarray) -> np.ndarray:
    return (sims - sims.mean()) / max(float(sims.std()), 1e-9)


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC (None when one class is empty)."""
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, scores))


def measure(name: str, minilm: SentenceEncoder, use: MultilingualEncoder) -> dict[str, dict]:
    catalog = load_labelled_catalog(name)
    dictionary = shared_dictionary()
    if dictionary is None:
        raise SystemExit("the dictionary (jamdict-data) is not installed")
    prompts = [row.prompt for row in catalog.rows]
    japanese = np.array([has_japanese(p) for p in prompts])
    say(f"catalog {name}: {len(prompts)} clips, {int(japanese.sum())} with Japanese text")
    vectors = {
        "as written": minilm.encode_texts(prompts),
        "as English": minilm.encode_texts(texts_read_by(minilm, prompts, dictionary)),
    }
    use_vectors = use.encode_texts(prompts)
    out: dict[str, dict] = {way: {} for way in vectors}
    for label, spec in catalog.labels.items():
        members = np.array([label in (row.look, row.topic) for row in catalog.rows])
        if not (members & japanese).any():
            continue
        for lang, query in (("en", spec.en.split(",")[0]), ("ja", spec.ja.split("、")[0])):
            read = dictionary.reading(query).english if lang == "ja" else query
            use_z = z(use_vectors @ use.encode_texts([query])[0])
            minilm_query = minilm.encode_texts([read or query])[0]
            for way, matrix in vectors.items():
                minilm_z = z(matrix @ minilm_query)
                fused = (minilm_z + use_z) / 2
                removed = fused >= EXCLUDE_Z
                out[way][(label, lang)] = {
                    "auc minilm": auc(minilm_z[japanese], members[japanese]),
                    "auc fused": auc(fused[japanese], members[japanese]),
                    "recall": float(removed[members & japanese].mean()),
                    "false": float(removed[~members].mean()),
                }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", nargs="+", default=["c", "e", "d"])
    args = parser.parse_args(argv)
    minilm, use = SentenceEncoder.load(), MultilingualEncoder.load()
    print("| catalog | MiniLM reads Japanese clips | query | AUC MiniLM | AUC fused "
          "| exclusion recall | false exclusions |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in args.catalogs:
        results = measure(name, minilm, use)
        for way, cells in results.items():
            for lang in ("en", "ja"):
                rows = [v for (_, q), v in cells.items() if q == lang]
                mean = {
                    k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in rows[0]
                }
                print(
                    f"| {name} | {way} | {lang} ({len(rows)} labels) | {mean['auc minilm']:.3f} "
                    f"| {mean['auc fused']:.3f} | {mean['recall']:.3f} | {mean['false']:.3f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
