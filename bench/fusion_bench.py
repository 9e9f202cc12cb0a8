"""Should an exclusion fuse the two text spaces' z by their mean (as the engine does) or
by the higher of the two?

A clip is excluded when its fused z for the phrase reaches the bar (1.0). The mean asks
both spaces to agree; the higher of the two (max) catches a clip that either space finds,
and so also removes more clips that are not the label's. This compares the fusions at the
same cost: for each (catalog, label, query), the share of the label's clips at or over a
bar (recall) and of the other clips (false exclusions), over bars 0.0-2.5, averaged; then
each fusion's recall where its false exclusions equal the mean fusion's at bar 1.0, and at
5% and 10%. Also the multilingual space (USE) alone, and the lower of the two (min).

Queries are read as the engine reads them: USE encodes the phrase (hiragana-only words in
their usual writing), MiniLM its English (Japanese through the bundled dictionary and the
glossary). Catalogs: the demo catalog (tags and the glossary's Japanese) and catalog C,
the tuning catalogs, decide; with `--test`, the labelled test catalogs A and B are printed
too, to confirm only.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/fusion_bench.py [--test]` (about a minute).
"""

from __future__ import annotations

import sys

import numpy as np
from clause_vectors_bench import demo, labelled, zscore

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.steering import Glossary
from feed.storage.dictionary import shared_dictionary

BARS = [round(b, 2) for b in np.arange(0.0, 2.51, 0.05)]
CHUNK = 64


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

    catalogs = [demo(), labelled("c")]
    if "--test" in sys.argv:
        catalogs += [labelled("a"), labelled("b")]
    print("| catalog | fusion | recall / false exclusions at z ≥ 1 | recall at the mean's"
          " false exclusions | recall at 5% | recall at 10% |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    at_one = BARS.index(1.0)
    for cat in catalogs:
        clips_mini, clips_use = encode(mini, cat.prompts), encode(use, cat.prompts)
        curves: dict[str, list[list[tuple[float, float]]]] = {}
        for label in cat.labels:
            for text in label.queries.values():
                zs = [zscore(clips_use @ use.encode_texts([usual(text)])[0])]
                en = english(text)
                if en:
                    zs.append(zscore(clips_mini @ mini.encode_texts([en])[0]))
                fused = {"mean": np.mean(zs, axis=0), "max": np.max(zs, axis=0),
                         "min": np.min(zs, axis=0), "use": zs[0]}  # fmt: skip
                member = label.member
                for name, z in fused.items():
                    curves.setdefault(name, []).append(
                        [
                            (float((z[member] >= b).mean()), float((z[~member] >= b).mean()))
                            for b in BARS
                        ]  # fmt: skip
                    )
        engine_fe = float(np.mean(curves["mean"], axis=0)[at_one][1])
        for name, rows in curves.items():
            curve = np.mean(rows, axis=0)  # (bars, 2): recall, false exclusions
            order = np.argsort(curve[:, 1])

            def recall_at(fe: float, curve=curve, order=order) -> float:
                return float(np.interp(fe, curve[order, 1], curve[order, 0]))

            print(f"| {cat.name} | {name} | {curve[at_one][0]:.3f} / {curve[at_one][1]:.3f} |"
                  f" {recall_at(engine_fe):.3f} (at {engine_fe:.3f}) | {recall_at(0.05):.3f} |"
                  f" {recall_at(0.10):.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
