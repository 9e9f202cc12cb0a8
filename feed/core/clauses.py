"""Split a clip's prompt into clauses, so each can be embedded on its own.

One vector per prompt blends its look with its content ("a porcelain doll
turning its head, claymation" reads mostly as claymation to a sentence model).
Clause vectors keep the two apart: a phrase can then match a clip through its
best clause. Splitting is punctuation and connectives only, with no list of
styles or topics, so it carries over to prompts in any voice:

- commas, semicolons, colons, "|", " - " and dashes, brackets and parentheses;
- sentence ends (". ", "! ", "? ", "...", "。");
- hashtags: each is a clause of its own, without the "#";
- the turn to a style phrase: before "rendered as", "in the style of",
  "now as", "like a", "in … style/look/vibes", a short trailing "as …" or
  "in …" without an article ("in watercolour", "as chunky pixel sprites"),
  and after a short leading "… of a" ("Claymation of a zombie …").

Clauses without a letter or digit (emoji, punctuation) are dropped; a prompt
with no split point comes back whole.
"""

from __future__ import annotations

import re

_HASHTAG = re.compile(r"#(\w+)")
_EMOJI = "\u2600-\u27bf\ufe0f\U0001f000-\U0001faff"
_HARD = re.compile(
    r"\s*(?:[,;:|()\[\]{}（）「」、；：]|\s[-–—]+\s|[.!?…]+(?=\s|$)|[。！？]+)\s*"
    rf"|(?<=[{_EMOJI}])\s+"
)
_ARTICLES = r"(?:a|an|the|my|his|her|their|our|your|this|that|these|those|some|one|two|three)"
# Connectives that open a style phrase: the clause splits before them.
_CONNECTIVE = re.compile(
    r"\s+(?=(?:rendered as|in the style of|now as|like an?|made (?:out )?of"
    r"|in (?:[\w-]+ ){0,2}[\w-]+ (?:style|look|vibes|aesthetic))\b)",
    re.IGNORECASE,
)
# A short tail without an article: "… as chunky pixel sprites", "… in soft watercolors".
_TAIL = re.compile(rf"\s+(?=(?:as (?:\S+ ){{0,4}}|in (?!{_ARTICLES}\b)(?:\S+ ){{0,2}})\S+$)", re.I)
# A short head before "of a …": "Hyperrealistic 4K footage of a …", "Anime of the …".
_HEAD = re.compile(
    rf"^(?!{_ARTICLES}\b|in\b|on\b|at\b)((?:\S+ ){{0,3}}\S+) of (?={_ARTICLES}\b)", re.I
)
_WORD = re.compile(r"\w")


def _split_style(clause: str) -> list[str]:
    head = _HEAD.match(clause)
    pieces = [head.group(1), clause[head.end() :]] if head else [clause]
    out: list[str] = []
    for piece in pieces:
        for part in _CONNECTIVE.split(piece):
            out.extend(
                _TAIL.split(part, maxsplit=1) if not _CONNECTIVE.match(" " + part) else [part]
            )
    return out


def split_clauses(text: str) -> list[str]:
    """The clauses of `text` in order, stripped; `[text.strip()]` when there is nothing to split."""
    body = _HASHTAG.sub(r" | \1 | ", text)
    clauses: list[str] = []
    for part in _HARD.split(body):
        for clause in _split_style(part.strip()):
            clause = clause.strip(" \t\n\"'“”‘’*_~")
            if _WORD.search(clause):
                clauses.append(clause)
    return clauses or [text.strip()]
