"""User profiles from events: pure functions over vectors and frozen dataclasses.

A channel's taste is a decayed, weighted sum of the vectors of clips the user
engaged with; a separate negative sum collects skips and hides. Direction is
what ranking uses; the weights say how much evidence stands behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from feed.core.types import ChannelTaste

EVENT_TYPES = ("impression", "view", "like", "skip", "hide", "share", "remix", "follow")
HALF_LIFE_S = 7 * 24 * 3600.0
POSITIVE_WEIGHT = {"like": 1.0, "share": 1.2, "remix": 1.2}
NEGATIVE_WEIGHT = {"skip": 0.5, "hide": 1.0}
VIEW_WEIGHT = 0.6
SHORT_VIEW_RATIO = 0.2


@dataclass(frozen=True)
class Event:
    """One user event on a clip. `ts` is seconds since the epoch."""

    clip_id: str
    type: str
    ts: float
    watch_ms: int | None = None


def event_weights(event: Event, duration_s: float | None) -> tuple[float, float]:
    """(positive, negative) evidence an event gives about the clip's content.

    A view counts by how much of the clip was watched: watching most of it is a
    mild like, bailing out in the first fifth is a mild skip.
    """
    if event.type in POSITIVE_WEIGHT:
        return POSITIVE_WEIGHT[event.type], 0.0
    if event.type in NEGATIVE_WEIGHT:
        return 0.0, NEGATIVE_WEIGHT[event.type]
    if event.type == "view":
        if event.watch_ms is None or not duration_s:
            return VIEW_WEIGHT * 0.5, 0.0
        ratio = event.watch_ms / (duration_s * 1000.0)
        if ratio < SHORT_VIEW_RATIO:
            return 0.0, NEGATIVE_WEIGHT["skip"] * 0.6
        return VIEW_WEIGHT * min(ratio, 1.5), 0.0
    return 0.0, 0.0


def decay(
    weight_sum: np.ndarray | None, weight: float, age_s: float
) -> tuple[np.ndarray | None, float]:
    """Exponential decay of a weighted sum by its age in half-lives."""
    factor = 0.5 ** (max(age_s, 0.0) / HALF_LIFE_S)
    return (None if weight_sum is None else weight_sum * factor), weight * factor


def update_taste(
    previous: ChannelTaste | None,
    vectors: np.ndarray,
    positive: np.ndarray,
    negative: np.ndarray,
    now: float,
) -> ChannelTaste:
    """Fold events into a channel taste.

    vectors float32 (n, d) of the clips the events are about (rows may repeat);
    positive and negative (n,) are the evidence weights from `event_weights`.
    """
    dim = vectors.shape[1]
    if previous is None:
        taste, tw, neg, nw = None, 0.0, None, 0.0
    else:
        age = now - previous.updated_at
        taste, tw = decay(previous.taste, previous.taste_weight, age)
        neg, nw = decay(previous.negative, previous.negative_weight, age)
    if positive.sum() > 0:
        add = (positive[:, None] * vectors).sum(axis=0)
        taste = add if taste is None else taste + add
        tw += float(positive.sum())
    if negative.sum() > 0:
        add = (negative[:, None] * vectors).sum(axis=0)
        neg = add if neg is None else neg + add
        nw += float(negative.sum())
    if taste is not None:
        taste = taste.astype(np.float32).reshape(dim)
    if neg is not None:
        neg = neg.astype(np.float32).reshape(dim)
    return ChannelTaste(taste, tw, neg, nw, now)


def taste_similarity(taste: ChannelTaste | None, vectors: np.ndarray) -> np.ndarray:
    """How well clips (n, d) fit a taste: cosine to the liked direction minus half the
    cosine to the disliked direction; zeros when there is no evidence yet."""
    out = np.zeros(len(vectors), dtype=np.float32)
    if taste is None:
        return out
    if taste.taste is not None and taste.taste_weight > 0:
        direction = taste.taste / max(float(np.linalg.norm(taste.taste)), 1e-12)
        out += vectors @ direction
    if taste.negative is not None and taste.negative_weight > 0:
        direction = taste.negative / max(float(np.linalg.norm(taste.negative)), 1e-12)
        out -= 0.5 * (vectors @ direction)
    return out


def has_taste(tastes: dict[str, ChannelTaste]) -> bool:
    """Whether any channel carries positive evidence."""
    return any(t.taste is not None and t.taste_weight > 0 for t in tastes.values())


def follows_from(events: Sequence[Event], creator_of: dict[str, str]) -> set[str]:
    """Creators followed by `follow` events (the event names a clip of the creator)."""
    return {creator_of[e.clip_id] for e in events if e.type == "follow" and e.clip_id in creator_of}
