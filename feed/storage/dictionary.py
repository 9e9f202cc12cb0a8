"""Japanese words → English, from JMdict and JMnedict (the `jamdict-data` package).

The English-only text towers (MiniLM, CLIP's text tower) cannot read a Japanese phrase.
They read its English instead: each word of the phrase looked up in the Electronic
Dictionary Research and Development Group's dictionaries (JMdict for words, JMnedict for
names such as ピクサー → Pixar), the phrase cut into the longest words the dictionaries
hold. The dictionaries ship as one SQLite file, read here without loading it.

Licence: JMdict and JMnedict are the property of the EDRDG and used under its licence
(Creative Commons Attribution-ShareAlike); the file carries the notice.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embeddings.encoders import EncoderUnavailable

# Longest word looked up, in characters (JMdict words longer than this are phrases).
MAX_WORD = 12
MAX_CACHED = 100_000  # words (found or not) remembered between lookups
# A first sense with one of these parts of speech is grammar, not a concept.
_GRAMMAR = ("particle", "auxiliary", "conjunction", "copula", "suffix", "prefix", "counter")
# A written form's frequency rank (see `_look_up`); {table} is KJP or KNP.
_RANK = (
    "COALESCE((SELECT MIN(CASE WHEN p.text LIKE 'nf%' THEN CAST(substr(p.text, 3) AS INTEGER)"
    " ELSE 49 END) FROM {table} AS p WHERE p.kid = ID), 99)"
)
_HIRAGANA = re.compile(r"^[\u3041-\u309fー]+$")
_PARENTHESES = re.compile(r"\s*\([^()]*\)")  # innermost first: "(Canis (lupus) ...)"
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f々〆ヶ]")


def katakana(text: str) -> str:
    """Hiragana in `text` written as katakana (ぴえろ → ピエロ); anything else unchanged."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


class BilingualDictionary:
    """English glosses for Japanese words (thread-safe; lookups cached)."""

    def __init__(self, path: Path) -> None:
        uri = f"file:{path}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._glosses: dict[str, str | None] = {}
        self._written: dict[str, str | None] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> BilingualDictionary:
        """Open the dictionary file (default: the one `jamdict-data` installs)."""
        if path is None:
            try:
                import jamdict_data
            except ImportError as exc:
                raise EncoderUnavailable("jamdict-data is not installed") from exc
            path = Path(jamdict_data.JAMDICT_DB_PATH)
        if not path.is_file():
            raise EncoderUnavailable(f"no dictionary file at {path}")
        return cls(path)

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def gloss(self, word: str) -> str | None:
        """The English of one dictionary word (its most common entry's first sense), or
        None. A word written in hiragana is also looked up in katakana (ぴえろ → ピエロ)."""
        found = self.glosses([word])
        return found.get(word)

    def glosses(self, words: list[str]) -> dict[str, str]:
        """English of each of `words` the dictionaries hold (one query for all of them)."""
        wanted = [w for w in dict.fromkeys(words) if w not in self._glosses]
        if wanted:
            found = self._look_up(wanted)
            missing = [w for w in wanted if w not in found and _HIRAGANA.match(w)]
            if missing:
                as_katakana = self._look_up([katakana(w) for w in missing])
                found.update({w: as_katakana[katakana(w)] for w in missing
                              if katakana(w) in as_katakana})  # fmt: skip
            with self._lock:
                if len(self._glosses) + len(wanted) > MAX_CACHED:
                    self._glosses.clear()  # phrases are cut into many pieces: stay bounded
                for w in wanted:
                    self._glosses[w] = found.get(w)
            return {w: g for w in words if (g := found.get(w) or self._glosses.get(w))}
        return {w: g for w in words if (g := self._glosses.get(w)) is not None}

    def written(self, word: str) -> str | None:
        """How a word typed in hiragana is usually written (りょうり → 料理, ぴえろ → ピエロ),
        or None: it is not all hiragana, already usual, or unknown."""
        if not _HIRAGANA.match(word):
            return None
        with self._lock:
            if word not in self._written:
                if len(self._written) >= MAX_CACHED:
                    self._written.clear()
                self._written[word] = self._usual_form(word)
            return self._written[word]

    def _usual_form(self, word: str) -> str | None:
        # The commonest entry read this way (by the reading's frequency band, see
        # `_look_up`), written in its commonest kanji, unless JMdict says the word is
        # usually written in kana alone (もう, きのこ) or has no kanji at all.
        rank = _RANK.format(table="KNP").replace("= ID", "= r.ID")
        entry = self._db.execute(
            f"SELECT r.idseq, r.nokanji, {rank} AS rank FROM Kana AS r WHERE r.text = ?"
            " ORDER BY rank, r.idseq LIMIT 1",  # noqa: S608 - a fixed expression
            (word,),
        ).fetchone()
        if entry is None:
            if self._is_kana(katakana(word)):
                return katakana(word)  # a loanword typed in hiragana (ぴえろ)
            return None
        idseq, nokanji, reading_rank = entry
        if nokanji or reading_rank >= 99 or self._kana_alone(idseq):
            return None
        kanji = self._db.execute(
            f"SELECT text FROM Kanji WHERE idseq = ? ORDER BY {_RANK.format(table='KJP')}, ID"
            " LIMIT 1",  # noqa: S608 - a fixed expression
            (idseq,),
        ).fetchone()
        return None if kanji is None else str(kanji[0])

    def _kana_alone(self, idseq: int) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM misc WHERE text = 'word usually written using kana alone'"
                " AND sid = (SELECT MIN(ID) FROM Sense WHERE idseq = ?)",  # its first sense
                (idseq,),
            ).fetchone()
            is not None
        )

    def _is_kana(self, text: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM Kana WHERE text = ? LIMIT 1", (text,)).fetchone()
            is not None
        )

    def translate(self, text: str, overrides: Mapping[str, str] | None = None) -> str | None:
        """English for a Japanese phrase: its words, longest first, each as its gloss;
        None when no word of it is known. `overrides` (e.g. a hand-made glossary) are
        looked up before the dictionary. Latin words in the phrase are kept as written.
        """
        text = unicodedata.normalize("NFKC", text).strip()
        if not text:
            return None
        overrides = overrides or {}
        spans = {
            text[i:j]
            for i in range(len(text))
            for j in range(i + 1, min(len(text), i + MAX_WORD) + 1)
            if _JAPANESE.search(text[i:j])
            # A short hiragana piece of a longer phrase is a particle (と, の), not a word.
            and not (len(text[i:j]) <= 2 < len(text) and _HIRAGANA.match(text[i:j]))
        }
        known = self.glosses(sorted(spans - overrides.keys()))
        known.update({s: overrides[s] for s in spans if s in overrides})
        out: list[str] = []
        i = 0
        while i < len(text):
            j = next(
                (j for j in range(min(len(text), i + MAX_WORD), i, -1) if text[i:j] in known),
                None,
            )
            if j is None:
                k = i
                while k < len(text) and not _JAPANESE.match(text[k]):
                    k += 1
                if any(c.isalnum() for c in text[i:k]):
                    out.append(text[i:k].strip())  # Latin text stays as written
                i = max(k, i + 1)
                continue
            english = known[text[i:j]]
            if english not in out:
                out.append(english)
            i = j
        return " ".join(out) or None

    def _look_up(self, words: list[str]) -> dict[str, str]:
        marks = ",".join("?" * len(words))
        # Among entries written the same way, the most frequent first: JMdict ranks common
        # words by newspaper frequency band ("nf01" commonest .. "nf48"), then other
        # priority marks (49), then none (99). Names (JMnedict) only when no word fits.
        with self._lock:
            rows = self._db.execute(
                f"""
                SELECT w.text, w.idseq, w.ne FROM (
                    SELECT text, idseq, 0 AS ne, {_RANK.format(table="KJP")} AS rank
                    FROM Kanji WHERE text IN ({marks})
                    UNION ALL
                    SELECT text, idseq, 0, {_RANK.format(table="KNP")}
                    FROM Kana WHERE text IN ({marks})
                    UNION ALL
                    SELECT text, idseq, 1, 99 FROM NEKanji WHERE text IN ({marks})
                    UNION ALL
                    SELECT text, idseq, 1, 99 FROM NEKana WHERE text IN ({marks})
                ) AS w ORDER BY w.ne, w.rank, w.idseq
                """,  # noqa: S608 - only placeholders and a fixed expression are formatted in
                words * 4,
            ).fetchall()
            found: dict[str, str] = {}
            for text, idseq, ne in rows:
                if text in found:
                    continue
                english = self._name(idseq) if ne else self._sense(idseq)
                if english:
                    found[text] = english
        return found

    def _sense(self, idseq: int) -> str | None:
        """The first gloss of an entry's first sense, unless that sense is grammar."""
        sense = self._db.execute(
            "SELECT ID FROM Sense WHERE idseq = ? ORDER BY ID LIMIT 1", (idseq,)
        ).fetchone()
        if sense is None:
            return None
        pos = [p for (p,) in self._db.execute("SELECT text FROM pos WHERE sid = ?", sense)]
        if any(g in p for p in pos for g in _GRAMMAR if not p.startswith("noun")):
            return None
        gloss = self._db.execute(
            "SELECT text FROM SenseGloss WHERE sid = ? AND lang = 'eng' LIMIT 1", sense
        ).fetchone()
        return _clean(gloss[0]) if gloss else None

    def _name(self, idseq: int) -> str | None:
        gloss = self._db.execute(
            "SELECT g.text FROM NETranslation t JOIN NETransGloss g ON g.tid = t.ID"
            " WHERE t.idseq = ? ORDER BY t.ID LIMIT 1",
            (idseq,),
        ).fetchone()
        return _clean(gloss[0]) if gloss else None


def _clean(gloss: str) -> str | None:
    """'cat (esp. the domestic cat)' → 'cat'; 'to dance' → 'dance'."""
    while True:
        bare = _PARENTHESES.sub("", gloss)
        if bare == gloss:
            break
        gloss = bare
    gloss = gloss.strip()
    if gloss.startswith("to "):
        gloss = gloss[3:]
    return gloss or None


_SHARED: list[BilingualDictionary | None] = []
_SHARED_LOCK = threading.Lock()


def shared_dictionary() -> BilingualDictionary | None:
    """The installed dictionary, opened once per process; None when it is not installed."""
    with _SHARED_LOCK:
        if not _SHARED:
            try:
                _SHARED.append(BilingualDictionary.load())
            except EncoderUnavailable:
                _SHARED.append(None)
        return _SHARED[0]


class EnglishWords:
    """Known English words (pyspellchecker's word-frequency list) and, for a word it does
    not know, the known words one edit away. The list (160,000 words, 0.3 s) loads on
    first use."""

    def __init__(self) -> None:
        if importlib.util.find_spec("spellchecker") is None:
            raise EncoderUnavailable("pyspellchecker is not installed")
        self._checker: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the list now (it otherwise loads on first use)."""
        self._words()

    def _words(self) -> Any:
        with self._lock:
            if self._checker is None:
                from spellchecker import SpellChecker

                self._checker = SpellChecker(distance=1)
            return self._checker

    def knows(self, word: str) -> bool:
        """Whether the list holds `word` (lower-case)."""
        return word in self._words()

    def neighbours(self, word: str) -> set[str]:
        """Known words one edit from `word` (none for a known word)."""
        checker = self._words()
        if word in checker:
            return set()
        return set(checker.known(checker.edit_distance_1(word)))


_WORDS: list[EnglishWords | None] = []


def shared_english_words() -> EnglishWords | None:
    """The English word list, one per process, loading on a background thread (0.3 s) so
    the first steer does not wait for it; None when not installed."""
    with _SHARED_LOCK:
        if not _WORDS:
            try:
                words = EnglishWords()
            except EncoderUnavailable:
                _WORDS.append(None)
            else:
                _WORDS.append(words)
                threading.Thread(target=words.load, name="english-words", daemon=True).start()
        return _WORDS[0]
