"""The prompt clause splitter: punctuation, hashtags and the turn to a style phrase."""

from __future__ import annotations

import pytest

from feed.core.clauses import split_clauses


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        # Style after a comma, before a colon, after "rendered as", in a head "… of a".
        (
            "a porcelain doll turning its head, claymation",
            ["a porcelain doll turning its head", "claymation"],
        ),
        ("Claymation: pancakes stacked with syrup", ["Claymation", "pancakes stacked with syrup"]),
        (
            "A DJ mixing at a festival rendered as claymation",
            ["A DJ mixing at a festival", "rendered as claymation"],
        ),
        ("Remix: a cat napping, now as pixel art", ["Remix", "a cat napping", "now as pixel art"]),
        (
            "Anime of a pale figure at the end of a dark hallway",
            ["Anime", "a pale figure at the end of a dark hallway"],
        ),
        (
            "Hyperrealistic 4K footage of a chef tossing noodles",
            ["Hyperrealistic 4K footage", "a chef tossing noodles"],
        ),
        # A subject with "of" stays whole.
        ("A sprinter exploding out of the blocks", ["A sprinter exploding out of the blocks"]),
        # Short style tails without an article; a place with an article stays put.
        (
            "a ballerina spinning on pointe in watercolour",
            ["a ballerina spinning on pointe", "in watercolour"],
        ),
        (
            "a volleyball spike as chunky pixel sprites",
            ["a volleyball spike", "as chunky pixel sprites"],
        ),
        ("a dog fetching a stick in a lake", ["a dog fetching a stick in a lake"]),
        (
            "a tiny train crossing the countryside in Ghibli style",
            ["a tiny train crossing the countryside", "in Ghibli style"],
        ),
        (
            "a clown on a unicycle like a scene from a Miyazaki film",
            ["a clown on a unicycle", "like a scene from a Miyazaki film"],
        ),
        # Brackets, pipes, dashes, sentence ends, hashtags, emoji.
        (
            "[Studio Ghibli style] hammerhead squad 🦈🦈🦈",
            ["Studio Ghibli style", "hammerhead squad 🦈🦈🦈"],
        ),
        ("pixel art | pov: you're the seal", ["pixel art", "pov", "you're the seal"]),
        (
            "great white breach - slowed down. Only greys this time.",
            ["great white breach", "slowed down", "Only greys this time"],
        ),
        (
            "unicycle clown, honk honk 🤡 #claymation #stopmotion",
            ["unicycle clown", "honk honk 🤡", "claymation", "stopmotion"],
        ),
        (
            "cat vs tree 🎄🐈 Went monochrome for this one",
            ["cat vs tree 🎄🐈", "Went monochrome for this one"],
        ),
        (
            "ghost story time... look behind them (Ghibli vibes)",
            ["ghost story time", "look behind them", "Ghibli vibes"],
        ),
        ("猫が箱に入る。水彩画", ["猫が箱に入る", "水彩画"]),
        # Decimals and prices are not sentence ends.
        ("0.4 seconds on the clock, $40 cat bed", ["0.4 seconds on the clock", "$40 cat bed"]),
    ],
)
def test_split_clauses(text: str, clauses: list[str]) -> None:
    assert split_clauses(text) == clauses


@pytest.mark.parametrize("text", ["a cat napping in a sunbeam", "  claymation  ", "🦈🦈", "..."])
def test_nothing_to_split_comes_back_whole(text: str) -> None:
    assert split_clauses(text) == [text.strip()]


def test_every_clause_is_a_stripped_part_of_the_text() -> None:
    text = "tiny diver, huge whale shark, as a 3D cartoon (soft light) #3danimation #pixar"
    clauses = split_clauses(text)
    assert clauses == [
        "tiny diver",
        "huge whale shark",
        "as a 3D cartoon",
        "soft light",
        "3danimation",
        "pixar",
    ]
    assert all(c == c.strip() and c in text for c in clauses)
