"""Reading instructions into typed ops, in English, Japanese and both, never inverted."""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from feed.core.intent import (
    Clause,
    LabelledText,
    _cue_word,
    _signed_off_at,
    about_someone_else,
    accepts,
    adds_to_the_last,
    agrees_it_is_nice,
    apply_repairs,
    asks_for_anything_with,
    asks_if_nothing_but,
    calm_all_emphasis,
    clause_cues,
    clauses_from_tags,
    closes_on_more,
    compared_away,
    drop_asides_before_and,
    drop_cue_concepts,
    emoji_kind,
    fingerprint_of,
    finish_descriptions,
    gives_a_reason,
    grants,
    join_items_before_all,
    join_relative_clauses,
    lists_or_names,
    load_tokenizer,
    mark_contrasted_topics,
    mark_out_with_in_with,
    multiplied,
    name_emoji,
    narrows_the_last,
    never_too_many,
    normalise,
    offered_instead,
    praises,
    prefers_it,
    puts_in_place,
    sentences,
    skipped_when,
    split_choices,
    split_comparisons,
    split_contrasts,
    split_english_comparisons,
    split_examples,
    split_joined_items,
    split_listed_items,
    split_paired_nouns,
    split_repeated_openers,
    split_replacements,
    split_reported_tastes,
    split_sentences,
    split_slashed_items,
    starts_over,
    tags_from_spans,
    turned_up_or_down,
    unless_reading,
)
from feed.core.steering import (
    ON_SCREEN,
    AmbiguousInstruction,
    Glossary,
    InstructionError,
    InstructionReader,
    ParsedOp,
    ReaderVote,
    _concept_tokens,
    _once,
    _phrase_of,
    _polarity_unclear,
    parse_instruction,
)
from feed.storage.catalog import embedding_text

NEGATIVE = {"suppress", "exclude"}
POSITIVE = {"boost", "only"}


def ops(reader, text: str) -> list[tuple[str, str]]:
    return [(o.op, o.phrase) for o in parse_instruction(text, reader)]


def every_reading(reader, text: str) -> list[list[tuple[str, str]]]:
    """The reading of `text`, or each reading the reader asked about."""
    try:
        return [ops(reader, text)]
    except AmbiguousInstruction as asked:
        return [[(o.op, o.phrase) for o in reading] for reading in asked.readings]


def asks_for(readings, op_kinds, word: str) -> bool:
    """Whether any reading has an op of `op_kinds` on a phrase holding `word`."""
    return any(op in op_kinds and word in phrase.lower() for r in readings for op, phrase in r)


def reads_only(readings, op_kinds, word: str) -> bool:
    """Whether the readings ask for `word` with `op_kinds`, and none the other way."""
    other = (POSITIVE | NEGATIVE) - set(op_kinds)
    return asks_for(readings, op_kinds, word) and not asks_for(readings, other, word)


def never_more(readings, word: str) -> bool:
    """Whether the readings ask for less of `word` (read as less, or asked about) and do
    not ask only for more of it."""
    return asks_for(readings, NEGATIVE, word) and not reads_only(readings, POSITIVE, word)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more anime style", [("boost", "anime style")]),
        ("less sports", [("suppress", "sports")]),
        ("no horror", [("exclude", "horror")]),
        ("only cats", [("only", "cats")]),
        ("back to normal", [("reset", "")]),
        ("less sports, more cooking", [("suppress", "sports"), ("boost", "cooking")]),
        ("no cats no dogs", [("exclude", "cats"), ("exclude", "dogs")]),
        # A list under one op: the op holds for every item, never a bare boost of the last.
        ("no cats and dogs please", [("exclude", "cats"), ("exclude", "dogs")]),
        ("less cats and dogs", [("suppress", "cats"), ("suppress", "dogs")]),
        ("neither cats nor dogs", [("exclude", "cats"), ("exclude", "dogs")]),
        ("bored of sharks", [("suppress", "sharks")]),
        ("cats forever", [("boost", "cats")]),
        ("anything except cooking", [("exclude", "cooking")]),
        ("sharks", [("boost", "sharks")]),
        ("もっとアニメ風に", [("boost", "アニメ")]),
        ("ホラーは無理", [("exclude", "ホラー")]),
        ("サメの動画もっと", [("boost", "サメ")]),
        # 映像 (footage) is a head like 動画: the thing is what it shows.
        ("白黒の映像増やして", [("boost", "白黒")]),
        ("ジブリっぽいのが見たい", [("boost", "ジブリ")]),
        ("アニメじゃないやつ", [("exclude", "アニメ")]),
        ("元に戻して", [("reset", "")]),
        ("no ホラー please", [("exclude", "ホラー")]),
    ],
)  # fmt: skip
def test_reads_ops_and_concepts(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("ugh, I've had enough of clowns", "clowns"),
        ("I'm sick of cat videos", "cat"),
        ("don't want sports today", "sports"),
        ("nothing scary please", "scary"),
        ("not into horror tbh", "horror"),
        ("もう猫はいいや", "猫"),
        ("グロいのは勘弁", "グロい"),
    ],
)
def test_negative_intent_is_never_a_boost(reader, text, concept):
    """The sentences people typed and got the opposite of (the old parser boosted them)."""
    found = ops(reader, text)
    assert [op for op, _ in found] and {op for op, _ in found} <= NEGATIVE
    assert concept in [phrase for _, phrase in found]


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("wasps give me anxiety", "wasps"),
        ("the slime videos stress me out", "slime"),
        ("mummies keep me up at night", "mummies"),
        ("ウナギの動画は鳥肌が立つ", "ウナギ"),
        ("ゾンビは見ると吐き気がする", "ゾンビ"),
    ],
)
def test_what_a_thing_does_to_the_person_reads_as_less(reader, text, concept):
    """Causal negatives name no cue word ("no", "less") yet ask for less; never a boost."""
    assert ops(reader, text) in ([("exclude", concept)], [("suppress", concept)])


@pytest.mark.parametrize(
    "text", ["omit horror", "eliminate horror", "erase horror", "unsubscribe from horror"]
)
def test_a_verb_of_removal_the_corpus_lacks_never_asks_for_more(reader, text):
    """Verbs the training corpus never says are cue words: the reader asks or refuses,
    never reads "omit horror" as one thing to show more of."""
    try:
        found = ops(reader, text)
    except AmbiguousInstruction:
        found = []  # asked which is meant: nothing applied
    assert not {op for op, _ in found} & POSITIVE


@pytest.mark.parametrize(
    "text",
    [
        "horror isn't the worst",
        "cooking isn't bad",
        "ホラーが苦手ってわけじゃない",
        "cooking is bad",
        "I don't want fewer cats",  # the negator turns "fewer", not "want"
        "I don't want less horror",
    ],
)
def test_a_judgement_negated_or_left_to_the_networks_is_never_inverted(reader, text):
    """A dislike negated over an article or 「わけ」, and "less" after a negated "want",
    lean to more; a bare "bad" to less: where the networks read it the other way, the
    reader asks."""
    try:
        found = ops(reader, text)
    except AmbiguousInstruction:
        return  # asked which is meant: nothing applied
    wanted = NEGATIVE if text == "cooking is bad" else POSITIVE
    assert found and {op for op, _ in found} <= wanted


@pytest.mark.parametrize("text", ["温泉はいいね", "猫っていいよね"])
def test_agreeing_that_a_thing_is_nice_never_refuses_it(reader, text):
    """「いいね」 agrees that something is nice; 「いいや」 declines it."""
    try:
        found = ops(reader, text)
    except AmbiguousInstruction:
        found = []  # asked which is meant: nothing applied
    assert not {op for op, _ in found} & NEGATIVE
    assert ops(reader, "温泉はいいや") == [("exclude", "温泉")]


@pytest.mark.parametrize(
    ("text", "nice"),
    [("温泉はいいね", True), ("猫っていいよね", True), ("猫いいなあ", True),
     ("温泉はいいや", False), ("猫はいいよ", False), ("温泉はいいです", False),
     ("温泉はいいなら", False)],
)  # fmt: skip
def test_いい_with_a_particle_of_agreement_says_nice(text, nice):
    tokens = load_tokenizer().tokenize(text)
    concept = (0, len(tokens[0].text))
    assert agrees_it_is_nice(Clause(0, len(text), (concept,)), tokens) is nice


@pytest.mark.parametrize(
    ("text", "asks"),
    [("anything with trains, trams or monorails", True), ("show me anything about owls", True),
     ("my toddler gets scared of anything with sirens", False),  # no ask before it
     ("anything but trains", False), ("nothing with trains", False)],
)  # fmt: skip
def test_a_clause_that_asks_for_anything_with_what_it_names(text, asks):
    tokens = load_tokenizer().tokenize(text)
    assert asks_for_anything_with(Clause(0, len(text), ()), tokens) is asks


def test_a_japanese_clause_that_praises_reads_as_more_where_it_was_unclear(reader):
    """The networks were unsure of the first half; it praises and asks for less nowhere."""
    assert ops(reader, "紅葉の景色は綺麗だけど、虫はいらない") == [
        ("boost", "紅葉の景色"),
        ("exclude", "虫"),
    ]


def test_anything_with_a_list_is_never_refused(reader):
    """The op networks read it as "anything but"; with no word that says less, it is asked."""
    try:
        found = ops(reader, "anything with trains, trams or monorails")
    except AmbiguousInstruction:
        found = []  # asked which is meant: nothing applied
    assert not {op for op, _ in found} & NEGATIVE


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("instead of the pranks show me some pottery", "pranks", "pottery"),
        ("stop the sumo and bring back the ballet", "sumo", "ballet"),
        ("ゴルフじゃなくてテニスがいい", "ゴルフ", "テニス"),
        ("サッカーやめて野球にして", "サッカー", "野球"),
    ],
)
def test_verbs_across_a_contrast_give_two_ops(reader, text, first, second):
    (op_a, concept_a), (op_b, concept_b) = ops(reader, text)
    assert op_a in NEGATIVE and op_b == "boost"
    assert (concept_a, concept_b) == (first, second)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more foxes playing in the snow", [("boost", "foxes playing in the snow")]),
        ("雨の日の大阪の動画もっと", [("boost", "雨の日の大阪")]),
        ("could you cut back on the golf?", [("suppress", "golf")]),
        ("any chance of more sumo", [("boost", "sumo")]),
        ("less golf would be nice", [("suppress", "golf")]),
    ],
)
def test_long_concepts_and_casual_questions(reader, text, expected):
    assert ops(reader, text) == expected


def test_intensity_scales_the_weight(reader):
    assert [o.weight for o in parse_instruction("a lot more cats", reader)] == [1.6]
    assert [o.weight for o in parse_instruction("ちょっとだけ犬を増やして", reader)] == [0.5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 501, "longer than 500"),
        ("🦈🦈🦈", "no words"),
        ("?!...", "no words"),
        ("\x00\x01\x07", "no words"),
        ("hello there", "does not read as an instruction"),
        (
            "more cats, more dogs, more owls, more bees, more cows, more pigs, more ducks,"
            " more frogs, more goats",
            "more than 8",
        ),
    ],
)
def test_refuses_what_it_cannot_understand(reader, text, message):
    with pytest.raises(InstructionError, match=message):
        parse_instruction(text, reader)


def test_an_ask_that_names_nothing_takes_the_span_the_tagger_nearly_marked(one_reader):
    """With every concept tag taken away, the span the CRF would most readily mark is the
    topic, not the cue words or the filler around it."""
    text = normalise("can my feed have like more moray eels please")
    tokens = one_reader.tokenizer.tokenize(text)
    model = one_reader.model
    tags = ["O" if t in ("B", "I") else ("K" if t == "KB" else t) for t in model.tag(tokens)]
    clause = Clause(0, len(text), ())
    found = model.likely_concept(tokens, tags, clause)
    assert found is not None
    (start, end), share = found
    assert text[start:end] in ("moray eels", "eels") and 0.0 < share <= 1.0
    # Nothing but cue words and punctuation: no span can be a concept.
    bare = normalise("more, please")
    bare_tokens = one_reader.tokenizer.tokenize(bare)
    no_concepts = ["O" if t in ("B", "I") else t for t in model.tag(bare_tokens)]
    assert model.likely_concept(bare_tokens, no_concepts, Clause(0, len(bare), ())) is None


def test_a_request_whose_concept_the_tagger_missed_is_read_not_refused(reader):
    # Tagged with no concept, this ask was refused as naming nothing.
    text = "you showed me a moose crossing a motorway earlier and I'd love more moose"
    assert ops(reader, text) == [("boost", "moose")]


def test_a_later_ask_whose_concept_the_tagger_missed_reads_it_before_pointing_back(one_reader):
    """A clause tagged without a concept points back to what was named before it only
    when no span of its own nearly was one: "and fewer canoes too" is about canoes."""
    model = one_reader.model

    class Missed:
        def __getattr__(self, name):
            return getattr(model, name)

        def tag(self, tokens):
            tags = model.tag(tokens)
            return [
                ("K" if g == "KB" else "O") if t.text == "canoes" and g in ("B", "I", "KB") else g
                for t, g in zip(tokens, tags, strict=True)
            ]

    missed = dataclasses.replace(one_reader, model=Missed())
    text = normalise("fewer kayaks please, and fewer canoes too")
    assert "canoes" not in [
        text[s:e] for c in clauses_from_tags(missed.tokenizer.tokenize(text),
                                             missed.model.tag(missed.tokenizer.tokenize(text)))
        for s, e in c.concepts
    ]  # fmt: skip
    assert [(o.op, o.phrase) for o in missed.read(text)] == [
        ("suppress", "kayaks"),
        ("suppress", "canoes"),
    ]


def test_unclear_polarity_asks_with_both_readings(one_reader):
    """A model torn between more and less asks instead of guessing."""

    class Torn:
        classes = one_reader.model.classes

        def tag(self, tokens):
            return one_reader.model.tag(tokens)

        def op_probs(self, texts, clauses, tokens, vectors):
            p = {"boost": 0.45, "suppress": 0.05, "exclude": 0.4, "only": 0.05, "reset": 0.03,
                 "none": 0.02}  # fmt: skip
            return np.array([[p[c] for c in self.classes]] * len(clauses))

    torn = InstructionReader(one_reader.tokenizer, Torn(), None, one_reader.glossary)  # type: ignore[arg-type]
    with pytest.raises(AmbiguousInstruction) as caught:
        torn.read("sharks")
    assert [[(o.op, o.phrase) for o in r] for r in caught.value.readings] == [
        [("boost", "sharks")],
        [("exclude", "sharks")],
    ]


def test_a_bare_clause_after_a_refusal_is_never_read_as_more(reader):
    """A clip's prompt pasted after "no" is not a request for more of its subject; a
    clause with words of its own that say more is read as they say."""
    pasted = (
        "no vaporwave: a drummer playing a fast solo",
        "don't show me watercolor painting: a dancer spinning and leaping on a stage",
    )
    for text in pasted:
        # Either it asks, offering a reading that is negative throughout, or it reads the
        # refusal alone; never a boost of the pasted subject.
        try:
            readings = [reader.read(text)]
        except AmbiguousInstruction as asked:
            readings = list(asked.readings)
        negative = [r for r in readings if r and all(o.op in ("suppress", "exclude") for o in r)]
        assert negative, text
    ops = [(o.op, o.phrase) for o in reader.read("goodbye fidget spinners, hello kinetic sand")]
    assert ops[-1] == ("boost", "kinetic sand") and ops[0][0] in ("suppress", "exclude")
    assert [o.op for o in reader.read("less sports, more cooking")] == ["suppress", "boost"]


def test_one_phrase_asked_both_ways_is_asked_about(reader):
    """Applying more and less of one phrase at once would invert one of the two asks."""
    with pytest.raises(AmbiguousInstruction) as caught:
        reader.read("more cats, no cats")
    readings = [{(o.op, o.phrase) for o in r} for r in caught.value.readings]
    assert {("boost", "cats")} in readings
    assert {("exclude", "cats")} in readings or {("suppress", "cats")} in readings
    assert all(len({op in NEGATIVE for op, _ in r}) == 1 for r in readings)


def test_an_item_asked_twice_is_asked_once(reader):
    """Saying it again ("panda love. more pandas") is one op, not two to apply."""
    assert ops(reader, "パンダ大好き。パンダもっと") == [("boost", "パンダ")]
    assert ops(reader, "less vlogs, less vlogs") == [("suppress", "vlogs")]


def test_a_plural_possessive_and_quote_marks_do_not_cut_a_concept(reader):
    assert ops(reader, "no kids' toys") == [("exclude", "kids toys")]
    assert ops(reader, "no 'horror' please") == [("exclude", "horror")]
    assert ops(reader, "don't show me clowns") == [("exclude", "clowns")]  # an apostrophe kept


@pytest.mark.parametrize(
    ("text", "span", "phrase"),
    [
        ("犬は好きやけどチワワはあんまり", "けどチワワ", "チワワ"),
        ("私は全然興味ないので釣りは出さないで", "で釣り", "釣り"),
        ("君の名は。の聖地巡礼もっと", "の聖地巡礼", "聖地巡礼"),
        # A hiragana name whose first kana the analyser reads as a particle stays whole.
        ("ぞんびはみたくないです", "ぞんび", "ぞんび"),
        ("かぴばらどこ？", "かぴばら", "かぴばら"),
    ],
)
def test_a_japanese_concept_begun_a_particle_early_is_read_without_it(text, span, phrase):
    at = text.index(span)
    tokens = load_tokenizer().tokenize(text)
    assert _phrase_of(text, _concept_tokens(tokens, (at, at + len(span)))) == phrase


def test_one_item_asked_two_ways_of_one_direction_keeps_the_later():
    first, later = ParsedOp("suppress", "mimes", 1.0, "a"), ParsedOp("exclude", "mimes", 1.0, "b")
    other = ParsedOp("boost", "clowns", 1.0, "c")
    assert _once([first, other, later]) == [other, later]
    assert _once([first, first]) == [first]


def test_a_pictograph_beside_a_request_in_words_is_no_item(reader):
    """An emoji decorating a request is not a second thing asked for; alone, it is."""
    assert ops(reader, "haha nice, more penguin slides pls 🐧") == [("boost", "penguin slides")]
    assert ops(reader, "おやすみ🌙 寝る前は焚き火が見たい") == [("boost", "焚き火")]
    assert ops(reader, "more 🦈") == [("boost", "🦈")]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("hi! more goldfish please, thank you", ["hi!", "more goldfish please, thank you"]),
        ("こんにちは！金魚もっと。よろしく", ["こんにちは!", "金魚もっと。", "よろしく"]),
        ("3.5 stars... meh. no more cats", ["3.5 stars...", "meh.", "no more cats"]),
        ("what?!more cats", ["what?!more cats"]),  # no space after English marks
    ],
)
def test_sentences_end_after_their_marks(text, parts):
    text = normalise(text)
    tokens = load_tokenizer().tokenize(text)
    assert [text[tokens[a].start : tokens[b - 1].end] for a, b in sentences(tokens)] == parts


def test_a_message_read_as_no_request_is_read_again_a_sentence_at_a_time(reader):
    """A sigh and a story before the request made the tagger read the whole message as
    one clause asking for nothing; each sentence tagged on its own finds the request."""
    assert ops(reader, "ふぅ…今日も一日おつかれ自分。焚き火の映像お願い") == [("boost", "焚き火")]
    with pytest.raises(InstructionError, match="does not read as an instruction"):
        reader.read("hello there. how are you?")  # still no request in any sentence


def test_polarity_guard():
    sure_boost = {"boost": 0.95, "suppress": 0.02, "exclude": 0.01, "only": 0.0}
    assert not _polarity_unclear(sure_boost, negative_cue=False)
    # A clause whose cues only ask for less is never read as more without asking.
    assert _polarity_unclear(sure_boost, negative_cue=True)
    assert not _polarity_unclear(sure_boost, negative_cue=True, positive_cue=True)
    # ... nor one that negates a request ("for the love of god no more minions").
    assert _polarity_unclear(sure_boost, negative_cue=True, positive_cue=True, negated_ask=True)
    sure_only = {"boost": 0.02, "suppress": 0.02, "exclude": 0.01, "only": 0.95}
    assert not _polarity_unclear(sure_only, negative_cue=True, only_cue=True)
    # With cues both ways, a boost must be very sure.
    leaning_boost = {"boost": 0.85, "suppress": 0.1, "exclude": 0.05, "only": 0.0}
    assert not _polarity_unclear(leaning_boost, negative_cue=False)
    assert _polarity_unclear(leaning_boost, negative_cue=True, positive_cue=True)
    torn = {"boost": 0.5, "suppress": 0.3, "exclude": 0.2, "only": 0.0}
    assert _polarity_unclear(torn, negative_cue=False)
    # A negative reading of a clause whose only cues ask for more must be as sure.
    leaning_less = {"boost": 0.15, "suppress": 0.8, "exclude": 0.05, "only": 0.0}
    assert not _polarity_unclear(leaning_less, negative_cue=False, positive_cue=False)
    assert _polarity_unclear(leaning_less, negative_cue=False, positive_cue=True)
    assert not _polarity_unclear(leaning_less, negative_cue=True, positive_cue=True)
    # Less, when the only lean to more is a negated refusal ("don't stop X"), is asked.
    sure_less = {"boost": 0.01, "suppress": 0.04, "exclude": 0.95, "only": 0.0}
    assert _polarity_unclear(sure_less, negative_cue=False, positive_cue=True, negated_refusal=True)
    assert not _polarity_unclear(
        sure_less, negative_cue=True, positive_cue=True, negated_refusal=True
    )


@pytest.mark.parametrize(
    ("typed", "cue"),
    [("stpo", "stop"), ("mroe", "more"), ("tierd", "tired"), ("onyl", "only"),
     ("lesss", "less"), ("moooore", "more"), ("likes", "like"), ("snow", "snow"),
     ("feed", "feed"), ("gore", "gore"), ("cats", "cats"), ("omitt", "omit"),
     ("shelves", "shelves"), ("eraser", "eraser"), ("ease", "ease")],
)  # fmt: skip
def test_typed_cue_words(typed, cue):
    assert _cue_word(typed) == cue


@pytest.mark.parametrize(
    ("text", "negative", "positive"),
    [("no more golf", True, False), ("i dont want cats", True, False),
     ("never stop showing otters", False, True), ("cant get enough of pottery", False, True),
     ("stpo showing spiders", True, False), ("もっと見たい", False, True),
     ("こわくて見れない", True, False), ("嫌いじゃない", False, True),
     ("I wouldn't mind more trains", True, True), ("もっとない?", False, True),
     ("マジで無理なんだけど", True, False), ("控えめにできない?", True, False),
     ("サメしか勝たん", False, False), ("never not happy to see snails", False, True),
     ("見せんといて", True, False), ("見せへんで", True, False), ("きっつ", True, False),
     ("見たいと思ってなかった", True, False), ("見たくないわけじゃない", False, True),
     ("見たないわけちゃう", False, True), ("wouldn't say no to owls", False, True)],
)  # fmt: skip
def test_clause_cues_read_negation_scope(text, negative, positive):
    text = normalise(text)
    tokens = load_tokenizer().tokenize(text)
    cues = clause_cues(Clause(0, len(text), ()), tokens)
    assert (cues.negative, cues.positive) == (negative, positive)


def test_tags_and_clauses_round_trip():
    tokenizer = load_tokenizer()
    text = normalise("no cats, more dogs please")
    tokens = tokenizer.tokenize(text)
    spans = [(0, 7, 3, 7), (9, 25, 14, 18)]  # "no cats" / "more dogs please"
    tags = tags_from_spans(tokens, spans)
    assert tags == ["K", "B", "S", "K", "B", "O"]
    assert clauses_from_tags(tokens, tags) == [Clause(0, 7, ((3, 7),)), Clause(9, 25, ((14, 18),))]


def test_every_concept_of_a_list_is_tagged():
    tokenizer = load_tokenizer()
    text = normalise("no cats or dogs")
    tokens = tokenizer.tokenize(text)
    tags = tags_from_spans(tokens, [(0, 15, 3, 7), (0, 15, 11, 15)])
    assert tags == ["K", "B", "O", "B"]
    assert clauses_from_tags(tokens, tags) == [Clause(0, 15, ((3, 7), (11, 15)))]


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        ("more cats, less dogs", "K B O O B", ["more cats", "less dogs"]),
        ("more cats less dogs", "K B O B", ["more cats", "less dogs"]),
        ("猫もっと犬は減らして", "KB O B O O O", ["猫もっと", "犬は減らして"]),
        ("no cats, dogs or birds please", "K B O B O B O", ["no cats, dogs or birds please"]),
        ("cats are fire, more", "KB O O O O", ["cats are fire, more"]),
        ("no more cats", "K O B", ["no more cats"]),
        (
            "instead of cat videos give me birds",
            "K O B O O O B",
            ["instead of cat videos", "give me birds"],
        ),
    ],
)
def test_opposite_asks_left_joined_are_split(text, tags, parts):
    tokens = load_tokenizer().tokenize(normalise(text))
    clauses = split_contrasts(clauses_from_tags(tokens, tags.split()), tokens)
    assert [text[c.start : c.end] for c in clauses] == parts


@pytest.mark.parametrize(
    ("text", "tagged", "items"),
    [
        ("no opera/ballet please", ["opera"], ["opera", "ballet"]),
        ("less vlogs/pranks/unboxings", ["pranks"], ["vlogs", "pranks", "unboxings"]),
        ("more slow cooking/baking videos", ["slow cooking"], ["slow cooking", "baking"]),
        ("猫・犬なし", ["猫"], ["猫", "犬"]),
        ("ジョン・レノンの動画", ["ジョン・レノン"], ["ジョン・レノン"]),  # tagged whole
        ("cyclists w/o helmets", ["cyclists"], ["cyclists"]),  # "w/o" is no list
    ],
)
def test_items_written_with_slashes_are_each_a_concept(text, tagged, items):
    text = normalise(text)
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    (clause,) = split_slashed_items([Clause(0, len(text), spans)], load_tokenizer().tokenize(text))
    assert [text[s:e] for s, e in clause.concepts] == items


@pytest.mark.parametrize(
    ("text", "tagged", "items"),
    [
        ("ラーメン、つけ麺、まぜそば、どれも多めで", ["ラーメン", "まぜそば"],
         ["ラーメン", "つけ麺", "まぜそば"]),
        ("はにわ、土偶、古墳…そういうの好き", ["はにわ"], ["はにわ", "土偶", "古墳"]),
        ("イルカ。クジラ。もっと見たい", ["イルカ"], ["イルカ", "クジラ"]),
        ("skateboarding, bmx, parkour. more.", ["skateboarding", "parkour"],
         ["skateboarding", "bmx", "parkour"]),
        ("i want lighthouses, cliffs, stormy seas", ["lighthouses"],
         ["lighthouses", "cliffs", "stormy seas"]),
        ("more owls, honestly", ["owls"], ["owls"]),  # an aside, not an item
        ("more owls, bats", ["owls"], ["owls"]),  # one English word after: maybe an aside
        ("猫、最近多すぎ", ["猫"], ["猫"]),  # no noun run
        ("less 野球, 相撲 as well", ["野球", "相撲"], ["野球", "相撲"]),
        ("more: owls, hawks, falcons", ["falcons"], ["owls", "hawks", "falcons"]),
        ("パン作り、ケーキ作り、和菓子作り、全部〇", ["パン作り"],
         ["パン作り", "ケーキ作り", "和菓子作り"]),
        ("ごめん、カエルは無理", ["カエル"], ["カエル"]),  # one word before: no list
        ("tired of cold plunges. saunas too tbh", ["cold plunges"], ["cold plunges", "saunas"]),
        ("no clowns. mimes neither pls", ["clowns"], ["clowns", "mimes"]),
        ("no snakes, lizards neither", ["snakes", "lizards"], ["snakes", "lizards"]),  # marked
        # A subject and its verb start a sentence, not an item.
        ("noodle challenges: i'm tapping out. baking: yes", ["noodle challenges", "baking"],
         ["noodle challenges", "baking"]),
    ],
)  # fmt: skip
def test_items_listed_with_commas_beside_a_marked_one_are_each_a_concept(text, tagged, items):
    text = normalise(text)
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    (clause,) = split_listed_items([Clause(0, len(text), spans)], load_tokenizer().tokenize(text))
    assert [text[s:e] for s, e in clause.concepts] == items


def test_a_listed_item_joins_the_clause_it_sits_in():
    text = "skateboarding, bmx, parkour. more."
    first, second = Clause(0, 18, ((0, 13),)), Clause(20, len(text), ((20, 27),))
    out = split_listed_items([first, second], load_tokenizer().tokenize(text))
    assert [[text[s:e] for s, e in c.concepts] for c in out] == [
        ["skateboarding", "bmx"],
        ["parkour"],
    ]


@pytest.mark.parametrize(
    ("text", "tagged", "items"),
    [
        ("バスと電車が見たい", ["バスと電車"], ["バス", "電車"]),
        ("寿司や天ぷらは減らして", ["寿司や天ぷら"], ["寿司", "天ぷら"]),
        ("猫と犬の喧嘩もっと", ["猫と犬の喧嘩"], ["猫と犬の喧嘩"]),  # the pair modifies 喧嘩
        ("猫と遊ぶ子供", ["猫と遊ぶ子供"], ["猫と遊ぶ子供"]),  # と before a verb
    ],
)
def test_two_nouns_joined_by_to_or_ya_are_each_a_concept(text, tagged, items):
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    (clause,) = split_paired_nouns([Clause(0, len(text), spans)], load_tokenizer().tokenize(text))
    assert [text[s:e] for s, e in clause.concepts] == items


@pytest.mark.parametrize(
    ("text", "concepts", "parts"),
    [
        ("no cats, dogs or birds please", ["cats", "dogs", "birds"],
         ["no cats, dogs or birds please"]),
        ("猫と犬もっと", ["猫", "犬"], ["猫と犬もっと"]),
        ("swap the cooking clips for pottery", ["cooking clips", "pottery"],
         ["swap the cooking clips", "for pottery"]),
        ("cats are fine but no dogs", ["cats", "dogs"], ["cats are fine", "but no dogs"]),
        ("ドッキリの代わりに動物を見せて", ["ドッキリ", "動物"],
         ["ドッキリの代わりに", "動物を見せて"]),
        ("猫はいいけど、犬は無理", ["猫", "犬"], ["猫はいいけど", "犬は無理"]),
        ("clay 👍 puppets 👎", ["clay", "puppets"], ["clay 👍", "puppets 👎"]),
        ("アニメはジブリだけ見たい", ["アニメ", "ジブリ"], ["アニメはジブリだけ見たい"]),
        ("more owls and bats instead of crows", ["owls", "bats", "crows"],
         ["more owls and bats", "instead of crows"]),
        # An item after a comma with no word of its own joins the list before it.
        ("keep the spiders away from me, snakes", ["spiders", "snakes"],
         ["keep the spiders away from me, snakes"]),
        # What a sentence says of its item stays with it.
        ("owls? fine. barn owls screeching? no", ["owls", "barn owls screeching"],
         ["owls? fine.", "barn owls screeching? no"]),
        ("猫はまあいい。犬は無理", ["猫", "犬"], ["猫はまあいい。", "犬は無理"]),
    ],
)  # fmt: skip
def test_items_that_no_list_joins_are_read_apart(text, concepts, parts):
    text = normalise(text)
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in concepts)
    clauses = split_joined_items([Clause(0, len(text), spans)], load_tokenizer().tokenize(text))
    assert [text[c.start : c.end] for c in clauses] == parts
    assert [s for c in clauses for s in c.concepts] == list(spans)


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts, takes back the clause before)
        ("more owls, sorry, I mean bats", "K B O B O O O B",
         [("more owls,", ["owls"], False), ("sorry, I mean bats", ["bats"], True)]),
        ("no ferrets, oops, I meant weasels", "K B O B S K O B",
         [("no ferrets, oops", ["ferrets"], False), ("I meant weasels", ["weasels"], True)]),
        ("no cats, i mean it", "K B O O O O", [("no cats, i mean it", ["cats"], False)]),
        ("sorry, more cats", "K O O B", [("sorry, more cats", ["cats"], False)]),
        ("カブトムシ増やして、間違えたクワガタ", "KB O O S K O B",
         [("カブトムシ増やして", ["カブトムシ"], False), ("間違えたクワガタ", ["クワガタ"], True)]),
    ],
)  # fmt: skip
def test_a_repair_marker_is_no_concept_and_starts_a_clause_that_takes_back(text, tags, parts):
    tokens = load_tokenizer().tokenize(normalise(text))
    assert len(tokens) == len(tags.split())
    clauses = apply_repairs(clauses_from_tags(tokens, tags.split()), tokens)
    assert [
        (text[c.start : c.end], [text[s:e] for s, e in c.concepts], c.repairs) for c in clauses
    ] == parts


def step_parts(step, text: str, tags: str) -> list[tuple[str, list[str]]]:
    """(clause text, concepts) of each clause a reading step makes of tagged text."""
    tokens = load_tokenizer().tokenize(normalise(text))
    assert len(tokens) == len(tags.split())
    clauses = step(clauses_from_tags(tokens, tags.split()), tokens)
    return [(text[c.start : c.end], [text[s:e] for s, e in c.concepts]) for c in clauses]


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts): a description the tagger cut short runs on to its end.
        ("more knight during a thunderstorm", "K B I O O",
         [("more knight during a thunderstorm", ["knight during a thunderstorm"])]),
        # past fillers and head nouns it does not run
        ("more knight during a storm videos pls", "K B I O O O O",
         [("more knight during a storm videos pls", ["knight during a storm"])]),
        # cut into two clauses (the second tagged a concept of its own): one again
        ("more skater doing a kickflip above the clouds", "K B I O O O O B",
         [("more skater doing a kickflip above the clouds",
           ["skater doing a kickflip above the clouds"])]),
        # a clause with a cue word of its own, or after punctuation, stays apart
        ("more skater doing a no clouds", "K B I O K B",
         [("more skater doing a", ["skater doing"]), ("no clouds", ["clouds"])]),
        ("more owls in, no bats", "K B I O K B",
         [("more owls in,", ["owls in"]), ("no bats", ["bats"])]),
        # a span that ends on a word that can end one is left as it was
        ("more cats in my feed", "K B O O O", [("more cats in my feed", ["cats"])]),
        ("more robot on a floating island", "K B I I I O",
         [("more robot on a floating island", ["robot on a floating"])]),
        # an -ing verb before its object: the object is what it is about
        ("less cooking the same meals", "K B O O O",
         [("less cooking the same meals", ["cooking the same meals"])]),
    ],
)  # fmt: skip
def test_a_description_cut_short_by_the_tagger_runs_on_to_its_end(text, tags, parts):
    assert step_parts(finish_descriptions, text, tags) == parts


def test_a_described_scene_is_asked_for_whole(reader):
    # Read before as "more skateboarder doing" and "no clouds", "more knight during".
    for text, concept in (
        ("more skateboarder doing a kickflip above the clouds",
         "skateboarder doing a kickflip above the clouds"),
        ("more knight during a thunderstorm", "knight during a thunderstorm"),
    ):  # fmt: skip
        assert [(o.op, o.phrase) for o in parse_instruction(text, reader)] == [("boost", concept)]


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts): the tagger read the second opener into the concept.
        ("no cats no dogs", "K B I I", [("no cats", ["cats"]), ("no dogs", ["dogs"])]),
        ("please no cats no dogs", "K O B I I",
         [("please no cats", ["cats"]), ("no dogs", ["dogs"])]),
        ("more owls more bats more frogs", "K B I I I I",
         [("more owls", ["owls"]), ("more bats", ["bats"]), ("more frogs", ["frogs"])]),
        ("less cats lesss dogs", "K B I I", [("less cats", ["cats"]), ("lesss dogs", ["dogs"])]),
        # A concept holding a cue word once, or another cue word, stays whole.
        ("no country for old men", "K B I I I", [("no country for old men",
                                                   ["country for old men"])]),
        ("more cats less dogs", "K B I I", [("more cats less dogs", ["cats less dogs"])]),
        ("no cats no", "K B I", [("no cats no", ["cats no"])]),
        ("no cats, no dogs", "K B O K B", [("no cats,", ["cats"]), ("no dogs", ["dogs"])]),
    ],
)  # fmt: skip
def test_an_opener_said_again_inside_a_concept_starts_a_clause(text, tags, parts):
    assert step_parts(split_repeated_openers, text, tags) == parts


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts): what asks before ", and" and names nothing is left out.
        ("keep it up, and I'd love fewer sad rescue stories", "K O O O O O O O B I I",
         [("I'd love fewer sad rescue stories", ["sad rescue stories"])]),
        ("love it, but please fewer sad rescue stories", "K O O O O O B I I",
         [("please fewer sad rescue stories", ["sad rescue stories"])]),
        # Unless the part after asks nothing before its thing, or the part before asks
        # nothing at all.
        ("keep it up, and the sad rescue stories", "K O O O O O B I I",
         [("keep it up, and the sad rescue stories", ["sad rescue stories"])]),
        ("as for the rest, and fewer sad rescue stories", "K O O O O O O B I I",
         [("as for the rest, and fewer sad rescue stories", ["sad rescue stories"])]),
    ],
)  # fmt: skip
def test_an_ask_naming_nothing_before_and_is_left_to_the_clause_before(text, tags, parts):
    assert step_parts(drop_asides_before_and, text, tags) == parts


def test_an_ask_for_fewer_after_an_aside_is_not_read_as_more(reader):
    # "keep it up" praised the clause before; the "fewer" asks for less.
    text = "keep it up, and I'd love fewer sad rescue stories"
    assert [(o.op, o.phrase) for o in parse_instruction(text, reader)] == [
        ("suppress", "sad rescue stories")
    ]


def calmed(text: str) -> str:
    """`text` with its emphasis calmed, as the reader reads it."""
    return calm_all_emphasis(normalise(text), load_tokenizer())[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Words said again for weight are said once.
        ("no no no clowns", "no clowns"),
        ("more, more, MORE cats", "more cats"),
        ("please please give me cats", "please give me cats"),
        ("synthwave synthwave synthwave please", "synthwave please"),
        ("絶対に、絶対にホラーは出さないで", "絶対にホラーは出さないで"),
        ("マジでマジでホラーいらん", "マジでホラーいらん"),
        ("ホラーいらないいらない", "ホラーいらない"),
        # What "I mean" says again of the words before it.
        ("never, and I mean NEVER, show me clowns", "never, show me clowns"),
        # A comma between a negator and the "ever" that stresses it.
        ("never, ever show me clowns", "never ever show me clowns"),
        # Words cut apart by full stops one at a time, one of which asks.
        ("NO. MORE. CLOWNS.", "NO MORE CLOWNS."),
        ("Give. Me. All. The. Noir.", "Give Me All The Noir."),
        ("激辛チャレンジ！！！もう！！！見たくない！！！", "激辛チャレンジもう見たくない!!!"),
        # Left as written: a thing's doubled name, a word joined to the next, a word
        # said once with another meaning, one kana of grammar, a repair, and lists.
        ("more tuk tuk rides", "more tuk tuk rides"),
        ("no no-bake cakes", "no no-bake cakes"),
        ("電車は見てて楽しい", "電車は見てて楽しい"),
        ("more owls, sorry, I mean bats", "more owls, sorry, I mean bats"),
        ("Cats. Dogs. Birds. More.", "Cats. Dogs. Birds. More."),
        ("イルカ。クジラ。シャチ。もっと見たい", "イルカ。クジラ。シャチ。もっと見たい"),
        ("ホラー無理。猫好き。もっと。", "ホラー無理。猫好き。もっと。"),
    ],
)
def test_emphasis_that_is_only_loudness_is_said_once(text, expected):
    assert calmed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("never, I mean never, show me clowns", [("exclude", "clowns")]),
        ("never, and i mean NEVER, show me clowns again", [("exclude", "clowns")]),
        ("激辛チャレンジ！！！もう！！！見たくない！！！", [("exclude", "激辛チャレンジ")]),
    ],
)
def test_a_loud_refusal_is_read_as_a_plain_one(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("do NOT take the cats away", "cats"),
        ("please don't ever take the cats away from me", "cats"),
        ("I never asked for fewer lighthouses", "lighthouses"),
        ("never, ever stop the lighthouses", "lighthouses"),
        ("don't you dare stop the lighthouses", "lighthouses"),
        ("the lighthouses never get old", "lighthouses"),
        ("not nearly enough lighthouses lately", "lighthouses"),
        ("lighthouse timelapses never get boring", "lighthouse timelapses"),
        ("夜景の動画は絶対消さないで", "夜景"),
        ("夜景は減らさないでね", "夜景"),
    ],
)
def test_a_refusal_every_word_of_which_is_taken_back_asks_for_more(reader, text, thing):
    assert reads_only(every_reading(reader, text), POSITIVE, thing)


def test_a_thing_that_grows_stale_is_less(reader):
    assert reads_only(every_reading(reader, "the lighthouses are getting old"), NEGATIVE,
                      "lighthouses")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("way too few lighthouses lately", "lighthouses"),
        ("灯台の動画、少なすぎ", "灯台"),
        ("灯台の動画、少なすぎません？", "灯台"),
        ("灯台が全然足りない", "灯台"),
        ("灯台が足りてない", "灯台"),
        ("灯台足りん", "灯台"),
        ("なんで灯台こんなに少ないの？", "灯台"),
        # A thing reported missing: scarcity, a span looked back over, a where-question.
        ("so few lighthouses lately", "lighthouses"),
        ("there's a real shortage of lighthouses", "lighthouses"),
        ("haven't seen any lighthouses in weeks", "lighthouses"),
        ("not one lighthouse video since monday", "lighthouse"),
        ("where did all the lighthouses go?", "lighthouses"),
        ("最近灯台が全然流れてこない", "灯台"),
        ("灯台を最近見かけない", "灯台"),
        ("灯台、一本も見てないんだけど", "灯台"),
        ("最近、灯台見ないね", "灯台"),
        ("灯台どこ行ったん", "灯台"),
        ("the lighthouses have all but vanished from my feed", "lighthouses"),
        ("is it just me or are there barely any lighthouses anymore", "lighthouses"),
        # Cheered, or weariness that "never" denies.
        ("up with lighthouses", "lighthouses"),
        ("I will never tire of lighthouses", "lighthouses"),
    ],
)
def test_a_complaint_of_too_little_asks_for_more(reader, text, thing):
    assert reads_only(every_reading(reader, text), POSITIVE, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("where are all these lighthouses coming from", "lighthouses"),  # too many
        ("nothing scary since the kids are here", "scary"),  # "since" of cause
        ("no lighthouses anymore", "lighthouses"),  # asks for the future
        ("not a fan of the lighthouses lately", "lighthouses"),
        ("灯台が出てこないようにして", "灯台"),  # asked to stay away
        ("灯台を少なくして", "灯台"),
        ("最近は灯台を見なくなったな", "灯台"),  # the writer stopped watching
        ("down with lighthouses", "lighthouses"),
        ("down with 🤡", "🤡"),
        # Glad it is gone, wished away, or not watched by choice; a span ahead, a wish.
        ("もう灯台は出てこないね、よかった", "灯台"),
        ("灯台は見かけないほうがいい", "灯台"),
        ("灯台が少ないと助かる", "灯台"),
        ("灯台は怖いから見てない", "灯台"),
        ("no lighthouses all week, i'm scared", "lighthouses"),
        ("I'd rather not have seen that gore", "gore"),
    ],
)
def test_what_only_sounds_like_a_complaint_of_too_little_is_not_more(reader, text, thing):
    assert never_more(every_reading(reader, text), thing)


def test_too_much_beside_too_little_asks_for_both(reader):
    """ "too much X" is a cue of less of its own, so it is no aside beside the ask after
    it; what someone else thinks too much is no complaint of the writer's."""
    assert ops(reader, "too much jazz, not enough lighthouses") == [
        ("suppress", "jazz"), ("boost", "lighthouses"),
    ]  # fmt: skip
    text = "my partner thinks i watch too many lighthouse videos. more lighthouses"
    assert reads_only(every_reading(reader, text), POSITIVE, "lighthouse")


def test_an_op_word_typed_against_its_thing_is_read_apart(reader):
    assert ops(reader, "lesscats") == [("suppress", "cats")]
    assert ops(reader, "nomoreclowns") == [("exclude", "clowns")]


def test_on_the_less_side_is_still_less(reader):
    assert reads_only(every_reading(reader, "灯台は少なめで"), NEGATIVE, "灯台")


def test_a_negative_question_asks_what_it_names(reader):
    """A negator before "you" does not reach past it ("why don't you show more X"); only
    "don't you dare" does."""
    assert ops(reader, "why don't you show more kite surfing?") == [("boost", "kite surfing")]
    assert ops(reader, "can't you show less of the cat fails?") == [("suppress", "cat fails")]


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        # No dislike is no wish; a question suggests; ません only ends a negator.
        ("I dont hate cats", "cats"),
        ("why not fewer cat fails and more cat rescues?", "cat fails"),
        ("虫の動画は見るに堪えません", "虫"),
    ],
)
def test_a_negated_dislike_or_a_question_is_not_read_as_more(reader, text, thing):
    assert never_more(every_reading(reader, text), thing)


def test_taking_a_thing_away_is_less(reader):
    assert reads_only(every_reading(reader, "take the cats away"), NEGATIVE, "cats")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more owls, sorry, I mean bats", [("boost", "bats")]),
        ("hide the ferret videos, oops, I meant the weasel ones", [("exclude", "weasel")]),
        ("no more yachts, hang on, I mean superyachts", [("exclude", "superyachts")]),
        # Trailing off before 「じゃなくて」 takes the word back ("dolphins... no, orcas").
        ("イルカ…じゃなくてシャチの動画もっと", [("boost", "シャチ")]),
        ("キャンプ...じゃなくてグランピングだけにして", [("only", "グランピング")]),
    ],
)
def test_a_repaired_request_applies_to_what_was_meant(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("猫は減らして、犬もね", [("suppress", "猫"), ("suppress", "犬")]),
        ("less cats, and dogs as well", [("suppress", "cats"), ("suppress", "dogs")]),
        ("no spiders, also no snakes", [("exclude", "spiders"), ("exclude", "snakes")]),
        # "also" closing the clause, where the tagger leaves it out of the clause.
        (
            "skip the opera clips, and the ballet ones also",
            [("suppress", "opera"), ("suppress", "ballet")],
        ),
        ("歯医者の動画は見たくないし、献血のも", [("exclude", "歯医者"), ("exclude", "献血")]),
        # A clause with a cue of its own says what it wants, 「も」 or not.
        ("ホラーは減らして、でもゾンビはもっと", [("suppress", "ホラー"), ("boost", "ゾンビ")]),
        # "and" before a clause that only names its items: one more item of the list.
        (
            "bring back the windmill clips, and the tulip fields",
            [("boost", "windmill"), ("boost", "tulip fields")],
        ),
        (
            "get rid of the prank clips and the reaction streamers",
            [("exclude", "prank"), ("exclude", "reaction streamers")],
        ),
    ],
)
def test_a_clause_that_adds_to_the_last_takes_its_op(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "concept", "adds"),
    [
        ("dogs too please", "dogs", True),
        ("and the ballet ones also", "ballet", True),
        ("the sharks are too scary", "sharks", False),
        ("too much horror lately", "horror", False),
        ("the horror ones are way too much", "horror", False),
        # 「も」 after the item, its の or its head noun adds it; inside a noun it does not.
        ("犬もね", "犬", True),
        ("献血のも", "献血", True),
        ("うるさいやつも", "うるさい", True),
        ("犬の動画も", "犬", True),
        ("犬の散歩", "犬", False),
    ],
)
def test_too_of_degree_adds_nothing_to_the_last(text, concept, adds):
    text = normalise(text)
    start = text.index(concept)
    clause = Clause(0, len(text), ((start, start + len(concept)),))
    assert adds_to_the_last(clause, load_tokenizer().tokenize(text)) is adds


def test_without_trailing_off_jyanakute_still_contrasts(reader):
    (first, refused), (second, wanted) = ops(reader, "アニメじゃなくて実写がいい")
    assert (first, refused) in {("exclude", "アニメ"), ("suppress", "アニメ")}
    assert (second, wanted) == ("boost", "実写")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ダイエット中なので", True),
        ("赤ちゃんが寝てるから", True),
        ("閉所恐怖症だから", True),
        ("because the baby is asleep", True),
        ("猫はいいから", False),  # "enough cats, so ...": a dismissal, not a reason
        ("料理はもう十分だから", False),
        ("猫をもっと", False),
        ("more cats", False),
    ],
)
def test_a_reason_is_told_by_its_conjunction(text, reason):
    text = normalise(text)
    tokens = load_tokenizer().tokenize(text)
    assert gives_a_reason(Clause(0, len(text), ()), tokens) is reason


def test_a_clause_before_so_is_a_reason():
    text = normalise("I'm on a diet so less food please")
    tokens = load_tokenizer().tokenize(text)
    before, after = Clause(0, text.index(" so"), ()), Clause(text.index("so"), len(text), ())
    assert gives_a_reason(before, tokens)
    assert not gives_a_reason(after, tokens)  # "so less food please" is the request


def test_an_example_after_a_thing_the_tagger_nearly_marked_is_read(reader):
    """The clause before the example names its thing only once the span the tagger nearly
    marked is read: looking for the last clause the tagger had named raised IndexError (a
    failed request)."""
    try:
        read = ops(reader, "and fewer kayaks too, especially the red ones")
    except AmbiguousInstruction as exc:  # asked about: fewer kayaks in every reading
        read = [(op.op, op.phrase) for reading in exc.readings for op in reading]
    assert ("suppress", "kayaks") in read
    assert all(op in NEGATIVE for op, phrase in read if phrase == "kayaks")


def test_an_aside_naming_nothing_before_a_request_is_no_request(reader):
    """A clause that names nothing, with nothing named before it, does not refuse a
    later request that says what it wants; without such a request it is still refused."""
    read = ops(reader, "if it's not too much bother, fewer yoga clips would be great")
    assert read == [("suppress", "yoga")]
    with pytest.raises(InstructionError, match="names nothing"):
        reader.read("yes more, owls")  # the later clause says nothing of what it wants


def test_a_reason_beside_a_request_is_not_a_request(reader):
    for text, expected in (
        ("ダイエット中なので、大盛りグルメは控えめでお願いします", ("suppress", "大盛りグルメ")),
        ("猫はいいから犬をもっと", ("boost", "犬")),
    ):
        read = ops(reader, text)
        assert expected in read
        assert all(phrase not in ("ダイエット中", "ダイエット") for _, phrase in read)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the writer's situation beside a request
        ("just moved to a new city, more street food tours please",
         [("boost", "street food tours")]),
        ("大阪に住んでて、お好み焼きの動画もっと見たい", [("boost", "お好み焼き")]),
        # accepted, not asked for
        ("puzzles are fine, puzzle speedruns are not", [("exclude", "puzzle speedruns")]),
        ("カレーはいいけど、激辛はいらない", [("exclude", "激辛")]),
        ("ヘビはいらない、カメは大丈夫", [("exclude", "ヘビ")]),
        ("no more clowns, mimes are ok", [("exclude", "clowns")]),
        # praised: more of it
        ("the otters are adorable, more beavers please",
         [("boost", "otters"), ("boost", "beavers")]),
        # someone else's taste, pointed back to or not
        ("my sister only watches k-dramas, please no k-dramas for me", [("exclude", "k-dramas")]),
        ("my kids love dinosaurs, more of those please", [("boost", "dinosaurs")]),
    ],
)  # fmt: skip
def test_what_the_writer_tells_beside_a_request_is_no_request(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "accepted", "praised"),
    [
        ("sushi clips are fine", True, False),
        ("猫はいいけど", True, False),
        ("猫はいいから", False, False),  # dismisses: enough of it
        ("グルメはそのままで", True, False),
        ("the snow monkeys are adorable", False, True),
        ("線香花火いいね", False, True),
        ("watercolor landscapes 10/10", False, True),
        ("recovering from knee surgery", False, False),
    ],
)
def test_accepting_and_praising_words(text, accepted, praised):
    tokens = load_tokenizer().tokenize(normalise(text))
    clause = Clause(0, len(text), ())
    assert (accepts(clause, tokens), praises(clause, tokens)) == (accepted, praised)


def test_a_list_item_with_its_head_noun_only_names():
    text = "ぬいぐるみの動画と"
    tokens = load_tokenizer().tokenize(text)
    assert lists_or_names(Clause(0, len(text), ((0, 5),)), tokens)
    assert not lists_or_names(Clause(0, 6, ((0, 2),)), load_tokenizer().tokenize("京都の大学に"))


@pytest.mark.parametrize(
    ("text", "tags", "kept"),
    [
        ("先週ほど投資の動画はいらない", "KB O B O O O O O", ["投資"]),  # 先週: when, not what
        ("今の半分くらいの猫", "KB I I O O B", ["猫"]),
        ("最近の猫", "KB O B", ["猫"]),
        ("最近", "KB", ["最近"]),  # nothing else named: kept (the reader decides)
        ("夜景をもっと", "KB O O", ["夜景"]),
        ("クラゲとヒトデ、両方もっと", "KB O B O B O", ["クラゲ", "ヒトデ"]),  # 両方 points back
        ("やっほー！猫もっと", "KB O B O", ["猫"]),  # a greeting
        ("それもっと", "KB O", []),  # only points back: the reader looks before it
        ("ホラーはいいから、ほのぼの系ちょうだい", "KB O O O O B O O", ["ホラー", "ほのぼの"]),
    ],
)
def test_words_that_say_when_are_not_the_topic_beside_one(text, tags, kept):
    text = normalise(text)
    tokens = load_tokenizer().tokenize(text)
    assert len(tokens) == len(tags.split()), [t.text for t in tokens]
    clauses = drop_cue_concepts(clauses_from_tags(tokens, tags.split()), tokens)
    assert [text[s:e] for c in clauses for s, e in c.concepts] == kept


@pytest.mark.parametrize(
    ("text", "tagged", "concepts"),
    [
        ("虫はダメだけど、蝶ならむしろもっと", ["虫"], ["虫", "蝶"]),
        ("猫は減らしてほしいけど、犬は好き", ["猫"], ["猫", "犬"]),
        ("猫は好きだけど、最近は多すぎ", ["猫"], ["猫"]),  # 最近 says when
        ("猫は好きだけど、犬も好き", ["猫"], ["猫"]),  # no contrast of polarity
        ("もっと猫、ホラーはいらない", ["猫"], ["猫", "ホラー"]),  # halves cut by a comma
        ("猫、犬はいらない", ["猫"], ["猫"]),  # a list: the first half asks nothing
    ],
)
def test_the_unmarked_topic_of_a_contrast_is_a_concept(text, tagged, concepts):
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    tokens = load_tokenizer().tokenize(text)
    (clause,) = mark_contrasted_topics([Clause(0, len(text), spans)], tokens)
    assert [text[s:e] for s, e in clause.concepts] == concepts


@pytest.mark.parametrize(
    ("text", "tagged", "halves"),
    [
        # (clause spans as tagged, their concepts) → (clause text, concepts, replaced) after
        ("猫の動画を犬の動画に変えてほしい", [("猫の動画を犬の動画に変えてほしい", ["猫"])],
         [("猫の動画を", ["猫"], True), ("犬の動画に変えてほしい", ["犬"], False)]),
        ("ホラーをコメディに替えて", [("ホラーをコメディに替えて", ["ホラーをコメディ"])],
         [("ホラーを", ["ホラー"], True), ("コメディに替えて", ["コメディ"], False)]),
        ("スポーツを、アニメに切り替えて",
         [("スポーツを", ["スポーツ"]), ("アニメに切り替えて", ["アニメ"])],
         [("スポーツを", ["スポーツ"], True), ("アニメに切り替えて", ["アニメ"], False)]),
        # A time is no thing replaced; a negated verb replaces nothing.
        ("夜はASMRに変えて", [("夜はASMRに変えて", [])], [("夜はASMRに変えて", ["ASMR"], False)]),
        ("猫を犬に変えないで", [("猫を犬に変えないで", ["猫"])],
         [("猫を犬に変えないで", ["猫"], False)]),
        ("猫と犬を入れ替えて", [("猫と犬を入れ替えて", ["猫", "犬"])],
         [("猫と犬を入れ替えて", ["猫", "犬"], False)]),
        # With と and the other thing in the next clause, the thing before と is replaced.
        ("ゲーム実況と入れ替えで、ジブリっぽいの",
         [("ゲーム実況と入れ替えで", ["ゲーム実況"]), ("ジブリっぽいの", ["ジブリ"])],
         [("ゲーム実況と入れ替えで", ["ゲーム実況"], True), ("ジブリっぽいの", ["ジブリ"], False)]),
        ("猫と入れ替えて", [("猫と入れ替えて", ["猫"])], [("猫と入れ替えて", ["猫"], False)]),
    ],
)  # fmt: skip
def test_a_thing_put_in_anothers_place_splits_off_as_replaced(text, tagged, halves):
    tokens = load_tokenizer().tokenize(text)

    def clause(words, concepts):
        start = text.index(words)
        spans = tuple((text.index(c), text.index(c) + len(c)) for c in concepts)
        return Clause(start, start + len(words), spans)

    found = split_replacements([clause(w, c) for w, c in tagged], tokens)
    assert [
        (text[c.start : c.end], [text[s:e] for s, e in c.concepts], c.replaced) for c in found
    ] == halves


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("猫の動画を犬の動画に変えてほしい", "猫", "犬"),
        ("ホラーからコメディに切り替えて", "ホラー", "コメディ"),
        ("料理動画を旅行動画に差し替えてください", "料理", "旅行"),
        ("ニュースを音楽に置き換えてほしい", "ニュース", "音楽"),
        ("実写から水彩風に変えてほしい", "実写", "水彩"),  # に after 風 is the copula's
    ],
)
def test_a_thing_replaced_is_less_and_its_replacement_more(reader, text, first, second):
    """Read whole, the one concept the tagger marked took the ask for more."""
    assert ops(reader, text) == [("suppress", first), ("boost", second)]


def test_a_thing_switched_out_or_out_with_is_less_and_what_comes_in_more(reader):
    """Read whole, "switch X out for Y" asked for more of both, and "out with X, in with
    Y" (the tagger leaving Y unmarked) for more of X."""
    assert ops(reader, "Switch the football highlights out for F1 please") == [
        ("suppress", "football highlights"),
        ("boost", "f1"),
    ]
    (out, thing), (op, put_in) = ops(reader, "out with the roblox, in with stardew")
    assert (out in NEGATIVE, thing) == (True, "roblox")
    assert (op, put_in) == ("boost", "stardew")


def test_what_is_granted_beside_a_request_asks_nothing(reader):
    """A dislike denied ("not that I hate horror") was read as less of it, and 「嫌いじゃない
    けど」 as more."""
    assert ops(reader, "It's not that I hate horror, I just want more cozy stuff right now") == [
        ("boost", "cozy")
    ]
    assert [
        phrase for _, phrase in ops(reader, "ホラー自体は嫌いじゃないけど、グロいのは無理")
    ] == ["グロい"]


def test_the_last_items_of_a_list_after_a_comma_keep_its_op(reader):
    assert ops(reader, "cut down on the memes, the skits and the fails") == [
        ("suppress", "memes"),
        ("suppress", "skits"),
        ("suppress", "fails"),
    ]


def test_a_thing_made_a_condition_is_anything_but_or_nothing_but(reader):
    assert ops(reader, "show me whatever unless it's gambling stuff") == [("exclude", "gambling")]
    assert ops(reader, "雪景色じゃないなら、別に見なくていいや") == [("only", "雪景色")]


@pytest.mark.parametrize(
    ("text", "concept", "granted"),
    [
        ("i don't mind the occasional car review", "car review", True),
        ("it's not that I hate horror", "horror", True),
        ("ホラー自体は嫌いじゃないけど", "ホラー", True),
        ("ゲーム実況は嫌いじゃないです", "ゲーム実況", True),
        ("i wouldn't mind some cat videos", "cat videos", False),  # asks for them
        ("猫は嫌いじゃないよ、もっと見たい", "猫", False),  # asks for more in words
        ("カエル苦手なんだよね", "カエル", False),  # ん is the explanatory の
        ("i hate horror", "horror", False),
        ("not against travel vlogs at all", "travel vlogs", True),
        ("nothing wrong w space stuff", "space stuff", True),
        ("アニメが嫌ってわけじゃなくて", "アニメ", True),
        ("ピクセルアートは文句ないっす", "ピクセルアート", True),
        ("猫は嫌", "猫", False),
        ("ホラーは嫌いやないけど", "ホラー", True),
        ("ホラーは嫌いやな", "ホラー", False),  # Kansai: I do dislike it
    ],
)
def test_a_dislike_denied_grants_a_thing_without_asking_for_it(text, concept, granted):
    tokens = load_tokenizer().tokenize(text)
    a = text.index(concept)
    assert grants(Clause(0, len(text), ((a, a + len(concept)),)), tokens) is granted


def test_an_understatement_is_no_grant():
    """「むしろ」 after a denied dislike says the writer wants it."""
    text = "バレエ嫌いじゃないし、むしろ見たい"
    tokens = load_tokenizer().tokenize(text)
    cut = text.index("、")
    assert not grants(Clause(0, cut, ((0, 3),)), tokens)


@pytest.mark.parametrize(
    ("text", "concept", "reading"),
    [
        ("show me whatever unless it's gambling stuff", "gambling", "exclude"),
        ("unless it's espresso I'm not interested", "espresso", "only"),
        ("雪景色じゃないなら、別に見なくていいや", "雪景色", "only"),
        ("猫じゃないと見ない", "猫", "only"),
        ("more cats unless they're sad", "cats", ""),  # no condition on cats
        ("雪景色じゃないなら見たい", "雪景色", ""),  # nothing refused after it
        ("if it's not space related don't bother showing me", "space", "only"),
        ("if it's not too much trouble, more cats", "cats", ""),
        ("ペンギン出てこないなら別に流さなくていいよ", "ペンギン", "only"),
        ("アニメ調のやつ以外は今いらんわ", "アニメ調", "only"),
        ("猫以外ならなんでもいい", "猫", ""),  # anything but: the networks' own reading
    ],
)
def test_a_thing_made_a_condition_reads_as_anything_but_or_nothing_but(text, concept, reading):
    tokens = load_tokenizer().tokenize(text)
    a = text.index(concept)
    assert unless_reading(Clause(0, len(text), ((a, a + len(concept)),)), tokens) == reading


def _spans(text: str, *things: str) -> tuple[tuple[int, int], ...]:
    return tuple((text.index(t), text.index(t) + len(t)) for t in things)


@pytest.mark.parametrize(
    ("text", "tagged", "thing"),
    [
        ("whenever needles come up, bail", "needles", "needles"),
        ("the moment a clown shows up, next", "clown", "clown"),
        ("got a surgery close-up? auto-skip", "surgery close-up", "surgery close-up"),
        ("any time there's a jump scare, pass it on by", "jump scare", "jump scare"),
        ("if it's got a storytime caption, don't even load it", "storytime", "storytime"),
        ("咀嚼音が聞こえたら即飛ばしで頼む", "咀嚼音が聞こえたら即飛ばし", "咀嚼音"),
        ("サムネに血が見えたら問答無用で次へ", "血", "血"),
        ("事故の映像が出たらスキップ", None, "事故"),
        ("ピエロが出た瞬間、次お願いします", "ピエロ", "ピエロ"),
        # no skip, or the condition or the skip denied: no thing skipped
        ("if there are otters, i'm happy", "otters", None),
        ("if there are otters don't skip them", "otters", None),
        ("if it's not cats, skip it", "cats", None),
        ("猫が出たらスキップしないで", "猫", None),
        ("猫が出たら嬉しい", "猫", None),
        ("次の猫動画", "猫", None),
        # a thing named after the skip is asked for in its own words
        ("whenever there's gore, skip, and more otters", ("gore", "otters"), None),
    ],
)  # fmt: skip
def test_a_thing_that_makes_a_clip_skipped_is_found(text, tagged, thing):
    """The networks read "whenever needles come up, bail" as more needles."""
    tokens = load_tokenizer().tokenize(text)
    things = (tagged,) if isinstance(tagged, str) else tagged or ()
    clause = Clause(0, len(text), _spans(text, *things))
    found = skipped_when(clause, tokens)
    assert (found and text[found[0] : found[1]]) == thing


def test_a_skip_in_the_clause_after_counts():
    text = "if there's a spider in it, skip it"
    tokens = load_tokenizer().tokenize(text)
    first, then = Clause(0, 25, _spans(text, "spider")), Clause(27, len(text), ())
    assert skipped_when(first, tokens) is None
    assert skipped_when(first, tokens, then) == _spans(text, "spider")[0]


@pytest.mark.parametrize(
    ("text", "complains"),
    [
        ("ここって料理以外なんもないの？", True),
        ("ペット以外に見るもんないんか？", True),
        ("料理以外の選択肢はないんか", True),
        ("料理以外いらない", False),  # all but cooking refused: only cooking
        ("料理以外で", False),
        ("料理以外ないけど、まあいいか", False),
    ],
)
def test_asking_whether_there_is_nothing_but_a_thing_complains_of_it(text, complains):
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "料理" if "料理" in text else "ペット"))
    assert asks_if_nothing_but(clause, tokens) is complains


def test_what_follows_a_letters_closing_words_is_no_thing_to_see():
    text = "more classical guitar recitals, please. kind regards, harold"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "classical guitar recitals", "harold"))
    (out,) = drop_cue_concepts([clause], tokens)
    assert out.concepts == _spans(text, "classical guitar recitals")
    (listed,) = split_listed_items([out], tokens)
    assert listed.concepts == out.concepts  # "kind regards" and "harold" are no items
    for text in ("more cheerleading, and more regattas", "more crowd cheers"):
        assert _signed_off_at(load_tokenizer().tokenize(text)) is None


@pytest.mark.parametrize(
    ("text", "never"),
    [
        ("too many otters? not possible", True),
        ("too much jazz? nope", True),
        ("too many otters? yes, less please", False),
        ("too many otters lately", False),
    ],
)
def test_a_question_of_too_many_denied_asks_for_more(text, never):
    tokens = load_tokenizer().tokenize(text)
    thing = "otters" if "otters" in text else "jazz"
    assert never_too_many(Clause(0, len(text), _spans(text, thing)), tokens) is never


@pytest.mark.parametrize(
    ("text", "tagged", "thing"),
    [
        ("sneakers otoh? bring em", "sneakers otoh", "sneakers"),
        ("juggling however i'll take all day", "juggling however", "juggling"),
        ("cloud timelapses tho", "cloud timelapses tho", "cloud timelapses"),
    ],
)  # fmt: skip
def test_the_turn_of_a_sentence_is_no_part_of_the_thing(text, tagged, thing):
    tokens = load_tokenizer().tokenize(text)
    (out,) = drop_cue_concepts([Clause(0, len(text), _spans(text, tagged))], tokens)
    assert out.concepts == _spans(text, thing)


def test_a_letter_before_a_slash_is_shorthand_not_a_thing():
    text = "skip anything w/ fake tans in it"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "w", "fake tans"))
    (out,) = drop_cue_concepts([clause], tokens)
    assert out.concepts == _spans(text, "fake tans")


@pytest.mark.parametrize(
    ("text", "thing", "example"),
    [
        ("more pixel art, especially the little animated towns", "animated towns", True),
        ("ホラー減らして、特にジャンプスケア", "ジャンプスケア", True),
        ("more penguin videos, the waddling ones", "waddling", True),
        ("more stop motion, like the old Christmas specials", "old Christmas specials", True),
        ("more lock picking, the lawyer guy especially", "lawyer guy", True),
        ("more cats, kittens especially", "kittens", True),
        ("ホラー減らして、中でもゾンビ", "ゾンビ", True),
        # its own ask, a list's next item, a pause
        ("猫もっと、特に子猫は無理", "子猫", False),
        ("show me the pottery clips and the glassblowing ones", "glassblowing", False),
        ("replace the pranks with like, wildlife rescues", "wildlife rescues", False),
        ("more owls, and hawks", "hawks", False),
    ],
)  # fmt: skip
def test_an_example_of_the_thing_asked_for_is_found(text, thing, example):
    """Read alone, 「特にジャンプスケア」 was more jump scares after 「ホラー減らして」."""
    tokens = load_tokenizer().tokenize(text)
    a = text.index(thing)
    start = max(text.rfind(mark, 0, a) for mark in (", ", "、", " and ", " with ")) + 1
    start = next(t.start for t in tokens if t.start >= start and t.text.strip(",、"))
    clause = Clause(start, len(text), ((a, a + len(thing)),))
    assert narrows_the_last(clause, tokens) is example


def test_an_example_after_a_comma_is_cut_from_the_ask():
    text = "more penguin videos, the waddling ones"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "penguin", "waddling"))
    first, then = split_examples([clause], tokens)
    assert text[first.start : first.end] == "more penguin videos"
    assert then.concepts == _spans(text, "waddling")
    text = "more owls, hawks and falcons"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "owls", "hawks", "falcons"))
    assert split_examples([clause], tokens) == [clause]


@pytest.mark.parametrize(
    ("text", "thing", "offered"),
    [
        ("science experiments instead", "science experiments", True),
        ("instead science experiments", "science experiments", True),
        ("ゲーム減らして、代わりに科学の実験を", "科学の実験", True),
        ("ゲーム減らして。その代わり科学の実験", "科学の実験", True),
        ("ゲーム減らして。代わりに科学の実験を", "科学の実験", True),
        ("cartoons instead of dogs", "cartoons", False),
        ("恐竜の代わりに猫を見せて", "恐竜", False),
        ("ゲーム減らして、代わりに科学の実験もいらない", "科学の実験", False),
        ("science experiments, please", "science experiments", False),
    ],
)  # fmt: skip
def test_a_thing_offered_instead_is_found(text, thing, offered):
    """ "fewer pranks, science experiments instead" was less of both."""
    tokens = load_tokenizer().tokenize(text)
    a = text.index(thing)
    start = max(text.rfind("、", 0, a), text.rfind("。", 0, a)) + 1
    if start and text[start:].startswith("代わりに"):
        start += len("代わりに")  # the tagger's clauses: 「代わりに」 one alone
    clause = Clause(start, len(text), ((a, a + len(thing)),))
    assert offered_instead(clause, tokens) is offered


@pytest.mark.parametrize(
    ("text", "thing", "way"),
    [
        ("crank up the jazz", "jazz", "up"),
        ("could the goals be bumped up?", "goals", "up"),
        ("tone the rap down a bit", "rap", "down"),
        ("turn up the accordion covers", "accordion covers", "up"),
        ("dial the cat videos up a notch", "cat", "up"),
        ("couldn't you ease up on the gym motivation speeches?", "gym motivation speeches", "down"),
        ("stop cranking up the jazz", "jazz", ""),  # a complaint
        ("turn off the pranks, up the cats", "pranks", ""),
        # appearing, denied, no dial
        ("spiders keep turning up in my feed", "spiders", ""),
        ("don't turn up the jazz", "jazz", ""),
        ("more makeup tutorials", "makeup tutorials", ""),
        ("fed up with cooking", "cooking", ""),
    ],
)  # fmt: skip
def test_a_thing_turned_up_or_down_as_a_dial_is(text, thing, way):
    """ "crank up the jazz" was read as no request, "the goals bumped up" as less."""
    tokens = load_tokenizer().tokenize(text)
    assert turned_up_or_down(Clause(0, len(text), _spans(text, thing)), tokens) == way


@pytest.mark.parametrize(
    ("text", "things", "closes"),
    [
        ("balloons or paragliding, either is great, more", ("balloons", "paragliding"), True),
        ("my wife thinks true crime is creepy, I think it's great, more", ("true crime",), True),
        ("ホラーは好き、もっと", ("ホラー",), True),
        ("no cats, more", ("cats",), False),  # a negator before
        ("cats are boring, more dogs", ("cats", "dogs"), False),  # a thing after "more"
        ("more cats", ("cats",), False),  # no comma
    ],
)  # fmt: skip
def test_a_clause_that_ends_on_more_alone_asks_for_more(text, things, closes):
    """Both first cases were read as less, of words like "creepy"."""
    tokens = load_tokenizer().tokenize(text)
    assert closes_on_more(Clause(0, len(text), _spans(text, *things)), tokens) is closes


@pytest.mark.parametrize(
    ("text", "many"),
    [
        ("ねこ×100", True),
        ("ねこ×∞", True),
        ("ねこ x10", True),
        ("ねこ×", False),
        ("ねこ×1", False),
        ("ねこ×100はいらない", False),
    ],
)
def test_a_thing_multiplied_is_asked_for_many_times(text, many):
    """「ねこ×100」 was read as no cats, the 「×」 of 「登山×」."""
    tokens = load_tokenizer().tokenize(text)
    assert multiplied(Clause(0, len(text), _spans(text, "ねこ")), tokens) is many


@pytest.mark.parametrize(
    ("text", "tagged", "kept"),
    [
        ("Where can I change the language setting?", "language setting", ()),
        ("アプリの通知が多すぎる", "アプリの通知", ()),
        ("where did the download button go", "download button", ()),
        ("less game updates", "game updates", ("game updates",)),  # clips of updates
        ("more app reviews", "app reviews", ("app reviews",)),
    ],
)  # fmt: skip
def test_a_part_of_the_app_is_no_thing_to_see(text, tagged, kept):
    """ "Where can I change the language setting?" boosted the setting."""
    tokens = load_tokenizer().tokenize(text)
    (out,) = drop_cue_concepts([Clause(0, len(text), _spans(text, tagged))], tokens)
    assert out.concepts == _spans(text, *kept)


@pytest.mark.parametrize(
    ("text", "tagged", "kept"),
    [
        ("ハリネズミ、もっと、おねがい", ("ハリネズミ", "おねがい"), ("ハリネズミ",)),
        ("猫、もっとお願いします", ("猫", "お願いします"), ("猫",)),
        ("この曲なんて名前？めっちゃ好き", ("めっちゃ",), ()),
        ("お疲れさまです。本日もよろしく", ("本日",), ()),
        ("today", ("today",), ()),
        ("めっちゃ猫", ("めっちゃ猫",), ("めっちゃ猫",)),  # a degree inside a thing stays
    ],
)  # fmt: skip
def test_a_please_a_degree_or_a_day_alone_is_no_thing_to_see(text, tagged, kept):
    """「ハリネズミ、もっと、おねがい」 asked for more 「おねがい」 too."""
    tokens = load_tokenizer().tokenize(text)
    (out,) = drop_cue_concepts([Clause(0, len(text), _spans(text, *tagged))], tokens)
    assert out.concepts == _spans(text, *kept)


def test_a_concept_never_runs_across_a_full_stop():
    """「お疲れさまです。本日」 was one thing to see more of."""
    text = "お疲れさまです。本日もよろしく"
    tokens = load_tokenizer().tokenize(text)
    (out,) = drop_cue_concepts([Clause(0, len(text), ((0, text.index("本日") + 2),))], tokens)
    assert out.concepts == ()  # what is left, 「本日」, says when
    text = "hi there. cute otters"
    tokens = load_tokenizer().tokenize(text)
    (out,) = drop_cue_concepts([Clause(0, len(text), ((0, len(text)),))], tokens)
    assert out.concepts == _spans(text, "cute otters")


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("can we start over, my feed is a mess", "start"),
        ("ugh my feed is so boring, reset please", "reset"),
        ("最近おすすめが変、リセットお願い", "リセット"),
        ("first less gaming, then restart my feed", "restart"),
        ("start with cats", None),  # starts nothing over
        ("my feed is a mess", None),
        ("don't reset my feed, just fewer cats", None),
        ("i don't want a restart", None),
        ("ugh no, reset my feed", "reset"),  # the "no" is the comma-part before
        ("初期のポケモンを減らして", None),  # early Pokémon
        ("more cats by default", None),
    ],
)
def test_where_a_clause_asks_to_start_over(text, word):
    tokens = load_tokenizer().tokenize(text)
    at = starts_over(Clause(0, len(text), ()), tokens)
    assert at == (None if word is None else text.index(word))


@pytest.mark.parametrize(
    ("text", "only"),
    [
        ("yo just got back from the gym", False),
        ("just finished my shift", False),
        ("just cats", True),
        ("just baked goods", True),  # the thing itself: "baked goods" only
    ],
)
def test_just_before_a_past_verb_says_when_not_only(text, only):
    """ "yo just got back from the gym 💪 hit me with more calisthenics" read the gym as
    "only", then as less."""
    tokens = load_tokenizer().tokenize(text)
    thing = {"just cats": "cats", "just baked goods": "baked goods"}.get(text)
    clause = Clause(
        0, len(text), _spans(text, thing) if thing else _spans(text, "gym") if "gym" in text else ()
    )
    assert clause_cues(clause, tokens).only is only


def test_a_full_stop_ends_a_sentence_that_asks_beside_another():
    """Cut at the last comma, "jets" went with "more trains"."""
    text = "fewer trucks, tanks, jets. more trains"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "trucks", "tanks", "jets", "trains"))
    parts = split_sentences([clause], tokens)
    assert [text[c.start : c.end] for c in parts] == ["fewer trucks, tanks, jets", "more trains"]
    text = "not sports, comedy. i need a laugh"  # the second sentence only explains
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "sports", "comedy"))
    assert split_sentences([clause], tokens) == [clause]


def test_a_full_stop_ends_a_sentence_before_a_thing_set_against_it():
    """Read whole, "train cab rides" were less, as the skincare routines."""
    text = "so over the skincare routines. train cab rides though? i'd binge those"
    tokens = load_tokenizer().tokenize(text)
    clause = Clause(0, len(text), _spans(text, "skincare routines", "train cab rides"))
    first, then = split_sentences([clause], tokens)
    assert text[first.start : first.end] == "so over the skincare routines"
    assert then.concepts == _spans(text, "train cab rides")


def test_bare_japanese_items_join_the_clause_that_asks_for_all_of_them():
    text = "ゾンビ、ピエロ、人形、どれも無理"
    tokens = load_tokenizer().tokenize(text)
    cuts = [
        Clause(0, 3, _spans(text, "ゾンビ")),
        Clause(4, 7, ((4, 7),)),
        Clause(8, len(text), ((8, 10),)),
    ]
    (joined,) = join_items_before_all(cuts, tokens)
    assert [text[a:b] for a, b in joined.concepts] == ["ゾンビ", "ピエロ", "人形"]
    # English "all" gathers nothing: "it's all drilling noise" complains of one thing.
    text = "cats, dogs, all of them less"
    tokens = load_tokenizer().tokenize(text)
    cuts = [Clause(0, 4, ((0, 4),)), Clause(6, 10, ((6, 10),)), Clause(12, len(text), ())]
    assert len(join_items_before_all(cuts, tokens)) == 3


def test_a_list_cut_at_a_full_stop_or_gathered_by_all_of_them(reader):
    assert ops(reader, "fewer trucks, tanks, jets. more trains") == [
        ("suppress", "trucks"),
        ("suppress", "tanks"),
        ("suppress", "jets"),
        ("boost", "trains"),
    ]
    found = ops(reader, "ゾンビ、ピエロ、人形、どれも無理")
    assert [phrase for _, phrase in found] == ["ゾンビ", "ピエロ", "人形"]
    assert {op for op, _ in found} <= NEGATIVE


def test_out_with_one_thing_in_with_another():
    text = "out with the roblox, in with stardew"
    tokens = load_tokenizer().tokenize(text)
    cut = text.index(",")
    a = text.index("roblox")
    clauses = [Clause(0, cut, ((a, a + 6),)), Clause(cut + 2, len(text), ())]
    first, second = mark_out_with_in_with(clauses, tokens)
    assert first.replaced
    assert [text[b:e] for b, e in second.concepts] == ["stardew"]
    assert puts_in_place(second, first, tokens)


@pytest.mark.parametrize(
    ("text", "first", "second", "puts"),
    [
        ("trade the spy films for some heist films", "spy films", "heist films", True),
        ("can the unboxings be replaced by pottery", "unboxings", "pottery", True),
        ("the fireworks can be swapped for some lanterns", "fireworks", "lanterns", True),
        ("don't replace the owls with bats", "owls", "bats", False),  # negated
        ("no owls with bats", "owls", "bats", False),  # no verb of replacing
        ("switch the football highlights out for F1", "football highlights", "F1", True),
    ],
)
def test_what_is_put_in_the_place_of_another_is_named_after_for_with_or_by(
    text, first, second, puts
):
    tokens = load_tokenizer().tokenize(text)
    a, b = text.index(first), text.index(second)
    cut = next(t.start for t in tokens if t.start > a and t.norm in ("for", "with", "by", "out"))
    before = Clause(0, cut - 1, ((a, a + len(first)),))
    clause = Clause(cut, len(text), ((b, b + len(second)),))
    assert puts_in_place(clause, before, tokens) is puts


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("trade the spy movies for heist movies", "spy movies", "heist movies"),
        ("can the unboxings be replaced by pottery", "unboxings", "pottery"),
    ],
)
def test_a_swap_in_english_is_less_of_one_and_more_of_the_other(reader, text, first, second):
    """The clause after "for" names only its concept: asked about before, as a bare
    clause after a request may be a substitution (`_turns_without_a_cue`)."""
    assert ops(reader, text) == [("suppress", first), ("boost", second)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gardening ↑ golf ↓", [("boost", "gardening"), ("suppress", "golf")]),
        ("釣り↑ 登山↓", [("boost", "釣り"), ("suppress", "登山")]),
    ],
)
def test_a_sign_after_an_item_is_a_word_of_its_clause(reader, text, expected):
    """Alone, "golf ↓" would name only its item, and a bare item read against the one
    before is asked about; the arrow says which way it goes."""
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ペンギンよりアザラシが見たい", [("boost", "アザラシ")]),
        ("和菓子よりも洋菓子の動画が好き", [("boost", "洋菓子")]),
        # The item compared away is asked about only where a clause asks it.
        (
            "ジャズよりクラシック。ジャズは減らして",
            [("boost", "クラシック"), ("suppress", "ジャズ")],
        ),
        ("猫をより多く見たい", [("boost", "猫")]),  # より of degree compares nothing
    ],
)
def test_a_comparison_asks_for_what_is_preferred(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "tagged", "halves"),
    [
        ("ペンギンよりアザラシが見たい", ["ペンギン"],
         [("ペンギンより", ["ペンギン"], True), ("アザラシが見たい", ["アザラシ"], False)]),
        ("実写よりもアニメ風の方が見たい", ["実写"],
         [("実写よりも", ["実写"], True), ("アニメ風の方が見たい", ["アニメ風"], False)]),
        ("猫をより多く見たい", ["猫"], [("猫をより多く見たい", ["猫"], False)]),
    ],
)  # fmt: skip
def test_a_comparison_in_one_clause_is_cut_after_yori(text, tagged, halves):
    tokens = load_tokenizer().tokenize(text)
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    found = split_comparisons([Clause(0, len(text), spans)], tokens)
    assert [
        (text[c.start : c.end], [text[s:e] for s, e in c.concepts], compared_away(c, tokens))
        for c in found
    ] == halves


@pytest.mark.parametrize(
    ("text", "preferred", "below"),
    [
        ("cats are better than dogs, fight me", "cats", "dogs"),
        ("rally racing is way more fun to watch than F1", "rally racing", "f1"),
        ("i'd choose a documentary over a vlog any day of the week", "documentary", "vlog"),
        ("origami beats painting for me", "origami", "painting"),
        ("寿司＞焼肉", "寿司", "焼肉"),
        ("I prefer wild animals to dressed-up pets", "wild animals", "pets"),
    ],
)
def test_an_english_comparison_never_asks_for_what_it_sets_below(reader, text, preferred, below):
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, preferred)
    assert not asks_for(readings, POSITIVE | NEGATIVE, below)


@pytest.mark.parametrize(
    ("text", "dreaded"),
    [
        ("if I see one more ASMR slime I'll scream", "slime"),
        ("one more gender reveal and I'm throwing my phone", "gender reveal"),
        ("I'd hate to get even more knife sharpening", "knife sharpening"),
        ("more horror would be terrible", "horror"),
        ("激辛チャレンジがこれ以上増えたら悲しい", "激辛チャレンジ"),
    ],
)
def test_more_of_what_the_writer_dreads_is_never_asked_for(reader, text, dreaded):
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, dreaded.lower())
    assert not asks_for(readings, POSITIVE, dreaded.lower())


@pytest.mark.parametrize(
    ("text", "wanted"),
    [("I wouldn't hate more horror", "horror"), ("one more cat video and I'm happy", "cat")],
)
def test_more_not_dreaded_stays_an_ask(reader, text, wanted):
    assert not asks_for(every_reading(reader, text), NEGATIVE, wanted)


@pytest.mark.parametrize(
    ("text", "refused", "accepted"),
    [
        ("skateboarding: sure. surfing: nah", "surfing", "skateboarding"),
        ("pasta, fine. eating contests, hard pass", "eating contests", "pasta"),
        ("anime fine, but no more isekai", "isekai", "anime"),
    ],
)
def test_a_word_of_acceptance_is_no_item(reader, text, refused, accepted):
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, refused)
    assert not asks_for(readings, POSITIVE | NEGATIVE, accepted)
    for word in ("sure", "fine", "nah"):
        assert not any(word in phrase.split() for r in readings for _, phrase in r)


@pytest.mark.parametrize(
    ("text", "named", "narrowed"),
    [
        ("cats but not the sad ones", "cats", "sad"),
        ("horror but no gore", "horror", "gore"),
        ("sushi but not raw fish", "sushi", "raw fish"),
        ("cats and dogs but not the sad ones", "dogs", "sad"),
    ],
)
def test_a_turn_that_narrows_an_item_never_refuses_it(reader, text, named, narrowed):
    """ "X but not Y": the negator reads only what follows it."""
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, narrowed)
    assert not asks_for(readings, NEGATIVE, named)


@pytest.mark.parametrize(
    ("text", "named", "refused"),
    [("cats, not dogs", "cats", "dogs"), ("cats, but not the sad ones", "cats", "sad")],
)
def test_an_item_then_not_another_refuses_only_the_other(reader, text, named, refused):
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, refused)
    assert not asks_for(readings, NEGATIVE, named)


def test_an_adjective_made_a_noun_by_no_names_the_ones_it_describes(reader):
    """「怖いの」 are the scary ones, a thing to refuse beside the dogs; 「怖いので」 is a
    reason, and names nothing."""
    readings = every_reading(reader, "犬、でも怖いのはなし")
    assert asks_for(readings, NEGATIVE, "怖い")
    assert not asks_for(readings, NEGATIVE, "犬")
    readings = every_reading(reader, "クレイアニメは大丈夫、人形はちょっと怖いのでなしで")
    assert not any("怖い" in p for r in readings for _, p in r)


@pytest.mark.parametrize(
    ("text", "thing", "way"),
    [
        ("政治系は下の方に回しといて", "政治", NEGATIVE),
        ("占いはもっと後ろの方でいい", "占い", NEGATIVE),
        ("炎上ネタは最後の方に回してください", "炎上ネタ", NEGATIVE),
        ("占いは後回しで", "占い", NEGATIVE),
        ("unboxings can wait", "unboxings", NEGATIVE),
        ("beekeeping first please", "beekeeping", {"boost"}),
        ("cooking videos last", "cooking", NEGATIVE),
        ("猫を上の方に", "猫", {"boost"}),
    ],
)
def test_a_place_in_the_feed_says_more_or_less(reader, text, thing, way):
    """Higher up the feed is more of a thing, lower down less: 「もっと後ろ」 is further
    down, never more; the place is no part of the thing (「猫を上」)."""
    readings = every_reading(reader, text)
    assert reads_only(readings, way, thing)
    assert not any(p in ("後ろ", "下") or p.endswith("上") for r in readings for _, p in r)


@pytest.mark.parametrize(
    ("text", "things", "way"),
    [
        ("刺繍と編み物を半々くらいにできる？", ("刺繍", "編み物"), {"boost"}),
        ("50/50 anime openings and city pop", ("anime", "city pop"), {"boost"}),
        ("ドッキリ系めちゃくちゃ多いから半分くらいにして", ("ドッキリ",), NEGATIVE),
        ("cut the pranks in half", ("pranks",), NEGATIVE),
        ("toss a couple of language learning tips into the mix", ("language",), {"boost"}),
    ],
)
def test_a_share_of_the_feed_says_more_or_less(reader, text, things, way):
    """An even split asks for each thing; halving one, or mixing one in, says which way."""
    readings = every_reading(reader, text)
    for thing in things:
        assert reads_only(readings, way, thing)


@pytest.mark.parametrize(
    ("text", "thing", "when"),
    [
        ("saturdays: garden makeovers only", "garden makeovers", "saturday"),
        ("no surgery gore before noon", "surgery gore", "noon"),
        ("朝の通勤中はニュース解説だけにして", "ニュース解説", "通勤"),
    ],
)
def test_when_is_no_part_of_what(reader, text, thing, when):
    readings = every_reading(reader, text)
    assert any(phrase == thing for r in readings for _, phrase in r)
    assert not any(when in phrase for r in readings for _, phrase in r)


@pytest.mark.parametrize(
    ("text", "asked", "exception"),
    [
        ("no sports except tennis", "sports", "tennis"),
        ("less of the tech news except the phone teardowns, keep those", "tech news", "phone"),
    ],
)
def test_an_exception_is_no_part_of_the_ask(reader, text, asked, exception):
    readings = every_reading(reader, text)
    assert reads_only(readings, NEGATIVE, asked)
    assert not asks_for(readings, POSITIVE | NEGATIVE, exception)


@pytest.mark.parametrize(
    ("text", "thing"),
    [("never said I wanted fewer sunsets", "sunsets"), ("I did not say less trains", "trains")],
)
def test_a_denied_ask_for_less_is_never_read_as_less_with_no_doubt(reader, text, thing):
    """A negated report of the writer's own ask turns what was asked: at least asked about."""
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("I don't want more bridal try-ons", "bridal"),
        ("i dont really need any more pranks", "pranks"),
        ("would rather not get any more political debate clips", "political"),
        ("my kids don't need to see the monster truck crashes", "monster truck"),
        ("i didn't ask for extreme couponing and yet here we are", "couponing"),
        ("you don't have to show me every single tiktok dance trend", "tiktok"),
        ("how about you don't show me any more roadkill", "roadkill"),
        ("ホラーは見んでええ", "ホラー"),
        ("ヘビの飼育は見らんでいいけん", "ヘビ"),
        ("ホラーは出さんでもええよ", "ホラー"),
        ("開封レビューは必要ありません", "開封"),
        ("誰も星座占いなんて頼んでないよ", "星座占い"),
        ("Unnecessary amount of celebrity baby news lately.", "celebrity baby news"),
    ],
)
def test_no_wish_for_more_and_no_need_to_see_read_as_less(reader, text, thing):
    assert reads_only(every_reading(reader, text), NEGATIVE, thing)


@pytest.mark.parametrize(
    ("text", "thing", "way"),
    [
        ("don't you want more cats?", "cats", POSITIVE),  # a question put to the reader
        ("i don't want the tap dancing to stop, keep it coming", "tap dancing", POSITIVE),
        ("why don't you show me more cats", "cats", POSITIVE),  # a suggestion
        ("cat videos are necessary", "cat", POSITIVE),
        ("猫は減らさなくていい", "猫", POSITIVE),  # no need to see less
        ("ホラー以外は見なくていい", "ホラー", {"only"}),
        ("猫の動画は必要", "猫", {"boost"}),
    ],
)
def test_a_wish_or_need_that_is_no_refusal_is_never_read_as_less(reader, text, thing, way):
    assert asks_for(every_reading(reader, text), way, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("アニメ、見たくないわけじゃないよ", "アニメ"),
        ("盆栽、見たないわけちゃうで。むしろもっと見たいねん", "盆栽"),
        ("鉄道模型、見たくないなんて一言も言ってないよ。増やして", "鉄道模型"),
        ("登山なんていらないなんて、一言も言ってないからね", "登山"),
        ("I wouldn't say no to more penguin documentaries", "penguin"),
        ("never say no to blacksmithing 🔨", "blacksmithing"),
    ],
)
def test_a_refusal_denied_is_never_read_as_less(reader, text, thing):
    """「見たくないわけじゃない」 (not that I don't want to), 「…なんて言ってない」 (never
    said so), "wouldn't say no": the second negation turns the first back."""
    assert reads_only(every_reading(reader, text), POSITIVE, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("how come I never see any drag shows anymore?", "drag shows"),
        ("i don't get any bonsai lately", "bonsai"),
        ("ジャズが流れてこないのは困る", "ジャズ"),
        ("どうして一個もクラシック音楽が出てこないんですか", "クラシック音楽"),
        ("天体観測、もうちょっと流してくれないかな", "天体観測"),
        ("why is there never any claymation anymore", "claymation"),
        ("you can never have too many frog videos", "frog"),
        ("和菓子づくりの動画、いくらあっても困らない", "和菓子づくり"),
        ("too many otters? not possible", "otters"),
    ],
)
def test_a_thing_missed_or_a_favour_asked_is_more(reader, text, thing):
    """What no longer comes up, lamented or asked about, is missed; 「…てくれないかな」
    asks a favour, its negator negating nothing."""
    assert reads_only(every_reading(reader, text), POSITIVE, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [("ホラーが出てこないようにして", "ホラー"), ("猫は流してくれなくていい", "猫"),
     ("ホラーはもう見たくないかな", "ホラー"), ("too many cats lately, less please", "cats")],
)  # fmt: skip
def test_a_thing_kept_away_is_never_read_as_missed(reader, text, thing):
    assert reads_only(every_reading(reader, text), NEGATIVE, thing)


def test_a_kansai_denial_of_a_dislike_is_never_read_as_less_with_no_doubt(reader):
    readings = every_reading(reader, "お笑いが嫌いなんちゃうで、出してくれてええんやで")
    assert asks_for(readings, POSITIVE, "お笑い")


@pytest.mark.parametrize(
    ("text", "thing", "way"),
    [
        ("競艇ってもう少し減らせませんか", "競艇", NEGATIVE),
        ("猫もっと増やせませんか", "猫", {"boost"}),
    ],
)
def test_a_polite_negative_question_is_a_request(reader, text, thing, way):
    """「…ませんか」 asks; its negator negates nothing (「見たくないかな」 still does)."""
    readings = every_reading(reader, text)
    assert reads_only(readings, way, thing)
    assert asks_for(every_reading(reader, "ホラーはもう見たくないかな"), NEGATIVE, "ホラー")


def test_first_and_later_place_only_the_thing_they_follow(reader):
    assert ops(reader, "dogs first, cats later") == [("boost", "dogs"), ("suppress", "cats")]
    assert ops(reader, "turn the zombie stuff up and the bunny stuff down") == [
        ("boost", "zombie"),
        ("suppress", "bunny"),
    ]
    assert ops(reader, "i'm down for more cats") == [("boost", "cats")]
    readings = every_reading(reader, "turn the lo-fi study beats up a notch")
    assert reads_only(readings, POSITIVE, "lo-fi")
    readings = every_reading(reader, "switch the late night talk show monologues off")
    assert reads_only(readings, NEGATIVE, "monologues")
    assert not any(p.endswith("off") for r in readings for _, p in r)
    readings = every_reading(reader, "at first I liked cooking, now less of it")
    assert not asks_for(readings, POSITIVE, "cooking")


@pytest.mark.parametrize(
    ("text", "picked_from", "picked"),
    [
        ("from the travel stuff I only want the night train journeys", "travel", "night train"),
        ("among the history videos, mostly the ancient egypt ones pls", "history", "egypt"),
        ("猫の中でも子猫だけ", "猫", "子猫"),
    ],
)
def test_what_a_request_picks_from_asks_nothing(reader, text, picked_from, picked):
    readings = every_reading(reader, text)
    assert asks_for(readings, POSITIVE, picked)
    assert not any(phrase == picked_from for r in readings for _, phrase in r)


def test_a_turn_after_an_ask_is_no_narrowing(reader):
    """Where the words before the turn ask for something, the clause reads as before."""
    readings = every_reading(reader, "no cats but not the sad ones either")
    assert not asks_for(readings, POSITIVE, "cats")


@pytest.mark.parametrize(
    ("text", "more", "less"),
    [
        ("+ sushi, - burgers", "sushi", "burgers"),
        ("+sushi -burgers", "sushi", "burgers"),
        ("more sushi, - burgers", "sushi", "burgers"),
        ("more anime, -horror", "anime", "horror"),
        ("+capybaras -geese", "capybaras", "geese"),  # "geese" left unmarked by a tagger
        ("piano++ country--", "piano", "country"),  # a run of one sign is one sign
    ],
)
def test_a_sign_before_an_item_says_more_or_less(reader, text, more, less):
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, more) and not asks_for(readings, NEGATIVE, more)
    assert asks_for(readings, NEGATIVE, less) and not asks_for(readings, POSITIVE, less)
    assert not any("-" in phrase or "+" in phrase for r in readings for _, phrase in r)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("no anti-war stuff", [("exclude", "anti-war")]), ("more lo-fi", [("boost", "lo-fi")])],
)
def test_a_hyphen_inside_a_word_is_no_sign(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("このところ野球の動画ばかりで困っています", "野球"),
        ("ラーメンの動画ばっかり見せんで", "ラーメン"),
        ("ラーメンばっかり見せないで", "ラーメン"),
    ],
)
def test_all_of_one_thing_as_a_complaint_asks_for_less(reader, text, thing):
    """「ばかり」 followed by how it is, or by a refusal to show, complains of the thing."""
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, thing)
    assert not asks_for(readings, POSITIVE, thing)


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("最近料理動画が多い気がするのでバランスよくお願いします", "料理"),
        ("株式投資の動画が少々多いように存じますので、調整をお願い申し上げます", "株式投資"),
    ],
)
def test_saying_there_is_a_lot_of_a_thing_asks_for_less(reader, text, thing):
    """「Xが多い」 complains, however politely the request after it is put."""
    assert never_more(every_reading(reader, text), thing)


@pytest.mark.parametrize("text", ["猫が多いのが嬉しい、もっとお願いします", "猫をもっと多く見せて"])
def test_liking_a_lot_of_a_thing_stays_more(reader, text):
    assert not asks_for(every_reading(reader, text), NEGATIVE, "猫")


@pytest.mark.parametrize("text", ["猫ばっかり見せて", "猫ばかりにして", "猫ばっかりがいい"])
def test_all_of_one_thing_asked_for_is_only(reader, text):
    assert not asks_for(every_reading(reader, text), NEGATIVE, "猫")


def test_net_slang_at_a_sentence_end_is_no_item(reader):
    readings = every_reading(reader, "筋トレ系もう飽きたンゴ")
    assert asks_for(readings, NEGATIVE, "筋トレ")
    assert not any("ンゴ" in phrase for r in readings for _, phrase in r)


def test_iya_yappari_takes_back_what_was_asked(reader):
    """「いや、やっぱ(り)」 takes back the clause before it; the 嫌 of 「ホラーはいや」 does not."""
    readings = every_reading(reader, "犬もっと、いややっぱり猫で")
    assert not asks_for(readings, POSITIVE | NEGATIVE, "犬")
    assert asks_for(every_reading(reader, "ホラーはいや"), NEGATIVE, "ホラー")


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("don't give me fewer cats", "cats"),
        ("猫を減らしてほしくない", "猫"),
        ("猫の動画減らしてほしいわけじゃない", "猫"),
    ],
)
def test_a_negated_request_for_less_is_never_read_as_less(reader, text, thing):
    """The negator turns the verb of less, not the wish after it (「ほしくない」) or the
    words before it ("give me"): the clause's cues say more, and the reader never reads
    less with no doubt."""
    cues = clause_cues(Clause(0, len(text), ()), load_tokenizer().tokenize(text))
    assert cues.positive and not cues.negative and cues.negated_refusal
    readings = every_reading(reader, text)
    assert not (len(readings) == 1 and asks_for(readings, NEGATIVE, thing))


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("うちの子が最近寝なくて疲れてるので、癒し系の動物動画ください", "癒し系の動物"),
        ("もっとクラシック音楽流して、赤ちゃん寝かしつけ中なの", "クラシック音楽"),
    ],
)
def test_a_japanese_reason_or_state_beside_a_request_asks_nothing(reader, text, wanted):
    assert every_reading(reader, text) == [[("boost", wanted)]]


def test_someone_elses_taste_then_a_request_that_points_back(reader):
    text = "my boyfriend is obsessed with monster trucks but please keep them out of my feed"
    readings = every_reading(reader, text)
    assert asks_for(readings, NEGATIVE, "monster trucks")
    assert not asks_for(readings, POSITIVE, "monster trucks")


@pytest.mark.parametrize(
    ("text", "op_kinds", "thing"),
    [
        ("夫が戦車の動画にハマってるけど、私は見たくない", NEGATIVE, "戦車"),
        ("my husband loves 戦隊もの but I'm not into it, 減らして", NEGATIVE, "戦隊"),
        ("娘がスライムにハマってて私も見たくなった、増やして", POSITIVE, "スライム"),
    ],
)
def test_the_writers_turn_after_someone_elses_taste_is_about_what_they_like(
    reader, text, op_kinds, thing
):
    """The tagger marks nothing in such a message; the thing liked is found in the report."""
    readings = every_reading(reader, text)
    assert asks_for(readings, op_kinds, thing)
    assert not asks_for(readings, (POSITIVE | NEGATIVE) - op_kinds, thing)


def test_what_others_say_of_a_thing_asks_nothing(reader):
    """What friends say of a thing is no request of the writer's; the turn after it is."""
    readings = every_reading(
        reader, "friends say birdwatching is boring. I want more birdwatching."
    )
    assert asks_for(readings, {"boost"}, "birdwatching")
    assert not asks_for(readings, NEGATIVE, "birdwatching")


@pytest.mark.parametrize("text", ["息子が勝手に私のアカウントで見てたみたい笑"])
def test_a_report_of_someone_else_alone_asks_nothing(reader, text):
    with pytest.raises(InstructionError):
        parse_instruction(text, reader)


def test_a_state_told_after_a_request_asks_nothing(reader):
    """A state told after a request ("kids are around") tells why; it asks nothing."""
    assert every_reading(reader, "no slasher stuff tonight, kids are around") == [
        [("exclude", "slasher")]
    ]
    # what a clause carries on from the one before still asks
    assert asks_for(every_reading(reader, "the penguins are great, so are the puffins"),
                    {"boost"}, "puffins")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "tagged", "halves"),
    [
        ("cats are better than dogs", ["cats", "dogs"],
         [("cats are better", ["cats"], False), ("than dogs", ["dogs"], True)]),
        ("watercolor over photoreal any day", ["watercolor over photoreal"],
         [("watercolor", ["watercolor"], False), ("over photoreal any day", ["photoreal"], True)]),
        ("I'll take rain over sunshine scenes, the sunny beach stuff is getting old",
         ["rain over sunshine scenes", "sunny beach"],
         [("I'll take rain", ["rain"], False), ("over sunshine scenes", ["sunshine scenes"], True),
          (", the sunny beach stuff is getting old", ["sunny beach"], False)]),
        ("I prefer cats to dogs", ["cats to dogs"],
         [("I prefer cats", ["cats"], False), ("to dogs", ["dogs"], True)]),
        # Not comparisons of two things.
        ("more sunsets over the sea", ["sunsets over the sea"],
         [("more sunsets over the sea", ["sunsets over the sea"], False)]),
        ("anything other than horror", ["horror"],
         [("anything other than horror", ["horror"], False)]),
        ("I prefer to watch cats", ["cats"], [("I prefer to watch cats", ["cats"], False)]),
        # A side that names nothing leaves the clause whole.
        ("I'd rather watch paint dry than another unboxing video", ["unboxing"],
         [("I'd rather watch paint dry than another unboxing video", ["unboxing"], False)]),
    ],
)  # fmt: skip
def test_an_english_comparison_is_cut_between_its_two_things(text, tagged, halves):
    tokens = load_tokenizer().tokenize(text)
    spans = tuple((text.index(c), text.index(c) + len(c)) for c in tagged)
    found = split_english_comparisons([Clause(0, len(text), spans)], tokens)
    read = [
        (text[c.start : c.end], [text[s:e] for s, e in c.concepts], c.set_aside == "before")
        for c in found
    ]
    assert read == halves


@pytest.mark.parametrize(
    ("text", "chosen", "not_chosen"),
    [
        ("between trains and planes, trains every time", "trains", "planes"),
        ("if it's between hip hop and k-pop, hip hop", "hip hop", "k-pop"),
        ("油絵と水彩なら油絵かな", "油絵", "水彩"),
        ("if I had to pick, hamsters", "hamsters", "pick"),
    ],
)
def test_a_choice_asks_for_the_one_chosen_and_not_the_options(reader, text, chosen, not_chosen):
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, chosen)
    assert not asks_for(readings, POSITIVE | NEGATIVE, not_chosen)


def _nth(text: str, word: str, n: int = 0) -> tuple[int, int]:
    """The span of the n-th `word` in `text`."""
    start = -1
    for _ in range(n + 1):
        start = text.index(word, start + 1)
    return start, start + len(word)


@pytest.mark.parametrize(
    ("text", "tagged", "parts"),
    [
        ("between trains and planes, trains every time", [("planes", 0), ("trains", 1)],
         [("between trains and planes", ["planes"], True),
          (", trains every time", ["trains"], False)]),
        ("焼肉か寿司なら寿司一択", [("焼肉", 0), ("寿司なら寿司", 0)],
         [("焼肉か寿司なら", ["焼肉", "寿司"], True), ("寿司一択", ["寿司"], False)]),
        ("油絵と水彩なら油絵かな", [("油絵", 0), ("水彩", 0)],
         [("油絵と水彩なら", ["油絵", "水彩"], True), ("油絵かな", ["油絵"], False)]),
        # No choice: a condition on one thing, "between" of place.
        ("雨なら猫の動画", [("雨", 0), ("猫", 0)], [("雨なら猫の動画", ["雨", "猫"], False)]),
        ("cats sleeping between the couch and the bed, and dogs",
         [("cats sleeping between the couch and the bed", 0), ("dogs", 0)],
         [("cats sleeping between the couch and the bed, and dogs",
           ["cats sleeping between the couch and the bed", "dogs"], False)]),
    ],
)  # fmt: skip
def test_a_choice_is_cut_after_its_options(text, tagged, parts):
    tokens = load_tokenizer().tokenize(text)
    spans = tuple(_nth(text, word, n) for word, n in tagged)
    found = split_choices([Clause(0, len(text), spans)], tokens)
    read = [
        (text[c.start : c.end], [text[s:e] for s, e in c.concepts], c.set_aside == "after")
        for c in found
    ]
    assert read == parts


@pytest.mark.parametrize(
    ("text", "preferred", "below"),
    [
        # より after a latin word, which Sudachi alone reads as the adverb.
        ("ramen より soba が見たい", "soba", "ramen"),
        ("ホラー見るくらいならミステリーの方がいい", "ミステリー", "ホラー"),
        ("サメ映画を観るくらいだったら本物のサメが見たい", "本物のサメ", "サメ映画"),
    ],
)
def test_a_japanese_comparison_asks_for_what_it_prefers(reader, text, preferred, below):
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, preferred)
    assert not asks_for(readings, POSITIVE | NEGATIVE, below)


def test_rather_than_naming_nothing_after_it_still_refuses(reader):
    readings = every_reading(reader, "ボクシングを見るくらいなら寝る")
    assert reads_only(readings, NEGATIVE, "ボクシング")


@pytest.mark.parametrize(
    ("text", "more", "less"),
    [
        ("怪獣映画の代わりに恐竜の化石発掘が見たい", "恐竜の化石発掘", "怪獣映画"),
        ("anything vintage instead of the ai slop remixes pls", "vintage", "slop"),
        ("お化け屋敷はいいから水族館にして", "水族館", "お化け屋敷"),
        ("ホラーはもういいから、コメディを見せて", "コメディ", "ホラー"),
    ],
)
def test_one_thing_in_place_of_another_asks_more_of_it_and_never_more_of_the_other(
    reader, text, more, less
):
    readings = every_reading(reader, text)
    assert asks_for(readings, {"boost"}, more)
    assert not asks_for(readings, POSITIVE, less)


def test_what_instead_of_names_is_never_the_thing_asked_for(reader):
    """The thing after "instead of" untagged: the clause never points back to the first."""
    found = ops(reader, "give me capybaras instead of the 400th golden retriever")
    assert ("boost", "capybaras") in found
    assert not [op for op, phrase in found if phrase == "capybaras" and op in NEGATIVE]


def test_the_tagger_s_own_cut_before_than_sets_the_second_thing_below():
    text = "rather cats than dogs"
    tokens = load_tokenizer().tokenize(text)
    first, second = Clause(0, 11, ((7, 11),)), Clause(12, len(text), ((17, 21),))
    found = split_english_comparisons([first, second], tokens)
    assert [c.set_aside for c in found] == ["", "before"]


@pytest.mark.parametrize(
    ("text", "concept", "prefers"),
    [
        ("猫の動画を見ると眠くなるけど、それがいい", "猫", True),
        ("やっぱり猫が一番", "猫", True),
        ("テニスが最高", "テニス", True),
        ("猫はいい", "猫", False),  # declines
        ("猫はいいね", "猫", False),  # agrees it is nice (agrees_it_is_nice)
        ("猫が見たい", "猫", False),
    ],
)
def test_ga_before_good_says_which_is_preferred(text, concept, prefers):
    tokens = load_tokenizer().tokenize(text)
    start = text.index(concept)
    clause = Clause(0, len(text), ((start, start + len(concept)),))
    assert prefers_it(clause, tokens) is prefers


def test_a_clause_that_prefers_with_ga_is_never_read_as_less_without_asking(reader):
    """The op networks read 「見ると…けど」 as a complaint; 「それがいい」 says it is the point."""
    try:
        found = ops(reader, "猫の動画を見ると眠くなるけど、それがいい")
    except AmbiguousInstruction:
        found = []  # asked which is meant: nothing applied
    assert not {op for op, _ in found} & NEGATIVE


@pytest.mark.parametrize(
    ("text", "theirs"),
    [
        ("my dad only watches golf", True),
        ("my toddler screams at anything with sharks in it", True),
        ("同居人は料理系ばっか見てるけど", True),
        ("うちの子がパトカー大好きなので", True),
        ("my friends and I love hiking", False),  # the writer is among them
        ("my kids want more dinosaurs", False),  # an ask
        ("a friend recommended bonsai and wow, more of that", False),
        ("母がお花を送ってくるけど、私は鉱物が好き", False),  # the writer speaks too
        ("my feed is all cats", False),  # no person
        ("猫が好き", False),
    ],
)
def test_a_clause_about_someone_elses_taste(text, theirs):
    tokens = load_tokenizer().tokenize(text)
    assert about_someone_else(Clause(0, len(text), ()), tokens) is theirs


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts): a report of someone else's taste splits from the
        # writer's own words after "but" or 「けど」.
        ("兄はプロレス好きだけど、私は全然興味ない", "K O B O O O O O O O O O",
         [("兄はプロレス好きだけど", ["プロレス"]), ("私は全然興味ない", [])]),
        ("my brother loves wrestling but i'm not into it", "K O O B O O O O O",
         [("my brother loves wrestling but", ["wrestling"]), ("i'm not into it", [])]),
        # the writer names something after the turn: the contrast is split_contrasts's
        ("母がお花を送ってくるけど、私は鉱物が好き", "K O B I O O O O O O O O B O O",
         [("母がお花を送ってくるけど、私は鉱物が好き", ["お花", "鉱物"])]),
        # no one else's taste before the turn
        ("i love golf but i'm tired of it", "K O B O O O O O",
         [("i love golf but i'm tired of it", ["golf"])]),
    ],
)  # fmt: skip
def test_someone_elses_taste_splits_from_the_writers_turn(text, tags, parts):
    assert step_parts(split_reported_tastes, text, tags) == parts


@pytest.mark.parametrize(
    ("text", "tags", "parts"),
    [
        # (clause text, concepts): a Japanese relative clause the tagger cut off its noun
        ("散らかった台所にいる子犬をもっと", "K O O O O KB O O",
         [("散らかった台所にいる子犬をもっと", ["散らかった台所にいる子犬"])]),
        # punctuation between: a clause of its own
        ("昨日疲れた、犬をもっと", "K O O O KB O O",
         [("昨日疲れた、", []), ("犬をもっと", ["犬"])]),
        # a clause that asks (たい) modifies nothing
        ("猫を見たい犬もっと", "K O O O KB O",
         [("猫を見たい", []), ("犬もっと", ["犬"])]),
    ],
)  # fmt: skip
def test_a_japanese_relative_clause_joins_the_noun_it_modifies(text, tags, parts):
    assert step_parts(join_relative_clauses, text, tags) == parts


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("母は演歌が好きだけど、私はいらない", "演歌"),
        ("my husband is obsessed with tank videos but i don't want to see them", "tank"),
    ],
)
def test_someone_elses_taste_beside_the_writers_refusal_is_refused(reader, text, concept):
    assert ops(reader, text) == [("exclude", concept)]


def test_a_refusal_naming_nothing_after_someone_elses_taste_never_boosts_it(reader):
    """It once boosted the brother's taste. The writer's half names nothing: the reader
    refuses the sentence where the tagger marks nothing at all and no reading of the
    writer's half points back, or reads it as less of what the report named."""
    text = "兄はプロレス好きだけど、私は全然興味ない"
    try:
        readings = every_reading(reader, text)
    except InstructionError:
        return
    assert asks_for(readings, NEGATIVE, "プロレス")
    assert not asks_for(readings, POSITIVE, "プロレス")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("北海道旅行から帰ってきたところ、もっと札幌を見せて", [("boost", "札幌")]),
        ("saw a whale documentary last night, more dolphins", [("boost", "dolphins")]),
        # a refusal told without a cue word the reader knows stays a refusal
        ("事故映像はNG。動物もっと", [("exclude", "事故"), ("boost", "動物")]),
    ],
)
def test_what_the_writer_did_before_a_request_asks_nothing(reader, text, expected):
    """Even where the op networks read it as less ("just got back from X" as fatigue)."""
    assert ops(reader, text) == expected


def test_faces_and_hands_are_moods_animals_and_things_are_not():
    assert [emoji_kind(e) for e in "😂👎💕🥺"] == ["mood"] * 4
    assert [emoji_kind(e) for e in "🐱🤖🍣🚀"] == ["thing"] * 4
    assert emoji_kind("a") == emoji_kind("♪") == ""


def test_japanese_goes_through_the_morphological_analyser():
    tokens = load_tokenizer().tokenize("もう猫はいいや")
    assert [t.text for t in tokens] == ["もう", "猫", "は", "いい", "や"]
    assert tokens[1].pos == "NOUN" and tokens[3].lemma == "いい"


def test_a_kansai_negator_fused_into_a_verb_is_its_own_token():
    tokens = load_tokenizer().tokenize("猫は見せんといて")
    assert [t.text for t in tokens][:4] == ["猫", "は", "見せ", "ん"]
    assert tokens[2].lemma == "見せる" and tokens[3].lemma == "ぬ"
    # 見せんの (見せるの) keeps its verb whole.
    assert "ん" not in [t.text for t in load_tokenizer().tokenize("見せんの好き")]


def test_a_dialect_negator_sudachi_reads_as_something_else_is_a_negator():
    """見んでええ (Kansai) and 見らんでいい (Kyushu): Sudachi reads ん as the nominaliser
    and らん as the classical らむ; after the verb's 連用形 they can only negate it."""
    for text, negator in (("ホラーは見んでええ", "ん"), ("ヘビは見らんでいいけん", "らん")):
        tokens = load_tokenizer().tokenize(text)
        token = next(t for t in tokens if t.text == negator)
        assert (token.lemma, token.pos) == ("ぬ", "AUX")
    # The nominaliser after a verb's 連体形 stays one: 「これ見るんでいいよ」.
    tokens = load_tokenizer().tokenize("これ見るんでいいよ")
    assert next(t for t in tokens if t.text == "ん").pos == "PART"


def test_glossary_prefers_longest_match():
    glossary = Glossary.load()
    assert glossary.translate("クレイアニメ") == "claymation"
    assert glossary.translate("アニメ") == "anime style"
    assert glossary.translate("ふつう") is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("🤡", "clown"),
        ("no 🦈🦈 pls", "no shark shark pls"),
        ("ピエロ🙅\u200d♀️", "ピエロ with no good gesture ♀"),  # joiner dropped
        ("👍🏽 cats", "thumbs up cats"),  # skin tone dropped
        ("plain text", "plain text"),
        ("猫と犬", "猫と犬"),
        ("かわいい猫♡ ♪", "かわいい猫♡ ♪"),  # symbols below the emoji planes stay
        ("no ⚽ or ☕", "no soccer ball or hot beverage"),  # …but for those drawn as emoji
        ("ホラー❌ 猫⭕", "ホラー❌ 猫⭕"),  # marks stay marks
    ],
)
def test_emoji_are_read_as_their_names(text, named):
    assert name_emoji(text) == named


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("less 🚗🏍 please", [("suppress", "🚗🏍")]),
        ("less 🏀 ⚽ please", [("suppress", "🏀 ⚽")]),
        ("more 🐱🐶", [("boost", "🐱🐶")]),
        ("more 🐱 less 🐶", [("boost", "🐱"), ("suppress", "🐶")]),
        ("🐍🚫 please", [("exclude", "🐍")]),  # a sign of "no" asks, it names nothing
    ],
)
def test_a_run_of_pictographs_is_one_thing_under_one_ask(reader, text, expected):
    assert ops(reader, text) == expected


def test_clip_text_names_its_emoji():
    assert embedding_text("hammerhead squad 🦈", "", ()) == "hammerhead squad shark"


class Gives:
    """A reader that always reads the same: these ops, or this error."""

    glossary = Glossary({})

    def __init__(self, outcome: list[ParsedOp] | InstructionError) -> None:
        self.outcome = outcome

    def read(self, text: str) -> list[ParsedOp]:
        if isinstance(self.outcome, InstructionError):
            raise self.outcome
        return list(self.outcome)


MORE = [ParsedOp("boost", "cats", 1.6, "more cats")]
MORE_MILDLY = [ParsedOp("boost", "cats", 0.5, "a bit more cats")]
LESS = [ParsedOp("suppress", "cats", 1.0, "cats")]
NONE_AT_ALL = [ParsedOp("exclude", "cats", 1.0, "cats")]


def pairs(readings) -> list[list[tuple[str, str]]]:
    return [[(o.op, o.phrase) for o in reading] for reading in readings]


def test_the_reading_two_of_three_readers_give_is_applied():
    # the first reader of the majority gives the weights
    dogs = [ParsedOp("boost", "dogs", 1.0, "dogs")]
    assert ReaderVote((Gives(dogs), Gives(MORE), Gives(MORE_MILDLY))).read("x") == MORE
    # a reader that asked was unsure, not of the other mind
    unsure = AmbiguousInstruction("?", (tuple(MORE), tuple(LESS)))
    assert ReaderVote((Gives(unsure), Gives(MORE), Gives(MORE_MILDLY))).read("x") == MORE
    refusals = (Gives(InstructionError("names nothing")), Gives(InstructionError("empty")))
    with pytest.raises(InstructionError, match="names nothing"):
        ReaderVote((Gives(MORE), *refusals)).read("x")
    asked = AmbiguousInstruction("more or less?", (tuple(MORE), tuple(LESS)))
    again = AmbiguousInstruction("more or less, again?", (tuple(MORE), tuple(LESS)))
    with pytest.raises(AmbiguousInstruction) as caught:
        ReaderVote((Gives(asked), Gives(LESS), Gives(again))).read("x")
    assert caught.value is asked


def test_a_reader_that_reads_a_phrase_the_other_way_makes_the_vote_ask():
    with pytest.raises(AmbiguousInstruction) as caught:
        ReaderVote((Gives(MORE), Gives(NONE_AT_ALL), Gives(MORE_MILDLY))).read("x")
    assert pairs(caught.value.readings) == [[("boost", "cats")], [("exclude", "cats")]]


def test_readers_that_all_read_differently_ask_offering_every_reading():
    with pytest.raises(AmbiguousInstruction) as caught:
        ReaderVote((Gives(MORE), Gives(InstructionError("no")), Gives(LESS))).read("x")
    assert pairs(caught.value.readings) == [[("boost", "cats")], [("suppress", "cats")]]
    # a reader's own question offers its readings too, each reading once
    asked = AmbiguousInstruction("?", (tuple(MORE_MILDLY), tuple(NONE_AT_ALL)))
    with pytest.raises(AmbiguousInstruction) as caught:
        ReaderVote((Gives(MORE), Gives(asked), Gives(LESS))).read("x")
    assert pairs(caught.value.readings) == [
        [("boost", "cats")], [("exclude", "cats")], [("suppress", "cats")]
    ]  # fmt: skip


def test_voting_readers_encode_each_clause_once_per_reading(reader):
    """The three readers share the sentence vectors of one reading's clauses; a reading
    after it encodes afresh (vectors move by ~1e-7 with their batch, and a reading must
    depend on its text alone)."""
    import dataclasses

    from feed.core.steering import SharedVectors

    encoded: list[str] = []
    encode = reader.members[0].encode.encode

    def counting(texts):
        encoded.extend(texts)
        return encode(texts)

    vote = ReaderVote(tuple(
        dataclasses.replace(m, encode=SharedVectors(counting), vote_encode=SharedVectors(counting))
        for m in reader.members
    ))  # fmt: skip
    text = "less cats, more dogs"
    assert vote.read(text) == reader.read(text)
    assert len(encoded) == len(set(encoded)) == 2  # two clauses, encoded once for all three
    vote.read(text)
    assert len(encoded) == 4


def test_a_reader_loaded_again_for_another_folder_leaves_its_models_there(
    reader, model_cache, tmp_path
):
    """Child processes told to use another cache folder find the trained models in it,
    linked rather than copied where the file system allows."""
    import os

    from feed.core.intent import IntentModel
    from feed.core.steering import READER_SEEDS, load_reader, member_folder

    assert load_reader(tmp_path) is reader
    saved = member_folder(model_cache, READER_SEEDS[0]) / "classifier.npz"
    if saved.stat().st_dev == tmp_path.stat().st_dev:
        assert os.path.samefile(saved, tmp_path / "intent" / "classifier.npz")
    assert len(reader.members) == len(READER_SEEDS) == 3
    for seed, member in zip(READER_SEEDS, reader.members, strict=True):
        assert IntentModel.load(member_folder(tmp_path, seed), member.model.fingerprint)
    fingerprints = {member.model.fingerprint for member in reader.members}
    assert len(fingerprints) == 3  # each trained from its own expansion of the corpus


def test_features_hash_to_the_columns_scikit_learn_gives():
    """The reader places features without importing scikit-learn, exactly where its
    FeatureHasher (which the classifier was trained against) would."""
    from sklearn.feature_extraction import FeatureHasher

    from feed.core.intent import HASH_FEATURES, hashed_columns

    features = ["w:cats", "w:cats", "c:ホラ", "l:見る|pos:動詞", "emoji:🤡", "", "x" * 300,
                *(f"n{i}:{chr(0x3040 + i % 90)}{i}" for i in range(2_000))]  # fmt: skip
    expected = FeatureHasher(n_features=HASH_FEATURES, input_type="string",
                             alternate_sign=False).transform([features]).toarray()[0]  # fmt: skip
    found = np.bincount(hashed_columns(features), minlength=HASH_FEATURES)
    np.testing.assert_array_equal(found, expected)


def test_op_network_reads_as_its_layers_say():
    """The classifier's numpy reading: per member, the rows of the clause's columns summed
    (a repeated column counting again, a column unseen in training adding nothing), the
    sentence vector projected, ReLU, the head; the members' softmaxes averaged."""
    from feed.core.op_network import OpNetwork

    rng = np.random.default_rng(3)
    members, used, dim, hidden, classes = 2, 5, 4, 3, 6
    net = OpNetwork(
        columns=np.array([2, 7, 11, 40, 99], dtype=np.int64),
        bags=rng.normal(size=(members, used, hidden)).astype(np.float16),
        dense=rng.normal(size=(members, dim, hidden)).astype(np.float32),
        bias=rng.normal(size=(members, hidden)).astype(np.float32),
        head=rng.normal(size=(members, hidden, classes)).astype(np.float32),
        head_bias=rng.normal(size=(members, classes)).astype(np.float32),
    )
    columns = [np.array([7, 7, 40, 5]), np.array([1000]), np.array([], dtype=np.int64)]
    vectors = rng.normal(size=(3, dim)).astype(np.float32)
    expected = np.zeros((3, classes))
    for i, (cols, v) in enumerate(zip(columns, vectors, strict=True)):
        for m in range(members):
            pre = v @ net.dense[m] + net.bias[m]
            for c in cols:  # 5 and 1000 were never seen: no row
                if c in net.columns:
                    pre = pre + net.bags[m, list(net.columns).index(c)].astype(np.float32)
            logits = np.maximum(pre, 0) @ net.head[m] + net.head_bias[m]
            p = np.exp(logits - logits.max())
            expected[i] += p / p.sum() / members
    np.testing.assert_allclose(net.probs(columns, vectors), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="4-d sentence vectors"):
        net.probs(columns, None)
    saved = OpNetwork.from_arrays(net.arrays())
    np.testing.assert_array_equal(saved.probs(columns, vectors), net.probs(columns, vectors))


def test_op_network_learns_which_features_ask_what():
    """Trained without sentence vectors, the networks learn the columns that decide a
    class, and a column that only one clause had gets no row."""
    from feed.core.op_network import train_op_network

    rng = np.random.default_rng(0)
    columns, labels = [], []
    for i in range(600):
        label = i % 3
        noise = rng.integers(1000, 1100, size=2)  # shared by many clauses of every class
        columns.append(np.array([10 + label, *noise, 5000 + i if i == 7 else 10 + label]))
        labels.append(label)
    net = train_op_network(columns, None, np.array(labels), 3, seed=0)
    assert net.dim == 0 and 5007 not in net.columns
    read = net.probs([np.array([10, 1050]), np.array([11]), np.array([12, 12])], None)
    assert read.shape == (3, 3)
    assert list(read.argmax(axis=1)) == [0, 1, 2] and (read.max(axis=1) > 0.5).all()
    np.testing.assert_allclose(read.sum(axis=1), 1.0, rtol=1e-6)


def test_reading_loads_neither_scikit_learn_nor_scipy(reader, model_cache):
    """A server reads instructions without the training stack (nor torch, which trains
    the op classifier): importing it on the first instruction cost its latency and left
    ~90,000 objects for every full GC."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from feed.core.steering import load_reader;"
        f" r = load_reader(Path({str(model_cache)!r})); r.read('less cats, more dogs');"
        " r.read('ホラーは無理'); print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'sklearn', 'scipy', 'pandas', 'torch'}))"
    )  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_unchanged_corpus_is_not_expanded_again_to_find_its_model(tmp_path, monkeypatch):
    """The reader's model is named by its corpus's fingerprint; the fingerprint is kept
    under a hash of the corpus's inputs, so an open with the same inputs reads it back
    instead of expanding the corpus (about 2.4 s)."""
    from feed.core import intent_corpus
    from feed.core import steering as steering_mod

    expanded = []
    corpus = [LabelledText("more cats", ())]
    monkeypatch.setattr(steering_mod, "training_texts",
                        lambda seed: expanded.append(seed) or corpus)  # fmt: skip
    first = steering_mod._TrainingTexts(tmp_path, "enc").fingerprint()
    assert first == fingerprint_of(corpus, "enc", steering_mod.READER_SEEDS[0])
    assert len(expanded) == 1
    assert steering_mod._TrainingTexts(tmp_path, "enc").fingerprint() == first
    assert len(expanded) == 1  # read back, not expanded
    # another encoder, or a corpus file changed: expanded again
    assert steering_mod._TrainingTexts(tmp_path, "other").fingerprint() != first
    assert len(expanded) == 2
    # another seed: the corpus expanded with that seed, under a fingerprint of its own
    assert steering_mod._TrainingTexts(tmp_path, "enc", 1).fingerprint() != first
    assert expanded[-1] == 1
    train = tmp_path / "train"
    train.mkdir()
    (train / "ops_en.toml").write_text("a = 1\n")
    monkeypatch.setattr(intent_corpus, "TRAIN_ROOT", train)
    before = steering_mod.corpus_key("enc")
    (train / "ops_en.toml").write_text("a = 2\n")
    assert steering_mod.corpus_key("enc") != before
    steering_mod._TrainingTexts(tmp_path, "enc").fingerprint()
    assert len(expanded) == 4


@pytest.mark.parametrize("module", ["intent", "steering"])
def test_no_module_level_name_of_the_reader_is_bound_twice(module):
    """A word set bound twice stands, for every function, as its later binding."""
    source = (Path(__file__).parents[2] / "feed" / "core" / f"{module}.py").read_text()
    bound = [
        target.id
        for node in ast.parse(source).body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    ]
    assert not [name for name, n in Counter(bound).items() if n > 1]


def every_reading_or_none(reader, text: str) -> list[list[tuple[str, str]]]:
    """Each reading of `text`, or none where it is refused."""
    try:
        return every_reading(reader, text)
    except InstructionError:
        return []


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("more like this", "boost"),
        ("more stuff like that", "boost"),
        ("less of this please", "suppress"),
        ("never show me this again", "exclude"),
        ("anything but this", "exclude"),
        ("こういうのもっと見たい", "boost"),
        ("これ系はもういい", "suppress"),
        ("もっとこういうのちょうだい", "boost"),
        ("これもっと", "boost"),  # the networks read no request; "more" says which way
        ("それもっと", "boost"),
        ("そういうのはもういい", "suppress"),
        ("ああいうのは無理", "exclude"),
        ("こういう動画は見たくない", "exclude"),  # 「こういう」 is no thing of its own
        ("dial these back a bit", "suppress"),
        ("why do i keep getting these", "suppress"),
        ("more videos similar to this one", "boost"),
        ("似たような動画をもっと見たい", "boost"),
    ],
)
def test_an_ask_that_points_at_nothing_named_is_about_the_clip_on_screen(reader, text, op):
    assert ops(reader, text) == [(op, ON_SCREEN)]


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("another one of these, seriously?", "suppress"),  # come again: a complaint
        ("ugh these again", "suppress"),
        ("これ見るの今日もう3回目なんだけど", "suppress"),
        ("またこのパターンか", "suppress"),
        ("the same again please", "boost"),  # unless more of it is asked for
    ],
)
def test_the_clip_on_screen_come_again_is_a_complaint_unless_asked_for(reader, text, op):
    assert ops(reader, text) == [(op, ON_SCREEN)]


@pytest.mark.parametrize(
    "text",
    [
        "something other than this please",
        "show me something different",
        "これとは違うのがいい",
        "別のにして",
    ],
)
def test_an_ask_for_something_else_is_less_of_the_clip_on_screen(reader, text):
    """Never more of the clip, and never more of the word "different"."""
    assert ops(reader, text) == [("suppress", ON_SCREEN)]


@pytest.mark.parametrize(
    "text",
    [
        "not this week",  # a time
        "this app's a bit of alright, innit",  # the app
        "can't get enough sleep these days honestly",
        "これからはもっと",  # from now on
        "this is actually pretty fun",  # chat about the clip, no request
        "こういうの好き",
        "i want these in my feed: trains, volcanoes",  # what follows the colon
    ],
)
def test_a_pointer_that_is_no_clip_is_never_the_clip_on_screen(reader, text):
    for reading in every_reading_or_none(reader, text):
        assert all(phrase != ON_SCREEN for _, phrase in reading), reading


@pytest.mark.parametrize(
    "text",
    ["this is boring, more cats", "less of this, more cats", "less of that please, more cats"],
)
def test_a_pointer_beside_a_named_request_stays_with_the_request(reader, text):
    """What is named is what is asked about, as asked: "more cats" is never less of them,
    and what points at the clip on screen asks less of it alone."""
    readings = every_reading_or_none(reader, text)
    assert reads_only(readings, POSITIVE, "cat"), readings
    assert all(
        op in NEGATIVE for reading in readings for op, phrase in reading if phrase == ON_SCREEN
    ), readings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("less of this, more cats", [("suppress", ON_SCREEN), ("boost", "cats")]),
        ("これはもういいから、猫の動画にして", [("suppress", ON_SCREEN), ("boost", "猫")]),
        ("こういうのもっと、でもホラーはなしで", [("boost", ON_SCREEN), ("exclude", "ホラー")]),
    ],
)
def test_the_clip_on_screen_and_a_thing_named_in_one_message(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("you should show me the pottery again, i liked it", [("boost", "pottery")]),
        ("cats again please", [("boost", "cats")]),
        ("cats again??", [("suppress", "cats")]),  # come again, not asked for: a complaint
        ("why am i seeing cats again", [("suppress", "cats")]),
        ("またホラーかよ", [("suppress", "ホラー")]),
    ],
)
def test_a_thing_come_again_is_more_only_where_it_is_asked_for(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("これ以上ホラーは見たくない", [("exclude", "ホラー")]),  # the tagger marked nothing
        ("これ以上ホラーを見せてどうするの？", [("suppress", "ホラー")]),  # what good is more
    ],
)
def test_any_more_before_a_thing_in_japanese(reader, text, expected):
    assert ops(reader, text) == expected


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("more of these minus the loud music", "loud music"),
        ("more of these but without the screaming", "screaming"),
        ("この路線は続けて、でもホラー要素は抜いて", "ホラー要素"),
        ("こういう感じのまま、でも虫はなしで", "虫"),
    ],
)
def test_more_of_the_clip_on_screen_without_a_thing_named(reader, text, thing):
    """More of the clip, kept to as the way of what comes next, and less of the thing."""
    (first, on_screen), (second, named) = ops(reader, text)
    assert (first, on_screen) == ("boost", ON_SCREEN)
    assert second in NEGATIVE and named == thing


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("この人の他の動画も見たい", "boost"),  # more of the clip's maker, not another thing
        ("the fourth one of these today, come on", "suppress"),
        ("別ジャンルにして", "suppress"),
        ("oh great, another one of these. love that for me", "suppress"),  # no ask again
    ],
)
def test_more_ways_of_pointing_at_the_clip_on_screen(reader, text, op):
    assert ops(reader, text) == [(op, ON_SCREEN)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my feed is a total mess lately, can we start over", [("reset", "")]),
        ("start over please, and this time more pottery", [("reset", ""), ("boost", "pottery")]),
        (
            "less cooking please. also can you reset my feed after that?",
            [("suppress", "cooking"), ("reset", "")],
        ),
        ("ウサギ、もっと、おねがい", [("boost", "ウサギ")]),
        (
            "start over with more owls, and bats as well",
            [("reset", ""), ("boost", "owls"), ("boost", "bats")],
        ),
    ],
)
def test_a_reset_or_a_please_in_words_of_its_own(reader, text, expected):
    """ "can we start over, my feed is a mess" was refused (less of nothing), and a reset
    beside another ask was lost; 「おねがい」 was a second thing to see more of."""
    assert ops(reader, text) == expected
