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

import functools
import importlib.util
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.encoders import EncoderUnavailable, multilingual
from feed.core.intent import has_japanese
from feed.core.spelling import english_word_list

# Longest word looked up, in characters (JMdict words longer than this are phrases).
MAX_WORD = 12
MAX_CACHED = 100_000  # words (found or not) remembered between lookups
# Words a query looks up at once: four placeholders each, under SQLite's oldest limit (999).
LOOKUP_BATCH = 240
# A first sense with one of these parts of speech is grammar, not a concept.
_GRAMMAR = ("particle", "auxiliary", "conjunction", "copula", "suffix", "prefix", "counter")
_HIRAGANA = re.compile(r"^[\u3041-\u309fー]+$")
_HAS_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_PARENTHESES = re.compile(r"\s*\([^()]*\)")  # innermost first: "(Canis (lupus) ...)"


def _rank(priorities: str, form: str) -> str:
    """SQL for a written form's frequency rank (see `_look_up`): `priorities` is KJP (of
    kanji forms) or KNP (of kana ones), `form` the table or alias holding the form."""
    return (
        "COALESCE((SELECT MIN(CASE WHEN p.text LIKE 'nf%' THEN CAST(substr(p.text, 3) AS"
        f" INTEGER) ELSE 49 END) FROM {priorities} AS p WHERE p.kid = {form}.ID), 99)"
    )


def katakana(text: str) -> str:
    """Hiragana in `text` written as katakana (ぴえろ → ピエロ); anything else unchanged."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


@dataclass(frozen=True)
class Reading:
    """A Japanese phrase in English; `whole` when every kanji and katakana of it was read."""

    english: str | None
    whole: bool


class BilingualDictionary:
    """English glosses for Japanese words (thread-safe; lookups cached)."""

    def __init__(self, path: Path) -> None:
        uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._db.execute("SELECT 1 FROM Kanji LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise EncoderUnavailable(f"{path} is not a JMdict database: {exc}") from exc
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

    def glosses(self, words: list[str]) -> dict[str, str]:
        """English of each of `words` the dictionaries hold: its most common entry's first
        sense; a word written in hiragana is also looked up in katakana (ぴえろ → ピエロ)."""
        with self._lock:
            cached = {w: self._glosses[w] for w in words if w in self._glosses}
        wanted = [w for w in dict.fromkeys(words) if w not in cached]
        found: dict[str, str] = {}
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
                self._glosses.update({w: found.get(w) for w in wanted})
        known = {**cached, **found}
        return {w: g for w in words if (g := known.get(w)) is not None}

    def written(self, word: str) -> str | None:
        """How a word typed in hiragana is usually written (りょうり → 料理, ぴえろ → ピエロ),
        or None: it is not all hiragana, already usual, or unknown."""
        if len(word) > MAX_WORD or not _HIRAGANA.match(word):
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
        rank = _rank("KNP", "r")
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
            f"SELECT text FROM Kanji WHERE idseq = ? ORDER BY {_rank('KJP', 'Kanji')}, ID LIMIT 1",  # noqa: S608 - a fixed expression
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
        return self.reading(text, overrides).english

    def reading(self, text: str, overrides: Mapping[str, str] | None = None) -> Reading:
        """The phrase's English (as `translate`) and whether it reads the whole phrase:
        every kanji and katakana character inside a word the dictionary knows."""
        text = unicodedata.normalize("NFKC", text).strip()
        if not text:
            return Reading(None, False)
        overrides = overrides or {}
        spans = {
            text[i:j]
            for i in range(len(text))
            for j in range(i + 1, min(len(text), i + MAX_WORD) + 1)
            if has_japanese(text[i:j])
        }
        known = {s: overrides[s] for s in spans if s in overrides}
        known.update(self.glosses(sorted(s for s in spans - known.keys() if _word_like(text, s))))
        out: list[str] = []
        unread = 0
        i = 0
        while i < len(text):
            j = next(
                (
                    j
                    for j in range(min(len(text), i + MAX_WORD), i, -1)
                    if text[i:j] in known and (text[i:j] in overrides or _starts_word(text, i, j))
                ),
                None,
            )
            if j is None:
                k = i
                while k < len(text) and not has_japanese(text[k]):
                    k += 1
                if any(c.isalnum() for c in text[i:k]):
                    out.append(text[i:k].strip())  # Latin text stays as written
                if k == i and not _HAS_HIRAGANA.match(text[i]):
                    unread += 1  # a kanji or katakana no known word covers
                i = max(k, i + 1)
                continue
            english = known[text[i:j]]
            if english not in out:
                out.append(english)
            i = j
        return Reading(" ".join(out) or None, bool(out) and unread == 0)

    def _look_up(self, words: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(words), LOOKUP_BATCH):
            found.update(self._look_up_batch(words[start : start + LOOKUP_BATCH]))
        return found

    def _look_up_batch(self, words: list[str]) -> dict[str, str]:
        marks = ",".join("?" * len(words))
        # Among entries written the same way, the most frequent first: JMdict ranks common
        # words by newspaper frequency band ("nf01" commonest .. "nf48"), then other
        # priority marks (49), then none (99). Names (JMnedict) only when no word fits.
        with self._lock:
            rows = self._db.execute(
                f"""
                SELECT w.text, w.idseq, w.ne FROM (
                    SELECT text, idseq, 0 AS ne, {_rank("KJP", "Kanji")} AS rank
                    FROM Kanji WHERE text IN ({marks})
                    UNION ALL
                    SELECT text, idseq, 0, {_rank("KNP", "Kana")}
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
                if text in found or (ne and _HAS_HIRAGANA.search(text)):
                    continue  # a name is written in kanji or katakana, never with particles
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


def _word_like(text: str, span: str) -> bool:
    """Whether `span` (a piece of `text`) may be a dictionary word of it: a run of kana
    alone inside a longer phrase is one only if it is three or more characters (と, の,
    が are particles)."""
    return span == text or not _HIRAGANA.match(span) or len(span) >= 3


def _starts_word(text: str, i: int, j: int) -> bool:
    """Whether text[i:j] may be read as a word there: a hiragana-only word must start
    where a hiragana run starts, since inside one (ねこがすき) word edges cannot be seen."""
    piece = text[i:j]
    if piece == text or not _HIRAGANA.match(piece):
        return True
    return i == 0 or not _HIRAGANA.match(text[i - 1])


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


def texts_read_by(
    encoder: object, texts: Sequence[str], dictionary: BilingualDictionary | None
) -> list[str]:
    """What a text tower reads of clip texts. A multilingual one reads each as written. An
    English-only one (MiniLM) reads Japanese as noise (on tuning catalog C its Japanese
    clips' AUC for their own labels is 0.64), so it reads a text holding Japanese as the
    dictionary's English (Latin words kept as written; 0.93 there), as it reads a Japanese
    query; without a dictionary, as written."""
    if multilingual(encoder) or dictionary is None:
        return list(texts)
    return [
        (dictionary.reading(text).english or text) if has_japanese(text) else text for text in texts
    ]


@functools.cache
def shared_dictionary() -> BilingualDictionary | None:
    """The installed dictionary, opened once per process; None when it is not installed."""
    try:
        return BilingualDictionary.load()
    except EncoderUnavailable:
        return None


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
                # The reader's list too ("lesscats"): one copy per process.
                self._checker = english_word_list()
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


@functools.cache
def shared_english_words() -> EnglishWords | None:
    """The English word list, one per process, loading on a background thread (0.3 s) so
    the first steer does not wait for it; None when not installed."""
    try:
        words = EnglishWords()
    except EncoderUnavailable:
        return None
    threading.Thread(target=words.load, name="english-words", daemon=True).start()
    return words
