"""Experiment fixtures: a small tagged clip table with known styles and topics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from feed.experiments.clips import ClipTable

STYLES = ("anime", "watercolor", "pixel art")
TOPICS = ("cats", "horror", "space", "food")


def make_table(copies: int = 2, dim: int = 8, seed: int = 0) -> ClipTable:
    """`copies` clips per (style, topic); clip ids say their tags (anime-cats-0)."""
    rng = np.random.default_rng(seed)
    combos = [
        (style, topic, i)
        for (style, topic), i in itertools.product(itertools.product(STYLES, TOPICS), range(copies))
    ]
    ids = tuple(f"{s.replace(' ', '')}-{t}-{i}" for s, t, i in combos)
    vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ClipTable(
        ids=ids,
        row_of_id={c: r for r, c in enumerate(ids)},
        tags=tuple((s, t) for s, t, _ in combos),
        creator_codes=np.arange(len(ids), dtype=np.int64) % 3,
        creator_names=("ana", "ben", "cy"),
        vectors=vectors,
        duration_s=np.full(len(ids), np.nan),
    )


@pytest.fixture
def table() -> ClipTable:
    return make_table()


# A stand-in for the held-out steering corpus (data/steering/heldout.toml), in its
# format, with phrasings of its own: (id, text, lang, kind, ops, target).
CORPUS_CASES = [
    ("t-en-1", "give me more anime", "en", "plain", [("boost", "anime")], "anime"),
    ("t-en-2", "more watercolor please", "en", "polite", [("boost", "watercolor")], "watercolor"),
    ("t-en-3", "more pixel art", "en", "plain", [("boost", "pixel art")], "pixel"),
    ("t-en-4", "more claymation", "en", "plain", [("boost", "claymation")], "clay"),
    ("t-en-5", "more vaporwave", "en", "plain", [("boost", "vaporwave")], "vaporwave"),
    ("t-en-6", "more oil painting", "en", "plain", [("boost", "oil painting")], None),
    ("t-en-7", "more cyberpunk", "en", "plain", [("boost", "cyberpunk")], None),
    ("t-en-8", "more low poly", "en", "plain", [("boost", "low poly")], None),
    ("t-en-9", "more photorealistic", "en", "plain", [("boost", "photorealistic")], "photoreal"),
    ("t-en-10", "more pencil sketch", "en", "plain", [("boost", "pencil sketch")], None),
    ("t-en-11", "more film noir", "en", "plain", [("boost", "film noir")], "noir"),
    ("t-en-12", "no horror", "en", "negation", [("exclude", "horror")], "horror"),
    ("t-en-13", "less sports", "en", "plain", [("suppress", "sports")], "sports"),
    (
        "t-en-14",
        "no sports and more cats",
        "en",
        "multi",
        [("exclude", "sports"), ("boost", "cats")],
        "sports",
    ),
    ("t-en-15", "more steam locomotives", "en", "plain", [("boost", "steam locomotives")], None),
    ("t-en-16", "haha ok then", "en", "none", [], None),
    ("t-ja-1", "ホラーは見たくない", "ja", "negation", [("exclude", "ホラー")], "horror"),
    ("t-ja-2", "もっとアニメ風に", "ja", "plain", [("boost", "アニメ")], "anime"),
    ("t-ja-3", "スポーツは少なめに", "ja", "plain", [("suppress", "スポーツ")], "sports"),
    ("t-mx-1", "ホラー no thanks", "mixed", "mixed", [("exclude", "ホラー")], "horror"),
]
TOPICS_DEMO = ("music", "dance", "skateboarding", "cats", "nature", "cars", "food", "city",
               "space", "ocean", "dogs")  # fmt: skip


def write_corpus(path):
    """Write the stand-in corpus (every demo topic can be excluded and suppressed too)."""
    cases = list(CORPUS_CASES)
    for topic in TOPICS_DEMO:
        cases.append((f"t-x-{topic}", f"no {topic}", "en", "negation", [("exclude", topic)], topic))
        cases.append((f"t-s-{topic}", f"less {topic}", "en", "plain", [("suppress", topic)], topic))
    lines = []
    for case_id, text, lang, kind, ops, target in cases:
        op_list = ", ".join(f'{{op = "{op}", concept = "{concept}"}}' for op, concept in ops)
        lines += ["[[case]]", f'id = "{case_id}"', f'text = "{text}"', f'lang = "{lang}"',
                  f'kind = "{kind}"', f"ops = [{op_list}]"]  # fmt: skip
        if target:
            lines += ['catalog = "a"', f'target = "{target}"']
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def corpus_writer():
    """`write_corpus`, for fixtures with a wider scope than one test."""
    return write_corpus


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "heldout.toml")
