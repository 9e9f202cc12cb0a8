"""Instructions that carry a clip's whole prompt: are they read the way they ask?

People paste what they saw ("no vaporwave: a drummer playing a fast solo", "more oil
painting: a monster truck jumping a ramp"). The reader splits such a prompt into clauses,
and a clause that only names things can be read against the request it sits in. This
wraps 120 prompts of the demo catalog (data/demo/clips.jsonl, the tuning catalog; fixed
sample) in four ways of asking for more and five of asking for less, reads each, and
counts readings applied, asked about, refused, and inverted (any op opposite to the
wrapper's).

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/pasted_prompts_bench.py [--show]`
(about 10 s with a trained reader, cached in $STEERFEED_MODEL_CACHE, default
bench/out/models; `--show` prints every inversion).
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from feed.core.intent import NEGATIVE, POSITIVE
from feed.core.steering import load_reader
from feed.evaluation.understanding import read_instruction

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = 120
WRAPPERS = {
    "more": ("more {p}", "show me more {p}", "i want more {p}", "{p}, more please"),
    "less": ("less {p}", "fewer {p}", "no {p}", "i'm tired of {p}", "don't show me {p}"),
}


def main() -> int:
    cache = Path(os.environ.get("STEERFEED_MODEL_CACHE", ROOT / "bench" / "out" / "models"))
    reader = load_reader(cache)
    rows = [json.loads(line) for line in (ROOT / "data" / "demo" / "clips.jsonl").open()]
    prompts = [r["prompt"].rstrip(".").lower() for r in random.Random(0).sample(rows, PROMPTS)]
    print("| asked for | readings | applied | asked about | refused | inverted |")
    print("|---|---|---|---|---|---|")
    for want, wrappers in WRAPPERS.items():
        counts = {"ops": 0, "ask": 0, "refused": 0, "inverted": 0}
        wrong = NEGATIVE if want == "more" else POSITIVE
        for prompt in prompts:
            for wrapper in wrappers:
                text = wrapper.format(p=prompt)
                reading = read_instruction(reader, text)
                counts[reading.kind] += 1
                if reading.kind == "ops" and any(op in wrong for op, _ in reading.ops):
                    counts["inverted"] += 1
                    if "--show" in sys.argv:
                        print(f"  {text!r} -> {reading.ops}", file=sys.stderr)
        total = PROMPTS * len(wrappers)
        print(f"| {want} | {total} | {counts['ops']} | {counts['ask']} | {counts['refused']} |"
              f" {counts['inverted']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
