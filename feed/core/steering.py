"""Steering: plain-language instructions (English, Japanese, or both) to typed ops.

An instruction is read by a learned model (feed/core/intent.py): a CRF over words and
Japanese morphemes finds the clauses and the concept each names, and a classifier
gives each clause its op — boost, suppress, exclude, only or reset. Concepts stay in
the words the person used; they are matched to clips later, by meaning, in every
embedding space that reads their language (feed/services/feed.py). Nothing here picks clips.

A negative instruction never becomes a boost: a clause whose polarity the model cannot
tell raises `AmbiguousInstruction` with the readings it considered, and nothing is
applied until the person picks one. Polarity is told twice: by the classifier with the
clause's cue words, and by the training clauses nearest the clause in meaning
(feed/core/polarity_vote.py); where they disagree, it asks.

The engine reads with three such readers (`ReaderVote`), each trained from the corpus
expanded with its own seed. The reading at least two of them give is the one applied;
where all three differ, or one reads a phrase the other way, it asks, offering their
readings. Measured on the four sets no reader learned from (docs/steering.md): inversions 48 → 36.

The Japanese glossary (data/lexicon/ja.toml) is no longer the gate for Japanese: it only
lends English words to the English-only spaces (MiniLM, the CLIP text tower) when a
Japanese concept is one of its terms.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import threading
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol, cast

import numpy as np

from feed.core.intent import (
    NEGATIVE,
    POSITIVE,
    Clause,
    ClauseCues,
    IntentModel,
    LabelledClause,
    LabelledText,
    Token,
    Tokenizer,
    about_someone_else,
    accepts,
    adds_to_the_last,
    after_a_stop,
    agrees_it_is_nice,
    apply_repairs,
    asks_again,
    asks_for_anything_with,
    asks_if_nothing_but,
    atomic_write,
    calm_all_emphasis,
    clause_cues,
    clause_vector_text,
    clauses_from_tags,
    closes_on_more,
    compared_away,
    complains_of_all,
    continues_a_list,
    declines,
    dreads_more,
    drop_asides_before_and,
    drop_cue_concepts,
    fingerprint_of,
    finish_descriptions,
    gives_a_reason,
    grants,
    has_japanese,
    has_words,
    is_question,
    join_items_before_all,
    join_pictographs,
    join_relative_clauses,
    keeps_to_the_clip,
    lists_or_names,
    load_tokenizer,
    mark_after_no_more,
    mark_contrasted_topics,
    mark_out_with_in_with,
    misses_it,
    multiplied,
    names_only_another,
    names_the_app,
    narrows_the_last,
    needs_none,
    never_too_many,
    normalise,
    offered_instead,
    only_names,
    only_points,
    op_words_ask_more,
    opens_instead_of,
    outside_concepts,
    points_at_the_screen,
    points_or_greets,
    praises,
    prefers_it,
    puts_in_place,
    ranks,
    repeats_the_clip,
    reported_part,
    says_needed,
    sentences,
    shares,
    signed_alone,
    skipped_when,
    sooner_without,
    split_choices,
    split_comparisons,
    split_contrasts,
    split_english_comparisons,
    split_examples,
    split_exceptions,
    split_from_the_clip,
    split_in_place_of,
    split_joined_items,
    split_listed_items,
    split_narrowings,
    split_paired_nouns,
    split_reasons,
    split_repeated_openers,
    split_replacements,
    split_reported_tastes,
    split_scopes,
    split_sentences,
    split_signed_items,
    split_slashed_items,
    starts_over,
    tag_mentions,
    tells_a_state,
    tokens_in,
    train_intent_model,
    turned_up_or_down,
    unless_reading,
    wants_no_more,
    wants_other_than_the_clip,
    word_set,
    writer_speaks_after,
)
from feed.core.polarity_vote import (
    MEMORY_FILE,
    PolarityMemory,
    build_memory,
    memory_fingerprint,
)
from feed.core.spelling import english_words, unglued
from feed.resources import DATA_DIR

log = logging.getLogger(__name__)

OpKind = Literal["boost", "suppress", "exclude", "only", "reset"]
OPS: tuple[OpKind, ...] = ("boost", "suppress", "exclude", "only", "reset")

MAX_INSTRUCTION_CHARS = 500
# The phrase of an op on the clip the writer is watching ("more like this"): a caller
# that knows the clip replaces it with the clip's text; it never reaches a page.
ON_SCREEN = "(this clip)"
MAX_OPS_PER_INSTRUCTION = 8
STRONG = 1.6
MILD = 0.5
CORPUS_SIZE = 16000
# One reader per seed: each expands the corpus templates and trains with its own seed.
# The first is the reader of record (the one tests of the model's internals read).
READER_SEEDS = (0, 1, 2)
SENTENCE_VECTORS = True

GLOSSARY_PATH = DATA_DIR / "lexicon" / "ja.toml"


class InstructionError(ValueError):
    """An instruction could not be understood; the message says what to try."""


@dataclass(frozen=True)
class ParsedOp:
    """One understood op: what to do, to which concept (in the user's words), how strongly."""

    op: OpKind
    phrase: str
    weight: float
    clause: str


class AmbiguousInstruction(InstructionError):
    """The model could not tell more from less; `readings` are the alternatives it saw."""

    def __init__(self, message: str, readings: tuple[tuple[ParsedOp, ...], ...]) -> None:
        super().__init__(message)
        self.readings = readings


@dataclass(frozen=True)
class Glossary:
    """Japanese concept words → English phrases, longest match first."""

    terms: dict[str, str]

    @classmethod
    def load(cls, path: Path = GLOSSARY_PATH) -> Glossary:
        """Read the glossary TOML (a [terms] table)."""
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        terms = {unicodedata.normalize("NFKC", k): v for k, v in data.get("terms", {}).items()}
        return cls(terms)

    def translate(self, text: str) -> str | None:
        """English for every glossary term found in `text`, joined; None if none found."""
        found: list[str] = []
        i = 0
        keys = sorted(self.terms, key=len, reverse=True)
        while i < len(text):
            for key in keys:
                if text.startswith(key, i):
                    if self.terms[key] not in found:
                        found.append(self.terms[key])
                    i += len(key)
                    break
            else:
                i += 1
        return " ".join(found) if found else None


# -- intensity (lexical: it scales a weight, it never decides an op) -------------------

_EN_STRONG = r"(?:a lot|lots|much|way|far|many|really|even|tons|a whole lot|loads|so much)"
_EN_MILD = r"(?:a (?:bit|little|tad|touch)|slightly|somewhat|a little bit|kinda|kind of)"
_EN_INTENSITY = re.compile(rf"\b(?:{_EN_STRONG}|{_EN_MILD})\b")
_JA_STRONG = r"(?:もっともっと|すごく|めっちゃ|めちゃ|かなり|たくさん|とても|うんと|いっぱい|超)"
_JA_MILD = r"(?:ちょっと|少し|すこし|やや|ちょっとだけ|少しだけ|ちょい)"


def _intensity(clause: str) -> float:
    if has_japanese(clause):
        if re.search(_JA_MILD, clause):
            return MILD
        return STRONG if re.search(_JA_STRONG, clause) else 1.0
    found = _EN_INTENSITY.findall(clause.lower())
    if not found:
        return 1.0
    return MILD if re.match(_EN_MILD, found[0]) else STRONG


# Words that may sit at the edge of a tagged concept but never carry it.
_EDGE_WORDS = word_set(
    "the a an some any those these of me my more less all with stuff things thing videos "
    "video clips clip ones one content please pls"
)
_JA_EDGE = word_set("の を が は も に で や と やつ 奴 動画 映像 もの 物 系 風 っぽい ぽい みたい")
# Where the tagger began a Japanese concept a token early, on a particle of `_JA_EDGE`
# (the で of 「興味ないので|釣りは」) or on "but" (the けど of 「好きやけど|チワワは」, whose
# normalised form is けれど), the concept is read without it. Only these words: a hiragana
# name may be cut so that its first kana stands as a particle (「ぞんび」 as ぞん + び).
_JA_BUT = word_set("けれど けれども")


def _phrases(text: str, tokens: Sequence[Token], clause: Clause) -> list[str]:
    """The phrases a clause names: its concept spans' words (see `_phrase_of`), each
    naming a thing (`_only_points`)."""
    spans = [_concept_tokens(tokens, span) for span in clause.concepts]
    return [
        phrase
        for inside in spans
        if (phrase := _phrase_of(text, inside)) and not _only_points(inside)
    ]


def _concept_tokens(tokens: Sequence[Token], span: tuple[int, int]) -> list[Token]:
    """The concept's tokens after any full stop inside it (`after_a_stop`), without
    generic words or particles at its edges."""
    span = after_a_stop(span, tokens)
    inside = [t for t in tokens if t.start >= span[0] and t.end <= span[1]]
    while inside and (
        inside[0].norm in _EDGE_WORDS
        or inside[0].pos in ("PUNCT", "SYM")
        or (
            inside[0].script == "ja"
            and inside[0].pos in ("PART", "AUX", "CONJ")
            and (inside[0].text in _JA_EDGE or inside[0].norm in _JA_BUT)
        )
    ):
        inside.pop(0)
    while inside and (
        inside[-1].norm in _EDGE_WORDS
        or inside[-1].text in _JA_EDGE
        or inside[-1].pos in ("PUNCT", "SYM", "PART")
    ):
        inside.pop()
    return inside


def _phrase_of(text: str, inside: Sequence[Token]) -> str:
    """The characters of a concept's trimmed tokens (`_concept_tokens`)."""
    if not inside:
        return ""
    phrase = text[inside[0].start : inside[-1].end].strip(" '\"")
    return phrase if has_japanese(phrase) else phrase.lower()


def _only_points(inside: Sequence[Token]) -> bool:
    """Whether a concept's trimmed tokens only point (「こういう動画」, 「これと」) or name
    nothing but something else ("something different")."""
    return only_points(inside) or names_only_another(inside)


Encode = Callable[[Sequence[str]], np.ndarray]
_PLURAL_POSSESSIVE = re.compile(r"(?<=[A-Za-z]s)['’](?=\s)")
# Quote marks around a word ("no 'horror' please"): the word is asked about, not quoted.
_EDGE_QUOTES = re.compile(r"(?:(?<=\s)|^)['\"“”‘’]+(?=\w)|(?<=\w)['\"“”‘’]+(?=[\s,.!?]|$)")


@dataclass
class InstructionReader:
    """Reads instructions with the trained intent model; see the module docstring."""

    tokenizer: Tokenizer
    model: IntentModel
    encode: Encode | None
    glossary: Glossary
    # The second reading of polarity (feed.core.polarity_vote) and the encoder it reads
    # clauses with; without them the classifier's reading stands alone.
    polarity: PolarityMemory | None = None
    vote_encode: Encode | None = None

    def read(self, text: str) -> list[ParsedOp]:
        """Ops of an instruction; raises InstructionError (or AmbiguousInstruction)."""
        if not isinstance(text, str):
            raise InstructionError("instruction must be text")
        if any(unicodedata.category(c) == "Cs" for c in text):
            raise InstructionError("instruction is not valid Unicode text")
        # A plural's possessive ("kids' toys") is one thing to ask about, not a quote.
        bare = _EDGE_QUOTES.sub("", _PLURAL_POSSESSIVE.sub("", text))
        text = normalise(" ".join(bare.split()))
        if not text:
            raise InstructionError("instruction is empty")
        if len(text) > MAX_INSTRUCTION_CHARS:
            raise InstructionError(f"instruction is longer than {MAX_INSTRUCTION_CHARS} characters")
        if not has_words(text):
            raise InstructionError(
                "instruction has no words to understand (only symbols, emoji or punctuation)"
            )
        known = english_words()
        if known is not None:
            text = unglued(text, known)  # "lesscats" is "less cats"
        text, tokens = calm_all_emphasis(text, self.tokenizer)
        try:
            return self._read_tagged(text, tokens, self.model.tag(tokens))
        except AmbiguousInstruction:
            raise
        except InstructionError as whole:
            # A greeting or a story before the request ("hi! more goldfish please,
            # thank you") can make the tagger read the whole message as one clause that
            # asks for nothing. Where that leaves nothing to apply, each sentence is
            # tagged on its own and read again; the first answer stands if that fails.
            if len(sentences(tokens)) < 2:
                raise
            try:
                return self._read_tagged(text, tokens, self.model.tag_sentences(tokens))
            except AmbiguousInstruction:
                raise
            except InstructionError:
                raise whole from None

    def _read_tagged(self, text: str, tokens: list[Token], tags: list[str]) -> list[ParsedOp]:
        """Ops of the normalised `text` from its tokens' CRF tags; see `read`."""
        tags = join_pictographs(tokens, tag_mentions(tokens, tags))
        clauses = drop_cue_concepts(clauses_from_tags(tokens, tags), tokens)
        if not any(c.concepts for c in clauses):
            clauses = [self._reported_concept(c, tokens, tags) for c in clauses]
        for step in (
            mark_after_no_more,
            split_signed_items,
            split_scopes,
            split_slashed_items,
            split_listed_items,
            split_paired_nouns,
            split_repeated_openers,
            mark_contrasted_topics,
            split_sentences,
            split_contrasts,
            split_from_the_clip,
            split_examples,
            split_narrowings,
            split_exceptions,
            split_english_comparisons,
            split_choices,
            split_reasons,
            split_reported_tastes,
            split_joined_items,
            drop_asides_before_and,
            apply_repairs,
            join_relative_clauses,
            finish_descriptions,
            split_replacements,
            split_in_place_of,
            mark_out_with_in_with,
            split_comparisons,
            join_items_before_all,
        ):
            clauses = step(clauses, tokens)
        clauses = [c for c in clauses if has_words(text[c.start : c.end])]
        if not clauses:
            raise InstructionError("instruction has no words to understand")
        # Each clause's sentence vector, encoded once for the classifier and the vote.
        vectors = None
        if self.encode is not None:
            vectors = self.encode([clause_vector_text(text, c) for c in clauses])
        probs = self.model.op_probs([text] * len(clauses), clauses, [tokens] * len(clauses),
                                    vectors)  # fmt: skip
        # Which clauses name something with a cue word of their own: a request in words,
        # beside which an aside, a situation or an acceptance asks nothing. What a
        # comparison sets below ("over a vlog") asks nothing, whatever its words.
        named = [bool(_phrases(text, tokens, c)) for c in clauses]
        # What the op networks alone read in each clause, for checks that look beside one.
        leaning = [self.model.classes[int(np.argmax(p))] for p in probs]
        asks = [
            names and clause_cues(c, tokens).any() and not c.set_aside
            for names, c in zip(named, clauses, strict=True)
        ]
        # Per clause: the phrases it names and its two readings (equal unless it asked).
        read: list[_Read] = []
        for i, (clause, p) in enumerate(zip(clauses, probs, strict=True)):
            by_op = {c: float(v) for c, v in zip(self.model.classes, p, strict=True)}
            op = max(by_op, key=lambda k: by_op[k])
            phrases = _phrases(text, tokens, clause)
            # "unboxings can wait": a place in the feed asks, whatever the networks say.
            if (
                not phrases
                and not clause.repairs
                and (op not in ("none", "reset") or ranks(clause, tokens))
            ):
                # An ask that names nothing ("can my feed have like. more moray eels?",
                # "and fewer kayaks too" tagged without a concept): the span the tagger
                # nearly marked, when it nearly did, read afresh. Only a clause with no
                # such span points back to what was named before it (below).
                found = self.model.likely_concept(tokens, tags, clause)
                nearly = [] if found is None else _concept_tokens(tokens, found[0])
                if (
                    found is not None
                    and found[1] >= RECOVERED_CONCEPT_SHARE
                    # 「こういう動画は見たくない」: a pointer is no thing of its own, nor a
                    # part of the app ("where did the download button go"), nor a greeting,
                    # a please or a degree (「お疲れさまです。本日も」, 「めっちゃ好き」)
                    and not _only_points(nearly)
                    and not names_the_app(nearly)
                    and not points_or_greets(nearly)
                ):
                    clause = replace(clause, concepts=(after_a_stop(found[0], tokens),))
                    vector_text = clause_vector_text(text, clause)
                    if vectors is not None and self.encode is not None:
                        vectors[i] = self.encode([vector_text])[0]
                    p = self.model.op_probs(
                        [text], [clause], [tokens], None if vectors is None else vectors[i : i + 1]
                    )[0]
                    by_op = {c: float(v) for c, v in zip(self.model.classes, p, strict=True)}
                    op = max(by_op, key=lambda k: by_op[k])
                    phrases = _phrases(text, tokens, clause)
            # "whenever needles come up, bail", 「咀嚼音が聞こえたら即飛ばしで頼む」: the thing a
            # clip is to be skipped for, where the tagger's span ended past it or marked none.
            then = clauses[i + 1] if i + 1 < len(clauses) and not clauses[i + 1].concepts else None
            skipped = skipped_when(clause, tokens, then)
            if skipped is not None and skipped not in clause.concepts:
                kept = [c for c in clause.concepts if c[1] <= skipped[0] or skipped[1] <= c[0]]
                clause = replace(clause, concepts=tuple(sorted((*kept, skipped))))
                phrases = _phrases(text, tokens, clause)
            words = text[clause.start : clause.end]
            cues = clause_cues(clause, tokens)
            if (
                op == "none"
                and not phrases
                and op_words_ask_more(clause, tokens)
                and not praises(clause, tokens)  # 「こういうの好き」 is chat, not a request
                and _last_named(read) is None
                and points_at_the_screen(clause, tokens, True)
            ):
                # 「これもっと」: a pointer and words that all ask for more, which the
                # networks (that learned ops beside things named) read as no request.
                op = "boost"
            elif (
                op == "none"
                and not phrases
                and _last_named(read) is None
                and any(named[i + 1 :])
                and keeps_to_the_clip(clause, tokens)
            ):
                # 「こういうテイストで、犬が出てくるやつ」, "same vibe as this but with corgis":
                # more of the clip, the way of the thing asked next.
                op = "boost"
            # Less, as strongly as the networks lean: for a reading found from structure.
            less: OpKind = "exclude" if by_op["exclude"] > by_op["suppress"] else "suppress"
            # The clip on screen read from structure, however the networks lean.
            on_screen: OpKind | None = None
            if not phrases and _last_named(read) is None:
                declined = declines(clause, tokens) and any(named[i + 1 :])
                if (clause.replaced or declined) and points_at_the_screen(clause, tokens, False):
                    # 「これはもういいから、犬の動画にして」: declined for the thing after it.
                    on_screen = less
                elif way := repeats_the_clip(clause, tokens):
                    # "oh great, another one of these" (read as more for "great"), 「これ見る
                    # のもう5回目なんやけど」 (as no request): come again is a complaint,
                    # unless more of it is asked for ("the same again please").
                    on_screen = "boost" if way == "more" else less
                elif not any(named) and wants_other_than_the_clip(clause, tokens):
                    # "something other than this", 「これじゃないやつ頼む」: less of it (the
                    # networks read the ask for something else).
                    on_screen = "exclude" if op == "exclude" else "suppress"
            if on_screen is not None:
                asked: tuple[ParsedOp, ...] = (ParsedOp(on_screen, ON_SCREEN, 1.0, words),)
                read.append(([ON_SCREEN], asked, asked))
                continue
            # A swap's halves are read from its structure, as neither holds a word that says
            # more or less: what is put in place ("trade the celebrity interviews | for some
            # street interviews") is more, what the next clause replaces (「メイク動画を|盆栽に
            # 入れ替えて」) is less; what is preferred or chosen (`_preferred`) is more.
            swapped: OpKind | None = None
            if phrases and skipped is not None:
                swapped = "exclude"
            elif phrases and i and puts_in_place(clause, clauses[i - 1], tokens):
                swapped = "boost"
            elif phrases and i + 1 < len(clauses) and puts_in_place(clauses[i + 1], clause, tokens):
                # "switch the football highlights | out for F1": what is put out of place.
                swapped = less
            elif phrases and clause.replaced:
                swapped = less
            elif (
                phrases
                and offered_instead(clause, tokens)
                and (before := _last_named(read)) is not None
                and any(parsed.op in NEGATIVE for parsed in read[before][1])
            ):
                # "fewer pranks, science experiments instead" (read as less of both),
                # 「ゲーム減らして、代わりに科学の実験を」: what comes in place of what the
                # clause before declined.
                swapped = "boost"
            elif phrases and multiplied(clause, tokens):
                # 「ねこ×100」 (read as no cats, the 「×」 of 「登山×」): many cats.
                swapped = "boost"
            elif phrases and (sign := signed_alone(clause, tokens)):
                # "+capybaras -geese": the sign is the whole ask.
                swapped = "boost" if sign == "pos" else "suppress"
            elif phrases and asks_if_nothing_but(clause, tokens):
                # 「ここって料理以外なんもないの？」: a complaint of too much cooking.
                swapped = "suppress"
            elif phrases and (condition := unless_reading(clause, tokens)):
                # "show me whatever unless it's gambling stuff": anything but gambling;
                # 「雪景色じゃないなら、別に見なくていいや」: nothing but snowscapes.
                swapped = cast(OpKind, condition)
            elif phrases and not cues.any() and _preferred(clauses, i, tokens):
                swapped = "boost"
            elif phrases and op in POSITIVE and complains_of_all(clause, tokens):
                # 「このところ野球の動画ばかりで困っています」「…が多い気がするので」: a complaint.
                swapped = less
            elif (
                phrases
                and not cues.only
                and (needs_none(clause, tokens) or wants_no_more(clause, tokens))
            ):
                # 「ホラーは見んでええ」, "I don't want more cats": less, however the
                # networks lean (a dialect's negator or "want more" pulls them to more).
                swapped = less
            elif phrases and op in NEGATIVE and asks_again(clause, tokens):
                # "you should show me the glassblowing again, I liked it": come again, asked
                # for (the networks read a thing come again as a complaint).
                swapped = "boost"
            elif phrases and closes_on_more(clause, tokens):
                # "my wife thinks true crime is creepy, I think it's great, more please"
                # (read as less of true crime): the last word asks.
                swapped = "boost"
            elif phrases and (way := turned_up_or_down(clause, tokens)):
                # "crank up the jazz" (read as no request), "the goals bumped up" (as less).
                swapped = "boost" if way == "up" else less
            elif phrases and (misses_it(clause, tokens) or never_too_many(clause, tokens)):
                # "how come I never see any drag shows anymore?": missed, so more; "you
                # can never have too many frog videos": never too much, so more.
                swapped = "boost"
            elif phrases and not cues.any() and says_needed(clause, tokens):
                # 「猫の動画は必要」: needed, however the networks lean (「必要ない」 is theirs).
                swapped = "boost"
            elif phrases and sooner_without(clause, tokens):
                # 「ボクシングを見るくらいなら寝る」: sooner sleep than watch boxing.
                swapped = less
            elif phrases and dreads_more(clause, tokens):
                # "if I see one more ASMR slime I'll scream": more is what is dreaded.
                swapped = less
            elif phrases and (share := shares(clause, tokens)):
                # 「刺繍と編み物を半々くらいにできる？」 asks for both; 「半分にして」 halves.
                swapped = "boost" if share == "even" else "suppress"
            elif phrases and (place := ranks(clause, tokens)):
                # 「占いはもっと後ろの方でいい」: where in the feed, not how much.
                swapped = "boost" if place == "up" else "suppress"
            if swapped is not None:
                weight = _intensity(words) if swapped != "exclude" else 1.0
                parsed: tuple[ParsedOp, ...] = tuple(
                    ParsedOp(swapped, ph, weight, words) for ph in phrases
                )
                read.append((phrases, parsed, parsed))
                continue
            pictographs = [p for p in phrases if not has_words(p)]
            if pictographs and len(pictographs) < len(phrases):
                # "more hedgehogs please 🦔": a pictograph beside the words naming the
                # thing is decoration, not a second item.
                phrases = [p for p in phrases if has_words(p)]
            elif pictographs and not cues.any() and _names_in_words(text, tokens, clauses):
                # "lol more robot dances pls 🤖", 「おはよう☀ 朝はパンが見たい」: a pictograph
                # in a clause of no ask of its own, beside a request that names its item
                # in words. "more 🦈" alone still asks for sharks.
                read.append(([], (), ()))
                continue
            if len(clauses) > 1 and about_someone_else(clause, tokens):
                # "my dad only watches golf, please don't give me golf": the dad's taste
                # is no request, but a later clause may point back to what it names
                # ("my mom loves 演歌 but i really don't, skip it").
                read.append((phrases, (), ()))
                continue
            accepting = accepts(clause, tokens)
            may_tell = op in POSITIVE or accepting or _tells_an_event(clause, tokens)
            if may_tell and _a_situation(phrases, tokens, clause, cues):
                # "just moved to a new city, more street food tours please", 「大阪に住んでて、
                # お好み焼きもっと」, 「日本旅行から帰ってきたばかり, more 京都 please」 (read
                # as less): what the writer is doing or did, beside a later request that
                # says what it wants, is no request of its own; nor is what the writer
                # accepts ("puzzles are fine, puzzle speedruns are not", 「蛇はNG、亀はOK」),
                # whichever way it reads, beside any other request.
                asked_later = any(asks[i + 1 :])
                # "no slasher stuff tonight, | kids are around", 「もっとクラシック音楽流して、
                # |赤ちゃん寝かしつけ中なの」: a state told after a request, in words of its
                # own, is the writer's situation too (in English where read as more: "the
                # shark attack reenactments are too much for me" refuses).
                told_after = (
                    (op in POSITIVE or has_japanese(words))
                    and any(asks[:i])
                    and tells_a_state(clause, tokens)
                )
                asked_elsewhere = any(
                    j != i and named[j] and leaning[j] != "none" for j in range(len(clauses))
                )
                if asked_later or told_after or (accepting and asked_elsewhere):
                    read.append((phrases, (), ()))
                    continue
            if (
                phrases
                and grants(clause, tokens)
                and any(leaning[j] != "none" for j in range(len(clauses)) if j != i)
            ):
                # "i don't mind the occasional car review but the drifting crashes have to
                # go", "it's not that I hate horror, I just want more cozy stuff": what is
                # granted beside a request is no request of its own (a later clause that
                # names nothing may still ask about it: "i don't hate cats, just fewer").
                read.append((phrases, (), ()))
                continue
            if clause.set_aside or (phrases and not cues.any() and compared_away(clause, tokens)):
                # 「イルカよりシャチが見たい」, "cats are better than | dogs": what the writer
                # prefers is asked for; the item set below it is no request of its own (it
                # was read as less, the pair templates' reading, which nobody asked for),
                # whatever words the comparison holds ("than | another unboxing video").
                read.append((phrases, (), ()))
                continue
            if clause.repairs and phrases:
                # "more owls, sorry, I mean bats": the clause before is taken back, and
                # what it asked for goes to these phrases unless they say otherwise.
                before = _last_named(read)
                if before is not None:
                    taken_back = read.pop(before)
                    if taken_back[1] and not cues.any():
                        read.append(_asked_as(taken_back, phrases, words))
                        continue
            if (
                op != "none"
                and len(clauses) > 1
                and by_op[op] < REASON_P
                and gives_a_reason(clause, tokens)
                and not cues.any()
            ):
                # 「ダイエット中なので、大盛りは控えめで」: a reason given beside the request,
                # with no word asking for anything itself, is not a request of its own.
                read.append(([], (), ()))
                continue
            if (
                phrases
                and not cues.any()
                and (adds_to_the_last(clause, tokens) or continues_a_list(clause, tokens))
            ):
                before = _last_named(read)
                if before is not None and read[before][1]:
                    # 「猫は減らして、犬もね」, "less cats, and dogs as well", "no cats, and
                    # the dogs": what the clause before asked, for these too.
                    read.append(_asked_as(read[before], phrases, words))
                    continue
            if phrases and narrows_the_last(clause, tokens):
                before = _last_named(read)
                # The last clause before this one that named something as the tagger marked
                # it asked in words (not a bare item of a list: "cut back on the unboxings,
                # the room tours, …"); False where none did (a thing found later, as a
                # skip's in 「事故の映像が出たらスキップして、特に車の事故」).
                asked_before = next((asks[j] for j in range(i - 1, -1, -1) if named[j]), False)
                if before is not None and read[before][1] and asked_before:
                    # "more pixel art, especially the little animated towns", 「ホラー減らし
                    # て、特にジャンプスケア」: a part of what the clause before asked for,
                    # which that ask already reaches; no ask of its own.
                    read.append((phrases, (), ()))
                    continue
            if op == "none":
                read.append((phrases, (), ()))
                continue
            if op == "reset":
                parsed = (_reset(words),)
                read.append(([], parsed, parsed))
                continue
            if not phrases and opens_instead_of(clause, tokens):
                # "give me capybaras | instead of the 400th golden retriever", the second
                # thing untagged: never the first thing, which it is to replace.
                read.append(([], (), ()))
                continue
            if not phrases:
                # "eels are cool, show me more", "i don't hate X, just fewer please": a
                # clause that names nothing asks about what the clause before it named,
                # and its ask replaces whatever that clause was read as. "Only" never
                # points back: "just" in such a clause is an adverb ("i just see too many").
                before = _last_named(read)
                if before is None and points_at_the_screen(clause, tokens, op == "boost"):
                    # "more like this", 「こういうのは無理」, "less of this, more street food":
                    # the clip the writer is watching, which the caller names
                    # (feed.services.steering reads its text), when nothing named before.
                    phrases = [ON_SCREEN]
                elif before is None or op == "only":
                    if any(asks[i + 1 :]):
                        # An aside before a request that says what it wants ("if it's no
                        # trouble, fewer X would be lovely"): the request stands alone.
                        read.append(([], (), ()))
                        continue
                    if op in NEGATIVE and starts_over(clause, tokens) is not None:
                        # "can we start over, my feed is a mess", "ugh my feed is so
                        # boring, reset please": less of nothing, in a clause that asks to
                        # start over, is the reset's reason.
                        parsed = (_reset(words),)
                        read.append(([], parsed, parsed))
                        continue
                    raise InstructionError(f"{words!r} names nothing to {_VERB[op]}")
                else:
                    phrases = read.pop(before)[0]
            weight = _intensity(words) if op in ("boost", "suppress") else 1.0
            vector = None if vectors is None else vectors[i]
            unsaid = op in NEGATIVE and cues.turned_removal and not is_question(clause, tokens)
            too_little = cues.too_few and (op in NEGATIVE or op == "boost")
            if (unsaid or too_little) and not cues.negative and not cues.only:
                # "do NOT take the lighthouses away", 「深夜ラーメンは絶対消さないで」: every
                # word that asks for less is taken back by a negator, and nothing else asks
                # for less; the networks, misled by the negators, lean to less. Read as more.
                # So is a complaint of too little ("way too few X", 「X少なすぎません？」,
                # "haven't seen a single X in days", 「Xが全然流れてこない」), a question or
                # not, where the networks lean either way.
                op, weight = "boost", 1.0
                by_op = {c: float(c == "boost") for c in by_op}
            unclear = (
                _turns_without_a_cue(op, cues, read, clause, tokens)
                or self._neighbours_disagree(text, clause, by_op, cues, vector)
                or _polarity_unclear(
                    by_op,
                    cues.negative,
                    cues.positive,
                    only_cue=cues.only and op == "only",
                    negated_ask=cues.negated_ask,
                    negated_refusal=cues.negated_refusal,
                    sounds_positive=agrees_it_is_nice(clause, tokens)
                    or asks_for_anything_with(clause, tokens)
                    or prefers_it(clause, tokens),
                )
            )
            if unclear and op in POSITIVE and _praised_in_japanese(words, clause, tokens, cues):
                # 「紅葉の景色は綺麗だけど、虫はいらない」: a Japanese clause the networks lean
                # towards more, that praises and says less nowhere, is read as more. In English
                # the same rule inverted two unseen cases ("rather", "about" praise there too).
                unclear = False
            # "start over and this time more birdwatching", "less gaming please. second,
            # can you reset my feed too?": a reset in words of its own, where the
            # networks read the clause's other ask, in its place in the sentence.
            reset_at = starts_over(clause, tokens)
            thing_at = min((start for start, _ in clause.concepts), default=clause.end)
            reset = (_reset(words),)
            reset_first = reset if reset_at is not None and reset_at < thing_at else ()
            reset_last = reset if reset_at is not None and reset_at > thing_at else ()
            if unclear:
                positive: OpKind = "only" if by_op["only"] > by_op["boost"] else "boost"
                read.append((
                    phrases,
                    (*reset_first, *(ParsedOp(positive, ph, 1.0, words) for ph in phrases),
                     *reset_last),
                    (*reset_first, *(ParsedOp(less, ph, 1.0, words) for ph in phrases),
                     *reset_last),
                ))  # fmt: skip
                continue
            parsed = (
                *reset_first,
                *(ParsedOp(cast(OpKind, op), ph, weight, words) for ph in phrases),
                *reset_last,
            )
            read.append((phrases, parsed, parsed))
        readings = (
            tuple(_once([o for _, first, _ in read for o in first])),
            tuple(_once([o for _, _, second in read for o in second])),
        )
        # Unsure only when the two readings differ in what they ask: an unclear clause
        # whose either reading another clause already asks reads the same both ways.
        unsure = _pairs(readings[0]) != _pairs(readings[1])
        ops = list(readings[0])
        if unsure:
            raise AmbiguousInstruction(
                f"not sure whether {text!r} asks for more or for less", tuple(readings)
            )
        if not ops:
            raise InstructionError(
                f"{text!r} does not read as an instruction; try 'more X', 'less X', 'no X',"
                " 'only X', 「もっと…」 or 「…は見たくない」"
            )
        if len(ops) > MAX_OPS_PER_INSTRUCTION:
            raise InstructionError(f"more than {MAX_OPS_PER_INSTRUCTION} instructions at once")
        # One phrase asked both ways ("cat videos yes, cat meme videos no" with the second
        # concept cut short to "cat") is a misreading of one of them: ask which is meant.
        more = {o.phrase for o in ops if o.op in POSITIVE}
        torn = more & {o.phrase for o in ops if o.op in NEGATIVE}
        if torn:
            raise AmbiguousInstruction(
                f"not sure whether {text!r} asks for more or for less",
                (
                    tuple(o for o in ops if not (o.phrase in torn and o.op in NEGATIVE)),
                    tuple(o for o in ops if not (o.phrase in torn and o.op in POSITIVE)),
                ),
            )
        return ops

    def _reported_concept(self, clause: Clause, tokens: list[Token], tags: list[str]) -> Clause:
        """`clause` with the thing someone else likes as its concept, where the tagger
        marked nothing in the whole message and the clause opens with that person ("my
        husband loves 戦隊もの but I'm not into it, 減らして", 「夫が戦車の動画にハマってる
        けど、私は見たくない」): the span the tagger would most readily have marked in
        what the clause says of them, however unlikely, since such a report names what
        the writer's turn after it is about."""
        part = reported_part(clause, tokens)
        if part is None:
            return clause
        found = self.model.likely_concept(tokens, tags, part)
        if found is None or not writer_speaks_after(tokens, found[0][1]):
            # A report alone ("my dad watches golf all day", 「息子が勝手に私のアカウントで
            # 見てたみたい」) asks nothing; nor, measured, does "my wife wants more gardening"
            # (asks before the thing named counted too: one unseen case fewer right).
            return clause
        return replace(clause, concepts=(found[0],))

    def _neighbours_disagree(
        self,
        text: str,
        clause: Clause,
        by_op: dict[str, float],
        cues: ClauseCues,
        vector: np.ndarray | None = None,
    ) -> bool:
        """Whether the training clauses nearest this one in meaning ask for the opposite
        of the classifier's reading (feed.core.polarity_vote); False without a memory.
        Not asked where a cue word of the reading's own polarity backs it ("more", "no",
        "only" read as only, だけ): the words typed outweigh the neighbours; nor for a
        clause that takes back the one before ("…じゃなくてXだけ"), whose negation is
        about the words taken back."""
        if self.polarity is None or self.vote_encode is None or clause.repairs:
            return False  # a clause taking back the one before: the repair rules read it
        more = by_op.get("boost", 0.0) + by_op.get("only", 0.0)
        less = by_op.get("suppress", 0.0) + by_op.get("exclude", 0.0)
        only = cues.only and max(by_op, key=lambda k: by_op[k]) == "only"
        if more == less:
            return False
        if more > less and (cues.positive or only) and not cues.negative:
            return False
        if less > more and cues.negative and not cues.positive:
            return False
        query = (
            self.vote_encode([clause_vector_text(text, clause)])[0] if vector is None else vector
        )
        return self.polarity.disagrees(query, read_as_more=more > less)


def _a_situation(
    phrases: Sequence[str], tokens: Sequence[Token], clause: Clause, cues: ClauseCues
) -> bool:
    """Whether a clause may tell the writer's situation or what they accept rather than
    ask: it names something among words of its own (not a bare list) with no cue word,
    no praise and no mark. The reader asks this of clauses read as more, and of those
    that accept ("ok with birds, not with the snake clips" asks for no more birds)."""
    if cues.any() or clause.repairs or lists_or_names(clause, tokens) or praises(clause, tokens):
        return False
    inside = tokens_in(clause, tokens)
    while inside and inside[-1].pos in ("EMOJI", "SYM"):
        inside.pop()  # "just got back from the gym 💪": a closing pictograph only decorates
    if any(t.pos in ("EMOJI", "SYM") for t in inside):
        return False
    return bool(phrases) and not adds_to_the_last(clause, tokens)


def _praised_in_japanese(
    words: str, clause: Clause, tokens: Sequence[Token], cues: ClauseCues
) -> bool:
    """Whether a Japanese clause praises outside its concepts (「綺麗だけど」「かわいい」)
    with no cue word that asks for less."""
    return has_japanese(words) and praises(clause, tokens) and not cues.negative


def _tells_an_event(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause read as less may tell what happened rather than refuse: a
    Japanese clause with a verb outside its concepts (「日本旅行から帰ってきたばかり」),
    where a refusal without a cue word is a noun and a judgement (「事故映像はNG」
    「虫はダメだけど」); any English clause."""
    words = outside_concepts(clause, tokens)
    if any(t.script == "ja" for t in words):
        return any(t.pos == "VERB" for t in words)
    return True


def _preferred(clauses: Sequence[Clause], i: int, tokens: Sequence[Token]) -> bool:
    """Whether clause `i` names what an English comparison sets above the next clause
    ("i'd choose a documentary | over a vlog any day"), what the next clause says it is to
    take the place of ("anything vintage | instead of the ai slop remixes"), or what is
    chosen from the options the clause before names ("between trains and planes, |
    trains every time")."""
    after = clauses[i + 1] if i + 1 < len(clauses) else None
    if after is not None and (after.set_aside == "before" or opens_instead_of(after, tokens)):
        return True
    return i > 0 and clauses[i - 1].set_aside == "after"


def _once(ops: list[ParsedOp]) -> list[ParsedOp]:
    """Each (op, phrase) once, where it first came: 「鳥は大好き。鳥もっと」 asks for more
    birds once, not twice as hard. Two ops of one direction for one phrase keep the later,
    the request that follows the remark: "that was a lot of mimes. no mimes pls" excludes."""
    seen: set[tuple[str, str]] = set()
    out: list[ParsedOp] = []
    for o in ops:
        if (o.op, o.phrase) in seen:
            continue
        seen.add((o.op, o.phrase))
        same_way = POSITIVE if o.op in POSITIVE else NEGATIVE if o.op in NEGATIVE else set()
        out = [e for e in out if not (e.phrase == o.phrase and e.op in same_way)]
        out.append(o)
    return out


def _names_in_words(text: str, tokens: Sequence[Token], clauses: Sequence[Clause]) -> bool:
    """Whether any clause names an item in words (not only with pictographs)."""
    return any(has_words(p) for c in clauses for p in _phrases(text, tokens, c))


class Reader(Protocol):
    """What the engine reads instructions with: `InstructionReader` or `ReaderVote`."""

    @property
    def glossary(self) -> Glossary: ...

    def read(self, text: str) -> list[ParsedOp]: ...


@dataclass(frozen=True)
class ReaderVote:
    """Several readers, each trained from the corpus expanded with its own seed, reading
    every instruction; what at least two of them read is applied.

    Readings are compared by kind (ops, a question, a refusal) and their (op, phrase)
    pairs; weights may differ, and the first member of the majority gives them. Where
    every member reads differently the engine cannot tell what was meant, so it asks,
    offering every reading the members gave or asked about. It asks too where the majority
    reads a phrase one way and another member reads that phrase the other way (more
    against less): polarity is applied only when no reader contradicts it.
    """

    members: tuple[Reader, ...]

    @property
    def glossary(self) -> Glossary:
        return self.members[0].glossary

    def read(self, text: str) -> list[ParsedOp]:
        """Ops of an instruction; raises InstructionError (or AmbiguousInstruction)."""
        shared = _VOTE_VECTORS.set({})
        try:
            outcomes = [_outcome(member, text) for member in self.members]
        finally:
            _VOTE_VECTORS.reset(shared)
        keys = [key for key, _ in outcomes]
        majority = next((k for k in keys if keys.count(k) * 2 > len(outcomes)), None)
        agreed = next((r for k, r in outcomes if k == majority), None)
        if isinstance(agreed, InstructionError):
            raise agreed
        others = [r for k, r in outcomes if k != majority]
        if agreed is not None and not _contradicted(agreed, others):
            return agreed
        offered: dict[_Pairs, tuple[ParsedOp, ...]] = {}
        for _, result in outcomes:
            if isinstance(result, AmbiguousInstruction):
                readings = result.readings
            elif isinstance(result, InstructionError):
                continue
            else:
                readings = (tuple(result),)
            for reading in readings:
                offered.setdefault(_pairs(reading), reading)
        raise AmbiguousInstruction(f"not sure how to read {text!r}", tuple(offered.values()))


# The sentence vectors of one vote's reading, by text (see SharedVectors).
_VOTE_VECTORS: ContextVar[dict[str, np.ndarray] | None] = ContextVar("_VOTE_VECTORS", default=None)


@dataclass(frozen=True)
class SharedVectors:
    """An encoder whose vectors the voting readers share while they read one instruction.

    They split it into the same clauses more often than not, and encoding is most of a
    reading's cost (about 1.5 of 2.5 ms). Vectors are shared within one reading only, so a
    reading depends on its text alone (the encoder's vectors move by ~1e-7 with the batch
    they are encoded in). Outside a vote it encodes afresh.
    """

    encode: Encode

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        known = _VOTE_VECTORS.get()
        if known is None or not texts:
            return self.encode(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, self.encode(missing), strict=True))
        return np.stack([known[t] for t in texts])


def _contradicted(
    ops: list[ParsedOp], results: Sequence[list[ParsedOp] | InstructionError]
) -> bool:
    """Whether another reader read a phrase of `ops` with the opposite polarity (a
    reading, not a question: a reader that asked was unsure, not of the other mind)."""
    more = {o.phrase for o in ops if o.op in POSITIVE}
    less = {o.phrase for o in ops if o.op in NEGATIVE}
    return any(
        (o.op in POSITIVE and o.phrase in less) or (o.op in NEGATIVE and o.phrase in more)
        for result in results
        if not isinstance(result, InstructionError)
        for o in result
    )


_Pairs = tuple[tuple[str, str], ...]
_Outcome = tuple[tuple[str, _Pairs], "list[ParsedOp] | InstructionError"]


def _pairs(ops: Iterable[ParsedOp]) -> _Pairs:
    """The (op, phrase) of each op: what readings are compared by (weights aside)."""
    return tuple((o.op, o.phrase) for o in ops)


def _outcome(reader: Reader, text: str) -> _Outcome:
    """What `reader` makes of `text`, with the key readings are compared by."""
    try:
        ops = reader.read(text)
    except AmbiguousInstruction as exc:
        return ("ask", _pairs(o for reading in exc.readings for o in reading)), exc
    except InstructionError as exc:
        return ("refused", ()), exc
    return ("ops", _pairs(ops)), ops


_Read = tuple[list[str], tuple[ParsedOp, ...], tuple[ParsedOp, ...]]


def _reset(words: str) -> ParsedOp:
    """The reset a clause of `words` asks for."""
    return ParsedOp("reset", "", 1.0, words)


def _asked_as(other: _Read, phrases: list[str], words: str) -> _Read:
    """A clause naming `phrases` read as asking what the clause read as `other` asked
    (its first op's kind and weight in each reading), in its own words."""
    _, first, second = other
    # "start over with more cats, and dogs as well": the ask, not the reset beside it.
    first = tuple(o for o in first if o.op != "reset") or first
    second = tuple(o for o in second if o.op != "reset") or second
    return (
        phrases,
        tuple(replace(first[0], phrase=ph, clause=words) for ph in phrases),
        tuple(replace(second[0], phrase=ph, clause=words) for ph in phrases),
    )


def _last_named(read: Sequence[_Read]) -> int | None:
    """Position of the last clause read so far that named something, if any."""
    return next((k for k in range(len(read) - 1, -1, -1) if read[k][0]), None)


def _turns_without_a_cue(
    op: str, cues: ClauseCues, read: Sequence[_Read], clause: Clause, tokens: Sequence[Token]
) -> bool:
    """Whether a clause that says nothing but its concepts (see `only_names`) reads
    against the polarity of the clause before it. "no vaporwave: a drummer playing a fast
    solo" (a clip's prompt pasted after "no") is not a request for more drummers; a bare
    clause after a request may also be a substitution. The words do not say, so the
    engine asks. A clause with words of its own ("hello kinetic sand", 「ソフトボールならOK」)
    is read as they say."""
    if cues.any() or not only_names(clause, tokens):
        return False
    before = next((r[1] for r in reversed(read) if r[1]), ())
    asked = [o for o in before if o.op != "reset"]  # a reset beside an ask turns nothing
    if not asked:
        return False
    return (op in POSITIVE) != (asked[-1].op in POSITIVE)


_VERB = {"boost": "show more of", "suppress": "show less of", "exclude": "leave out",
         "only": "show only"}  # fmt: skip

# A clause whose own words only ask for less, or that negates a request outright ("no
# more X", whatever else it says), is never read as more without asking ("these
# whispers have become so annoying"); where its cues point both ways, the model
# must be this sure. "Only" with an only word ("nothing but X", 「X以外いらない」) is
# judged by that certainty alone. A negative reading of a clause whose only cues ask for
# more ("cool it on the anime", 「多すぎ」) must be as sure; and any op's polarity must
# hold this share of the polar mass. A clause whose only lean to more is a negated
# refusal ("don't stop", 「嫌いじゃない」) is never read as less without asking.
# A clause that gives a reason (`gives_a_reason`) and has no cue word is read as an op of
# its own only when the model is this sure.
REASON_P = 0.95
# An ask that names nothing takes the span the tagger nearly marked as its concept when
# that tagging is at least this likely beside the tagger's own (IntentModel.likely_concept).
# Chosen on dev26 and dev27 with a reader that had not learned them (docs/steering.md).
RECOVERED_CONCEPT_SHARE = 0.3
GUARDED_POSITIVE_P = 0.9
GUARDED_NEGATIVE_P = 0.9
MIN_POLARITY_SHARE = 0.8


def _polarity_unclear(
    by_op: dict[str, float],
    negative_cue: bool,
    positive_cue: bool = False,
    *,
    only_cue: bool = False,
    negated_ask: bool = False,
    negated_refusal: bool = False,
    sounds_positive: bool = False,
) -> bool:
    pos = by_op.get("boost", 0.0) + by_op.get("only", 0.0)
    neg = by_op.get("suppress", 0.0) + by_op.get("exclude", 0.0)
    share = max(pos, neg) / max(pos + neg, 1e-9)
    if pos > neg and negative_cue:
        if (not positive_cue or negated_ask) and not only_cue:
            return True
        if pos < GUARDED_POSITIVE_P:
            return True
    if neg > pos and positive_cue and not negative_cue and neg < GUARDED_NEGATIVE_P:
        return True
    if neg > pos and negated_refusal and not negative_cue:
        return True  # "don't stop X", "never not happy to see X" read as less: ask
    if neg > pos and sounds_positive and not negative_cue:
        # 「温泉はいいね」 (「温泉はいい」 declines) or "anything with trains" (the corpus
        # knows "anything but") read as less, with no word that says less: ask
        return True

    return share < MIN_POLARITY_SHARE


def parse_instruction(text: str, reader: Reader) -> list[ParsedOp]:
    """Parse an instruction into ops with `reader`; see InstructionReader.read."""
    return reader.read(text)


# -- building the reader ----------------------------------------------------------------


def training_texts(seed: int = READER_SEEDS[0]) -> list[LabelledText]:
    """The training corpus: data/steering/train expanded with `seed`, then the
    hand-written sets `HANDWRITTEN_SETS`."""
    from feed.core.intent_corpus import (
        HANDWRITTEN_ROOT,
        HANDWRITTEN_SETS,
        expand_corpus,
        load_corpus_spec,
        load_handwritten,
    )

    examples = expand_corpus(load_corpus_spec(), CORPUS_SIZE, seed)
    examples += load_handwritten([HANDWRITTEN_ROOT / name for name in HANDWRITTEN_SETS])
    return [
        LabelledText(
            ex.text,
            tuple(
                LabelledClause(c.op, c.start, c.end, c.concept_start, c.concept_end)
                for c in ex.clauses
            ),
        )  # fmt: skip
        for ex in examples
    ]


CORPUS_KEY_FILE = "corpus-key.json"  # the corpus's fingerprint under `corpus_key`


class _TrainingTexts:
    """The training corpus of the reader kept in `folder`, expanded only when needed.

    A saved model is named by the fingerprint of the corpus it was trained from, and
    expanding the corpus to take that fingerprint costs about 2.4 s, at every open. So
    the fingerprint is also kept (`CORPUS_KEY_FILE`) under a hash of everything the
    expansion reads: the corpus files, the hand-written sets and the code that expands
    them. An open whose inputs are unchanged reads the fingerprint back instead."""

    def __init__(self, folder: Path, encoder_id: str | None, seed: int = READER_SEEDS[0]) -> None:
        self.folder = folder
        self.encoder_id = encoder_id
        self.seed = seed
        self._texts: list[LabelledText] | None = None

    def texts(self) -> list[LabelledText]:
        if self._texts is None:
            self._texts = training_texts(self.seed)
        return self._texts

    def fingerprint(self) -> str:
        key = corpus_key(self.encoder_id, self.seed)
        path = self.folder / CORPUS_KEY_FILE
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        found = known.get(key) if isinstance(known, dict) else None
        if isinstance(found, str):
            return found
        found = fingerprint_of(self.texts(), self.encoder_id, self.seed)
        with contextlib.suppress(OSError):  # a read-only cache: expanded again next time
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps({key: found}).encode())
        return found


def corpus_key(encoder_id: str | None, seed: int = READER_SEEDS[0]) -> str:
    """A hash of what the training corpus is expanded from (see `_TrainingTexts`)."""
    from feed.core import intent, intent_corpus

    h = hashlib.sha256(f"{sys.version_info[:2]}|{encoder_id}|{CORPUS_SIZE}|{seed}".encode())
    sources = [Path(intent_corpus.__file__), Path(intent.__file__), Path(__file__)]
    data = sorted(intent_corpus.TRAIN_ROOT.glob("*.toml"))
    data += [intent_corpus.HANDWRITTEN_ROOT / name for name in intent_corpus.HANDWRITTEN_SETS]
    for path in sources + data:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def member_folder(cache_dir: Path, seed: int) -> Path:
    """Where the reader trained with `seed` is kept: intent/ for the first of
    `READER_SEEDS`, intent-<seed>/ for the others."""
    return cache_dir / ("intent" if seed == READER_SEEDS[0] else f"intent-{seed}")


_READERS: dict[bool, tuple[ReaderVote, Path]] = {}
_MODEL_FILES = ("tagger.crfsuite", "classifier.npz", "intent.json")  # intent.json last
_READERS_LOCK = threading.Lock()


def load_reader(
    cache_dir: Path,
    *,
    sentence_vectors: bool = SENTENCE_VECTORS,
    progress: Callable[[str], None] | None = None,
) -> ReaderVote:
    """The instruction readers of `READER_SEEDS`, trained on first use and cached in
    `cache_dir`, voting (`ReaderVote`).

    A saved model is reused only when it was trained from exactly this corpus, seed and
    encoder; within one process the readers are built once and shared. With
    `sentence_vectors`, the multilingual sentence vector of each masked clause is a
    classifier feature.
    """
    say = progress or (lambda message: log.info("instruction reader: %s", message))
    with _READERS_LOCK:
        if sentence_vectors in _READERS:
            reader, saved_in = _READERS[sentence_vectors]
            if saved_in != cache_dir:
                # Other processes told to use this folder find the models there too.
                for seed in READER_SEEDS:
                    _copy_model(member_folder(saved_in, seed), member_folder(cache_dir, seed))
            return reader
        encoder = None
        if sentence_vectors:
            from embeddings.encoders import EncoderUnavailable, MultilingualEncoder

            try:
                encoder = MultilingualEncoder.load()
            except EncoderUnavailable as exc:
                log.warning("the instruction reader reads without sentence vectors: %s", exc)
        tokenizer = load_tokenizer()
        encoder_id = None if encoder is None else encoder.model_id
        encode = None if encoder is None else encoder.encode_texts
        glossary = Glossary.load()
        members = []
        for n, seed in enumerate(READER_SEEDS, 1):
            folder = member_folder(cache_dir, seed)
            texts = _TrainingTexts(folder, encoder_id, seed)
            model = IntentModel.load(folder, texts.fingerprint())
            if model is None:
                log.warning(
                    "training instruction reader %d of %d on %d examples in %s (once per"
                    " corpus; about two minutes)", n, len(READER_SEEDS), len(texts.texts()), folder,
                )  # fmt: skip
                model = train_intent_model(texts.texts(), tokenizer, folder, encode=encode,
                                           encoder_id=encoder_id, seed=seed,
                                           progress=say)  # fmt: skip
            # The polarity vote reads with the same multilingual encoder.
            polarity, vote_encode = _polarity_memory(texts, model, folder, say)
            members.append(InstructionReader(
                tokenizer, model, None if encode is None else SharedVectors(encode), glossary,
                polarity, None if vote_encode is None else SharedVectors(vote_encode),
            ))  # fmt: skip
        reader = ReaderVote(tuple(members))
        english_words()  # loaded now, not on the first instruction ("lesscats")
        _READERS[sentence_vectors] = (reader, cache_dir)
        return reader


def _copy_model(saved_in: Path, folder: Path) -> None:
    """Put a saved reader from `saved_in` in `folder` too, unless one is there already.

    Hard links where the file system allows (about 90 MB a reader); a saved file is never
    written again in place (a retrained model replaces it), so the folders cannot
    diverge through a shared file."""
    if (folder / "intent.json").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name in (CORPUS_KEY_FILE, MEMORY_FILE, *_MODEL_FILES):
        if not (saved_in / name).exists():
            continue  # no polarity memory without the multilingual encoder
        tmp = folder / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(saved_in / name, tmp)
        except OSError:
            shutil.copyfile(saved_in / name, tmp)
        os.replace(tmp, folder / name)


def _polarity_memory(
    texts: _TrainingTexts,
    model: IntentModel,
    folder: Path,
    progress: Callable[[str], None] | None,
) -> tuple[PolarityMemory | None, Encode | None]:
    """The polarity vote's memory (built once per corpus beside the model) and the encoder
    it reads with; (None, None), with a warning, when the multilingual encoder is missing."""
    from embeddings.encoders import EncoderUnavailable, MultilingualEncoder

    try:
        encoder = MultilingualEncoder.load()
    except EncoderUnavailable as exc:
        log.warning("no polarity vote: %s", exc)
        return None, None
    fingerprint = memory_fingerprint(model.fingerprint, encoder.model_id)
    memory = PolarityMemory.load(folder, fingerprint)
    if memory is None:
        memory = build_memory(texts.texts(), encoder.encode_texts, fingerprint, progress)
        memory.save(folder)
    return memory, encoder.encode_texts
