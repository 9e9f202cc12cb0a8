"""Scoring a reading against a case's expected ops (feed/evaluation/understanding.py)."""

from __future__ import annotations

from feed.evaluation.data import ExpectedOp, HeldoutCase
from feed.evaluation.understanding import Reading, score_case


def case(text: str, *ops: tuple[str, str]) -> HeldoutCase:
    expected = tuple(ExpectedOp(op, concept, ()) for op, concept in ops)
    return HeldoutCase("t-en-001", text, "en", "test", expected, None, None)


def test_a_reading_of_exactly_what_was_asked_inverts_nothing():
    # "magic tricks" is a part of "magic trick reveals" as words, but names its own concept.
    asked = case(
        "magic tricks yes, magic trick reveals no",
        ("boost", "magic tricks"),
        ("exclude", "magic trick reveals"),
    )
    read = Reading("ops", (("boost", "magic tricks"), ("exclude", "magic trick reveals")))
    score = score_case(asked, read)
    assert (score.ops_right, score.concepts_right, score.inversions) == (True, 2, 0)


def test_the_opposite_of_a_concept_is_an_inversion_even_when_shortened():
    asked = case("no magic trick reveals", ("exclude", "magic trick reveals"))
    read = Reading("ops", (("boost", "magic tricks"),))  # cut short, read as more
    assert score_case(asked, read).inversions == 1


def test_more_of_an_unnamed_phrase_inverts_a_request_for_less():
    asked = case("nothing scary please", ("exclude", "scary"))
    read = Reading("ops", (("boost", "nothing scary"),))
    assert score_case(asked, read).inversions == 1
