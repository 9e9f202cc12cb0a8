"""How the instruction reader reads requests for described scenes ("more knight during a
thunderstorm"), with the readers `steerfeed` ships.

Each request is "more {subject} {scene}" from the serving bench's own vocabulary
(`feed_bench.fresh_phrases`: a subject such as "skateboarder doing a kickflip" and a
scene such as "above the clouds"; never learned from). A reading is right when it is one
boost whose concept is the whole scene (`same_concept`); partial when it only boosts
(part of the scene, or the scene in two); negative when any op asks for less; or it asks
or refuses. Also reads dev35 (described scenes in many voices) in aggregate.

Run: `HF_HUB_OFFLINE=1 STEERFEED_MODEL_CACHE=… python bench/described_scenes_bench.py
[--requests 400]` (a few seconds once the readers are trained).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from feed_bench import SEED, fresh_phrases

from feed.core.steering import load_reader
from feed.evaluation.data import load_heldout
from feed.evaluation.understanding import read_instruction, same_concept, score_case, summarise
from feed.resources import DATA_DIR


def verdict(reader, scene: str) -> str:
    reading = read_instruction(reader, f"more {scene}")
    if reading.kind != "ops":
        return "asked" if reading.kind == "ask" else "refused"
    ops = reading.ops
    if any(op in ("suppress", "exclude") for op, _ in ops):
        return "negative"
    if len(ops) == 1 and ops[0][0] == "boost" and same_concept(ops[0][1], scene):
        return "right"
    return "partial"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = Path(os.environ.get("STEERFEED_MODEL_CACHE", "var/models"))
    reader = load_reader(cache, progress=lambda line: print(line, file=sys.stderr))
    scenes = fresh_phrases(args.requests, np.random.default_rng(SEED))
    counts = Counter(verdict(reader, scene) for scene in scenes)
    kinds = ("right", "partial", "negative", "asked", "refused")
    found = ", ".join(f"{k} {counts[k]}" for k in kinds)
    print(f"'more {{subject}} {{scene}}', {len(scenes)} requests: {found}")
    cases = load_heldout(DATA_DIR / "steering" / "dev35_instructions.toml")
    s = summarise([score_case(c, read_instruction(reader, c.text)) for c in cases])
    print(f"dev35: {s.ops_right} of {s.cases} right, concept accuracy {s.concept_accuracy:.3f},"
          f" {s.inversions} inversions, {s.asked} asked, {s.refused} refused")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
