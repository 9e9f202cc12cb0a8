"""Profiles: evidence from events, decay, and taste similarity."""

from __future__ import annotations

import numpy as np
import pytest

from feed.core.profile import HALF_LIFE_S, Event, event_weights, taste_similarity, update_taste


def test_event_weights():
    assert event_weights(Event("c", "like", 0), 10) == (1.0, 0.0)
    assert event_weights(Event("c", "hide", 0), 10) == (0.0, 1.0)
    full = event_weights(Event("c", "view", 0, watch_ms=10_000), 10.0)
    bail = event_weights(Event("c", "view", 0, watch_ms=500), 10.0)
    assert full[0] > 0 and full[1] == 0
    assert bail[0] == 0 and bail[1] > 0
    assert event_weights(Event("c", "impression", 0), 10) == (0.0, 0.0)


def test_update_taste_accumulates_and_decays():
    near = np.array([[1.0, 0.0]], np.float32)
    t = update_taste(None, near, np.array([1.0], np.float32), np.array([0.0], np.float32), 0.0)
    assert t.taste_weight == 1.0 and t.negative is None
    later = update_taste(t, near, np.array([0.0], np.float32), np.array([0.0], np.float32),
                         HALF_LIFE_S)  # fmt: skip
    assert later.taste_weight == pytest.approx(0.5)


def test_taste_similarity_prefers_liked_and_avoids_disliked():
    liked, disliked = np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 1.0]], np.float32)
    t = update_taste(None, np.concatenate([liked, disliked]), np.array([1.0, 0.0], np.float32),
                     np.array([0.0, 1.0], np.float32), 0.0)  # fmt: skip
    sims = taste_similarity(t, np.array([[1, 0], [0, 1], [0.7, 0.7]], np.float32))
    assert sims[0] > sims[2] > sims[1]
    assert taste_similarity(None, np.ones((3, 2), np.float32)).tolist() == [0, 0, 0]
