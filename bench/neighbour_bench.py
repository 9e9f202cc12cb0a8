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
from clause_vectors_bench import demo, labelled
from fusion_bench import Spaces, bar_curve, print_curves

NEIGHBOURS = (3, 5, 10)
LEANS = (0.2, 0.35, 0.5)


def main() -> int:
    spaces = Spaces.load()
    if spaces is None:
        print("needs the bundled dictionary (jamdict-data)", file=sys.stderr)
        return 2
    catalogs = [demo(), labelled("c"), labelled("e")]
    if "--test" in sys.argv:
        catalogs += [labelled("a"), labelled("b")]
    print("| catalog | score | recall / false exclusions at z ≥ 1 | recall at the engine's"
          " false exclusions | recall at 5% | recall at 10% |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for cat in catalogs:
        clips = spaces.clips(cat.prompts)
        similar = (clips[0] @ clips[0].T + clips[1] @ clips[1].T) / 2
        np.fill_diagonal(similar, -np.inf)
        by_similarity = np.argsort(-similar, axis=1)
        curves: dict[str, list[list[tuple[float, float]]]] = {}
        for label in cat.labels:
            for text in label.queries.values():
                z = np.mean(spaces.z(clips, text), axis=0)
                scores = {"engine (z)": z}
                for k in NEIGHBOURS:
                    around = z[by_similarity[:, :k]].mean(axis=1)
                    for a in LEANS:
                        scores[f"{k} neighbours, a = {a}"] = (1 - a) * z + a * around
                    scores[f"{k} neighbours, higher"] = np.maximum(z, around)
                for name, score in scores.items():
                    curves.setdefault(name, []).append(bar_curve(score, label.member))
        print_curves(cat.name, curves, "engine (z)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
