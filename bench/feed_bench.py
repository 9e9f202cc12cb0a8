"""Benchmark the feed service: page latency, steering, event-to-page, memory, and the
retrieve-then-rank method against the exact whole-catalog one.

At each catalog size (10,000 and 100,000 synthetic clips; 5,000 with --quick; or the
sizes given), printed as a table and written as JSON:

1. `FeedService.feed_page` latency, first pages and follow-on pages through cursors,
   for users with a liked-clips profile: without steering, with a boost (and an exclude),
   and with an "only"; plus the first page after a new steering op, with the relevance
   cache as `steer` leaves it (warm), emptied (cold), and again (warm);
2. steering: `parse_instruction` alone (the learned reader: Sudachi, CRF, classifier),
   and `FeedService.steer` end to end (the `POST /v1/steer` work) over ~50 English and
   Japanese instructions, split by new phrase and already-cached phrase; and what a new
   phrase costs the page after it, part by part (encoding per channel, its statistics
   over the snapshot's sample, the index fetch per channel, the newest clips naming it),
   beside the exact whole-catalog relevance that pages no longer compute;
3. event to page: `record_events` (5 likes of one topic) plus the next `feed_page`, and
   whether that page moved towards the topic (against a twin user who posted nothing);
4. the new method against the exact one, in the same run: how much of each steering
   phrase's exact top 20 (`PhraseRelevance.relevance`, the z of every clip) its
   `nearest` also ranks top 20; and, for users with an exclude op, served clips whose
   exact z reaches the exclusion bar, and candidates the sampled statistics' margin
   removed that the exact method would have allowed;
5. process RSS after building, and opening the built home again (indexes loaded from
   disk, service, first snapshot), as a restarted server would.

Clips go straight into the catalog with `Catalog.upsert_clips`. Encoding 100,000 prompts
with the sentence models would take minutes, so a pool of real prompts is encoded once
with the packaged MiniLM (channel "text") and with USE multilingual v3 (channel "multi"),
and each clip gets its pool entry's vectors plus a little seeded noise: steering phrases
("more anime style", 「サメの動画もっと」) then meet real sentence-model geometry in both
spaces. Instructions are read by the learned reader (`load_reader`), trained once and
cached in $STEERFEED_MODEL_CACHE (default bench/out/models). Timings run with one torch
and one FAISS thread (`use_one_thread_per_request`, as `steerfeed serve` does); every
result records how many cores other processes kept busy.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/feed_bench.py [--quick] [--clips 100000]
[--sizes 1000000] [--out bench/out/feed.json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from core_bench import (
    CpuWindow,
    Latency,
    TimedEncoder,
    machine_info,
    progress_bar,
    summarise,
    timer,
)

from embeddings.encoders import MultilingualEncoder, SentenceEncoder, l2_normalise
from feed.bootstrap import use_one_thread_per_request
from feed.core.manifest import parse_entry
from feed.core.profile import Event
from feed.core.ranking import EXCLUDE_Z, MATCH_Z, lexical_naming
from feed.core.steering import InstructionError, Reader, load_reader, parse_instruction
from feed.core.types import User
from feed.http.serving import freeze_long_lived
from feed.services import pages as pages_module
from feed.services.clips import MULTI, TEXT, ClipStore
from feed.services.feed import FeedError, FeedPage, FeedService
from feed.services.pages import FeedPages
from feed.services.relevance import FETCH_DEPTH, PhraseMatch
from feed.storage.catalog import Catalog, ClipRecord, embedding_text

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("bench.feed")

SEED = 20240612
NOW = 1_760_000_000.0
DAY_S = 24 * 3600.0
CATALOG_DAYS = 30
CATALOG_BATCH = 2000
CREATORS = 2000
REMIX_SHARE = 0.03
NOISE = 0.15  # norm of the noise added to a pool vector (cosine to it stays ~0.99)
PAGE = 20
# Goals (at 1,000,000 clips): page p99, first page after a new phrase p99, event to next
# page p99, RSS after building, opening a built home; steer p50; top-20 overlap.
PAGE_GOAL_P99_MS = 20.0
NEW_PHRASE_PAGE_GOAL_P99_MS = 50.0
EVENT_GOAL_P99_MS = 30.0
RSS_GOAL_MB = 3 * 1024.0
OPEN_GOAL_S = 10.0
STEER_GOAL_P50_MS = 10.0
TOP_K = 20
OVERLAP_GOAL = 0.95
NEAREST_K = FETCH_DEPTH  # how deep a boost or an "only" fetches its best matches
EXCLUDE_PAGES = 3

STYLES = (
    "anime", "photorealistic", "claymation", "pixel art", "watercolor", "film noir",
    "cyberpunk", "oil painting", "low-poly 3D", "documentary", "ukiyo-e", "vaporwave",
    "stop-motion", "pencil sketch",
)  # fmt: skip
TOPICS: dict[str, tuple[str, ...]] = {
    "cats": ("a cat", "a fluffy kitten", "a ginger tabby cat"),
    "dogs": ("a golden retriever", "a puppy", "a corgi"),
    "sports": ("a soccer player scoring a goal", "a basketball player dunking",
               "a tennis player serving", "a skateboarder doing a kickflip"),
    "horror": ("a ghost", "a zombie", "a creepy clown", "a haunted doll"),
    "food": ("a chef cooking ramen", "a plate of sushi", "a baker pulling bread from an oven"),
    "dance": ("a street dancer", "a ballerina", "a tango couple"),
    "space": ("an astronaut", "a rocket launching", "a comet"),
    "ocean": ("a jellyfish", "a surfer riding a wave", "a humpback whale"),
    "music": ("a jazz trio", "a guitarist", "a violinist"),
    "cars": ("a vintage car", "a race car", "a motorbike"),
    "fantasy": ("a dragon", "a wizard", "a knight"),
    "robots": ("a robot", "a delivery drone", "an android"),
    "birds": ("a parrot", "a hummingbird", "an owl"),
}  # fmt: skip
TOPIC_NAMES = tuple(TOPICS)
SCENES = (
    "on a rainy rooftop at night", "in a neon city alley", "across a frozen lake",
    "inside a train station", "in a sunflower field", "in a cluttered kitchen",
    "through a desert canyon", "at a crowded night market", "in a misty pine forest",
    "in a 1970s living room", "above the clouds", "on a floating island",
    "at golden hour on the beach", "in a library of endless shelves", "during a thunderstorm",
    "in a snow globe",
)  # fmt: skip
SHOTS = ("close-up", "wide shot", "slow motion", "drone shot", "time-lapse", "handheld")
TEMPLATES = (
    "{Style}: {subject} {scene}",
    "{subject} {scene}, {style} style",
    "{Shot} of {subject} {scene}, {style}",
    "{Style} video of {subject} {scene}",
)

# Steering instructions a viewer might type (~50, English and Japanese; the last Japanese
# ones name concepts the glossary does not know, so only the multilingual space reads them).
INSTRUCTIONS = (
    "more anime style", "show me realistic ones", "no horror", "less sports",
    "a lot more cats, fewer dogs", "only cats", "back to normal", "more watercolor",
    "a bit less dogs please", "I don't want to see any clowns", "stop showing me zombies",
    "more food videos", "give me more space stuff", "more claymation", "less cyberpunk",
    "no more robots", "just show me dance", "i'm in the mood for ocean videos",
    "Show me more black and white film noir and no horror", "much more pixel art",
    "tone down the cars", "more music, less sports", "i love birds",
    "stuff that looks like a Japanese cartoon", "more cute animals", "no jump scares",
    "more slow motion", "less dark and gloomy stuff", "more dragons and wizards",
    "fewer drone shots",
    "もっとアニメ風に", "ホラーは見たくない", "スポーツは少なめで", "猫だけ見せて",
    "ちょっとだけ犬を増やして", "もっと猫、ホラーはいらない", "クレイアニメをもっと見せて",
    "実写っぽいのを見せて", "料理をもっと見せて", "宇宙が好き", "元に戻して", "ダンスを増やして",
    "サメの動画もっと", "バレエを踊る動画をもっと", "ジブリっぽいのが見たい", "怪談は無理",
    "ドラゴンをもっと見せて", "ロボットはもういい", "雨の夜の街が見たい", "花火の動画もっと",
)  # fmt: skip
# (instruction, label kind, label) for the steered cohorts; labels check the pages.
BOOSTS = (
    ("more anime style", "style", "anime"), ("more watercolor", "style", "watercolor"),
    ("more claymation", "style", "claymation"), ("much more pixel art", "style", "pixel art"),
    ("more cyberpunk", "style", "cyberpunk"), ("more oil painting", "style", "oil painting"),
)  # fmt: skip
EXCLUDES = (
    ("no horror", "topic", "horror"), ("no sports", "topic", "sports"),
    ("no robots", "topic", "robots"), ("no cars", "topic", "cars"),
    ("ホラーは見たくない", "topic", "horror"),
)  # fmt: skip
ONLYS = (
    ("only cats", "topic", "cats"), ("just show me dance", "topic", "dance"),
    ("only anime style", "style", "anime"), ("nothing but food", "topic", "food"),
    ("猫だけ見せて", "topic", "cats"),
)  # fmt: skip
RELEVANCE_CHECKS = (
    ("anime style", "style", "anime"), ("watercolor painting", "style", "watercolor"),
    ("claymation", "style", "claymation"), ("horror", "topic", "horror"),
    ("cats", "topic", "cats"), ("sports", "topic", "sports"), ("food cooking", "topic", "food"),
    ("猫", "topic", "cats"), ("ホラー", "topic", "horror"), ("クジラ", "topic", "ocean"),
    ("バレエ", "topic", "dance"),
)  # fmt: skip


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """Building one catalog size: fill, index, snapshot, and memory afterwards."""

    count: int
    pool: int
    remixes: int
    creators: int
    index_kind: str
    fill_s: float
    index_build_s: float
    build_threads: int
    snapshot_s: float
    rss_mb: float
    max_rss_mb: float


@dataclass(frozen=True)
class RelevanceCheck:
    """Clips whose relevance to a phrase reaches MATCH_Z, against the synthetic labels."""

    count: int
    phrase: str
    label: str
    matched: int
    precision: float
    recall: float


@dataclass(frozen=True)
class PageLatency:
    """feed_page latency for one cohort: all requests, first pages, follow-on pages.

    `label_share` is the mean share of page items carrying each checked label
    (e.g. the boosted style, the excluded topic).
    """

    count: int
    scenario: str
    users: int
    latency: Latency
    first_page: Latency
    follow_on: Latency
    items_per_page: float
    label_share: dict[str, float]
    others_cores: float


@dataclass(frozen=True)
class NewSteerPage:
    """First page after a new steering op: as `steer` left the relevance cache, emptied, warm."""

    count: int
    users: int
    after_steer: Latency
    cold: Latency
    warm: Latency
    others_cores: float


@dataclass(frozen=True)
class SteerTiming:
    """Instruction to applied ops: parsing alone, and `steer` with new or cached phrases.

    `steer` stores the ops and hands each new phrase to the warm-up thread; each timed
    call here is followed (untimed) by that phrase's `PhraseRelevance.match`, as the next
    page would need it, so calls do not queue behind earlier warm-ups.
    """

    count: int
    instructions: int
    refused: tuple[str, ...]
    parse: Latency
    new_phrase: Latency
    cached_phrase: Latency
    others_cores: float


@dataclass(frozen=True)
class NewPhraseCost:
    """What a new phrase costs before a page can use it, part by part, over `phrases`.

    `encode[c]`: the phrase through channel c's text tower; `sample[c]`: its similarity
    statistics in channel c over the snapshot's sample (`snapshot.sample`); `fetch[c]`:
    channel c's index asked for the NEAREST_K nearest clips, as rows; `lexical`: the
    newest 2 × NEAREST_K clips whose text names the phrase (`lexical_naming`), as
    `nearest` reads them; `match`: `PhraseRelevance.match` with
    nothing cached (encoding, statistics); `nearest`: then
    `PhraseRelevance.nearest` (the fetches, scored); `total`: the two together, what a
    boost's first page waits for. `exact`: `PhraseRelevance.relevance` with nothing
    cached, the whole-catalog z (an N×d product per channel) that pages no longer
    compute, kept for offline measurement and shown for comparison.
    """

    count: int
    phrases: int
    encode: dict[str, Latency]
    sample: dict[str, Latency]
    fetch: dict[str, Latency]
    lexical: Latency
    match: Latency
    nearest: Latency
    total: Latency
    exact: Latency
    others_cores: float


@dataclass(frozen=True)
class TopOverlap:
    """How much of each phrase's exact top TOP_K its `nearest` also ranks top TOP_K.

    Exact: `PhraseRelevance.relevance` (every clip's z, statistics over every clip).
    New: `PhraseRelevance.nearest(match, NEAREST_K)` (each space's index, plus clips
    naming the phrase, scored with the sample's statistics). Clips tied with the exact
    TOP_K-th z count as in its top TOP_K. `overlap[i]` belongs to `phrases[i]`.
    `z_gap[i]`: the exact top TOP_K's mean exact z less that of the new top TOP_K (0
    when the new method finds clips as relevant, in the exact method's own terms).
    These are what pages after a phrase's first read, once its second, deeper search has
    finished; `first_*` are the same for the first search alone (the first page's).
    """

    count: int
    k: int
    fetched: int
    phrases: tuple[str, ...]
    overlap: tuple[float, ...]
    mean: float
    minimum: float
    z_gap: tuple[float, ...] = ()
    mean_z_gap: float = 0.0
    max_z_gap: float = 0.0
    first_overlap: tuple[float, ...] = ()
    first_mean: float = 0.0
    first_minimum: float = 0.0


@dataclass(frozen=True)
class ExclusionCheck:
    """Exclusions against the exact z, over EXCLUDE_PAGES new pages of each user with an
    exclude op in force.

    `leaks`: served clips whose exact z reaches EXCLUDE_Z for an exclusion in force
    (goal 0). Over each page's candidates (every row its sources fetched, tested per
    exclusion): `removed` by the sampled z with the margin; `by_margin`, removed only
    because of the margin (sampled z just below the bar); `by_margin_allowed`, those of
    them the exact z allows (the margin's false exclusions); `false_removed`, every
    removal the exact z allows, margin or not; `saved_by_margin`, removed by the margin
    though the exact z reaches the bar (leaks without it).
    """

    count: int
    users: int
    pages: int
    served: int
    leaks: int
    margin: float
    candidates: int
    removed: int
    by_margin: int
    by_margin_allowed: int
    false_removed: int
    saved_by_margin: int


@dataclass(frozen=True)
class Opening:
    """Opening the built home again, as a restarted server does: the clip store (indexes
    loaded from disk), the feed service, and its first snapshot."""

    count: int
    clip_store_s: float
    service_s: float  # loads the saved snapshot, when there is one
    snapshot_s: float
    total_s: float
    from_saved: bool  # the first snapshot was the one saved when the service closed
    rebuilt_s: float  # service and first snapshot again, with no saved snapshot to load


@dataclass(frozen=True)
class EventToPage:
    """record_events (likes of one topic) plus the next page, and whether the page moved.

    Shares are of the liked topic among page items, averaged over trials: the user's
    page before the likes, the page after, and a twin's next page (same history,
    no likes).
    """

    count: int
    trials: int
    likes: int
    record_events: Latency
    next_page: Latency
    total: Latency
    share_before: float
    share_after: float
    share_twin: float
    moved_trials: int
    others_cores: float


@dataclass(frozen=True)
class UploadToPage:
    """An upload (`ClipStore.ingest` of one clip) and a steered user's next page, with the
    snapshot grown by the new clip and, for comparison, rebuilt from the catalog."""

    trials: int
    ingest: Latency
    next_page: Latency
    shown: int  # trials whose next page served the new clip
    rebuild_trials: int
    rebuild_next_page: Latency


@dataclass
class SizeReport:
    """Everything measured at one catalog size."""

    build: Build
    relevance_checks: list[RelevanceCheck] = field(default_factory=list)
    pages: list[PageLatency] = field(default_factory=list)
    new_steer_page: NewSteerPage | None = None
    steering: SteerTiming | None = None
    new_phrase_cost: NewPhraseCost | None = None
    event_to_page: EventToPage | None = None
    upload_to_page: UploadToPage | None = None
    top_overlap: TopOverlap | None = None
    exclusions: ExclusionCheck | None = None
    opening: Opening | None = None


@dataclass
class Report:
    """One run."""

    machine: dict[str, Any]
    config: dict[str, Any]
    reader_load_s: float = 0.0
    pool_encode_s: float = 0.0
    sizes: list[SizeReport] = field(default_factory=list)


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    counts: tuple[int, ...]
    pool: int
    users: int
    sessions: int
    pages: int
    new_steer_users: int
    parse_rounds: int
    generated_new: int
    cached_rounds: int
    event_trials: int


FULL = Sizes((10_000, 100_000), 3000, 50, 4, 5, 30, 25, 120, 3, 10)
QUICK = Sizes((5_000,), 1000, 8, 2, 3, 5, 3, 10, 1, 3)


# -- synthetic catalog ------------------------------------------------------------


@dataclass(frozen=True)
class PromptPool:
    """Real prompts with their vectors per channel (n, d) and style/topic labels (n,)."""

    prompts: tuple[str, ...]
    tags: tuple[tuple[str, ...], ...]
    vectors: dict[str, np.ndarray]
    style: np.ndarray
    topic: np.ndarray


@dataclass(frozen=True)
class Labels:
    """Per-clip synthetic labels, row i ↔ clip id `clip-{i:07d}`."""

    style: np.ndarray
    topic: np.ndarray
    duration_s: np.ndarray

    def of(self, clip_id: str, kind: str) -> int:
        """The style or topic index of a clip."""
        row = int(clip_id.removeprefix("clip-"))
        return int((self.style if kind == "style" else self.topic)[row])


def label_index(kind: str, name: str) -> int:
    """Index of a style or topic name."""
    return STYLES.index(name) if kind == "style" else TOPIC_NAMES.index(name)


def make_pool(n: int, encoders: dict[str, Any], rng: np.random.Generator) -> PromptPool:
    """n distinct prompts from style × topic × scene × template, encoded in one go by
    each channel's encoder."""
    seen: dict[str, tuple[int, int]] = {}
    while len(seen) < n:
        style, topic = int(rng.integers(len(STYLES))), int(rng.integers(len(TOPICS)))
        subjects = TOPICS[TOPIC_NAMES[topic]]
        words = {
            "style": STYLES[style],
            "subject": subjects[rng.integers(len(subjects))],
            "scene": SCENES[rng.integers(len(SCENES))],
            "shot": SHOTS[rng.integers(len(SHOTS))],
        }
        words |= {"Style": words["style"][0].upper() + words["style"][1:]}
        words |= {"Shot": words["shot"].capitalize()}
        prompt = TEMPLATES[rng.integers(len(TEMPLATES))].format(**words)
        seen.setdefault(prompt, (style, topic))
    prompts = tuple(seen)
    tags = tuple((STYLES[s].lower().replace(" ", "-"),) for s, _ in seen.values())
    texts = [embedding_text(p, "", t) for p, t in zip(prompts, tags, strict=True)]
    vectors = {channel: encoder.encode_texts(texts) for channel, encoder in encoders.items()}
    labels = np.array(list(seen.values()), dtype=np.int16)
    return PromptPool(prompts, tags, vectors, labels[:, 0], labels[:, 1])


def fill_catalog(
    path: Path,
    count: int,
    pool: PromptPool,
    model_ids: dict[str, str],
    rng: np.random.Generator,
    vector_format: str = "float32",
) -> tuple[Labels, int]:
    """Insert `count` clips drawn from the pool (noisy pool vectors on every channel,
    stored as `vector_format`); return labels, remixes."""
    entry = rng.integers(len(pool.prompts), size=count)
    remix_of = np.full(count, -1, dtype=np.int64)
    remix = np.flatnonzero(rng.random(count) < REMIX_SHARE)
    remix = remix[remix > 0]
    remix_of[remix] = (rng.random(len(remix)) * remix).astype(np.int64)
    entry[remix] = entry[remix_of[remix]]  # a remix looks like its source
    weights = 1.0 / (np.arange(CREATORS) + 10.0)  # a long tail of creators
    creator = rng.choice(CREATORS, size=count, p=weights / weights.sum())
    created_at = NOW - rng.random(count) * CATALOG_DAYS * DAY_S
    duration_s = rng.uniform(4.0, 20.0, size=count)
    batch = max(1, min(CATALOG_BATCH, count // 10))  # one progress line per batch
    catalog = Catalog(path)
    catalog.set_vector_format(vector_format)
    try:
        with progress_bar(count, "catalog fill") as bar:
            for start in range(0, count, batch):
                rows = range(start, min(start + batch, count))
                records = [
                    ClipRecord(
                        id=f"clip-{i:07d}",
                        prompt=pool.prompts[entry[i]],
                        creator=f"creator_{creator[i]:04d}",
                        created_at=float(created_at[i]),
                        tags=pool.tags[entry[i]],
                        remix_of=f"clip-{remix_of[i]:07d}" if remix_of[i] >= 0 else None,
                        duration_s=round(float(duration_s[i]), 2),
                        width=720,
                        height=1280,
                    )
                    for i in rows
                ]
                vectors = {}
                for channel, matrix in pool.vectors.items():
                    dim = matrix.shape[1]
                    noise = rng.standard_normal((len(records), dim), dtype=np.float32)
                    noise *= NOISE / np.sqrt(dim)
                    noisy = l2_normalise(matrix[entry[rows.start : rows.stop]] + noise)
                    vectors[channel] = (model_ids[channel], noisy)
                catalog.upsert_clips(records, vectors)
                bar.update(len(records))
    finally:
        catalog.close()
    labels = Labels(pool.style[entry], pool.topic[entry], duration_s)
    return labels, len(remix)


# -- users and events ----------------------------------------------------------------


class Clock:
    """Benchmark time, passed in as `now`; each request moves it on a little."""

    def __init__(self, start: float) -> None:
        self.now = start

    def tick(self, seconds: float = 2.0) -> float:
        """Advance and return the new time."""
        self.now += seconds
        return self.now


def clips_of(labels: Labels, kind: str, index: int, n: int, rng: np.random.Generator) -> list[str]:
    """n random clip ids carrying a style or topic label."""
    rows = np.flatnonzero((labels.style if kind == "style" else labels.topic) == index)
    return [f"clip-{r:07d}" for r in rng.choice(rows, size=n, replace=False).tolist()]


def profile_events(
    labels: Labels, favourites: Sequence[int], now: float, rng: np.random.Generator
) -> list[Event]:
    """A few days of a viewer: likes and long views of favourite topics, skips elsewhere."""
    events = []
    for i, clip_id in enumerate(
        [c for t in favourites for c in clips_of(labels, "topic", t, 3, rng)]
    ):
        row = int(clip_id.removeprefix("clip-"))
        watch_ms = int(labels.duration_s[row] * 1000 * rng.uniform(0.7, 1.3))
        events.append(Event(clip_id, "view", now - 3600.0 * (i + 1), watch_ms))
        if i % 3 != 2:
            events.append(Event(clip_id, "like", now - 3600.0 * (i + 1) + 30))
    others = [t for t in range(len(TOPICS)) if t not in favourites]
    for t in rng.choice(others, size=2, replace=False).tolist():
        events.append(Event(clips_of(labels, "topic", t, 1, rng)[0], "skip", now - 600.0))
    return events


def make_users(
    service: FeedService,
    prefix: str,
    n: int,
    labels: Labels,
    clock: Clock,
    rng: np.random.Generator,
) -> list[User]:
    """n users, each with a profile of likes in two favourite topics."""
    users = []
    for i in range(n):
        user, _ = service.accounts.create_user(f"{prefix}_{i:03d}", clock.now)
        favourites = rng.choice(len(TOPICS), size=2, replace=False).tolist()
        service.intake.record_events(
            user, profile_events(labels, favourites, clock.now, rng), clock.now
        )
        users.append(user)
    return users


def share(page: FeedPage, labels: Labels, kind: str, index: int) -> float:
    """Share of a page's items carrying a label (0 for an empty page)."""
    if not page.items:
        return 0.0
    return sum(labels.of(it.clip.id, kind) == index for it in page.items) / len(page.items)


# -- 1. page latency -------------------------------------------------------------------


def time_pages(
    service: FeedService,
    users: Sequence[User],
    sizes: Sizes,
    clock: Clock,
    checks: Sequence[Sequence[tuple[str, str, str]]] = (),
    labels: Labels | None = None,
) -> tuple[list[float], list[float], list[float], dict[str, float]]:
    """Sessions of first and follow-on pages, users interleaved as a server sees them.

    `checks[k]` lists (name, kind, label) whose share on user k's pages is averaged.
    Returns seconds of first pages, of follow-on pages, items per page, and the shares.
    """
    first: list[float] = []
    follow: list[float] = []
    items: list[float] = []
    shares: dict[str, list[float]] = {}
    for _ in range(sizes.sessions):
        cursors: list[str | None] = [None] * len(users)
        for page_no in range(sizes.pages):
            for k, user in enumerate(users):
                now = clock.tick()
                t0 = time.perf_counter()
                page = service.pages.feed_page(user, PAGE, cursors[k], now)
                (follow if page_no else first).append(time.perf_counter() - t0)
                cursors[k] = page.next_cursor
                items.append(len(page.items))
                if labels is not None and checks:
                    for name, kind, label in checks[k]:
                        value = share(page, labels, kind, label_index(kind, label))
                        shares.setdefault(name, []).append(value)
    return first, follow, items, {k: float(np.mean(v)) for k, v in shares.items()}


def bench_pages(
    service: FeedService,
    scenario: str,
    users: Sequence[User],
    sizes: Sizes,
    clock: Clock,
    labels: Labels,
    checks: Sequence[Sequence[tuple[str, str, str]]] = (),
) -> PageLatency:
    """Time one cohort's feed requests."""
    log.info("pages: %s, %d users", scenario, len(users))
    with CpuWindow() as cpu:
        first, follow, items, shares = time_pages(service, users, sizes, clock, checks, labels)
    return PageLatency(
        count=len(service.snapshots.current()),
        scenario=scenario,
        users=len(users),
        latency=summarise(first + follow),
        first_page=summarise(first),
        follow_on=summarise(follow),
        items_per_page=float(np.mean(items)),
        label_share=shares,
        others_cores=cpu.others_cores,
    )


def bench_new_steer_page(
    service: FeedService, users: Sequence[User], clock: Clock, rng: np.random.Generator
) -> NewSteerPage:
    """First page after each user's new steering op (a phrase nobody used before).

    `steer` hands the new phrase's relevance to the warm-up thread, so the page right
    after it waits for that work or finds it done; the cold case empties the relevance
    cache first (as a catalog change or eviction would), and the warm case repeats the
    page. Every third user steers in Japanese (a phrase only the multilingual space reads).
    """
    log.info("pages: first page after a new steering op, %d users", len(users))
    after: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    english = iter(f"more {p}" for p in fresh_phrases(len(users), rng))
    japanese = iter(fresh_japanese())
    instructions = [
        next(japanese, None) or next(english) if k % 3 == 2 else next(english)
        for k in range(len(users))
    ]
    with CpuWindow() as cpu:
        for user, instruction in zip(users, instructions, strict=True):
            try:
                service.steering.steer(user, instruction, clock.tick())
            except FeedError as exc:
                log.warning("new-phrase instruction %r refused: %s", instruction, exc)
                continue
            for out in (after, cold, warm):
                if out is cold:
                    service.phrases.clear()
                now = clock.tick()
                t0 = time.perf_counter()
                service.pages.feed_page(user, PAGE, None, now)
                out.append(time.perf_counter() - t0)
    return NewSteerPage(
        count=len(service.snapshots.current()),
        users=len(users),
        after_steer=summarise(after),
        cold=summarise(cold),
        warm=summarise(warm),
        others_cores=cpu.others_cores,
    )


# Japanese concepts no instruction above names, none in the glossary.
JA_FRESH = ("忍者", "金魚", "富士山", "桜並木", "新幹線", "盆踊り", "屋台のラーメン", "紅葉",
            "侍", "鯉のぼり", "雪だるま", "折り紙")  # fmt: skip


def fresh_japanese() -> list[str]:
    """Japanese instructions, each naming a concept nothing else in the run uses."""
    return [f"{concept}の動画をもっと見せて" for concept in JA_FRESH]


def fresh_phrases(n: int, rng: np.random.Generator) -> list[str]:
    """n distinct phrases (subject + scene) that no instruction list uses."""
    subjects = [s.split(" ", 1)[1] for group in TOPICS.values() for s in group]
    pairs = [(a, b) for a in subjects for b in SCENES]
    order = rng.permutation(len(pairs))[:n]
    return [f"{pairs[i][0]} {pairs[i][1]}" for i in order.tolist()]


# -- 2. steering ------------------------------------------------------------------------


def bench_steering(
    service: FeedService,
    users: Sequence[User],
    sizes: Sizes,
    clock: Clock,
    rng: np.random.Generator,
) -> SteerTiming:
    """Parse alone, then steer end to end: first sight of each phrase, then cached."""
    reader = service.reader
    instructions, refused = [], []
    for instruction in INSTRUCTIONS:
        try:
            parse_instruction(instruction, reader)
            instructions.append(instruction)
        except InstructionError as exc:
            log.warning("instruction %r refused: %s", instruction, exc)
            refused.append(instruction)
    parse_s = []
    with CpuWindow() as cpu:
        for _ in range(sizes.parse_rounds):
            for instruction in instructions:
                t0 = time.perf_counter()
                parse_instruction(instruction, reader)
                parse_s.append(time.perf_counter() - t0)

        generation = service.snapshots.current().generation
        new_s: list[float] = []
        cached_s: list[float] = []
        fresh = [f"more {p}" for p in fresh_phrases(sizes.generated_new, rng)]
        first_pass = instructions + [f for f in fresh if readable(reader, f)]
        passes = [first_pass] + [instructions] * sizes.cached_rounds
        log.info("steering: %d steer calls", sum(len(p) for p in passes))
        calls = 0
        for batch in passes:
            for instruction in batch:
                phrases = [o.phrase for o in parse_instruction(instruction, reader) if o.phrase]
                # private: whether steer will have to compute relevance for a phrase
                new = any(not service.phrases.cached(p, generation) for p in phrases)
                user = users[calls % len(users)]
                calls += 1
                now = clock.tick()
                t0 = time.perf_counter()
                service.steering.steer(user, instruction, now)
                (new_s if new else cached_s).append(time.perf_counter() - t0)
                for phrase in phrases:  # what the next page waits for; untimed here
                    service.phrases.match(phrase)
    return SteerTiming(
        count=len(service.snapshots.current()),
        instructions=len(instructions),
        refused=tuple(refused),
        parse=summarise(parse_s),
        new_phrase=summarise(new_s),
        cached_phrase=summarise(cached_s),
        others_cores=cpu.others_cores,
    )


def readable(reader: Reader, instruction: str) -> bool:
    """Whether the reader applies an instruction without asking back."""
    try:
        parse_instruction(instruction, reader)
    except InstructionError as exc:
        log.info("generated instruction %r skipped: %s", instruction, exc)
        return False
    return True


def bench_new_phrase_cost(
    service: FeedService, phrases: Sequence[str], encoders: dict[str, TimedEncoder]
) -> NewPhraseCost:
    """Each part of a new phrase's match alone, then `match` and `nearest` with nothing
    cached; and the exact whole-catalog `relevance`, for comparison."""
    log.info("new phrase cost: %d phrases", len(phrases))
    snap = service.snapshots.current()
    assert snap.texts is not None
    encode_s: dict[str, list[float]] = {c: [] for c in encoders}
    sample_s: dict[str, list[float]] = {c: [] for c in encoders}
    fetch_s: dict[str, list[float]] = {c: [] for c in encoders}
    lexical_s, match_s, nearest_s, exact_s = [], [], [], []
    with CpuWindow() as cpu:
        for phrase in phrases:
            for channel, encoder in encoders.items():
                if not encoder.multilingual and not phrase.isascii():
                    continue  # an English-only tower reads Japanese through the glossary
                t0 = time.perf_counter()
                q = encoder.encode_texts([phrase])[0]
                t1 = time.perf_counter()
                # As `PhraseRelevance.match` takes a channel's statistics: from the
                # sample's moments when the catalog is larger than the sample.
                if channel in snap.sample_moments:
                    snap.sample_moments[channel].stats(q)
                else:
                    sims = (snap.vectors[channel] @ q)[snap.has[channel]]
                    float(sims.mean()), float(sims.std())
                t2 = time.perf_counter()
                snap.rows_for_seqs(service.clips.nearest(channel, q, NEAREST_K))
                t3 = time.perf_counter()
                encode_s[channel].append(t1 - t0)
                sample_s[channel].append(t2 - t1)
                fetch_s[channel].append(t3 - t2)
            t0 = time.perf_counter()
            lexical_naming(snap.texts, phrase).newest(2 * NEAREST_K)
            lexical_s.append(time.perf_counter() - t0)
            service.phrases.clear()
            t0 = time.perf_counter()
            found = service.phrases.match(phrase, snap)
            t1 = time.perf_counter()
            service.phrases.nearest(found, NEAREST_K)
            t2 = time.perf_counter()
            match_s.append(t1 - t0)
            nearest_s.append(t2 - t1)
            service.phrases.clear()
            t0 = time.perf_counter()
            service.phrases.relevance(phrase, snap)
            exact_s.append(time.perf_counter() - t0)
    service.phrases.clear()
    return NewPhraseCost(
        count=len(snap),
        phrases=len(phrases),
        encode={c: summarise(v) for c, v in encode_s.items() if v},
        sample={c: summarise(v) for c, v in sample_s.items() if v},
        fetch={c: summarise(v) for c, v in fetch_s.items() if v},
        lexical=summarise(lexical_s),
        match=summarise(match_s),
        nearest=summarise(nearest_s),
        total=summarise([a + b for a, b in zip(match_s, nearest_s, strict=True)]),
        exact=summarise(exact_s),
        others_cores=cpu.others_cores,
    )


def check_relevance(service: FeedService, labels: Labels) -> list[RelevanceCheck]:
    """How well phrase relevance finds the clips labelled with what the phrase names."""
    out = []
    for phrase, kind, name in RELEVANCE_CHECKS:
        z = service.phrases.relevance(phrase)
        truth = (labels.style if kind == "style" else labels.topic) == label_index(kind, name)
        matched = z >= MATCH_Z
        out.append(
            RelevanceCheck(
                count=len(z),
                phrase=phrase,
                label=f"{kind}={name}",
                matched=int(matched.sum()),
                precision=float(truth[matched].mean()) if matched.any() else 0.0,
                recall=float(matched[truth].mean()) if truth.any() else 0.0,
            )
        )
    return out


# -- 3. event to page -------------------------------------------------------------------


def bench_event_to_page(
    service: FeedService,
    labels: Labels,
    sizes: Sizes,
    clock: Clock,
    rng: np.random.Generator,
    likes: int = 5,
) -> EventToPage:
    """A user likes clips of a new topic; time the batch plus the next page, check it moved."""
    log.info("event to page: %d trials", sizes.event_trials)
    record_s, page_s = [], []
    before, after, twin_after = [], [], []
    with CpuWindow() as cpu:
        for trial in range(sizes.event_trials):
            target = trial % len(TOPICS)
            others = [t for t in range(len(TOPICS)) if t != target]
            favourites = rng.choice(others, size=2, replace=False).tolist()
            history = profile_events(labels, favourites, clock.now, rng)
            pair = []
            for who in ("user", "twin"):
                user, _ = service.accounts.create_user(f"e2p_{who}_{trial:03d}", clock.now)
                service.intake.record_events(user, history, clock.tick())
                pair.append((user, service.pages.feed_page(user, PAGE, None, clock.tick())))
            (user, page), (twin, twin_page) = pair
            events = [
                Event(c, "like", clock.now) for c in clips_of(labels, "topic", target, likes, rng)
            ]
            now = clock.tick()
            t0 = time.perf_counter()
            service.intake.record_events(user, events, now)
            t1 = time.perf_counter()
            nxt = service.pages.feed_page(user, PAGE, page.next_cursor, now)
            t2 = time.perf_counter()
            record_s.append(t1 - t0)
            page_s.append(t2 - t1)
            twin_next = service.pages.feed_page(twin, PAGE, twin_page.next_cursor, now)
            before.append(share(page, labels, "topic", target))
            after.append(share(nxt, labels, "topic", target))
            twin_after.append(share(twin_next, labels, "topic", target))
    return EventToPage(
        count=len(service.snapshots.current()),
        trials=sizes.event_trials,
        likes=likes,
        record_events=summarise(record_s),
        next_page=summarise(page_s),
        total=summarise([a + b for a, b in zip(record_s, page_s, strict=True)]),
        share_before=float(np.mean(before)),
        share_after=float(np.mean(after)),
        share_twin=float(np.mean(twin_after)),
        moved_trials=sum(a > t for a, t in zip(after, twin_after, strict=True)),
        others_cores=cpu.others_cores,
    )


def bench_upload_to_page(
    service: FeedService, pool: PromptPool, user: User, clock: Clock, rng: np.random.Generator,
    trials: int, rebuild_trials: int,
) -> UploadToPage:  # fmt: skip
    """One clip uploaded, then the user's next page: the page brings the snapshot up to
    date first (grown by the clip; in the rebuild trials, rebuilt from the catalog)."""
    log.info("upload to page: %d trials, %d rebuilding", trials, rebuild_trials)
    ingest_s, page_s, rebuild_s, shown = [], [], [], 0
    for trial in range(trials + rebuild_trials):
        rebuilding = trial >= trials
        service.snapshots.grow = not rebuilding
        prompt = pool.prompts[int(rng.integers(len(pool.prompts)))]
        raw = {"id": f"upload-{trial:04d}", "prompt": prompt, "creator": "uploader"}
        now = clock.tick()
        t0 = time.perf_counter()
        service.clips.ingest([parse_entry(raw, trial + 1, None, 2000)], now=now)
        t1 = time.perf_counter()
        page = service.pages.feed_page(user, PAGE, None, clock.tick())
        t2 = time.perf_counter()
        (rebuild_s if rebuilding else page_s).append(t2 - t1)
        if not rebuilding:
            ingest_s.append(t1 - t0)
            shown += any(i.clip.id == raw["id"] for i in page.items)
    service.snapshots.grow = True
    return UploadToPage(trials, summarise(ingest_s), summarise(page_s), shown, rebuild_trials,
                        summarise(rebuild_s))  # fmt: skip


# -- 4. against the exact method --------------------------------------------------------


def steering_phrases(reader: Reader) -> list[str]:
    """Every distinct phrase the bench's instructions steer by, in first-seen order."""
    instructions = [*INSTRUCTIONS, *(i for group in (BOOSTS, EXCLUDES, ONLYS) for i, _, _ in group)]
    phrases: dict[str, None] = {}
    for instruction in instructions:
        if readable(reader, instruction):
            phrases.update((op.phrase, None) for op in reader.read(instruction) if op.phrase)
    return list(phrases)


def bench_top_overlap(service: FeedService, phrases: Sequence[str]) -> TopOverlap:
    """Share of each phrase's exact top TOP_K that `nearest` also ranks top TOP_K."""
    log.info("top-%d overlap against the exact method: %d phrases", TOP_K, len(phrases))
    snap = service.snapshots.current()
    overlap, gap, first = [], [], []
    for phrase in phrases:
        exact = service.phrases.relevance(phrase, snap)
        best = np.partition(exact, len(exact) - TOP_K)[len(exact) - TOP_K :]
        bar = best.min()  # the TOP_K-th best
        match = service.phrases.match(phrase, snap)
        rows, _ = service.phrases.nearest(match, NEAREST_K)
        first.append(min(int((exact[rows[:TOP_K]] >= bar).sum()), TOP_K) / TOP_K)
        for pending in service.phrases.warming():  # the second, deeper search
            pending.result()
        rows, _ = service.phrases.nearest(match, NEAREST_K)
        found = int((exact[rows[:TOP_K]] >= bar).sum())
        overlap.append(min(found, TOP_K) / TOP_K)
        gap.append(float(best.mean() - exact[rows[:TOP_K]].mean()))
    return TopOverlap(
        count=len(snap),
        k=TOP_K,
        fetched=NEAREST_K,
        phrases=tuple(phrases),
        overlap=tuple(overlap),
        mean=float(np.mean(overlap)),
        minimum=float(np.min(overlap)),
        z_gap=tuple(gap),
        mean_z_gap=float(np.mean(gap)),
        max_z_gap=float(np.max(gap)),
        first_overlap=tuple(first),
        first_mean=float(np.mean(first)),
        first_minimum=float(np.min(first)),
    )


@dataclass(frozen=True)
class WatchedMatch(PhraseMatch):
    """A phrase match that keeps the rows it was asked to score (see `watch_exclusions`)."""

    asked: list[np.ndarray] = field(default_factory=list)


def watch_exclusions(
    pages: FeedPages, seen: list[tuple[PhraseMatch, np.ndarray]]
) -> Callable[[], None]:
    """Note, for every exclusion in force, the candidates each page tests against it
    (appended to `seen`); returns the function that stops watching.

    Within `FeedPages._candidates` an exclusion's match scores the rows the sources
    offer the gate (through `z_many`), so a match standing in for it there sees the
    page's candidates. The stand-in starts with no rows kept, so it scores again what
    the real match kept (scored ahead, or by earlier pages); only the gate's first
    round is noted.
    """
    original = pages._candidates
    scoring = pages_module.z_many

    def noting(matches: Sequence[PhraseMatch], rows: np.ndarray) -> list[np.ndarray]:
        for match in matches:
            if isinstance(match, WatchedMatch):
                match.asked.append(rows)
        return scoring(matches, rows)

    def candidates(
        fetched: Any, steering: Sequence[Any], matches: dict[str, PhraseMatch], *rest: Any
    ) -> tuple[dict[int, list[str]], Any]:
        excluded = {r.id for r in steering if r.op == "exclude"}
        watched = {
            i: WatchedMatch(**{f.name: getattr(m, f.name) for f in fields(PhraseMatch) if f.init})
            if i in excluded else m
            for i, m in matches.items()
        }  # fmt: skip
        found = original(fetched, steering, watched, *rest)
        for i in excluded:
            asked = watched[i].asked  # type: ignore[attr-defined]
            seen.append((matches[i], asked[0] if asked else np.empty(0, np.int64)))
        return found

    def stop() -> None:
        delattr(pages, "_candidates")
        pages_module.z_many = scoring

    pages._candidates = candidates  # type: ignore[method-assign, assignment]
    pages_module.z_many = noting
    return stop


def bench_exclusions(service: FeedService, users: Sequence[User], clock: Clock) -> ExclusionCheck:
    """EXCLUDE_PAGES new pages for each user with an exclude op, checked against the
    exact z: served clips at or over the bar, and what the sampled statistics removed."""
    log.info("exclusions against the exact method: %d users", len(users))
    served = leaks = pages = 0
    seen: list[tuple[PhraseMatch, np.ndarray]] = []
    stop = watch_exclusions(service.pages, seen)
    try:
        for user in users:
            cursor = None
            for _ in range(EXCLUDE_PAGES):
                page = service.pages.feed_page(user, PAGE, cursor, clock.tick())
                cursor = page.next_cursor
                pages += 1
                snap = service.snapshots.current()
                rows = snap.rows_for_ids([it.clip.id for it in page.items])
                leaked = np.zeros(len(rows), dtype=bool)
                for record in page.steering:
                    if record.op == "exclude":
                        exact = service.phrases.relevance(record.phrase, snap)
                        leaked |= exact[rows] >= EXCLUDE_Z
                served += len(rows)
                leaks += int(leaked.sum())
    finally:
        stop()
    candidates = removed = by_margin = by_margin_allowed = false_removed = saved = 0
    margin = 0.0
    for match, pool in seen:
        sampled = match.z(pool)
        exact = service.phrases.relevance(match.phrase, match.snap)[pool]
        margin = max(margin, match.exclude_margin)
        out = sampled >= EXCLUDE_Z - match.exclude_margin
        near = out & (sampled < EXCLUDE_Z)
        candidates += len(pool)
        removed += int(out.sum())
        by_margin += int(near.sum())
        by_margin_allowed += int((near & (exact < EXCLUDE_Z)).sum())
        false_removed += int((out & (exact < EXCLUDE_Z)).sum())
        saved += int((near & (exact >= EXCLUDE_Z)).sum())
    return ExclusionCheck(
        count=len(service.snapshots.current()),
        users=len(users),
        pages=pages,
        served=served,
        leaks=leaks,
        margin=margin,
        candidates=candidates,
        removed=removed,
        by_margin=by_margin,
        by_margin_allowed=by_margin_allowed,
        false_removed=false_removed,
        saved_by_margin=saved,
    )


# -- one size ---------------------------------------------------------------------------


def _status_mb(keys: Sequence[str]) -> dict[str, float]:
    """The given memory fields of /proc/self/status (kB there), in MiB; absent ones left
    out (no /proc, an older kernel)."""
    found = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in keys:
                found[key] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return found


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return _status_mb(("VmRSS",)).get("VmRSS", 0.0), peak


def rss_parts_mb() -> dict[str, float]:
    """This process's resident memory by kind, MiB: anonymous (heap: indexes, arrays,
    Python objects) and file-backed (mapped files and libraries, e.g. a snapshot's
    memory-mapped codes), as /proc/self/status splits VmRSS."""
    return _status_mb(("RssAnon", "RssFile", "RssShmem"))


def build_threads(threads: tuple[int, int] | None = None) -> tuple[int, int]:
    """Set (torch, FAISS) threads when given; return the previous pair."""
    import faiss
    import torch

    previous = (torch.get_num_threads(), faiss.omp_get_max_threads())
    if threads is not None:
        torch.set_num_threads(threads[0])
        faiss.omp_set_num_threads(threads[1])
    return previous


def bench_size(
    work: Path,
    count: int,
    pool: PromptPool,
    encoders: dict[str, TimedEncoder],
    reader: Reader,
    sizes: Sizes,
    default_threads: tuple[int, int],
    seed: int,
    build_only: bool = False,
    vector_format: str = "float32",
) -> SizeReport:
    """Build a catalog of `count` clips, open engine and service, run every measurement
    (with `build_only`, stop once the snapshot is built: closing saves it)."""
    rng = np.random.default_rng(seed)
    home = work / f"home-{count}"
    log.info("size %d: filling the catalog", count)
    model_ids = {channel: encoder.model_id for channel, encoder in encoders.items()}
    with timer() as fill_s:
        labels, remixes = fill_catalog(
            home / "catalog.sqlite", count, pool, model_ids, rng, vector_format
        )
    log.info("size %d: catalog filled in %.1f s; opening the engine", count, fill_s())
    build_threads(default_threads)  # the indexes build as a fresh `steerfeed` process would
    with timer() as index_s:
        engine = ClipStore(home, encoders[TEXT], None, multi_encoder=encoders[MULTI])
    kinds = "/".join(f"{c} {i.kind}" for c, i in engine.indexes.items())
    log.info("size %d: indexes (%s) built in %.1f s", count, kinds, index_s())
    use_one_thread_per_request()  # as `steerfeed serve` does, before any timing
    service = FeedService.open(engine, home, reader)
    try:
        with timer() as snapshot_s:
            service.snapshots.current()
        current, peak = rss_mb()
        report = SizeReport(
            Build(
                count=count,
                pool=len(pool.prompts),
                remixes=remixes,
                creators=len(service.snapshots.current().creator_names),
                index_kind=kinds,
                fill_s=fill_s(),
                index_build_s=index_s(),
                build_threads=default_threads[1],
                snapshot_s=snapshot_s(),
                rss_mb=current,
                max_rss_mb=peak,
            )
        )
        log.info("size %d: snapshot in %.1f s; RSS %.0f MiB", count, snapshot_s(), current)
        if build_only:
            return report
        report.relevance_checks = check_relevance(service, labels)
        clock = Clock(NOW)
        log.info("size %d: creating users", count)
        warm_users = make_users(service, "warm", 3, labels, clock, rng)
        for user in warm_users:  # warm-up: first requests pay for lazy imports and caches
            service.steering.steer(user, "more anime style, no horror", clock.tick())
        time_pages(service, warm_users, replace(sizes, sessions=1, pages=3), clock)
        # What building and warming left in memory is long-lived, as in a server once
        # `steerfeed serve` has built its app: out of the garbage collector's full scans.
        freeze_long_lived()
        plain = make_users(service, "plain", sizes.users, labels, clock, rng)
        steered = make_users(service, "steered", sizes.users, labels, clock, rng)
        only = make_users(service, "only", sizes.users, labels, clock, rng)
        fresh = make_users(service, "fresh", sizes.new_steer_users, labels, clock, rng)
        steerers = make_users(service, "steerer", 20, labels, clock, rng)

        report.pages.append(bench_pages(service, "no steering", plain, sizes, clock, labels))
        checks = []
        excluding = []
        for k, user in enumerate(steered):
            boost, kind, name = BOOSTS[k % len(BOOSTS)]
            ops = [("boosted style", kind, name)]
            instructions = [boost]
            if k % 2 == 0:
                exclude, ekind, ename = EXCLUDES[(k // 2) % len(EXCLUDES)]
                # One instruction in one language; a Japanese exclude is sent on its own.
                instructions = (
                    [boost, exclude] if not exclude.isascii() else [f"{boost}, {exclude}"]
                )
                ops.append(("excluded topic", ekind, ename))
                excluding.append(user)
            for instruction in instructions:
                service.steering.steer(user, instruction, clock.tick())
            checks.append(ops)
        report.pages.append(
            bench_pages(service, "boost (+ exclude)", steered, sizes, clock, labels, checks)
        )
        checks = []
        for k, user in enumerate(only):
            instruction, kind, name = ONLYS[k % len(ONLYS)]
            service.steering.steer(user, instruction, clock.tick())
            checks.append([("only label", kind, name)])
        report.pages.append(bench_pages(service, "only", only, sizes, clock, labels, checks))
        report.steering = bench_steering(service, steerers, sizes, clock, rng)
        report.new_steer_page = bench_new_steer_page(service, fresh, clock, rng)
        cost_phrases = fresh_phrases(20, np.random.default_rng(rng.integers(1 << 31)))
        cost_phrases += [
            o.phrase for i in INSTRUCTIONS[-8:] if readable(reader, i) for o in reader.read(i)
            if o.phrase
        ]  # fmt: skip
        report.new_phrase_cost = bench_new_phrase_cost(service, cost_phrases, encoders)
        report.event_to_page = bench_event_to_page(service, labels, sizes, clock, rng)
        report.upload_to_page = bench_upload_to_page(
            service, pool, steered[0], clock, rng, sizes.event_trials * 2, 3
        )
        report.top_overlap = bench_top_overlap(service, steering_phrases(reader))
        report.exclusions = bench_exclusions(service, excluding, clock)
    finally:
        service.close()
        engine.catalog.close()  # not engine.close(): the index was saved when built
    del service, engine
    gc.collect()
    report.opening = bench_opening(home, count, encoders, reader)
    return report


def bench_opening(
    home: Path, count: int, encoders: dict[str, TimedEncoder], reader: Reader
) -> Opening:
    """Open the built home again as a restarted server would, up to its first snapshot."""
    log.info("size %d: opening the home again", count)
    with timer() as clip_store_s:
        engine = ClipStore(home, encoders[TEXT], None, multi_encoder=encoders[MULTI])
    try:
        with timer() as service_s:
            service = FeedService.open(engine, home, reader)
        try:
            from_saved = service.snapshots.latest() is not None
            with timer() as snapshot_s:
                service.snapshots.current()
        finally:
            service.close()
        log.info("size %d: opening again without the saved snapshot", count)
        shutil.rmtree(service.snapshot_folder, ignore_errors=True)
        with timer() as rebuilt_s:
            service = FeedService.open(engine, home, reader)
            service.snapshots.current()
        service.close()
    finally:
        engine.catalog.close()
    return Opening(
        count=count,
        clip_store_s=clip_store_s(),
        service_s=service_s(),
        snapshot_s=snapshot_s(),
        total_s=clip_store_s() + service_s() + snapshot_s(),
        from_saved=from_saved,
        rebuilt_s=rebuilt_s(),
    )


# -- report -----------------------------------------------------------------------------


def fmt(lat: Latency, digits: int = 1) -> str:
    """p50 and p99 of a latency, in ms."""
    return f"p50 {lat.p50_ms:.{digits}f} ms, p99 {lat.p99_ms:.{digits}f} ms"


def share_of(part: int, whole: int) -> str:
    """part / whole as a percentage ("-" when whole is 0)."""
    return f"{part / whole:.1%}" if whole else "-"


def table(report: Report) -> str:
    """The report as aligned text rows."""
    rows: list[tuple[str, str, str]] = [
        ("reader", "load_reader", f"{report.reader_load_s:.1f} s (trains once, then cached)"),
        (
            "pool",
            f"{report.config['sizes']['pool']:,} prompts",
            f"{report.pool_encode_s:.1f} s (MiniLM and USE multilingual)",
        ),
    ]
    for size in report.sizes:
        b = size.build
        n = f"{b.count:,}"
        rows.append(
            (
                "build",
                f"{n} {b.index_kind}",
                f"fill {b.fill_s:.1f} s, index {b.index_build_s:.1f} s ({b.build_threads} omp"
                f" threads), snapshot {b.snapshot_s:.1f} s; {b.creators:,} creators,"
                f" {b.remixes:,} remixes",
            )
        )
        goal = "meets" if b.rss_mb <= RSS_GOAL_MB else "MISSES"
        rows.append(
            (
                "memory",
                n,
                f"RSS {b.rss_mb:.0f} MiB after building (peak so far {b.max_rss_mb:.0f});"
                f" {goal} <= {RSS_GOAL_MB:.0f} MiB",
            )
        )
        if size.opening is not None:
            o = size.opening
            goal = "meets" if o.total_s <= OPEN_GOAL_S else "MISSES"
            rows.append(
                (
                    "open a built home",
                    n,
                    f"{o.total_s:.1f} s: clip store (indexes from disk) {o.clip_store_s:.1f} s,"
                    f" service {o.service_s:.1f} s, first snapshot {o.snapshot_s:.1f} s"
                    f" ({'saved snapshot loaded' if o.from_saved else 'snapshot rebuilt'};"
                    f" {goal} <= {OPEN_GOAL_S:.0f} s); service and snapshot with nothing"
                    f" saved {o.rebuilt_s:.1f} s",
                )
            )
        for c in size.relevance_checks:
            rows.append(
                (
                    "relevance z>=1.5",
                    f"{n} '{c.phrase}'",
                    f"{c.matched:,} matched; precision {c.precision:.2f} recall {c.recall:.2f}"
                    f" for {c.label}",
                )
            )
        for p in size.pages:
            goal = "meets" if p.latency.p99_ms <= PAGE_GOAL_P99_MS else "MISSES"
            rows.append(
                (
                    "feed_page",
                    f"{n} {p.scenario}",
                    f"{fmt(p.latency)} ({p.latency.calls} req; {goal} p99 <="
                    f" {PAGE_GOAL_P99_MS:.0f} ms)",
                )
            )
            shares = "".join(f"; {k} {v:.0%}" for k, v in p.label_share.items())
            rows.append(
                (
                    "",
                    "",
                    f"  first {fmt(p.first_page)}; follow-on {fmt(p.follow_on)};"
                    f" {p.items_per_page:.1f} items/page{shares};"
                    f" {p.others_cores:.2f} cores busy elsewhere",
                )
            )
        if size.new_steer_page is not None:
            ns = size.new_steer_page
            goal = "meets" if ns.after_steer.p99_ms <= NEW_PHRASE_PAGE_GOAL_P99_MS else "MISSES"
            rows.append(
                (
                    "first page after steer",
                    f"{n} as steer left it",
                    f"{fmt(ns.after_steer)} ({goal} p99 <= {NEW_PHRASE_PAGE_GOAL_P99_MS:.0f} ms)",
                )
            )
            rows.append(("", f"{n} relevance cache cold", fmt(ns.cold)))
            rows.append(
                (
                    "",
                    f"{n} warm",
                    f"{fmt(ns.warm)} ({ns.users} users;"
                    f" {ns.others_cores:.2f} cores busy elsewhere)",
                )
            )
        if size.steering is not None:
            s = size.steering
            goal = "meets" if s.new_phrase.p50_ms <= STEER_GOAL_P50_MS else "MISSES"
            rows.append(
                (
                    "steer: parse only",
                    f"{n} {s.instructions} instr.",
                    fmt(s.parse, 3) + (f"; refused {list(s.refused)}" if s.refused else ""),
                )
            )
            rows.append(
                (
                    "steer: full, new phrase",
                    n,
                    f"{fmt(s.new_phrase)} ({s.new_phrase.calls} calls;"
                    f" {goal} p50 <= {STEER_GOAL_P50_MS:.0f} ms)",
                )
            )
            rows.append(
                (
                    "steer: full, cached phrase",
                    n,
                    f"{fmt(s.cached_phrase)} ({s.cached_phrase.calls} calls;"
                    f" {s.others_cores:.2f} cores busy elsewhere)",
                )
            )
        if size.new_phrase_cost is not None:
            cost = size.new_phrase_cost
            rows.append(
                (
                    "new phrase: match+nearest",
                    f"{n} {cost.phrases} phrases",
                    f"{fmt(cost.total)} (nothing cached; {cost.others_cores:.2f} cores busy"
                    " elsewhere)",
                )
            )
            rows.append(("", f"{n} match", fmt(cost.match)))
            rows.append(("", f"{n} nearest (k={NEAREST_K})", fmt(cost.nearest)))
            for channel, lat in cost.encode.items():
                rows.append(("", f"{n} encode {channel}", f"{fmt(lat)} ({lat.calls} phrases)"))
            for channel, lat in cost.sample.items():
                rows.append(("", f"{n} sample statistics {channel}", fmt(lat, 2)))
            for channel, lat in cost.fetch.items():
                rows.append(("", f"{n} index fetch {channel}", fmt(lat, 2)))
            rows.append(("", f"{n} lexical (newest 2k)", fmt(cost.lexical)))
            rows.append(("", f"{n} exact (offline) whole-catalog relevance", fmt(cost.exact)))
        if size.event_to_page is not None:
            e = size.event_to_page
            goal = "meets" if e.total.p99_ms <= EVENT_GOAL_P99_MS else "MISSES"
            rows.append(
                (
                    "event -> next page",
                    f"{n} {e.likes} likes",
                    f"{fmt(e.total)} ({goal} p99 <= {EVENT_GOAL_P99_MS:.0f} ms; record_events"
                    f" {fmt(e.record_events)}; feed_page {fmt(e.next_page)})",
                )
            )
            rows.append(
                (
                    "",
                    "",
                    f"  topic share {e.share_before:.0%} before -> {e.share_after:.0%} after"
                    f" (twin without likes {e.share_twin:.0%}); moved in {e.moved_trials}/"
                    f"{e.trials} trials; {e.others_cores:.2f} cores busy elsewhere",
                )
            )
        if size.upload_to_page is not None:
            u = size.upload_to_page
            rows.append(
                (
                    "upload -> next page",
                    f"{n} 1 clip",
                    f"feed_page {fmt(u.next_page)} (snapshot grown; ingest {fmt(u.ingest)});"
                    f" new clip served in {u.shown}/{u.trials}",
                )
            )
            rows.append(
                ("", "", f"  rebuilt from the catalog instead: feed_page {fmt(u.rebuild_next_page)}"
                         f" ({u.rebuild_trials} trials)")
            )  # fmt: skip
        if size.top_overlap is not None:
            t = size.top_overlap
            goal = "meets" if t.minimum >= OVERLAP_GOAL else "MISSES"
            worst = f" ('{t.phrases[int(np.argmin(t.overlap))]}')" if t.minimum < 1 else ""
            rows.append(
                (
                    f"top-{t.k} vs exact",
                    f"{n} {len(t.phrases)} phrases",
                    f"mean {t.mean:.3f}, min {t.minimum:.2f}{worst} of the exact top"
                    f" {t.k} in nearest's (k={t.fetched}; {goal} >= {OVERLAP_GOAL:.2f});"
                    f" first search alone mean {t.first_mean:.3f}, min {t.first_minimum:.2f}",
                )
            )
        if size.exclusions is not None:
            x = size.exclusions
            rows.append(
                (
                    "exclude vs exact",
                    f"{n} {x.users} users",
                    f"{x.leaks} of {x.served:,} served clips have exact z >= {EXCLUDE_Z}"
                    f" (goal 0; {x.pages} pages)",
                )
            )
            rows.append(
                (
                    "",
                    "",
                    f"  candidates {x.candidates:,}: removed {x.removed:,}, by the margin"
                    f" ({x.margin}) {x.by_margin:,}, of which exact allows"
                    f" {x.by_margin_allowed:,} ({share_of(x.by_margin_allowed, x.by_margin)} of"
                    f" them, {share_of(x.by_margin_allowed, x.candidates)} of candidates);"
                    f" all false removals {x.false_removed:,}; margin kept out"
                    f" {x.saved_by_margin:,} exact matches",
                )
            )
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 clips, few requests")
    parser.add_argument("--clips", type=int, help="largest catalog size (default 100,000)")
    parser.add_argument(
        "--sizes",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="catalog sizes to run, comma-separated (instead of the defaults and --clips)",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON path (default bench/out/feed.json, feed-quick.json)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--keep", type=Path,
        help="build the homes under this folder and keep them (for bench/serve_bench.py)",
    )  # fmt: skip
    parser.add_argument(
        "--build-only", action="store_true",
        help="build (and with --keep, keep) the homes, measure nothing but the build",
    )  # fmt: skip
    parser.add_argument(
        "--pool", type=int,
        help="distinct prompts the catalog is drawn from (default 3,000: at 1,000,000 clips"
             " each prompt has about 330 near-copies)",
    )  # fmt: skip
    parser.add_argument(
        "--catalog-vectors", default="float32", choices=["float32", "float16"],
        help="the form the catalog stores vectors in (float16: half the disk)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    for name in ("bench.core", "feed.storage.vectors", "embeddings.index"):  # builds' progress
        logging.getLogger(name).setLevel(logging.INFO)

    out = args.out or ROOT / "bench" / "out" / ("feed-quick.json" if args.quick else "feed.json")
    sizes = QUICK if args.quick else FULL
    if args.clips is not None:
        smaller = tuple(c for c in sizes.counts[:-1] if c < args.clips)
        sizes = replace(sizes, counts=(*smaller, args.clips))
    if args.sizes:
        sizes = replace(sizes, counts=args.sizes)
    if args.pool is not None:
        if not 0 < args.pool <= 100_000:
            parser.error("--pool must be between 1 and 100,000")
        sizes = replace(sizes, pool=args.pool)
    report = Report(
        machine=machine_info(),
        config={"quick": args.quick, "seed": args.seed, "sizes": asdict(sizes)}
        | {"noise": NOISE, "creators": CREATORS, "remix_share": REMIX_SHARE, "page": PAGE}
        | {"catalog_vectors": args.catalog_vectors},
    )
    log.info("machine: %s", report.machine)
    default_threads = build_threads()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    work = (
        contextlib.nullcontext(str(args.keep))
        if args.keep
        else tempfile.TemporaryDirectory(prefix="steerfeed-bench-feed-")
    )
    with work as tmp:
        encoders = {
            TEXT: TimedEncoder(SentenceEncoder.load()),
            MULTI: TimedEncoder(MultilingualEncoder.load()),
        }
        cache = Path(os.environ.get("STEERFEED_MODEL_CACHE", ROOT / "bench" / "out" / "models"))
        with timer() as reader_s:
            reader = load_reader(cache)  # trained once per corpus, then read from the cache
        report.reader_load_s = reader_s()
        log.info("instruction reader ready in %.1f s (%s)", reader_s(), cache)
        log.info("encoding a pool of %d prompts", sizes.pool)
        with timer() as pool_s:
            pool = make_pool(sizes.pool, encoders, rng)
        report.pool_encode_s = pool_s()
        report.machine["torch_threads_when_timing"] = 1
        report.machine["faiss_omp_threads_when_timing"] = 1
        for count in sizes.counts:
            report.sizes.append(
                bench_size(
                    Path(tmp),
                    count,
                    pool,
                    encoders,
                    reader,
                    sizes,
                    default_threads,
                    args.seed + count,
                    args.build_only,
                    args.catalog_vectors,
                )
            )
            gc.collect()
    report.machine["loadavg_at_end"] = os.getloadavg()
    report.config["total_s"] = time.perf_counter() - started

    print(table(report))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
