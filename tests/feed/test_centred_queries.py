"""A phrase's query leaves out what every steering phrase shares: its vector less its
tower's centre (`feed.services.centres`)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from feed.core.intent_corpus import load_corpus_spec
from feed.core.ranking import EXCLUDE_Z, phrase_relevance
from feed.evaluation.data import load_labelled_catalog
from feed.services.centres import CENTRES_PATH, bank, centre, digest, made, shipped


class CountingEncoder:
    """A deterministic stand-in tower (vectors from a hash of the text) that counts its
    batches."""

    dim = 32

    def __init__(self) -> None:
        self.batches = 0

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self.batches += 1
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8) for t in texts]
        out = np.stack(rows).astype(np.float32) - 127.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_the_centre_is_the_mean_of_the_corpus_concepts_made_once_per_encoder():
    english = sorted({c.text for c in load_corpus_spec().concepts if c.lang == "en"})
    assert bank() == english
    encoder = CountingEncoder()
    made = centre(encoder)
    np.testing.assert_allclose(made, encoder.encode_texts(english).mean(axis=0), atol=1e-6)
    batches = encoder.batches
    assert centre(encoder) is made and encoder.batches == batches
    other = CountingEncoder()
    assert centre(other) is not made and other.batches > 0


def test_the_shipped_centres_are_the_packaged_towers_centres_of_the_corpus_now(
    text_encoder, multi_encoder
):
    """After the corpus's concepts change, `python -m feed.services.centres` writes them."""
    with np.load(CENTRES_PATH) as saved:
        assert str(saved["digest"]) == digest(bank())
    kept = shipped()
    for tower in (text_encoder, multi_encoder):
        np.testing.assert_allclose(kept[tower.model_id], made(tower), atol=1e-5)
        assert centre(tower) is not None
        np.testing.assert_array_equal(centre(tower), kept[tower.model_id])


@pytest.mark.slow
def test_centred_queries_exclude_more_of_a_tuning_catalogs_labels(text_encoder, multi_encoder):
    """Catalog E (a tuning catalog, another voice than the demo's): at the exclusion bar,
    each label's names as queries (English in both spaces, Japanese in the multilingual
    one) catch more of its clips, and remove no more other clips, less the centre than
    alone."""
    rows = load_labelled_catalog("e").rows
    towers = {"text": text_encoder, "multi": multi_encoder}
    vectors = {c: t.encode_texts([r.prompt for r in rows]) for c, t in towers.items()}
    has = {c: np.ones(len(rows), dtype=bool) for c in towers}
    caught = {"alone": 0, "centred": 0}
    removed = {"alone": 0, "centred": 0}
    for spec in load_labelled_catalog("e").labels.values():
        member = np.array([spec.name in (r.look, r.topic) for r in rows])
        for text, channels in ((spec.en, ("text", "multi")), (spec.ja, ("multi",))):
            raw = {c: towers[c].encode_texts([text])[0] for c in channels}
            centred = {c: v - centre(towers[c]) for c, v in raw.items()}
            for way, query in (("alone", raw), ("centred", centred)):
                over = phrase_relevance(vectors, has, query) >= EXCLUDE_Z
                caught[way] += int(over[member].sum())
                removed[way] += int(over[~member].sum())
    assert caught["centred"] > caught["alone"]
    assert removed["centred"] <= removed["alone"]
