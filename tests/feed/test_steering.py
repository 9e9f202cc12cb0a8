"""Parsing instructions into typed ops, in English and Japanese."""

from __future__ import annotations

import pytest

from feed.steering import Glossary, InstructionError, parse_instruction

G = Glossary.load()


def ops(text: str) -> list[tuple[str, str, float]]:
    return [(o.op, o.phrase, o.weight) for o in parse_instruction(text, G)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("more anime style", [("boost", "anime style", 1.0)]),
        ("show me realistic ones", [("boost", "realistic", 1.0)]),
        ("less sports", [("suppress", "sports", 1.0)]),
        ("no horror", [("exclude", "horror", 1.0)]),
        ("stop showing me clowns", [("exclude", "clowns", 1.0)]),
        ("only cats", [("only", "cats", 1.0)]),
        ("back to normal", [("reset", "", 1.0)]),
        ("a lot more cats", [("boost", "cats", 1.6)]),
        ("a bit less dogs please", [("suppress", "dogs", 0.5)]),
        ("more cats, fewer dogs", [("boost", "cats", 1.0), ("suppress", "dogs", 1.0)]),
        ("Show me more black and white film noir and no horror",
         [("boost", "black and white film noir", 1.0), ("exclude", "horror", 1.0)]),
        ("stuff that looks like a Japanese cartoon",
         [("boost", "looks like a japanese cartoon", 1.0)]),
        ("I don't want to see any spiders", [("exclude", "spiders", 1.0)]),
    ],
)  # fmt: skip
def test_english(text, expected):
    assert ops(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("もっとアニメ風に", [("boost", "anime style", 1.0)]),
        ("実写っぽいのを見せて", [("boost", "photorealistic live-action footage", 1.0)]),
        ("スポーツは少なめで", [("suppress", "sports", 1.0)]),
        ("ホラーは見たくない", [("exclude", "horror", 1.0)]),
        ("猫だけ見せて", [("only", "cats", 1.0)]),
        ("元に戻して", [("reset", "", 1.0)]),
        ("ちょっとだけ犬を増やして", [("boost", "dogs", 0.5)]),
        ("もっと猫、ホラーはいらない", [("boost", "cats", 1.0), ("exclude", "horror", 1.0)]),
        ("クレイアニメをもっと見せて", [("boost", "claymation", 1.0)]),
    ],
)  # fmt: skip
def test_japanese(text, expected):
    assert ops(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 501, "longer than 500"),
        ("もっとあいうえお", "no known concept"),
        ("no", "could not understand"),
        ("more", "could not understand"),
        ("more cats, " * 9, "more than 8"),
    ],
)
def test_refuses_what_it_cannot_understand(text, message):
    with pytest.raises(InstructionError, match=message):
        parse_instruction(text, G)


def test_glossary_prefers_longest_match():
    assert G.translate("クレイアニメ") == "claymation"
    assert G.translate("アニメ") == "anime style"
    assert G.translate("ふつう") is None
