"""How an exclusion's near-misses are demoted: leaks against what else moves, measured.

"no X" removes clips at z >= 1.0 and sinks the rest in proportion to how far they sit
above a soft bar (`feed.core.ranking.EXCLUDE_SOFT_Z`, -0.5), times the rank weights'
`exclude_margin` (1.0). Each variant sets both; for every label with at least five
clips, `--users` users (half fresh, half warm with five random likes) each say "no X"
(「Xは見たくない」 in Japanese) for one of the label's words, and their first three
pages are counted:

- leaks: the label's clips shown, summed over labels; clean: labels with none shown;
- collateral: for the warm users, the median relative change of the mean similarity
  of their page's other clips to what they liked, against their pages before the
  exclusion (0 = the rest of the feed stays as personal as it was).

Catalogs: the tuning catalog C (data/steering/catalog_c.*, generator prompts whose
look is often implied, never named) decides; `--test` adds the labelled test
catalogs A and B, read only to confirm, with the engine's variant and C's best other.
Queries are each label's first English and Japanese readings and its name.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/exclusion_bench.py [--test]`
(about two minutes a variant and catalog on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from feedback_bench import test_queries

import feed.core.ranking as ranking
from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.steering import load_reader
from feed.evaluation.data import load_labelled_catalog
from feed.evaluation.pages import PAGES, _pages, like_random_clips, open_labelled_service
from feed.services.clips import ClipStore
from feed.services.feed import FeedError

VARIANTS = ((-0.5, 1.0), (-0.5, 2.0), (-0.5, 4.0), (-1.0, 1.0), (-1.0, 2.0), (0.0, 1.0))
TEST_VARIANTS = ((-0.5, 1.0), (-1.0, 1.0))  # the engine's, and the best other on C
SMALLEST_LABEL = 5
_HANDLES = itertools.count()


def sweep(service, labels, queries, users: int) -> tuple[int, int, int, float]:
    """(leaks, clean labels, labels, median collateral) of one variant."""
    snap = service.snapshots.current()
    vectors = np.asarray(snap.vectors["text"], dtype=np.float32)
    now = time.time()
    leaks = clean = swept = 0
    collateral = []
    for label, words in sorted(queries.items()):
        if sum(label in labels[c] for c in snap.clip_ids) < SMALLEST_LABEL:
            continue
        texts = [f"{w}は見たくない" if has_japanese(w) else f"no {w}" for w in words]
        rng = np.random.default_rng(0)
        shown_label = 0
        for u in range(users):
            user, _ = service.accounts.create_user(f"excl{next(_HANDLES)}", now)
            if u % 2:
                liked = like_random_clips(service, user, snap, rng, now)
                taste = vectors[liked].mean(axis=0)
                before = [i for i in _pages(service, user, now, PAGES)
                          if label not in labels[i.clip.id]]  # fmt: skip
            try:
                service.steering.steer(user, texts[u % len(texts)], now)
            except FeedError:
                continue
            shown = _pages(service, user, now, PAGES)
            shown_label += sum(label in labels[i.clip.id] for i in shown)
            after = [i for i in shown if label not in labels[i.clip.id]]
            if u % 2 and before and after:

                def personal(items, taste=taste):
                    return float(np.mean([vectors[snap.row_of_id[i.clip.id]] @ taste
                                          for i in items]))  # fmt: skip

                collateral.append(personal(after) / personal(before) - 1)
        leaks += shown_label
        clean += shown_label == 0
        swept += 1
    return leaks, clean, swept, float(np.median(collateral))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="also catalogs A and B")
    parser.add_argument("--users", type=int, default=20, help="users per label")
    args = parser.parse_args()
    text, multi = SentenceEncoder.load(), MultilingualEncoder.load()
    names = ["c"] + (["a", "b"] if args.test else [])
    with tempfile.TemporaryDirectory() as tmp:
        reader = load_reader(Path(os.environ.get("STEERFEED_MODEL_CACHE", Path(tmp) / "models")))
        print("| catalog | soft bar | weight | leaks | clean labels | collateral |")
        print("|---|---|---|---|---|---|")
        for name in names:
            catalog = load_labelled_catalog(name)
            home = Path(tmp) / name
            engine = ClipStore(home, text, None, multi_encoder=multi)
            service, labels = open_labelled_service(catalog, home, engine, reader, time.time())
            weights = service.pages.weights
            for soft, weight in VARIANTS if name == "c" else TEST_VARIANTS:
                print(f"catalog {name}: soft bar {soft}, weight {weight}", file=sys.stderr)
                ranking.EXCLUDE_SOFT_Z = soft
                service.pages.weights = replace(weights, exclude_margin=weight)
                leaks, clean, swept, moved = sweep(service, labels, test_queries(catalog),
                                                   args.users)  # fmt: skip
                print(f"| {name} | {soft} | {weight} | {leaks} | {clean}/{swept} | "
                      f"{moved:+.1%} |", flush=True)  # fmt: skip
            service.close()
            engine.close()


if __name__ == "__main__":
    main()
