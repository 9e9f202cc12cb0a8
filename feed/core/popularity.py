"""Popularity: one formula, used by the feed service and the offline experiments alike.

A clip's engagement is a weighted count of what people did with it; popularity is its
log, scaled to [0, 1] by the most engaged clip.
"""

from __future__ import annotations

import numpy as np

# What each event adds to a clip's engagement.
ENGAGEMENT = {"view": 1.0, "like": 3.0, "share": 3.0, "remix": 3.0, "skip": -1.0, "hide": -3.0}
STAT_EVENTS = ("view", "like", "skip", "hide", "share", "remix")  # the order of stored counts


def engagement(counts: tuple[int, ...]) -> float:
    """Engagement of one clip from its stored counts (in `STAT_EVENTS` order)."""
    return float(sum(ENGAGEMENT[kind] * n for kind, n in zip(STAT_EVENTS, counts, strict=True)))


def popularity(raw: np.ndarray, peak: float | None = None) -> np.ndarray:
    """Popularity in [0, 1] from raw engagement, scaled by the most engaged clip's (`peak`;
    default: the most in `raw`). Negative engagement counts as none."""
    peak = float(raw.max(initial=0.0)) if peak is None else peak
    scaled = np.log1p(np.maximum(raw, 0.0)).astype(np.float32)
    return scaled / max(float(np.log1p(max(peak, 0.0))), 1.0)
