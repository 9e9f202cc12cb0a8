"""The polarity vote: the training clauses nearest a clause in meaning, asked whether it
wants more or less; a reading they contradict becomes a question."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from embeddings.encoders import MultilingualEncoder
from feed.core.intent import LabelledClause, LabelledText
from feed.core.polarity_vote import (
    VOTE_NEIGHBOURS,
    PolarityMemory,
    build_memory,
    training_clauses,
)
from feed.core.steering import AmbiguousInstruction


def labelled(text: str, *clauses: tuple[str, str, str]) -> LabelledText:
    """A training text from (op, clause words, concept words) triples found in it."""
    out = []
    for op, words, concept in clauses:
        start = text.index(words)
        c = text.index(concept, start) if concept else -1
        out.append(
            LabelledClause(op, start, start + len(words), c, c + len(concept) if concept else -1)
        )
    return LabelledText(text, tuple(out))


def test_training_clauses_are_masked_and_labelled_by_polarity():
    found = training_clauses([
        labelled("more cats please", ("boost", "more cats please", "cats")),
        labelled("more dogs please", ("boost", "more dogs please", "dogs")),
        labelled("no horror", ("exclude", "no horror", "horror")),
        labelled("less rain, more sun", ("suppress", "less rain", "rain"),
                 ("boost", "more sun", "sun")),
        labelled("start over", ("reset", "start over", "")),
        labelled("i like trains", ("none", "i like trains", "trains")),
    ])  # fmt: skip
    # one row per distinct masked clause, with every label it had; no reset or none
    assert found == {"more x please": [0.0, 0.0], "no x": [1.0], "less x": [1.0], "more x": [0.0]}


def memory_of(vectors: list[list[float]], negative: list[float]) -> PolarityMemory:
    v = np.asarray(vectors, dtype=np.float32)
    return PolarityMemory(v / np.linalg.norm(v, axis=1, keepdims=True),
                          np.asarray(negative, np.float32), "test")  # fmt: skip


def test_the_vote_contradicts_only_a_reading_most_neighbours_oppose():
    # VOTE_NEIGHBOURS clauses near the query ask for less, the rest (far away) for more
    near = [[1.0, 0.1 * i, 0.0] for i in range(VOTE_NEIGHBOURS)]
    far = [[0.0, 0.0, 1.0]] * VOTE_NEIGHBOURS
    memory = memory_of(near + far, [1.0] * VOTE_NEIGHBOURS + [0.0] * VOTE_NEIGHBOURS)
    query = np.array([1.0, 0.0, 0.0], np.float32)
    boost, exclude = True, False  # the classifier read more; it read less
    assert memory.negative_share(query) == 1.0
    assert memory.disagrees(query, boost)  # read as more, the neighbours say less
    assert not memory.disagrees(query, exclude)  # they agree
    other = np.array([0.0, 0.0, 1.0], np.float32)
    assert memory.disagrees(other, exclude) and not memory.disagrees(other, boost)
    # a split vote below the share contradicts nothing
    split = memory_of(near + far, [1.0, 0.0] * VOTE_NEIGHBOURS)
    assert not split.disagrees(query, boost) and not split.disagrees(query, exclude)


def test_a_memory_is_saved_and_loaded_only_for_its_own_corpus(tmp_path):
    encoder = MultilingualEncoder.load()
    assert MultilingualEncoder.load() is encoder  # one copy per process
    texts = [labelled("no more clowns", ("exclude", "no more clowns", "clowns")),
             labelled("more owls", ("boost", "more owls", "owls"))]  # fmt: skip
    built = build_memory(texts, encoder.encode_texts, "corpus-1")
    assert built.vectors.shape == (2, encoder.dim)
    built.save(tmp_path)
    loaded = PolarityMemory.load(tmp_path, "corpus-1")
    assert loaded is not None
    np.testing.assert_array_equal(loaded.vectors, built.vectors)
    np.testing.assert_array_equal(loaded.negative, built.negative)
    assert PolarityMemory.load(tmp_path, "corpus-2") is None  # another corpus: built again
    (tmp_path / "polarity.npz").write_bytes(b"not a memory")
    assert PolarityMemory.load(tmp_path, "corpus-1") is None


def contrary(reader, op: str):
    """The reader with a memory in which every clause asks the opposite of `op`."""
    vectors = reader.vote_encode(["x make my day", "x creep me out", "more x", "no x"])
    against = 1.0 if op == "boost" else 0.0
    memory = PolarityMemory(vectors, np.full(4, against, np.float32), "test")
    return dataclasses.replace(reader, polarity=memory)


@pytest.mark.parametrize(("text", "op"), [("cats make my day", "boost"),
                                          ("cats creep me out", "exclude")])  # fmt: skip
def test_a_reading_the_neighbours_contradict_is_asked_about(one_reader, text, op):
    assert one_reader.polarity is not None  # the shipped reader votes
    assert [o.op for o in one_reader.read(text)] == [op]
    with pytest.raises(AmbiguousInstruction) as asked:
        contrary(one_reader, op).read(text)
    readings = {o.op for reading in asked.value.readings for o in reading}
    assert op in readings and len(readings) == 2


@pytest.mark.parametrize(("text", "op"), [("more cats", "boost"), ("no cats", "exclude"),
                                          ("only cats", "only"), ("猫だけ", "only")])  # fmt: skip
def test_a_cue_word_of_the_readings_own_polarity_outweighs_the_neighbours(one_reader, text, op):
    assert [o.op for o in contrary(one_reader, "boost" if op == "only" else op).read(text)] == [op]
