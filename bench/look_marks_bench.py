"""Looks' marks (data/lexicon/looks.toml) on the labelled catalogs: what they find, what
exclusions and boosts then do.

A phrase that names a look matches every clip whose text holds one of the look's marks
(`PhraseRelevance.naming`). For each catalog, with the shipped lexicon and, given
`--against`, another one (the lexicon before a change: `git show REV:data/lexicon/looks.toml
> before.toml`), in the same engine:

- marked: over the look labels whose first English or Japanese name is a look's name, the
  label's clips the marks find, and clips of another look they mark;
- under the bar: for every label and each of its sweep phrasings (its first English name,
  its first Japanese name, its key), the label's clips whose relevance stays under the
  exclusion bar (`EXCLUDE_Z`: what "no X" would show), and the other clips over it (false
  exclusions), summed;
- sweep leaks (`--sweep-users N`): for every label of at least five clips and each
  phrasing, N users (odd ones warm with five random likes) say "no X" (「Xは見たくない」),
  and the label's clips on their first three pages are counted;
- boost share: one fresh user a phrasing (English and Japanese names) says "more X"
  (「もっとX」); the label's share of the next page, its mean and how many reach 0.8;
- with `--cost`, instead: each look's marks looked up over 1,000,000 texts drawn from
  catalogs A, B and C (the first name of a look at a million clips), in ms.

Catalogs: the tuning catalogs C and E choose the marks; D (and A, B) are test catalogs,
only measured. Run:
`HF_HUB_OFFLINE=1 .venv/bin/python bench/look_marks_bench.py [--catalogs c e d]
[--against before.toml] [--sweep-users 20] [--cost]` (a few minutes a catalog and
lexicon).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from feedback_bench import test_queries

from embeddings.encoders import MultilingualEncoder, SentenceEncoder
from feed.core.intent import has_japanese
from feed.core.looks import Looks, shipped_looks
from feed.core.ranking import EXCLUDE_Z, ClipTexts
from feed.core.steering import Glossary, InstructionError, load_reader
from feed.evaluation.data import load_labelled_catalog
from feed.evaluation.pages import (
    _pages,
    exclusion_sweep,
    marked_look_clips,
    open_labelled_service,
)
from feed.services.clips import ClipStore
from feed.services.feed import FeedError, FeedService
from feed.services.relevance import PhraseRelevance

SMALLEST_LABEL = 5
_HANDLES = itertools.count()


def refusal(word: str) -> str:
    return f"{word}は見たくない" if has_japanese(word) else f"no {word}"


def request(word: str) -> str:
    return f"もっと{word}" if has_japanese(word) else f"more {word}"


def phrase_of(service: FeedService, text: str) -> str | None:
    try:
        ops = service.steering.reader.read(text)
    except InstructionError:
        return None
    return ops[0].phrase


def under_bar(service, catalog, labels) -> tuple[int, int, int, int]:
    """(label clips under the bar, label clips, other clips over it, other clips)."""
    snap = service.snapshots.current()
    missed = positives = false = negatives = 0
    for label, words in sorted(test_queries(catalog).items()):
        ours = np.array([label in labels[c] for c in snap.clip_ids])
        if ours.sum() < SMALLEST_LABEL:
            continue
        for word in words:
            phrase = phrase_of(service, refusal(word))
            if phrase is None:
                continue
            over = service.phrases.relevance(phrase, snap) >= EXCLUDE_Z
            missed += int((ours & ~over).sum())
            positives += int(ours.sum())
            false += int((~ours & over).sum())
            negatives += int((~ours).sum())
    return missed, positives, false, negatives


def sweep(service, catalog, labels, users: int) -> int:
    """The labels' clips shown on three pages after "no X", over every phrasing's users
    (`exclusion_sweep`, one phrasing at a time)."""
    snap = service.snapshots.current()
    now = time.time()
    leaks = 0
    for label, words in sorted(test_queries(catalog).items()):
        if sum(label in labels[c] for c in snap.clip_ids) < SMALLEST_LABEL:
            continue
        for word in words:
            prefix = f"marks{next(_HANDLES)}-"
            leaks += exclusion_sweep(service, catalog.name, label, [refusal(word)], labels,
                                     users, now, handle_prefix=prefix).leaks  # fmt: skip
    return leaks


def boosts(service, catalog, labels) -> list[float]:
    """The label's share of the next page after "more X", a fresh user a phrasing."""
    snap = service.snapshots.current()
    now = time.time()
    shares = []
    for label, words in sorted(test_queries(catalog).items()):
        if sum(label in labels[c] for c in snap.clip_ids) < SMALLEST_LABEL:
            continue
        for word in words[:2]:
            user, _ = service.accounts.create_user(f"marks{next(_HANDLES)}", now)
            try:
                service.steering.steer(user, request(word), now)
            except FeedError:
                continue
            items = _pages(service, user, now, 1)
            shares.append(sum(label in labels[i.clip.id] for i in items) / max(len(items), 1))
    return shares


def cost(lexicons: list[tuple[str, Looks]]) -> None:
    """Each look's marks looked up over a million texts, once per lexicon."""
    texts = [r.prompt for name in ("a", "b", "c") for r in load_labelled_catalog(name).rows]
    pick = random.Random(0)
    million = ClipTexts.of([f"{pick.choice(texts)} #{i}" for i in range(1_000_000)])
    for lexicon, looks in lexicons:
        phrases = PhraseRelevance(None, None, Glossary({}), looks=looks)  # type: ignore[arg-type]
        times = []
        for marks in dict.fromkeys(looks.marks_of.values()):
            start = time.perf_counter()
            phrases.marked(million, marks)
            times.append((time.perf_counter() - start) * 1000)
        phrases.close()
        print(f"{lexicon}: a look's marks over 1,000,000 texts {min(times):.1f}–{max(times):.1f}"
              f" ms (median {np.median(times):.1f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", nargs="+", default=["c", "e", "d"])
    parser.add_argument("--against", type=Path, help="another looks.toml, measured beside")
    parser.add_argument("--sweep-users", type=int, default=0, help="users a phrasing (0: none)")
    parser.add_argument("--cost", action="store_true", help="time the marks' lookups instead")
    args = parser.parse_args()
    lexicons = [("shipped", shipped_looks())]
    if args.against:
        lexicons.insert(0, (args.against.name, Looks.load(args.against)))
    if args.cost:
        cost(lexicons)
        return
    text, multi = SentenceEncoder.load(), MultilingualEncoder.load()
    print(
        "| catalog | lexicon | marked | other looks marked | under the bar | false exclusions"
        " | sweep leaks | boost share (≥ 0.8) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        reader = load_reader(Path(os.environ.get("STEERFEED_MODEL_CACHE", Path(tmp) / "models")))
        for name in args.catalogs:
            catalog = load_labelled_catalog(name)
            home = Path(tmp) / name
            engine = ClipStore(home, text, None, multi_encoder=multi)
            service, labels = open_labelled_service(catalog, home, engine, reader, time.time())
            snap = service.snapshots.current()
            look_of = {r.id: r.look for r in catalog.rows}
            looks_of_rows = [look_of[c] for c in snap.clip_ids]
            for lexicon, looks in lexicons:
                print(f"catalog {name}, lexicon {lexicon}", file=sys.stderr)
                service.phrases.looks = looks
                service.phrases.clear()
                found, clips, wrong = marked_look_clips(
                    catalog, snap.texts, looks_of_rows, service.phrases
                )
                missed, positives, false, negatives = under_bar(service, catalog, labels)
                leaks = None
                if args.sweep_users:
                    leaks = sweep(service, catalog, labels, args.sweep_users)
                shares = boosts(service, catalog, labels)
                print(f"| {name} | {lexicon} | {found}/{clips} | {wrong} | {missed}/{positives}"
                      f" | {false / max(negatives, 1):.1%} | {'' if leaks is None else leaks}"
                      f" | {np.mean(shares):.3f} ({sum(s >= 0.8 for s in shares)}/{len(shares)})"
                      " |", flush=True)  # fmt: skip
            service.close()
            engine.close()


if __name__ == "__main__":
    main()
