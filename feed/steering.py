"""Steering: plain-language instructions (English and Japanese) to typed ops.

Parsing is pure. An instruction is split into clauses; each clause becomes one
op — boost, suppress, exclude, only or reset — with a phrase and an intensity.
Phrases are matched to clips later by meaning, through the embedding spaces
(feed/ranking.py); nothing here decides which clips match.

Japanese clauses are parsed by their particles and op words, and their
concept words are translated to English with a glossary (data/lexicon/ja.toml),
because the bundled sentence model is English-only.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

OpKind = Literal["boost", "suppress", "exclude", "only", "reset"]
OPS: tuple[OpKind, ...] = ("boost", "suppress", "exclude", "only", "reset")

MAX_INSTRUCTION_CHARS = 500
MAX_OPS_PER_INSTRUCTION = 8
STRONG = 1.6
MILD = 0.5

GLOSSARY_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicon" / "ja.toml"


class InstructionError(ValueError):
    """An instruction could not be understood; the message says what to try."""


@dataclass(frozen=True)
class ParsedOp:
    """One understood op: what to do, to which phrase (English), how strongly."""

    op: OpKind
    phrase: str
    weight: float
    clause: str


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


# -- English ------------------------------------------------------------------

_EN_STRONG = r"(?:a lot|lots|much|way|far|many|really|even|tons|a whole lot|loads)"
_EN_MILD = r"(?:a (?:bit|little|tad|touch)|slightly|somewhat|a little bit)"
_EN_INTENSITY = re.compile(rf"\b(?:{_EN_STRONG}|{_EN_MILD})\b")

_EN_RULES: tuple[tuple[OpKind, re.Pattern[str]], ...] = tuple(
    (cast(OpKind, op), re.compile(pattern))
    for op, pattern in (
        ("reset", r"^(?:please )?(?:(?:go|get|put (?:it|everything)) )?back to normal$"),
        ("reset", r"^(?:please )?(?:reset|clear|undo|remove)(?: (?:all|everything|my|the))*"
                  r"(?: (?:steering|filters|instructions|preferences|feed))*$"),
        ("reset", r"^(?:start over|forget (?:all|everything|what i said))$"),
        ("exclude", r"^(?:please )?(?:no more|no|zero|never show(?: me)?|stop showing(?: me)?"
                    r"|don'?t show(?: me)?|do not show(?: me)?|block|ban|hide(?: all)?|without"
                    r"|i (?:don'?t|do not) want(?: to see)?(?: any)?|i never want to see"
                    r"|get rid of|nothing (?:with|about))\s+(?P<phrase>.+)$"),
        ("only", r"^(?:please )?(?:show(?: me)?|give me|i want)\s+(?:only|just)\s+(?P<phrase>.+)$"),
        ("only", r"^(?:only|just|nothing but|exclusively)\s+(?:show(?: me)?\s+)?(?P<phrase>.+)$"),
        ("suppress", rf"^(?:please )?(?:(?:{_EN_STRONG}|{_EN_MILD})\s+)?(?:less|fewer)"
                     r"(?: of)?\s+(?P<phrase>.+)$"),
        ("suppress", r"^(?:not so much|not as much|tone down|cut down on|cut back on|reduce"
                     r"|dial down|dial back|i'?m tired of|i am tired of|enough(?: with)?"
                     r"|too much)\s+(?P<phrase>.+)$"),
        ("suppress", r"^(?P<phrase>.+?)\s+(?:less|less often|a bit less|a little less)$"),
        ("boost", rf"^(?:please )?(?:(?:show|give) me\s+)?(?:(?:{_EN_STRONG}|{_EN_MILD})\s+)?"
                  r"more(?: of)?\s+(?P<phrase>.+)$"),
        ("boost", r"^(?:please )?(?:show me|give me|i want(?: to see)?|i'?d like(?: to see)?"
                  r"|i would like(?: to see)?|let me see|i (?:really )?(?:like|love)|bring on"
                  r"|bring me|find me|can i (?:get|see)|i'?m into|i am into|i'?m in the mood for"
                  r"|boost|increase|more)\s+(?P<phrase>.+)$"),
        ("boost", r"^(?P<phrase>.+?)\s+(?:please|pls|more)$"),
    )
)  # fmt: skip

_BARE_OP_WORDS = {"no", "more", "less", "fewer", "only", "just", "stop", "show", "show me",
                  "give me", "please", "never", "not", "none", "hide", "block"}  # fmt: skip
_EN_LEADING_FILLER = re.compile(
    r"^(?:(?:some|any|the|a|an|of|me|those|these|with|all|kind of|sort of|the kind of"
    r"|things?|stuff|videos?|clips?|ones?|content|more)\s+)+"
)
_EN_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:ones?|stuff|videos?|clips?|content|please|pls|for me|in my feed|on my feed"
    r"|anymore|any more|again|now|too|as well|instead|thanks|thank you|today|lately))+$"
)
_EN_RELATIVE = re.compile(r"^(?:(?:stuff|things?|videos?|clips?|ones?)\s+)?(?:that|which|who)\s+")
_EN_CLAUSE_SPLIT = re.compile(
    r"\s*[,;!?]\s*|\s*\.\s+|\s+(?:and|but|plus|also|then|while)\s+"
    r"(?=(?:a (?:lot|bit|little)\s+|much\s+|way\s+|slightly\s+)?"
    r"(?:more|less|fewer|no|only|just|stop|show|give|never|don'?t|do not|i|please|hide|block)\b)"
)

# -- Japanese -----------------------------------------------------------------

_JA_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_JA_STRONG = r"(?:もっともっと|すごく|めっちゃ|かなり|たくさん|とても|うんと|いっぱい)"
_JA_MILD = r"(?:ちょっと|少し|すこし|やや|ちょっとだけ|少しだけ)"
_JA_CLAUSE_SPLIT = re.compile(
    r"\s*(?:[、。,;!?！？]|けど|けれど|が、|で、|あと|それと|それから)\s*"
)
_JA_RULES: tuple[tuple[OpKind, re.Pattern[str]], ...] = tuple(
    (cast(OpKind, op), re.compile(pattern))
    for op, pattern in (
        ("reset", r"^(?:元に戻して|もとに戻して|リセット(?:して)?|普通に戻して|元通りに(?:して)?|全部解除(?:して)?)"
                  r"(?:ください)?$"),
        ("exclude", r"^(?P<phrase>.+?)(?:は|を|が|なんて)?(?:もう)?(?:見たくない|見せないで|いらない|要らない"
                    r"|表示しないで|出さないで|禁止|なしで|無しで|はなし|やめて|NG|ナシで|ナシ|お断り)"
                    r"(?:ください|です)?$"),
        ("only", r"^(?P<phrase>.+?)(?:だけ|のみ|ばっかり|ばかり)(?:を|に|で)?(?:見せて|見たい|にして|表示して)?"
                 r"(?:ください)?$"),
        ("suppress", r"^(?P<phrase>.+?)(?:は|を|が)?(?:少なめ|少なく|減らして|控えめ|ほどほど|少なくして"
                     r"|あまり見たくない|多すぎ)(?:に|で)?(?:して)?(?:ください|お願い)?$"),
        ("boost", r"^(?:もっと|もう少し|もうちょっと)(?P<phrase>.+?)$"),
        ("boost", r"^(?P<phrase>.+?)(?:を|が|も)?(?:もっと|多めで?|増量)(?:ください|お願い)?$"),
        ("boost", r"^(?P<phrase>.+?)(?:を|が|も)?(?:もっと)?(?:見せて|見たい|増やして|多めに?|多く"
                  r"|ください|お願い|がいい|が好き|好き)(?:して)?(?:ください)?$"),
    )
)  # fmt: skip
_JA_PHRASE_SUFFIX = re.compile(
    r"(?:に(?:して)?|を|が|は|の(?:やつ|もの|動画|を)?|な(?:感じ|の)?|で|っぽいの|っぽい|っぽく|風(?:の|な)?"
    r"|系(?:の)?|的な|みたいな(?:の)?|のような|動画|ください|して|見せて)+$"
)
_JA_PHRASE_PREFIX = re.compile(rf"^(?:{_JA_STRONG}|{_JA_MILD}|もっと)+")


def _intensity_en(clause: str) -> float:
    found = _EN_INTENSITY.findall(clause)
    if not found:
        return 1.0
    return MILD if re.match(_EN_MILD, found[0]) else STRONG


def _clean_en(phrase: str) -> str:
    phrase = _EN_INTENSITY.sub(" ", phrase)
    phrase = re.sub(r"\s+", " ", phrase).strip()
    phrase = _EN_RELATIVE.sub("", phrase)
    phrase = _EN_LEADING_FILLER.sub("", phrase)
    phrase = _EN_TRAILING_FILLER.sub("", phrase)
    return phrase.strip(" '\"")


def _clean_ja(phrase: str) -> str:
    phrase = _JA_PHRASE_PREFIX.sub("", phrase.strip())
    previous = None
    while previous != phrase:
        previous = phrase
        phrase = _JA_PHRASE_SUFFIX.sub("", phrase)
    return phrase.strip()


def _intensity_ja(clause: str) -> float:
    if re.search(_JA_MILD, clause):
        return MILD
    if re.search(_JA_STRONG, clause):
        return STRONG
    return 1.0


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip()


def _parse_clause(
    clause: str,
    previous: OpKind | None,
    rules: tuple[tuple[OpKind, re.Pattern[str]], ...],
    bare_boost: bool,
) -> tuple[OpKind, str] | None:
    """(op, raw phrase) of one clause by the first matching rule, or None."""
    for op, pattern in rules:
        match = pattern.match(clause)
        if match:
            return op, match.groupdict().get("phrase") or ""
    if previous in ("boost", "suppress", "exclude", "only"):
        # "more cats, dogs and birds": a bare list item inherits the previous op.
        return previous, clause
    if bare_boost and previous is None:
        # A bare description ("stuff that looks like a Japanese cartoon") asks for more of it.
        return "boost", clause
    return None


def parse_instruction(text: str, glossary: Glossary) -> list[ParsedOp]:
    """Parse an instruction into ops; raise InstructionError if nothing is understood.

    Every clause must be understood: a half-understood instruction is refused
    rather than partly applied.
    """
    if not isinstance(text, str):
        raise InstructionError("instruction must be text")
    text = _normalise(text)
    if not text:
        raise InstructionError("instruction is empty")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InstructionError(f"instruction is longer than {MAX_INSTRUCTION_CHARS} characters")
    japanese = bool(_JA_CHARS.search(text))
    splitter = _JA_CLAUSE_SPLIT if japanese else _EN_CLAUSE_SPLIT
    clauses = [c.strip() for c in splitter.split(text if japanese else text.lower()) if c.strip()]
    if not clauses:
        raise InstructionError("instruction has no words to understand")
    ops: list[ParsedOp] = []
    previous: OpKind | None = None
    for clause in clauses:
        if _JA_CHARS.search(clause):
            parsed = _parse_clause(clause, previous, _JA_RULES, bare_boost=False)
            if parsed is None:
                raise InstructionError(
                    f"could not understand {clause!r}; try 「もっと…」 or 「…は見たくない」"
                )
            op, raw = parsed
            phrase = ""
            if op != "reset":
                cleaned = _clean_ja(raw)
                phrase = glossary.translate(cleaned) or ""
                if not phrase and cleaned and not _JA_CHARS.search(cleaned):
                    phrase = _clean_en(cleaned.lower())
                if not phrase:
                    raise InstructionError(f"no known concept in {raw!r} (clause {clause!r})")
            weight = _intensity_ja(clause)
        else:
            bare = bool(re.search(r"[a-z]", clause)) and clause not in _BARE_OP_WORDS
            parsed = _parse_clause(clause, previous, _EN_RULES, bare_boost=bare)
            if parsed is None:
                raise InstructionError(
                    f"could not understand {clause!r}; try 'more X', 'less X', 'no X' or 'only X'"
                )
            op, raw = parsed
            phrase = "" if op == "reset" else _clean_en(raw)
            if op != "reset" and not phrase:
                raise InstructionError(f"{clause!r} names nothing to {op}")
            weight = _intensity_en(clause) if op in ("boost", "suppress") else 1.0
        if op in ("exclude", "only", "reset"):
            weight = 1.0
        ops.append(ParsedOp(op, phrase, weight, clause))
        previous = op
    if len(ops) > MAX_OPS_PER_INSTRUCTION:
        raise InstructionError(f"more than {MAX_OPS_PER_INSTRUCTION} instructions at once")
    return ops
