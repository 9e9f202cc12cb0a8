"""What "more like this" and "never show me this again" move, on labelled catalogs.

For every clip of a catalog taken as the clip on screen, its text (as `POST /v1/steer`
reads it for an instruction that points at the clip) is the phrase: the clips an
exclusion removes (relevance z >= EXCLUDE_Z, the clip itself left out) and the share of
them with the clip's look or topic, and the share of the 20 most relevant other clips
(what a boost fetches first) with its look, its topic, or either.

    HF_HUB_OFFLINE=1 python bench/like_this_bench.py --catalogs c,a,b

Catalog c is a tuning catalog, a and b are test catalogs; nothing here is tuned.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embeddings.encoders import SentenceEncoder, TextEncoder
from feed.bootstrap import load_multilingual_encoder
from feed.core.ranking import EXCLUDE_Z
from feed.core.steering import Reader, load_reader
from feed.evaluation.data import load_labelled_catalog
from feed.evaluation.pages import open_labelled_service
from feed.services.clips import ClipStore
from feed.settings import Settings
from feed.storage.catalog import embedding_text

TOP = 20


def measure(
    name: str, tmp: Path, reader: Reader, text: TextEncoder, multi: TextEncoder | None
) -> dict[str, float]:
    """Averages over every clip of catalog `name` taken as the clip on screen."""
    catalog = load_labelled_catalog(name)
    engine = ClipStore(tmp / name, text, None, multi_encoder=multi)
    service, _ = open_labelled_service(catalog, tmp / name, engine, reader, time.time())
    snap = service.snapshots.current()
    rows = {r.id: r for r in catalog.rows}
    ids = list(snap.clip_ids)
    removed, alike_removed, look, topic, either = [], [], [], [], []
    for n, clip_id in enumerate(ids):
        clip = engine.catalog.get(clip_id)
        phrase = " ".join(embedding_text(clip.prompt, clip.caption, clip.tags).split())
        z = np.asarray(service.phrases.relevance(phrase, snap), dtype=np.float64)
        z[n] = -np.inf  # the clip itself
        mine = rows[clip_id]
        out = [ids[i] for i in np.flatnonzero(z >= EXCLUDE_Z)]
        removed.append(len(out) / (len(ids) - 1))
        if out:
            alike_removed.append(
                np.mean([rows[o].look == mine.look or rows[o].topic == mine.topic for o in out])
            )
        best = [ids[i] for i in np.argsort(-z)[:TOP]]
        look.append(np.mean([rows[b].look == mine.look for b in best]))
        topic.append(np.mean([rows[b].topic == mine.topic for b in best]))
        alike = [rows[b].look == mine.look or rows[b].topic == mine.topic for b in best]
        either.append(np.mean(alike))
    service.close()
    engine.close()
    return {
        "clips": len(ids),
        "removed": float(np.mean(removed)),
        "alike_removed": float(np.mean(alike_removed)),
        "top_look": float(np.mean(look)),
        "top_topic": float(np.mean(topic)),
        "top_either": float(np.mean(either)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", default="c,a,b", help="labelled catalogs, comma-separated")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    reader = load_reader(settings.models_dir)
    text = SentenceEncoder.load(settings.text_model, device=settings.device)
    multi = load_multilingual_encoder(settings)
    print(
        "catalog  clips  removed by 'never this'  same look or topic  top-20: look  topic  either"
    )
    with tempfile.TemporaryDirectory(prefix="like-this-") as tmp:
        for name in args.catalogs.split(","):
            m = measure(name, Path(tmp), reader, text, multi)
            print(
                f"{name:7}  {m['clips']:5}  {m['removed']:22.3f}  {m['alike_removed']:18.3f}"
                f"  {m['top_look']:12.3f}  {m['top_topic']:5.3f}  {m['top_either']:6.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
