"""The instruction-parser training corpus: spec coverage, labels that match the text, seeds."""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter

import pytest

from feed.core.intent_corpus import (
    CONCEPT_OPS,
    HANDWRITTEN_ROOT,
    HANDWRITTEN_SETS,
    HEDGE,
    OPS,
    UNSEEN_SETS,
    CorpusSpec,
    TrainingExample,
    expand_corpus,
    handwritten_example,
    load_corpus_spec,
    load_handwritten,
    split_corpus,
)

N = 8000


@pytest.fixture(scope="module")
def spec() -> CorpusSpec:
    return load_corpus_spec()


@pytest.fixture(scope="module")
def corpus(spec) -> list[TrainingExample]:
    return expand_corpus(spec, N, seed=0)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def test_spec_meets_the_coverage_targets(spec):
    for lang in ("en", "ja"):
        templates = {t.text for t in spec.templates if t.lang == lang}
        concepts = [c for c in spec.concepts if c.lang == lang]
        assert len(templates) >= 150, lang
        assert len(concepts) >= 250, lang
        for op in OPS:
            assert sum(t.op == op for t in spec.templates if t.lang == lang) >= 10, (lang, op)
        kinds = Counter(c.kind for c in concepts)
        assert kinds["adj"] >= 20, lang
        assert [p for p in spec.pairs if p.lang == lang]


def test_spec_slots_fit_their_ops(spec):
    for template in spec.templates:
        slots = template.text.count("{c}")
        if template.op in CONCEPT_OPS:
            assert slots == 1 and template.kinds, template
        elif template.op == "reset":
            # Resetting everything names nothing; resetting one topic names it.
            assert slots == (1 if template.kinds else 0), template
        assert "[" not in template.text and "]" not in template.text, template
        words = re.sub(r"\{\w+\}", "", template.text)
        if template.op != "none" and re.search(r"\w", words):
            assert template.cue, template


def test_concepts_are_unique_after_case_and_width_folding(spec):
    # The adjective check below looks concepts up by folded text.
    for lang in ("en", "ja"):
        folded = Counter(_fold(c.text) for c in spec.concepts if c.lang == lang)
        assert [t for t, n in folded.items() if n > 1] == [], lang


def test_concept_offsets_point_at_the_concept(corpus):
    for example in corpus:
        assert example.clauses, example
        for label in example.clauses:
            assert label.op in OPS
            assert 0 <= label.start < label.end <= len(example.text), example
            clause = example.text[label.start : label.end]
            assert clause == clause.strip(), example
            if label.op in CONCEPT_OPS or label.concept:
                assert label.concept, example
                assert example.text[label.concept_start : label.concept_end] == label.concept
                assert label.start <= label.concept_start < label.concept_end <= label.end
            else:
                assert (label.concept, label.concept_start, label.concept_end) == ("", -1, -1)


def test_clauses_are_in_order_and_do_not_overlap(corpus):
    for example in corpus:
        spans = sorted({(c.start, c.end) for c in example.clauses})
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, example


def test_same_seed_same_corpus_and_other_seed_another(spec, corpus):
    assert expand_corpus(spec, N, seed=0) == corpus
    other = expand_corpus(spec, 500, seed=1)
    assert [e.text for e in other] != [e.text for e in corpus[:500]]
    assert expand_corpus(spec, 500, seed=0) == corpus[:500]


def test_op_and_kind_shares_are_in_bounds(corpus):
    labels = Counter(c.op for e in corpus for c in e.clauses)
    total = sum(labels.values())
    share = {op: labels[op] / total for op in OPS}
    assert 0.30 <= share["boost"] <= 0.45, share
    assert 0.12 <= share["suppress"] <= 0.28, share
    assert 0.15 <= share["exclude"] <= 0.32, share
    assert 0.07 <= share["only"] <= 0.18, share
    assert 0.03 <= share["reset"] <= 0.10, share
    assert 0.05 <= share["none"] <= 0.15, share
    multi = sum(len({(c.start, c.end) for c in e.clauses}) > 1 for e in corpus) / len(corpus)
    mixed = sum(e.lang == "mixed" for e in corpus) / len(corpus)
    assert 0.15 <= multi <= 0.25
    assert 0.03 <= mixed <= 0.07
    langs = Counter(e.lang for e in corpus)
    assert abs(langs["en"] - langs["ja"]) < 0.06 * len(corpus)


def test_every_op_appears_in_both_languages(corpus):
    seen = {(e.lang, c.op) for e in corpus for c in e.clauses}
    for lang in ("en", "ja"):
        for op in OPS:
            assert (lang, op) in seen


def test_multi_op_sentences_join_different_ops_in_both_languages(corpus):
    for lang in ("en", "ja"):
        multi = [
            e for e in corpus if e.lang == lang and len({(c.start, c.end) for c in e.clauses}) > 1
        ]
        assert len(multi) > 300, lang
        assert any(len({c.op for c in e.clauses}) > 1 for e in multi)
        assert any(len({(c.start, c.end) for c in e.clauses}) == 3 for e in multi)
    coordinated = [e for e in corpus if len(e.clauses) > len({(c.start, c.end) for c in e.clauses})]
    assert coordinated, "no coordinated lists"


def test_mixed_examples_put_one_language_inside_the_other(corpus):
    mixed = [e for e in corpus if e.lang == "mixed"]
    assert mixed
    ja_in_en = en_in_ja = 0
    for example in mixed:
        concept = example.clauses[0].concept
        rest = example.text.replace(concept, "")
        concept_ja = any(ord(ch) > 0x2FFF for ch in concept)
        rest_ja = any(ord(ch) > 0x2FFF for ch in rest)
        ja_in_en += concept_ja and not rest_ja
        en_in_ja += rest_ja and not concept_ja
    assert ja_in_en > 20 and en_in_ja > 20


def test_adjective_concepts_only_fill_adjective_slots(spec, corpus):
    kinds = {(c.lang, _fold(c.text)): c.kind for c in spec.concepts}
    slots = {t.key: t.kinds for t in spec.templates}
    checked = 0
    for example in corpus:
        if example.lang == "mixed" or len(example.templates) != 1:
            continue
        template_kinds = slots.get(example.templates[0])
        if not template_kinds:
            continue
        for label in example.clauses:
            kind = kinds.get((example.lang, _fold(label.concept)))
            if kind is None:
                continue  # a typo or a kana variant
            assert kind in template_kinds, (example, kind, template_kinds)
            checked += 1
    assert checked > 3000
    adjectives = [t for t in spec.templates if t.kinds and set(t.kinds) <= {"adj", "adj_na"}]
    assert len(adjectives) >= 40


def test_noise_leaves_the_text_realistic(corpus):
    texts = [e.text for e in corpus]
    assert all(t == t.strip() and "  " not in t for t in texts)
    assert any("dont" in t or "im " in t for t in texts)
    assert any(t.isupper() for t in texts)
    assert any(ch in t for t in texts for ch in "！？") and any("!" in t for t in texts)
    assert len(set(texts)) > 0.9 * len(texts)


def test_split_keeps_templates_on_one_side(corpus):
    train, dev = split_corpus(corpus, dev_share=0.15, seed=3)
    train_keys = {k for e in train for k in e.templates}
    dev_keys = {k for e in dev for k in e.templates}
    assert train_keys.isdisjoint(dev_keys)
    assert 0.08 * len(corpus) < len(dev) < 0.2 * len(corpus)
    assert len(train) + len(dev) <= len(corpus)
    assert split_corpus(corpus, dev_share=0.15, seed=3) == (train, dev)
    with pytest.raises(ValueError, match="dev_share"):
        split_corpus(corpus, dev_share=1.5, seed=3)


def test_expansion_is_fast(spec):
    start = time.process_time()
    expand_corpus(spec, N, seed=7)
    assert time.process_time() - start < 2.0


def test_hedges_are_read_both_ways_in_both_languages(corpus):
    hedged = [
        (e.lang, c.op)
        for e in corpus
        if any(key.split(":")[1] == HEDGE for key in e.templates)
        for c in e.clauses
    ]
    for lang in ("en", "ja"):
        ops = {op for found, op in hedged if found == lang}
        assert "boost" in ops and ops & {"suppress", "exclude"}, lang


def _parts(example: TrainingExample | None) -> list[tuple[str, str, str]] | None:
    if example is None:
        return None
    t = example.text
    return [(c.op, t[c.start : c.end], t[c.concept_start : c.concept_end]) for c in example.clauses]


@pytest.mark.parametrize(
    ("text", "lang", "ops", "expected"),
    [
        ("more sharks pls", "en", [("boost", "sharks")], [("boost", "more sharks pls", "sharks")]),
        ("hello there", "en", [("none", None)], [("none", "hello there", "")]),
        ("no cats or dogs", "en", [("exclude", "cats"), ("exclude", "dogs")],
         [("exclude", "no cats or dogs", "cats"), ("exclude", "no cats or dogs", "dogs")]),
        ("less cats, more dogs", "en", [("suppress", "cats"), ("boost", "dogs")],
         [("suppress", "less cats", "cats"), ("boost", " more dogs", "dogs")]),
        ("猫は減らして、犬はもっと", "ja", [("suppress", "猫"), ("boost", "犬")],
         [("suppress", "猫は減らして", "猫"), ("boost", "犬はもっと", "犬")]),
        # A list under one op is one clause, however its items are joined; the same op
        # said again is a clause of its own.
        ("no cats and dogs please", "en", [("exclude", "cats"), ("exclude", "dogs")],
         [("exclude", "no cats and dogs please", "cats"),
          ("exclude", "no cats and dogs please", "dogs")]),
        ("less cooking, more sumo, kendo, and kyudo", "en",
         [("suppress", "cooking"), ("boost", "sumo"), ("boost", "kendo"), ("boost", "kyudo")],
         [("suppress", "less cooking", "cooking")]
         + [("boost", " more sumo, kendo, and kyudo", c) for c in ("sumo", "kendo", "kyudo")]),
        ("パチンコ、競輪は全部いらない", "ja", [("exclude", "パチンコ"), ("exclude", "競輪")],
         [("exclude", "パチンコ、競輪は全部いらない", "パチンコ"),
          ("exclude", "パチンコ、競輪は全部いらない", "競輪")]),
        ("more owls, more bats", "en", [("boost", "owls"), ("boost", "bats")],
         [("boost", "more owls", "owls"), ("boost", " more bats", "bats")]),
        # Clauses that cannot be told from the text alone are left out.
        ("less cats more dogs", "en", [("suppress", "cats"), ("boost", "dogs")], None),
        ("horror? maybe", "en", [("ask", "horror")], None),
        ("more sharks", "en", [("boost", "whales")], None),
    ],
)  # fmt: skip
def test_a_handwritten_case_becomes_clauses_split_between_its_concepts(text, lang, ops, expected):
    assert _parts(handwritten_example(text, lang, ops)) == expected


def test_the_handwritten_sets_learned_from_are_never_the_unseen_checks():
    names = set(HANDWRITTEN_SETS)
    assert not names & set(UNSEEN_SETS)
    assert set(UNSEEN_SETS) == {"heldout.toml", "dev8_instructions.toml",
                                "dev22_instructions.toml", "dev23_instructions.toml"}  # fmt: skip
    examples = load_handwritten([HANDWRITTEN_ROOT / n for n in HANDWRITTEN_SETS])
    assert len(examples) >= 500
    for ex in examples:
        for c in ex.clauses:
            assert 0 <= c.start < c.end <= len(ex.text), ex.text
            if c.op in CONCEPT_OPS:
                assert c.start <= c.concept_start < c.concept_end <= c.end, ex.text
