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
from dataclasses import dataclass

import numpy as np
from clause_vectors_bench import demo, labelled, zscore

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.steering import Glossary
from feed.storage.dictionary import BilingualDictionary, shared_dictionary

BARS = [round(b, 2) for b in np.arange(0.0, 2.51, 0.05)]
AT_ONE = BARS.index(1.0)
CHUNK = 64


def encode(encoder, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """`texts` in `encoder`'s space, CHUNK at a time."""
    return np.concatenate(
        [encoder.encode_texts(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
    )


@dataclass(frozen=True)
class Spaces:
    """The two text spaces, reading queries as the engine reads them: USE the phrase (a
    hiragana-only word in its usual writing), MiniLM its English (Japanese through the
    bundled dictionary and the glossary)."""

    mini: SentenceEncoder
    use: MultilingualEncoder
    dictionary: BilingualDictionary
    glossary: Glossary

    @classmethod
    def load(cls) -> Spaces | None:
        """Both encoders and the reading aids; None without the bundled dictionary."""
        dictionary = shared_dictionary()
        if dictionary is None:
            return None
        return cls(SentenceEncoder.load(), MultilingualEncoder.load(), dictionary, Glossary.load())

    def usual(self, text: str) -> str:
        return self.dictionary.written(text) or text

    def english(self, text: str) -> str | None:
        if not has_japanese(text):
            return text
        return self.dictionary.reading(self.usual(text), self.glossary.terms).english

    def clips(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every prompt in MiniLM and in USE."""
        return encode(self.mini, prompts), encode(self.use, prompts)

    def z(self, clips: tuple[np.ndarray, np.ndarray], text: str) -> list[np.ndarray]:
        """Each clip's z for the query in USE, then in MiniLM where the query has English."""
        clips_mini, clips_use = clips
        zs = [zscore(clips_use @ self.use.encode_texts([self.usual(text)])[0])]
        en = self.english(text)
        if en:
            zs.append(zscore(clips_mini @ self.mini.encode_texts([en])[0]))
        return zs


def bar_curve(score: np.ndarray, member: np.ndarray) -> list[tuple[float, float]]:
    """(recall, false exclusions) of excluding at each of BARS."""
    return [(float((score[member] >= b).mean()), float((score[~member] >= b).mean())) for b in BARS]


def print_curves(
    catalog: str, curves: dict[str, list[list[tuple[float, float]]]], reference: str
) -> None:
    """A table row per score: its recall and false exclusions at z >= 1, averaged over the
    queries, and its recall where its false exclusions equal `reference`'s at z >= 1, at 5%
    and at 10%."""
    engine_fe = float(np.mean(curves[reference], axis=0)[AT_ONE][1])
    for name, rows in curves.items():
        curve = np.mean(rows, axis=0)  # (bars, 2): recall, false exclusions
        order = np.argsort(curve[:, 1])

        def recall_at(fe: float, curve=curve, order=order) -> float:
            return float(np.interp(fe, curve[order, 1], curve[order, 0]))

        print(f"| {catalog} | {name} | {curve[AT_ONE][0]:.3f} / {curve[AT_ONE][1]:.3f} |"
              f" {recall_at(engine_fe):.3f} (at {engine_fe:.3f}) | {recall_at(0.05):.3f} |"
              f" {recall_at(0.10):.3f} |", flush=True)  # fmt: skip


def main() -> int:
    spaces = Spaces.load()
    if spaces is None:
        print("needs the bundled dictionary (jamdict-data)", file=sys.stderr)
        return 2
    catalogs = [demo(), labelled("c")]
    if "--test" in sys.argv:
        catalogs += [labelled("a"), labelled("b")]
    print("| catalog | fusion | recall / false exclusions at z ≥ 1 | recall at the mean's"
          " false exclusions | recall at 5% | recall at 10% |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for cat in catalogs:
        clips = spaces.clips(cat.prompts)
        curves: dict[str, list[list[tuple[float, float]]]] = {}
        for label in cat.labels:
            for text in label.queries.values():
                zs = spaces.z(clips, text)
                fused = {"mean": np.mean(zs, axis=0), "max": np.max(zs, axis=0),
                         "min": np.min(zs, axis=0), "use": zs[0]}  # fmt: skip
                for name, z in fused.items():
                    curves.setdefault(name, []).append(bar_curve(z, label.member))
        print_curves(cat.name, curves, "mean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
