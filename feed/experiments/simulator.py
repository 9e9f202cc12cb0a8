"""A seeded user simulator: latent tastes over styles and topics, reactions to each clip,
and plain-language steering when a user's taste shifts.

Every clip's first tag is its style and its second its topic (as in the demo
spec). A simulated user likes a few styles and topics, may loathe one topic,
and may turn to a new style part-way through their first session. Watching,
skipping, liking and hiding follow from taste, novelty and fatigue. A user
steers when their taste shifts (boost the new style), when a loathed topic shows
up (exclude it) or when one topic crowds a page (suppress it). The words come
from the held-out steering corpus (feed/experiments/heldout.py): a case that
expresses that op on that tag, in the user's language when one exists. With
`instructions = "templates"` users say fixed phrasings instead ("more anime
style", 「もっとアニメ風に」, "no horror", "less sports"), which the parser was
written for.

The simulator serves users from a ranker (the logging policy) and writes what
happened in the live event log's schema (EventLog.append), a steering log
(with what each instruction meant), and an exposure log of every page served
with each clip's propensity when the policy knows it (the uniform random policy
does), so simulated sessions replay exactly like recorded ones and support
off-policy estimates. Time is passed in and every draw comes from a seeded
generator.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

from feed.core.profile import Event
from feed.core.steering import Glossary
from feed.experiments.clips import ClipTable
from feed.experiments.config import SimulationConfig
from feed.experiments.heldout import Phrasebook
from feed.experiments.logs import (
    Exposure,
    LoggedInstruction,
    write_exposure_log,
    write_parquet_atomic,
    write_steering_log,
)
from feed.experiments.rankers import Ranker, StochasticPolicy
from feed.services.feed import FeedError
from feed.storage.events import EventLog, LoggedEvent
from feed.storage.stores import EVENTS_DIR

log = logging.getLogger(__name__)

LIKED_STYLES = 2
LIKED_TOPICS = 2
SHIFT_AFFINITY = 1.6
AVERSE_AFFINITY = -3.0
NOVELTY_BONUS = 0.25
FATIGUE_PER_TOPIC = 0.15
FATIGUE_PER_STYLE = 0.1
FATIGUE_PER_POSITION = 0.01
RECENT_WINDOW = 8
HIDE_PROBABILITY = 0.85
SAY_NO_PROBABILITY = 0.9
TIRED_AFFINITY = 0.5
LESS_AFFINITY_DROP = 0.5
FLUSH_EVENTS = 5000


@dataclass(frozen=True)
class Facets:
    """What a simulated user perceives of a clip: its style and topic (None if untagged)."""

    style: str | None
    topic: str | None


@dataclass(frozen=True)
class Taste:
    """Affinities (about -1 to 1.5) for styles and topics; a clip appeals by their sum."""

    style: Mapping[str, float]
    topic: Mapping[str, float]

    def appeal(self, facets: Facets) -> float:
        """How much the user wants this clip, before novelty and fatigue."""
        style = self.style.get(facets.style, 0.0) if facets.style else 0.0
        topic = self.topic.get(facets.topic, 0.0) if facets.topic else 0.0
        return style + topic


@dataclass(frozen=True)
class SimUser:
    """A simulated user: language, taste, a loathed topic and a mid-session shift."""

    id: str
    language: str
    taste: Taste
    averse: str | None
    shift_to: str | None
    shift_page: int


@dataclass(frozen=True)
class Reaction:
    """What a user did with one clip; `watch_ratio` is watched time over clip length."""

    kind: str
    watch_ratio: float


@dataclass(frozen=True)
class SimulationResult:
    """Where a simulation wrote its logs, and how much happened."""

    users: tuple[SimUser, ...]
    sessions: int
    events: int
    instructions: int
    events_dir: Path
    steering_path: Path
    users_path: Path
    exposures_path: Path
    unsaid: int = 0


def clip_facets(table: ClipTable) -> tuple[Facets, ...]:
    """Style (first tag) and topic (second tag) of every clip row."""
    return tuple(
        Facets(tags[0] if tags else None, tags[1] if len(tags) > 1 else None) for tags in table.tags
    )


def sample_users(
    n: int, styles: Sequence[str], topics: Sequence[str], config: SimulationConfig, seed: int
) -> tuple[SimUser, ...]:
    """Draw `n` users; user i's draws depend only on (seed, i)."""
    users = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        liked_styles = set(rng.choice(styles, size=min(LIKED_STYLES, len(styles)), replace=False))
        liked_topics = set(rng.choice(topics, size=min(LIKED_TOPICS, len(topics)), replace=False))
        style = {s: _affinity(rng, s in liked_styles) for s in styles}
        topic = {t: _affinity(rng, t in liked_topics) for t in topics}
        averse = None
        others = [t for t in topics if t not in liked_topics]
        if others and rng.random() < config.averse_share:
            averse = str(rng.choice(others))
            topic[averse] = AVERSE_AFFINITY
        shift_to = None
        new_styles = [s for s in styles if s not in liked_styles]
        if new_styles and rng.random() < config.shift_share:
            shift_to = str(rng.choice(new_styles))
        shift_page = int(rng.integers(1, max(config.pages_per_session, 2)))
        language = "ja" if rng.random() < config.ja_share else "en"
        users.append(
            SimUser(f"sim-{i:05d}", language, Taste(style, topic), averse, shift_to, shift_page)
        )
    return tuple(users)


def _affinity(rng: np.random.Generator, liked: bool) -> float:
    return float(rng.uniform(0.9, 1.3)) if liked else float(rng.normal(-0.35, 0.2))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def react(
    taste: Taste,
    averse: str | None,
    facets: Facets,
    recent: Sequence[Facets],
    position: int,
    rng: np.random.Generator,
) -> Reaction:
    """One user's reaction to one clip.

    A loathed topic is hidden (or skipped). Otherwise appeal, plus a bonus when
    neither the style nor the topic appeared among the last few clips, minus
    fatigue (recent clips of the same topic or style, and time in the session),
    decides whether the clip is watched, how much of it, and whether it is liked.
    """
    if averse is not None and facets.topic == averse:
        kind = "hide" if rng.random() < HIDE_PROBABILITY else "skip"
        return Reaction(kind, float(rng.uniform(0.02, 0.1)))
    window = recent[-RECENT_WINDOW:]
    same_topic = sum(f.topic == facets.topic for f in window if facets.topic)
    same_style = sum(f.style == facets.style for f in window if facets.style)
    novel = NOVELTY_BONUS if same_topic == 0 and same_style == 0 else 0.0
    fatigue = (
        FATIGUE_PER_TOPIC * same_topic
        + FATIGUE_PER_STYLE * same_style
        + FATIGUE_PER_POSITION * position
    )
    score = taste.appeal(facets) + novel - fatigue
    if rng.random() >= _sigmoid(2.5 * score - 0.5):
        return Reaction("skip", float(rng.uniform(0.03, 0.18)))
    ratio = float(np.clip(rng.normal(0.6 + 0.25 * score, 0.2), 0.2, 2.5))
    liked = rng.random() < _sigmoid(3.0 * score - 3.0)
    return Reaction("like" if liked else "view", ratio)


def japanese_term(tag: str, glossary: Glossary) -> str | None:
    """A glossary word whose English is the tag (or starts with it), for Japanese instructions."""
    exact = [ja for ja, en in glossary.terms.items() if en == tag]
    if exact:
        return exact[0]
    starts = [ja for ja, en in glossary.terms.items() if en.startswith(tag + " ")]
    return starts[0] if starts else None


def instruction_text(op: str, tag: str, is_style: bool, language: str, glossary: Glossary) -> str:
    """The words a user says to boost, suppress or exclude a tag, in their language
    (English when the glossary has no word for the tag)."""
    ja = japanese_term(tag, glossary) if language == "ja" else None
    if ja is not None:
        return {
            "boost": f"もっと{ja}風に" if is_style else f"{ja}をもっと見せて",
            "suppress": f"{ja}は少なめに",
            "exclude": f"{ja}は見たくない",
        }[op]
    return {
        "boost": f"more {tag} style" if is_style else f"more {tag}",
        "suppress": f"less {tag}",
        "exclude": f"no {tag}",
    }[op]


class _UserState:
    """What changes about a user during a simulation (private to `simulate`)."""

    def __init__(self, user: SimUser) -> None:
        self.user = user
        self.style = dict(user.taste.style)
        self.topic = dict(user.taste.topic)
        self.said_no = False
        self.said_less: set[str] = set()

    def taste(self) -> Taste:
        return Taste(self.style, self.topic)


class _Simulation:
    """One run: the clock, the draws, and what has been logged so far."""

    def __init__(
        self,
        config: SimulationConfig,
        table: ClipTable,
        ranker: Ranker,
        glossary: Glossary,
        rng: np.random.Generator,
        phrasebook: Phrasebook | None,
    ) -> None:
        self.config = config
        self.table = table
        self.ranker = ranker
        self.glossary = glossary
        self.rng = rng
        self.phrasebook = phrasebook
        self.facets = clip_facets(table)
        self.styles = {f.style for f in self.facets if f.style}
        self.clock = config.start_ts
        self.events: list[LoggedEvent] = []
        self.instructions: list[LoggedInstruction] = []
        self.exposures: list[Exposure] = []
        self.unsaid = 0

    def words(self, language: str, op: str, tag: str) -> LoggedInstruction | None:
        """What a user says to mean `op` on `tag` (time and ids left blank), or None when
        the corpus has no case for it."""
        if self.phrasebook is None:
            text = instruction_text(op, tag, tag in self.styles, language, self.glossary)
            said = "ja" if language == "ja" and japanese_term(tag, self.glossary) else "en"
            return LoggedInstruction(0.0, "", None, text, tag, op, said, "template", None)
        own = ("ja", "mixed") if language == "ja" else ("en",)
        fitting = self.phrasebook.fitting(op, tag, own) or self.phrasebook.fitting(
            op, tag, ("en", "ja", "mixed")
        )
        if not fitting:
            return None
        case = fitting[int(self.rng.integers(len(fitting)))].case
        return LoggedInstruction(0.0, "", None, case.text, tag, op, case.lang, case.kind, case.id)

    def say(self, state: _UserState, session_id: str, op: str, tag: str) -> None:
        """Give the ranker an instruction and log it with what it meant (a refusal is
        logged as a warning, not fatal; an intent the corpus cannot word is counted)."""
        words = self.words(state.user.language, op, tag)
        if words is None:
            self.unsaid += 1
            return
        try:
            self.ranker.steer(state.user.id, words.text, self.clock)
        except FeedError as exc:
            log.warning("simulated instruction %r refused: %s", words.text, exc)
        self.instructions.append(
            replace(words, ts=self.clock, user_id=state.user.id, session_id=session_id)
        )
        self.clock += 1.0

    def serve(self, user: SimUser, session_id: str, number: int) -> tuple[str, ...]:
        """The policy's next page, logged as exposures (with propensities when known)."""
        k = self.config.page_size
        chances: tuple[float | None, ...]
        pool: int | None
        if isinstance(self.ranker, StochasticPolicy):
            served = self.ranker.serve(user.id, session_id, k, self.clock)
            page, chances, pool = served.clips, served.propensities, served.pool
        else:
            page = self.ranker.page(user.id, session_id, k, self.clock)
            chances, pool = (None,) * len(page), None
        self.exposures.extend(
            Exposure(self.clock, user.id, session_id, number, position, clip, chance, pool,
                     self.ranker.name)
            for position, (clip, chance) in enumerate(zip(page, chances, strict=True))
        )  # fmt: skip
        return page

    def session(self, state: _UserState, number: int) -> None:
        """One session: pages of clips, reactions, and instructions between pages."""
        user = state.user
        session_id = f"{user.id}-s{number}"
        self.clock += float(self.rng.uniform(60.0, 600.0))
        recent: list[Facets] = []
        for p in range(self.config.pages_per_session):
            if number == 0 and p == user.shift_page and user.shift_to is not None:
                state.style[user.shift_to] = SHIFT_AFFINITY
                self.say(state, session_id, "boost", user.shift_to)
            page = self.serve(user, session_id, p)
            self.clock += 0.3
            events, saw_averse = self.watch(state, page, recent)
            if events:
                self.ranker.record(user.id, events, self.clock)
                self.events.extend(
                    LoggedEvent(e.ts, user.id, session_id, e.clip_id, e.type, e.watch_ms,
                                self.clock)
                    for e in events
                )  # fmt: skip
            self.clock += 1.0
            if saw_averse and not state.said_no and self.rng.random() < SAY_NO_PROBABILITY:
                state.said_no = True
                self.say(state, session_id, "exclude", str(user.averse))
            crowded = _crowding_topic(page, self.facets, self.table, self.config.page_size)
            tired = crowded is not None and state.topic.get(crowded, 0.0) < TIRED_AFFINITY
            if crowded is not None and tired and crowded not in state.said_less:
                state.said_less.add(crowded)
                state.topic[crowded] -= LESS_AFFINITY_DROP
                self.say(state, session_id, "suppress", crowded)

    def watch(
        self, state: _UserState, page: Sequence[str], recent: list[Facets]
    ) -> tuple[list[Event], bool]:
        """React to each clip of a page in turn; returns the events and whether a loathed
        topic showed up."""
        events: list[Event] = []
        saw_averse = False
        for clip_id in page:
            row = self.table.row_of_id[clip_id]
            f = self.facets[row]
            reaction = react(state.taste(), state.user.averse, f, recent, len(recent), self.rng)
            duration = float(self.table.duration_s[row])
            if not np.isfinite(duration):
                duration = self.config.clip_duration_s
            self.clock += reaction.watch_ratio * duration
            watch_ms = int(reaction.watch_ratio * duration * 1000)
            saw_averse = saw_averse or (
                state.user.averse is not None and f.topic == state.user.averse
            )
            if reaction.kind in ("hide", "skip"):
                events.append(Event(clip_id, reaction.kind, self.clock,
                                    watch_ms if reaction.kind == "skip" else None))  # fmt: skip
            else:
                events.append(Event(clip_id, "view", self.clock, watch_ms))
                if reaction.kind == "like":
                    events.append(Event(clip_id, "like", self.clock + 0.2))
            self.clock += 0.5
            recent.append(f)
        return events, saw_averse


def simulate(
    config: SimulationConfig,
    table: ClipTable,
    ranker: Ranker,
    out: Path,
    glossary: Glossary,
    seed: int,
    progress: Callable[[int], None] | None = None,
    phrasebook: Phrasebook | None = None,
) -> SimulationResult:
    """Serve every simulated session from `ranker` and log it under `out`.

    Sessions run one after another on one clock starting at `config.start_ts`
    (round-robin over users), so the log is in time order and every user's
    later sessions follow their earlier ones. Users word their instructions with
    `phrasebook`'s held-out cases (None: the fixed templates).
    """
    facets = clip_facets(table)
    styles = sorted({f.style for f in facets if f.style})
    topics = sorted({f.topic for f in facets if f.topic})
    users = sample_users(config.users, styles, topics, config, seed)
    rng = np.random.default_rng([seed, len(users), 1])
    run = _Simulation(config, table, ranker, glossary, rng, phrasebook)
    events_log = EventLog(out / EVENTS_DIR)
    total_events = 0
    states = [_UserState(u) for u in users]
    for number in range(config.sessions_per_user):
        for state in states:
            run.session(state, number)
            if len(run.events) >= FLUSH_EVENTS:
                events_log.append(run.events)
                total_events += len(run.events)
                run.events = []
            if progress is not None:
                progress(1)
    events_log.append(run.events)
    total_events += len(run.events)
    steering_path = out / "steering.parquet"
    write_steering_log(steering_path, run.instructions)
    users_path = out / "users.parquet"
    write_parquet_atomic(_users_frame(users), users_path)
    exposures_path = out / "exposures.parquet"
    write_exposure_log(exposures_path, run.exposures)
    return SimulationResult(
        users=users,
        sessions=len(users) * config.sessions_per_user,
        events=total_events,
        instructions=len(run.instructions),
        events_dir=events_log.directory,
        steering_path=steering_path,
        users_path=users_path,
        exposures_path=exposures_path,
        unsaid=run.unsaid,
    )


def _crowding_topic(
    page: Sequence[str], facets: Sequence[Facets], table: ClipTable, page_size: int
) -> str | None:
    """A topic filling at least half of a page (and three of its clips), if any."""
    counts: dict[str, int] = {}
    for clip_id in page:
        topic = facets[table.row_of_id[clip_id]].topic
        if topic is not None:
            counts[topic] = counts.get(topic, 0) + 1
    need = max(3, (page_size + 1) // 2)
    crowded = [t for t, n in sorted(counts.items()) if n >= need]
    return crowded[0] if crowded else None


def _users_frame(users: Sequence[SimUser]) -> pl.DataFrame:
    """The simulated users' hidden truth, for readers of the report."""
    return pl.DataFrame(
        {
            "user_id": [u.id for u in users],
            "language": [u.language for u in users],
            "liked_styles": [sorted(s for s, a in u.taste.style.items() if a > 0.5) for u in users],
            "liked_topics": [sorted(t for t, a in u.taste.topic.items() if a > 0.5) for u in users],
            "averse": [u.averse for u in users],
            "shift_to": [u.shift_to for u in users],
            "shift_page": [u.shift_page if u.shift_to else None for u in users],
        }
    )
