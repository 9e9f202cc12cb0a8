"""Training corpus for the instruction parser: templates × concepts × noise, by seed.

The spec lives in data/steering/train/: `ops_en.toml` and `ops_ja.toml` (phrasings
of each op with a `{c}` slot, cue words in [brackets]), `concepts_en.toml` and
`concepts_ja.toml` (what people ask for, with a grammatical kind), and `noise.toml`
(fillers, connectors, endings and lines that are not instructions).

`expand_corpus` turns the spec into labelled examples: one op per clause, the
concept as exact character offsets into the final text. Noise (typos, casing,
dropped spaces, full-width characters, hiragana for katakana) is applied to pieces
of the text before they are joined, so offsets are computed from what was really
written and always point at the concept's characters.

Labelling conventions:
- A clause spans its own words and fillers ("ugh", "pls", 「ねえ」), never the connector
  before it or the punctuation, emoji and laughter marks (笑, w) that end the sentence.
- suppress is asking for less or being tired of something; exclude is refusing it or
  disliking it (the rule is spelled out at the top of ops_en.toml and ops_ja.toml).
- A coordinated list ("no horror or gore", 「猫と犬をもっと」) is one clause that
  carries one label per concept; every label has the clause's span.
- Head nouns such as "stuff", "videos", "clips", "ones", 「系」「っぽいの」「動画」
  belong to the template, not the concept.
- Clauses that name nothing (greetings, chatter, a reset of everything) have concept ""
  and offsets -1. A none clause that mentions a concept ("what does {c} mean?") and a
  reset of one topic ("forget what I said about {c}") carry the concept span.
- Boost-only tails ("..., more", 「、もっと」) belong to the clause they follow.
- Hedges ("{c} huh", 「{c}かぁ…」, the [ask] sections) are labelled boost half the time and
  suppress or exclude the other half: their polarity cannot be told, and the reader asks.
"""

from __future__ import annotations

import functools
import random
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from feed.resources import DATA_DIR

TRAIN_ROOT = DATA_DIR / "steering" / "train"

OPS = ("boost", "suppress", "exclude", "only", "reset", "none")
CONCEPT_OPS = ("boost", "suppress", "exclude", "only")
# Hedges ("{c} huh", 「{c}かぁ…」) name a thing without saying which way to move it. They
# are written in their own [ask] section and labelled boost or less at random, so the
# classifier learns that it cannot tell and the reader asks.
HEDGE = "ask"
HEDGE_READINGS = (("boost", 0.5), ("suppress", 0.25), ("exclude", 0.25))
LANGS = ("en", "ja")

# Concept kinds. English: mass ("anime", "horror"), plural ("cats"), adj ("scary").
# Japanese: noun (アニメ, 猫), adj (怖い), adj_na (静か — takes な before a noun).
KINDS = {"en": ("mass", "plural", "adj"), "ja": ("noun", "adj", "adj_na")}

# Template groups in the ops files and the concept kinds each group's slot accepts.
SLOT_GROUPS = {
    "en": {
        "noun": ("mass", "plural"),
        "plural": ("plural",),
        "mass": ("mass",),
        "adj": ("adj",),
        "attr": ("mass", "adj"),
        "any": ("mass", "plural", "adj"),
        "plain": (),
    },
    "ja": {
        "noun": ("noun",),
        "adj": ("adj", "adj_na"),
        "adverb": ("adj", "adj_na"),
        "any": ("noun", "adj", "adj_na"),
        "plain": (),
    },
}

SINGLE_OP_WEIGHTS = (
    ("boost", 0.36),
    ("suppress", 0.18),
    ("exclude", 0.22),
    ("only", 0.12),
    ("reset", 0.07),
    ("none", 0.05),
    (HEDGE, 0.03),
)
# Share of single boosts that are the bare concept ("sharks", 「猫！」): one template
# among hundreds, but as common as one-word chatter ("hi", "lol") that it must be told from.
BARE_BOOST_SHARE = 0.10
MULTI_OP_WEIGHTS = (("boost", 0.40), ("suppress", 0.22), ("exclude", 0.28), ("only", 0.10))
# Share of multi-clause examples that come from pair templates ("swap {a} for {b}"), whose
# verbs carry both ops and are rarer than two clauses joined by a connector.
PAIR_SHARE = 0.35

# Shares of the four kinds of example (the rest are non-instructions).
SINGLE_SHARE = 0.70
MULTI_SHARE = 0.20
MIXED_SHARE = 0.05

_CUE = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
_PLACEHOLDERS = {"c", "be", "na", "a", "b"}

# Japanese clause endings after which けど / から / かな read naturally.
_JA_PREDICATE_ENDS = ("たい", "ない", "た", "いい", "ほしい", "しい")
_CLOSERS = ("?", "!", "？", "！", ".", "。", "…")
_KATAKANA = re.compile(r"^[\u30a1-\u30f6ー]+$")
_EN_WORD = re.compile(r"[A-Za-z]{4,}")
_EN_ABBREVIATIONS = (
    (re.compile(r"\byou\b"), "u"),
    (re.compile(r"\bplease\b"), "pls"),
    (re.compile(r"\bplease\b"), "plz"),
    (re.compile(r"\breally\b"), "rly"),
    (re.compile(r"\bare\b"), "r"),
    (re.compile(r"\bwith\b"), "w/"),
    (re.compile(r"\bthanks\b"), "thx"),
    (re.compile(r"\bsomething\b"), "smth"),
    (re.compile(r"\bgoing to\b"), "gonna"),
    (re.compile(r"\bwant to\b"), "wanna"),
    (re.compile(r"\bplease\b"), "pleeease"),
    (re.compile(r"\bmore\b"), "moreee"),
    (re.compile(r"\bno\b"), "noooo"),
    (re.compile(r"\bso\b"), "sooo"),
    (re.compile(r"\byour\b"), "ur"),
    (re.compile(r"\bbecause\b"), "cuz"),
    (re.compile(r"\bthough\b"), "tho"),
    (re.compile(r"\bokay\b"), "k"),
)
# Words people often leave unconverted (in kana) when typing fast.
_JA_KANA = (
    ("見せて", "みせて"),
    ("見たい", "みたい"),
    ("減らして", "へらして"),
    ("増やして", "ふやして"),
    ("欲しい", "ほしい"),
    ("飽きた", "あきた"),
    ("少なめ", "すくなめ"),
    ("多め", "おおめ"),
    ("無理", "むり"),
    ("嫌い", "きらい"),
    ("大好き", "だいすき"),
    ("好き", "すき"),
    ("勘弁", "かんべん"),
    ("以外", "いがい"),
    ("表示", "ひょうじ"),
    ("元に戻して", "もとにもどして"),
    ("戻して", "もどして"),
    ("全部", "ぜんぶ"),
    ("要らない", "いらない"),
    ("苦手", "にがて"),
    ("出して", "だして"),
    ("流して", "ながして"),
    ("今日", "きょう"),
    ("最近", "さいきん"),
    ("禁止", "きんし"),
    ("外して", "はずして"),
    ("消して", "けして"),
    ("お願い", "おねがい"),
    ("下さい", "ください"),
    ("絶対", "ぜったい"),
    ("動画", "どうが"),
)


@dataclass(frozen=True)
class Template:
    """One phrasing of one op; `{c}` marks the concept slot, cue words are listed apart."""

    lang: str
    op: str
    text: str
    cue: tuple[str, ...]
    kinds: tuple[str, ...]
    adverb: bool = False  # the slot takes the adverb form: 怖い → 怖く, 静か → 静かに

    @property
    def key(self) -> str:
        """Stable identity, used to keep a template's examples on one side of a split."""
        return f"{self.lang}:{self.op}:{self.text}" + (":adverb" if self.adverb else "")


@dataclass(frozen=True)
class PairTemplate:
    """Two clauses in one phrasing ("less {a}, more {b}"); `|` marks where they split."""

    lang: str
    text: str
    ops: tuple[str, str]
    cue: tuple[str, ...]
    kinds: tuple[str, ...]

    @property
    def key(self) -> str:
        """Stable identity, used to keep a template's examples on one side of a split."""
        return f"{self.lang}:pair:{self.text}"


@dataclass(frozen=True)
class Concept:
    """Something a person might ask the feed for, with the kind of slot it fits."""

    lang: str
    text: str
    kind: str
    category: str


@dataclass(frozen=True)
class NoiseSpec:
    """Fillers, connectors, endings and non-instruction lines of one language."""

    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    predicate_suffixes: tuple[str, ...]
    connectors: tuple[str, ...]
    predicate_connectors: tuple[str, ...]
    endings: tuple[str, ...]
    positive_endings: tuple[str, ...]
    negative_endings: tuple[str, ...]
    chatter: tuple[str, ...]
    boost_suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusSpec:
    """Everything the generator samples from."""

    templates: tuple[Template, ...]
    pairs: tuple[PairTemplate, ...]
    concepts: tuple[Concept, ...]
    noise_en: NoiseSpec
    noise_ja: NoiseSpec

    def noise(self, lang: str) -> NoiseSpec:
        """The noise spec of one language."""
        return self.noise_en if lang == "en" else self.noise_ja


@dataclass(frozen=True)
class ClauseLabel:
    """One clause of an example: its op, its concept and where both sit in the text."""

    op: str
    concept: str
    concept_start: int
    concept_end: int
    start: int
    end: int


@dataclass(frozen=True)
class TrainingExample:
    """One labelled sentence; `templates` names what it was built from, for grouped splits."""

    text: str
    lang: str
    clauses: tuple[ClauseLabel, ...]
    templates: tuple[str, ...] = ()


# -- loading -------------------------------------------------------------------


def _parse_template_text(text: str) -> tuple[str, tuple[str, ...]]:
    cues = tuple(c.strip() for c in _CUE.findall(text) if c.strip())
    plain = _CUE.sub(r"\1", text)
    if "[" in plain or "]" in plain:
        raise ValueError(f"unbalanced cue brackets in template {text!r}")
    unknown = set(_SLOT.findall(plain)) - _PLACEHOLDERS
    if unknown:
        raise ValueError(f"unknown placeholder {sorted(unknown)} in template {text!r}")
    return plain, cues


def _load_templates(path: Path, lang: str) -> tuple[list[Template], list[PairTemplate]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    templates: list[Template] = []
    seen: set[str] = set()
    for op in (*OPS, HEDGE):
        groups = data.get(op, {})
        for group, items in groups.items():
            if group not in SLOT_GROUPS[lang]:
                raise ValueError(f"{path.name}: [{op}] has unknown group {group!r}")
            kinds = SLOT_GROUPS[lang][group]
            for raw in items:
                text, cue = _parse_template_text(raw)
                slots = text.count("{c}")
                wanted = (0,) if group == "plain" else (1,)
                if op in (*CONCEPT_OPS, HEDGE) and group == "plain":
                    raise ValueError(f"{path.name}: [{op}] needs a {{c}} slot: {raw!r}")
                if slots not in wanted:
                    raise ValueError(f"{path.name}: {raw!r} has {slots} {{c}} slots")
                key = f"{op}:{text}:{group == 'adverb'}"
                if key in seen:
                    raise ValueError(f"{path.name}: duplicate template {raw!r}")
                seen.add(key)
                templates.append(Template(lang, op, text, cue, kinds, group == "adverb"))
    pairs: list[PairTemplate] = []
    for item in data.get("pair", {}).get("items", []):
        text, cue = _parse_template_text(item["text"])
        ops = tuple(item["ops"])
        if len(ops) != 2 or not set(ops) <= set(CONCEPT_OPS):
            raise ValueError(f"{path.name}: pair {item['text']!r} needs two concept ops")
        if text.count("{a}") != 1 or text.count("{b}") != 1 or text.count("|") != 1:
            raise ValueError(f"{path.name}: pair {item['text']!r} needs {{a}}, {{b}} and |")
        kinds = SLOT_GROUPS[lang][item.get("group", "noun")]
        pairs.append(PairTemplate(lang, text, (ops[0], ops[1]), cue, kinds))
    return templates, pairs


def _load_concepts(path: Path, lang: str) -> list[Concept]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    concepts: list[Concept] = []
    seen: set[str] = set()
    for group in data["group"]:
        kind = group["kind"]
        if kind not in KINDS[lang]:
            raise ValueError(f"{path.name}: unknown kind {kind!r}")
        for term in group["terms"]:
            if term in seen:
                raise ValueError(f"{path.name}: duplicate concept {term!r}")
            if term != term.strip() or not term:
                raise ValueError(f"{path.name}: concept {term!r} has edge spaces")
            seen.add(term)
            concepts.append(Concept(lang, term, kind, group["category"]))
    return concepts


def _load_noise(data: dict[str, dict[str, list[str]]], lang: str) -> NoiseSpec:
    section = data[lang]
    return NoiseSpec(
        prefixes=tuple(section["prefixes"]),
        suffixes=tuple(section["suffixes"]),
        predicate_suffixes=tuple(section.get("predicate_suffixes", [])),
        connectors=tuple(section["connectors"]),
        predicate_connectors=tuple(section.get("predicate_connectors", [])),
        endings=tuple(section["endings"]),
        positive_endings=tuple(section["positive_endings"]),
        negative_endings=tuple(section["negative_endings"]),
        chatter=tuple(section["chatter"]),
        boost_suffixes=tuple(section.get("boost_suffixes", [])),
    )


def load_corpus_spec(root: Path = TRAIN_ROOT) -> CorpusSpec:
    """Read and validate the corpus spec from the TOML files under `root`."""
    templates: list[Template] = []
    pairs: list[PairTemplate] = []
    concepts: list[Concept] = []
    for lang in LANGS:
        found, found_pairs = _load_templates(root / f"ops_{lang}.toml", lang)
        templates += found
        pairs += found_pairs
        concepts += _load_concepts(root / f"concepts_{lang}.toml", lang)
    noise = tomllib.loads((root / "noise.toml").read_text(encoding="utf-8"))
    return CorpusSpec(
        templates=tuple(templates),
        pairs=tuple(pairs),
        concepts=tuple(concepts),
        noise_en=_load_noise(noise, "en"),
        noise_ja=_load_noise(noise, "ja"),
    )


# -- drafting ------------------------------------------------------------------
#
# An example is drafted as a list of pieces. Each piece is one run of text that
# belongs to a clause (clause >= 0) or sits between clauses (clause == -1), and
# is either a concept (label >= 0, the index of its ClauseLabel) or not (-1).
# Noise edits pieces one at a time; offsets are computed only when they are joined.


@dataclass
class _Piece:
    text: str
    clause: int
    label: int = -1


@dataclass
class _Draft:
    pieces: list[_Piece]
    ops: list[str]  # op of each label
    label_clause: list[int]  # clause index of each label
    clause_ops: list[str]  # op of each clause
    templates: list[str]


class _Pools:
    """Templates and concepts indexed for sampling; built once per expand_corpus call."""

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec = spec
        self.templates: dict[tuple[str, str], tuple[Template, ...]] = {}
        self.cross_templates: dict[tuple[str, str], tuple[Template, ...]] = {}
        for lang in LANGS:
            cross_kind = "mass" if lang == "en" else "noun"
            for op in (*OPS, HEDGE):
                found = tuple(t for t in spec.templates if t.lang == lang and t.op == op)
                self.templates[(lang, op)] = found
                self.cross_templates[(lang, op)] = tuple(t for t in found if cross_kind in t.kinds)
        self.concepts: dict[tuple[str, str], tuple[Concept, ...]] = {}
        for lang in LANGS:
            for kind in KINDS[lang]:
                self.concepts[(lang, kind)] = tuple(
                    c for c in spec.concepts if c.lang == lang and c.kind == kind
                )
        self.nouns = {
            "en": tuple(c for c in spec.concepts if c.lang == "en" and c.kind != "adj"),
            "ja": tuple(c for c in spec.concepts if c.lang == "ja" and c.kind == "noun"),
        }
        self.bare = {
            lang: tuple(
                t
                for t in self.templates[(lang, "boost")]
                if not t.text.strip("!").replace("{c}", "")
            )
            for lang in LANGS
        }
        self.pairs = {lang: tuple(p for p in spec.pairs if p.lang == lang) for lang in LANGS}
        self._by_kinds: dict[tuple[str, tuple[str, ...], bool], tuple[Concept, ...]] = {}

    def concept(
        self, rng: random.Random, lang: str, kinds: tuple[str, ...], adverb: bool = False
    ) -> Concept:
        """A concept of one of `kinds`; with `adverb`, only adjectives that have that form."""
        pool = self._by_kinds.get((lang, kinds, adverb))
        if pool is None:
            pool = tuple(
                c
                for k in kinds
                for c in self.concepts[(lang, k)]
                if not adverb or c.kind == "adj_na" or c.text.endswith("い")
            )
            self._by_kinds[(lang, kinds, adverb)] = pool
        return rng.choice(pool)


def _weighted(rng: random.Random, weights: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in weights)
    pick = rng.random() * total
    for name, weight in weights:
        if pick < weight:
            return name
        pick -= weight
    return weights[-1][0]


def _ja_predicate_end(text: str) -> bool:
    return text.endswith(_JA_PREDICATE_ENDS)


def _fill(
    text: str,
    slots: dict[str, list[tuple[str, int]]],
    clause: int,
) -> list[_Piece]:
    """Split a template on its slots; `slots` maps a slot name to (text, label) runs."""
    pieces: list[_Piece] = []
    for is_slot, part in _template_parts(text):
        if is_slot:
            pieces += [_Piece(run, clause, label) for run, label in slots[part] if run]
        else:
            pieces.append(_Piece(part, clause))
    return pieces


@functools.cache
def _template_parts(text: str) -> tuple[tuple[bool, str], ...]:
    """A template as (is_slot, text or slot name) parts, without empty text parts."""
    parts: list[tuple[bool, str]] = []
    pos = 0
    for match in _SLOT.finditer(text):
        if match.start() > pos:
            parts.append((False, text[pos : match.start()]))
        parts.append((True, match.group(1)))
        pos = match.end()
    if pos < len(text):
        parts.append((False, text[pos:]))
    return tuple(parts)


def _grammar_slots(lang: str, concepts: Sequence[Concept]) -> dict[str, list[tuple[str, int]]]:
    plural = len(concepts) > 1 or any(c.kind == "plural" for c in concepts)
    na = lang == "ja" and concepts[-1].kind == "adj_na"
    return {"be": [("are" if plural else "is", -1)], "na": [("な" if na else "", -1)]}


def _coordinate(
    rng: random.Random,
    lang: str,
    op: str,
    concepts: Sequence[Concept],
    first_label: int,
    also: bool = False,
) -> list[tuple[str, int]]:
    """The runs of a concept slot: one concept, or a short list joined the way people do.

    With `also`, a Japanese list may be 「AもBも」 (the caller drops the particle after it).
    """
    if len(concepts) == 1:
        return [(concepts[0].text, first_label)]
    if lang == "en":
        joiners = (" and ", ", ", " & ") if op in ("boost", "only") else (" or ", " and ", ", ")
        joiner = rng.choice(joiners)
        runs: list[tuple[str, int]] = []
        for i, concept in enumerate(concepts):
            if i:
                last = i == len(concepts) - 1
                runs.append((joiner if last or joiner == ", " else ", ", -1))
            runs.append((concept.text, first_label + i))
        return runs
    pairs = [("と", ""), ("と", ""), ("や", ""), ("とか", "とか"), ("、", "")]
    if also:
        pairs += [("も", "も"), ("も", "も")]
    joiner, closer = rng.choice(pairs)
    runs = []
    for i, concept in enumerate(concepts):
        if i:
            runs.append((joiner, -1))
        runs.append((concept.text, first_label + i))
    if closer:
        runs.append((closer, -1))
    return runs


def _clause_pieces(
    rng: random.Random,
    pools: _Pools,
    draft: _Draft,
    lang: str,
    op: str,
    concept_lang: str,
    used: set[str],
    coordinate_share: float,
    bare: bool = False,
) -> None:
    """Append one clause of `op` to `draft`; with `bare`, a boost that is just the concept."""
    clause = len(draft.clause_ops)
    cross = concept_lang != lang
    table = pools.cross_templates if cross else pools.templates
    template = rng.choice(pools.bare[lang] if bare else table[(lang, op)])
    draft.templates.append(template.key)
    if op == HEDGE:
        op = _weighted(rng, HEDGE_READINGS)
    draft.clause_ops.append(op)
    if not template.kinds:
        draft.pieces += _fill(template.text, {}, clause)
        draft.ops.append(op)
        draft.label_clause.append(clause)
        return
    if cross:
        concepts = [_fresh(lambda: rng.choice(pools.nouns[concept_lang]), used)]
    else:
        concepts = [_fresh(lambda: pools.concept(rng, lang, template.kinds, template.adverb), used)]
        first = concepts[0]
        coordinable = lang == "en" or first.kind == "noun"
        if op != "none" and coordinable and rng.random() < coordinate_share:
            more = 2 if rng.random() < 0.85 else 3
            while len(concepts) < more:
                concepts.append(_fresh(lambda: pools.concept(rng, lang, (first.kind,)), used))
    if op == "none":
        # The concept is mentioned but nothing is asked: labelled, so the tagger finds
        # the thing named however the sentence goes on, and the op says it is no request.
        slots = {"c": [(concepts[0].text, len(draft.ops))], **_grammar_slots(lang, concepts)}
        draft.pieces += _fill(template.text, slots, clause)
        draft.ops.append(op)
        draft.label_clause.append(clause)
        return
    first_label = len(draft.ops)
    text = template.text
    if template.adverb:
        runs = _adverb_runs(concepts[0], first_label)
    else:
        after = text.partition("{c}")[2][:1]
        also = lang == "ja" and after in ("は", "を", "が")
        runs = _coordinate(rng, lang, op, concepts, first_label, also)
        if also and runs[-1] == ("も", -1):
            text = text.replace("{c}" + after, "{c}", 1)  # 「猫は」 → 「猫も犬も」
    draft.pieces += _fill(text, {"c": runs, **_grammar_slots(lang, concepts)}, clause)
    for _ in concepts:
        draft.ops.append(op)
        draft.label_clause.append(clause)


def _adverb_runs(concept: Concept, label: int) -> list[tuple[str, int]]:
    """怖い → 怖く (the concept span is 怖く), 静か → 静か + に (に outside the span)."""
    if concept.kind == "adj_na":
        return [(concept.text, label), ("に", -1)]
    text = concept.text
    # いい conjugates as よい: かっこいい → かっこよく, but かわいい → かわいく.
    stem = (
        text[:-2] + "よく"
        if text.endswith(("っこいい", "ッコいい", "ちいい"))
        else text[:-1] + "く"
    )
    return [(stem, label)]


def _fresh(pick: Callable[[], Concept], used: set[str]) -> Concept:
    """A concept not yet used in this example (gives up after a few tries)."""
    concept = pick()
    for _ in range(8):
        if concept.text not in used:
            break
        concept = pick()
    used.add(concept.text)
    return concept


def _pair_pieces(
    rng: random.Random, pools: _Pools, draft: _Draft, lang: str, used: set[str]
) -> None:
    """Append the two clauses of a pair template ("less {a}, more {b}") to `draft`."""
    pair = rng.choice(pools.pairs[lang])
    draft.templates.append(pair.key)
    head, tail = pair.text.split("|")
    body_head, body_tail = head.rstrip(" ,、"), tail.lstrip(" ,、")
    gap = re.sub(r" +", " ", head[len(body_head) :] + tail[: len(tail) - len(body_tail)])
    for i, body in enumerate((body_head, body_tail)):
        clause = len(draft.clause_ops)
        op = pair.ops[i]
        concept = _fresh(lambda: pools.concept(rng, lang, pair.kinds), used)
        slot = "a" if "{a}" in body else "b"
        if i:
            draft.pieces.append(_Piece(gap, -1))
        slots = {slot: [(concept.text, len(draft.ops))], **_grammar_slots(lang, [concept])}
        draft.pieces += _fill(body, slots, clause)
        draft.clause_ops.append(op)
        draft.ops.append(op)
        draft.label_clause.append(clause)


def _chatter_pieces(rng: random.Random, spec: CorpusSpec, draft: _Draft, lang: str) -> None:
    line = rng.choice(spec.noise(lang).chatter)
    clause = len(draft.clause_ops)
    draft.templates.append(f"{lang}:chatter:{line}")
    draft.pieces.append(_Piece(line, clause))
    draft.clause_ops.append("none")
    draft.ops.append("none")
    draft.label_clause.append(clause)


def _clause_text(draft: _Draft, clause: int) -> str:
    return "".join(p.text for p in draft.pieces if p.clause == clause)


def _add_fillers(rng: random.Random, noise: NoiseSpec, draft: _Draft, lang: str) -> None:
    """Attach filler words to the start or end of clauses ("ugh", "pls", 「ねえ」「笑」)."""
    sep = " " if lang == "en" else ""
    for clause in range(len(draft.clause_ops)):
        indices = [i for i, p in enumerate(draft.pieces) if p.clause == clause]
        if not indices:
            continue
        first, last = indices[0], indices[-1]
        prefix_share = 0.12 if clause == 0 else 0.04
        text = _clause_text(draft, clause)
        boost = draft.clause_ops[clause] == "boost"
        if boost and noise.boost_suffixes and rng.random() < 0.05:
            tail = rng.choice(noise.boost_suffixes)
            glue = "" if tail.startswith((",", "、", "?", "？", "!", "！")) else sep
            draft.pieces.insert(last + 1, _Piece(glue + tail, clause))
        elif rng.random() < 0.14 and not text.endswith(_CLOSERS):
            choices = noise.suffixes
            if lang == "ja" and _ja_predicate_end(text):
                choices = choices + noise.predicate_suffixes
            draft.pieces.insert(last + 1, _Piece(sep + rng.choice(choices), clause))
        if rng.random() < prefix_share:
            draft.pieces.insert(first, _Piece(rng.choice(noise.prefixes) + sep, clause))


def _ending(rng: random.Random, noise: NoiseSpec, op: str) -> str:
    """Punctuation or an emoji that fits the mood of the last op (🙏 after a request)."""
    if op in ("boost", "only"):
        return rng.choice(noise.endings + noise.positive_endings)
    if op in ("suppress", "exclude"):
        return rng.choice(noise.endings + noise.negative_endings)
    return rng.choice(noise.endings)


def _connector(rng: random.Random, noise: NoiseSpec, lang: str, before: str) -> str:
    choices = noise.connectors
    if lang == "ja" and _ja_predicate_end(before):
        choices = choices + noise.predicate_connectors * 3
    if before.endswith(_CLOSERS):
        # "more cats?" is not followed by ". also" or "、あと".
        choices = tuple(c for c in choices if not c.startswith(_CLOSERS + (",", ";", "、")))
    return rng.choice(choices)


# -- noise ---------------------------------------------------------------------


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    how = rng.randrange(3)
    if how == 0:
        return word[:i] + word[i + 1 :]
    if how == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


def _typo_in(rng: random.Random, text: str) -> str:
    words = list(_EN_WORD.finditer(text))
    if not words:
        return text
    match = rng.choice(words)
    return text[: match.start()] + _typo(rng, match.group()) + text[match.end() :]


def _noise_en(rng: random.Random, draft: _Draft) -> None:
    plain = [p for p in draft.pieces if p.label < 0]
    if plain and rng.random() < 0.18:
        piece = rng.choice(plain)
        piece.text = _typo_in(rng, piece.text)
    if rng.random() < 0.35:
        for piece in plain:
            piece.text = piece.text.replace("'", "")
    if rng.random() < 0.10:
        pattern, short = rng.choice(_EN_ABBREVIATIONS)
        for piece in plain:
            piece.text = pattern.sub(short, piece.text)
    for piece in draft.pieces:
        if piece.label >= 0 and len(piece.text) >= 5 and rng.random() < 0.02:
            piece.text = _typo_in(rng, piece.text)
    spaced = [p for p in plain if " " in p.text.strip()]
    if spaced and rng.random() < 0.03:
        piece = rng.choice(spaced)
        inner = [m.start() for m in re.finditer(" ", piece.text)]
        cut = rng.choice(inner)
        piece.text = piece.text[:cut] + piece.text[cut + 1 :]
    mode = rng.random()
    if mode < 0.12:
        for piece in draft.pieces:
            piece.text = piece.text.lower()
    elif mode < 0.15:
        for piece in draft.pieces:
            piece.text = piece.text.upper()
    elif mode < 0.50:
        for piece in draft.pieces:
            if piece.label < 0:
                piece.text = re.sub(r"(?<![A-Za-z])i(?=$|[ '])", "I", piece.text)
        for piece in draft.pieces:
            if piece.text.strip():
                piece.text = piece.text[:1].upper() + piece.text[1:]
                break


def _to_full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _to_half_width(text: str) -> str:
    return "".join(chr(ord(ch) - 0xFEE0) if "！" <= ch <= "～" else ch for ch in text)


def _to_hiragana(text: str) -> str:
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text)


def _noise_ja(rng: random.Random, draft: _Draft) -> None:
    if rng.random() < 0.10:
        for piece in draft.pieces:
            if piece.label < 0:
                for kanji, kana in _JA_KANA:
                    piece.text = piece.text.replace(kanji, kana)
    width = rng.random()
    if width < 0.10:
        for piece in draft.pieces:
            piece.text = _to_full_width(piece.text)
    elif width < 0.25:
        for piece in draft.pieces:
            piece.text = _to_half_width(piece.text)
    for piece in draft.pieces:
        if piece.label >= 0 and _KATAKANA.match(piece.text) and rng.random() < 0.15:
            piece.text = _to_hiragana(piece.text)
    # A space after the concept: now and then, and often after an English word.
    spaced = rng.random()
    for i, piece in enumerate(draft.pieces[:-1]):
        after = draft.pieces[i + 1]
        if (
            piece.label >= 0
            and after.label < 0
            and after.clause == piece.clause
            and not after.text.startswith(("な", "に", " ", "　"))
            and spaced < (0.4 if piece.text.isascii() else 0.06)
        ):
            after.text = rng.choice((" ", "　")) + after.text
            break


# -- assembling ----------------------------------------------------------------


def _assemble(draft: _Draft, lang: str) -> TrainingExample:
    text_parts: list[str] = []
    pos = 0
    spans: dict[int, list[int]] = {}
    label_spans: dict[int, tuple[int, int]] = {}
    for piece in draft.pieces:
        start, end = pos, pos + len(piece.text)
        text_parts.append(piece.text)
        pos = end
        if piece.clause >= 0 and piece.text:
            span = spans.setdefault(piece.clause, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
        if piece.label >= 0:
            label_spans[piece.label] = (start, end)
    text = "".join(text_parts)
    clauses = []
    for label, op in enumerate(draft.ops):
        start, end = spans[draft.label_clause[label]]
        # Fillers and noise may leave spaces at a clause's edge; the clause is its words.
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if label in label_spans:
            c_start, c_end = label_spans[label]
            concept = text[c_start:c_end]
            assert concept and start <= c_start < c_end <= end, (text, label)
        else:
            concept, c_start, c_end = "", -1, -1
        clauses.append(ClauseLabel(op, concept, c_start, c_end, start, end))
    return TrainingExample(text, lang, tuple(clauses), tuple(draft.templates))


def _finish(rng: random.Random, spec: CorpusSpec, draft: _Draft, lang: str) -> TrainingExample:
    """Fillers, sentence ending and noise, then offsets from the final text."""
    noise_lang = "ja" if lang == "ja" else "en"
    noise = spec.noise(noise_lang)
    _add_fillers(rng, noise, draft, noise_lang)
    if rng.random() < 0.45:
        draft.pieces.append(_Piece(_ending(rng, noise, draft.ops[-1]), -1))
    if noise_lang == "en":
        _noise_en(rng, draft)
    else:
        _noise_ja(rng, draft)
    return _assemble(draft, lang)


def _empty_draft() -> _Draft:
    return _Draft(pieces=[], ops=[], label_clause=[], clause_ops=[], templates=[])


def _single(rng: random.Random, pools: _Pools, lang: str) -> TrainingExample:
    draft = _empty_draft()
    op = _weighted(rng, SINGLE_OP_WEIGHTS)
    bare = op == "boost" and bool(pools.bare[lang]) and rng.random() < BARE_BOOST_SHARE
    _clause_pieces(rng, pools, draft, lang, op, lang, set(), coordinate_share=0.12, bare=bare)
    return _finish(rng, pools.spec, draft, lang)


def _multi(rng: random.Random, pools: _Pools, lang: str) -> TrainingExample:
    draft = _empty_draft()
    used: set[str] = set()
    noise = pools.spec.noise(lang)
    n_clauses = 2 if rng.random() < 0.75 else 3
    start = rng.random()
    if start < PAIR_SHARE and pools.pairs[lang]:
        _pair_pieces(rng, pools, draft, lang, used)
    elif start < PAIR_SHARE + 0.07:
        _chatter_pieces(rng, pools.spec, draft, lang)
    elif start < PAIR_SHARE + 0.13:
        _clause_pieces(rng, pools, draft, lang, "reset", lang, used, 0.0)
    had_only = False
    while len(draft.clause_ops) < n_clauses:
        op = _weighted(rng, MULTI_OP_WEIGHTS)
        if op == "only" and had_only:
            continue
        had_only = had_only or op == "only"
        if draft.pieces:
            before = _clause_text(draft, len(draft.clause_ops) - 1)
            draft.pieces.append(_Piece(_connector(rng, noise, lang, before), -1))
        _clause_pieces(rng, pools, draft, lang, op, lang, used, coordinate_share=0.10)
    return _finish(rng, pools.spec, draft, lang)


def _mixed(rng: random.Random, pools: _Pools) -> TrainingExample:
    """One language's phrasing around the other's concept; sometimes a second clause
    that switches back ("バレエ more, horror は勘弁")."""
    draft = _empty_draft()
    lang = rng.choice(LANGS)
    other = "ja" if lang == "en" else "en"
    op = _weighted(rng, SINGLE_OP_WEIGHTS[:4])
    used: set[str] = set()
    _clause_pieces(rng, pools, draft, lang, op, other, used, coordinate_share=0.0)
    if rng.random() < 0.3:
        second = rng.choice(LANGS)
        before = _clause_text(draft, 0)
        noise = pools.spec.noise(second)
        draft.pieces.append(_Piece(_connector(rng, noise, second, before), -1))
        op = _weighted(rng, MULTI_OP_WEIGHTS)
        _clause_pieces(rng, pools, draft, second, op, lang if second == other else other, used, 0.0)
    example = _finish(rng, pools.spec, draft, lang)
    return TrainingExample(example.text, "mixed", example.clauses, example.templates)


def _non_instruction(rng: random.Random, pools: _Pools, lang: str) -> TrainingExample:
    draft = _empty_draft()
    _chatter_pieces(rng, pools.spec, draft, lang)
    return _finish(rng, pools.spec, draft, lang)


def expand_corpus(spec: CorpusSpec, n: int, seed: int) -> list[TrainingExample]:
    """`n` labelled examples sampled from `spec`; the same seed gives the same list."""
    rng = random.Random(seed)
    pools = _Pools(spec)
    examples: list[TrainingExample] = []
    for _ in range(n):
        kind = rng.random()
        lang = rng.choice(LANGS)
        if kind < SINGLE_SHARE:
            examples.append(_single(rng, pools, lang))
        elif kind < SINGLE_SHARE + MULTI_SHARE:
            examples.append(_multi(rng, pools, lang))
        elif kind < SINGLE_SHARE + MULTI_SHARE + MIXED_SHARE:
            examples.append(_mixed(rng, pools))
        else:
            examples.append(_non_instruction(rng, pools, lang))
    return examples


# Hand-written instruction sets (data/steering/, the format of heldout.toml) the reader
# also learns from, each case once: real phrasings no template writes. The held-out set,
# dev8, dev22 and dev23 are never learned from; the three dev sets are the checks that a
# change generalises (dev22: polarity that is easy to get backwards; dev23: concept spans).
HANDWRITTEN_ROOT = DATA_DIR / "steering"
HANDWRITTEN_SETS = (
    "dev_instructions.toml", "dev2_instructions.toml", "dev3_instructions.toml",
    "dev4_instructions.toml", "dev5_instructions.toml", "dev6_instructions.toml",
    "dev7_instructions.toml", "dev9_instructions.toml", "dev10_instructions.toml",
    "dev11_instructions.toml", "dev12_instructions.toml", "dev13_instructions.toml",
    "dev14_instructions.toml", "dev15_instructions.toml", "dev16_instructions.toml",
    "dev17_instructions.toml", "dev18_instructions.toml", "dev19_instructions.toml",
    "dev20_instructions.toml", "dev21_instructions.toml", "dev24_instructions.toml",
    "dev25_instructions.toml", "dev26_instructions.toml", "dev27_instructions.toml",
    "dev28_instructions.toml",
)  # fmt: skip
UNSEEN_SETS = (
    "heldout.toml", "dev8_instructions.toml", "dev22_instructions.toml", "dev23_instructions.toml",
)  # fmt: skip
# Where two ops of a hand-written case meet, their clauses split at punctuation between
# the two concepts or at a conjunction (the last in English, where ops come first; the
# first in Japanese, where they come after their concept).
_CLAUSE_BREAK = re.compile(r"[,、。.!?！？;；]|\s+(?:and|but|then|also)\s+")
# What may stand between two items of one list under one op ("sharks, trains and planes",
# 「猫、犬とうさぎ」): such items share a clause, as the templates write them. Cut there,
# the tagger learns that "and" ends a clause, and "no cats and dogs" turns into "no
# cats" and a bare "dogs", a boost.
_LIST_JOINER = re.compile(r"\s*(?:,?\s*(?:and|or|&)|[,、/]|と|や|とか)\s*", re.IGNORECASE)


def handwritten_example(text: str, lang: str, ops: Sequence[tuple[str, str | None]]) -> (
    TrainingExample | None
):  # fmt: skip
    """A hand-written case as a training example, or None when its clauses cannot be told
    from the text alone: an op the corpus lacks ("ask"), a concept not found verbatim in
    order, or two different ops with no break (or several) between their concepts.

    `ops` are (op, concept) in sentence order; ops of one clause (a list, "no cats or
    dogs", "sharks, trains and planes") share its span.
    """
    if not ops or any(op not in OPS for op, _ in ops):
        return None
    if len(ops) == 1 and ops[0][1] is None:
        return TrainingExample(text, lang, (ClauseLabel(ops[0][0], "", -1, -1, 0, len(text)),))
    spans: list[tuple[int, int]] = []
    for _, concept in ops:
        at = -1 if concept is None else text.find(concept, spans[-1][1] if spans else 0)
        if at < 0:
            return None
        spans.append((at, at + len(concept or "")))
    groups: list[list[int]] = [[0]]
    cuts: list[tuple[int, int]] = []  # (end of one clause, start of the next)
    for i in range(1, len(ops)):
        gap_at = spans[i - 1][1]
        breaks = list(_CLAUSE_BREAK.finditer(text, gap_at, spans[i][0]))
        same_op = ops[i][0] == ops[i - 1][0]
        joined = _LIST_JOINER.fullmatch(text, gap_at, spans[i][0]) is not None
        if same_op and (not breaks or joined):
            groups[-1].append(i)  # a list under one op
            continue
        if not breaks or (len(breaks) > 1 and not same_op):
            return None
        cut = breaks[0] if lang == "ja" else breaks[-1]
        cuts.append((cut.start(), cut.end()))
        groups.append([i])
    starts = [0, *(end for _, end in cuts)]
    ends = [*(start for start, _ in cuts), len(text)]
    clauses = tuple(
        ClauseLabel(ops[i][0], ops[i][1] or "", *spans[i], start, end)
        for group, start, end in zip(groups, starts, ends, strict=True)
        for i in group
    )  # fmt: skip
    return TrainingExample(text, lang, clauses)


def load_handwritten(paths: Sequence[Path]) -> list[TrainingExample]:
    """Every case of the hand-written sets at `paths` that `handwritten_example` takes."""
    from feed.core.intent import normalise

    examples: list[TrainingExample] = []
    for path in paths:
        for case in tomllib.loads(path.read_text(encoding="utf-8"))["case"]:
            if case.get("kind") == "correction":
                # Only the corrected request is labelled: the words taken back would
                # teach the tagger that a concept ("more pandas... wait no") is none.
                continue
            ops = [(o["op"], o.get("concept") and normalise(o["concept"])) for o in case["ops"]]
            lang = "ja" if case["lang"] == "ja" else "en"
            found = handwritten_example(normalise(case["text"]), lang, ops)
            if found is not None:
                examples.append(found)
    return examples


def split_corpus(
    examples: Sequence[TrainingExample], dev_share: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """(train, dev) with no template on both sides, so dev measures unseen phrasings.

    A share `dev_share` of the templates is held for dev; an example goes to dev when
    all its templates are held, to train when none is, and is dropped otherwise.
    """
    if not 0.0 < dev_share < 1.0:
        raise ValueError(f"dev_share must be between 0 and 1, got {dev_share}")
    keys = sorted({key for ex in examples for key in ex.templates})
    random.Random(seed).shuffle(keys)
    held = set(keys[: round(len(keys) * dev_share)])
    train: list[TrainingExample] = []
    dev: list[TrainingExample] = []
    for example in examples:
        inside = [key in held for key in example.templates]
        if all(inside) and inside:
            dev.append(example)
        elif not any(inside):
            train.append(example)
    return train, dev
