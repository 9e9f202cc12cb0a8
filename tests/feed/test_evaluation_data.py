"""The held-out steering instructions and the labelled catalogs are well formed."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from support import steering_catalog_rows

from feed.core.intent import has_japanese
from feed.core.steering import ON_SCREEN
from feed.evaluation.data import (
    DATA_DIR,
    POLARITY,
    ExpectedOp,
    load_heldout,
    load_labelled_catalog,
)

# A boost or only must be able to fill 80% of a 20-item page with its target.
BOOST_TARGET_MIN_CLIPS = 16
CATALOG_A_COUNTS = {
    **dict.fromkeys(["anime", "photoreal", "watercolor", "pixel", "clay", "noir", "paper"], 22),
    **dict.fromkeys(["horror", "sports"], 21),
    **dict.fromkeys(["cats", "dogs", "food", "nature", "space", "music", "city"], 14),
    **dict.fromkeys(["travel", "kids"], 7),
}
CATALOG_B_LOOKS = {"ghibli", "mono", "clay", "pixel", "photoreal", "watercolor", "cartoon3d",
                   "vaporwave"}  # fmt: skip
CATALOG_B_TOPICS = {"sharks", "ballet", "clowns", "cooking", "cats", "horror", "sports", "trains"}
ID_PREFIX = {"en": "en", "ja": "ja", "mixed": "mx"}


@pytest.fixture(scope="module")
def cases():
    return load_heldout()


@pytest.fixture(scope="module")
def catalogs():
    return {name: load_labelled_catalog(name) for name in ("a", "b")}


def test_cases_parse_with_unique_ids_numbered_by_language(cases):
    assert len(cases) >= 330
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids)
    for case in cases:
        assert re.fullmatch(rf"{ID_PREFIX[case.lang]}-\d{{3}}", case.id), case.id
    assert len({c.text for c in cases}) == len(cases), "a text appears twice"


def test_at_least_42_percent_of_cases_are_japanese(cases):
    langs = Counter(c.lang for c in cases)
    assert langs["ja"] / len(cases) >= 0.42
    assert langs["en"] > 0 and langs["mixed"] > 0


def test_concepts_are_verbatim_spans_of_the_text(cases):
    for case in cases:
        for op in case.ops:
            if op.op in ("none", "reset"):
                assert op.op == "reset" or op.concept is None, case.id
            else:
                assert op.concept, f"{case.id}: {op.op} without a concept"
            if op.concept is not None:
                assert op.concept in case.text, f"{case.id}: {op.concept!r} not in {case.text!r}"
                assert op.concept == op.concept.strip(), case.id


def test_none_cases_hold_no_other_op(cases):
    for case in cases:
        if any(op.op == "none" for op in case.ops):
            assert len(case.ops) == 1, case.id


def test_accept_never_flips_polarity(cases):
    for case in cases:
        for op in case.ops:
            assert op.op not in op.accept, case.id
            assert all(POLARITY[a] * POLARITY[op.op] >= 0 for a in op.accept), case.id


def test_ask_is_kept_rare(cases):
    asks = sum(any(op.op == "ask" for op in c.ops) for c in cases)
    assert 0 < asks <= 0.04 * len(cases)


def test_enough_cases_have_a_measurable_target(cases):
    targeted = [c for c in cases if c.target is not None]
    assert len(targeted) >= 0.6 * len(cases)
    first_ops = Counter(c.ops[0].op for c in targeted)
    assert first_ops["suppress"] + first_ops["exclude"] >= 40
    assert first_ops["boost"] + first_ops["only"] >= 80


def test_targets_are_labels_of_their_catalog(cases, catalogs):
    for case in cases:
        if case.target is None:
            continue
        catalog = catalogs[case.catalog]
        assert case.target in catalog.labels, f"{case.id}: {case.target} not in {case.catalog}"
        assert case.ops[0].op in ("boost", "only", "suppress", "exclude"), case.id


def test_boost_targets_can_fill_a_page(cases, catalogs):
    for case in cases:
        if case.target is not None and case.ops[0].op in ("boost", "only"):
            clips = len(catalogs[case.catalog].rows_with(case.target))
            assert clips >= BOOST_TARGET_MIN_CLIPS, f"{case.id}: {case.target} has {clips} clips"


@pytest.mark.parametrize("name", ["a", "b"])
def test_every_row_has_one_look_and_one_topic(catalogs, name):
    catalog = catalogs[name]
    ids = [r.id for r in catalog.rows]
    assert len(set(ids)) == len(ids)
    assert len({r.prompt for r in catalog.rows}) == len(catalog.rows)
    for row in catalog.rows:
        assert catalog.labels[row.look].kind == "look"
        assert catalog.labels[row.topic].kind == "topic"
        assert set(row.manifest_row()) == {"id", "prompt", "creator"}
    for label in catalog.labels.values():
        assert label.en and label.ja, label.name


def test_catalog_a_label_counts(catalogs):
    catalog = catalogs["a"]
    assert len(catalog.rows) == 154
    counts = {label: len(catalog.rows_with(label)) for label in catalog.labels}
    assert counts == CATALOG_A_COUNTS


def test_catalog_b_is_8_looks_by_24_scenes(catalogs):
    catalog = catalogs["b"]
    assert len(catalog.rows) == 192
    kinds = {kind: {n for n, lab in catalog.labels.items() if lab.kind == kind}
             for kind in ("look", "topic")}  # fmt: skip
    assert kinds == {"look": CATALOG_B_LOOKS, "topic": CATALOG_B_TOPICS}
    assert {label: len(catalog.rows_with(label)) for label in catalog.labels} == dict.fromkeys(
        catalog.labels, 24
    )
    pairs = Counter((r.look, r.topic) for r in catalog.rows)
    assert set(pairs.values()) == {3}, "each look shows each topic's three scenes"
    for row in catalog.rows:
        assert row.id.startswith(f"b-{row.look}-"), row.id
    creators = Counter(r.creator for r in catalog.rows)
    assert len(creators) == 24 and max(creators.values()) <= 12


def test_catalog_b_is_worded_unlike_catalog_a(catalogs):
    prompts_a = {r.prompt.lower() for r in catalogs["a"].rows}
    assert not prompts_a & {r.prompt.lower() for r in catalogs["b"].rows}


def test_catalog_a_file_matches_the_test_catalog():
    rows = [
        {"id": r.id, "prompt": r.prompt, "creator": r.creator, "look": r.look, "topic": r.topic}
        for r in load_labelled_catalog("a").rows
    ]
    assert rows == steering_catalog_rows()


def test_expected_op_allows_its_op_and_accepted_ones():
    op = ExpectedOp("suppress", "clowns", ("exclude",))
    assert op.allows("suppress") and op.allows("exclude")
    assert not op.allows("boost")


def test_loader_refuses_an_accept_of_opposite_polarity(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[case]]\nid = "en-001"\ntext = "less cats"\nlang = "en"\nkind = "plain"\n'
        'ops = [{op = "suppress", concept = "cats", accept = ["boost"]}]\n'
    )
    with pytest.raises(ValueError, match="opposite polarity"):
        load_heldout(path)


def test_loader_refuses_an_unknown_catalog_name():
    with pytest.raises(ValueError, match="unknown catalog"):
        load_labelled_catalog("z")


def test_tuning_catalog_c_is_worded_unlike_the_test_catalogs(catalogs):
    c = load_labelled_catalog("c")
    assert len(c.rows) >= 200
    looks = Counter(r.look for r in c.rows)
    assert min(looks.values()) >= 20, looks
    prompts = {r.prompt.lower() for r in c.rows}
    assert len(prompts) == len(c.rows)
    for name in ("a", "b"):
        assert not prompts & {r.prompt.lower() for r in catalogs[name].rows}
    # A look is implied, not named by another look's label.
    for row in c.rows:
        for look in looks:
            if look != row.look:
                assert not re.search(rf"\b{look}\b", row.prompt.lower()), (row.id, look)


def test_tuning_catalog_e_is_mostly_japanese_and_shares_no_prompt_with_the_others(catalogs):
    e = load_labelled_catalog("e")
    assert len(e.rows) == 240
    assert set(Counter(r.look for r in e.rows).values()) == {24}
    assert {"ukiyoe", "lineart"} <= {r.look for r in e.rows}
    assert sum(has_japanese(r.prompt) for r in e.rows) >= 0.6 * len(e.rows)
    prompts = {r.prompt.lower() for r in e.rows}
    assert len(prompts) == len(e.rows)
    for other in (catalogs["a"], catalogs["b"], load_labelled_catalog("c"),
                  load_labelled_catalog("d")):  # fmt: skip
        assert not prompts & {r.prompt.lower() for r in other.rows}


def test_test_catalog_d_is_mostly_japanese_and_worded_unlike_the_others(catalogs):
    d = load_labelled_catalog("d")
    assert len(d.rows) >= 200
    assert set(Counter(r.look for r in d.rows).values()) == {30}
    assert sum(has_japanese(r.prompt) for r in d.rows) >= 0.6 * len(d.rows)
    prompts = {r.prompt.lower() for r in d.rows}
    assert len(prompts) == len(d.rows)
    for other in (catalogs["a"], catalogs["b"], load_labelled_catalog("c")):
        assert not prompts & {r.prompt.lower() for r in other.rows}


# The development instructions: tuned on, so they must never share a text with
# the held-out set the parser is finally judged on.
DEV_PATH = DATA_DIR / "dev_instructions.toml"


@pytest.fixture(scope="module")
def dev_cases():
    return load_heldout(DEV_PATH)


def test_dev_cases_parse_with_unique_ids_numbered_by_language(dev_cases):
    assert len(dev_cases) >= 200
    ids = [c.id for c in dev_cases]
    assert len(set(ids)) == len(ids)
    for case in dev_cases:
        assert re.fullmatch(rf"dev-{ID_PREFIX[case.lang]}-\d{{3}}", case.id), case.id
    assert len({c.text for c in dev_cases}) == len(dev_cases), "a text appears twice"


def test_at_least_45_percent_of_dev_cases_are_japanese(dev_cases):
    langs = Counter(c.lang for c in dev_cases)
    assert langs["ja"] / len(dev_cases) >= 0.45
    assert langs["en"] > 0 and langs["mixed"] > 0


def test_dev_concepts_are_verbatim_spans_of_the_text(dev_cases):
    for case in dev_cases:
        for op in case.ops:
            if op.op == "none":
                assert op.concept is None and len(case.ops) == 1, case.id
            elif op.op != "reset":
                assert op.concept, f"{case.id}: {op.op} without a concept"
            if op.concept is not None:
                assert op.concept in case.text, f"{case.id}: {op.concept!r} not in {case.text!r}"
                assert op.concept == op.concept.strip(), case.id


def test_dev_asks_are_rare_and_accepts_keep_polarity(dev_cases):
    asks = sum(any(op.op == "ask" for op in c.ops) for c in dev_cases)
    assert asks <= 0.04 * len(dev_cases)
    for case in dev_cases:
        for op in case.ops:
            assert op.op not in op.accept, case.id
            assert all(POLARITY[a] * POLARITY[op.op] >= 0 for a in op.accept), case.id


def test_dev_targets_are_labels_that_can_move_a_page(dev_cases, catalogs):
    targeted = [c for c in dev_cases if c.target is not None]
    assert len(targeted) >= 0.6 * len(dev_cases)
    for case in targeted:
        catalog = catalogs[case.catalog]
        assert case.target in catalog.labels, f"{case.id}: {case.target} not in {case.catalog}"
        first = case.ops[0].op
        assert first in ("boost", "only", "suppress", "exclude"), case.id
        if first in ("boost", "only"):
            clips = len(catalog.rows_with(case.target))
            assert clips >= BOOST_TARGET_MIN_CLIPS, f"{case.id}: {case.target} has {clips} clips"


def test_dev_cases_share_no_text_with_the_heldout_set(dev_cases):
    def norm(text: str) -> str:
        return " ".join(text.casefold().split())

    heldout = {norm(c.text) for c in load_heldout()}
    shared = [c.id for c in dev_cases if norm(c.text) in heldout]
    assert not shared, f"dev cases whose text is also held out: {shared}"


# More development sets in the same format. dev2 (a casual phone-typing voice), dev3
# (typos inside cue words, complaints, double negatives, replacements), dev4 (keigo,
# Kansai-ben, net slang, asides and reasons), dev5 (the hardest voices: self-repairs,
# letters, conditionals, emoji, children), dev6, dev7, dev9 to dev21 and dev24 to dev28 are
# learned from; dev8, dev22 and dev23 (never learned from or read case by case) check that
# a change generalises; dev29 is held back (learning from it did not pay, docs/steering.md);
# dev30 (the same kinds of structure, by another author) is never learned from or read case
# by case: the check of templates written for dev29's kinds. dev31 (everyday requests) and
# dev32 (a request among other words) are never learned from; both were read case by case,
# as was dev34 (titles of works, many holding a cue word), never learned from either;
# dev35 (described scenes) is never learned from and read in aggregate only; dev36 (a
# request beside a situation, a feeling, someone else's taste or a concession) is never
# learned from and read case by case; so is dev37 (the same kinds of request in many
# varieties and registers: British, Indian and learners' English, Gen-Z slang, terse
# commands, Kansai and other dialects, keigo, net slang, children, older writers) and
# dev38 (how much, when and in what mix: degrees, time scopes, mixes, a place in the feed,
# a part of a thing, questions) and dev39 (the direction in a verb, an idiom or the grammar:
# refusal idioms, litotes, a negated wish for more, negated questions, dialect and keigo
# negation) and dev40 (which way: the same kinds of polarity in a later writer's words,
# written after the steps dev39 called for, to check that they carry over). dev41 (the clip
# on screen: "more like this", 「これ系はもういい」, pointers that point elsewhere) is never
# learned from and read case by case; its concept for the clip being watched is ON_SCREEN;
# dev42 (the same theme in another writer's words, written after the steps dev41 called for)
# is never learned from either; nor is dev43 (polarity carried by the sentence's structure:
# concessions, swaps, comparisons, ops carried along a list, scopes, conditions, marks),
# read case by case, nor dev44 (the same theme in a third writer's words, written after the
# steps dev43 called for, read case by case after its first measurement), nor dev45
# (polarity carried by idiom, slang, a skip on a condition, a rhetorical question or great
# politeness), read case by case, nor dev46 (the same theme in another writer's words,
# written beside dev45 without reading it, and measured only in aggregate); nor dev47 (a
# week of everyday requests), read case by case, nor dev48 (the same in another writer's
# words, measured only in aggregate), nor dev49 (the conversation around the ask:
# greetings, reactions, the writer's day, resets beside a complaint), read case by case,
# nor dev50 (the same theme in another writer's words, measured only in aggregate), nor
# dev51 (polarity said in words rather than op words: refusals in verbs and idioms, wishes
# in negative-sounding words, a second ask easy to lose), read case by case, nor dev52 (the
# same theme in another writer's words, measured only in aggregate), nor dev53 (emphasis,
# repetition and intensity: asks said loudly, twice, cut by full stops or restated), read
# case by case, nor dev54 (the same theme in another writer's words, measured only in
# aggregate), nor dev55 (too little and too much: complaints of scarcity and of excess,
# idioms that look like the other direction, and lacks in the writer's own life), read
# case by case, nor dev56 (the same theme in another writer's words, measured in aggregate;
# its misses were listed once).
# Set → (fewest cases, least share of Japanese): dev10 and dev14 are mostly English chat,
# dev11 and dev15 almost all Japanese.
MORE_DEV = {
    "dev2": (200, 0.40), "dev3": (150, 0.40), "dev4": (170, 0.40), "dev5": (250, 0.40),
    "dev6": (450, 0.40), "dev7": (500, 0.40), "dev8": (400, 0.45), "dev9": (500, 0.45),
    "dev10": (500, 0.15), "dev11": (500, 0.90), "dev12": (500, 0.35), "dev13": (500, 0.40),
    "dev14": (500, 0.10), "dev15": (500, 0.80), "dev16": (500, 0.45), "dev17": (500, 0.30),
    "dev18": (500, 0.12), "dev19": (500, 0.75), "dev20": (500, 0.12), "dev21": (500, 0.75),
    "dev22": (500, 0.40), "dev23": (500, 0.40), "dev24": (500, 0.40), "dev25": (500, 0.70),
    "dev26": (500, 0.40), "dev27": (500, 0.70), "dev28": (500, 0.40),
    "dev29": (500, 0.40), "dev30": (320, 0.42), "dev31": (300, 0.42), "dev32": (280, 0.42),
    "dev33": (300, 0.42), "dev34": (70, 0.2), "dev35": (90, 0.4),
    "dev36": (160, 0.4), "dev37": (160, 0.4), "dev38": (160, 0.4), "dev39": (160, 0.4),
    "dev40": (160, 0.4), "dev41": (160, 0.4), "dev42": (120, 0.4), "dev43": (160, 0.4),
    "dev44": (120, 0.4), "dev45": (160, 0.4), "dev46": (120, 0.4), "dev47": (160, 0.4),
    "dev48": (120, 0.4), "dev49": (120, 0.4), "dev50": (120, 0.4), "dev51": (120, 0.4),
    "dev52": (120, 0.4), "dev53": (120, 0.4), "dev54": (120, 0.4),
    "dev55": (120, 0.4), "dev56": (120, 0.4),
}  # fmt: skip


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.fixture(scope="module", params=sorted(MORE_DEV))
def more_dev(request):
    """(name, cases) of each further development set."""
    return request.param, load_heldout(DATA_DIR / f"{request.param}_instructions.toml")


def test_more_dev_cases_parse_with_unique_ids_numbered_by_language(more_dev):
    name, cases = more_dev
    fewest, japanese = MORE_DEV[name]
    assert len(cases) >= fewest
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids)
    for case in cases:
        assert re.fullmatch(rf"{name}-{ID_PREFIX[case.lang]}-\d{{3}}", case.id), case.id
    assert len({c.text for c in cases}) == len(cases), "a text appears twice"
    langs = Counter(c.lang for c in cases)
    assert langs["ja"] / len(cases) >= japanese


def test_more_dev_concepts_are_verbatim_and_accepts_keep_polarity(more_dev):
    _, cases = more_dev
    for case in cases:
        for op in case.ops:
            if op.op == "none":
                assert op.concept is None and len(case.ops) == 1, case.id
            elif op.op != "reset":
                assert op.concept == ON_SCREEN or op.concept and op.concept in case.text, case.id
            assert all(POLARITY[a] * POLARITY[op.op] >= 0 for a in op.accept), case.id
    asks = sum(any(op.op == "ask" for op in c.ops) for c in cases)
    assert asks <= 0.08 * len(cases)


def test_each_dev_set_shares_no_text_with_the_others(dev_cases):
    sets = {"held out": load_heldout(), "dev": dev_cases}
    for name in sorted(MORE_DEV):
        sets[name] = load_heldout(DATA_DIR / f"{name}_instructions.toml")
    for name in sorted(MORE_DEV):
        others = {_norm(c.text) for other, cases in sets.items() if other != name
                  for c in cases}  # fmt: skip
        shared = [c.id for c in sets[name] if _norm(c.text) in others]
        assert not shared, f"{name} cases whose text is also in another set: {shared}"
