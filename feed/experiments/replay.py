"""Replay: rebuild, time-correctly, what a ranker variant would have shown in logged sessions.

A plan turns an event log (the live Parquet schema, scanned lazily) and a
steering log into one time-ordered list of actions over all users: requests
(a variant ranks a page at the moment a logged step began), observations (the
logged events between two requests) and instructions. A variant is fed the
actions in that order, so when it ranks at time t it has seen exactly the
events and instructions logged before t, from every user (popularity
included), and nothing later.

A step is `step_size` consecutive clips of a session in the order they were
first met. Held-out positives of a step are the clips the user engaged with
(the configured event types) from the step's start to the end of the session,
less those the user had met before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from feed.core.profile import EVENT_TYPES, Event
from feed.core.ranking import MATCH_Z, phrase_relevance
from feed.core.steering import InstructionError, Reader, parse_instruction
from feed.experiments.clips import ClipTable
from feed.experiments.config import ReplayConfig
from feed.experiments.rankers import Ranker
from feed.services.feed import FeedError
from feed.storage.events import EVENT_SCHEMA

Encode = Callable[[str], np.ndarray]
PROGRESS_EVERY = 50
JUDGED_OPS = ("boost", "suppress", "exclude", "only")


@dataclass(frozen=True)
class Request:
    """A variant ranks a page for a logged step that began at `ts`."""

    ts: float
    user_id: str
    session_id: str
    step: int
    positives: frozenset[str]
    opens: str = ""


@dataclass(frozen=True)
class Observation:
    """Logged events of one user, all at or before `ts`, handed to the variant at `ts`."""

    ts: float
    user_id: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Instruction:
    """A logged steering instruction; `index` numbers the plan's instructions.

    `op` is what the user meant when the log knows it (the simulator does), and
    `lang`/`kind` describe the wording (from the held-out corpus case it came from).
    """

    ts: float
    user_id: str
    session_id: str | None
    text: str
    target: str | None
    index: int
    op: str | None = None
    lang: str | None = None
    kind: str | None = None


Action = Request | Observation | Instruction
# At equal times a request comes first: a variant ranking at t sees only what came before t.
_ORDER = {Request: 0, Instruction: 1, Observation: 2}


@dataclass(frozen=True)
class ReplayPlan:
    """Every action of the replay in time order, and what it covers."""

    actions: tuple[Action, ...]
    users: tuple[str, ...]
    sessions: int
    requests: int
    events: int
    instructions: tuple[Instruction, ...]
    positive_types: tuple[str, ...]


@dataclass(frozen=True)
class Judgement:
    """How an instruction is scored: its op and which clip rows (N,) it is about."""

    op: str
    label: str
    matches: np.ndarray


@dataclass(frozen=True)
class StepTrace:
    """What a variant showed at one step, with what is needed to score it.

    `popularity` holds, per shown item, the share of users who had met it before
    the step (smoothed, in (0, 1]); `opens` is the logged clip that opened the step.
    """

    user_id: str
    session_id: str
    step: int
    ts: float
    page: tuple[str, ...]
    positives: frozenset[str]
    latency_ms: float
    popularity: tuple[float, ...]
    opens: str = ""


@dataclass(frozen=True)
class SteerTrace:
    """What a variant did with one instruction.

    `before`/`after` mark which items of the probe pages (a fresh session just
    before and just after the instruction) match its target; the relevance
    tuples hold the user's reference relevance of the probe items that do not
    match (nan-free; empty when the user had no positives yet); `follow` marks
    the matches on each replayed page of the user after the instruction, until
    their next instruction.
    """

    user_id: str
    ts: float
    text: str
    op: str
    label: str
    applied: bool
    before: tuple[bool, ...]
    after: tuple[bool, ...]
    before_relevance: tuple[float, ...]
    after_relevance: tuple[float, ...]
    follow: tuple[tuple[bool, ...], ...]
    lang: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class VariantTrace:
    """Everything a variant showed during a replay."""

    variant: str
    steerable: bool
    steps: tuple[StepTrace, ...]
    steering: tuple[SteerTrace, ...]


# -- planning --------------------------------------------------------------------


def sample_users(events: pl.LazyFrame, max_users: int | None, seed: int) -> list[str] | None:
    """A seeded sample of `max_users` user ids of the log (None: keep everyone)."""
    if max_users is None:
        return None
    users = sorted(events.select(pl.col("user_id").unique()).collect()["user_id"].to_list())
    if len(users) <= max_users:
        return users
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(users, size=max_users, replace=False).tolist())


def load_events(
    events: pl.LazyFrame, clip_ids: Sequence[str], users: Sequence[str] | None, session_gap_s: float
) -> pl.DataFrame:
    """The log's events on known clips (of the given users), sorted by time.

    Events without a session id are cut into sessions per user wherever the
    user was idle for more than `session_gap_s`.
    """
    frame = events.select(list(EVENT_SCHEMA)).filter(
        pl.col("clip_id").is_in(pl.Series(list(clip_ids), dtype=pl.String()))
        & pl.col("type").is_in(list(EVENT_TYPES))
        & pl.col("ts").is_finite()
    )
    if users is not None:
        frame = frame.filter(pl.col("user_id").is_in(pl.Series(list(users), dtype=pl.String())))
    frame = frame.sort(["user_id", "ts"], maintain_order=True)
    idle = (pl.col("ts") - pl.col("ts").shift(1).over("user_id")).fill_null(float("inf"))
    burst = (idle > session_gap_s).cast(pl.Int64).cum_sum().over("user_id")
    frame = frame.with_columns(
        pl.when(pl.col("session_id").is_null())
        .then(pl.concat_str([pl.col("user_id"), pl.lit("#"), burst.cast(pl.String)]))
        .otherwise(pl.col("session_id"))
        .alias("session_id")
    )
    return frame.collect().sort("ts", maintain_order=True)


def plan_replay(events: pl.DataFrame, steering: pl.DataFrame, config: ReplayConfig) -> ReplayPlan:
    """Cut sessions into steps and order requests, observations and instructions in time."""
    first_met: dict[tuple[str, str], float] = {}
    for user_id, clip_id, ts in events.select(["user_id", "clip_id", "ts"]).iter_rows():
        first_met.setdefault((user_id, clip_id), ts)  # rows are in time order
    actions: list[Action] = []
    sessions = 0
    positive_types = set(config.positives)
    for (user_id, session_id), rows in events.group_by(
        ["user_id", "session_id"], maintain_order=True
    ):
        sessions += 1
        logged = [
            (float(ts), clip, kind, None if watch is None else int(watch))
            for ts, clip, kind, watch in rows.select(
                ["ts", "clip_id", "type", "watch_ms"]
            ).iter_rows()
        ]
        # A step begins where its first clip is first met in the session.
        met: set[str] = set()
        starts: list[float] = []
        opens: list[str] = []
        for ts, clip, _, _ in logged:
            if clip not in met:
                if len(met) % config.step_size == 0 and (not starts or ts > starts[-1]):
                    starts.append(ts)
                    opens.append(clip)
                met.add(clip)
        if config.max_steps_per_session is not None:
            starts = starts[: config.max_steps_per_session]
        for step, start in enumerate(starts):
            positives = frozenset(
                clip
                for ts, clip, kind, _ in logged
                if ts >= start and kind in positive_types and first_met[(user_id, clip)] >= start
            )
            actions.append(Request(start, user_id, str(session_id), step, positives, opens[step]))
        bounds = [*starts[1:], float("inf")]
        batch: list[Event] = []
        b = 0
        for ts, clip, kind, watch in logged:
            while b < len(bounds) and ts >= bounds[b]:
                if batch:
                    actions.append(Observation(batch[-1].ts, user_id, tuple(batch)))
                batch = []
                b += 1
            batch.append(Event(clip, kind, ts, watch))
        if batch:
            actions.append(Observation(batch[-1].ts, user_id, tuple(batch)))
    users = set(events["user_id"].unique().to_list())
    instructions: list[Instruction] = []
    columns = ["ts", "user_id", "session_id", "text", "target", "op", "lang", "kind"]
    for ts, user_id, session_id, text, target, op, lang, kind in (
        steering.select(columns).sort("ts", maintain_order=True).iter_rows()
    ):
        if user_id in users:
            instructions.append(
                Instruction(
                    float(ts), user_id, session_id, text, target, len(instructions), op, lang, kind
                )
            )
    actions.extend(instructions)
    actions.sort(key=lambda a: (a.ts, _ORDER[type(a)]))
    return ReplayPlan(
        actions=tuple(actions),
        users=tuple(sorted(users)),
        sessions=sessions,
        requests=sum(isinstance(a, Request) for a in actions),
        events=len(events),
        instructions=tuple(instructions),
        positive_types=tuple(config.positives),
    )


def judge_instructions(
    plan: ReplayPlan, table: ClipTable, reader: Reader, encode: Encode
) -> dict[int, Judgement]:
    """What each instruction is about: its target tag's clips when the log names one,
    else the clips whose text is about its phrase (z >= MATCH_Z, as the ranker's "only").

    When the log says what the user meant (op and target), that is the judgement and
    the parser is not asked: scoring must not depend on the reading it scores.
    """
    judged = {}
    has = {"text": np.ones(len(table), dtype=bool)}
    for ins in plan.instructions:
        if ins.op in JUDGED_OPS and ins.target:
            judged[ins.index] = Judgement(ins.op, ins.target, table.tag_mask(ins.target))
            continue
        try:
            ops = [op for op in parse_instruction(ins.text, reader) if op.op != "reset"]
        except InstructionError:
            ops = []
        if not ops:
            judged[ins.index] = Judgement("error", ins.target or "", np.zeros(len(table), bool))
            continue
        if ins.target:
            judged[ins.index] = Judgement(ops[0].op, ins.target, table.tag_mask(ins.target))
        else:
            z = phrase_relevance({"text": table.vectors}, has, {"text": encode(ops[0].phrase)})
            judged[ins.index] = Judgement(ops[0].op, ops[0].phrase, z >= MATCH_Z)
    return judged


# -- replaying -------------------------------------------------------------------


class _LogMemory:
    """What the harness itself knows from the log so far (never shown to a ranker):
    who met each clip, and each user's positives, for novelty and reference relevance."""

    def __init__(self, table: ClipTable, positive_types: Sequence[str]) -> None:
        self.table = table
        self.positive_types = set(positive_types)
        self.met = np.zeros(len(table), dtype=np.float64)
        self.met_by: set[tuple[str, int]] = set()
        self.users: set[str] = set()
        self.taste: dict[str, np.ndarray] = {}

    def observe(self, user_id: str, events: Sequence[Event]) -> None:
        self.users.add(user_id)
        for e in events:
            row = self.table.row_of_id[e.clip_id]
            if (user_id, row) not in self.met_by:
                self.met_by.add((user_id, row))
                self.met[row] += 1
            if e.type in self.positive_types:
                vector = self.table.vectors[row].astype(np.float64)
                self.taste[user_id] = self.taste.get(user_id, 0.0) + vector

    def popularity(self, rows: np.ndarray) -> tuple[float, ...]:
        return tuple(((self.met[rows] + 1) / (len(self.users) + 1)).tolist())

    def relevance(self, user_id: str, rows: np.ndarray) -> tuple[float, ...]:
        taste = self.taste.get(user_id)
        if taste is None or not np.any(taste):
            return ()
        direction = taste / np.linalg.norm(taste)
        return tuple((self.table.vectors[rows] @ direction).tolist())


class _OpenSteer:
    """A steering trace still collecting the pages that follow its instruction."""

    def __init__(self, trace: SteerTrace, judgement: Judgement) -> None:
        self.trace = trace
        self.judgement = judgement
        self.follow: list[tuple[bool, ...]] = []

    def freeze(self) -> SteerTrace:
        return replace(self.trace, follow=tuple(self.follow))


def replay(
    plan: ReplayPlan,
    ranker: Ranker,
    table: ClipTable,
    judgements: dict[int, Judgement],
    config: ReplayConfig,
    progress: Callable[[int], None] | None = None,
) -> VariantTrace:
    """Feed the plan's actions to a ranker in time order and record what it showed."""
    memory = _LogMemory(table, plan.positive_types)
    steps: list[StepTrace] = []
    steered: list[_OpenSteer] = []
    following: dict[str, _OpenSteer] = {}
    for done, action in enumerate(plan.actions, start=1):
        if isinstance(action, Observation):
            ranker.record(action.user_id, action.events, action.ts)
            memory.observe(action.user_id, action.events)
        elif isinstance(action, Request):
            started = time.perf_counter()
            page = ranker.page(action.user_id, action.session_id, config.page_size, action.ts)
            latency_ms = (time.perf_counter() - started) * 1000
            rows = table.rows(page)
            steps.append(
                StepTrace(
                    action.user_id,
                    action.session_id,
                    action.step,
                    action.ts,
                    page,
                    action.positives,
                    latency_ms,
                    memory.popularity(rows),
                    action.opens,
                )
            )
            open_steer = following.get(action.user_id)
            if open_steer is not None:
                open_steer.follow.append(tuple(open_steer.judgement.matches[rows].tolist()))
                if len(open_steer.follow) >= config.follow_pages:
                    del following[action.user_id]
        else:
            judgement = judgements[action.index]
            k, pages = config.page_size, config.probe_pages
            before = table.rows(ranker.probe(action.user_id, k, pages, action.ts))
            applied = judgement.op != "error" and ranker.steerable
            try:
                ranker.steer(action.user_id, action.text, action.ts)
            except FeedError:
                applied = False
            # A ranker that cannot be steered ignores the instruction: its page after is
            # its page before, so it is not ranked twice.
            after = (
                table.rows(ranker.probe(action.user_id, k, pages, action.ts))
                if ranker.steerable
                else before
            )
            mask = judgement.matches
            trace = SteerTrace(
                user_id=action.user_id,
                ts=action.ts,
                text=action.text,
                op=judgement.op,
                label=judgement.label,
                applied=applied,
                before=tuple(mask[before].tolist()),
                after=tuple(mask[after].tolist()),
                before_relevance=memory.relevance(action.user_id, before[~mask[before]]),
                after_relevance=memory.relevance(action.user_id, after[~mask[after]]),
                follow=(),
                lang=action.lang,
                kind=action.kind,
            )
            open_steer = _OpenSteer(trace, judgement)
            steered.append(open_steer)
            if config.follow_pages > 0:
                following[action.user_id] = open_steer
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if progress is not None:
        progress(len(plan.actions) % PROGRESS_EVERY)
    return VariantTrace(
        variant=ranker.name,
        steerable=ranker.steerable,
        steps=tuple(steps),
        steering=tuple(t.freeze() for t in steered),
    )
