"""A learned reader of steering instructions: clauses, their ops and their concept spans.

Two small models, trained from the corpus in `data/steering/train/` (feed/core/intent_corpus.py):

1. A linear-chain CRF (CRFsuite) tags every token as clause start (K), concept begin /
   inside (B, I; KB when a clause starts with its concept), connector between clauses
   (S) or other (O). Tokens are English words, or Japanese morphemes from SudachiPy with
   its bundled dictionary (parts of speech, normalised and dictionary forms).
2. A small ensemble of one-hidden-layer networks (feed/core/op_network.py) reads each
   clause with its concept masked out and gives the probability of each op: boost,
   suppress, exclude, only, reset, or none (not an instruction). Its features: word and
   character n-grams of the masked clause, Japanese lemmas and parts of speech, cue-word
   features (hashed), and the multilingual sentence vector of the masked clause.

Cue lexicons are features of both models and a guard after them, never the parser:
`reading` refuses to turn a clause with a negative cue into a boost unless the model is
sure, and a clause whose polarity the model cannot tell is returned as ambiguous.

Loading the sentence encoder and Sudachi happens in `load_tokenizer` and the caller;
the functions over tokens are pure.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import mmh3
import numpy as np

from feed.core.op_network import OpNetwork, train_op_network

log = logging.getLogger(__name__)

OP_CLASSES = ("boost", "suppress", "exclude", "only", "reset", "none")
POSITIVE = frozenset({"boost", "only"})
NEGATIVE = frozenset({"suppress", "exclude"})
MODEL_VERSION = 14
HASH_FEATURES = 2**18
# The tagger's L1 and L2 regularisation (CRFsuite's c1, c2). With the hand-written sets
# learned from, L2 0.01 let one sentence's word pairs decide a tag ("how many shark videos
# are there?" made 「サメの動画もっと」 name nothing); 0.1 reads the dev sets as well or better.
TAGGER_L1 = 0.05
TAGGER_L2 = 0.1
MASK = "X"

_JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヶ]")
_JA_RUN = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヶ、。「」『』・〜～]+"
)
_EN_TOKEN = re.compile(
    r"@[A-Za-z0-9_][A-Za-z0-9_.\-]*"  # an @handle: one token, always a concept
    r"|[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^\sA-Za-z0-9]"
)


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`, as a set (lexicons read best as prose)."""
    return frozenset(text.split())


# Cue words: features for both models, and the negative ones guard against inversion.
EN_NEGATIVE_CUES = word_set(
    "no not never none nothing without except n't dont don't doesnt doesn't won't wont cant "
    "can't stop quit tired sick enough hate hates done over less fewer skip ban block hide "
    "avoid remove drop nope nah zero pass bored boring annoying ugh meh sick kill cut lose "
    "ditch tone dial reduce lower minus fed rid but exclude instead replace swap trade noo "
    "omit omits omitted eliminate erase unsubscribe"
)
EN_POSITIVE_CUES = word_set(
    "more want wanna love like show give into need bring add boost extra gimme plus please "
    "lots tons craving crave obsessed yes yay moar keep again"
)
# Negated auxiliaries as people type them without the apostrophe ("dont", "cant").
_EN_NEGATED = word_set(
    "dont doesnt didnt isnt arent wasnt werent cant couldnt shouldnt wouldnt wont havent "
    "hasnt hadnt aint neednt mustnt"
)
# How a thing makes the person feel ("gives me nightmares", "sounds fun"): cues of the
# same polarity, so a clause that only says what a thing does to someone still reads
# as more or less. Words that are concepts themselves ("creepy", "epic") stay out.
EN_NEGATIVE_AFFECT = word_set(
    "nightmare nightmares creeps chills queasy nauseous nausea anxious anxiety stress "
    "stressful stresses ruin ruins ruined ruining unbearable awful worst terrible horrible "
    "traumatizing traumatising trauma headache crawl bother bothers annoy annoys irritating "
    "irritates upset upsets dread disgusting nasty yuck ew eww stale overdone repetitive sucks "
    "suck trash garbage lame exhausting draining frustrating dislike loathe gag nauseating "
    "triggers freak freaks terrifies terrified sickening unwatchable insufferable tiresome "
    "ick cringe cringey cringy obnoxious grating unbearably"
)
EN_POSITIVE_AFFECT = word_set(
    "fun cool awesome amazing great fire goated jam best favorite favourite fave underrated "
    "adore enjoy enjoying dig digging vibing hyped excited lovely stoked ftw supremacy "
    "gorgeous fantastic incredible perfect wonderful"
)
EN_ONLY_CUES = word_set("only just nothing exclusively solely purely all strictly")
EN_RESET_CUES = word_set("reset normal undo clear start default forget back")
JA_NEGATIVE_CUES = word_set(
    "無い ない ぬ ず ん ませ 無理 勘弁 嫌 いや 嫌い 以外 飽きる 減らす 控える 止める やめる "
    "結構 NG 禁止 要らない いらない 除く 外す 消す 少ない 少なめ 減る 疲れる うんざり 苦手 "
    "遠慮 パス 嫌だ 無し なし ナシ もういい 見飽きる 避ける 抑える 控えめ 控え目 ほどほど "
    "へん ひん 飽き飽き ストップ"
)
JA_POSITIVE_CUES = word_set(
    "もっと 多い 多め 増やす 見る たい 欲しい ほしい 好き 大好き 頂戴 ちょうだい 下さい "
    "ください お願い 願う 増量 沢山 たくさん いっぱい 見せる 推す"
)
JA_NEGATIVE_AFFECT = word_set(
    "鳥肌 イライラ いらいら トラウマ ストレス 吐き気 吐く 萎える しんどい だるい 最悪 不快 悪夢 "
    "憂鬱 うざい ウザい 台無し 食傷 胸焼け ぞっと ぞわっと 苦痛 しつこい 寒気 げんなり "
    "痛い 気持ち悪い キモい きもい 耐える 耐えられる きつい きっつい キツい キツイ"
)
JA_POSITIVE_AFFECT = word_set(
    "最高 神 尊い 嬉しい うれしい ハマる はまる 推し 素敵 素晴らしい 楽しみ"
)
JA_ONLY_CUES = word_set("だけ のみ ばかり ばっかり しか オンリー 限定 専用 縛り 縛る")
JA_RESET_CUES = word_set("戻す 元 リセット 解除 普通 元通り 初期")


class IntentModelError(RuntimeError):
    """The intent model cannot be trained or loaded (missing packages, corrupt files)."""


@dataclass(frozen=True)
class Token:
    """One token of an instruction: characters [start, end) of the normalised text.

    `norm` is the lower-cased word (English) or Sudachi's normalised form (Japanese);
    `lemma` the dictionary form; `pos` a coarse part of speech.
    """

    text: str
    start: int
    end: int
    norm: str
    lemma: str
    pos: str
    pos2: str
    script: str
    # A Japanese noun that also stands as an adverb (Sudachi's 副詞可能: 最近, 先週, 今後, 他).
    adverbial: bool = False


@dataclass(frozen=True)
class Clause:
    """A clause found by the tagger: its character span and its concept spans."""

    start: int
    end: int
    concepts: tuple[tuple[int, int], ...]
    # Said after a repair ("..., sorry, I mean bats"): it takes back the clause before it.
    repairs: bool = False
    # What the clause after it puts something in place of (「メイク動画を|盆栽に入れ替えて」).
    replaced: bool = False
    # Named only beside the thing asked for, and no request of its own: "before" for what
    # a comparison sets below ("cats over | dogs", the thing asked for before it; also
    # 「ホラー見るくらいなら|ミステリー」, though there it comes after), "after" for the
    # options of a choice, which the thing chosen comes after ("between trains and
    # planes, | trains").
    set_aside: Literal["", "before", "after"] = ""


def normalise(text: str) -> str:
    """NFKC per character where it keeps the length (full-width to ASCII, half-width kana
    to full-width), so character offsets into the original text stay valid."""
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out).replace("’", "'").replace("‘", "'")


def has_japanese(text: str) -> bool:
    """True when the text holds kana or kanji."""
    return bool(_JA_CHAR.search(text))


# The emoji planes (pictographs, emoticons, transport, animals, food, objects). Symbols
# below them (♡ ♪ ★, enclosed CJK, regional indicators) are punctuation-like: left alone,
# except the few that Unicode draws as emoji by default (Emoji_Presentation) and that
# picture a thing: ⚽ ☕ ⛄ ⛺. Marks drawn as emoji (❌ ⭕ ✅ ❗ ✨ ⭐) stay marks: 「ホラー❌」
# declines.
_PICTOGRAPHS = ("\U0001f300", "\U0001faff")
_THINGS_BELOW = frozenset("⌚⌛⏰⏳☔☕♿⚓⚡⚽⚾⛄⛅⛪⛲⛳⛵⛺⛽")


def is_pictograph(char: str) -> bool:
    """Whether `char` is an emoji that pictures a thing (🦈, 🍜, ⚽), not a mark."""
    return _PICTOGRAPHS[0] <= char <= _PICTOGRAPHS[1] or char in _THINGS_BELOW


# Words of Unicode emoji names that say how the thing is drawn, not what it is.
_EMOJI_NAME_FILLER = frozenset(("face", "symbol", "sign", "emoji"))
# Variation selectors and skin tones (zero-width joiners are format characters, "Cf").
_EMOJI_MODIFIERS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)] + [chr(c) for c in range(0x1F3FB, 0x1F400)]
)


def name_emoji(text: str) -> str:
    """`text` with each pictograph read as its Unicode name (🦈 → shark, 🤡 → clown);
    joiners and variation selectors dropped. Other text is unchanged."""
    if text.isascii():
        return text
    out: list[str] = []
    changed = False
    for char in text:
        category = unicodedata.category(char)
        if category == "So" and is_pictograph(char):
            words = unicodedata.name(char, "").lower().split()
            kept = [w for w in words if w not in _EMOJI_NAME_FILLER] or words
            out.append(f" {' '.join(kept)} ")
            changed = True
        elif category == "Cf" or char in _EMOJI_MODIFIERS:
            changed = True
        else:
            out.append(char)
    return " ".join("".join(out).split()) if changed else text


class Tokenizer:
    """English words by pattern, Japanese runs by SudachiPy (mode C) with its dictionary."""

    def __init__(self, sudachi: Any) -> None:
        self._sudachi = sudachi
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[Token]:
        """Tokens of already normalised text, in order, with character offsets."""
        tokens: list[Token] = []
        pos = 0
        for match in _JA_RUN.finditer(text):
            tokens.extend(_english_tokens(text, pos, match.start()))
            tokens.extend(self._japanese_tokens(text, match.start(), match.end()))
            pos = match.end()
        tokens.extend(_english_tokens(text, pos, len(text)))
        return tokens

    def _japanese_tokens(self, text: str, start: int, end: int) -> list[Token]:
        run = text[start:end]
        with self._lock:  # a Sudachi tokenizer object is not safe across threads
            morphemes = [
                (m.surface(), m.begin(), m.end(), m.normalized_form(), m.dictionary_form(),
                 m.part_of_speech())
                for m in self._sudachi.tokenize(run)
            ]  # fmt: skip
        out = []
        for k, (surface, b, e, norm, lemma, pos) in enumerate(morphemes):
            if not surface.strip():
                continue
            if _fused_negator(surface, pos, morphemes[k + 1 : k + 2]):
                # 見せんといて: Sudachi reads 見せん as 見せる (連体形-撥音便); before とく
                # it can only be the Kansai negator ん, so it becomes its own token.
                out.append(Token(surface[:-1], start + b, start + e - 1, norm, lemma, "VERB",
                                 pos[1], "ja"))  # fmt: skip
                out.append(Token("ん", start + e - 1, start + e, "ん", "ぬ", "AUX", "*", "ja"))
                continue
            if k and _misread_negator(lemma, pos, morphemes[k - 1][5]):
                out.append(Token(surface, start + b, start + e, "ん", "ぬ", "AUX", "*", "ja"))
                continue
            out.append(
                Token(surface, start + b, start + e, norm, lemma, _JA_POS.get(pos[0], "X"),
                      pos[1], "ja", adverbial=pos[2] == "副詞可能")
            )  # fmt: skip
        return out


def _fused_negator(surface: str, pos: Sequence[str], after: Sequence[tuple[Any, ...]]) -> bool:
    """True when a verb Sudachi read in its 撥音便 form carries a Kansai negator ん: the
    next morpheme is the auxiliary とく (見せんといて, 流さんといて), which a 連体形 never
    precedes."""
    return (
        pos[0] == "動詞"
        and len(surface) > 1
        and surface.endswith("ん")
        and pos[5].endswith("撥音便")
        and bool(after)
        and after[0][4] == "とく"
    )


def _misread_negator(lemma: str, pos: Sequence[str], before: Sequence[str]) -> bool:
    """True for the Kansai and Kyushu negator that Sudachi reads as something else after a
    verb: ん read as the nominaliser after a 一段 verb's 連用形 or 未然形 (見んでええ; the
    nominaliser follows a 連体形, 見るんで), and らん read as the classical らむ (見らんで
    いい, Kyushu's 見ない)."""
    if before[0] != "動詞":
        return False
    if pos[:2] == ("助詞", "準体助詞"):
        return before[5].startswith(("連用形", "未然形"))
    return pos[0] == "助動詞" and lemma == "らむ"


_JA_POS = {
    "名詞": "NOUN", "代名詞": "PRON", "動詞": "VERB", "形容詞": "ADJ", "形状詞": "ADJN",
    "副詞": "ADV", "助詞": "PART", "助動詞": "AUX", "接尾辞": "SUFF", "接頭辞": "PREF",
    "補助記号": "PUNCT", "記号": "SYM", "感動詞": "INTJ", "連体詞": "DET", "接続詞": "CONJ",
}  # fmt: skip


def _english_tokens(text: str, start: int, end: int) -> list[Token]:
    out = []
    for m in _EN_TOKEN.finditer(text, start, end):
        word = m.group()
        low = word.lower()
        if low.startswith("@") and len(low) > 1:
            pos = "MENTION"
        elif low.isalpha() or "'" in low:
            pos = "EN"
        elif low.isdigit():
            pos = "NUM"
        elif unicodedata.category(word[0]).startswith("P"):
            pos = "PUNCT"
        elif _is_emoji(word):
            pos = "EMOJI"  # a picture can name a thing ("more 🦈") or say what to do ("👎")
        elif unicodedata.category(word[0]).startswith("S"):
            pos = "SYM"
        else:
            pos = "EN"
        out.append(Token(word, m.start(), m.end(), low, low, pos, "*", "en"))
    return out


def _is_emoji(char: str) -> bool:
    """True for pictographs (🦈, 👎, ☕), not for signs such as © or ♪."""
    code = ord(char[0])
    return (
        unicodedata.category(char[0]) == "So"
        and char[0] not in "♪♫♬♩♀♂"
        and (code >= 0x1F000 or 0x2600 <= code <= 0x27BF or 0x2B00 <= code <= 0x2BFF)
    )


# Pictographs that say how someone feels (faces, hands, hearts) rather than name a thing.
_MOOD_NAMES = ("THUMBS", "HAND", "HEART", "SPARKLES", "SKULL", "HUNDRED", "CLAPPING", "FLEXED")


def emoji_kind(char: str) -> str:
    """ "mood" for a face, hand or heart (😂, 👎, 💕), "thing" for 🐈 or 🍣, "" otherwise.

    Animal, robot and clown faces (🐱, 🤖, 🤡) are things: people ask for them.
    """
    if not _is_emoji(char):
        return ""
    code = ord(char[0])
    name = unicodedata.name(char[0], "")
    faces = (
        (0x1F600 <= code <= 0x1F64F and not 0x1F638 <= code <= 0x1F640)
        or (0x1F910 <= code <= 0x1F92F and code not in (0x1F916, 0x1F921))
        or 0x1F970 <= code <= 0x1F97A
        or 0x1FAE0 <= code <= 0x1FAFF
    )
    return "mood" if faces or any(word in name for word in _MOOD_NAMES) else "thing"


def load_tokenizer() -> Tokenizer:
    """A tokenizer over SudachiPy's core dictionary (installed with the package)."""
    try:
        from sudachipy import Dictionary, SplitMode
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise IntentModelError("sudachipy is not installed") from exc
    return Tokenizer(Dictionary(dict="core").create(SplitMode.C))


# -- features -------------------------------------------------------------------------


# Typed cue words: an unknown word one slip of the finger from a cue word reads as that
# cue ("stpo", "mroe", "tierd", "lesss", "moooore"). A slip is a swap of two neighbouring
# letters, a dropped letter, a key next to the right one (pressed instead or as well),
# or a key held down (three of a letter); both words have four letters or more, except
# for a held key.
_EN_CUE_WORDS = frozenset(
    w
    for words in (EN_NEGATIVE_CUES, EN_POSITIVE_CUES, EN_ONLY_CUES, EN_RESET_CUES, _EN_NEGATED)
    for w in words
    if w.isalpha()
)
_EN_ALL_CUES = _EN_CUE_WORDS | EN_NEGATIVE_AFFECT | EN_POSITIVE_AFFECT
# Words in their own right one slip from a cue word ("snow" is not "show"): never cues.
_EN_NEAR_CUE_WORDS = word_set(
    "aero anna ardent aren atop aunt avid bates being bing bloc boeing bone boot boots bore "
    "bred brig carving cave cone crop dail dick dome dong drip drone dual dutch ease eras "
    "eraser ever excerpt fired fitch five font forge gain gate gates gone grade hack hare "
    "haste hats hayes hire hive hope indo info intro jeep jill keel lass lear lease lime "
    "live lobe lock logs loose loser loss lost lover lowe luke mill moat mode moore mora "
    "morse must nate nine norma noting omar onto pads paws pike pleas plots pose pots power "
    "rave rent rest ring saint sant shoe slip snow sock star starr stat suck tied tire "
    "tires tome tones trace trader tried unto void wang wong yates"
)
_KEYS = {
    ch: (row, col + (0.0, 0.25, 0.75)[row])
    for row, keys in enumerate(("qwertyuiop", "asdfghjkl", "zxcvbnm"))
    for col, ch in enumerate(keys)
}


def _next_key(a: str, b: str) -> bool:
    """True when keys `a` and `b` touch on a QWERTY keyboard (or are the same key)."""
    if a == b:
        return True
    if a not in _KEYS or b not in _KEYS:
        return False
    (ra, xa), (rb, xb) = _KEYS[a], _KEYS[b]
    return abs(ra - rb) <= 1 and abs(xa - xb) <= 1.0


def _slip_of(word: str, cue: str) -> bool:
    """True when `word` is `cue` typed with one slip (see _EN_CUE_WORDS)."""
    n, m = len(word), len(cue)
    if n == m:
        diff = [i for i in range(n) if word[i] != cue[i]]
        if len(diff) == 1:
            return _next_key(word[diff[0]], cue[diff[0]])
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and word[diff[0]] == cue[diff[1]]
            and word[diff[1]] == cue[diff[0]]
        )
    if n == m - 1:
        return any(cue[:i] + cue[i + 1 :] == word for i in range(m))
    if n == m + 1:
        return any(
            word[:i] + word[i + 1 :] == cue
            and any(_next_key(word[i], word[j]) for j in (i - 1, i + 1) if 0 <= j < n)
            for i in range(n)
        )
    return False


_HELD_KEY = re.compile(r"(.)\1+")
_HELD_KEY_LONG = re.compile(r"(.)\1\1")  # "feed" is not "fed", but "lesss" is "less"


@functools.cache
def _cue_word(norm: str) -> str:
    """The cue word `norm` stands for: itself without apostrophes, or the cue it is a typo
    of when it is no word of the lexicons and no word in its own right."""
    word = norm.replace("'", "")
    if not word.isalpha() or not word.isascii() or word in _EN_ALL_CUES:
        return word
    if word in _EN_NEAR_CUE_WORDS:
        return word
    if _HELD_KEY_LONG.search(word):
        squeezed = _HELD_KEY.sub(r"\1", word)
        held = [c for c in _EN_CUE_WORDS if _HELD_KEY.sub(r"\1", c) == squeezed]
        if held:
            return min(held, key=len)
    if len(word) >= 4:
        for cue in sorted(_EN_CUE_WORDS):
            if len(cue) >= 4 and _slip_of(word, cue):
                return cue
    return word


def _op_word(token: Token) -> str:
    """ "neg" or "pos" where `token` is an op word of the cue lexicons ("less", 「もっと」),
    "" otherwise; words of feeling ("fun", "scary") are no op words."""
    english = token.script == "en"
    forms = (
        (_cue_word(token.norm), token.norm) if english else (token.norm, token.lemma, token.text)
    )
    if any(f in (EN_NEGATIVE_CUES if english else JA_NEGATIVE_CUES) for f in forms):
        return "neg"
    if any(f in (EN_POSITIVE_CUES if english else JA_POSITIVE_CUES) for f in forms):
        return "pos"
    return ""


def _cue(token: Token) -> str:
    """The way `token` leans: an op word's, a negator's ("don't") or a feeling's ("neg",
    "pos"), or an only or reset word's ("only", "reset"); "" for none."""
    op = _op_word(token)
    if op == "neg":
        return "neg"
    if token.script == "en":
        word = _cue_word(token.norm)
        if word in _EN_NEGATED or token.norm in EN_NEGATIVE_AFFECT:
            return "neg"
        if word in EN_ONLY_CUES:
            return "only"
        if word in EN_RESET_CUES:
            return "reset"
        return "pos" if op or token.norm in EN_POSITIVE_AFFECT else ""
    forms = (token.norm, token.lemma, token.text)
    if any(form in JA_NEGATIVE_AFFECT for form in forms):
        return "neg"
    if any(form in JA_ONLY_CUES for form in forms):
        return "only"
    if any(form in JA_RESET_CUES for form in forms):
        return "reset"
    return "pos" if op or any(form in JA_POSITIVE_AFFECT for form in forms) else ""


# English function words by class: the tagger has no English part-of-speech tags, and
# these closed classes are what tells "cats playing in the snow" (one concept) from
# "cats, more of the snow" (two).
_EN_FUNCTION = {
    word: kind
    for kind, words in (
        ("det", "the a an this that these those some any all every each no"),
        ("pron", "i me my mine you your u ur it its they them their we us our he him his she her"),
        ("prep", "of in on at over under with w/ from for to by about into through across near "
                 "around behind during after before without like than"),
        ("aux", "is are was were be been am do does did has have had can could would will "
                "should shall may might must gonna wanna"),
        ("conj", "and or but nor so plus n &"),
        ("wh", "what why how where who when which"),
    )
    for word in words.split()
}  # fmt: skip


def _function_class(token: Token) -> str:
    return _EN_FUNCTION.get(token.norm, "-") if token.script == "en" else token.pos


def _shape(text: str) -> str:
    if has_japanese(text):
        kinds = {"katakana" if "\u30a0" <= c <= "\u30ff" else
                 "hiragana" if "\u3040" <= c <= "\u309f" else "kanji" for c in text}  # fmt: skip
        return "+".join(sorted(kinds))
    if text.isdigit():
        return "digit"
    if text[:1].isupper():
        return "Cap"
    if text.isalpha():
        return "lower"
    return "other"


@functools.cache
def emoji_words(text: str) -> tuple[str, ...]:
    """The words of an emoji's Unicode name, drawing words dropped (🚫 → no, entry;
    👎 → thumbs, down); () for anything else. A picture that says what to do (🚫, 🙅)
    shares name words with the words that say it."""
    if not _is_emoji(text):
        return ()
    words = unicodedata.name(text[0], "").lower().split()
    return tuple(w for w in words if w not in _EMOJI_NAME_FILLER)


def token_features(tokens: Sequence[Token]) -> list[list[str]]:
    """CRF feature strings for every token (its own word, shape, cue, and its neighbours)."""
    base = []
    for t in tokens:
        base.append({
            "w": t.norm, "l": t.lemma, "p": t.pos, "p2": f"{t.pos}/{t.pos2}",
            "s": t.script, "sh": _shape(t.text), "cue": _cue(t) or "-",
            "suf": t.norm[-3:], "pre": t.norm[:2], "emo": emoji_kind(t.text) or "-",
            "fc": _function_class(t),
        })  # fmt: skip
    feats: list[list[str]] = []
    n = len(tokens)
    for i, own in enumerate(base):
        f = ["bias"] + [f"{k}={v}" for k, v in own.items()]
        f += [f"emw={w}" for w in emoji_words(tokens[i].text)]
        if i == 0:
            f.append("BOS")
        if i == n - 1:
            f.append("EOS")
        for off in (-2, -1, 1, 2):
            j = i + off
            if 0 <= j < n:
                other = base[j]
                f += [f"{off}w={other['w']}", f"{off}p={other['p']}", f"{off}cue={other['cue']}"]
                if abs(off) == 1:
                    f += [f"{off}p2={other['p2']}", f"{off}sh={other['sh']}",
                          f"{off}emo={other['emo']}", f"{off}fc={other['fc']}"]  # fmt: skip
            else:
                f.append(f"{off}=pad")
        if i > 0:
            f.append(f"bi-={base[i - 1]['w']}|{own['w']}")
        if i < n - 1:
            f.append(f"bi+={own['w']}|{base[i + 1]['w']}")
        feats.append(f)
    return feats


def masked_clause(text: str, clause: Clause) -> str:
    """The clause's text with each concept replaced by MASK."""
    out = []
    pos = clause.start
    for start, end in clause.concepts:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos : clause.end])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def tokens_in(clause: Clause, tokens: Sequence[Token]) -> list[Token]:
    """The tokens that lie within a clause."""
    return [t for t in tokens if t.start >= clause.start and t.end <= clause.end]


# Words that only join a concept to the sentence ("a", "of the", "now as", の, を):
# a clause with nothing else besides its concepts asks nothing in words of its own.
_EN_JOINERS = word_set("the a an this that these those some of in on at with from for to by into "
                       "across as now and or & then")  # fmt: skip
_JOINER_POS = frozenset({"PART", "PUNCT", "SYM"})  # particles (Japanese), punctuation


def only_names(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether every word of the clause outside its concepts only joins them to the
    sentence (articles, prepositions, particles, punctuation; never an emoji)."""
    return all(in_concept(t, clause) or _joins(t) for t in tokens_in(clause, tokens))


def lists_or_names(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause only names its concepts (`only_names`), with head nouns and list
    joiners besides: 「ぬいぐるみの動画と」, "the otter clips and"."""
    return all(
        in_concept(t, clause)
        or _joins(t)
        or t.norm in _HEADS
        or t.norm in _LIST_JOINERS
        or t.text in _LIST_JOINERS
        for t in tokens_in(clause, tokens)
    )


# Signs that say more or less of the item they follow ("gardening ↑ golf ↓", 「釣り〇 登山×」):
# words of a clause's own, never mere joiners.
_MARK_SIGNS = frozenset("↑↓⬆⬇▲▼△▽↗↘○〇◯×✕✖✓✔✗✘")


def _joins(token: Token) -> bool:
    """A word that only joins a concept to the sentence (see `_EN_JOINERS`)."""
    if token.text in _MARK_SIGNS:
        return False
    return token.pos in _JOINER_POS or (token.script == "en" and token.norm in _EN_JOINERS)


# Praise that asks for nothing in words ("the snow monkeys are adorable", 「線香花火いいね」):
# enough for a clause to mean more of its concept, unlike "ok with birds".
_EN_PRAISE = word_set(
    "fan happy glad good nice adorable cute beautiful pretty funny hilarious wholesome epic "
    "sick dope lit goat banger 10/10 prefer rather about liked loved enjoyed fav"
)
_JA_PRAISE = word_set(
    "いい 良い よい かっこいい カッコいい かわいい 可愛い カワイイ 好き 素敵 面白い おもしろい "
    "楽しい 綺麗 きれい 美しい 推し 神 癒し 癒される 尊い エモい 優勝 方"
)


# Words that accept without asking: "chess is ok, chess drama is not", 「ホラーは平気だけど」.
_EN_ACCEPT = word_set("fine ok okay whatever alright meh")
# Words of acceptance the tagger may take into a concept span ("anime fine").
_EN_VERDICTS = _EN_ACCEPT | word_set("sure")
_JA_ACCEPT = word_set("平気 大丈夫 そのまま 別に まあ OK ok")
_JA_FINE = word_set("いい 良い よい")
_JA_BUT_ALSO = word_set("けど けれど けれども けども が から ん の")


def _accepting(words: Sequence[Token]) -> bool:
    return any(t.norm in _EN_ACCEPT or t.text in _JA_ACCEPT or t.lemma in _JA_ACCEPT for t in words)


def accepts(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause accepts its concept without asking for more or less of it:
    "sushi clips are fine", "skateboarding is whatever", 「猫はいいけど」「グルメはそのままで」."""
    words = outside_concepts(clause, tokens)
    after = [t.text for t in tokens if t.start >= clause.end][:2]
    if _accepting(words):
        return True
    for k, t in enumerate(words):
        if t.script == "ja" and t.lemma in _JA_FINE:
            # 「いいけど」「いいんだけど」 accept; 「いいから」 dismisses (enough of it).
            following = [w.text for w in words[k + 1 : k + 3]] or after
            if any(a in _JA_BUT or a in ("ん", "の") for a in following[:2]):
                return True
    return False


# A dislike denied: "I don't mind…", "not that I hate…", 「嫌いじゃない」; never "wouldn't
# mind", which asks for it.
_EN_DISLIKING = word_set("mind hate dislike against wrong mad complaints complaint")
_EN_WOULD = word_set("would wouldn't wouldnt won't wont 'd")
_JA_DISLIKING = word_set("嫌い きらい 嫌 嫌う いや 苦手 文句")
# What denies the Japanese dislike just before it: 「嫌いじゃない」「嫌ってわけじゃなくて」
# 「文句ないっす」「嫌いちゃうで」「嫌いやない」; never 「苦手なんだよね」, whose ん is the
# explanatory の, nor Kansai's 「嫌いやな」 (I do dislike it).
_JA_DENIED = (
    "じゃな",
    "ではな",
    "じゃあな",
    "やない",
    "やなく",
    "ちゃう",
    "ない",
    "ねえ",
    "はない",
    "もない",
    "ってわけじゃ",
    "ってわけでは",
    "てわけじゃ",
    "というわけじゃ",
    "なわけじゃ",
    "なわけでは",
    "わけじゃ",
)
# What turns a denied dislike into an understatement: "not that I mind, actually more".
_RATHER = word_set("むしろ 寧ろ actually rather infact")


def grants(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause grants its concept without asking anything of it: it denies
    disliking it ("i don't mind the occasional car review", "it's not that I hate horror",
    「ホラー自体は嫌いじゃないけど」) and asks for more of it in no word of its own.
    Praise (「陶芸は好き、でも…」) is no grant here: the hand-written sets disagree on
    whether it asks for more."""
    words = outside_concepts(clause, tokens)
    if any(_op_word(t) == "pos" and not _praise_word(t) for t in words):
        return False  # 「嫌いじゃないよ、もっと見たい」 asks
    following = [t for t in tokens if t.start >= clause.end and has_words(t.text)][:3]
    if any(t.norm in _RATHER or t.text in _RATHER for t in following):
        return False  # 「バレエ嫌いじゃないし、むしろ見たい」: an understatement
    for k, t in enumerate(words):
        if t.script == "en" and t.norm in _EN_DISLIKING:
            before = words[max(0, k - 3) : k]
            if any(u.norm in _EN_NEGATORS for u in before) and not any(
                u.norm in _EN_WOULD for u in before
            ):
                return True
        elif (
            t.script == "ja"
            and (t.text in _JA_DISLIKING or t.lemma in _JA_DISLIKING)
            and "".join(u.text for u in words[k + 1 : k + 6]).startswith(_JA_DENIED)
        ):
            return True
    return False


_JA_SIDE = word_set("方 ほう")  # 「アニメ風の方が」: the side of a comparison
_JA_YORI_TAILS = word_set("も は")  # 「よりも」「よりは」


def _yori(inside: Sequence[Token], i: int) -> bool:
    """Whether token `i` is the particle 「より」 of a comparison. After a latin word
    (「ramen より soba 派です」) Sudachi sees より open a run of its own and reads the
    adverb ("more"); there it is the particle too."""
    t = inside[i]
    if t.text != "より" or t.script != "ja":
        return False
    return t.pos == "PART" or (i > 0 and inside[i - 1].pos == "EN")


# What gathers the Japanese items before it under one ask: 「ゾンビ、ピエロ、人形、どれも
# 無理」. Not English "all": "it's all drilling noise" complains of one thing.
_JA_EVERY_ONE = word_set("どれ 全部 ぜんぶ 全て すべて みんな 皆 いずれ 両方")


def join_items_before_all(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses that only name items, joined to the clause after them that asks for all of
    them at once (「グロいのも、虫のも、事故のも、全部いらない」): read apart, each bare item
    read as more."""
    out: list[Clause] = []
    for clause in clauses:
        gathers = any(
            (t.text in _JA_EVERY_ONE or t.lemma in _JA_EVERY_ONE) and not in_concept(t, clause)
            for t in tokens_in(clause, tokens)
        )
        k = len(out)
        if gathers and clause_cues(clause, tokens).any():
            while k and out[k - 1].concepts and _bare_items(out[k - 1], tokens):
                k -= 1
        if k == len(out):
            out.append(clause)
            continue
        items = [c for part in out[k:] for c in part.concepts]
        joined = Clause(out[k].start, clause.end, (*items, *clause.concepts), out[k].repairs)
        out[k:] = [joined]
    return out


def _bare_items(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause only names its items (and particles such as 「も」 or 「の」)."""
    return only_names(clause, tokens) and not clause_cues(clause, tokens).any()


def split_comparisons(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese comparison the tagger kept in one clause (「ペンギンよりアザラシが見たい」
    tagged with ペンギン alone, 「ホラー見るくらいならミステリーの方がいい」) cut after
    「より」 or 「くらいなら」, with what follows it a concept of its own where the tagger
    left it unmarked: the first half is compared away (`compared_away`; `set_aside`
    after 「くらいなら」), the second read as what it asks. 「ボクシングを見るくらいなら
    寝る」, with nothing named after it, refuses boxing and stays whole."""
    out: list[Clause] = []
    for n, clause in enumerate(clauses):
        inside = tokens_in(clause, tokens)
        k = next((i for i in range(1, len(inside) - 1) if _yori(inside, i)), None)
        j = None if k is None else k + 1
        rather = _rather_than(inside)
        if rather is not None and rather == len(inside):
            # The tagger cut there itself: set aside where the next clause names something.
            named = n + 1 < len(clauses) and bool(clause.concepts and clauses[n + 1].concepts)
            out.append(replace(clause, set_aside="before" if named else ""))
            continue
        if j is None and rather is not None:
            k = j = rather
        if k is None or j is None:
            out.append(clause)
            continue
        while j < len(inside) and inside[j].text in _JA_YORI_TAILS:
            j += 1
        if j >= len(inside):
            out.append(clause)
            continue
        first = _first_item(clause, inside, k)
        rest = tuple(c for c in clause.concepts if c[0] >= inside[j].start)
        rest = rest or _noun_run(inside[j:], latin=True)  # 「ramen より soba 派です」
        if not first or not rest:
            out.append(clause)
            continue
        out.append(Clause(clause.start, inside[j - 1].end, first, clause.repairs,
                          set_aside="before" if rather is not None else ""))  # fmt: skip
        out.append(Clause(inside[j].start, clause.end, rest))
    return out


def _rather_than(inside: Sequence[Token]) -> int | None:
    """The index after 「くらいなら」「ぐらいなら」「くらいだったら」 in a Japanese clause
    (what the writer would sooner do without comes before it), or None."""
    for k in range(1, len(inside)):
        if inside[k - 1].text not in ("くらい", "ぐらい") or inside[k - 1].script != "ja":
            continue
        for tail in (("なら",), ("だっ", "たら")):
            if tuple(t.text for t in inside[k : k + len(tail)]) == tail:
                return k + len(tail)
    return None


def sooner_without(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause names what the writer would sooner do without, with
    nothing named after 「くらいなら」 (「ボクシングを見るくらいなら寝る」: less boxing;
    with something named after it, `split_comparisons` cuts the clause in two)."""
    inside = tokens_in(clause, tokens)
    rather = _rather_than(inside)
    if rather is None or rather >= len(inside):
        return False
    after = inside[rather].start
    return bool(clause.concepts) and all(c[1] <= after for c in clause.concepts)


def compared_away(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause closes on 「より」 (「よりも」「よりは」) after what it names:
    the item a comparison sets below another (「イルカより|シャチが見たい」)."""
    inside = [t for t in tokens_in(clause, tokens) if t.pos not in ("PUNCT", "SYM")]
    while inside and inside[-1].text in _JA_YORI_TAILS:
        inside.pop()
    return bool(inside) and inside[-1].text == "より" and inside[-1].script == "ja"


# Words before "than" that set the first thing above the second ("cats are better than
# dogs", "i'd rather see otters than", "way more fun to watch than"), and words that set
# it below or make "than" no comparison of two things ("less than usual", "other than").
_EN_ABOVE = word_set(
    "more better rather sooner prefer preferable cuter funnier nicer cooler prettier cozier "
    "calmer sweeter greater happier"
)
_EN_NOT_ABOVE = word_set("less fewer worse lesser other else")
_EN_PREFERRING = word_set(
    "prefer prefers preferred preferring rather sooner take taking pick picking choose choosing"
)
_EN_PREFER = word_set("prefer prefers preferred preferring")
_EN_BEATS = frozenset((">", ">>", "beats", "trumps"))  # "origami beats painting", 「寿司＞焼肉」
_EN_ANY_TIME = (("any", "day"), ("every", "time"), ("all", "day"), ("anytime",), ("always",))
_EN_DETERMINERS = word_set("a an the this that these those some any another more")


def _english_comparison(inside: Sequence[Token]) -> int | None:
    """The index of the word that sets what follows below what precedes it in an English
    comparison: "than" after a word that sets the first thing above ("rally racing is way
    more fun to watch than F1", "I'd rather see 紅葉 than 桜"); "over" in a clause that
    prefers ("I'll take rain over sunshine", "watercolor over photoreal any day", never
    "a sunset over the sea"); "to" after "prefer" ("prefer wild animals to pets"), never
    right after the verb ("prefer to watch", "cats taking over the house"); "beats" and
    ">" ("origami beats painting for me", 「寿司＞焼肉」)."""
    norms = [t.norm for t in inside]
    for k, t in enumerate(inside[:-1]):
        if not k or t.script != "en":
            continue
        before, after = set(norms[:k]), norms[k + 1 :]
        if t.norm == "than":  # "cats rather than dogs" too
            found = bool(before & _EN_ABOVE) and not before & _EN_NOT_ABOVE
        elif norms[k - 1] in _EN_PREFERRING:
            found = False
        elif t.norm == "over":
            any_time = any(
                after[i : i + len(w)] == list(w) for w in _EN_ANY_TIME for i in range(len(after))
            )
            found = bool(before & _EN_PREFERRING) or any_time
        elif t.norm in _EN_BEATS:
            found = True
        else:
            found = t.norm == "to" and bool(before & _EN_PREFER)
        if found:
            return k
    return None


def _concepts_cut(
    clause: Clause, inside: Sequence[Token], lo: int, hi: int
) -> tuple[tuple[int, int], ...]:
    """The parts of `clause`'s concepts that lie in its tokens lo..hi-1, each without a
    leading determiner ("over | a vlog" → vlog) or a trailing particle."""
    out = []
    for c in clause.concepts:
        words = [t for t in inside[lo:hi] if t.start >= c[0] and t.end <= c[1]]
        while words and words[0].norm in _EN_DETERMINERS:
            words.pop(0)
        while words and words[-1].pos in ("PART", "AUX", "PUNCT"):  # 「寿司なら|寿司」
            words.pop()
        if words:
            out.append((words[0].start, words[-1].end))
    return tuple(out)


def _noun_run(words: Sequence[Token], *, latin: bool = False) -> tuple[tuple[int, int], ...]:
    """The Japanese noun phrase `words` open on (「油絵かな」 → 油絵, 「アニメ風の方が」 →
    アニメ風), latin words among its nouns where `latin`, as a concept the tagger left
    unmarked, or () (see `_item_span`)."""
    items = []
    for t in words:
        if not (t.pos in _ITEM_POS or t.text == "の") or (t.script != "ja" and not latin):
            break
        items.append(t)
    while items and (items[-1].norm in _JA_SIDE or items[-1].text == "の"):
        items.pop()
    return (span,) if (span := _item_span(items)) else ()


def mark_after_no_more(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese clause that opens on 「これ以上」 and names nothing the tagger marked
    (「これ以上ホラーは見たくない」): the noun phrase after it, where a particle follows
    it, is the thing (with 「これ」 first the tagger reads the clause as pointing)."""
    out = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        texts = [t.text for t in inside]
        if clause.concepts or texts[:2] != ["これ", "以上"]:
            out.append(clause)
            continue
        ends = [k for k in range(3, len(inside)) if inside[k].text in ("は", "を", "が", "も")]
        run = _noun_run(inside[2 : ends[0]], latin=True) if ends else ()
        if run:
            clause = replace(clause, concepts=run)
        out.append(clause)
    return out


def split_english_comparisons(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """An English comparison in one clause ("cats are better than dogs", "I'll take rain
    over sunshine scenes", a concept the tagger ran across the two: "watercolor over
    photoreal") cut at the word between the two things, the second half `set_aside`:
    what the writer prefers is asked for, and what is set below it is no request of its
    own (read whole, the pair took the first's ask, or asked in both directions). A side
    the tagger named nothing in ("I'd rather watch paint dry than another unboxing video")
    leaves the clause whole."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        if out and clause.concepts and out[-1].concepts:
            # The tagger cut there itself ("rather cats | than dogs").
            last = tokens_in(out[-1], tokens)
            if _english_comparison([*last, *inside]) == len(last):
                out.append(replace(clause, set_aside="before"))
                continue
        k = _english_comparison(inside)
        if k is None:
            out.append(clause)
            continue
        # The second thing ends at the next mark ("rain over sunshine scenes, | the sunny
        # beach stuff is getting old"): what follows is a clause of its own.
        e = next(
            (i for i in range(k + 1, len(inside)) if inside[i].text in _CLAUSE_PUNCT | _FULL_STOPS),
            len(inside),
        )
        first = _concepts_cut(clause, inside, 0, k)
        second = _concepts_cut(clause, inside, k + 1, e) or _noun_run(inside[k + 1 : e])
        if not first or not second:
            out.append(clause)
            continue
        out.append(Clause(clause.start, inside[k - 1].end, first, clause.repairs))
        if e == len(inside):
            out.append(Clause(inside[k].start, clause.end, second, set_aside="before"))
            continue
        out.append(Clause(inside[k].start, inside[e - 1].end, second, set_aside="before"))
        rest = tuple(c for c in clause.concepts if c[0] >= inside[e].start)
        out.append(Clause(inside[e].start, clause.end, rest))
    return out


_JA_CHOICE_MARKS = word_set("か と や")  # 「焼肉か寿司なら」「油絵と水彩なら」
_JA_IF = word_set("なら だったら")
_EN_CHOOSING = word_set("pick choose chose picked")


def _choice_frame(inside: Sequence[Token], named_from: int) -> int | None:
    """The index of the first token after the options a choice is made from: the comma
    after "between X and Y" opening a clause that names nothing before it ("between
    trains and planes, | trains every time", never "cats sleeping between the couch and
    the bed"), or the token after 「なら」 closing 「AかB」「AとB」 (「焼肉か寿司なら|寿司一択」).
    Or the comma after "if I had to pick" when the clause names nothing before it ("if I
    had to pick, | hamsters"). `named_from` is where the clause's first concept starts."""
    norms = [t.norm for t in inside]
    comma = next((i for i, t in enumerate(inside) if t.text in _CLAUSE_PUNCT), None)
    if (
        norms[:1] == ["if"]
        and comma is not None
        and _EN_CHOOSING & set(norms[:comma])
        and inside[comma].end <= named_from
    ):
        return comma
    if "between" in norms:
        b = norms.index("between")
        if b > 2 or inside[b].start > named_from or not {"and", "or"} & set(norms[b:]):
            return None
        marks = (i for i in range(b, len(inside)) if inside[i].text in _CLAUSE_PUNCT)
        return next(marks, len(inside))  # the tagger may have cut at the comma itself
    for n, t in enumerate(inside[:-1]):
        if t.text in _JA_IF and t.script == "ja" and n >= 3:
            if any(u.text in _JA_CHOICE_MARKS and u.pos == "PART" for u in inside[1 : n - 1]):
                return n + 1
            return None
    return None


def split_choices(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A choice between named options and the one chosen ("if it's between hip hop and
    k-pop, hip hop", 「油絵と水彩なら油絵かな」) cut after the options, which are
    `set_aside`: the choice is asked for, the options are no request of their own (read
    with it, the option not chosen took its ask, or was read as less). The one chosen gets
    its own concept where the tagger ran it into the options or left it unmarked
    (Japanese)."""
    out: list[Clause] = []
    for n, clause in enumerate(clauses):
        inside = tokens_in(clause, tokens)
        k = _choice_frame(inside, clause.concepts[0][0]) if clause.concepts else None
        if k is None or (k == len(inside) and n == len(clauses) - 1):
            out.append(clause)
            continue
        options = _concepts_cut(clause, inside, 0, k)
        chosen = _concepts_cut(clause, inside, k, len(inside)) or _noun_run(inside[k:])
        out.append(
            Clause(clause.start, inside[k - 1].end, options, clause.repairs, set_aside="after")
        )
        if k < len(inside):
            out.append(Clause(inside[k].start, clause.end, chosen))
    return out


def _praise_word(t: Token) -> bool:
    return t.norm in _EN_PRAISE or t.lemma in _JA_PRAISE or t.text in _JA_PRAISE


def praises(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause holds a word of praise or preference outside its concepts.
    「猫はいいけど」 only accepts: いい before a "but" is no praise."""
    words = outside_concepts(clause, tokens)
    text = " ".join(t.norm for t in words)
    if "10 / 10" in text:
        return True
    for k, t in enumerate(words):
        if not _praise_word(t):
            continue
        after = [w.text for w in words[k + 1 : k + 3]] + [
            w.text for w in tokens if w.start >= clause.end
        ][:2]
        if t.lemma in _JA_FINE and any(a in _JA_BUT_ALSO for a in after[:2]):
            continue
        return True
    return False


# Particles of agreement: 「いいね」「いいよね」 say something is nice, where 「いいや」
# 「いいです」 (and often 「いいよ」) decline.
_JA_AGREEING = ("ね", "な", "なあ", "よね", "よな")


def agrees_it_is_nice(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause holds 「いい」 followed by a particle of agreement outside its
    concepts (「温泉はいいね」「猫っていいよね」), which never declines the way 「猫はいいや」
    does."""
    words = outside_concepts(clause, tokens)
    for k, t in enumerate(words):
        if t.lemma not in _JA_FINE and t.text not in _JA_FINE:
            continue
        after = [w.text for w in words[k + 1 : k + 3]]
        if after and (after[0] in _JA_AGREEING or "".join(after) in _JA_AGREEING):
            return True
    return False


# What 「が」 says is good in 「それがいい」「ラーメンが最高」: a preference, where 「は」
# before the same word may decline (「ラーメンはいい」).
_JA_GOOD = word_set("いい 良い よい 最高 一番")


def prefers_it(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause says with 「が」 that something is good or best
    (「お腹すくけど、それがいい」「やっぱり猫が一番」), outside its concepts."""
    inside = tokens_in(clause, tokens)
    return any(
        t.text == "が"
        and t.pos == "PART"
        and ({n.lemma, n.norm, n.text} & _JA_GOOD)
        and not in_concept(n, clause)
        for t, n in itertools.pairwise(inside)
    )


_EN_ANYTHING = word_set("anything any something")
_EN_HAVING = word_set("with about involving featuring showing")


def asks_for_anything_with(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause asks for "anything with" what it names ("anything with trains,
    trams or monorails", "show me anything about owls"), which the corpus knows mostly as
    "anything but": only words that ask or speak of the writer come before it ("scared of
    anything with sirens" is no ask)."""
    words = [t for t in outside_concepts(clause, tokens) if has_words(t.text)]
    for k, t in enumerate(words[:-1]):
        if t.norm in _EN_ANYTHING and words[k + 1].norm in _EN_HAVING:
            return all(w.norm in _EN_ASKS or w.norm in _EN_SELF for w in words[:k])
    return False


# More of a thing as what the writer dreads: "if I see one more X I'll scream", "one more
# X and I'm deleting the app", "would hate more X", "more X would be terrible",
# 「これ以上Xが増えたら悲しい」.
_EN_MORE = word_set("more another")
_EN_DREAD = word_set("hate dread")
_EN_DREAD_GAP = word_set("to see get seeing getting watching even any one")
_EN_DREADFUL = word_set("terrible awful horrible worst unbearable nightmare")
_EN_THEN_SELF = word_set("i i'm im i'll ill i'd id i've")
_EN_CONTENT = word_set("happy glad good set satisfied content fine ok okay")
_JA_CONDITIONAL = word_set("たら だら なら れば")


# Where in the feed a thing should come: higher up is more of it, lower down less.
_EN_RANK_UP = (("first",), ("at", "the", "top"), ("to", "the", "top"), ("near", "the", "top"),
               ("up", "top"), ("top", "priority"), ("higher", "priority"),
               ("high", "priority"), ("prioritize",), ("prioritise",), ("up",))  # fmt: skip
_EN_RANK_DOWN = (("can", "wait"), ("to", "the", "bottom"), ("at", "the", "bottom"),
                 ("near", "the", "bottom"), ("further", "down"), ("lower", "priority"),
                 ("low", "priority"), ("deprioritize",), ("deprioritise",), ("later",),
                 ("last",), ("to", "the", "back"), ("at", "the", "back"), ("down",),
                 ("off",))  # fmt: skip
# Mixing a thing in is more of it ("throw in a tiny house tour", "toss X into the mix").
_EN_MIX_IN = word_set("mix throw toss slip weave sprinkle sneak squeeze work add")
_JA_RANK_UP = word_set("上 先頭 最初 トップ 上位 前")
_JA_RANK_DOWN = word_set("下 後ろ うしろ 最後 後 あと 底 下位 最下位 末尾")
_JA_SIDE_OF = word_set("方 ほう")


# Single words of place that say it only right after the thing they place, at a clause's
# end ("volcano eruptions first", "car reviews later", "turn the zombie stuff up",
# "gardening up, golf down"): "at first", "the last one", "down for it" do not.
_EN_RANK_AFTER_ITEM = word_set("first later last up down off")
# How far, after such a word ("turn the lo-fi beats up a notch").
_EN_A_NOTCH = word_set("a notch bit little tad touch lot slightly some")


def _after_item(clause: Clause, tokens: Sequence[Token], word: Token) -> bool:
    """Whether `word` follows a concept of the clause (or its head word) and ends the
    clause but for politeness, punctuation and how far ("a notch")."""
    inside = tokens_in(clause, tokens)
    k = next(i for i, t in enumerate(inside) if t.start == word.start)
    if k == 0 or not (in_concept(inside[k - 1], clause) or inside[k - 1].norm in _HEADS):
        return False
    return all(
        t.norm in _POLITE or t.norm in _EN_A_NOTCH or not has_words(t.text) for t in inside[k + 1 :]
    )


def ranks(clause: Clause, tokens: Sequence[Token]) -> str:
    """ "up" or "down" where a clause says where in the feed its things should come ("the
    volcano eruptions first", "unboxings can wait", 「政治系は下の方に回しといて」「占いは
    もっと後ろの方でいい」「後回しで」) or mixes them in ("every few videos throw in a tiny
    house tour": up), "" where it says no such place. Up is asked only
    where the clause says no less; down whatever else it says (「もっと後ろ」 is further
    down). English "first", "later" and "last" count only right after the thing they
    place, at the clause's end (`_after_item`)."""
    says_less: bool | None = None  # the clause's cues, read only once an "up" needs them
    for way in _places(clause, tokens):
        if way == "up" and says_less is None:
            says_less = clause_cues(clause, tokens).negative
        if way == "down" or not says_less:
            return way
    return ""


def _places(clause: Clause, tokens: Sequence[Token]) -> Iterator[str]:
    """Each "up" or "down" the clause's own words say, in order (see `ranks`)."""
    words = outside_concepts(clause, tokens)
    for i, w in enumerate(words):
        if w.script == "ja":
            if w.text == "後回し" or w.lemma == "後回し":
                yield "down"
            side = i + 2 < len(words) and words[i + 1].text == "の"
            if side and words[i + 2].text in _JA_SIDE_OF:
                if w.text in _JA_RANK_DOWN:
                    yield "down"
                elif w.text in _JA_RANK_UP:
                    yield "up"
            continue
        mixed = w.norm == "in" and i and words[i - 1].norm in _EN_MIX_IN
        if mixed or _english_at(words, i, (("into", "the", "mix"),)):
            yield "up"
        for phrases, way in ((_EN_RANK_DOWN, "down"), (_EN_RANK_UP, "up")):
            j = _english_at(words, i, phrases)
            if not j:
                continue
            if (
                j - i == 1
                and words[i].norm in _EN_RANK_AFTER_ITEM
                and not _after_item(clause, tokens, words[i])
            ):
                continue
            yield way


# Shares of the feed: an even split asks for each thing named ("50/50 anime openings and
# city pop", 「刺繍と編み物を半々で」); halving one asks for less of it (「半分くらいにして」,
# "cut the pranks in half").
_JA_EVEN = word_set("半々 半半 五分五分")
_JA_ABOUT = word_set("くらい ぐらい ほど 位")
_EN_EVEN = (("50", "/", "50"), ("half", "and", "half"), ("equal", "parts"), ("evenly",),
            ("fifty", "fifty"))  # fmt: skip
_EN_HALVED = (("in", "half"), ("by", "half"), ("halve",), ("half", "as", "many"))


def shares(clause: Clause, tokens: Sequence[Token]) -> str:
    """ "even" where a clause splits the feed evenly between its things, "half" where it
    halves them (see `_JA_EVEN`), "" otherwise."""
    words = outside_concepts(clause, tokens)
    for i, w in enumerate(words):
        if w.script == "ja":
            if w.text in _JA_EVEN:
                return "even"
            if w.text == "半分":
                nxt = [t.text for t in words[i + 1 : i + 3]]
                if nxt[:1] == ["ずつ"]:
                    return "even"
                if nxt[:1] == ["に"] or (nxt[:1] and nxt[0] in _JA_ABOUT and nxt[1:] == ["に"]):
                    return "half"
            continue
        if _english_at(words, i, _EN_EVEN):
            return "even"
        if _english_at(words, i, _EN_HALVED):
            return "half"
    return ""


# 「ばかり」 (nothing but) says what the feed is full of: a request for only that where a
# request follows it (「猫ばっかり見せて」「猫ばかりでいい」), a complaint where the clause
# goes on to say how it is (「野球ばかりで困っています」) or refuses the showing
# (「ラーメンばっかり見せないで」「見せんでよか」).
_JA_ALL_OF = word_set("ばかり")
_JA_COPULA = word_set("で だ じゃ や なの なん")
_JA_SHOWING = word_set("見せる 流す 出す")
_JA_FILLERS_BEFORE_PLENTY = word_set("ちょっと 少々 少し やや 最近 めちゃくちゃ かなり 結構 ちと")
_JA_REASONS = word_set("ので から")


def _says_plenty(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause says its concept is plentiful (「Xが(ちょっと)多い」) with no
    liking of that before its next comma or reason (「多いのが嬉しい」「多い方がいい」 like
    it; 「多く見せて」 and 「多めに」 ask)."""
    inside = tokens_in(clause, tokens)
    for k, t in enumerate(inside):
        if t.script != "ja" or t.text != "多い" or t.lemma != "多い":
            continue
        j = k - 1
        while (
            j >= 0
            and not in_concept(inside[j], clause)
            and (
                inside[j].pos in ("PART", "ADV")
                or inside[j].adverbial
                or inside[j].text in _JA_FILLERS_BEFORE_PLENTY
                or inside[j].norm in _HEADS
            )
        ):
            j -= 1
        if j < 0 or not in_concept(inside[j], clause):
            continue
        for w in inside[k + 1 :]:
            if w.text in _CLAUSE_PUNCT or w.text in _JA_REASONS or w.text == "で":
                return True
            if _likes(w):
                return False
        return True
    return False


def _likes(token: Token) -> bool:
    """A Japanese word that likes what it follows: 「いい」, or a cue of more (「嬉しい」)."""
    return token.lemma in _JA_FINE or token.norm in _JA_FINE or _cue(token) == "pos"


def complains_of_all(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause says with 「ばかり」 that the feed is full of its concept
    as a complaint, not a request for only that (see `_JA_ALL_OF`), or says that there is
    a lot of it (「最近料理動画が多い気がするので…お願いします」, see `_says_plenty`)."""
    if _says_plenty(clause, tokens):
        return True
    inside = [t for t in tokens_in(clause, tokens) if not in_concept(t, clause)]
    for k, t in enumerate(inside):
        if t.script != "ja" or t.norm not in _JA_ALL_OF or t.pos != "PART":
            continue
        if k and inside[k - 1].pos == "AUX" and inside[k - 1].text in ("た", "だ"):
            continue  # 「引っ越したばかりで」: just done, not nothing but
        rest = inside[k + 1 :]
        if not rest:
            return False
        first = rest[0]
        if first.pos == "VERB":
            # 「見せないで」; 「見せん(で)」, the negator kept in the verb or read as the
            # explanatory ん, which follows a verb's dictionary form (「見せるんで」) only.
            said = first.text.endswith("ん") and not first.lemma.endswith("ん")
            cut = len(rest) > 1 and rest[1].text == "ん" and first.text != first.lemma
            return said or cut or _negated_verb(inside, k + 1)
        if first.text not in _JA_COPULA:
            return False
        return not any(
            _likes(w)
            or w.text == "ええ"
            or (w.pos == "VERB" and _cue(w) == "" and w.lemma in _JA_SHOWING)
            for w in rest[1:]
        )
    return False


_JA_SEEING = _JA_SHOWING | word_set("見る 観る")
_JA_NOT_NEEDED_AFTER = word_set("て で も")
_JA_NEEDED_GAP = word_set("は が も あり ある ござい ませ")
_JA_ASKING = word_set("頼む 求める 注文 リクエスト")
_JA_ASKED_GAP = word_set("し て で い は も ませ")
_EN_NEEDLESS = word_set("unnecessary needless")


def _needless_in_english(words: Sequence[Token]) -> bool:
    """ "X are just unnecessary", "i don't think the X are necessary": needless, unless a
    negator says otherwise ("not unnecessary")."""
    for k, t in enumerate(words):
        negated = any(_negates_in_english(w) for w in words[max(0, k - 6) : k])
        if t.script == "en" and t.norm in _EN_NEEDLESS and not negated:
            return True
        if t.script == "en" and t.norm == "necessary" and negated:
            return True
    return False


def needs_none(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause says its concept need not be seen: a Japanese verb of seeing or
    showing, negated, then 「て」 or 「で」 and a word that it is fine (「見なくていい」
    「見んでええ」「出さんでもいいよ」「見らんでいいけん」), that it is not needed
    (「必要ありません」, "X are just unnecessary"), or that nobody asked for it
    (「占いなんて頼んでない」).
    「減らさなくていい」 negates a verb of less and is no such clause."""
    inside = [t for t in tokens_in(clause, tokens) if not in_concept(t, clause)]
    if _needless_in_english(inside):
        return True
    for k, t in enumerate(inside[:-1]):
        if t.script != "ja":
            continue
        if t.lemma in _JA_ASKING and _negated_next(inside, k, _JA_ASKED_GAP):
            return True  # 「星座占いなんて頼んでない」「リクエストしてません」: never asked for
        if t.lemma == "必要" and _negated_next(inside, k, _JA_NEEDED_GAP):
            return True  # 「開封レビューは必要ありません」「必要ないです」「必要はない」
        if t.pos == "VERB" and t.lemma in _JA_SEEING and _fine_unseen(inside[k + 1 :]):
            return True
    return False


def _next_words(inside: Sequence[Token], k: int, gap: frozenset[str]) -> list[Token]:
    """The few words after inside[k], those of `gap` left out."""
    return [w for w in inside[k + 1 : k + 5] if w.text not in gap]


def _negated_next(inside: Sequence[Token], k: int, gap: frozenset[str]) -> bool:
    """Whether the first word after inside[k], over those of `gap`, is a negator."""
    rest = _next_words(inside, k, gap)
    return bool(rest) and _ja_negator(rest[0]) and rest[0].pos in ("AUX", "ADJ")


def _fine_unseen(rest: Sequence[Token]) -> bool:
    """Whether the words after a verb of seeing negate it and say that is fine
    (「なくていい」「んでええ」; 「てくれなくていい」: the favour's negator)."""
    if len(rest) > 3 and rest[0].text in ("て", "で") and rest[1].lemma in _JA_FAVOURS:
        rest = rest[2:]
    if len(rest) < 2 or not _ja_negator(rest[0]) or rest[0].pos not in ("AUX", "ADJ"):
        return False
    gap = 1
    while gap < len(rest) and rest[gap].text in _JA_NOT_NEEDED_AFTER:
        gap += 1
    return 1 < gap < len(rest) and (rest[gap].lemma in _JA_FINE or rest[gap].text == "ええ")


def says_needed(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause says its concept is needed (「猫の動画は必要」「盆踊りが
    必要だわ」), with no negator after 「必要」 (`needs_none`) nor 「以上」 (「必要以上に」,
    more than needed)."""
    inside = [t for t in tokens_in(clause, tokens) if not in_concept(t, clause)]
    for k, t in enumerate(inside):
        if t.script != "ja" or t.lemma != "必要":
            continue
        rest = _next_words(inside, k, _JA_NEEDED_GAP)
        return not any(_ja_negator(w) or w.text in ("以上", "ない", "無い") for w in rest)
    return False


_EN_SEEING = word_set("see seeing get getting")
_EN_SEEN_GAP = word_set("any a single much many the more")
_EN_ANYMORE = word_set("anymore lately recently nowadays")
_EN_SELDOM = word_set("barely hardly rarely seldom")
_EN_THERE_IS = word_set("there there's theres")
_JA_APPEARING = word_set("流れる 出る 回る")
_JA_LAMENTED = word_set("困る 寂しい さみしい 悲しい 残念 嫌")


def misses_it(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause laments that its concept no longer comes up, which asks for more
    of it: "how come I never see any drag shows anymore?", "i don't get any bonsai
    lately", 「最近ダンス全然流れてこなくない？」「ジャズが流れてこないのは困る」「どうして一個も
    クラシック音楽が出てこないんですか」: in Japanese only asked about or lamented, never a
    wish that it stay away (「出てこないようにして」「流れてこなくて助かる」)."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    return _misses_in_english(clause, inside) or _misses_in_japanese(clause, inside, tokens)


# Too many never: "you can never have too many frog videos", 「いくらあっても困らない」.
_EN_TOO_MANY = word_set("many much")
_JA_HOWEVER_MANY = ("いくらあっても", "何本あっても", "何個あっても", "どれだけあっても")


# Words that deny a question asked of the writer ("too many otters? not possible").
_EN_DENIALS = word_set("not no never nope nah impossible possible such thing a lol")


# Verbs of a dial, which "up" or "down" after them (at once or after their object) turns
# one way or the other: "crank up the jazz", "the goals bumped up", "tone the rap down".
_EN_DIALS = word_set(
    "crank cranked cranking bump bumped bumping dial dialed dialled dialing dialling "
    "ramp ramped ramping amp amped amping pump pumped pumping jack jacked ratchet ratcheted "
    "notch notched kick kicked step stepped tone toned toning scale scaled scaling "
    "tamp tamped knock knocked turn turned turning"
)
# "ease up on the gym speeches", "ease off the pranks": to ease is to lessen, up or not.
_EN_EASES = word_set("ease eased easing")
# "spiders keep turning up": to turn up is also to appear, so "turn" counts only before
# the thing it turns ("turn up the jazz", "turn the rap down").
_EN_DIALS_BEFORE_ONLY = word_set("turn turned turning")
_EN_DIAL_WAYS = word_set("up down")
_EN_YOU = word_set("you u ya")


def turned_up_or_down(clause: Clause, tokens: Sequence[Token]) -> str:
    """ "up" or "down" where an English clause turns its thing as a dial turns ("crank up
    the jazz", "could the goals be bumped up?", "tone the rap down"), "" where it does not
    or where a negator or a negative word comes first ("don't turn up the jazz", "stop
    cranking up the metal"). "crank up the jazz" was read as no request and "the goals
    bumped up" as less."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text) or t.text in _CLAUSE_PUNCT]
    first = min((start for start, _ in clause.concepts), default=None)
    if first is None:
        return ""
    opening = [t.norm for t in inside[:2]]
    if opening in (["up", "with"], ["down", "with"]) and any(
        start > inside[1].start for start, _ in clause.concepts
    ):
        return opening[0]  # "up with capybaras", "down with reaction streamers": a cheer
    for k, t in enumerate(inside):
        if t.script != "en" or in_concept(t, clause):
            continue
        asked_of_you = k + 1 < len(inside) and inside[k + 1].norm in _EN_YOU  # "couldn't you"
        if (t.norm in _EN_NEGATORS or (_cue(t) == "neg" and t.norm not in _EN_DIALS)) and not (
            asked_of_you
        ):
            return ""
        if t.norm in _EN_EASES and k + 1 < len(inside) and inside[k + 1].norm in ("up", "off"):
            return "down"
        if t.norm not in _EN_DIALS or (t.norm in _EN_DIALS_BEFORE_ONLY and t.start > first):
            continue
        # The particle before the next comma, "off" or verb of a dial: "turn off the
        # pranks, | up the cats" turns nothing up.
        for u in inside[k + 1 : k + 6]:
            if u.text in _CLAUSE_PUNCT or u.norm == "off" or u.norm in _EN_DIALS:
                break
            if u.norm in _EN_DIAL_WAYS and not in_concept(u, clause):
                return u.norm
    return ""


_MORE_ALONE = word_set("more moar もっと")


def closes_on_more(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause that names things ends on "more" alone after a comma, with no
    negative cue word anywhere in it ("hot air balloons or paragliding, either is great,
    more", "my wife thinks true crime is creepy, I think it's great, more please"): the
    last word is the ask. Both were read as less, of words like "creepy" the networks
    weigh."""
    inside = tokens_in(clause, tokens)
    marks = [k for k, t in enumerate(inside) if t.text in _CLAUSE_PUNCT]
    if not marks or not any(in_concept(t, clause) for t in inside[: marks[-1]]):
        return False
    last = [t for t in inside[marks[-1] + 1 :] if has_words(t.text)]
    if not last or any(in_concept(t, clause) for t in last):
        return False
    if not any(t.norm in _MORE_ALONE for t in last):
        return False
    if not all(t.norm in _MORE_ALONE or t.norm in _POLITE or t.text in _POLITE for t in last):
        return False
    return not any(_says_less(t) for t in inside)


def never_too_many(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause says its concept can never be too much, which asks for more of it:
    "you can never have too many frog videos", "there's no such thing as too much jazz",
    "too many otters? not possible", 「和菓子づくりの動画、いくらあっても困らない」."""
    inside = tokens_in(clause, tokens)
    words = [t for t in inside if has_words(t.text)]
    norms = [t.norm for t in words]
    for k in range(len(words) - 1):
        if norms[k] != "too" or norms[k + 1] not in _EN_TOO_MANY:
            continue
        if any(_negates_in_english(t) or t.norm == "no" for t in words[max(0, k - 4) : k]):
            return True
        # "too many otters? not possible": the question, then only words that deny it.
        asked = next((t for t in inside if t.text == "?" and t.start > words[k].start), None)
        denial = [t.norm for t in words if asked is not None and t.start > asked.start]
        if denial and denial[0] in _EN_DENIALS and all(w in _EN_DENIALS for w in denial):
            return True
    joined = "".join(t.text for t in words)
    return any(w in joined and any(_ja_negator(t) for t in words[-3:]) for w in _JA_HOWEVER_MANY)


def _misses_in_english(clause: Clause, inside: Sequence[Token]) -> bool:
    asked_why = any(
        t.norm == "why"
        or (t.norm == "how" and inside[k + 1 : k + 2] and inside[k + 1].norm == "come")
        for k, t in enumerate(inside)
    )
    for k, t in enumerate(inside[:-2]):
        negates = _negates_in_english(t) or t.norm in _EN_SELDOM
        # "why is there never any claymation anymore": no verb of seeing after "there is"
        there = any(w.norm in _EN_THERE_IS for w in inside[max(0, k - 2) : k])
        seen = inside[k + 1].norm in _EN_SEEING
        if t.script != "en" or not negates or not (seen or there):
            continue
        j = k + 2 if seen else k + 1
        while j < len(inside) and inside[j].norm in _EN_SEEN_GAP:
            j += 1
        if j >= len(inside) or not in_concept(inside[j], clause):
            continue
        after = [w.norm for w in inside[j:] if not in_concept(w, clause)]
        if asked_why or (after[:1] and after[0] in _EN_ANYMORE) or after[:2] == ["any", "more"]:
            return True
    return False


def _comes_up(words: Sequence[Token], k: int) -> bool:
    """Whether words[k:k + 3] are a verb of coming up and 「て来る」 (「流れてこ…」
    「出てけえ…」)."""
    following = [w.norm for w in words[k + 1 : k + 3]]
    return words[k].lemma in _JA_APPEARING and following == ["て", "来る"]


def _misses_in_japanese(clause: Clause, inside: Sequence[Token], tokens: Sequence[Token]) -> bool:
    for k, t in enumerate(inside):
        if t.script != "ja" or t.pos != "VERB" or in_concept(t, clause):
            continue
        if _comes_up(inside, k):
            n = k + 3
        elif t.lemma == "見かける":
            n = k + 1
        else:
            continue
        if n >= len(inside) or not (_ja_negator(inside[n]) and inside[n].pos in ("AUX", "ADJ")):
            continue
        rest = [w.text for w in inside[n + 1 : n + 3]]
        if rest[:2] == ["の", "は"]:
            return any(w.lemma in _JA_LAMENTED for w in inside[n + 3 : n + 5])
        # Asked why, or whether it is not so: 「出てこないんですか」「流れてこなくない？」.
        after = [w.text for w in tokens if w.start >= inside[n].end][:4]
        return any(w in ("か", "?", "？") for w in after)
    return False


_EN_WISH_VERBS = word_set("want wanna wanted need needs needed")
# After "rather not" any verb of getting or seeing wishes ("would rather not get any more").
_EN_GETTING = word_set("get see have watch")
_EN_WISH_GAP = word_set("really even actually any")
_EN_NOBODY = word_set("nobody noone")
# Between the wish and the thing: "don't need to see the", "never wanted any of this".
_EN_WISHED_GAP = word_set(
    "to see watch get be shown the my this these those all any every single of"
)
_EN_SHOWN = word_set("show give send")


def wants_no_more(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether an English clause says the writer wants none of its concept: a negator,
    then a wish and the concept ("I don't want more bridal try-ons", "don't need any more
    pranks", "nobody needs more fishing hauls", "I never wanted the slime videos", "my
    kids don't need to see the crashes", "i didn't ask for extreme couponing", "you don't
    have to show me every dance trend", "how about you don't show me any more roadkill",
    never after "why"; after "rather not", "get" or "see": "would rather
    not get any more debates"). Not a question put to the reader ("don't you want more
    cats?"), nor another verb between them ("I wouldn't say no to more sloths"), nor a
    wish that the thing go on ("I don't want the tap dancing to stop")."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    if any(t.text == "?" for t in tokens if clause.start <= t.start < clause.end + 1):
        return False
    for k, t in enumerate(inside):
        if t.script != "en" or not (_negates_in_english(t) or t.norm in _EN_NOBODY):
            continue
        rest = [w.norm for w in inside[k + 1 :]]
        getting = _EN_GETTING if k and inside[k - 1].norm == "rather" else set()
        j = 0
        while j < len(rest) and rest[j] in _EN_WISH_GAP:
            j += 1
        if rest[j : j + 2] in (["ask", "for"], ["asked", "for"]):
            j += 2
        elif rest[j : j + 2] == ["have", "to"] and rest[j + 2 : j + 3] and rest[j + 2] in _EN_SHOWN:
            j += 4 if rest[j + 3 : j + 4] in (["me"], ["us"]) else 3
        elif rest[j : j + 1] and rest[j] in _EN_SHOWN and rest[j + 1 : j + 2] in (["me"], ["us"]):
            if any(w.norm == "why" for w in inside[:k]):
                continue  # "why don't you show me more cats": a suggestion
            j += 2  # "how about you don't show me any more roadkill"
        elif j < len(rest) and (rest[j] in _EN_WISH_VERBS or rest[j] in getting):
            j += 1
        else:
            continue
        while j < len(rest) and (
            rest[j] in _EN_WISH_GAP or rest[j] in _EN_WISHED_GAP or rest[j] == "more"
        ):
            j += 1
        if j < len(rest) and in_concept(inside[k + 1 + j], clause):
            after = [w for w in inside[k + 1 + j :] if not in_concept(w, clause)]
            if not after or after[0].norm != "to":
                return True
    return False


def dreads_more(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause dreads more of what it names rather than asking for it: "more"
    or "another" in a condition whose outcome the writer suffers (after "if", or before
    "and I'm…"), after "hate" or "dread", or before "would be terrible"; in Japanese
    「これ以上」 in a condition (たら, なら, れば) the clause goes on after, or in a question
    of what good it does (「これ以上…見せてどうするの？」)."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    for k, t in enumerate(inside):
        if t.script == "ja" and t.text == "以上" and k and inside[k - 1].text == "これ":
            rest = inside[k + 1 :]
            what_good = any(
                (w.text == "どう" and u.lemma == "する")  # 「見せてどうするの」
                or (w.text == "て" and u.text == "も")  # 「増やされても困る」
                for w, u in itertools.pairwise(rest)
            )
            return what_good or any(w.text in _JA_CONDITIONAL for w in rest[:-1])
        if t.script != "en" or t.norm not in _EN_MORE or in_concept(t, clause):
            continue
        before = inside[:k]
        after = [w for w in inside[k + 1 :] if not in_concept(w, clause)]
        if any(_negates_in_english(w) for w in (*before, *after)):
            return False  # "I wouldn't hate more horror"
        lead = list(before)
        while lead and lead[-1].norm in _EN_DREAD_GAP:
            lead.pop()
        if lead and lead[-1].norm in _EN_DREAD:
            return True
        if any(w.norm in _EN_CONTENT or _cue(w) == "pos" for w in after):
            return False  # "one more cat video and I'm happy"
        if any(w.norm == "if" for w in before) and any(w.norm in _EN_THEN_SELF for w in after):
            return True
        if len(after) > 1 and after[0].norm == "and" and after[1].norm in _EN_THEN_SELF:
            return True
        return any(w.norm in _EN_DREADFUL for w in after)
    return False


def in_concept(token: Token, clause: Clause) -> bool:
    """Whether a token lies within one of the clause's concept spans."""
    return any(s <= token.start and token.end <= e for s, e in clause.concepts)


def outside_concepts(clause: Clause, tokens: Sequence[Token]) -> list[Token]:
    """The clause's tokens that lie in none of its concept spans: the words it asks with."""
    return [t for t in tokens_in(clause, tokens) if not in_concept(t, clause)]


def clause_features(text: str, clause: Clause, tokens: Sequence[Token]) -> list[str]:
    """Sparse feature strings of one clause for the op classifier (concept masked)."""
    inside = tokens_in(clause, tokens)
    masked = masked_clause(text, clause).lower()
    feats = []
    words: list[str] = []
    for t in inside:
        if in_concept(t, clause):
            if not words or words[-1] != MASK:
                words.append(MASK)
            continue
        words.append(t.norm)
        cue = _cue(t)
        feats += [f"emw={w}" for w in emoji_words(t.text)]
        feats.append(f"lemma={t.lemma}")
        feats.append(f"pos={t.pos}:{t.norm}")
        if cue:
            feats.append(f"cue={cue}")
            feats.append(f"cue={cue}:{t.norm}")
    for i, w in enumerate(words):
        feats.append(f"w={w}")
        if i + 1 < len(words):
            feats.append(f"w2={w}|{words[i + 1]}")
        if i + 2 < len(words):
            feats.append(f"w3={w}|{words[i + 1]}|{words[i + 2]}")
    if words:
        feats.append(f"first={words[0]}")
        feats.append(f"last={words[-1]}")
    padded = f" {masked} "
    for n in (2, 3, 4):
        feats.extend(f"c{n}={padded[i : i + n]}" for i in range(len(padded) - n + 1))
    feats.append(f"concepts={min(len(clause.concepts), 2)}")
    feats.append(f"question={'?' in masked}")
    feats.append(f"mask_at={'start' if masked.startswith(MASK.lower()) else 'later'}")
    feats.append(f"len={min(len(words), 8)}")
    return feats


def has_negative_cue(clause: Clause, tokens: Sequence[Token]) -> bool:
    """True when a token outside the clause's concepts is a negative cue word."""
    return "neg" in _clause_cues(clause, tokens)


def has_positive_cue(clause: Clause, tokens: Sequence[Token]) -> bool:
    """True when a token outside the clause's concepts asks for more. Politeness says
    nothing (「消してください」 asks for less), nor do "only" words ("nothing scary")."""
    return "pos" in _clause_cues(clause, tokens, skip=_POLITE)


def op_words_ask_more(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether the clause holds op words and every one asks for more (words of feeling,
    such as "fun" or "scary", are no op words)."""
    ways = {_op_word(t) for t in tokens_in(clause, tokens)} - {""}
    return ways == {"pos"}


def _clause_cues(
    clause: Clause, tokens: Sequence[Token], skip: frozenset[str] = frozenset()
) -> set[str]:
    return {
        _cue(t)
        for t in tokens_in(clause, tokens)
        if t.norm not in skip and t.text not in skip and not in_concept(t, clause)
    }


# Words that negate the cue they scope over: English negators come before it ("don't
# want", "never stop"), Japanese negative auxiliaries after it (見たくない, 嫌いじゃない).
_EN_NEGATORS = _EN_NEGATED | word_set("not no never nothing none without n't don't can't won't")
# へん / ひん are the Kansai negators (見せへん, 見ひん), Sudachi's 助動詞-ヘン.
_JA_NEGATORS = word_set("ない 無い ず ぬ ん ませ へん ひん")


def _ja_negator(token: Token) -> bool:
    return token.norm in _JA_NEGATORS or token.lemma in _JA_NEGATORS


# What may stand between an English negator and the cue it negates ("don't really want",
# "can't get enough", "not nearly enough", "don't you dare stop": "you" only before
# "dare", see `_negation_reach`); "wouldn't mind more" keeps its "more".
_EN_NEGATION_GAP = word_set(
    "really even so too ever actually get want wanna need to any the that a all as half dare "
    "nearly near show give send me us"
)
# Words that make a clause with a negative cue an ask for "only" ("nothing but X",
# 「X以外いらない」), not for less.
_ONLY_MARKERS = EN_ONLY_CUES | JA_ONLY_CUES | word_set("but 以外")
_QUESTION_TAIL = word_set("の か かな よね ?")


@dataclass(frozen=True)
class ClauseCues:
    """What a clause's own words (concepts and politeness aside) ask for: less, more, only.

    A cue in the scope of a negator counts the other way: "don't want" and 「見れない」
    ask for less, "never stop" and 「嫌いじゃない」 for more; `negated_ask` says that a
    request word was negated. A Japanese negative question
    (「もっとない？」「控えめにできない？」) is a request, and 「しか…ない」 means only: their
    negators negate nothing.
    """

    negative: bool
    positive: bool
    only: bool
    negated_ask: bool = False  # a request negated outright: "no more", "don't show"
    # A refusal or dislike negated ("don't stop", "never not", 「嫌いじゃない」): the clause
    # leans to more, but only through a double turn that a classifier easily misreads.
    negated_refusal: bool = False
    # What the negators turned is only words that take away or hold back ("don't stop",
    # "never said I wanted fewer", "do NOT take X away", 「消さないで」): the clause asks
    # for more, not merely for no dislike (「嫌いじゃない」, "I don't hate X").
    turned_removal: bool = False
    # A complaint of too little ("way too few X", 「X少なすぎ」, 「Xが足りない」): it asks
    # for more, though its words are those of less and of a negator.
    too_few: bool = False

    def any(self) -> bool:
        """Whether the clause's own words ask for anything (less, more or only)."""
        return self.negative or self.positive or self.only


# "Bad" says less of what it judges, so "cooking isn't bad" negates a refusal; it is no
# cue word of the op networks' features ("bad bunny", "bad lip reading" are things).
_EN_JUDGED_BAD = word_set("bad")
# "take the lighthouses away", "get X off my feed": a verb of taking with a particle of
# removal after it says less, so "do NOT take X away" negates a refusal. Neither word is a
# cue of the op networks' features ("take" and "off" ask nothing alone). Not "keep": it
# asks for more by itself ("keep X coming").
_EN_TAKING = word_set("take taking took get put")
_EN_REMOVING = word_set("away off")


def _takes_away(words: Sequence[Token], i: int) -> bool:
    """Whether words[i] is a verb of taking with a particle of removal among the next
    three words outside the clause's things ("take | the X | away from me", "take away
    the X")."""
    if words[i].script != "en" or words[i].norm not in _EN_TAKING:
        return False
    return any(w.script == "en" and w.norm in _EN_REMOVING for w in words[i + 1 : i + 4])


# "X is getting old", "X never gets boring": a verb of becoming before a word of staleness
# says less, so a negator before the verb turns it. Not cues of the op networks' features.
_EN_BECOMING = word_set("get gets getting got gotten grow grows growing grew")
_EN_STALE = word_set("old stale boring")


def _grows_stale(words: Sequence[Token], i: int) -> bool:
    """Whether words[i] is a verb of becoming right before a word of staleness ("gets |
    old")."""
    return (
        words[i].script == "en"
        and words[i].norm in _EN_BECOMING
        and i + 1 < len(words)
        and words[i + 1].norm in _EN_STALE
    )


# "too much X", "too many X": a complaint of excess, one cue of less that a negator turns
# ("you can never have too many X"). Not a cue of the op networks' features.
_EN_SOMEONE_SAYS = word_set("thinks says said claims reckons told tells")
# Weariness that "never" denies asks for more ("I will never tire of X", "never get sick
# of X"); "I'm not tired of X" only tolerates it.
_EN_WEARY = word_set("tire tired sick bored weary")


def _too_many(words: Sequence[Token], i: int) -> bool:
    """Whether words[i] is the "too" of "too much" or "too many", said by the writer
    (not "my partner thinks i watch too many X")."""
    return (
        words[i].script == "en"
        and words[i].norm == "too"
        and i + 1 < len(words)
        and words[i + 1].norm in _EN_TOO_MANY
        and not any(w.norm in _EN_SOMEONE_SAYS for w in words[:i])
    )


def _wearies(words: Sequence[Token], i: int) -> bool:
    """Whether words[i] is a word of weariness after "never" ("never, ever tire of")."""
    before = {w.norm for w in words[max(0, i - 4) : i]}
    return words[i].script == "en" and words[i].norm in _EN_WEARY and "never" in before


def _almost(words: Sequence[Token], i: int, tokens: Sequence[Token], clause: Clause) -> bool:
    """Whether words[i:i + 2] are the "all but" of "nearly" ("has all but vanished"), not
    of "everything except" ("all but horror"), which names its thing next."""
    if words[i].norm != "all" or i + 1 >= len(words) or words[i + 1].norm != "but":
        return False
    after = [t for t in tokens if t.start > words[i + 1].start and has_words(t.text)][:1]
    return bool(after) and not in_concept(after[0], clause)


# A complaint of too little: "too few", 「少なすぎ」, and 「足りる」 negated (「足りない」
# 「足りてない」「足りません」「足りなすぎ」「足りん」). Not cues of the op networks' features.
_JA_NOT_ENOUGH_TAIL = word_set("て てる ない ぬ ず ます すぎる へん ひん")
_JA_NEGATING = word_set("ない ぬ ず へん ひん")
# "so few X", "a shortage of X", "short on X": scarcity said outright.
_EN_FEW = word_set("too so")
_EN_SCARCE = word_set("shortage drought")
# A thing reported missing for a while ("nothing cozy in days", "not one bit of pixel art
# since tuesday", "haven't seen a single X all week"): the span looks back, where "no X
# anymore" asks for the future.
_EN_SPAN_AGO = word_set("lately recently")
_EN_SPAN_UNITS = word_set("days weeks months years ages forever while week month day")
# "since" of time, never of cause ("nothing scary since the kids are here").
_EN_SINCE_WHEN = word_set(
    "monday tuesday wednesday thursday friday saturday sunday yesterday last forever then "
    "ages like january february march april may june july august september october november "
    "december christmas summer spring winter"
)
_EN_REPORTED_NONE = word_set("nothing zero no none")
# A plea or thanks: "no horror lately please" asks, whatever it looks back on.
_EN_PLEA = word_set("please pls plz again thanks thx ty")
_EN_NOT_ONE = word_set("one any single")
_EN_SEEN = word_set("seen spotted")
_EN_WISHING = word_set("wish rather glad hope prefer")
# "where are all the X?", "where'd all the X go", "what happened to the X".
_EN_WHERE = word_set("where where's wheres where'd whered")
_EN_GONE = word_set("go gone went")
_EN_VANISHED = word_set("vanished disappeared")
_EN_HAS = word_set("has have 's is are")
# 「最近ペンギンが全然流れてこない」「盆踊りを見かけない」「一本も見てない」: a thing that no
# longer comes up, told as a report. Never a wish that it stay away: 「出てこないように」,
# 「流れてこないで」, 「流れてこなくて助かる」.
_JA_COME_ACROSS = word_set("見かける 見掛ける 見当たる")


def _lately_and_not_any_longer(words: Sequence[Token]) -> bool:
    """Whether Japanese words say 「最近」 and not 「もう」."""
    norms = {w.norm for w in words if w.script == "ja"}
    return "最近" in norms and "もう" not in norms


_JA_RELIEVED = word_set(
    "助かる いい 良い よい 嬉しい うれしい ありがたい 快適 平和 最高 安心 理想 ちょうど"
)
# 「出てこない方がいい」「流れてこない設定にして」: a state wished for, not a report.
_JA_WISHED_STATE = word_set("方 ほう 設定 様 よう")
_JA_REPORTED = word_set("最近 全然 全く 一向 めっきり ちっとも なかなか")
_JA_NUMERAL = frozenset("一二三四五六七八九十百0123456789")


def _spans_back(words: Sequence[Token], *, up_to_now: bool = False) -> bool:
    """Whether English words look back over a span of time ("lately", "since tuesday",
    "in days", "in over a month"); with `up_to_now`, "anymore", "these days" and "all
    week" too (after "no X" they ask for the future, "no horror all week, i'm scared";
    after "not one X" or "barely any X" they report)."""
    for k, w in enumerate(words):
        if w.script != "en":
            continue
        after = [u.norm for u in words[k + 1 : k + 4]]
        if w.norm in _EN_SPAN_AGO or (up_to_now and w.norm in _EN_ANYMORE):
            return True
        if up_to_now and w.norm == "these" and after[:1] == ["days"]:
            return True
        if w.norm == "since" and after[:1] and after[0] in _EN_SINCE_WHEN:
            return True
        if (w.norm == "in" or (up_to_now and w.norm == "all")) and _EN_SPAN_UNITS & set(after):
            return True
    return False


def _ja_no_longer_comes_up(words: Sequence[Token], i: int, earlier: Sequence[Token]) -> range:
    """The positions of a Japanese report that a thing no longer comes up, from words[i]
    (a verb of coming up, of coming across, or 見る in 「見てない」) to its negator;
    `earlier` is the message before words[i], which tells whether it is a report
    (「最近」「全然」「一本も」)."""
    t = words[i]
    if t.script == "ja" and t.norm == "どこ" and i + 2 < len(words):
        # 「登山どこ行ったん」「柴犬どこいった？」: where did it go
        went = words[i + 1].lemma == "行く" or words[i + 1].text in ("いっ", "行っ")
        return range(i, i + 3) if went and words[i + 2].lemma == "た" else range(0)
    if t.script != "ja" or t.pos != "VERB":
        return range(0)
    if _comes_up(words, i):
        n = i + 3
    elif t.lemma in _JA_COME_ACROSS or t.norm in _JA_COME_ACROSS:
        n = i + 1
    elif t.norm == "見る" and i + 1 < len(words) and words[i + 1].lemma == "てる":
        n = i + 2
    elif (
        t.norm == "見る"
        and _lately_and_not_any_longer(words[:i])
        and [w.norm for w in words[i + 2 : i + 3]] != ["成る"]
    ):
        # 「最近全然見ない」; never 「もう見ない」 nor 「最近は見なくなった」, no longer
        # watched by choice.
        n = i + 1
    else:
        return range(0)
    if n < len(words) and words[n].lemma == "ます":
        n += 1
    if n >= len(words) or not _ja_negator(words[n]):
        return range(0)
    rest = words[n + 1 :]
    if rest and (rest[0].text in ("で", "よう", "と") or rest[0].lemma == "よう"):
        return range(0)  # 「流れてこないで」「出てこないようにして」: asked to stay away
    if [w.text for w in rest[:2]] in (["の", "は"], ["の", "が"]):
        return range(0)  # 「出てこないのは…」: `misses_it` reads what is said of it
    if any(w.lemma in _JA_RELIEVED or w.norm in _JA_WISHED_STATE for w in rest):
        return range(0)  # 「流れてこなくて助かる」「出てこない方がいい」: glad it is gone
    # Told as a report: lately, at all, not one, asked about (「出てこないの？」), no
    # longer (「流れてこなくなった」) or lamented (「…、さみしい」).
    asked = any(w.text in ("?", "？", "か") or w.lemma in _JA_LAMENTED for w in rest)
    stopped = rest[:1] and rest[0].norm == "成る"
    return range(i, n + 1) if asked or stopped or _reported(earlier) else range(0)


def _reported(words: Sequence[Token]) -> bool:
    """Whether Japanese words before a negated verb tell a report: 「最近」「全然」「全く」,
    or a count with 「も」 (「一本も」「一週間も」)."""
    for k, w in enumerate(words):
        if w.norm in _JA_REPORTED:
            return True
        counted = any(_JA_NUMERAL & set(u.text) for u in words[max(0, k - 2) : k])
        if w.text == "も" and counted:
            return True
    return False


def _too_few(words: Sequence[Token], i: int, clause: Clause, tokens: Sequence[Token]) -> range:
    """The positions of a complaint of too little that begins at words[i]; empty if none:
    "way too few X", "so few X", "a shortage of X", "short on X", "haven't seen X", "where
    are all the X", "nothing X in days", "not one X since tuesday", 「X少なすぎ」「Xが足りな
    い」「なんでXこんなに少ないの？」「Xが流れてこない」."""
    t, after = words[i], words[i + 1] if i + 1 < len(words) else None
    if t.script == "en":
        found = _too_few_in_english(words, i)
        # The thing comes after an English complaint ("haven't seen a | cricket match"),
        # or the clause names none and points back; "X has vanished" names it before.
        later = not clause.concepts or any(start > t.start for start, _ in clause.concepts)
        # "sea otters, haven't seen one all week": named before, then a pronoun.
        seen_it = (
            bool(found) and words[found[-1]].norm in _EN_SEEN and _says_it(words, found[-1] + 1)
        )
        named_before = t.norm in _EN_VANISHED or t.norm == "gone"  # "X has vanished"
        return found if later or seen_it or named_before else range(0)
    if t.lemma == "少ない" and after and after.lemma == "すぎる":
        # 「少なすぎません？」: a polite question, the same complaint.
        polite = [w.lemma for w in words[i + 2 : i + 4]] == ["ます", "ぬ"]
        return range(i, i + (4 if polite else 2))
    if t.lemma == "少ない" and t.text.startswith("少ない"):
        # 「なんで相撲こんなに少ないの？」: few, said of what is, ending the clause; never
        # 「少なくして」「少ない方がいい」「少ないと助かる」「少ないくらいがちょうどいい」.
        rest = words[i + 1 :]
        said = all(w.pos in ("PART", "AUX", "PUNCT") for w in rest)
        wished = any(w.text in ("と", "くらい", "ぐらい", "が") for w in rest)
        return range(i, i + 1) if said and not wished else range(0)
    if t.lemma in ("足りる", "足る") and t.text.endswith("ん"):
        return range(i, i + 1)  # 「サメ足りん」: the Kansai negator inside the word
    if t.lemma != "足りる":
        # 「最近、盆踊りを見かけない」: the report's 「最近」 may stand in a clause before.
        earlier = [w for w in tokens if w.end <= t.start and not in_concept(w, clause)]
        return _ja_no_longer_comes_up(words, i, earlier)
    end = i + 1
    while end < len(words) and words[end].lemma in _JA_NOT_ENOUGH_TAIL:
        end += 1
    negated = any(w.lemma in _JA_NEGATING for w in words[i + 1 : end])
    return range(i, end) if negated else range(0)


_EN_IT = word_set("one any it them those these")


def _says_it(words: Sequence[Token], k: int) -> bool:
    """Whether words[k] stands for a thing named before ("one", "any", "them")."""
    return k < len(words) and words[k].norm in _EN_IT


def _too_few_in_english(words: Sequence[Token], i: int) -> range:
    t, after = words[i], words[i + 1] if i + 1 < len(words) else None
    norm, next_norm = t.norm, after.norm if after else ""
    if norm in _EN_FEW and next_norm == "few":
        return range(i, i + 2)
    if norm in _EN_SCARCE or (norm == "short" and next_norm == "on"):
        return range(i, i + (2 if norm == "short" else 1))
    if norm in _EN_SEEN and any(_negates_in_english(w) for w in words[max(0, i - 2) : i]):
        # "haven't seen a single X", "have not spotted one in weeks": a report; never a
        # wish ("I'd rather not have seen that", "I wish I had never seen the X").
        first = next(k for k in range(max(0, i - 2), i) if _negates_in_english(words[k]))
        wished = {w.norm for w in words[:first]} & _EN_WISHING
        counted = next_norm in _EN_NOT_ONE | {"a"} or _spans_back(words, up_to_now=True)
        return range(first, i + 1) if counted and not wished else range(0)
    if norm in _EN_WHERE:
        # "where are all the X?", "where did the X go", "where'd all the X go"
        # Never "where are all these X coming from", a complaint of too many.
        ahead = [w.norm for w in words[i + 1 : i + 5]]
        if "from" in (w.norm for w in words[i:]):
            return range(0)
        if "all" in ahead[:3] and "these" not in ahead and "those" not in ahead:
            return range(i, i + 2 + ahead.index("all"))  # "all" asks for no "only" here
        if _EN_GONE & set(ahead):
            return range(i, i + 1)
    if norm == "what" and [w.norm for w in words[i + 1 : i + 3]] == ["happened", "to"]:
        return range(i, i + 3)
    vanished = norm in _EN_VANISHED or (norm == "gone" and next_norm == "missing")
    # "the astronomy has all but vanished", "claymation has gone missing"; never "make
    # the X disappear".
    if vanished and any(w.norm in _EN_HAS for w in words[max(0, i - 3) : i]):
        return range(i, i + (2 if norm == "gone" else 1))
    if norm in _EN_SELDOM and next_norm == "any" and _spans_back(words, up_to_now=True):
        return range(i, i + 2)
    not_one = next_norm in _EN_NOT_ONE or [w.norm for w in words[i + 1 : i + 3]] == ["a", "single"]
    reported_none = norm in _EN_REPORTED_NONE or (norm == "not" and not_one)
    # "nothing cozy in days", "not one bit of pixel art since tuesday"; never "no more X"
    # nor a plea ("no horror lately please" asks nothing new).
    pleads = next_norm == "more" or bool({w.norm for w in words} & _EN_PLEA)
    if reported_none and not pleads and _spans_back(words, up_to_now=not_one):
        return range(i, i + 1)
    return range(0)


# Signs of more or less typed against an item ("- burgers", "sushi +"): cues of the
# clause's own, never of the op networks' features.
_SIGN_CUES = {"+": "pos", "++": "pos", "-": "neg", "−": "neg", "--": "neg"}


def _item_sign(clause: Clause, tokens: Sequence[Token], token: Token) -> str:
    """ "pos" or "neg" for a sign standing against an item of the clause, opening it at the
    clause's start or after a comma ("- burgers") or closing it at the end or before one
    ("sushi +,"); "" for any other token ("cats - more please" has a dash)."""
    cue = _SIGN_CUES.get(token.text, "")
    if not cue:
        return ""
    inside = tokens_in(clause, tokens)
    k = next(i for i, t in enumerate(inside) if t.start == token.start)
    # "piano++", "country--": a run of one sign is one sign.
    first, last = k, k
    while first and inside[first - 1].text == token.text:
        first -= 1
    while last + 1 < len(inside) and inside[last + 1].text == token.text:
        last += 1
    prev = inside[first - 1] if first else None
    nxt = inside[last + 1] if last + 1 < len(inside) else None
    opens = nxt is not None and in_concept(nxt, clause)
    opens = opens and (prev is None or prev.text in _CLAUSE_PUNCT)
    closes = prev is not None and in_concept(prev, clause)
    closes = closes and (nxt is None or nxt.text in _CLAUSE_PUNCT)
    return cue if opens or closes else ""


_TIMES_SIGNS = frozenset("×✕✖xX*")


def multiplied(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a thing is multiplied right after it ("ねこ×100", "cats x10", 「猫×∞」): a
    times sign before a count of two or more, or infinity, asks for many, where nothing
    negative is said (「猫×100はいらない」). A 「×」 alone after a thing still declines it
    (「登山×」)."""
    inside = [
        t for t in tokens_in(clause, tokens) if t.text.strip() and t.text not in _EMOJI_MODIFIERS
    ]
    if any(_says_less(t) for t in inside if not in_concept(t, clause)):
        return False
    for k in range(1, len(inside)):
        sign = inside[k]
        if not in_concept(inside[k - 1], clause) or in_concept(sign, clause):
            continue
        # The sign and its count as two words ("×", "100") or one ("x10").
        count = sign.text[1:] or (inside[k + 1].text if k + 1 < len(inside) else "")
        many = count == "∞" or (count.isdecimal() and int(count) >= 2)
        if sign.text[0] in _TIMES_SIGNS and many:
            return True
    return False


def signed_alone(clause: Clause, tokens: Sequence[Token]) -> str:
    """ "pos" or "neg" where a clause is its items and one sign of more or less against
    them, nothing else ("+capybaras", "-geese", "country--"); "" otherwise. The op
    networks read the sign as a feature the vote can outweigh."""
    words = [t for t in outside_concepts(clause, tokens) if t.text not in _CLAUSE_PUNCT]
    if not words or not clause.concepts or any(t.text != words[0].text for t in words):
        return ""
    if sum(t.text == words[0].text for t in tokens_in(clause, tokens)) != len(words):
        return ""  # the same mark inside a concept too ("-lo-fi"): no sign alone
    return _item_sign(clause, tokens, words[0])


def clause_cues(clause: Clause, tokens: Sequence[Token]) -> ClauseCues:
    """The cues of one clause, with negation read over the cue it scopes."""
    words = outside_concepts(clause, tokens)
    after = [t for t in tokens if t.start >= clause.end][:1]  # the "?" that ends it
    # Verbs that say less with the word after them ("take | X | away", "gets | old").
    stale = [_grows_stale(words, i) for i in range(len(words))]
    taking_away = [stale[i] or _takes_away(words, i) for i in range(len(words))]
    excess = [_too_many(words, i) for i in range(len(words))]
    weary = [_wearies(words, i) for i in range(len(words))]  # "never tire of"
    # "has all but vanished": nearly, neither "only" nor "but" (both words marked).
    almost = [False] * len(words)
    for i in range(len(words) - 1):
        if _almost(words, i, tokens, clause):
            almost[i] = almost[i + 1] = True
    cues = [
        ""
        if almost[i]
        else _cue(t)
        or _item_sign(clause, tokens, t)
        or ("neg" if t.norm in _EN_JUDGED_BAD or taking_away[i] or excess[i] or weary[i] else "")
        for i, t in enumerate(words)
    ]
    for i in range(len(words) - 1):
        if stale[i] or excess[i]:
            cues[i + 1] = ""  # "gets | boring", "too | much": one cue, that "never" turns
    for i in range(1, len(words)):
        # 「減らしてほしい」「見たい」: the wish is the verb's, one cue; a negator after it
        # (「減らしてほしくない」) turns the verb.
        verb = i - 2 if words[i - 1].text == "て" else i - 1
        if words[i].lemma in _JA_WISHES and verb >= 0 and words[verb].pos == "VERB" and cues[verb]:
            cues[i] = ""
    # "way too few X", 「Xが足りない」: one complaint, no cue of less and no negator.
    complaint = {k for i in range(len(words)) for k in _too_few(words, i, clause, tokens)}
    for k in complaint:
        cues[k] = ""
    too_few = bool(complaint)
    roles = ["" if i in complaint else _negator_role(words, i, after) for i in range(len(words))]
    negator = [role == "negates" for role in roles]
    flipped = [False] * len(words)
    consumed = [False] * len(words)
    doubled = False
    for i in range(len(words) - 1):
        # "never not", "can't not": a negator right before "not" cancels into a yes
        # ("no cats no dogs" has a concept between its two negators).
        first, second = words[i], words[i + 1]
        if (
            negator[i]
            and first.script == second.script == "en"
            and second.norm == "not" != first.norm
            and second.start - first.end <= 1
        ):
            consumed[i] = consumed[i + 1] = doubled = True
            negator[i] = negator[i + 1] = False
    # Later cues first: in "don't want fewer cats" the negator scopes over "want fewer",
    # so it turns "fewer" and leaves "want" (a word it reached over) as no cue at all.
    for i in reversed(range(len(words))):
        if cues[i] not in ("pos", "neg") or negator[i] or consumed[i]:
            continue
        for j in [*_negation_reach(words, i), _denied_report(words, i)]:
            if j is not None and negator[j]:
                flipped[i] = consumed[j] = True
                for k in range(min(i, j) + 1, max(i, j)):
                    consumed[k] = True
                denied = _denial_of(words, j, negator) if j > i else None
                if denied is not None:
                    # 「見たくないわけじゃない」「見たないわけちゃう」: not that it is not
                    # wanted; the second negation turns the first back.
                    flipped[i] = False
                    doubled = True
                    for k in range(j + 1, denied + 1):
                        consumed[k] = True
                break
    for j in range(len(words)):
        # 「いらないなんて一言も言ってない」: a negator that refuses by itself, denied.
        denied = _denial_of(words, j, negator) if cues[j] == "neg" and not consumed[j] else None
        if negator[j] and denied is not None:
            flipped[j] = doubled = True
            for k in range(j + 1, denied + 1):
                consumed[k] = True
    negative = positive = False
    for i, t in enumerate(words):
        if t.norm in _POLITE or t.text in _POLITE or consumed[i] or roles[i] == "inert":
            continue
        cue = cues[i]
        if cue == "neg":
            positive, negative = (True, negative) if flipped[i] else (positive, True)
        elif cue == "pos":
            positive, negative = (positive, True) if flipped[i] else (True, negative)
    only = any(
        (t.norm in _ONLY_MARKERS or t.lemma in _ONLY_MARKERS or t.text in _ONLY_MARKERS)
        # だけ after a verb is "merely" (見てるだけで鳥肌), not "only": 猫だけ.
        and not (t.script == "ja" and k > 0 and words[k - 1].pos in ("VERB", "AUX"))
        and not _just_then(t, tokens, clause)
        and k not in complaint
        and not almost[k]
        # "is it just me or…": an aside, not "only"
        and [w.norm for w in words[max(0, k - 1) : k + 2]] != ["it", "just", "me"]
        # "all week" beside a complaint: a span of time, not "only" ("haven't seen one all
        # week"); "sumo all day please" may still be.
        and not (complaint and t.norm == "all" and _spans_back(words[k : k + 2], up_to_now=True))
        for k, t in enumerate(words)
    )
    negated_ask = any(flipped[i] and cues[i] == "pos" for i in range(len(words)))
    turned = [i for i in range(len(words)) if flipped[i] and cues[i] == "neg"]
    negated_refusal = doubled or bool(turned)
    turned_removal = (
        bool(turned)
        and not doubled
        and all(taking_away[i] or _removes(words[i]) or weary[i] for i in turned)
    )
    positive = positive or doubled or too_few
    return ClauseCues(
        negative, positive, only, negated_ask, negated_refusal, turned_removal, too_few
    )


def is_question(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether the sentence the clause begins in (a sentence ends at its question mark)
    holds a question mark ("why not fewer cat fails and more cat rescues?")."""
    for start, end in sentences(tokens):
        if tokens[start].start <= clause.start < tokens[end - 1].end + 1:
            return any(t.text == "?" for t in tokens[start:end])
    return False


# Words of dislike among the negative op words: negated, they say no dislike, not more.
_EN_DISLIKES = _EN_DISLIKING | word_set("hating hated dislikes loathe")
_JA_DISLIKES = _JA_DISLIKING | word_set("嫌だ")


def _removes(token: Token) -> bool:
    """Whether `token` is an op word that asks for less other than a dislike: one that
    takes away, holds back or tires of ("stop", "fewer", "tired", 「消す」, 「飽きる」), not
    "hate" or 「嫌い」. Negated, the first kind asks for more ("never tired of X"); the
    second says no dislike."""
    if _op_word(token) != "neg":
        return False
    if token.script == "en":
        return _cue_word(token.norm) not in _EN_DISLIKES
    # 「見るに堪えません」: ませ is a negator's ending, not a word that takes away.
    return token.pos != "AUX" and not any(
        f in _JA_DISLIKES for f in (token.norm, token.lemma, token.text)
    )


# Past forms that "just" before them makes a moment ago ("just got back from the gym").
_EN_PAST = word_set(
    "got came went had saw made did found took ate woke bought left felt heard met ran sat "
    "slept spent won lost wrote read began fell flew drove rode gave told"
)


def _just_then(token: Token, tokens: Sequence[Token], clause: Clause) -> bool:
    """Whether `token` is "just" saying when, before a verb in the past outside the
    clause's concepts ("yo just got back from the gym", "just finished my shift"), not
    "only" ("just cats")."""
    if token.norm != "just":
        return False
    after = _token_after(tokens, token)
    if after is None or after.script != "en" or in_concept(after, clause):
        return False
    return after.norm in _EN_PAST or (len(after.norm) > 4 and after.norm.endswith("ed"))


_JA_QUOTING = word_set("って という っていう")
_JA_QUOTED = word_set("なんて とか って と")
_JA_SAYING = word_set("言う いう")
# 「わけちゃう」, Kansai's 「わけじゃない」 (Sudachi reads ちゃう as 違う, or as the
# contracted てしまう, which never follows a noun).
_JA_NOT_SO = word_set("違う ちゃう")


def _denial_of(words: Sequence[Token], j: int, negator: Sequence[bool]) -> int | None:
    """Where the negation at `j` is itself denied (`_not_that`), by a word that negates."""
    denied = _not_that(words, j)
    if denied is not None and (negator[denied] or words[denied].text in _JA_NOT_SO):
        return denied
    return None


def _not_that(words: Sequence[Token], j: int) -> int | None:
    """Where a Japanese negator at `j` is itself denied, "not that …": 「わけじゃない」
    「わけではありません」 (the position of their negator) or 「わけちゃう」 (of 「ちゃう」)
    right after it, or 「…なんて言ってない」 (never said so); None otherwise."""
    k = j + 1
    if k < len(words) and words[k].text in _JA_QUOTED:
        # 「見たくないなんて一言も言ってない」: what was never said.
        for m in range(k + 1, min(k + 5, len(words))):
            if words[m].lemma in _JA_SAYING:
                return next(
                    (n for n in range(m + 1, min(m + 4, len(words))) if _ja_negator(words[n])),
                    None,
                )
        return None
    while k < len(words) and words[k].text in _JA_QUOTING:
        k += 1
    if k >= len(words) or words[k].norm not in _JA_FORMAL_NOUNS:
        return None
    for m in range(k + 1, min(k + 6, len(words))):
        t = words[m]
        if m == k + 1 and (t.norm in _JA_NOT_SO or t.text in _JA_NOT_SO):
            return m
        if _ja_negator(t):
            return m if t.pos in ("AUX", "ADJ") else None
        if t.pos not in ("AUX", "PART", "VERB"):
            return None
    return None


# "never said I wanted fewer sunsets", "I never asked for more cats": a negated report of
# the writer's own ask turns what was asked.
_EN_ASKED = word_set("said say says asked ask told tell meant mean requested")
_EN_ASKED_GAP = word_set("i you me for to that wanted want wanna see any some the a more")


def _denied_report(words: Sequence[Token], i: int) -> int | None:
    """The position of the word before the verb of saying that reports the English cue
    at `i` as asked ("never | said I wanted | fewer"), or None where none does."""
    if words[i].script != "en":
        return None
    j = i - 1
    while j >= 0 and i - j <= 4 and words[j].norm in _EN_ASKED_GAP:
        j -= 1
    if j < 1 or words[j].script != "en" or words[j].norm not in _EN_ASKED:
        return None
    return j - 1


_JA_FORMAL_NOUNS = word_set("訳 わけ")
_JA_THINKING = word_set("思う 考える")
_JA_QUOTING_TO = word_set("と って")
_JA_WISHES = word_set("たい ほしい 欲しい")


def _negation_reach(words: Sequence[Token], i: int) -> list[int]:
    """Positions of the negators that may scope over the cue at `i`, nearest first."""
    out = []
    if words[i].script == "en":
        # "wouldn't say no to", "never say no": the refusal said is what is negated.
        gap = _EN_NEGATION_GAP | (_EN_SAY_NO if _says_no(words, i) else set())
        for j in range(i - 1, max(i - 4, -1), -1):
            out.append(j)
            # "don't you dare stop X" reaches its "stop"; "why don't you show less X"
            # does not reach its "less" (a question that asks for less).
            dare = words[j].norm == "you" and words[j + 1].norm == "dare"
            if words[j].script != "en" or (words[j].norm not in gap and not dare):
                break
        return out
    for j in range(i + 1, min(i + 6, len(words))):
        out.append(j)
        if words[j].script != "ja":
            break
        # 「苦手ってわけじゃない」: the negator reaches over わけ, a noun only in form, and
        # 「見たいと思ってなかった」 over the thought that quotes the wish.
        thought = words[j].lemma in _JA_THINKING and words[j - 1].text in _JA_QUOTING_TO
        passes = words[j].pos in ("AUX", "PART", "ADJ") or words[j].norm in _JA_FORMAL_NOUNS
        if not (passes or thought):
            break
    return out


_EN_SAY_NO = word_set("say saying said")


def _says_no(words: Sequence[Token], i: int) -> bool:
    """Whether words[i] is the "no" of "say no (to)": a refusal, not a negator."""
    return words[i].norm == "no" and i > 0 and words[i - 1].norm in _EN_SAY_NO


def _says_less(t: Token) -> bool:
    """Whether a word negates or leans towards less: a negator ("not", "don't") or a
    negative cue word ("stop", 「いらない」)."""
    return t.norm in _EN_NEGATORS or _cue(t) == "neg"


def _negates_in_english(t: Token) -> bool:
    return t.script == "en" and (t.norm in _EN_NEGATORS or _cue_word(t.norm) in _EN_NEGATORS)


def _negator_role(words: Sequence[Token], i: int, after: Sequence[Token]) -> str:
    """How words[i] negates: "negates" (the cue it scopes counts the other way), "inert"
    (a Japanese negative question, 「しか…ない」, the ん of 「なんだけど」: no cue at all),
    or "" (no negator, or 「ない」 of absence, a negative cue that scopes over nothing)."""
    t = words[i]
    if t.script == "en":
        return "negates" if _negates_in_english(t) and not _says_no(words, i) else ""
    if (
        t.text in _JA_NOT_SO
        and i
        and words[i - 1].text in ("ん", "の")
        and words[i - 1].pos == "PART"
    ):
        return "negates"  # 「嫌いなんちゃう」: Kansai's 「嫌いなのではない」
    if not _ja_negator(t):
        return ""
    if t.pos not in ("AUX", "ADJ"):
        return "inert"
    if any(w.lemma == "しか" for w in words[:i]):
        return "inert"
    rest = [w.text for w in [*words[i + 1 :], *after]]
    tail = rest[: next((k for k, w in enumerate(rest) if w not in _QUESTION_TAIL), len(rest))]
    if "?" in tail:
        return "inert"
    if tail[:1] == ["か"] and i > 0 and words[i - 1].norm == "ます":
        return "inert"  # 「減らせませんか」: a polite request, whatever its punctuation
    if tail[:1] in (["か"], ["かな"]) and i > 0 and words[i - 1].lemma in _JA_FAVOURS:
        return "inert"  # 「もうちょっと流してくれないかな」: a favour asked
    if t.pos == "ADJ" and not (i > 0 and words[i - 1].pos in ("AUX", "ADJ")):
        return ""  # 「ホラーはない方がいい」: absence; 「嫌いじゃない」「ほしくない」 negate
    return "negates"


# -- tags <-> clauses -----------------------------------------------------------------

TAGS = ("O", "B", "I", "K", "KB", "S")


def tags_from_spans(
    tokens: Sequence[Token], clauses: Sequence[tuple[int, int, int, int]]
) -> list[str]:
    """Gold tags for tokens from clause spans (start, end, concept_start, concept_end).

    A coordinated list ("no cats or dogs") comes as one entry per concept with the same
    clause span; every concept of a clause is tagged. A token overlapping a concept is
    part of it; the first token of each clause is marked K (or KB when a concept starts
    the clause); tokens outside every clause (connectors, fillers) are S.
    """
    concepts: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for cs, ce, ks, ke in clauses:
        found = concepts.setdefault((cs, ce), [])
        if ks >= 0:
            found.append((ks, ke))
    tags = []
    for t in tokens:
        span = next(((cs, ce) for cs, ce in concepts if cs <= t.start < ce), None)
        if span is None:
            tags.append("S")
            continue
        cs = span[0]
        first = not any(cs <= u.start < t.start for u in tokens)
        concept = next(((ks, ke) for ks, ke in concepts[span] if t.start < ke and t.end > ks), None)
        concept_first = concept is not None and not any(
            cs <= u.start < t.start and u.start < concept[1] and u.end > concept[0] for u in tokens
        )
        if first:
            tags.append("KB" if concept else "K")
        elif concept:
            tags.append("B" if concept_first else "I")
        else:
            tags.append("O")
    return tags


# Marks that end a sentence: Japanese ones always, English ones before a space.
_JA_SENTENCE_ENDS = frozenset("。！？…")
_EN_SENTENCE_ENDS = frozenset(("!", "?", ".", "...", "…"))
# Marks that end what a sentence says (see `_full_stops`).
_FULL_STOPS = frozenset(".!?。！？")


def sentences(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Token ranges of the sentences of an instruction: each ends after a run of
    sentence-ending marks that something follows."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for i, (here, after) in enumerate(itertools.pairwise(tokens)):
        ends = here.text in _JA_SENTENCE_ENDS or (
            here.text in _EN_SENTENCE_ENDS and (after.start > here.end or after.script == "ja")
        )
        if ends and after.text not in _JA_SENTENCE_ENDS and after.text not in _EN_SENTENCE_ENDS:
            bounds.append((start, i + 1))
            start = i + 1
    bounds.append((start, len(tokens)))
    return bounds


# Emphasis that is only loudness (`calm_emphasis`). Beside the cue words, words said
# again for weight alone; Japanese adverbs, interjections and the like said twice are too.
_EN_EMPHATIC = word_set("please pls plz really very so super totally absolutely omg seriously")
_JA_EMPHATIC = word_set("本当 ほんと ほんま マジ まじ 絶対 ぜったい 全然 頼む お願い")
_JA_EMPHATIC_POS = frozenset(("ADV", "INTJ", "ADJN", "AUX", "PART"))
# What may stand between a word and its repeat ("more, more, MORE", 「絶対に、絶対に」).
_REPEAT_GAPS = frozenset(",、!！.。…~〜")
# What says the words before it again ("never, and I mean NEVER, show me ...").
_EN_RESTATING = (("i", "mean"), ("i", "repeat"), ("i", "said"))
# A piece between full stops is short when it is one English word or this many Japanese
# characters ("NO. MORE. CLOWNS.", 「激辛チャレンジ！！！もう！！！見たくない！！！」).
_JA_SHORT_PIECE = 8


def calm_emphasis(text: str, tokens: Sequence[Token]) -> str:
    """`text` with one kind of emphasis that only says an ask loudly said once, the way
    the corpus says it; `text` itself where there is none (`calm_all_emphasis` calms
    every kind). Loud asks are read as plain ones: before
    this, "never, I mean never, show me clowns" was read as more clowns, and
    「激辛チャレンジ！！！もう！！！見たくない！！！」 as a question between more and less.

    - A run of one to three words said again right after, marks between (`_REPEAT_GAPS`),
      is said once where it holds a cue word or a word of emphasis ("more, more, MORE",
      「マジでマジで」, 「いらないいらない」), or where it is said three times or more
      ("no no no clowns", "cats cats cats"); a thing's doubled name ("tuk tuk") and a
      negator said twice ("no, no cats") stay.
    - What "I mean" says again of the words just before it is left out ("never, and I
      mean NEVER, show me X").
    - A comma between a negator and the "ever" that stresses it is left out ("never,
      ever stop showing me X" reads as "never ever stop ..."), so the negator reaches
      its verb.
    - Words cut apart by full stops one at a time are joined, where at least three such
      pieces follow each other, one asks and at most one names a thing ("NO. MORE.
      CLOWNS.", "Give. Me. All. The. Noir."); a list of things cut so ("Cats. Dogs.
      Birds. More.", 「イルカ。クジラ。シャチ。もっと見たい」) stays.
    """
    cuts = (
        _repeats(text, tokens)
        or _restated(text, tokens)
        or _ever_set_apart(text, tokens)
        or _cut_pieces(tokens)
    )
    if not cuts:
        return text
    kept, at = [], 0
    for start, end in sorted(cuts):
        kept.append(text[at:start])
        at = max(at, end)
    return "".join(kept) + text[at:]


def calm_all_emphasis(text: str, tokenizer: Tokenizer) -> tuple[str, list[Token]]:
    """`text` after every pass of `calm_emphasis`, each of which calms one kind of
    emphasis, with its tokens."""
    tokens = tokenizer.tokenize(text)
    while (calm := calm_emphasis(text, tokens)) != text:
        text, tokens = calm, tokenizer.tokenize(calm)
    return text, tokens


def _emphatic(words: Sequence[Token]) -> bool:
    for t in words:
        if _cue(t):
            return True
        if t.script == "en":
            if t.norm in _EN_EMPHATIC:
                return True
        elif any(f in _JA_EMPHATIC for f in (t.norm, t.lemma, t.text)):
            return True
    return all(t.script == "ja" and t.pos in _JA_EMPHATIC_POS for t in words)


def _negates(token: Token) -> bool:
    return _negates_in_english(token) or (token.script == "ja" and _ja_negator(token))


def _said(text: str, words: Sequence[Token]) -> str:
    return text[words[0].start : words[-1].end].lower()


def _said_again(text: str, tokens: Sequence[Token], at: int, said: str) -> int:
    """The index past the one to four tokens from `at` that say `said` again, as words of
    their own (not the "no" of "no no-bake cakes"); 0 if none."""
    for m in range(1, 5):
        if at + m <= len(tokens) and _said(text, tokens[at : at + m]) == said:
            last, after = tokens[at + m - 1], tokens[at + m] if at + m < len(tokens) else None
            joined = (
                after is not None
                and last.script == "en"
                and after.start == last.end
                and after.text not in _REPEAT_GAPS
                and after.text not in _EN_SENTENCE_ENDS
            )
            return 0 if joined else at + m
    return 0


def _repeats(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    cuts: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        for k in (1, 2, 3):
            unit = tokens[i : i + k]
            if len(unit) < k or any(t.text in _REPEAT_GAPS for t in unit):
                break
            if unit[0].script == "ja" and unit[-1].end - unit[0].start < 2:
                continue  # 「見てて」: a grammar word of one kana, not a word said twice
            said, end, times = _said(text, unit), i + k, 1
            while True:
                j = end
                while j < len(tokens) and tokens[j].text in _REPEAT_GAPS:
                    j += 1
                past = _said_again(text, tokens, j, said)
                if not past:
                    break
                end, times = past, times + 1
            # A negator said twice may say two things: "no, no cats" answers, then
            # refuses. Three times is loudness alone.
            twice_ok = _emphatic(unit) and not (len(unit) == 1 and _negates(unit[0]))
            if times > 2 or (times == 2 and twice_ok):
                cuts.append((unit[-1].end, tokens[end - 1].end))
                i = end - 1
                break
        i += 1
    return cuts


def _restated(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    cuts: list[tuple[int, int]] = []
    for i in range(1, len(tokens) - 2):
        if (tokens[i].norm, tokens[i + 1].norm) not in _EN_RESTATING:
            continue
        before = i - 1
        while before >= 0 and (tokens[before].text in _REPEAT_GAPS or tokens[before].norm == "and"):
            before -= 1
        for k in (1, 2, 3):
            said = tokens[before - k + 1 : before + 1]
            if len(said) < k or not _emphatic(said):
                continue
            past = _said_again(text, tokens, i + 2, _said(text, said))
            if past:
                cuts.append((said[-1].end, tokens[past - 1].end))
                break
    return cuts


def _ever_set_apart(text: str, tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The commas between an English negator and the "ever" right after it."""
    cuts: list[tuple[int, int]] = []
    for i in range(len(tokens) - 2):
        negator, mark, ever = tokens[i : i + 3]
        if (
            _negates_in_english(negator)
            and mark.text == ","
            and ever.norm == "ever"
            and text[ever.start - 1].isspace()
        ):
            cuts.append((negator.end, ever.start - 1))
    return cuts


def _asks_alone(words: Sequence[Token]) -> bool:
    """Whether a piece cut off by full stops holds a cue word, or for Japanese, no noun
    (「もう！！！いい！！！」 says one cue in two pieces; 「猫。犬。鳥。」 is a list)."""
    if any(_cue(t) for t in words):
        return True
    return all(t.script == "ja" and t.pos not in ("NOUN", "PROPN", "PRON") for t in words)


def _names_a_thing(words: Sequence[Token]) -> bool:
    """Whether a piece holds a word that names a thing: no cue word, no English function
    word or word of emphasis ("Me.", "The."), and a noun in Japanese (「猫好き。」 names
    猫 beside its cue; 「もう！！！」 names nothing)."""
    return any(
        not _cue(t)
        and (
            t.norm not in _EN_FUNCTION and t.norm not in _EN_EMPHATIC
            if t.script == "en"
            else t.pos in ("NOUN", "PROPN")
        )
        for t in words
    )


def _cut_pieces(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The full stops between pieces of one word each (see `calm_emphasis`)."""
    cuts: list[tuple[int, int]] = []
    run: list[tuple[list[Token], list[Token]]] = []  # (words, stops after them)

    def close() -> None:
        things = sum(_names_a_thing(words) for words, _ in run)
        if len(run) >= 3 and things <= 1 and any(_asks_alone(words) for words, _ in run):
            cuts.extend((s[0].start, s[-1].end) for _, s in run[:-1])
        run.clear()

    for start, end in sentences(tokens):
        piece = tokens[start:end]
        stops = [t for t in piece if t.text in _FULL_STOPS or t.text in _EN_SENTENCE_ENDS]
        words = [t for t in piece if t not in stops]
        trailing = piece[len(words) :] == stops
        short = (
            bool(words)
            and trailing
            and (
                len(words) == 1
                and words[0].script == "en"
                or all(t.script == "ja" for t in words)
                and sum(t.end - t.start for t in words) <= _JA_SHORT_PIECE
            )
        )
        if short:
            run.append((words, stops))
        else:
            close()
    close()
    return cuts


def tag_mentions(tokens: Sequence[Token], tags: Sequence[str]) -> list[str]:
    """Tags with every @handle marked as a concept: a person named is always what the
    clause is about (their consent is checked downstream), whatever the tagger said."""
    out = list(tags)
    for i, token in enumerate(tokens):
        if token.pos != "MENTION" or out[i] in ("B", "I", "KB"):
            continue
        starts_clause = out[i] in ("K", "KB")
        follows_concept = i > 0 and out[i - 1] in ("B", "I", "KB")
        out[i] = "KB" if starts_clause else ("I" if follows_concept else "B")
    return out


def _pictures_a_thing(token: Token) -> bool:
    """Whether a token is pictographs of things only (🦈, 🏀⚽): no face, hand or heart,
    and no sign of "no" (🚫, 🚭), which asks rather than names."""
    chars = [c for c in token.text if c not in _EMOJI_MODIFIERS and unicodedata.category(c) != "Cf"]
    return bool(chars) and all(
        is_pictograph(c)
        and emoji_kind(c) == "thing"
        and not {"no", "prohibited"} & set(emoji_words(c))
        for c in chars
    )


def join_pictographs(tokens: Sequence[Token], tags: Sequence[str]) -> list[str]:
    """Tags with a run of different pictographs kept in one concept: "less 🚗🏍 please"
    names both under one ask. The tagger, which saw few such runs, began a new clause or
    dropped the second ("more 🐱🐶" asked only for the cat), and a second clause of a bare
    pictograph read as more. One pictograph said again ("🍜🍜🍜 ramen") is emphasis, left
    as tagged."""
    out = list(tags)
    for i in range(1, len(tokens)):
        before, token = tokens[i - 1], tokens[i]
        joined = out[i - 1] in ("B", "I", "KB") and token.text != before.text
        if joined and _pictures_a_thing(before) and _pictures_a_thing(token):
            out[i] = "I"
    return out


def clauses_from_tags(tokens: Sequence[Token], tags: Sequence[str]) -> list[Clause]:
    """Clauses (with concept spans) from a tag sequence."""
    groups: list[list[tuple[Token, str]]] = [[]]
    for token, tag in zip(tokens, tags, strict=True):
        if tag == "S":
            groups.append([])
            continue
        if tag in ("K", "KB") and groups[-1]:
            groups.append([])
        groups[-1].append((token, tag))
    clauses = []
    for group in groups:
        if not group:
            continue
        concepts: list[list[int]] = []
        previous = "O"
        for token, tag in group:
            if tag in ("B", "KB") or (tag == "I" and previous not in ("B", "I", "KB")):
                concepts.append([token.start, token.end])
            elif tag == "I":
                concepts[-1][1] = token.end
            previous = tag
        clauses.append(
            Clause(group[0][0].start, group[-1][0].end, tuple((s, e) for s, e in concepts))
        )
    return clauses


# Politeness says nothing about direction: 「消してください」 asks for less.
_POLITE = word_set("please pls plz ください 下さい お願い 願う")
_CLAUSE_PUNCT = frozenset(",、;；")


def _polarity(tokens: Sequence[Token]) -> str:
    """ "-" when a negative cue stands among `tokens`, "+" for a positive one, else ""."""
    cues = {_cue(t) for t in tokens if t.norm not in _POLITE and t.text not in _POLITE}
    if "neg" in cues:
        return "-"  # negation wraps what it follows: 見たくない, don't want
    return "+" if cues & {"pos", "only"} else ""


def after_a_stop(span: tuple[int, int], tokens: Sequence[Token]) -> tuple[int, int]:
    """A concept span's part after the last full stop inside it: the tagger's span across
    「お疲れさまです。本日」 is no thing, and what it may name is the part nearest the ask."""
    inside = tokens_in(Clause(*span, ()), tokens)
    stops = [
        k
        for k in range(len(inside) - 1)
        if _stops(inside[k], inside[k + 1]) and any(has_words(t.text) for t in inside[k + 1 :])
    ]
    return span if not stops else (inside[stops[-1] + 1].start, span[1])


def drop_cue_concepts(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses without concept spans made only of cue words (「控えめ」 tagged like 「静か」)
    or only of Japanese words that say when or how much (adverbs, adjectives, nouns that
    stand as adverbs: 「先週ほど投資の動画は」's 先週, 「よろしければ」), when the clause names
    something else: the cue says what to do, the time says when; neither is the topic.
    Spans that only point back ("more of both", 「それもっと」) or only greet ("merry
    christmas!!", 「やっほー」) go whatever else the clause names."""
    signed = _signed_off_at(tokens)
    out = []
    for clause in clauses:
        clause = replace(clause, concepts=tuple(after_a_stop(s, tokens) for s in clause.concepts))
        words = {span: tokens_in(Clause(*span, ()), tokens) for span in clause.concepts}
        spans = tuple(
            span
            for span in clause.concepts
            if not points_or_greets(words[span])
            and not names_the_app(words[span])
            and (signed is None or span[1] <= signed)
        )
        keep = tuple(span for span in spans if not _not_a_topic(words[span], tokens))
        concepts = tuple(_without_verdict(span, tokens) for span in keep or spans)
        out.append(replace(clause, concepts=concepts))
    return out


def _signs(sign: Token, tokens: Sequence[Token]) -> bool:
    """Whether a sign before an item is typed against it after a space ("-horror") or
    opens the message or a part of it ("+ sushi, - burgers"); a dash between spaces
    mid-clause ("more cats - kittens too") separates."""
    k = next(i for i, t in enumerate(tokens) if t.start == sign.start)
    if k == 0 or tokens[k - 1].text in _CLAUSE_PUNCT or tokens[k - 1].text in _FULL_STOPS:
        return True
    after = tokens[k + 1] if k + 1 < len(tokens) else None
    # "-horror" after a space; never the hyphen inside "lo-fi", which the tagger may cut at.
    return tokens[k - 1].end < sign.start and after is not None and after.start == sign.end


# Verbs whose particle comes after their object ("turn the news down", "switch X off").
_EN_TURNING = word_set("turn switch shut knock cut dial tone scale crank bump ramp pump")
_EN_PARTICLES = word_set("up down off")
_EN_OBJECT_OPENERS = word_set("the my all those these that this any some")


def _turned_by(span: tuple[int, int], tokens: Sequence[Token]) -> bool:
    """Whether the English concept at `span` is the object of a verb of `_EN_TURNING`."""
    before = [t for t in tokens if t.end <= span[0]]
    while before and before[-1].norm in _EN_OBJECT_OPENERS:
        before.pop()
    return bool(before) and before[-1].norm in _EN_TURNING


def _after_this(token: Token, tokens: Sequence[Token]) -> bool:
    """Whether `token` comes right after 「これ」."""
    before = [t for t in tokens if t.end <= token.start]
    return bool(before) and before[-1].text == "これ"


# Words that turn a sentence against the one before it ("X though?", "X otoh").
_EN_SENTENCE_TURNS = word_set("however though tho otoh meanwhile")
# What the tagger may take in after a thing that is no part of it: a verdict or a turn.
_EN_AFTER_THE_THING = _EN_VERDICTS | _EN_SENTENCE_TURNS


def _without_verdict(span: tuple[int, int], tokens: Sequence[Token]) -> tuple[int, int]:
    """A concept span without the word of acceptance the tagger took in after it ("anime
    fine, but no more isekai" names anime), a turn of the sentence ("juggling however"),
    a verb's particle ("switch the talk shows
    off"), the sign of more or less before it, the time
    after it ("gore before noon"), or the 「これ以上」 (any more) or a place in the feed
    (「猫を上」) after its particle (「激辛チャレンジがこれ以上」)."""
    inside = tokens_in(Clause(*span, ()), tokens)
    if len(inside) > 1 and inside[0].text in _SIGN_CUES and _signs(inside[0], tokens):
        # "+ sushi, - burgers": the sign says more or less of the item; it is no part of it.
        return inside[1].start, span[1]
    if len(inside) > 1 and inside[0].text == "以上" and _after_this(inside[0], tokens):
        # 「これ以上整形ビフォーアフター見せて…」: how much, before the thing.
        return inside[1].start, span[1]
    k = len(inside)
    while k > 1 and inside[k - 1].script == "en" and inside[k - 1].norm in _EN_TIMES:
        k -= 1
    if k < len(inside) and k > 1 and inside[k - 1].norm in _EN_WHEN:
        # "surgery gore before noon": when is no part of what.
        return span[0], inside[k - 2].end
    if len(inside) > 1 and inside[-1].script == "en" and inside[-1].norm in _EN_AFTER_THE_THING:
        # "anime fine", "sneaker restorations otoh? bring em": a verdict on the thing or
        # the turn of the sentence, no part of the thing.
        return span[0], inside[-2].end
    if len(inside) > 1 and inside[-1].norm in _EN_PARTICLES and _turned_by(span, tokens):
        # "switch the late night talk show monologues off": the verb's particle.
        return span[0], inside[-2].end
    if (
        len(inside) > 2
        and inside[-1].text in _JA_RANK_UP | _JA_RANK_DOWN
        and inside[-2].pos == "PART"
    ):
        # 「猫を上の方に」: the place in the feed after its particle is no part of the thing.
        return span[0], inside[-3].end
    if len(inside) > 3 and [t.text for t in inside[-2:]] == ["これ", "以上"]:
        head = inside[:-2]
        while head and head[-1].pos == "PART":
            head.pop()
        if head:
            return span[0], head[-1].end
    return span


_EN_POINTERS = word_set(
    "both all them those these it that this either one ones everything anything em 'em"
)
_JA_POINTERS = word_set(
    "両方 全部 ぜんぶ 全て すべて それ あれ これ そういうの どっち どちら"
    " こう そう ああ あー こういう そういう ああいう あーいう いう"  # こう + いう
    " こんな そんな あんな こんなん そんなん あんなん"
)
_EN_GREETINGS = frozenset(
    (
        "hi", "hello", "hey", "heya", "hiya", "yo", "morning", "good morning", "good night",
        "good evening", "gm", "gn", "merry christmas", "merry xmas", "happy new year",
        "happy holidays", "happy halloween", "whew", "phew", "omg", "wow", "ugh", "aww",
        "good afternoon", "good day", "greetings",
    )
)  # fmt: skip
# Words that close a message as a letter does; what follows them is a name ("Kind regards,
# Harold"), never a thing to see.
_EN_SIGN_OFFS = word_set("regards sincerely cheers xoxo yours")
_SIGNATURE_WORDS = 3  # the longest name after a sign-off, in tokens
_JA_GREETINGS = word_set(
    "やっほー やっほ まじか まじかよ おつかれ お疲れ あけおめ ことよろ メリクリ"
    " ンゴ ぴえん ワロタ ぱおん"  # net slang's sentence ends: 「もう飽きたンゴ」
)
_LAUGHS = word_set("笑 w ww www 草 lol haha")


# What says that the rest is the writer's opinion, never a thing to see.
_EN_HEDGES = word_set("reckon reckons think guess suppose imo imho tbh ngl honestly")


def only_points(span: Sequence[Token]) -> bool:
    """A concept span that only points, back to others named ("both", 「それ」) or at the
    clip on screen (「こういう」)."""
    words = _words_of(span)
    pointing = [t.norm in _EN_POINTERS or t.text in _JA_POINTERS or t.pos == "PRON" for t in words]
    # 「ああいう雰囲気」, "this kind": a pointer and the words that make it a kind of
    # thing; 「これ以上」: a pointer and how much
    kinds = [t.text in _JA_KIND_NOUNS | {"以上"} or t.norm in _EN_THING_AFTER for t in words]
    return bool(words) and pointing[0] and all(p or k for p, k in zip(pointing, kinds, strict=True))


def _words_of(span: Sequence[Token]) -> list[Token]:
    return [t for t in span if has_words(t.text) and t.text.lower() not in _LAUGHS]


def _signed_off_at(tokens: Sequence[Token]) -> int | None:
    """Where an English message's closing words begin, when it ends as a letter does
    ("…classical guitar recitals. Kind regards, Harold"): a sign-off ("regards",
    "sincerely", "cheers") with at most a name after it; None where it does not."""
    words = [t for t in tokens if has_words(t.text)]
    for k in range(len(words) - 1, max(-1, len(words) - 2 - _SIGNATURE_WORDS), -1):
        if words[k].script == "en" and words[k].norm in _EN_SIGN_OFFS:
            start = k - 1 if k and words[k - 1].norm in ("kind", "best", "warm", "warmest") else k
            # Its own sentence: after a stop or a comma ("more crowd cheers" signs nothing).
            before = [t for t in tokens if t.end <= words[start].start]
            if not before or not has_words(before[-1].text):
                return words[start].start
    return None


# Parts of the app, which no clip shows: "Where can I change the language setting?",
# "where did the download button go", 「アプリの通知が多すぎる」 ask nothing of the feed.
_EN_APP_PARTS = word_set(
    "setting settings button buttons notification notifications notifs app account password login"
)  # never "update": "less game updates" names clips
_JA_APP_PARTS = word_set("設定 通知 アプリ ボタン アカウント パスワード ログイン")


def names_the_app(span: Sequence[Token]) -> bool:
    """Whether a concept span names a part of the app (its last word: "language setting",
    「アプリの通知」), which no clip shows, rather than a thing to see."""
    words = _words_of(span)
    while words and words[-1].script == "ja" and words[-1].pos == "PART":
        words.pop()
    if not words:
        return False
    last = words[-1]
    return last.norm in _EN_APP_PARTS if last.script == "en" else last.text in _JA_APP_PARTS


# Words that ask to put the feed back however the sentence around them reads ("undo" and
# "default" are left out: "undo that" takes back one ask, "by default" asks none).
_EN_START_OVER = word_set("reset restart")
_EN_OVER_AGAIN = word_set("over fresh again")
_JA_START_OVER = word_set("リセット 初期 元通り")


def _negated_just_before(inside: Sequence[Token], k: int) -> bool:
    """Whether a negator stands among the three words before `inside[k]`, in the same part
    of the sentence ("don't reset", "i don't want a restart"; never "ugh no, reset it")."""
    for t in reversed(inside[max(0, k - 3) : k]):
        if t.text in _CLAUSE_PUNCT or t.text in _FULL_STOPS:
            return False
        if t.norm in _EN_NEGATORS:
            return True
    return False


def starts_over(clause: Clause, tokens: Sequence[Token]) -> int | None:
    """Where a clause asks to put the feed back in words of its own ("can we start over,
    my feed is a mess", "ugh my feed is so boring, reset please", 「リセットしたい」), which
    a complaint around them cannot turn into less of something; None where it does not."""
    inside = tokens_in(clause, tokens)
    for k, token in enumerate(inside):
        if in_concept(token, clause):
            continue
        if token.script != "en":
            early = _next_is(inside, token, "の")  # 「初期のポケモン」: early Pokémon
            resets = (token.text in _JA_START_OVER or token.lemma in _JA_START_OVER) and not early
        else:
            resets = token.norm in _EN_START_OVER or (
                token.norm == "start" and any(_next_is(inside, token, w) for w in _EN_OVER_AGAIN)
            )
        # "don't reset my feed, just fewer cats", "i don't want a restart"
        if resets and not _negated_just_before(inside, k):
            return token.start
    return None


# Words that only say please, how much or which day: never a thing to see, alone.
_JA_PLEASE = word_set("御願い おねがい よろしく 宜しく 頼む たのむ")  # and `_POLITE`
_DEGREES = word_set(
    "めっちゃ めちゃ めちゃくちゃ めっちゃくちゃ とても すごく 凄く かなり 本当に ほんとに "
    "マジで まじで ガチで very really super totally"
)
_DAYS = word_set(
    "本日 今日 きょう 毎晩 毎日 今夜 今晩 明日 昨日 今朝 毎朝 today tonight tomorrow yesterday"
)


_JA_DOING = word_set("する 為る いたす 致す")


def _doing_it_politely(token: Token) -> bool:
    """The prefix, verb and endings around 「願い」: 「お」「します」「いたします」."""
    return token.script == "ja" and (token.pos in ("AUX", "PREF") or token.lemma in _JA_DOING)


def _says_no_thing(token: Token) -> bool:
    return any(form in _POLITE or form in _JA_PLEASE or form in _DEGREES or form in _DAYS
               for form in (token.norm, token.text, token.lemma))  # fmt: skip


def points_or_greets(span: Sequence[Token]) -> bool:
    """A concept span that only points (`only_points`), only greets ("merry christmas",
    「やっほー」, 「まじかよ笑」), only hedges ("reckon"), or only says please or how much
    (「おねがい」, 「めっちゃ」, 「本日」)."""
    words = _words_of(span)
    if not words:
        return False
    if only_points(words):
        return True
    nice = [_says_no_thing(t) for t in words]
    if any(nice) and all(n or _doing_it_politely(t) for n, t in zip(nice, words, strict=True)):
        return True  # 「ハリネズミ、もっと、おねがい」, 「めっちゃ好き」, 「お願いします」
    if words[0].script == "en":
        if all(t.norm in _EN_HEDGES for t in words):
            return True  # "more surfing please, | reckon that'd be grouse"
        return " ".join(t.norm for t in words) in _EN_GREETINGS
    joined = "".join(t.text for t in words)
    return all(t.pos == "INTJ" for t in words) or joined in _JA_GREETINGS


# Suffixes that make a kind of anything they follow: 「ほのぼの系」「レトロ風」「ゆるい感じ」.
_JA_KIND_SUFFIXES = word_set("系 風 調 っぽい ぽい 感じ 的")


# When, not what: "saturdays: garden makeovers only", "no surgery gore before noon".
_EN_TIMES = word_set(
    "tonight today tomorrow morning mornings evening evenings night nights noon midnight "
    "weekend weekends weekday weekdays monday mondays tuesday tuesdays wednesday wednesdays "
    "thursday thursdays friday fridays saturday saturdays sunday sundays bedtime lunchtime"
)
_EN_WHEN = word_set("before after until till during on")  # never "at night": a scene


# What points at the clip on screen when nothing was named: "more like this", "less of
# these", "stuff like that", 「こういうのもっと」「この手の動画は無理」「これ系はもういい」.
# "this" (and slips of the thumb), "these", "those", and what is like it: "feed me
# similar", "the same again please".
_EN_HERE = word_set("this thsi tihs htis these theese those similar same")
# Only beside a word that makes it a thing, below ("that would be nice" is the request).
_EN_THERE = word_set("that")
_EN_AS_A_THING = word_set("like of")  # "more like that", "none of those"
_EN_THING_AFTER = word_set("kind sort type one ones stuff")  # "that kind of thing"
# What makes "this" a time or the app, not a clip: "not this week", "these days", "this
# app's a bit of alright".
_EN_NOT_A_CLIP_AFTER = (
    word_set(
        "time times day days week weeks weekend morning evening afternoon night year years month "
        "months season moment minute second summer winter spring autumn fall app app's apps feed "
        "feed's site website page platform algorithm account phone"
    )
    | _EN_TIMES
)
# 「こういう」「そういう」「ああいう」: こう + いう.
_JA_POINTING_ADVERBS = word_set("こう そう ああ あー")
_JA_POINTING_DETERMINERS = word_set("こんな そんな あんな こんなん そんなん あんなん")
_JA_HERE = word_set("これ それ あれ")
_JA_NOT_A_THING_AFTER = word_set("から まで 以上 以外")  # これから: from now; これ以上: any more
# Nouns that make 「この」 a kind of clip, not a time or place (この前, このところ).
_JA_KIND_NOUNS = word_set(
    "手 系 感じ 種 類 動画 クリップ ジャンル タイプ シリーズ 雰囲気 路線 パターン やつ ノリ 方向 "
    "テイスト 傾向 系統 方向性 vibe vibes"
)
# Who made or is in the clip on screen: 「この人の他の動画も見たい」.
_JA_WHO_MADE_IT = word_set("人 ひと 方 子 チャンネル 投稿者 クリエイター")
# Asking for something else than the clip on screen, which is no ask for it.
_EN_SOMETHING_ELSE = word_set("different else other besides than instead except but")
_JA_SOMETHING_ELSE = word_set("違う 別 他 ほか 以外 代わり")


def _elsewhere(inside: Sequence[Token]) -> bool:
    """Whether a run of tokens wants something else ("something different from this",
    「これとは違うのがいい」), not more of the same maker's (「この人の他の動画も」)."""
    elsewhere = _EN_SOMETHING_ELSE | _JA_SOMETHING_ELSE
    return any(
        (t.norm in elsewhere or t.lemma in elsewhere)
        and not (t.script == "ja" and _theirs_or_as_well(inside, k))
        for k, t in enumerate(inside)
    )


def _theirs_or_as_well(inside: Sequence[Token], k: int) -> bool:
    """Whether Japanese 他 or 別 at token `k` is someone's other things (after a possessive
    の: 「この人の他の動画」) or others as well (も after it: 「他のも見たい」), no other thing
    in the clip's place."""
    return bool(k and inside[k - 1].text == "の") or any(u.text == "も" for u in inside[k + 1 :])


def points_at_the_screen(clause: Clause, tokens: Sequence[Token], positive: bool) -> bool:
    """Whether a clause that names nothing points at the clip the writer is watching
    ("more like this", 「こういうのは無理」); an ask for more that wants something else
    ("something different from this", 「これとは違うやつ」) does not."""
    inside = tokens_in(clause, tokens)
    if positive and _elsewhere(inside):
        return False
    after = [t.text for t in tokens if t.start >= clause.end][:1]
    if ":" in after or "：" in after or any(t.text in (":", "：") for t in inside[1:]):
        return False  # "i want these in my feed: trains, volcanoes": what follows
    return _points_among(inside)


# What sets the clip on screen against what is wanted: "something other than this",
# "different from these", "anything but this", "not like this", "anything that isn't this",
# "the opposite of whatever this is".
_EN_OTHER_THAN = word_set("than from but")
_EN_OTHER = word_set("different else other opposite instead change")
_EN_NOT = _EN_NEGATED | word_set("not n't isn't aren't ain't")
# Words between "not" (or "than") and the pointer: "not like this", "than whatever this is".
_EN_TO_THE_POINTER = word_set("like whatever the a this that kind sort of")
# Words between a Japanese pointer and the denial after it: 「これとは違う」「こういうのじゃ
# ない」「こればっかじゃなくて」「これ系じゃないやつ」.
_JA_TO_THE_DENIAL = word_set("いう 言う の と は も 系 ばっか ばかり ばっかり") | _JA_KIND_NOUNS


# Something else, named by nothing but that: "something different", 「違うのにして」, 「別の」.
_EN_ANOTHER = word_set("something anything different else")
_JA_ANOTHER = word_set("違う 別 他 ほか")


def names_only_another(span: Sequence[Token]) -> bool:
    """Whether a concept span names nothing but something else ("something different",
    「ちがう」)."""
    words = _words_of(span)
    return bool(words) and all(
        t.norm in _EN_ANOTHER or t.norm in _JA_ANOTHER or t.lemma in _JA_ANOTHER for t in words
    )


def wants_other_than_the_clip(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause asks for something other than the clip on screen ("something
    other than this", "not like this", 「これとは違うのが見たい」, 「これじゃないやつ」,
    "show me something different", 「ちがうのにかえて」)."""
    inside = tokens_in(clause, tokens)
    for k, t in enumerate(inside[:-1]):
        after = [u.norm for u in inside[k + 1 : k + 3]]
        if t.norm in ("something", "anything") and (
            after[:1] in (["different"], ["else"])
            or (after[:1] in (["totally"], ["completely"], ["entirely"]) and "different" in after)
        ):
            return True  # "something (totally) different"
        if (
            (t.norm in _JA_ANOTHER or t.lemma in _JA_ANOTHER)
            and (inside[k + 1].text == "の" or inside[k + 1].text in _JA_KIND_NOUNS)
            and not _theirs_or_as_well(inside, k)
        ):
            return True
    others = any(t.norm in _EN_OTHER for t in inside)
    for k, token in enumerate(inside):
        if not _points_at(inside, k):
            continue
        if token.script == "en":
            j = k - 1
            while j >= 0 and inside[j].norm in _EN_TO_THE_POINTER:
                j -= 1
            if j >= 0 and (
                inside[j].norm in _EN_NOT | _EN_OTHER
                or (others and inside[j].norm in _EN_OTHER_THAN)
            ):
                return True
            continue
        j = k + 1
        while j < len(inside) and (
            inside[j].text in _JA_TO_THE_DENIAL
            or inside[j].norm in _JA_TO_THE_DENIAL
            or inside[j].pos == "ADV"  # 「これとは全然違う」
        ):
            j += 1
        rest = inside[j : j + 2]
        if rest and rest[0].lemma == "違う":
            return True
        if len(rest) == 2 and rest[0].norm == "だ" and rest[1].lemma == "ない":
            return True
    return False


# Words that say the clip on screen is seen once more: "another one of these", "those
# again??", "the fourth one like this in a row", 「またこのパターン」, 「これ見るの5回目」.
_EN_AGAIN = word_set(
    "again another anotha yet row repeat repeating repetitive second third fourth fifth sixth "
    "seventh eighth ninth tenth millionth"
)
_JA_AGAIN = word_set("また 又 またまた 何回 何度 毎回 連続 何本")
_JA_NTH = ("回目", "度目", "本目")  # 「5回目」: the morphology cuts 回 from 目
# Words that ask for it once more all the same: "the same again please", 「また見たい」.
_EN_ASK_AGAIN = word_set("please pls plz more give want wanna")  # never "love that for me"
_JA_ASK_AGAIN = word_set("もっと ください 下さい 欲しい ほしい たい 頼む お願い 希望")


def repeats_the_clip(clause: Clause, tokens: Sequence[Token]) -> str:
    """Whether a clause pointing at the clip on screen says it comes again: "more" where it
    asks for that ("the same again please", 「また見たい」), "less" where it only remarks
    on it, which is a complaint ("oh great, another one of these", 「またこのパターンかよ」);
    "" where it says neither."""
    inside = tokens_in(clause, tokens)
    if not _points_among(inside):
        return ""
    forms = [f for t in inside for f in (t.norm, t.lemma, t.text)]
    joined = "".join(t.text for t in inside)
    again = (
        any(f in _EN_AGAIN or f in _JA_AGAIN for f in forms)
        or any(re.fullmatch(r"\d+(st|nd|rd|th)", t.norm) for t in inside)
        or any(nth in joined for nth in _JA_NTH)
    )
    if not again or _elsewhere(inside):
        return ""
    # 「また流してくれへん？」: a favour asked, whose negator asks nothing the other way.
    favours = {k + 1 for k, t in enumerate(inside) if t.lemma in _JA_FAVOURS}
    if any(_cue(t) == "neg" and k not in favours for k, t in enumerate(inside)):
        return "less"
    asked = favours or any(f in _EN_ASK_AGAIN or f in _JA_ASK_AGAIN for f in forms)
    return "more" if asked else "less"


# A thing named come again, and words that say it was liked: "show me the glassblowing
# again, I liked it".
_EN_AGAIN_ONLY = word_set("again")
_JA_AGAIN_ONLY = word_set("また 又")
_EN_LIKED_IT = word_set("liked loved enjoyed miss missed")


def asks_again(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause asks for what it names to come again ("you should show me the
    glassblowing again, I liked it", 「また猫の動画見たいな」): "again" and a word that asks
    or likes, outside its concepts, and nothing that complains ("why", a negative cue)."""
    words = outside_concepts(clause, tokens)
    forms = {f for t in words for f in (t.norm, t.lemma, t.text)}
    if not forms & (_EN_AGAIN_ONLY | _JA_AGAIN_ONLY) or "why" in forms or "なんで" in forms:
        return False
    if any(_cue(t) == "neg" for t in words):
        return False
    return bool(forms & (_EN_ASK_AGAIN | _EN_LIKED_IT | _JA_ASK_AGAIN))


# What keeps to the clip on screen as the way of a thing asked next: "same vibe as this".
_EN_ALIKE = word_set("like as same similar")


def keeps_to_the_clip(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause that points at the clip on screen keeps to it as the way of what
    comes next ("same vibe as this | but with corgis", 「こういうテイストで、犬が出てくる
    やつ」, 「この路線は続けて、でも…」): a likeness in English, in Japanese a manner
    (ending in で or のまま) or 続ける."""
    inside = [t for t in tokens_in(clause, tokens) if t.pos != "PUNCT"]
    if not inside or not points_at_the_screen(clause, tokens, True):
        return False
    if any(_cue(t) == "neg" for t in inside):
        return False  # 「これ skip で、もっと…」: skipped, not kept to
    if inside[0].script == "en":
        return any(t.norm in _EN_ALIKE for t in inside)
    texts = [t.text for t in inside]
    return texts[-1] == "で" or "まま" in texts or any(t.lemma == "続ける" for t in inside)


# Someone else, after whom a pointer is what they see, not the writer's clip: "just saying
# hi to whoever reads these".
_EN_SOMEONE = word_set("whoever who whom anyone anybody everyone everybody someone somebody")


def _points_among(inside: Sequence[Token]) -> bool:
    """Whether a run of tokens holds a word that points at a clip ("this", 「こういう」)."""
    someone = next((k for k, t in enumerate(inside) if t.norm in _EN_SOMEONE), len(inside))
    return any(_points_at(inside, k) for k in range(someone))


def _points_at(inside: Sequence[Token], k: int) -> bool:
    """Whether token `k` of a run points at a clip, read beside its neighbours."""
    after = inside[k + 1] if k + 1 < len(inside) else None
    return _points(inside[k], inside[k - 1].norm if k else "", after)


def _points(token: Token, before: str, after: Token | None) -> bool:
    """Whether `token`, between the word `before` and the token `after`, points at a clip."""
    next_norm = "" if after is None else after.norm
    if token.script == "en":
        if token.norm in ("these", "theese", "those"):
            # "these days" is a time, "third one of these today" the clip
            return not (next_norm in _EN_NOT_A_CLIP_AFTER and next_norm.endswith("s"))
        if token.norm in _EN_HERE:
            return next_norm not in _EN_NOT_A_CLIP_AFTER
        return token.norm in _EN_THERE and (
            before in _EN_AS_A_THING or next_norm in _EN_THING_AFTER
        )
    if token.lemma in ("同じ", "似る"):
        return after is not None and after.text in ("よう", "感じ", "やつ", "系", "の", "た")
    if token.text in _JA_POINTING_ADVERBS:
        return next_norm == "言う"  # こう + いう
    if token.text in _JA_HERE:
        return next_norm not in _JA_NOT_A_THING_AFTER
    if token.text in ("この", "その", "あの"):
        return after is not None and after.text in _JA_KIND_NOUNS | _JA_WHO_MADE_IT
    return token.text in _JA_POINTING_DETERMINERS


def _not_a_topic(span: Sequence[Token], tokens: Sequence[Token]) -> bool:
    if _the_ones_that_are(span, tokens):
        return False  # 「怖いのはなし」: the scary ones, a kind of thing
    if all(_cue(t) and t.norm not in _POLITE for t in span):
        return True
    after = next((t for t in tokens if t.start >= span[-1].end), None) if span else None
    if len(span) == 1 and len(span[0].text) == 1 and after is not None and after.text == "/":
        return True  # "skip anything w/ fake tans in it": shorthand for "with"
    if all(t.script == "en" and (t.norm in _EN_TIMES or t.norm in _EN_WHEN) for t in span):
        return any(t.norm in _EN_TIMES for t in span)
    words = [t for t in span if t.pos != "PART"]
    if words and all(t.text in _JA_RANK_UP | _JA_RANK_DOWN for t in words):
        # 「もっと後ろの方で」: a place in the feed (`ranks`), not a topic.
        rest = [t.text for t in tokens if t.start >= span[-1].end][:2]
        if rest[:1] == ["の"] and rest[1:] and rest[1] in _JA_SIDE_OF:
            return True
    if after is not None and (after.text in _JA_KIND_SUFFIXES or after.lemma in _JA_KIND_SUFFIXES):
        return False  # 「ほのぼの系」: an adverb that names a kind
    return bool(words) and all(
        t.script == "ja" and (t.adverbial or t.pos in ("ADV", "ADJ") or _while_doing(t))
        for t in words
    )


_JA_AMOUNTS = word_set("多い 少ない")
_JA_BECAUSE = word_set("で だ に")  # ので, のだ, のに after the の


def _the_ones_that_are(span: Sequence[Token], tokens: Sequence[Token]) -> bool:
    """Whether a Japanese span of adjectives is made a noun by the の after it (「怖いの」
    「グロいのは勘弁」: the ones that are so), amounts aside (「多いのは嫌」)."""
    if not span or any(t.script != "ja" or t.pos != "ADJ" or t.lemma in _JA_AMOUNTS for t in span):
        return False
    rest = [t for t in tokens if t.start >= span[-1].end][:2]
    if not rest or rest[0].text != "の" or rest[0].pos2 != "準体助詞":
        return False
    return rest[1:2] == [] or rest[1].text not in _JA_BECAUSE  # 「怖いので」: because


def _while_doing(token: Token) -> bool:
    """A noun of the time something is being done (通勤中, 移動中, 作業中), not 背中."""
    return token.pos == "NOUN" and len(token.text) >= 3 and token.text.endswith("中")


def split_repeated_openers(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut where their opening cue word comes again inside a concept.

    "no cats no dogs" and "more owls more bats" are two asks said the same way twice; a
    tagger that reads the second "no" as part of the concept ("cats no dogs") is undone
    here. The opener is the last cue word before the clause's first concept; the cut needs
    the repeat to be the same word (or the same typo of it) and concept words on both
    sides of it, so a concept that merely holds a cue word ("no country for old men",
    "more or less") stays whole.
    """
    out: list[Clause] = []
    for clause in clauses:
        inside = [t for t in tokens if clause.start <= t.start < clause.end]
        first = min((s for s, _ in clause.concepts), default=clause.end)
        # The opener: the last cue word before the first concept ("please no cats no dogs").
        opener = next((t for t in reversed(inside) if t.end <= first and _cue(t)), None)
        if opener is None or opener.script != "en":
            out.append(clause)
            continue
        word = _cue_word(opener.norm)
        start, concepts = clause.start, list(clause.concepts)
        for i, t in enumerate(inside[1:-1], start=1):
            if t.script != "en" or _cue_word(t.norm) != word:
                continue
            span = next(((s, e) for s, e in concepts if s < t.start and t.end < e), None)
            if span is None:
                continue
            before = [u for u in inside[:i] if span[0] <= u.start]
            after = [u for u in inside[i + 1 :] if u.end <= span[1]]
            if not before or not after:
                continue
            left = [c for c in concepts if c[1] <= span[0]] + [(span[0], before[-1].end)]
            out.append(Clause(start, inside[i - 1].end, tuple(left), clause.repairs))
            start = t.start
            concepts = [(after[0].start, span[1])] + [c for c in concepts if c[0] >= span[1]]
        out.append(Clause(start, clause.end, tuple(concepts), clause.repairs))
    return out


def drop_asides_before_and(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses begun after ", and" or ", but" where what comes before it in the clause
    names nothing but asks (a cue word), and what comes after asks again before the
    thing it names: the part before speaks of the clause before ("the horse grooming is
    lovely, | keep it up, and I'd love fewer of those sad rescue stories" read "keep it
    up" as more of the rescue stories)."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        first = min((s for s, _ in clause.concepts), default=clause.end)
        start = clause.start
        for i, t in enumerate(inside[2:], start=2):
            if t.start >= first:
                break
            if t.script != "en" or t.norm not in ("and", "but") or inside[i - 1].text != ",":
                continue
            before = [u for u in inside[: i - 1] if u.start >= start]
            after = [u for u in inside[i + 1 :] if u.end <= first]
            if any(_cue(u) for u in before) and any(_cue(u) for u in after):
                start = after[0].start  # after holds a cue, so it is not empty
        out.append(replace(clause, start=start) if start != clause.start else clause)
    return out


def split_sentences(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut at a full stop where the sentence before it and the one after it each
    name a thing and hold a cue word ("fewer trucks, tanks, jets. | more trains": cut at
    its last comma, "jets" went with "more trains"), or where the sentence after opens on
    a thing set against it (`_turns_to`); never where the sentence after only explains
    ("not sports, comedy. i need a laugh")."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        begin = 0
        for i in range(1, len(inside) - 1):
            if not _stops(inside[i], inside[i + 1]):
                continue
            before, after = inside[begin:i], inside[i + 1 :]
            if _names_and_asks(before, clause) and (
                _names_and_asks(after, clause) or _turns_to(after, clause)
            ):
                out.append(_part(clause, before))
                begin = i + 1
        out.append(_part(clause, inside[begin:]) if begin else clause)
    return out


def _names_and_asks(words: Sequence[Token], clause: Clause) -> bool:
    named = any(in_concept(t, clause) for t in words)
    return named and any(_cue(t) for t in words if not in_concept(t, clause))


def _turns_to(words: Sequence[Token], clause: Clause) -> bool:
    """Whether a sentence opens on a thing and the turn of a sentence after it ("so over
    the skincare routines. | train cab rides though? i'd binge those"): the thing is set
    against the sentence before, whatever words ask for it."""
    k = next((k for k, t in enumerate(words) if not in_concept(t, clause)), len(words))
    return 0 < k < len(words) and words[k].norm in _EN_SENTENCE_TURNS


def _part(clause: Clause, words: Sequence[Token]) -> Clause:
    """The part of `clause` that `words` (a run of its tokens) cover, with its concepts."""
    start, end = words[0].start, words[-1].end
    spans = tuple((a, b) for a, b in clause.concepts if start <= a < end)
    return Clause(start, end, spans)


def _stops(token: Token, after: Token) -> bool:
    """Whether `token` is a full stop that ends a sentence before `after`: "。", or "." and
    its kin followed by a space (never the dot inside "lo.fi" or "3.5")."""
    if token.text not in _FULL_STOPS:
        return False
    return token.script == "ja" or not token.text.isascii() or token.end < after.start


def split_contrasts(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses with any two opposite asks the tagger left joined split apart.

    A clause is cut at a comma, 、 or semicolon, or where a cue word meets a concept
    ("more sharks | less cats", 「猫もっと|犬は減らして」), when the part before holds a
    concept (or points at the clip on screen: "less of this, | more cats") and a cue of
    one polarity and the part after (up to its concept's end and the next such place)
    holds a concept and a cue of the other. A boost-only tail
    ("X is fire, more") names nothing and never splits.
    """
    out: list[Clause] = []
    for clause in clauses:
        inside = [t for t in tokens if clause.start <= t.start < clause.end]

        def concept_at(t: Token, clause: Clause = clause) -> bool:
            return any(s <= t.start < e for s, e in clause.concepts)

        cuts: list[int] = []  # a cut before inside[i]; punctuation at i-1 is dropped
        bounds: list[int] = []  # cuts that also end the part after a cut
        # Whether the last concept-or-cue token so far was a concept: "cat videos | give
        # me birds" is cut at the cue that comes after the concept and its head noun.
        concept_last = False
        for i in range(1, len(inside)):
            prev, here = inside[i - 1], inside[i]
            if concept_at(prev):
                concept_last = True
            elif _cue(prev):
                concept_last = False
            if concept_at(prev) and concept_at(here):
                continue
            punct = prev.text in _CLAUSE_PUNCT
            cue_after_concept = concept_last and not concept_at(here) and _cue(here) != ""
            cue_before_concept = _cue(prev) != "" and not concept_at(prev) and concept_at(here)
            if punct or cue_after_concept or cue_before_concept:
                cuts.append(i)
            if punct or cue_before_concept or (cue_after_concept and concept_at(prev)):
                bounds.append(i)
        begin = 0
        pieces: list[tuple[int, int]] = []
        for cut in cuts:
            left = inside[begin:cut]
            if left and left[-1].text in _CLAUSE_PUNCT:
                left = left[:-1]
            first = next((j for j in range(cut, len(inside)) if concept_at(inside[j])), None)
            # "less of this, | more cats": what the part before points at is its concept.
            if first is None or not (any(concept_at(t) for t in left) or _points_among(left)):
                continue
            stop = first
            while stop < len(inside) and concept_at(inside[stop]):
                stop += 1
            until = next((c for c in bounds if c > stop), len(inside))
            right = [t for t in inside[cut:until] if not concept_at(t)]
            left_plain = [t for t in left if not concept_at(t)]
            # "no more clowns, mimes are ok": what is accepted is no part of the refusal.
            sides = _polarity(left_plain), "=" if _accepting(right) else _polarity(right)
            if "" not in sides and sides[0] != sides[1]:
                pieces.append((begin, len(left) + begin))
                begin = cut
        pieces.append((begin, len(inside)))
        if len(pieces) == 1:
            out.append(clause)
            continue
        out.extend(_part(clause, inside[a:b]) for a, b in pieces)
    return out


def split_signed_items(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut before a sign of more or less that opens an item: after a comma
    ("+ sushi, - burgers") or, typed against the item, after a space ("+sushi -burgers",
    where the tagger reads one concept "sushi -burgers"). Each signed item is read on its
    own; the sign itself is outside its concept (`drop_cue_concepts`)."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        cuts = [i for i in range(1, len(inside) - 1) if _opens_signed_item(inside, i, clause)]
        if not cuts:
            out.append(clause)
            continue
        bounds = [0, *cuts, len(inside)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            piece = inside[a:b]
            while len(piece) > 1 and piece[-1].text in _CLAUSE_PUNCT:
                piece = piece[:-1]
            start, end = piece[0].start, piece[-1].end
            words = next((t.start for t in piece if has_words(t.text)), end)
            spans = tuple(
                (max(s, words), min(e, end))
                for s, e in clause.concepts
                if s < end and e > words and _words_between(inside, max(s, words), min(e, end))
            )
            item = piece[1:]
            if not spans and piece[0].text in _SIGN_CUES and item and _all_alpha(item):
                spans = ((item[0].start, item[-1].end),)  # "-geese", left unmarked
            out.append(Clause(start, end, spans))
    return out


def _all_alpha(words: Sequence[Token]) -> bool:
    return all(t.text.isalpha() for t in words)


def _opens_signed_item(inside: Sequence[Token], i: int, clause: Clause) -> bool:
    """Whether inside[i] is a sign of more or less that opens the item after it (see
    `split_signed_items`)."""
    sign, before, after = inside[i], inside[i - 1], inside[i + 1]
    # "+capybaras -geese": after a signed first item, the next item is signed too, even
    # where the tagger left it unmarked.
    item = in_concept(after, clause) or inside[0].text in _SIGN_CUES
    if sign.text not in _SIGN_CUES or not item or not after.text.isalpha():
        return False
    if before.text in _CLAUSE_PUNCT:
        return True
    # "sushi -burgers": a space before the sign, none after; never "rock-climbing".
    return in_concept(before, clause) and before.end < sign.start and sign.end == after.start


def _words_between(inside: Sequence[Token], start: int, end: int) -> bool:
    """Whether a word (not a sign or punctuation) lies in [start, end)."""
    return any(start <= t.start and t.end <= end and has_words(t.text) for t in inside)


# What a request picks from: "of the cat stuff | just the kittens", "from the travel
# videos | only night trains", 「猫の中でも|子猫だけ」.
_EN_FROM_AMONG = word_set("of from among amongst within")
_EN_SCOPE_OPENERS = word_set("and but so ok okay")
_EN_SCOPE_DETERMINERS = word_set("the all those these your my this that")
_JA_AMONG = (("の", "中", "で"), ("の", "中", "でも"), ("の", "中", "から"), ("の", "うち", "で"),
             ("の", "うち"), ("の", "中"), ("の", "合間", "に"), ("の", "間", "に"))  # fmt: skip


def split_scopes(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut after the things a request picks from: what opens with "of", "from" or
    "among" before another item of the clause ("of the cat stuff just the kitten ones
    please", "among the history videos, mostly the ancient egypt ones"), or what
    「の中で(も)」 or 「の合間に」 follows (「猫の中でも子猫だけ」「VTuberの合間に陶芸も」).
    The things picked from, or between, are set aside, as a choice's options are: they
    ask nothing, and what is picked reads on its own."""
    return _cut_where(clauses, tokens, _scope_end, "after")


def _scope_end(clause: Clause, inside: Sequence[Token]) -> int | None:
    """Where in `inside` the things picked from end (see `split_scopes`), if the clause
    opens on them and names something after them."""
    if len(clause.concepts) < 2:
        return None
    first = min(clause.concepts)
    if all(t.script == "en" for t in inside):
        i = 0
        while i < len(inside) and inside[i].norm in _EN_SCOPE_OPENERS:
            i += 1
        if i >= len(inside) or inside[i].norm not in _EN_FROM_AMONG:
            return None
        i += 1
        while i < len(inside) and inside[i].norm in _EN_SCOPE_DETERMINERS:
            i += 1
        if i >= len(inside) or inside[i].start != first[0]:
            return None
        while i < len(inside) and in_concept(inside[i], clause):
            i += 1
        while i < len(inside) and inside[i].norm in _HEADS:
            i += 1
        return i if i < len(inside) else None
    k = next((i for i, t in enumerate(inside) if t.start >= first[1]), None)
    if k is None or inside[k - 1].end != first[1]:
        return None
    for words in _JA_AMONG:
        j = k + len(words)
        if [t.text for t in inside[k:j]] == list(words) and any(
            c[0] >= inside[j - 1].end for c in clause.concepts
        ):
            return j
    return None


# "cats but not the sad ones", "horror, just no gore": after items named with no ask of
# their own, a turn and a negator narrow what was named; they do not refuse it.
_EN_NARROWING_TURNS = word_set("but just though yet")
_EN_NARROWING_NOTS = word_set("not no never without minus")
_EN_NARROWING_GAP = word_set("but though yet just please pls the any those these ones one of , ;")


# What turns from the clip on screen to a thing named: "same vibe as this | but with corgis",
# "more of these | minus the loud music".
_EN_FROM_THE_CLIP = word_set("but minus without except w/o")


def split_from_the_clip(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """An English clause that points at the clip on screen before its first concept and
    turns to that concept with "but", "minus", "without" or "except" ("same vibe as this
    but with corgis pls"), cut before the turn: the clip is asked about on its own."""
    return _cut_where(clauses, tokens, _turn_from_the_clip)


def _turn_from_the_clip(clause: Clause, inside: Sequence[Token]) -> int | None:
    if not clause.concepts:
        return None
    head = [t for t in inside if t.end <= clause.concepts[0][0]]
    if not head or head[0].script != "en":
        return None
    turns = [k for k, t in enumerate(head) if t.norm in _EN_FROM_THE_CLIP]
    if not turns or turns[0] == 0 or not _points_among(head[: turns[0]]):
        return None
    return turns[0]


def split_narrowings(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut before a turn that narrows the bare items before it.

    "cats but not the sad ones" is tagged as one clause naming cats and sad; read whole, its
    negator takes both. Where the words before the turn (since the last turn or comma) ask
    nothing (no cue, no negator: the items alone, which read as more), the clause is cut at
    "but", "just", "though", "yet" or a comma followed by "not", "no", "never", "without"
    or "minus" before the next item ("cats, not dogs"), so the items read on their own and
    the negator reads only what follows it. English only.
    """
    return _cut_where(clauses, tokens, _narrowing_turn)


def _cut_where(
    clauses: Sequence[Clause],
    tokens: Sequence[Token],
    find: Callable[[Clause, Sequence[Token]], int | None],
    aside: Literal["", "before", "after"] = "",
    aside_then: Literal["", "before", "after"] = "",
) -> list[Clause]:
    """Each clause cut in two before the token `find` points to (punctuation at the cut
    dropped), the first part set `aside`, the second `aside_then` (see `Clause.set_aside`);
    a clause with no such token stays."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        cut = find(clause, inside)
        if cut is None:
            out.append(clause)
            continue
        left, right = list(inside[:cut]), list(inside[cut:])
        while left and left[-1].text in _CLAUSE_PUNCT:
            left.pop()
        while right and right[0].text in _CLAUSE_PUNCT:
            right.pop(0)
        split, rest = left[-1].end, right[0].start
        first = tuple(c for c in clause.concepts if c[1] <= split)
        out.append(Clause(clause.start, split, first, set_aside=aside))
        then = tuple(c for c in clause.concepts if c[0] >= rest)
        out.append(Clause(rest, clause.end, then, set_aside=aside_then))
    return out


# "no sports except tennis", "less of the tech news except the phone teardowns": what an
# exception names is no part of the ask before it, and no ask of its own.
_EN_EXCEPT = (("except", "for"), ("except",), ("apart", "from"), ("other", "than"), ("save", "for"))


def split_exceptions(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut before "except", "apart from" or "other than" between two items where the
    words before ask for something; the exception is set aside (it asks nothing). "anything
    except cooking" names one item and stays whole."""
    return _cut_where(clauses, tokens, _exception_at, aside_then="before")


def _exception_at(clause: Clause, inside: Sequence[Token]) -> int | None:
    """Where in `inside` the exception of `split_exceptions` starts, if one does."""
    if len(clause.concepts) < 2 or any(t.script != "en" for t in inside):
        return None
    for i, t in enumerate(inside):
        if in_concept(t, clause) or not _english_at(inside, i, _EN_EXCEPT):
            continue
        before = inside[:i]
        named = any(in_concept(w, clause) for w in before)
        asked = any(_cue(w) for w in before if not in_concept(w, clause))
        after = any(in_concept(w, clause) for w in inside[i:])
        return i if named and asked and after else None
    return None


def _narrowing_turn(clause: Clause, inside: Sequence[Token]) -> int | None:
    """Where in `inside` a narrowing turn of `split_narrowings` stands, if one does."""
    if len(clause.concepts) < 2 or any(t.script != "en" for t in inside):
        return None
    opens = 0  # where the words before a turn start: after the last turn or comma
    for i, t in enumerate(inside):
        turn = t.norm in _EN_NARROWING_TURNS or t.text in _CLAUSE_PUNCT
        if not turn or in_concept(t, clause):
            continue
        before = inside[opens:i]
        if not any(has_words(w.text) for w in before):
            continue  # "cats, but not…": the comma and the word are one turn
        opens = i + 1
        if not any(in_concept(w, clause) for w in before):
            continue
        if any(_cue(w) or w.norm in _EN_NEGATORS for w in before if not in_concept(w, clause)):
            continue
        rest = inside[i + 1 :]
        nxt = next((j for j, w in enumerate(rest) if in_concept(w, clause)), None)
        if nxt is None:
            return None
        gap = rest[:nxt]
        nots = [w for w in gap if w.norm in _EN_NARROWING_NOTS]
        if nots and all(w.norm in _EN_NARROWING_NOTS or w.norm in _EN_NARROWING_GAP for w in gap):
            return i
    return None


# Verbs that put one thing in another's place: 「AをBに変えて」「AからBに切り替えて」.
_JA_REPLACING = word_set(
    "変える 替える 換える 代える 入れ替える 入れ換える 差し替える 切り替える 切り換える "
    "置き換える 取り替える 取り換える チェンジ"
    " 入れ替え 差し替え 切り替え 置き換え 取り替え"  # the nouns: 「ゲーム実況と入れ替えで」
)
_JA_REPLACED = word_set("を は から")  # what marks the thing replaced (A)
_JA_REPLACEMENT = word_set("に と")  # what marks the thing put in its place (B)
_ITEM_POS = frozenset({"NOUN", "PROPN", "SUFF", "EN"})  # "EN": a latin word (「ASMRに」)


def _first_item(clause: Clause, inside: Sequence[Token], k: int) -> tuple[tuple[int, int], ...]:
    """The concepts of `clause` that end before its token `k` (the particle after a
    thing replaced or compared away), or the noun phrase before `k` where the tagger
    marked none (see `_item_span`); () when there is neither."""
    marked = tuple(c for c in clause.concepts if c[1] <= inside[k].start)
    if marked:
        return marked
    span = _item_span(inside[:k])
    return (span,) if span else ()


def _item_span(items: Sequence[Token]) -> tuple[int, int] | None:
    """The span of a noun phrase in Japanese without its trailing head nouns and の
    (「犬の動画」 → 犬), or None where it holds anything but nouns and の, or only nouns
    of time (「夜はASMRに変えて」 changes what the night brings)."""
    items = list(items)
    while items and (items[-1].norm in _HEADS or items[-1].text == "の"):
        items.pop()
    if not items or all(t.adverbial for t in items):
        return None
    if any(_cue(t) or not (t.pos in _ITEM_POS or t.text == "の") for t in items):
        return None
    return items[0].start, items[-1].end


def split_replacements(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese request for one thing in another's place (「メイク動画を盆栽に入れ替え
    て」「ホラーからコメディに切り替えて」), in one clause or two: cut after the first
    thing's particle, with each thing a concept of its own even where the tagger left
    the second unmarked or joined it to the first; or with 「と」 and the other thing in the
    next clause (「ゲーム実況と入れ替えで、ジブリっぽいの」). The first half is marked `replaced`
    (read as less: it holds no word of its own that says so); the second is read as the
    pair templates taught the readers (「{b}に変えて」 more). Read whole, the one concept
    tagged took the clause's ask for more."""
    out: list[Clause] = []
    for n, clause in enumerate(clauses):
        inside = tokens_in(clause, tokens)
        found = _replacement(inside)
        if found is None:
            out.append(clause)
            continue
        j, second = found
        mark = next(t for t in inside if t.start >= second[1])
        if (
            j < 0
            and mark.text == "と"
            and n + 1 < len(clauses)
            and clauses[n + 1].concepts
            and not (out and tokens_in(out[-1], tokens)[-1].text in _JA_REPLACED)
        ):
            # 「ゲーム実況と入れ替えで、ジブリっぽいのお願いします」: swapped with what the
            # next clause names, the thing before と is the one replaced.
            out.append(replace(clause, concepts=clause.concepts or (second,), replaced=True))
            continue
        if j >= 0:  # the first thing's particle is in this clause
            first = _first_item(clause, inside, j)
            if first:
                out.append(Clause(clause.start, inside[j].end, first, clause.repairs, True))
                out.append(Clause(inside[j + 1].start, clause.end, (second,)))
                continue
            if not clause.concepts:
                # 「夜はASMRに変えて」: what the night brings changes; the second thing
                # is what is asked about.
                out.append(replace(clause, concepts=(second,)))
                continue
        elif out and (last := tokens_in(out[-1], tokens)) and last[-1].text in _JA_REPLACED:
            # The tagger cut there itself (「スポーツを|アニメに切り替えて」).
            first = out[-1].concepts
            if not first and (span := _item_span(last[:-1])):
                first = (span,)
            if first and last[-1].pos == "PART":
                out[-1] = replace(out[-1], concepts=first, replaced=True)
                out.append(replace(clause, concepts=(second,)))
                continue
        out.append(clause)
    return out


_JA_PLACE = word_set("代わり 替わり 換わり 変わり かわり")  # 「AのかわりにB」


def _declined_before(inside: Sequence[Token]) -> tuple[int, int] | None:
    """Where a Japanese clause declines one thing to ask for another (「お化け屋敷はいい
    から水族館にして」「ホラーはもういいから、…」「猫はいいので犬を」): the index of the
    は and of the first token after から (or ので)."""
    for i, t in enumerate(inside):
        if t.pos != "ADJ" or t.lemma not in _JA_FINE or t.script != "ja":
            continue
        j = i - 1
        if j > 0 and inside[j].text == "もう":
            j -= 1
        if j < 1 or inside[j].text != "は" or inside[j].pos != "PART":
            return None
        after = [u.text for u in inside[i + 1 : i + 3]]
        if after[:1] == ["から"]:
            return j, i + 2
        if after == ["の", "で"]:
            return j, i + 3
        return None
    return None


def declines(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause declines what comes before its は (「これはもういいから」,
    「こういうのはいいから」)."""
    return _declined_before(tokens_in(clause, tokens)) is not None


def split_in_place_of(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese request for one thing in another's place with 「の代わりに」 (「怪獣映画
    の代わりに恐竜の化石発掘が見たい」) cut after 「に」, or after 「はいいから」 (「お化け屋敷
    はいいから水族館にして」), the first thing marked `replaced` (read as less) with a
    concept of its own where the tagger left it unmarked."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        k = next(
            (i for i in range(2, len(inside) - 2)
             if {inside[i].norm, inside[i].text} & _JA_PLACE and inside[i - 1].text == "の"
             and inside[i + 1].text == "に"),
            None,
        )  # fmt: skip
        first = _first_item(clause, inside, k - 1) if k is not None else ()
        if k is not None and first:
            rest = tuple(c for c in clause.concepts if c[0] >= inside[k + 2].start)
            out.append(Clause(clause.start, inside[k + 1].end, first, clause.repairs, True))
            out.append(Clause(inside[k + 2].start, clause.end, rest))
            continue
        declined = _declined_before(inside)
        if declined is None:
            out.append(clause)
            continue
        wa, cut = declined
        first = _first_item(clause, inside, wa)
        # 「これはもういいから、犬の動画にして」: the clip on screen declined, no item named
        on_screen = not first and _points_among(inside[:wa])
        words = [t for t in inside[cut:] if t.pos != "PUNCT"]
        rest = tuple(c for c in clause.concepts if c[0] >= inside[cut - 1].end)
        rest = rest or _noun_run(words)
        if cut >= len(inside) or not (first or on_screen) or not rest:
            out.append(clause)
            continue
        out.append(Clause(clause.start, inside[cut - 1].end, first, clause.repairs, True))
        out.append(Clause(inside[cut].start, clause.end, rest))
    return out


def mark_out_with_in_with(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """ "out with the roblox, in with stardew": the first thing marked `replaced` (read as
    less), and the second, where the tagger marked nothing, every word after "in with"
    but its articles. Read as the networks read it, the untagged second half asked for
    more of the first thing."""
    out = list(clauses)
    for i in range(1, len(out)):
        before, clause = tokens_in(out[i - 1], tokens), tokens_in(out[i], tokens)
        if [t.norm for t in before[:2]] != ["out", "with"] or not out[i - 1].concepts:
            continue
        if [t.norm for t in clause[:2]] != ["in", "with"]:
            continue
        out[i - 1] = replace(out[i - 1], replaced=True)
        rest = [t for t in clause[2:] if has_words(t.text)]
        while rest and _EN_FUNCTION.get(rest[0].norm) == "det":
            rest = rest[1:]
        if not out[i].concepts and rest:
            out[i] = replace(out[i], concepts=((rest[0].start, rest[-1].end),))
    return out


# What asks for anything at all before "unless": "show me whatever unless it's gambling".
_EN_ANY_AT_ALL = word_set("whatever anything everything any all")


def unless_reading(clause: Clause, tokens: Sequence[Token]) -> str:
    """How a clause that makes its concept a condition asks for it: "exclude" where anything
    else is welcome ("show me whatever unless it's gambling stuff"), "only" where nothing
    else is ("unless it's espresso I'm not interested", 「雪景色じゃないなら、別に見なくて
    いいや」); "" where it makes no such condition. Read whole, the networks took the
    condition for an ask for the thing itself."""
    inside = tokens_in(clause, tokens)
    concept = [k for k, t in enumerate(inside) if in_concept(t, clause)]
    if not concept:
        return ""
    first, last = concept[0], concept[-1]
    if inside[0].script == "en":
        u = next((k for k, t in enumerate(inside[:first]) if t.norm == "unless"), None)
        if u is None:
            # "if it's not space related don't bother showing me": the thing denied as the
            # condition, a refusal after it.
            k = next((k for k, t in enumerate(inside[:first]) if t.norm == "if"), None)
            denied = k is not None and any(t.norm in _EN_NOT for t in inside[k + 1 : first])
            later = [t for t in inside[last + 1 :] if not in_concept(t, clause)]
            refused = any(_says_less(t) for t in later)
            return "only" if denied and refused else ""
        # a refusal anywhere outside the concept, in either language (mixed messages)
        outside = [t for t in inside if not in_concept(t, clause)]
        if any(_says_less(t) or _ja_negator(t) for t in outside):
            return "only"
        return "exclude" if any(t.norm in _EN_ANY_AT_ALL for t in inside[:u]) else ""
    # 「Xじゃないなら」「X出てこないなら」「Xでないと」: the thing, denied, as the condition,
    # and a refusal after it; 「X以外は今いらんわ」: all but it refused.
    after = inside[last + 1 : last + 7]
    for i in range(1, len(after) + 1):
        if "".join(t.text for t in after[:i]).endswith(_JA_DENIED_IF):
            rest = inside[last + 1 + i :]
            return "only" if any(_ja_negator(t) or _cue(t) == "neg" for t in rest) else ""
    joined = "".join(t.text for t in after)
    if after and after[0].text == "以外" or joined.startswith(("のやつ以外", "の以外")):
        rest = inside[last + 2 :]
        return "only" if any(_cue(t) == "neg" for t in rest) else ""
    return ""


# What makes a Japanese thing a condition denied: 「Xじゃないなら」「X出てこないなら」.
_JA_DENIED_IF = ("じゃないなら", "でないなら", "じゃないと", "でないと", "ないなら", "ないんなら")


def asks_if_nothing_but(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a Japanese clause asks whether there is nothing but its thing, a complaint
    of too much of it: 「ここって料理以外なんもないの？」「ペット以外に見るもんないんか？」
    (「ない」 of absence, then only a question's ending). 「猫以外いらない」 refuses all but
    cats (「ない」 negates a verb there), and is `unless_reading`'s."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text) or t.text == "?"]
    concept = [k for k, t in enumerate(inside) if in_concept(t, clause)]
    if not concept or inside[0].script != "ja":
        return False
    after = inside[concept[-1] + 1 :]
    if not after or after[0].text != "以外":
        return False
    none = next((k for k, t in enumerate(after) if t.lemma in ("ない", "無い")), None)
    if none is None or after[none].pos != "ADJ":
        return False
    tail = after[none + 1 :]
    return bool(tail) and all(t.text in _JA_ASKING_TAIL for t in tail)


_JA_ASKING_TAIL = word_set("の ん か かな かね よ ?")


# A condition on what a clip shows, and a word that passes the clip by: "whenever needles
# come up, bail", 「ピエロが出た瞬間、次お願いします」.
_EN_IF_IT_SHOWS = word_set("if when whenever wherever once anytime soon moment second minute")
_EN_SKIPS = word_set("skip skipped skipping autoskip next swipe bail pass")
_EN_SKIP_PAIRS = frozenset({("move", "on"), ("scroll", "past"), ("scroll", "by"), ("hop", "to")})
_EN_UNSHOWN = word_set("load show play autoplay")  # after a negator: "don't even load it"
_JA_WHEN = word_set("たら だら ば 瞬間 とき 時")
_JA_SKIPS = word_set("スキップ 飛ばす 飛ばし")
# Nouns that hold a thing without naming another (「事故の映像が出たら」 is about accidents).
_JA_HOLDERS = word_set("動画 映像 シーン 場面 やつ の")


def skipped_when(
    clause: Clause, tokens: Sequence[Token], then: Clause | None = None
) -> tuple[int, int] | None:
    """The span of the thing a clause makes the condition for passing a clip by, or None:
    "whenever needles come up, bail", "got a surgery close-up? auto-skip", 「咀嚼音が
    聞こえたら即飛ばしで頼む」, 「ピエロが出た瞬間、次お願いします」. A condition before the
    thing in English (or a question: "got X?"), a verb and its condition after it in
    Japanese, and a word of skipping after that, in the clause or in `then` (the clause
    after it, when that one names nothing). Nothing may negate the condition or the skip
    ("if it's not cats, skip" keeps cats). In Japanese the thing is the nouns before the
    verb's が, wherever the tagger's span ended (it took in 「咀嚼音が聞こえたら即飛ばし」
    whole) or where it marked nothing (「事故の映像が出たらスキップ」). The networks read
    the condition as an ask for the thing, or the skip apart from it."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text) or t.text == "?"]
    later = [] if then is None else [t for t in tokens_in(then, tokens) if has_words(t.text)]
    if inside and inside[0].script == "ja":
        return _skipped_in_japanese(clause, inside, later)
    concept = [k for k, t in enumerate(inside) if in_concept(t, clause)]
    if not concept:
        return None
    first, last = concept[0], concept[-1]
    before, after = inside[:first], [*inside[last + 1 :], *later]
    lead = [t.norm for t in before]
    # "got a surgery close-up? auto-skip": the condition asked as a question
    asked = lead in (["got"], ["got", "a"], ["got", "any"], ["any"]) and after[:1] != []
    asked = asked and after[0].text == "?"
    when = any(w in _EN_IF_IT_SHOWS for w in lead) or any(
        pair in (("any", "time"), ("every", "time")) for pair in itertools.pairwise(lead)
    )
    if not (when or asked) or any(_negates_in_english(t) for t in before):
        return None
    words = [t.norm for t in after]
    for k, w in enumerate(words):
        negated = any(_negates_in_english(t) for t in after[max(0, k - 2) : k])
        if w in _EN_SKIPS or tuple(words[k : k + 2]) in _EN_SKIP_PAIRS:
            if negated:
                return None  # "if there are otters don't skip them"
            break
        if w in _EN_UNSHOWN and negated:
            break  # "if it's got a 'storytime' caption, don't even load it"
    else:
        return None
    if any(s >= after[k].end for s, _ in clause.concepts):
        return None  # a thing named after the skip is asked for in its own words
    return next((s, e) for s, e in clause.concepts if s <= inside[first].start < e)


def _skipped_in_japanese(
    clause: Clause, inside: Sequence[Token], later: Sequence[Token]
) -> tuple[int, int] | None:
    """`skipped_when` in Japanese: 「Xが(…)Vたら … スキップ」「Xだったら次」."""
    when = next(
        (
            k
            for k, t in enumerate(inside)
            if k and t.text in _JA_WHEN and inside[k - 1].pos in ("VERB", "AUX")
        ),
        None,
    )
    if when is None:
        return None
    rest = [*inside[when + 1 :], *later]
    skip = next(
        (
            k
            for k, t in enumerate(rest)
            if t.lemma in _JA_SKIPS
            or t.text in _JA_SKIPS
            or (t.text == "次" and (k + 1 == len(rest) or rest[k + 1].text != "の"))
        ),
        None,
    )
    if skip is None or any(_ja_negator(t) for t in (*inside[:when], *rest[skip + 1 :])):
        return None
    if any(s >= rest[skip].end for s, _ in clause.concepts):
        return None  # 「虫が出たらスキップで猫はもっと」: the cat is asked for in its own words
    # The verb's subject: the nouns before its が (or も, は), or right before the verb
    # (「虫出たら」「ホラーだったら」), past what only holds them (「事故の映像が」).
    verb = when
    while verb and inside[verb - 1].pos in ("VERB", "AUX"):
        verb -= 1
    end = verb - 1 if verb and inside[verb - 1].text in ("が", "も", "は", "って") else verb
    while True:
        k = end
        while k and inside[k - 1].pos in ("NOUN", "PREF", "SUFF"):
            k -= 1
        run = inside[k:end]
        if not run:
            return None
        if all(t.text in _JA_HOLDERS for t in run) and k >= 2 and inside[k - 1].text == "の":
            end = k - 1
            continue
        return run[0].start, run[-1].end


# English verbs that put one thing in another's place: "swap the pranks | for pottery".
_EN_REPLACING = word_set(
    "replace replaced replacing swap swapped swapping switch switched trade traded exchange "
    "exchanged substitute substituted sub subbed"
)
_EN_PUT_IN = word_set("for with by")


def opens_instead_of(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether an English clause opens on "instead of": it names what another thing is
    to take the place of ("give me capybaras | instead of the 400th golden retriever")."""
    inside = tokens_in(clause, tokens)
    return [t.norm for t in inside[:2]] == ["instead", "of"]


def puts_in_place(clause: Clause, before: Clause, tokens: Sequence[Token]) -> bool:
    """Whether an English clause names what is put in the place of the thing the clause
    before it replaces ("trade the celebrity interviews | for some street interviews",
    "can the prank channels be replaced | by lego builds"): it opens on "for", "with" or
    "by" (after "out": "switch X | out for Y") and the clause before holds a verb of
    replacing that nothing negates; or on "in with" after "out with" ("out with the
    roblox, | in with stardew")."""
    inside = tokens_in(clause, tokens)
    if before.replaced and [t.norm for t in inside[:2]] == ["in", "with"]:
        return bool(clause.concepts)  # "out with the roblox, | in with stardew"
    if inside and inside[0].norm == "out":
        inside = inside[1:]  # "switch the football highlights | out for F1"
    if not inside or inside[0].norm not in _EN_PUT_IN or not clause.concepts:
        return False
    words = [t for t in tokens_in(before, tokens) if not in_concept(t, before)]
    verbs = [k for k, t in enumerate(words) if t.norm in _EN_REPLACING]
    return bool(verbs) and not any(t.norm in _EN_NEGATORS for t in words[: verbs[0]])


_EN_INSTEAD = word_set("instead")
_JA_INSTEAD = _JA_PLACE | word_set("代り")
_JA_INSTEAD_WITH = word_set("その に は")  # 「その代わりに」「代わりは」


def offered_instead(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause offers what it names in the place of something, and asks nothing
    against it: "instead" with its things ("fewer pranks, | science experiments instead",
    "less gaming, | instead science experiments"), or 「代わりに」 or 「その代わり」 before
    them, in it or just before it (「ゲームばかりなので減らして、代わりに科学の実験を」).
    Never 「Xの代わりに」, which names the thing replaced (`split_replacements`)."""
    inside = tokens_in(clause, tokens)
    if not clause.concepts:
        return False
    first = min(start for start, _ in clause.concepts)
    # The words since the last clause mark, where 「代わりに」 may stand as a clause alone.
    opener = [t for t in tokens if t.end <= clause.start]
    while opener and opener[-1].text in _CLAUSE_PUNCT:
        opener.pop()
    cut = max(
        (k + 1 for k, t in enumerate(opener) if t.text in _CLAUSE_PUNCT | _FULL_STOPS), default=0
    )
    alone = all({t.text, t.lemma} & (_JA_INSTEAD | _JA_INSTEAD_WITH) for t in opener[cut:])
    words = [
        t for t in (*(opener[cut:] if alone else ()), *inside)
        if has_words(t.text) and not in_concept(t, clause)
    ]  # fmt: skip
    marks = [
        t for t in words
        if (t.script == "en" and t.norm in _EN_INSTEAD and not _next_is(tokens, t, "of"))
        or (t.script == "ja" and {t.text, t.lemma} & _JA_INSTEAD and t.start < first)
    ]  # fmt: skip
    if not marks or any(t.text == "の" and t.end == marks[0].start for t in tokens):
        return False
    return not any(_cue(t) in ("neg", "only", "reset") for t in words if t not in marks)


# Verbs after which a negator asks a favour (「変えてくれない？」), not the opposite.
_JA_FAVOURS = word_set("くれる 呉れる もらえる 貰える")


def _negated_verb(inside: Sequence[Token], k: int) -> bool:
    """Whether the Japanese verb at `k` is negated before the clause's next punctuation
    (「変えないで」「変えたくない」「変えてほしくない」), a favour asked aside."""
    for i in range(k + 1, len(inside)):
        t = inside[i]
        if t.pos == "PUNCT":
            return False
        if t.norm in _JA_NEGATORS and not {inside[i - 1].lemma, inside[i - 1].norm} & _JA_FAVOURS:
            return True
    return False


def _replacement(inside: Sequence[Token]) -> tuple[int, tuple[int, int]] | None:
    """Where a clause puts a thing in another's place: the index of the first thing's
    particle (-1 when the clause opens on the second thing) and the second thing's span."""
    for k, t in enumerate(inside):
        if t.script != "ja" or not {t.lemma, t.norm} & _JA_REPLACING or k < 2:
            continue
        mark = inside[k - 1]
        # に after a kind's suffix is the copula's (「水彩風に」): AUX to Sudachi.
        if mark.pos not in ("PART", "AUX") or mark.text not in _JA_REPLACEMENT:
            continue
        if _negated_verb(inside, k):
            continue
        j = k - 2  # back over the second thing to the first thing's particle
        while j >= 0 and not (inside[j].pos == "PART" and inside[j].text in _JA_REPLACED):
            j -= 1
        second = _item_span(inside[j + 1 : k - 1])
        if second is not None:
            return j, second
    return None


_JA_BUT = word_set("けど けれど けれども けども が のに")
_JA_TOPIC_MARKS = word_set("は なら って も を が")
# 駄目 says no to its topic without being a cue word the readers learned from.
_JA_NO_GOOD = word_set("駄目")


def mark_contrasted_topics(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese noun the tagger left unmarked as the topic of the second half of a
    contrast (「虫はダメだけど、|蝶ならむしろもっと」, 「もっと猫、|ホラーはいらない」): a
    concept, when the half before
    holds a concept and the two halves carry cues of opposite polarity, so that
    `split_contrasts` reads each half on its own."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        added: list[tuple[int, int]] = []
        for i, t in enumerate(inside):
            # 「もっと猫、|ホラーはいらない」: a comma between halves of opposite cues, too.
            but = t.script == "ja" and t.pos == "PART" and t.text in _JA_BUT
            if not ((but or t.text == "、") and i):
                continue
            j = i + 1
            while j < len(inside) and inside[j].text in _CLAUSE_PUNCT:
                j += 1
            k = j
            while k < len(inside) and _bare_item([inside[k]]) and inside[k].script == "ja":
                k += 1
            if not j < k < len(inside) or inside[k].text not in _JA_TOPIC_MARKS:
                continue
            if any(in_concept(w, clause) for w in inside[j:k]):
                continue
            left = inside[:i]
            if not any(in_concept(w, clause) for w in left):
                continue
            end = next((m for m in range(k, len(inside)) if inside[m].text in _JA_BUT), None)
            right = inside[k : len(inside) if end is None else end]
            before = [w for w in left if not in_concept(w, clause)]
            sides = (
                "-" if any(w.norm in _JA_NO_GOOD for w in before) else _polarity(before),
                _polarity(right),
            )
            topic = (inside[j].start, inside[k - 1].end)
            if "" not in sides and sides[0] != sides[1] and topic not in added:
                added.append(topic)  # once, where 「だけど、」 holds both marks
        concepts = tuple(sorted((*clause.concepts, *added)))
        out.append(replace(clause, concepts=concepts) if added else clause)
    return out


# What may stand between two items of one list: "cats and dogs", "cats, dogs", 「猫と犬」,
# 「猫も犬も」, "no cats no dogs" (cue words are `split_contrasts`'s to judge).
_LIST_JOINERS = word_set(
    "and or nor & n plus + , 、 / . 。 ・ the a an some any その あと と や も とか か"
)
# Head nouns that close an item without naming another ("the windmill clips, and the
# tulip fields", 「猫動画と犬動画」): a list still.
_HEADS = word_set("stuff things videos video vids vid clips clip ones footage content 動画 映像")
# Where a list's gap holds a clause break, the cut is there: before it in English ("cats
# are fine | but no dogs"), after it in Japanese (「猫はいいけど、|犬は」).
_GAP_BREAKS = word_set("but so though although , 、 ; ； けど けれど けども だけど が")
# A Japanese topic and what is said within it: 「アニメはジブリだけ」「動物の中でも猫」 ask
# about the second item inside the first, which is no item of its own to read apart.
_TOPIC_GAPS = frozenset({"は", "では", "なら", "って", "の中で", "の中でも", "の中だと"})


_SLASHES = frozenset("/／・")


def split_slashed_items(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Items written with slashes or 「・」 between them ("no opera/ballet", 「猫・犬なし」)
    where the tagger marked some of them and missed others: each item its own concept, as
    in a list. A run the tagger marked whole stays one concept (「ジョン・レノン」)."""
    out = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        concepts = list(clause.concepts)
        k = 0
        while k < len(inside):
            # A run of items glued by slashes: item (sep item)+, with no space anywhere.
            j = k
            while (
                j + 2 < len(inside)
                and inside[j + 1].text in _SLASHES
                and inside[j].end == inside[j + 1].start
                and inside[j + 1].end == inside[j + 2].start
                and inside[j + 2].text not in _SLASHES
            ):
                j += 2
            items = [inside[i] for i in range(k, j + 1, 2)]
            tagged = [c for c in concepts if any(c[0] < t.end and t.start < c[1] for t in items)]
            missed = [
                t for t in items if not any(c[0] <= t.start and t.end <= c[1] for c in tagged)
            ]
            if (
                len(items) > 1
                and tagged
                and missed
                # A letter on its own is shorthand ("w/o"), not an item.
                and all(
                    has_words(t.text) and not (t.text.isascii() and len(t.text) < 2) for t in items
                )
            ):
                spans = [(t.start, t.end) for t in items]
                # The first and last items reach as far as the concepts they sit in.
                spans[0] = (min(spans[0][0], *(c[0] for c in tagged)), spans[0][1])
                spans[-1] = (spans[-1][0], max(spans[-1][1], *(c[1] for c in tagged)))
                concepts = [c for c in concepts if c not in tagged] + spans
            k = j + 1
        out.append(replace(clause, concepts=tuple(sorted(concepts))))
    return out


_ITEM_MARKS = frozenset(",、。.…:：")
_ITEM_WORDS = 4  # the longest bare item, in tokens
# Words that can stand alone after a comma without naming anything ("more owls, lol").
_EN_ASIDES = word_set(
    "lol lmao haha hehe tbh ngl idk imo honestly seriously really literally actually ok okay "
    "yeah yes yep yup nope thanks thx ty again anymore ever now today tonight lately instead "
    "too also as well either though tho anyway anyways whatever pls please plz bye fine sure "
    "nah alright meh"
)
_JA_ASIDES = word_set("笑 w ww www 草 まじ マジ 本当 ほんと ホント 全部 ぜんぶ 全て すべて 以上")
# A subject and its verb in one word start a sentence, never an item ("i'm tapping out").
_EN_SUBJECT_VERBS = word_set(
    "i'm im i've i'd i'll we're we've we'll you're you've they're they've it's that's there's "
    "he's she's"
)
_EN_NOT_ITEMS = _EN_ASIDES | _EN_SUBJECT_VERBS


def _bare_item(segment: Sequence[Token]) -> bool:
    """Whether a run of tokens between two commas only names a thing: nouns in
    Japanese (「つけ麺」), a few words with no cue, function or aside word in English
    ("bmx", "stormy seas")."""
    if not 0 < len(segment) <= _ITEM_WORDS:
        return False
    for k, t in enumerate(segment):
        if _cue(t) or t.norm in _POLITE or t.lemma in _POLITE:
            return False
        # 「パン作り」: a verb's stem closing a noun names the doing of it.
        stem = t.pos == "VERB" and 0 < k == len(segment) - 1 and t.text != t.lemma
        if t.script == "ja":
            if stem and segment[k - 1].pos == "NOUN":
                continue
            if t.pos not in ("NOUN", "PREF", "SUFF") or t.adverbial or t.norm in _JA_ASIDES:
                return False
            if t.text in _JA_ASIDES or t.lemma in _JA_ASIDES:
                return False
        elif t.pos != "EN" or t.norm in _EN_FUNCTION or t.norm in _EN_NOT_ITEMS:
            return False
    return segment[0].pos != "SUFF" and segment[-1].pos != "PREF"


_EN_CARRIED = word_set("too also neither either")
_EN_CLOSING = _EN_ASIDES | _EN_CARRIED


def _carried_item(part: Sequence[Token]) -> Sequence[Token]:
    """A part that names an item and carries the ask before it on ("saunas too tbh",
    "mimes neither pls", 「虫のも」): the item without its closing words; any other part as
    it is."""
    k = len(part)
    if part and part[-1].script == "ja":
        # 「グロいのも、虫のも、事故のも」: each item closed by 「のも」 or 「も」.
        while k > 1 and part[k - 1].text in _JA_ALSO_CLOSERS and part[k - 1].pos == "PART":
            k -= 1
        return part[:k] if k < len(part) and part[k - 1].pos in ("NOUN", "ADJ") else part
    while k and part[k - 1].script == "en" and part[k - 1].norm in _EN_CLOSING:
        k -= 1
    if k == len(part) or not any(t.norm in _EN_CARRIED for t in part[k:]):
        return part
    return part[:k]


_JA_ALSO_CLOSERS = frozenset(("の", "も"))


def split_listed_items(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Items listed with commas or full stops beside one the tagger marked, which it
    left unmarked (「ねこ、いぬ、うさぎ。ぜんぶほしい」, "skateboarding, bmx, parkour.
    more."): each its own concept in the clause it sits in. In Japanese, an item is a
    run of nouns; in English, where a trailing word after a comma is often an aside
    ("more owls, honestly"), an unmarked item counts between two marked ones or as one
    of two or more unmarked items in a row ("lighthouses, cliffs, stormy seas"). Items
    before the one marked count two or more in a row ("more: owls, hawks, falcons"), in
    either language (「ごめん、カエルは無理」 lists nothing).
    """
    marked = sorted(span for clause in clauses for span in clause.concepts)
    # The message cut at its list marks, up to a letter's closing words ("Kind regards, …").
    signed = _signed_off_at(tokens)
    parts: list[list[Token]] = [[]]
    for t in tokens if signed is None else [t for t in tokens if t.start < signed]:
        if t.text in _ITEM_MARKS:
            if parts[-1]:
                parts.append([])
        else:
            parts[-1].append(t)

    def tagged(part: Sequence[Token]) -> bool:
        return any(s < part[-1].end and part[0].start < e for s, e in marked)

    def touches(part: Sequence[Token], at_end: bool) -> bool:
        """A marked concept ends the part (a list goes on after it; in Japanese, before
        the 「のも」 that carries it on) or starts it."""
        if not part:
            return False
        core = _carried_item(part) if part[-1].script == "ja" else part
        edge = core[-1].end if at_end else part[0].start
        return any((e if at_end else s) == edge for s, e in marked)

    # Each part as an item, without the words that carry the ask before it on.
    cores = [_carried_item(part) for part in parts]

    def unmarked_item(k: int) -> bool:
        part = cores[k] if 0 <= k < len(parts) else []
        return bool(part) and not tagged(part) and _bare_item(part)

    found: list[tuple[int, int]] = []
    for i, part in enumerate(parts):
        for step in (1, -1):
            # Unmarked bare items after a marked one (up to the next marked one), or
            # before it ("more: owls, hawks, falcons" with only the last one marked).
            if not touches(part, at_end=step == 1):
                continue
            chain = []
            j = i + step
            while unmarked_item(j):
                chain.append(cores[j])
                j += step
            # Closed by a marked item after it (one before has taken them already), or
            # carried on in words: "tired of cold plunges. saunas too tbh".
            closed = step == 1 and j < len(parts) and touches(parts[j], at_end=False)
            carried = step == 1 and len(chain) == 1 and len(chain[0]) < len(parts[i + 1])
            if closed or carried or len(chain) >= 2:
                items = chain
            else:  # one Japanese noun run after a marked item, not before it (「ごめん、」)
                items = [p for p in chain if step == 1 and all(t.script == "ja" for t in p)]
            found.extend((p[0].start, p[-1].end) for p in items)
    if not found:
        return list(clauses)
    out = []
    for clause in clauses:
        mine = sorted({f for f in found if clause.start <= f[0] and f[1] <= clause.end})
        out.append(replace(clause, concepts=tuple(sorted((*clause.concepts, *mine)))))
    return out


_JA_AND = frozenset(("と", "や"))


def split_paired_nouns(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Two Japanese nouns the tagger marked as one concept with 「と」 or 「や」 between
    them (「電車と飛行機が見たい」): each its own concept, as in a list. Not where the
    pair modifies what follows (「猫と犬の喧嘩」), nor before a verb (「猫と遊ぶ」)."""
    out = []
    for clause in clauses:
        concepts = []
        for span in clause.concepts:
            inside = tokens_in(Clause(*span, ()), tokens)
            cut = next(
                (
                    k
                    for k in range(1, len(inside) - 1)
                    if inside[k].script == "ja"
                    and inside[k].text in _JA_AND
                    and inside[k].pos == "PART"
                    and inside[k - 1].pos in ("NOUN", "SUFF")
                    and inside[k + 1].pos in ("NOUN", "PREF")
                    and all(t.pos in ("NOUN", "PREF", "SUFF") for t in inside[k + 1 :])
                ),
                None,
            )
            if cut is None:
                concepts.append(span)
            else:
                concepts += [(span[0], inside[cut - 1].end), (inside[cut + 1].start, span[1])]
        out.append(replace(clause, concepts=tuple(concepts)))
    return out


def split_joined_items(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut between two concepts that something other than a list joins.

    The tagger keeps a list under one op as one clause ("no cats and dogs"), and the op
    is read for all of it. Two concepts joined by other words are not a list: "swap the
    cooking clips | for pottery", 「ドッキリの代わりに|動物の赤ちゃんを見せて」, "cats are fine
    | but no dogs"; one op for both is how such a sentence gets inverted. Each part is
    read on its own. A Japanese topic stays with what is said within it (「アニメは
    ジブリだけ」). The cut is at a clause break inside the gap when there is one;
    otherwise after a run of marks that ends the first item ("clay 👍 | puppets 👎"), at
    the gap's start in English (prepositions lead the next item) and at its end in
    Japanese (particles close the item before).
    """
    out: list[Clause] = []
    for clause in clauses:
        spans = sorted(clause.concepts)
        cut_at: list[int] = []  # character offsets where a new clause starts
        for (_, end), (start, _) in itertools.pairwise(spans):
            gap = [t for t in tokens if end <= t.start and t.end <= start]
            if all(
                t.norm in _LIST_JOINERS or t.text in _LIST_JOINERS or t.norm in _HEADS or _cue(t)
                for t in gap
            ):
                continue
            if "".join(t.text for t in gap) in _TOPIC_GAPS:
                continue
            breaks = [
                i for i, t in enumerate(gap) if t.norm in _GAP_BREAKS or t.text in _GAP_BREAKS
            ]
            ends = _full_stops(gap)
            marks = 0
            while marks < len(gap) and gap[marks].pos in ("EMOJI", "SYM"):
                marks += 1
            if ends:
                # "musicals? fine. | musical theatre kids? no": what a sentence says of
                # its item stays with it.
                cut = _end_or(gap, ends[-1] + 1, start)
            elif breaks:
                i = breaks[-1]
                cut = gap[i].start if gap[i].script == "en" else _end_or(gap, i + 1, start)
            elif marks:
                cut = _end_or(gap, marks, start)
            elif gap[0].script == "en":
                cut = gap[0].start
            else:
                cut = start
            cut_at.append(cut)
        part_ends = [*cut_at, clause.end][1:]
        cut_at = [
            c
            for c, e in zip(cut_at, part_ends, strict=True)
            if not _bare_after_comma(c, e, spans, tokens)
        ]
        if not cut_at:
            out.append(clause)
            continue
        begin = clause.start
        for cut in [*cut_at, clause.end]:
            inside = tokens_in(Clause(begin, cut, ()), tokens)
            while inside and inside[0].text in _CLAUSE_PUNCT:  # as in training, a comma
                inside = inside[1:]  # between two clauses belongs to neither
            while inside and inside[-1].text in _CLAUSE_PUNCT:
                inside = inside[:-1]
            if inside:
                part = tuple((s, e) for s, e in spans if begin <= s and e <= cut)
                out.append(
                    Clause(
                        inside[0].start,
                        inside[-1].end,
                        part,
                        clause.repairs and begin == clause.start,
                    )
                )
            begin = cut
    return out


def _full_stops(gap: Sequence[Token]) -> list[int]:
    """Positions in `gap` of marks that end a sentence, but not the dots of a trailing
    off (「キャンプ...じゃなくてグランピングだけ」 runs on into its turn)."""
    dots = [t.text == "." for t in gap]
    return [
        i
        for i, t in enumerate(gap)
        if t.text in _FULL_STOPS
        and not (i and dots[i - 1])
        and not (i + 1 < len(gap) and dots[i + 1])
    ]


def _bare_after_comma(
    cut: int, end: int, spans: Sequence[tuple[int, int]], tokens: Sequence[Token]
) -> bool:
    """Whether the part from `cut` to `end` opens with a comma and names its item with
    no word of its own ("keep the wrestling away from me, boxing"): an item added to
    the list before it, not a request of its own."""
    part = Clause(cut, end, tuple(spans))
    inside = tokens_in(part, tokens)
    if not inside or inside[0].text not in _CLAUSE_PUNCT:
        return False
    return all(t.text in _CLAUSE_PUNCT or in_concept(t, part) for t in inside)


def _end_or(gap: Sequence[Token], i: int, default: int) -> int:
    """Where gap[i] starts, or `default` past the gap's end."""
    return gap[i].start if i < len(gap) else default


_EN_BECAUSE = word_set("because cause cuz coz bc since")
_EN_SO = word_set("so therefore hence")
_JA_ENOUGH = word_set("いい 良い よい 十分 結構 充分")


def gives_a_reason(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause states a reason: Japanese ending in a causal conjunction
    (「ダイエット中なので」「赤ちゃんが寝てるから」「…ため」), English opening with one
    ("because the baby is asleep", "since I'm eating") or followed by "so" ("I'm on a
    diet | so less food")."""
    inside = tokens_in(clause, tokens)
    while inside and not has_words(inside[-1].text):
        inside.pop()
    if not inside:
        return False
    last = inside[-1]
    if last.script == "ja":
        causal = last.lemma == "から" and last.pos2 == "接続助詞"
        no_de = len(inside) > 1 and last.text == "で" and inside[-2].text == "の"  # ので
        # 「猫はいいから」「料理はもう十分だから」 dismiss (enough of it), they give no reason.
        enough = any(t.lemma in _JA_ENOUGH or t.text in _JA_ENOUGH for t in inside[-4:-1])
        return (causal or no_de or last.lemma == "ため") and not enough
    if inside[0].script != "en":
        return False
    # "on a diet | so less food": the clause before "so" is the reason.
    after = [t for t in tokens if t.start >= clause.end and has_words(t.text)]
    return inside[0].norm in _EN_BECAUSE or (bool(after) and after[0].norm in _EN_SO)


# Forms of "be" and subjects that tell a state in English ("kids are around", "i'm
# eating", "my mom is visiting").
_EN_STATE = word_set("is are am was were i'm im we're were they're theyre he's she's it's")
_EN_CARRIERS = word_set("so as same too also")
_JA_GOING_ON = word_set("てる ている てます ています")


def tells_a_state(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause tells how things are rather than naming what to see ("cooking
    instead") or carrying what the clause before said ("so are the puffins"): in English
    with a form of "be" or a subject of its own outside its concepts ("kids are around",
    "i'm eating"); in Japanese with a verb and an ending that explains or tells what is
    going on (「赤ちゃん寝かしつけ中なの」「子供が起きてる」「ご飯食べてるんだ」)."""
    words = [t for t in outside_concepts(clause, tokens) if has_words(t.text)]
    if words and all(t.script == "ja" for t in words):
        explains = any(t.text in ("の", "ん") and t.pos == "PART" for t in words[-3:])
        going_on = words[-1].text in _JA_GOING_ON
        return any(t.pos == "VERB" for t in words) and (explains or going_on)
    if not words or any(t.script != "en" for t in words) or words[0].norm in _EN_CARRIERS:
        return False
    return any(t.norm in _EN_STATE for t in words)


# Someone close to the writer, as a clause's subject: "my husband", 「夫が」, 「うちの子は」.
_EN_OTHERS = word_set(
    "husband wife hubby dad mom mum father mother parents son daughter kid kids child "
    "children toddler baby friend friends bf gf boyfriend girlfriend partner roommate "
    "roommates flatmate coworker coworkers colleague colleagues boss brother sister bro sis "
    "cousin grandma grandpa granny uncle aunt neighbor neighbour neighbors neighbours niece "
    "nephew family"
)
_JA_OTHERS = word_set(
    "夫 妻 旦那 嫁 母 父 母親 父親 お母さん お父さん 母さん 父さん ママ パパ 両親 娘 息子 子 子供 "
    "子ども 彼女 彼氏 友達 友だち 友人 同居人 ルームメイト 弟 兄 姉 妹 兄貴 姉貴 祖母 祖父 "
    "おばあちゃん おじいちゃん 同僚 上司 先輩 後輩 家族 相方 嫁さん 旦那さん"
)
_EN_OWNERS = word_set("my our a his her")
_EN_SAYING = word_set("say says said think thinks thought reckon reckons")
_JA_SUBJECT_MARKS = word_set("が は も って")
# The writer speaking of themselves, or asking: a clause with these is no report of
# someone else's taste.
_EN_SELF = word_set("i i'm im i've ive i'd id i'll me we us")
_JA_SELF = word_set("私 わたし 俺 僕 ぼく あたし 自分 うち")
_EN_ASKS = word_set("more less fewer no please pls plz show give want need skip stop keep")
_JA_ASKS = word_set(
    "もっと 増やす 減らす 見せる 欲しい ほしい たい ください 下さい ちょうだい 頂戴 やめる 止める "
    "消す いらない 要らない お願い"
)
_WRITERS_OWN = _EN_SELF | _JA_SELF | _EN_ASKS | _JA_ASKS


def _someone_else_opens(inside: Sequence[Token]) -> int | None:
    """Where the person a clause opens with stands (`inside`: its word tokens), when it
    opens with a person close to the writer as its subject ("my dad", 「うちの子は」,
    "friends say"): that person's index; else None."""
    if inside and inside[0].script == "en":
        if len(inside) > 1 and inside[0].norm in _EN_OTHERS and inside[1].norm in _EN_SAYING:
            return 0  # "friends say birdwatching is boring"
        k = 1 if inside[0].norm in _EN_OWNERS else 0
        if k == 0 or k >= len(inside) or inside[k].norm not in _EN_OTHERS:
            return None
        if k + 1 < len(inside) and inside[k + 1].norm in ("and", "&", "n"):
            return None  # "my friends and I"
        return k
    if inside:
        k = 2 if [t.text for t in inside[:2]] == ["うち", "の"] else 0
        if k + 1 >= len(inside) or inside[k].text not in _JA_OTHERS:
            return None
        return k if inside[k + 1].text in _JA_SUBJECT_MARKS else None
    return None


def reported_part(clause: Clause, tokens: Sequence[Token]) -> Clause | None:
    """What a clause that opens with someone else as its subject says of them, without
    the person ("my husband | loves 戦隊もの but…", 「夫が|戦車の動画にハマってるけど…」),
    where the tagger may look for the thing they like; None for any other clause."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    k = _someone_else_opens(inside)
    if k is None:
        return None
    rest = inside[k + 1 :] if inside[k].script == "en" else inside[k + 2 :]
    return Clause(rest[0].start, clause.end, ()) if rest else None


def writer_speaks_after(tokens: Sequence[Token], at: int) -> bool:
    """Whether words of the writer's own or words that ask come after character `at`:
    "…but I'm not into it", 「…けど、私は見たくない」, "…, more pls"."""
    return any(
        w in _WRITERS_OWN for t in tokens if t.start >= at for w in (t.norm, t.lemma, t.text)
    )


def about_someone_else(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause reports someone else's taste ("my dad only watches golf",
    「同居人は料理系ばっか見てるけど」): it opens with a person close to the writer as
    its subject and holds no word of the writer's own and no word that asks."""
    inside = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    k = _someone_else_opens(inside)
    if k is None:
        return False
    for t in inside[k + 1 :]:
        words = (t.norm, t.lemma, t.text)
        if any(w in _WRITERS_OWN for w in words):
            return False
    return True


# Words that turn from someone else's taste to the writer's own ("but", 「けど」).
_EN_TURNS = word_set("but though although whereas while")


def split_reasons(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese reason the tagger left joined to the request after it
    (「うちの子が最近寝なくて疲れてるので、|癒し系の動物動画ください」): the clause is cut
    after 「から、」 or 「ので、」 where every concept lies after the cut, so that the reason,
    naming nothing, asks nothing and the request is read on its own words."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        cut = next(
            (
                k
                for k in range(1, len(inside) - 1)
                if inside[k + 1].text in _CLAUSE_PUNCT
                and gives_a_reason(Clause(clause.start, inside[k].end, ()), tokens)
                and clause.concepts
                and all(s >= inside[k + 1].end for s, _ in clause.concepts)
            ),
            None,
        )
        if cut is None:
            out.append(clause)
            continue
        out.append(Clause(clause.start, inside[cut].end, ()))
        out.append(replace(clause, start=inside[cut + 2].start))
    return out


def split_reported_tastes(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A clause that reports someone else's taste and turns to the writer's own with no
    concept after the turn (「兄はプロレス好きだけど、|私は全然興味ない」, "my brother loves
    wrestling but | i'm not into it", "… but | please keep them out of my feed") splits at
    the turn, so that the report asks nothing
    and the writer's half reads as an ask about what the report named."""
    out: list[Clause] = []
    for clause in clauses:
        inside = tokens_in(clause, tokens)
        cut = next(
            (i for i in range(len(inside) - 1) if _turns_to_the_writer(clause, inside, i, tokens)),
            None,
        )
        if cut is None:
            out.append(clause)
            continue
        rest = [u for u in inside[cut + 1 :] if u.text not in _CLAUSE_PUNCT]
        out.append(replace(clause, end=inside[cut].end))
        out.append(Clause(rest[0].start, clause.end, ()))
    return out


def _turns_to_the_writer(
    clause: Clause, inside: Sequence[Token], i: int, tokens: Sequence[Token]
) -> bool:
    """Whether `inside[i]` turns from a report of someone else's taste before it to the
    writer's own words after it, which name no concept."""
    t = inside[i]
    turns = t.norm in _EN_TURNS if t.script == "en" else t.text in _JA_BUT
    if not turns or in_concept(t, clause):
        return False
    after = [u for u in inside[i + 1 :] if has_words(u.text)]
    if not after or any(in_concept(u, clause) for u in after):
        return False
    # The writer's own words: "i'm not into it", or a request ("but please keep them out").
    own = _EN_SELF | _JA_SELF | _EN_ASKS
    if not any(w in own for u in after[:2] for w in (u.norm, u.text)):
        return False
    report = Clause(clause.start, t.end, clause.concepts)
    return bool(report.concepts) and about_someone_else(report, tokens)


_EN_TOO = (("too",), ("as", "well"), ("also",), ("either",))
# "too" of degree, not of addition: before "much" or "many", or after a verb of being or
# a word of degree ("the sharks are too scary", "way too loud", "too much horror lately").
_EN_DEGREE_BEFORE = word_set("much many often few little long")
_EN_DEGREE_AFTER = word_set(
    "is are was were be been being am get gets getting got feel feels seem seems look looks"
    " way far just bit kinda sorta so really simply"
)


_JA_ITEM_CLOSERS = word_set("の やつ 奴 もの 物")


def adds_to_the_last(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause adds what it names to the request before it: the particle
    「も」 after a concept (「…、犬もね」「ゾンビも」「採血のも」), or "too", "as well", "also",
    "either" outside its concepts ("less cats, and dogs as well"), or closing it where
    the tagger left them out of the clause ("skip the fashion week clips, and the red
    carpet ones also")."""
    inside = tokens_in(clause, tokens)
    ends = {e for _, e in clause.concepts}
    for k, t in enumerate(inside):
        if t.script == "ja" and t.text == "も" and t.pos == "PART":
            # 「採血のも」「大きい音のやつも」: の and head nouns may close the item first.
            j = k
            while j and (inside[j - 1].text in _JA_ITEM_CLOSERS or inside[j - 1].norm in _HEADS):
                j -= 1
            if inside[j].start in ends:
                return True
        added = _english_at(inside, k, _EN_TOO) and not _degree_too(inside, k)
        if added and not in_concept(t, clause):
            return True
    after = [t for t in tokens if t.start >= clause.end]
    j = _english_at(after, 0, _EN_TOO)
    return bool(j) and (j == len(after) or not has_words(after[j].text))


_EN_AND = word_set("and or nor & plus n")


def continues_a_list(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause that names its items and nothing else opens with "and" or "or",
    in it or just before it ("bring back the lighthouse clips, and the foggy harbors"):
    one more item of the list before it, not a request of its own."""
    inside = tokens_in(clause, tokens)
    if not only_names(clause, tokens):
        return False
    before = [t for t in tokens if t.end <= clause.start and has_words(t.text)]
    opener = inside[0] if inside and inside[0].norm in _EN_AND else before[-1] if before else None
    if opener is not None and opener.script == "en" and opener.norm in _EN_AND:
        return True
    # "cut down on the memes, | the skits and the fails": the list's last items after a
    # comma, joined by "and" among themselves.
    comma = [t.text for t in tokens if t.end <= clause.start][-1:] == [","]
    return (
        comma
        and len(clause.concepts) > 1
        and all(t.script == "en" for t in inside)
        and any(t.norm in _EN_AND and not in_concept(t, clause) for t in inside[1:])
    )


# Words that narrow a request to a part of its thing: before it ("more pixel art,
# especially the little animated towns", 「ホラー減らして、特にジャンプスケア」) or after it
# ("the forge ones especially").
_EN_NARROWING = (
    ("especially",), ("particularly",), ("esp",), ("specifically",), ("mostly",), ("mainly",),
    ("in", "particular"), ("like",), ("such", "as"),
)  # fmt: skip
_EN_NARROWING_AFTER = (("especially",), ("particularly",), ("in", "particular"))
_JA_NARROWING = word_set("特に とくに とりわけ 例えば たとえば")
_EN_ONES = word_set("ones one")


def narrows_the_last(clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether a clause names a part of what the request before it named, and asks nothing
    in words of its own: it opens with "especially", "like", 「特に」 or 「中でも」, ends with
    "especially" or "in particular", or says only "the X ones" ("more penguin videos, | the
    waddling ones"). The writer's example of the thing, not an ask of its own: read alone
    it had been the opposite ("ホラー減らして、特にジャンプスケア" as more jump scares)."""
    words = [t for t in tokens_in(clause, tokens) if has_words(t.text)]
    if not words or not clause.concepts:
        return False
    first = words[0]
    if first.script == "ja":
        opener = 1 if first.text in _JA_NARROWING and not in_concept(first, clause) else 0
        if [t.text for t in words[:3]] in (["中", "で", "も"], ["なか", "で", "も"]):
            opener = 3  # 「中でも」, three words to the tokenizer
        closer = len(words)
    else:
        # After a clause mark only ("replace the pranks with | like, wildlife rescues" is
        # no example), and never "like," of a pause.
        before = [t for t in tokens if t.end <= clause.start][-1:]
        if not before or before[0].text not in _CLAUSE_PUNCT:
            return False
        opener = _english_at(words, 0, _EN_NARROWING) if not in_concept(first, clause) else 0
        if opener and _next_is(tokens, words[opener - 1], ","):
            return False
        closer = next(
            (k for k in range(1, len(words))
             if _english_at(words, k, _EN_NARROWING_AFTER) == len(words)),
            len(words),
        )  # fmt: skip
    rest = words[opener:closer]
    if any(_cue(t) for t in rest if not in_concept(t, clause)):
        return False
    if opener or closer < len(words):
        return True
    return (
        first.norm == "the"
        and words[-1].norm in _EN_ONES
        and all(in_concept(t, clause) or _joins(t) or t.norm in _EN_ONES for t in words)
    )


def _token_after(tokens: Sequence[Token], token: Token) -> Token | None:
    """The token right after `token`, if any."""
    return next((t for t in tokens if t.start >= token.end), None)


def _next_is(tokens: Sequence[Token], token: Token, text: str) -> bool:
    """Whether the token right after `token` is `text`."""
    after = _token_after(tokens, token)
    return after is not None and text in (after.text, after.norm)


def split_examples(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses cut at a comma before a part of the thing named before it ("more penguin
    videos, | the waddling ones", "more stop motion, | like the old Christmas specials"), so
    that the part reads as the writer's example (`narrows_the_last`), not a second thing;
    or before a thing offered instead ("fewer pranks, | science experiments instead"), so
    that it reads on its own (`offered_instead`), not with the ask before the comma."""
    return _cut_where(clauses, tokens, _example_at)


def _example_at(clause: Clause, inside: Sequence[Token]) -> int | None:
    """Where in `inside` the example or offer of `split_examples` starts, if one does."""
    for i in range(1, len(inside)):
        if inside[i - 1].text not in _CLAUSE_PUNCT or not any(
            in_concept(t, clause) for t in inside[: i - 1]
        ):
            continue
        rest = Clause(inside[i].start, clause.end, tuple(c for c in clause.concepts
                                                         if c[0] >= inside[i].start))  # fmt: skip
        if narrows_the_last(rest, inside) or offered_instead(rest, inside):
            return i
    return None


def _degree_too(tokens: Sequence[Token], i: int) -> bool:
    """Whether tokens[i] is "too" of degree ("are too scary", "too much X")."""
    if tokens[i].norm != "too":
        return False
    after = tokens[i + 1].norm if i + 1 < len(tokens) else ""
    before = tokens[i - 1].norm if i > 0 else ""
    return after in _EN_DEGREE_BEFORE or before in _EN_DEGREE_AFTER


def _english_at(tokens: Sequence[Token], i: int, phrases: Sequence[tuple[str, ...]]) -> int:
    """End of the first of `phrases` (English word sequences) that the tokens spell from
    token i, or 0 when none does."""
    for words in phrases:
        j = i + len(words)
        if j <= len(tokens) and all(
            u.script == "en" and u.norm == w for u, w in zip(tokens[i:j], words, strict=True)
        ):
            return j
    return 0


def has_words(text: str) -> bool:
    """Whether `text` holds a letter or a digit (in any script)."""
    return any(unicodedata.category(c)[0] in ("L", "N") for c in text)


# Words by which a speaker takes back what they just said and says it again: "more owls,
# sorry, I mean bats", "hide the ferrets, oops, I meant the weasels", 「カブトムシ増やして、
# あ、間違えたクワガタ」. English as word sequences, Japanese as lemmas.
_EN_REPAIRS = (("i", "mean"), ("i", "meant"), ("sorry",), ("oops",), ("scratch", "that"),
               ("hang", "on"), ("wait",), ("or", "rather"), ("make", "that"))  # fmt: skip
_JA_REPAIRS = word_set("間違える 間違い 訂正")


def _repair_markers(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """Token index ranges [i, j) of the repair markers among `tokens`."""
    out = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        j = _trailing_off(tokens, i)
        if j:  # 「イルカ…じゃなくてシャチ」: dolphins, er, not those, orcas
            out.append((i, j))
            i = j
            continue
        j = _taking_back(tokens, i)
        if j:  # 「犬もっと…いや、やっぱ猫」
            out.append((i, j))
            i = j
            continue
        if t.script == "ja" and (t.lemma in _JA_REPAIRS or t.norm in _JA_REPAIRS):
            j = i + 1
            while j < len(tokens) and tokens[j].script == "ja" and tokens[j].pos == "AUX":
                j += 1  # 間違え|た
            out.append((i, j))
            i = j
            continue
        j = _english_at(tokens, i, _EN_REPAIRS)
        if j:
            out.append((i, j))
            i = j
            continue
        i += 1
    return out


def _taking_back(tokens: Sequence[Token], i: int) -> int:
    """End of 「いや、やっぱ(り)」 (no, after all) starting at token i, the interjection
    いや (Sudachi's 否, never the 嫌 of 「ホラーはいや」) before 矢張り; 0 when there is none."""
    if tokens[i].script != "ja" or tokens[i].pos != "INTJ" or tokens[i].norm != "否":
        return 0
    j = i + 1
    if j < len(tokens) and tokens[j].text in _CLAUSE_PUNCT:
        j += 1
    return j + 1 if j < len(tokens) and tokens[j].norm == "矢張り" else 0


def _trailing_off(tokens: Sequence[Token], i: int) -> int:
    """End of a self-correction that starts at token i: an ellipsis (…, ‥, or two dots or
    more) right before 「じゃなく(て)」: a speaker trailing off and taking the word back, not
    the contrast 「アニメじゃなくて実写」 asks for. 0 when there is none."""
    j = i
    while j < len(tokens) and tokens[j].text in ("…", "‥", "."):
        j += 1
    dots = sum(len(t.text) if t.text == "." else 2 for t in tokens[i:j])
    if dots < 2 or j + 1 >= len(tokens):
        return 0
    if tokens[j].text not in ("じゃ", "では") or tokens[j + 1].lemma != "ない":
        return 0
    j += 2
    return j + 1 if j < len(tokens) and tokens[j].text == "て" else j


# English words a concept cannot end on: a span the tagger ended on one was cut inside a
# description ("more knight during | a thunderstorm", "skateboarder doing | a kickflip").
_UNFINISHED = word_set(
    "a an the of in on at by to for from with into onto over under above below across "
    "through inside during near along around behind beside between beyond toward towards"
)
_ARTICLES = word_set("a an the")
# Words a cut description does not run on through: what joins or follows a request.
_PAST_A_DESCRIPTION = word_set(
    "and or but nor plus then so & please pls plz thanks thx ty tonight today now lately "
    "anymore again too also though tho lol lmao haha rn asap instead i me my you u your we "
    "us our it its this that these those"
)


def _back_to_back(first: Clause, then: Clause, tokens: Sequence[Token]) -> bool:
    """Whether no token (punctuation or a word) lies between two clauses."""
    return not any(first.end <= t.start < then.start for t in tokens)


def join_relative_clauses(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """A Japanese clause that names nothing and ends on a verb, right before a clause that
    opens on its concept, modifies that concept (「散らかった台所にいる|子犬をもっと」): the
    two are one, and the concept starts where the modifying words do."""
    out: list[Clause] = []
    for clause in clauses:
        before = out[-1] if out else None
        if before is None or not _modifies(before, clause, tokens):
            out.append(clause)
            continue
        first = min(clause.concepts)
        start = next(t.start for t in tokens_in(before, tokens) if has_words(t.text))
        rest = tuple(c for c in clause.concepts if c != first)
        out[-1] = replace(clause, start=before.start, concepts=((start, first[1]), *rest))
    return out


def _modifies(before: Clause, clause: Clause, tokens: Sequence[Token]) -> bool:
    """Whether `before` is a relative clause of the concept `clause` opens on (see
    `join_relative_clauses`)."""
    if before.concepts or not clause.concepts or before.repairs:
        return False
    words = [t for t in tokens_in(before, tokens) if has_words(t.text)]
    if not words or any(t.script != "ja" for t in words) or words[-1].pos not in ("VERB", "AUX"):
        return False
    if not _back_to_back(before, clause, tokens):
        return False  # punctuation or other words between
    opening = next((t for t in tokens_in(clause, tokens) if has_words(t.text)), None)
    if opening is None or opening.start != min(clause.concepts)[0]:
        return False
    asks = any(t.lemma in _JA_ASKS or t.text in _JA_ASKS for t in words)
    return not asks and not clause_cues(before, tokens).any()


def finish_descriptions(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Concept spans the tagger cut inside an English description, run on to its end.

    A span cut short ends on a preposition or an article ("knight during"), or on an -ing
    verb whose object follows ("skateboarder doing | a kickflip"). It runs on over the
    plain words after it (no cue word, head noun, joiner or filler: "more knight during a
    thunderstorm videos pls" stops before "videos"), into the clause after it when no
    punctuation lies between them and that clause has no cue word of its own (the two
    become one). It ends on a word that can end one, or it is left as it was. A span that
    ends on a modifier ("robot on a floating | island") is left: running on after it
    read one more instruction of a set never learned from backwards (docs/steering.md).
    """
    out: list[Clause] = []
    rest = list(clauses)
    while rest:
        clause = rest.pop(0)
        nxt = rest[0] if rest else None
        spans = sorted(clause.concepts)
        finished: list[tuple[int, int]] = []
        for span in spans:
            if finished and span[1] <= finished[-1][1]:
                continue  # taken into the description before it
            if not _cut_short(span, tokens):
                finished.append(span)
                continue
            joins = (  # asked only of a span cut short: cue words are read on every read
                nxt is not None
                and _back_to_back(clause, nxt, tokens)
                and not clause_cues(nxt, tokens).any()
            )
            run = _description_run(span, tokens, nxt.end if joins and nxt else clause.end)
            if run is not None and run > clause.end and nxt is not None:
                # The description goes on into the clause after it: the two are one.
                clause = replace(clause, end=nxt.end, concepts=clause.concepts + nxt.concepts)
                spans += sorted(nxt.concepts)  # read on by this loop, most inside the run
                rest.pop(0)
                nxt = None
            finished.append(span if run is None else (span[0], run))
        kept: list[tuple[int, int]] = []
        for span in sorted(finished + [c for c in clause.concepts if c not in spans]):
            if kept and span[0] < kept[-1][1]:  # inside a description run on over it
                kept[-1] = (kept[-1][0], max(kept[-1][1], span[1]))
            else:
                kept.append(span)
        out.append(replace(clause, concepts=tuple(kept)))
    return out


def _cut_short(span: tuple[int, int], tokens: Sequence[Token]) -> bool:
    """Whether an English concept span ends on a word that cannot end one, or on an -ing
    verb whose object follows (see `finish_descriptions`)."""
    inside = [t for t in tokens if span[0] <= t.start < span[1]]
    first = next((t for t in tokens if t.start >= span[1]), None)
    if not inside or inside[-1].script != "en" or first is None:
        return False
    last = inside[-1].norm
    return last in _UNFINISHED or (last.endswith("ing") and first.norm in _ARTICLES)


def _description_run(span: tuple[int, int], tokens: Sequence[Token], limit: int) -> int | None:
    """Where a concept span cut short (`_cut_short`) ends when run on over the plain words
    after it up to `limit`, or None when it cannot run on."""
    run: list[Token] = []
    for t in (t for t in tokens if t.start >= span[1]):
        if t.end > limit or not _plain(t):
            break
        run.append(t)
    while run and run[-1].norm in _UNFINISHED:
        run.pop()
    return run[-1].end if run else None


def _plain(token: Token) -> bool:
    """An English word a description may run on over."""
    return (
        token.script == "en"
        and token.pos == "EN"
        and token.norm not in _PAST_A_DESCRIPTION
        and token.norm not in _HEADS
        and not _cue(token)
    )


def apply_repairs(clauses: Sequence[Clause], tokens: Sequence[Token]) -> list[Clause]:
    """Clauses with their repairs marked: a repair marker is never a concept, and what
    follows it, once something was named before it, is a clause of its own that takes back
    the one before ("more owls, sorry, I mean bats" asks for bats alone)."""
    markers = [(tokens[i].start, tokens[j - 1].end) for i, j in _repair_markers(tokens)]
    if not markers:
        return list(clauses)

    def in_marker(s: int, e: int) -> bool:
        return any(ms <= s and e <= me for ms, me in markers)

    out: list[Clause] = []
    for clause in clauses:
        concepts = tuple((s, e) for s, e in clause.concepts if not in_marker(s, e))
        named = any(c.concepts for c in out)  # something named before this clause
        # A marker after what the clause before named (inside that clause or between
        # the two: 「イルカ…じゃなくて」 is one clause) marks this one.
        after = max((e for _, e in out[-1].concepts), default=out[-1].end) if out else 0
        repairs = clause.repairs or (
            named and any(after <= ms and me <= clause.start for ms, me in markers)
        )
        start = clause.start
        for ms, me in sorted(markers):
            if not (start <= ms < clause.end) or not any(s >= me for s, _ in concepts):
                continue
            before = tuple((s, e) for s, e in concepts if start <= s < ms)
            if before:  # "more owls, | sorry, I mean bats": two clauses
                end = max(t.end for t in tokens if start <= t.start and t.end <= ms)
                out.append(Clause(start, end, before, repairs))
                start, repairs = ms, True
            elif named:  # "..., sorry, I mean bats" in a clause of its own
                repairs = True
        rest = tuple((s, e) for s, e in concepts if s >= start)
        out.append(Clause(start, clause.end, rest, repairs))
    return out


# -- the model ------------------------------------------------------------------------


Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass
class IntentModel:
    """The trained tagger and op classifier, with what they were trained with."""

    tagger: Any
    network: OpNetwork
    classes: tuple[str, ...]
    encoder_id: str | None  # the sentence encoder whose vectors the classifier reads
    fingerprint: str
    _lock: threading.Lock

    def tag(self, tokens: Sequence[Token]) -> list[str]:
        """CRF tags of the tokens."""
        if not tokens:
            return []
        with self._lock:
            return list(self.tagger.tag(token_features(tokens)))

    def tag_sentences(self, tokens: Sequence[Token]) -> list[str]:
        """CRF tags of each sentence tagged on its own (see `sentences`), each opening
        a clause: the reader's second try where the whole message, tagged at once, asked
        for nothing (a sigh and a story before the request, 「ふぅ…今日も一日おつかれ
        自分。焚き火の映像お願い」). Tagging every message this way reads fewer right."""
        tags: list[str] = []
        for a, b in sentences(tokens):
            part = self.tag(tokens[a:b])
            if part and part[0] in ("O", "B", "I"):
                part[0] = "K" if part[0] == "O" else "KB"
            tags += part
        return tags

    def likely_concept(
        self, tokens: Sequence[Token], tags: Sequence[str], clause: Clause
    ) -> tuple[tuple[int, int], float] | None:
        """The span of `clause` the tagger would most readily have marked as its concept,
        and how likely that tagging is beside the one it chose (0-1), for a clause it
        tagged with no concept; None when no span could be one.

        Candidates are runs of up to CONCEPT_SPAN_TOKENS tokens inside the clause that
        hold no cue word, start and end on a content word and cross no punctuation; each
        is scored by the probability of the tag sequence with that run marked as a
        concept and every other tag as chosen, so the score is the CRF's own."""
        inside = [i for i, t in enumerate(tokens) if clause.start <= t.start < clause.end]
        best: tuple[float, int, int] | None = None
        with self._lock:
            self.tagger.set(token_features(tokens))
            chosen = self.tagger.probability(list(tags))
            if chosen <= 0.0:
                return None
            for a in inside:
                if not _can_edge_concept(tokens[a]):
                    continue
                for b in range(a, min(a + CONCEPT_SPAN_TOKENS, inside[-1] + 1)):
                    if not _can_be_in_concept(tokens[b]):
                        break
                    if not _can_edge_concept(tokens[b]):
                        continue
                    trial = list(tags)
                    trial[a] = "KB" if tags[a] in ("K", "KB") else "B"
                    trial[a + 1 : b + 1] = ["I"] * (b - a)
                    share = self.tagger.probability(trial) / chosen
                    if best is None or share > best[0]:
                        best = (share, a, b)
        if best is None:
            return None
        share, a, b = best
        return (tokens[a].start, tokens[b].end), min(share, 1.0)

    def op_probs(
        self, texts: Sequence[str], clauses: Sequence[Clause], tokens: Sequence[Sequence[Token]],
        vectors: np.ndarray | None,
    ) -> np.ndarray:  # fmt: skip
        """(len(clauses), classes) op probabilities; texts[i] holds clauses[i], and
        vectors[i] is its `clause_vector_text` encoded (None for a model without them)."""
        if not clauses:
            return np.empty((0, len(self.classes)))
        return self.network.probs(_clause_columns(texts, clauses, tokens), vectors)

    def save(self, folder: Path, tagger_bytes: bytes) -> None:
        """Write the model under `folder` (atomically: temp files, then rename)."""
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "tagger.crfsuite", tagger_bytes)
        meta = {"version": MODEL_VERSION, "classes": list(self.classes),
                "encoder_id": self.encoder_id, "fingerprint": self.fingerprint}  # fmt: skip
        saved = io.BytesIO()
        np.savez(saved, **self.network.arrays())  # type: ignore[arg-type]
        atomic_write(folder / "classifier.npz", saved.getvalue())
        atomic_write(folder / "intent.json", json.dumps(meta).encode())

    @classmethod
    def load(cls, folder: Path, fingerprint: str) -> IntentModel | None:
        """The model saved under `folder` if it was trained from `fingerprint`, else None."""
        try:
            meta = json.loads((folder / "intent.json").read_text())
            if meta.get("version") != MODEL_VERSION or meta.get("fingerprint") != fingerprint:
                return None
            with np.load(folder / "classifier.npz") as z:
                network = OpNetwork.from_arrays(dict(z))
            tagger = _open_tagger(folder / "tagger.crfsuite")
        except (OSError, ValueError, KeyError) as exc:
            log.warning("intent model in %s unreadable (%s); retraining", folder, exc)
            return None
        return cls(tagger, network, tuple(meta["classes"]), meta["encoder_id"], fingerprint,
                   threading.Lock())  # fmt: skip


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in its folder, then rename: a reader
    never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _open_tagger(path: Path) -> Any:
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open(str(path))
    return tagger


CONCEPT_SPAN_TOKENS = 5  # the longest run `IntentModel.likely_concept` tries
_NOT_AN_EDGE_POS = frozenset({"PART", "AUX", "PUNCT", "SYM", "SUFF", "CONJ", "INTJ", "PRON"})


def _can_be_in_concept(token: Token) -> bool:
    return token.pos not in ("PUNCT", "SYM") and not _cue(token)


def _can_edge_concept(token: Token) -> bool:
    """Whether a concept could start or end on this token: a content word, not a joiner."""
    if not _can_be_in_concept(token) or token.pos in _NOT_AN_EDGE_POS:
        return False
    if token.script != "en":
        return True
    return token.norm not in _EN_JOINERS and token.norm not in _EN_FUNCTION


def hashed_columns(features: Sequence[str]) -> np.ndarray:
    """The design-matrix column of each feature string, as scikit-learn's FeatureHasher
    (`input_type="string"`, no alternate sign) places it: |murmurhash3_32(utf-8)| modulo
    HASH_FEATURES. A feature listed twice counts twice."""
    return np.fromiter(
        (abs(mmh3.hash(f, 0, signed=True)) % HASH_FEATURES for f in features),
        dtype=np.int64, count=len(features),
    )  # fmt: skip


def _clause_columns(
    texts: Sequence[str], clauses: Sequence[Clause], tokens: Sequence[Sequence[Token]]
) -> list[np.ndarray]:
    """Each clause's hashed feature columns; texts[i] and tokens[i] hold clauses[i]."""
    return [hashed_columns(clause_features(t, c, tok))
            for t, c, tok in zip(texts, clauses, tokens, strict=True)]  # fmt: skip


ENCODE_BATCH = 256  # texts per call when encoding training clauses


def encode_in_batches(encode: Encode, texts: Sequence[str]) -> np.ndarray:
    """`encode` over `texts`, ENCODE_BATCH at a time, stacked (no rows for no texts)."""
    blocks = [encode(texts[i : i + ENCODE_BATCH]) for i in range(0, len(texts), ENCODE_BATCH)]
    return np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)


def clause_vector_text(text: str, clause: Clause) -> str:
    """What is encoded of a clause for its sentence vector (the op classifier's feature
    and the polarity vote's query): its words, every concept masked, lower case."""
    return masked_clause(text, clause).lower()


@dataclass(frozen=True)
class LabelledClause:
    """A training clause: its op, its character span and its concept span (-1 if none)."""

    op: str
    start: int
    end: int
    concept_start: int
    concept_end: int


@dataclass(frozen=True)
class LabelledText:
    """A training instruction with its clauses."""

    text: str
    clauses: tuple[LabelledClause, ...]


def labelled_clauses(example: LabelledText) -> list[tuple[str, Clause]]:
    """(op, clause) per clause of a training text: one row per clause, every concept of a
    list masked together, as the reader will see it."""
    by_span: dict[tuple[int, int], tuple[str, list[tuple[int, int]]]] = {}
    for c in example.clauses:
        op, concepts = by_span.setdefault((c.start, c.end), (c.op, []))
        if c.concept_start >= 0:
            concepts.append((c.concept_start, c.concept_end))
    return [
        (op, Clause(start, end, tuple(sorted(concepts))))
        for (start, end), (op, concepts) in by_span.items()
    ]


def fingerprint_of(examples: Sequence[LabelledText], encoder_id: str | None, seed: int) -> str:
    """A hash naming exactly what a model was trained from."""
    h = hashlib.sha256(f"v{MODEL_VERSION}|{encoder_id}|{seed}|{TAGGER_L1}|{TAGGER_L2}".encode())
    for ex in examples:
        h.update(ex.text.encode())
        for c in ex.clauses:
            h.update(f"|{c.op}:{c.start}:{c.end}:{c.concept_start}:{c.concept_end}".encode())
    return h.hexdigest()[:16]


def train_intent_model(
    examples: Sequence[LabelledText],
    tokenizer: Tokenizer,
    folder: Path,
    *,
    encode: Encode | None,
    encoder_id: str | None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> IntentModel:
    """Train tagger and classifier on labelled instructions and save them under `folder`."""
    import pycrfsuite

    say = progress or (lambda _msg: None)
    fingerprint = fingerprint_of(examples, encoder_id, seed)
    texts, clauses, clause_tokens, labels = [], [], [], []
    trainer = pycrfsuite.Trainer(verbose=False)
    say(f"tagging {len(examples)} instructions")
    for ex in examples:
        text = normalise(ex.text)
        tokens = tokenizer.tokenize(text)
        if not tokens:
            continue
        spans = [(c.start, c.end, c.concept_start, c.concept_end) for c in ex.clauses]
        trainer.append(token_features(tokens), tags_from_spans(tokens, spans))
        for op, clause in labelled_clauses(ex):
            texts.append(text)
            clauses.append(clause)
            clause_tokens.append(tokens)
            labels.append(op)
    trainer.set_params({"c1": TAGGER_L1, "c2": TAGGER_L2, "max_iterations": 150,
                        "feature.possible_transitions": True})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    say("training the tagger (CRF)")
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".crfsuite.tmp")
    os.close(fd)
    try:
        trainer.train(tmp)
        tagger_bytes = Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)
    missing = [c for c in OP_CLASSES if c not in labels]
    if missing:
        raise IntentModelError(f"training corpus lacks examples of {missing}")
    say(f"training the op classifier on {len(labels)} clauses")
    vectors = None
    if encode is not None:
        words = [clause_vector_text(t, c) for t, c in zip(texts, clauses, strict=True)]
        unique = sorted(set(words))  # templates repeat: encode each masked clause once
        row = {w: i for i, w in enumerate(unique)}
        vectors = encode_in_batches(encode, unique)[[row[w] for w in words]]
    network = train_op_network(
        _clause_columns(texts, clauses, clause_tokens), vectors,
        np.array([OP_CLASSES.index(op) for op in labels]), len(OP_CLASSES), seed, say,
    )  # fmt: skip
    model = IntentModel(None, network, OP_CLASSES, encoder_id, fingerprint, threading.Lock())
    model.save(folder, tagger_bytes)
    model.tagger = _open_tagger(folder / "tagger.crfsuite")
    return model
