"""Looks a request may name, and the words that mark each in a clip's text.

A clip's prompt often says how it is made rather than the look's name ("plasticine",
「粘土」 for claymation; "cut paper" for papercraft), and the sentence encoders place the
name only loosely near those words. `Looks.marks` gives, for a phrase that names a look,
the words whose presence in a clip's text marks it (data/lexicon/looks.toml), so that
the clip matches the phrase the way a clip that names it outright does.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from feed.resources import DATA_DIR

LOOKS_PATH = DATA_DIR / "lexicon" / "looks.toml"
# Words a request adds to a look's name without changing it: "claymation style",
# "pixel art stuff", 「水彩風の」.
_TRAILING = ("style", "styled", "look", "looks", "aesthetic", "stuff", "videos", "video",
             "clips", "clip", "ones", "animation", "animations", "art")  # fmt: skip


@dataclass(frozen=True)
class Looks:
    """Each look's name (lower-cased) → the marks of that look; and each mark that a
    longer word of another meaning holds (anime's セル画 inside ピクセル画, pixel art) → a
    pattern of the mark outside those words (a look's `unless_in`; they hold for every
    look that has the mark)."""

    marks_of: Mapping[str, tuple[str, ...]]
    outside: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = LOOKS_PATH) -> Looks:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        marks_of: dict[str, tuple[str, ...]] = {}
        held_by: dict[str, set[str]] = {}  # a mark → the longer words it does not mark in
        for look, entry in data.get("looks", {}).items():
            names, marks = entry.get("names", []), entry.get("marks", [])
            if not names or not marks:
                raise ValueError(f"{path}: look {look!r} needs names and marks")
            for name in names:
                key = _key(name)
                if key in marks_of and marks_of[key] != tuple(marks):
                    raise ValueError(f"{path}: {name!r} names two looks")
                marks_of[key] = tuple(marks)
            for word in map(_key, entry.get("unless_in", [])):
                inside = [_key(m) for m in marks if _key(m) in word and _key(m) != word]
                if not inside:
                    raise ValueError(f"{path}: {word!r} holds no mark of look {look!r}")
                for mark in inside:
                    held_by.setdefault(mark, set()).add(word)
        outside = {mark: _outside(mark, sorted(words)) for mark, words in held_by.items()}
        return cls(marks_of, outside)

    def marks(self, *readings: str | None) -> tuple[str, ...]:
        """The marks of the look one of `readings` (a phrase as typed, as usually written,
        in English) names; () when none names a look."""
        for reading in readings:
            if not reading:
                continue
            key = _key(reading)
            if key in self.marks_of:
                return self.marks_of[key]
            words = key.split()
            while len(words) > 1 and words[-1] in _TRAILING:
                words.pop()
                if " ".join(words) in self.marks_of:
                    return self.marks_of[" ".join(words)]
            for suffix in ("風", "調", "っぽい", "系"):
                if key.endswith(suffix) and key[: -len(suffix)] in self.marks_of:
                    return self.marks_of[key[: -len(suffix)]]
        return ()


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _outside(mark: str, longer: list[str]) -> re.Pattern[str]:
    """A pattern of `mark` where it is not part of any of the `longer` words that hold it:
    at each place it may start, for each longer word, either the word's part before the
    mark is not just before, or its part after the mark does not follow."""
    m = re.escape(mark)
    conditions = []
    for word in longer:
        at = 0
        while (at := word.find(mark, at)) >= 0:
            before, after = re.escape(word[:at]), re.escape(word[at + len(mark) :])
            if before and after:
                conditions.append(f"(?:(?<!{before})|(?={m}(?!{after})))")
            elif before:
                conditions.append(f"(?<!{before})")
            else:
                conditions.append(f"(?={m}(?!{after}))")
            at += 1
    return re.compile("".join(conditions) + m)


@cache
def shipped_looks() -> Looks:
    """The looks shipped in data/lexicon/looks.toml, read once."""
    return Looks.load()
