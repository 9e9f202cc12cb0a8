"""Would an exclusion catch more of a label's clips if a clip's score leaned on its
neighbours' scores?

The clips an exclusion leaks name the concept only by what it implies, and both text spaces
place them below the exclusion bar. If such a clip sits among clips that do name the
concept, its neighbours' z would lift it. This smooths the fused z (the mean of the two
spaces' z, as the engine fuses them) over each clip's k nearest clips in the catalog
(cosine, the two spaces' mean), z' = (1 - a) z + a mean(z of the k neighbours), or takes
the higher of z and the neighbours' mean, and compares, as `fusion_bench.py` does, the share
of the label's clips at or over the bar (recall) and of the other clips (false exclusions),
averaged over labels and queries: at the engine's bar (1.0), and the recall each variant
reaches where its false exclusions equal the engine's at that bar, and at 5% and 10%.

Queries are read as the engine reads them (see `fusion_bench.py`). The tuning catalogs
decide: the demo catalog, catalog C and catalog E; with `--test`, the labelled test
catalogs A and B are printed too, to confirm only.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/neighbour_bench.py [--test]` (about five
minutes on 2 cores).
"""

from __future__ import annotations

import sys

import numpy as np
from clause_vectors_bench import demo, labelled, zscore
from fusion_bench import BARS, CHUNK

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.steering import Glossary
from feed.storage.dictionary import shared_dictionary

NEIGHBOURS = (3, 5, 10)
LEANS = (0.2, 0.35, 0.5)


def main() -> int:
    mini, use = SentenceEncoder.load(), MultilingualEncoder.load()
    dictionary, glossary = shared_dictionary(), Glossary.load()
    if dictionary is None:
        print("needs the bundled dictionary (jamdict-data)", file=sys.stderr)
        return 2

    def usual(text: str) -> str:
        return dictionary.written(text) or text

    def english(text: str) -> str | None:
        if not has_japanese(text):
            return text
        return dictionary.reading(usual(text), glossary.terms).english

    def encode(encoder, texts: list[str]) -> np.ndarray:
        return np.concatenate(
            [encoder.encode_texts(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
        )

    catalogs = [demo(), labelled("c"), labelled("e")]
    if "--test" in sys.argv:
        catalogs += [labelled("a"), labelled("b")]
    print("| catalog | score | recall / false exclusions at z ≥ 1 | recall at the engine's"
          " false exclusions | recall at 5% | recall at 10% |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    at_one = BARS.index(1.0)
    for cat in catalogs:
        clips_mini, clips_use = encode(mini, cat.prompts), encode(use, cat.prompts)
        similar = (clips_mini @ clips_mini.T + clips_use @ clips_use.T) / 2
        np.fill_diagonal(similar, -np.inf)
        by_similarity = np.argsort(-similar, axis=1)
        curves: dict[str, list[list[tuple[float, float]]]] = {}
        for label in cat.labels:
            for text in label.queries.values():
                zs = [zscore(clips_use @ use.encode_texts([usual(text)])[0])]
                en = english(text)
                if en:
                    zs.append(zscore(clips_mini @ mini.encode_texts([en])[0]))
                z = np.mean(zs, axis=0)
                scores = {"engine (z)": z}
                for k in NEIGHBOURS:
                    around = z[by_similarity[:, :k]].mean(axis=1)
                    for a in LEANS:
                        scores[f"{k} neighbours, a = {a}"] = (1 - a) * z + a * around
                    scores[f"{k} neighbours, higher"] = np.maximum(z, around)
                for name, s in scores.items():
                    curves.setdefault(name, []).append(
                        [
                            (
                                float((s[label.member] >= b).mean()),
                                float((s[~label.member] >= b).mean()),
                            )
                            for b in BARS
                        ]  # fmt: skip
                    )
        engine_fe = float(np.mean(curves["engine (z)"], axis=0)[at_one][1])
        for name, rows in curves.items():
            curve = np.mean(rows, axis=0)  # (bars, 2): recall, false exclusions
            order = np.argsort(curve[:, 1])

            def recall_at(fe: float, curve=curve, order=order) -> float:
                return float(np.interp(fe, curve[order, 1], curve[order, 0]))

            print(f"| {cat.name} | {name} | {curve[at_one][0]:.3f} / {curve[at_one][1]:.3f} |"
                  f" {recall_at(engine_fe):.3f} (at {engine_fe:.3f}) | {recall_at(0.05):.3f} |"
                  f" {recall_at(0.10):.3f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
