"""Would an exclusion catch more of a label's clips if each similarity also left out what
every steering phrase shares?

The engine reads a clip's relevance to a phrase as a z over the catalog: how far the
clip's similarity stands above the other clips' similarities to the same phrase. A clip
near steering phrases in general (a short, vague caption) stands above the catalog for
each of them, and a clip that names the thing in its own words can fall below the bar.
Two remedies from cross-modal retrieval, both with a bank of queries: the English
concepts of the steering corpus (`data/steering/train/concepts_en.toml`, what people
steer with; one score adds the Japanese ones to the multilingual space's bank):

- *Centring* (Suzuki et al., 2013, on hubs): the phrase's query less the bank's mean
  vector, `q - share * mean`. Nothing about the clips changes: the engine's statistics,
  index searches and snapshot stay as they are.
- *Querybank normalisation* (Bogolin et al., CVPR 2022): each clip's similarity in
  standard deviations of its similarities to the bank (a row z), the spaces' row z
  averaged, then z-scored over the catalog as the engine does. It needs each clip's
  spread over the bank (c'Σc) and the two spaces' joint statistics.

Each score is compared as `fusion_bench.py` compares fusions: recall and false exclusions
at the bar, the recall each reaches where its false exclusions equal the engine's at the
bar, and at 5% and 10%, averaged over every label's queries. The tuning catalogs decide
(the demo catalog, C and E); with `--test`, the labelled test catalogs A and B are
printed too, to confirm only.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/querybank_bench.py [--test]` (about a
minute).
"""

from __future__ import annotations

import sys

import numpy as np
from clause_vectors_bench import demo, labelled, zscore
from fusion_bench import Spaces, bar_curve, encode, print_curves

from feed.core.intent_corpus import load_corpus_spec

SHARES = (0.5, 1.0, 1.5, 2.0)
Bank = tuple[np.ndarray, np.ndarray]  # mean (d,), covariance (d, d)


def bank_of(vectors: np.ndarray) -> Bank:
    """A bank's mean vector and covariance: a clip c's similarities to the bank have mean
    c·mean and variance c'Σc."""
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    return mean, centred.T @ centred / len(vectors)


def row_z(clips: np.ndarray, query: np.ndarray, bank: Bank) -> np.ndarray:
    """Each clip's similarity to `query` in standard deviations of its similarities to
    the bank, from their mean."""
    mean, cov = bank
    spread = np.sqrt(np.maximum(np.einsum("nd,de,ne->n", clips, cov, clips), 1e-12))
    return (clips @ query - clips @ mean) / spread


def main() -> int:
    spaces = Spaces.load()
    if spaces is None:
        print("needs the bundled dictionary (jamdict-data)", file=sys.stderr)
        return 2
    concepts = load_corpus_spec().concepts
    english = sorted({c.text for c in concepts if c.lang == "en"})
    japanese = sorted({c.text for c in concepts if c.lang == "ja"})

    mini_bank = bank_of(encode(spaces.mini, english))
    use_bank = bank_of(encode(spaces.use, english))
    use_both = bank_of(encode(spaces.use, english + japanese))
    catalogs = [demo(), labelled("c"), labelled("e")]
    if "--test" in sys.argv:
        catalogs += [labelled("a"), labelled("b")]
    print("| catalog | score | recall / false exclusions at z ≥ 1 | recall at the engine's"
          " false exclusions | recall at 5% | recall at 10% |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for cat in catalogs:
        mini, use = spaces.clips(cat.prompts)
        curves: dict[str, list[list[tuple[float, float]]]] = {}
        for label in cat.labels:
            for text in label.queries.values():
                # (clips, query, bank, bank with Japanese) of each space that reads the text
                spaced = [(use, spaces.use.encode_texts([spaces.usual(text)])[0], use_bank,
                           use_both)]  # fmt: skip
                en = spaces.english(text)
                if en:
                    spaced.append((mini, spaces.mini.encode_texts([en])[0], mini_bank, mini_bank))
                scores = {"engine (query alone)": np.mean(
                    [zscore(c @ q) for c, q, _, _ in spaced], axis=0)}  # fmt: skip
                for share in SHARES:
                    scores[f"query less {share} × the bank's mean"] = np.mean(
                        [zscore(c @ (q - share * b[0])) for c, q, b, _ in spaced], axis=0
                    )
                scores["query less the bank's mean, Japanese in the bank"] = np.mean(
                    [zscore(c @ (q - both[0])) for c, q, _, both in spaced], axis=0
                )
                scores["querybank normalised"] = zscore(
                    np.mean([row_z(c, q, b) for c, q, b, _ in spaced], axis=0)
                )
                for name, score in scores.items():
                    curves.setdefault(name, []).append(bar_curve(score, label.member))
        print_curves(cat.name, curves, "engine (query alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
