"""Gap detection and prompt composition: pure, with known answers."""

from __future__ import annotations

import pytest

from generation.gaps import DemandSignal, detect_gaps, gap_id
from generation.prompts import compose_prompts, subject_of


def signal(user, phrase, unseen, op="boost", z=2.0, since=0.0):
    return DemandSignal(user, phrase, op, unseen, f"best-{phrase}", z, since)


def test_gaps_rank_by_demand_times_shortfall():
    gaps = detect_gaps(
        [
            signal("u1", "volcanoes", 0),
            signal("u2", "Volcanoes", 2),
            signal("u3", "volcanoes", 1, op="only"),
            signal("u1", "anime style", 100),  # well served: no gap
            signal("u4", "robots", 20),
        ],
        wanted=40,
    )
    assert [g.phrase for g in gaps] == ["volcanoes", "robots"]
    volcano = gaps[0]
    assert volcano.waiting_users == ("u1", "u2", "u3")
    assert volcano.demand == 3.5 and volcano.supply == 1
    assert volcano.shortfall == pytest.approx(39 / 40)
    assert volcano.id == gap_id("volcanoes") == gap_id(" VOLCANOES ")
    assert gaps[1].shortfall == 0.5
    with pytest.raises(ValueError):
        detect_gaps([], wanted=0)


def test_subject_extraction():
    assert subject_of("A skateboarder landing a kickflip, photorealistic") == (
        "a skateboarder landing a kickflip"
    )
    assert subject_of("Watercolor painting: a fox in the snow") == "a fox in the snow"
    assert subject_of("@mika dancing on a rooftop, anime style") is not None
    assert "@mika" not in (subject_of("@mika dancing on a rooftop, anime style") or "")


def test_prompts_follow_the_phrase_and_the_users_tastes():
    liked = ["A skateboarder landing a kickflip, photorealistic",
             "Pixel art: a dog catching a frisbee in the park"]  # fmt: skip
    prompts = compose_prompts("anime style", liked, 4, seed=7)
    assert len(prompts) == len(set(prompts)) == 4
    assert all("anime style" in p.lower() for p in prompts)
    assert any("skateboarder" in p for p in prompts) and any("frisbee" in p for p in prompts)
    assert compose_prompts("anime style", liked, 4, seed=7) == prompts
    assert compose_prompts("anime style", [], 3, seed=1)  # falls back to varied subjects
    with pytest.raises(ValueError):
        compose_prompts(" ", liked, 2, seed=0)
