"""Scoring how well instructions are understood: ops, concepts and inversions.

Pure: a case's expected ops (feed/evaluation/data.py) against what a reader made of
its text. A case's ops are right when the reader found the same number of ops, each
one allowed by the expected op at its position (an ask is right only where the case
expects one; a refusal only where it expects none). A concept is right when it names
the same words once case, spacing and style suffixes ("style", っぽい, 風, 系) are set
aside; a phrase that is exactly one of the case's concepts names that one alone. An
inversion is an applied op whose polarity is the opposite of what the person asked for
the same concept — the one error the engine must never make.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from feed.core.steering import AmbiguousInstruction, InstructionError, Reader
from feed.evaluation.data import POLARITY, HeldoutCase

_SUFFIXES = re.compile(
    r"(?:styled?|videos?|clips?|stuff|ones?|content|っぽいの|っぽい|ぽい|風の|風|系の|系|的な|動画|もの|やつ|の)+$"
)
_PREFIXES = re.compile(r"^(?:the|a|an|some|any|more|less)(?=\s)")


@dataclass(frozen=True)
class Reading:
    """What a reader made of one instruction.

    `kind` is "ops" (applied), "ask" (it asked between `readings`) or "refused" (an error
    it would show). `ops` are (op, phrase) pairs of the applied reading, or of every
    alternative when it asked.
    """

    kind: str
    ops: tuple[tuple[str, str], ...]
    message: str = ""


@dataclass(frozen=True)
class CaseScore:
    """One case's verdicts."""

    case: HeldoutCase
    reading: Reading
    ops_right: bool
    concepts_right: int
    concepts_total: int
    inversions: int


def same_concept(found: str, expected: str) -> bool:
    """True when two concept strings name the same thing (case, spacing and suffixes aside)."""
    a, b = _key(found), _key(expected)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return short in long_ and len(short) >= 0.6 * len(long_)


def _meant(found: str, expected: str, named: Collection[str]) -> bool:
    """Whether a phrase read is the expected concept: the same concept, unless it is
    exactly another one the case names (`named`: their `_key`s). "magic tricks yes,
    magic trick reveals no": the boost of "magic tricks" is no boost of "magic trick
    reveals"."""
    if not same_concept(found, expected):
        return False
    key = _key(found)
    return key == _key(expected) or key not in named


def _key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = _PREFIXES.sub("", text).strip()
    text = re.sub(r"[\s\-_'’.,!?！？、。]+", "", text)
    previous = None
    while previous != text:
        previous = text
        text = _SUFFIXES.sub("", text) if len(text) > 2 else text
    return text.removesuffix("s") if text.isascii() and len(text) > 3 else text


def score_case(case: HeldoutCase, reading: Reading) -> CaseScore:
    """Verdicts for one case."""
    expected = case.ops
    want = [e.op for e in expected]
    concepts_total = sum(1 for e in expected if e.concept and e.op not in ("none", "reset"))
    if want == ["none"]:
        return CaseScore(case, reading, reading.kind == "refused", 0, 0, 0)
    if "ask" in want:
        return CaseScore(case, reading, reading.kind == "ask", 0, concepts_total, 0)
    if reading.kind != "ops":
        return CaseScore(case, reading, False, 0, concepts_total, 0)
    found = list(reading.ops)
    ops_right = len(found) == len(expected) and all(
        e.allows(op) for e, (op, _) in zip(expected, found, strict=True)
    )
    concepts_right = 0
    inversions = 0
    named = {_key(e.concept) for e in expected if e.concept and e.op not in ("none", "reset")}
    for e in expected:
        if not e.concept or e.op in ("none", "reset"):
            continue
        matches = [op for op, phrase in found if _meant(phrase, e.concept, named)]
        if matches:
            concepts_right += 1
        if any(POLARITY[op] * POLARITY[e.op] < 0 for op in matches):
            inversions += 1
    # An op that matches no expected concept still inverts the request when every
    # expected op points the other way ("nothing scary" read as "more scary stuff").
    signs = {POLARITY[e.op] for e in expected if POLARITY[e.op]}
    if len(signs) == 1 and not inversions:
        sign = signs.pop()
        inversions += sum(1 for op, _ in found if POLARITY[op] * sign < 0)
    return CaseScore(case, reading, ops_right, concepts_right, concepts_total, inversions)


@dataclass(frozen=True)
class UnderstandingSummary:
    """Totals over a set of cases."""

    cases: int
    ops_right: int
    concepts_right: int
    concepts_total: int
    inversions: int
    asked: int
    refused: int

    @property
    def op_accuracy(self) -> float:
        """Share of cases whose ops were all right."""
        return self.ops_right / max(self.cases, 1)

    @property
    def concept_accuracy(self) -> float:
        """Share of expected concepts the reader named."""
        return self.concepts_right / max(self.concepts_total, 1)


def summarise(scores: Sequence[CaseScore]) -> UnderstandingSummary:
    """Totals of case scores."""
    return UnderstandingSummary(
        cases=len(scores),
        ops_right=sum(s.ops_right for s in scores),
        concepts_right=sum(s.concepts_right for s in scores),
        concepts_total=sum(s.concepts_total for s in scores),
        inversions=sum(s.inversions for s in scores),
        asked=sum(s.reading.kind == "ask" for s in scores),
        refused=sum(s.reading.kind == "refused" for s in scores),
    )


def read_instruction(reader: Reader, text: str) -> Reading:
    """What `reader` makes of `text`, as a Reading (never raises for bad instructions)."""
    try:
        ops = reader.read(text)
    except AmbiguousInstruction as exc:
        alternatives = tuple((o.op, o.phrase) for r in exc.readings for o in r)
        return Reading("ask", alternatives, str(exc))
    except InstructionError as exc:
        return Reading("refused", (), str(exc))
    return Reading("ops", tuple((o.op, o.phrase) for o in ops))
