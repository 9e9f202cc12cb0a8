"""Held-out steering instructions as the words simulated users say.

A simulator whose users speak the phrasings the parser was written for makes
steering adherence circular. Simulated users instead draw their words from the
held-out steering corpus (data/steering/heldout.toml: hand-written
instructions in English, Japanese and a mix of both, never used to write or
train the parser), each case with the ops and concepts it expresses:

    [[case]]
    id = "ja-017"
    text = "ホラーはもう勘弁"
    lang = "ja"                  # "en", "ja" or "mixed"
    kind = "negation"            # how it is worded: plain, typo, slang, multi, ...
    ops = [{op = "exclude", concept = "ホラー", accept = ["suppress"]}]
    catalog = "a"                # optional: the labelled catalog holding the target
    target = "horror"            # optional: that catalog's label the first op moves

`accept` lists other ops also counted right where the strength is honestly
ambiguous. A case is usable when every op it expresses is one a simulated user
can mean (boost, suppress, exclude) and names a tag of the simulation's catalog
(the demo catalog's styles and topics): the first op by its `target` label
("photoreal" names "photorealistic", "noir" names "film noir"), any op by its
concept naming a tag (Japanese concepts through a translation, the glossary's).
The rest are counted and left out.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from feed.resources import DATA_DIR

HELDOUT_PATH = DATA_DIR / "steering" / "heldout.toml"
LANGS = ("en", "ja", "mixed")
SIMULATED_OPS = ("boost", "suppress", "exclude")
MIN_PREFIX = 4

Translate = Callable[[str], str | None]


class CorpusError(ValueError):
    """The corpus file cannot be used; the message names the case and the problem."""


@dataclass(frozen=True)
class ExpectedOp:
    """One op a case expresses: its kind, the concept it is about (verbatim from the
    text), and `accept` (other ops the corpus also counts as right)."""

    op: str
    concept: str
    accept: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeldoutCase:
    """One hand-written instruction with what it means."""

    id: str
    text: str
    lang: str
    kind: str
    ops: tuple[ExpectedOp, ...]
    target: str | None = None
    catalog: str | None = None


@dataclass(frozen=True)
class Phrasing:
    """A usable case: the words, and the (op, tag) intents they express on this catalog;
    the first intent is the one the case is chosen for when drawn for it."""

    case: HeldoutCase
    intents: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Phrasebook:
    """Usable cases by (op, tag) intent, and how many of the corpus's cases were usable."""

    phrasings: tuple[Phrasing, ...]
    total: int
    source: str

    def fitting(self, op: str, tag: str, langs: Sequence[str]) -> list[Phrasing]:
        """Cases in one of `langs` that express `op` on `tag`."""
        return [p for p in self.phrasings if p.case.lang in langs and (op, tag) in p.intents]

    def summary(self) -> str:
        """One line: usable out of total, by language."""
        by_lang = {lang: sum(p.case.lang == lang for p in self.phrasings) for lang in LANGS}
        langs = ", ".join(f"{n} {lang}" for lang, n in by_lang.items() if n)
        return (
            f"{len(self.phrasings)} of {self.total} held-out cases fit the catalog's tags"
            f" ({langs or 'none'}) from {self.source}"
        )


def _text(value: object, where: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CorpusError(f"{where} must be a non-empty string")
    return value


def load_heldout(path: Path = HELDOUT_PATH) -> tuple[HeldoutCase, ...]:
    """Read a held-out corpus; raises CorpusError (one line) for a missing or malformed file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise CorpusError(f"no held-out steering corpus at {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{path}: not valid TOML ({exc})") from exc
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list) or not raw_cases:
        raise CorpusError(f"{path}: no [[case]] tables")
    cases = []
    for n, raw in enumerate(raw_cases):
        where = f"{path.name} case {raw.get('id', n) if isinstance(raw, dict) else n}"
        if not isinstance(raw, dict):
            raise CorpusError(f"{where} must be a table")
        lang = raw.get("lang")
        if lang not in LANGS:
            raise CorpusError(f"{where}: lang must be one of {LANGS}")
        raw_ops = raw.get("ops", [])
        if not isinstance(raw_ops, list):
            raise CorpusError(f"{where}: ops must be a list of tables")
        ops = []
        for op in raw_ops:
            if not isinstance(op, dict):
                raise CorpusError(f"{where}: ops must be a list of tables")
            accept = op.get("accept", [])
            accept = [accept] if isinstance(accept, str) else accept
            if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
                raise CorpusError(f"{where}: accept must be a list of strings")
            ops.append(
                ExpectedOp(
                    str(_text(op.get("op"), f"{where} op")),
                    str(op.get("concept") or ""),
                    tuple(accept),
                )
            )
        cases.append(
            HeldoutCase(
                id=str(_text(str(raw.get("id", n)), f"{where} id")),
                text=str(_text(raw.get("text"), f"{where} text")),
                lang=str(lang),
                kind=str(raw.get("kind") or "plain"),
                ops=tuple(ops),
                target=_text(raw.get("target"), f"{where} target", required=False),
                catalog=_text(raw.get("catalog"), f"{where} catalog", required=False),
            )
        )
    return tuple(cases)


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", " ", folded).strip()


def match_tag(words: str, tags: Sequence[str]) -> str | None:
    """The one tag `words` names (equal; a prefix or a whole word of it, of at least four
    letters, such as "photoreal" or "noir"; or containing the tag as whole words); None
    when none or several do."""
    text = _norm(words)
    if not text:
        return None
    exact = [t for t in tags if _norm(t) == text]
    if exact:
        return exact[0]
    found = set()
    for tag in tags:
        norm = _norm(tag)
        part = len(text) >= MIN_PREFIX and (norm.startswith(text) or text in norm.split())
        if part or re.search(rf"(?<!\w){re.escape(norm)}(?!\w)", text):
            found.add(tag)
    return found.pop() if len(found) == 1 else None


def _tag_of(
    case: HeldoutCase, index: int, tags: Sequence[str], translate: Translate | None
) -> str | None:
    """The tag op `index` of a case is about: the target for the first op, else its concept."""
    if index == 0 and case.target:
        tag = match_tag(case.target, tags)
        if tag is not None:
            return tag
    concept = case.ops[index].concept
    tag = match_tag(concept, tags)
    if tag is None and translate is not None and not concept.isascii():
        tag = match_tag(translate(concept) or "", tags)
    return tag


def build_phrasebook(
    cases: Sequence[HeldoutCase],
    tags: Sequence[str],
    source: str = "held-out corpus",
    translate: Translate | None = None,
) -> Phrasebook:
    """The cases a simulated user can say on a catalog with these tags."""
    usable = []
    for case in cases:
        if not case.ops or any(op.op not in SIMULATED_OPS for op in case.ops):
            continue
        intents = [(op.op, _tag_of(case, i, tags, translate)) for i, op in enumerate(case.ops)]
        if any(tag is None for _, tag in intents):
            continue
        usable.append(Phrasing(case, tuple((op, str(tag)) for op, tag in intents)))
    return Phrasebook(tuple(usable), len(cases), source)
