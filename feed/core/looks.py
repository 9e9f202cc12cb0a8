"""Looks a request may name, and the words that mark each in a clip's text.

A clip's prompt often says how it is made rather than the look's name ("plasticine",
「粘土」 for claymation; "cut paper" for papercraft), and the sentence encoders place the
name only loosely near those words. `Looks.marks` gives, for a phrase that names a look,
the words whose presence in a clip's text marks it (data/lexicon/looks.toml), so that
the clip matches the phrase the way a clip that names it outright does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
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
    """Each look's name (lower-cased) → the marks of that look."""

    marks_of: Mapping[str, tuple[str, ...]]

    @classmethod
    def load(cls, path: Path = LOOKS_PATH) -> Looks:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        marks_of: dict[str, tuple[str, ...]] = {}
        for look, entry in data.get("looks", {}).items():
            names, marks = entry.get("names", []), entry.get("marks", [])
            if not names or not marks:
                raise ValueError(f"{path}: look {look!r} needs names and marks")
            for name in names:
                key = _key(name)
                if key in marks_of and marks_of[key] != tuple(marks):
                    raise ValueError(f"{path}: {name!r} names two looks")
                marks_of[key] = tuple(marks)
        return cls(marks_of)

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


@cache
def shipped_looks() -> Looks:
    """The looks shipped in data/lexicon/looks.toml, read once."""
    return Looks.load()
