"""Steering evaluation: does the next page obey, and how little else moves?

For each case of a suite (an instruction and the catalog tag it should move),
two evaluation users are made in a throw-away user store over the real engine:
a fresh one (cold start, the base rate of the target) and a "personal" one who
liked a few clips of another topic, whose page shows how far the rest of the
feed (personal relevance) moved. Targets come from tags and are used only to
score; the engine never sees them.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.core.naming import as_mask
from feed.core.profile import Event, taste_similarity
from feed.core.ranking import EXCLUDE_Z, Texts
from feed.core.steering import Reader
from feed.evaluation.data import HeldoutCase, LabelledCatalog
from feed.evaluation.understanding import CaseScore, read_instruction, score_case
from feed.resources import DATA_DIR
from feed.services.clips import ClipStore
from feed.services.feed import FeedError, FeedItem, FeedService
from feed.services.relevance import PhraseRelevance

SUITE_PATH = DATA_DIR / "steering" / "dev.toml"
PAGE = 20
PAGES = 3
LIKES = 5

# What "obeys" means, per op (the targets of the steering issue).
BOOST_SHARE = 0.8
SUPPRESS_FALL = 0.7


@dataclass(frozen=True)
class SteeringCase:
    """One instruction and the tag it should move."""

    group: str
    text: str
    target: str


@dataclass(frozen=True)
class CaseResult:
    """How one instruction moved the feed.

    Shares are fractions of items carrying the target tag: `before`/`after` on
    the first page (boost, only) or over three pages (suppress, exclude).
    `collateral` is the relative change in mean taste similarity of the
    personal user's non-target items (0 = the rest of the page is as personal
    as before; nan when the steered page holds no non-target item).
    `reverted`: retracting restored the exact pre-steer page.
    """

    text: str
    ops: str
    target: str
    before: float
    after: float
    personal_before: float
    personal_after: float
    collateral: float
    reverted: bool
    steer_ms: float
    passed: bool


def load_suite(path: Path = SUITE_PATH) -> list[SteeringCase]:
    """Read a suite TOML (a list of [[case]] tables with group, text, target)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return [SteeringCase(c["group"], c["text"], c["target"]) for c in data.get("case", [])]


def _share(items: list[FeedItem], target: str) -> float:
    return sum(target in i.clip.tags for i in items) / max(len(items), 1)


def _pages(service: FeedService, user: object, now: float, n: int) -> list[FeedItem]:
    out: list[FeedItem] = []
    cursor = None
    for _ in range(n):
        page = service.pages.feed_page(user, PAGE, cursor, now)  # type: ignore[arg-type]
        out.extend(page.items)
        cursor = page.next_cursor
    return out


def evaluate_case(
    service: FeedService, case: SteeringCase, now: float, make_handle: Callable[[], str]
) -> CaseResult:
    """Score one case with a fresh user and a personal user."""
    snap = service.snapshots.current()
    fresh, _ = service.accounts.create_user(make_handle(), now)
    base_first = service.pages.feed_page(fresh, PAGE, None, now).items
    base_three = _pages(service, fresh, now, PAGES)
    started = time.perf_counter()
    try:
        records = service.steering.steer(fresh, case.text, now)
    except FeedError as exc:
        return CaseResult(case.text, f"error: {exc}"[:60], case.target, 0.0, 0.0, 0.0, 0.0,
                          0.0, False, 0.0, False)  # fmt: skip
    steer_ms = (time.perf_counter() - started) * 1000
    ops = {r.op for r in records}
    first = service.pages.feed_page(fresh, PAGE, None, now).items
    three = _pages(service, fresh, now, PAGES)
    for r in records:
        service.steering.retract(fresh, r.id, now)
    reverted = [i.clip.id for i in service.pages.feed_page(fresh, PAGE, None, now).items] == [
        i.clip.id for i in base_first
    ]
    if ops & {"boost", "only"}:
        before, after = _share(list(base_first), case.target), _share(list(first), case.target)
        passed = after >= (1.0 if "only" in ops else BOOST_SHARE)
    else:
        before, after = _share(base_three, case.target), _share(three, case.target)
        if "exclude" in ops:
            passed = after == 0.0
        else:
            passed = after <= (1 - SUPPRESS_FALL) * before if before > 0 else after == 0.0
    passed = passed and reverted

    # The personal user likes clips of some other topic; how personal does the
    # non-target part of their page stay?
    other = [cid for cid in snap.clip_ids if case.target not in _tags(service, cid)]
    rng = np.random.default_rng(abs(hash(case.text)) % 2**32)
    anchor = other[int(rng.integers(len(other)))]
    person, _ = service.accounts.create_user(make_handle(), now)
    liked = [
        cid for r in _neighbours(snap, snap.row_of_id[anchor], LIKES * 2)
        if service.consent.visible_row(person, snap, cid := snap.clip_ids[r])
    ][:LIKES]  # fmt: skip
    service.intake.record_events(person, [Event(c, "like", now) for c in liked], now)
    taste = service.users.tastes(person.id).get("text")
    p_before = service.pages.feed_page(person, PAGE, None, now).items
    p_records = service.steering.steer(person, case.text, now)
    p_after = service.pages.feed_page(person, PAGE, None, now).items
    for r in p_records:
        service.steering.retract(person, r.id, now)
    personal_before = _personal(snap, taste, p_before, case.target)
    personal_after = _personal(snap, taste, p_after, case.target)
    # nan when the steered page holds only targets: there is no "rest" to compare.
    collateral = (personal_after - personal_before) / max(abs(personal_before), 1e-9)
    return CaseResult(
        text=case.text, ops="+".join(sorted(ops)), target=case.target, before=before,
        after=after, personal_before=personal_before, personal_after=personal_after,
        collateral=collateral, reverted=reverted, steer_ms=steer_ms, passed=passed,
    )  # fmt: skip


def _tags(service: FeedService, clip_id: str) -> tuple[str, ...]:
    clip = service.clips.catalog.get(clip_id)
    return () if clip is None else clip.tags


def _neighbours(snap: object, row: int, k: int) -> list[int]:
    vectors = snap.vectors["text"]  # type: ignore[attr-defined]
    sims = vectors @ vectors[row]
    return np.argsort(-sims)[:k].tolist()


def _personal(snap: object, taste: object, items: tuple[FeedItem, ...], target: str) -> float:
    rest = [i for i in items if target not in i.clip.tags]
    if not rest or taste is None:
        return float("nan")
    rows = [snap.row_of_id[i.clip.id] for i in rest]  # type: ignore[attr-defined]
    return float(taste_similarity(taste, snap.vectors["text"][rows]).mean())  # type: ignore[arg-type, attr-defined]


def format_report(results: list[CaseResult]) -> str:
    """A plain-text table and a summary line."""
    lines = [
        f"{'instruction':44} {'op':9} {'target':15} {'before':>6} {'after':>6} "
        f"{'personal':>15} {'revert':>6} {'ms':>6}  ok"
    ]
    for r in results:
        personal = f"{r.personal_before:.2f}->{r.personal_after:.2f}"
        lines.append(
            f"{r.text[:44]:44} {r.ops:9} {r.target:15} {r.before:6.2f} {r.after:6.2f} "
            f"{personal:>15} {'yes' if r.reverted else 'NO':>6} {r.steer_ms:6.0f}  "
            f"{'yes' if r.passed else 'NO'}"
        )
    passed = sum(r.passed for r in results)
    values = [r.collateral for r in results if np.isfinite(r.collateral)]
    collateral = float(np.median(values)) if values else float("nan")
    lines.append(
        f"{passed}/{len(results)} instructions met their target; median change in the"
        f" personal relevance of the rest of the page: {collateral:+.1%}"
        f" (over {len(values)} cases whose steered page kept non-target items)"
    )
    return "\n".join(lines)


# -- held-out instructions on labelled catalogs ------------------------------------------

# Page targets of the steering issue: a boost fills this share of the next page.
BOOST_SHARE_EN = 0.8
BOOST_SHARE_JA = 0.7
WARM_LIKES = 5


@dataclass(frozen=True)
class HeldoutResult:
    """One held-out case: how it was read, and (with a target) what the next pages showed.

    `before`/`after` are the target's share of the first page (boost, only) or of
    three pages (suppress, exclude); nan without a target or when nothing was applied.
    """

    score: CaseScore
    op: str
    before: float
    after: float
    page_ok: bool | None


def _label_share(items: Sequence[FeedItem], labels: Mapping[str, set[str]], target: str) -> float:
    return sum(target in labels[i.clip.id] for i in items) / max(len(items), 1)


def page_effect(
    service: FeedService, case: HeldoutCase, labels: Mapping[str, set[str]], now: float,
    handle: str,
) -> tuple[str, float, float, bool]:  # fmt: skip
    """(first op applied, before, after, target met) for a case with a target, fresh user."""
    user, _ = service.accounts.create_user(handle, now)
    try:
        records = service.steering.steer(user, case.text, now)
    except FeedError:
        return "", float("nan"), float("nan"), False
    if not records or records[0].op == "reset":
        return "", float("nan"), float("nan"), False
    first_op = records[0].op
    target = case.target or ""
    pages = 1 if first_op in ("boost", "only") else PAGES
    after_items = _pages(service, user, now, pages)
    base_user, _ = service.accounts.create_user(handle + "-base", now)
    base = _pages(service, base_user, now, pages)
    before = _label_share(base, labels, target)
    after = _label_share(after_items, labels, target)
    wanted = case.ops[0]
    if not wanted.allows(first_op):
        met = False
    elif first_op == "boost" or first_op == "only":
        met = after >= (BOOST_SHARE_EN if case.lang == "en" else BOOST_SHARE_JA)
    elif first_op == "exclude":
        met = after == 0.0
    else:
        met = after <= (1 - SUPPRESS_FALL) * before if before > 0 else after == 0.0
    return first_op, before, after, met


def evaluate_heldout(
    reader: Reader,
    cases: Sequence[HeldoutCase],
    services: Mapping[str, FeedService],
    labels: Mapping[str, Mapping[str, set[str]]],
    now: float,
    progress: Callable[[int], None] | None = None,
) -> list[HeldoutResult]:
    """Read every case and, where it names a target, measure the next pages' effect.

    `services[name]` serves labelled catalog `name`; `labels[name][clip_id]` are that
    clip's labels (look and topic), used only to score.
    """
    out = []
    for i, case in enumerate(cases):
        score = score_case(case, read_instruction(reader, case.text))
        op, before, after, ok = "", float("nan"), float("nan"), None
        if case.target is not None and case.catalog is not None and case.catalog in services:
            op, before, after, ok = page_effect(
                services[case.catalog], case, labels[case.catalog], now, f"heldout{i}"
            )
        out.append(HeldoutResult(score, op, before, after, ok))
        if progress is not None:
            progress(1)
    return out


@dataclass(frozen=True)
class ExclusionResult:
    """Exclusion of one label over many users: leaks and false exclusions.

    `leaks` counts target clips shown in the first three pages over the users whose
    instruction was applied; `unapplied` users were asked to confirm (or refused) instead.
    `false_exclusion` is the share of non-target clips a phrase's exclusion removes,
    averaged over the phrases used.
    """

    catalog: str
    target: str
    phrases: tuple[str, ...]
    users: int
    leaks: int
    false_exclusion: float
    unapplied: int = 0


def like_random_clips(
    service: FeedService, user: object, snap: object, rng: np.random.Generator, now: float
) -> np.ndarray:
    """Warm a user up: like WARM_LIKES clips drawn from `snap` by `rng`; their rows."""
    ids = snap.clip_ids  # type: ignore[attr-defined]
    liked = rng.choice(len(ids), size=WARM_LIKES, replace=False)
    events = [Event(ids[int(r)], "like", now) for r in liked]
    service.intake.record_events(user, events, now)  # type: ignore[arg-type]
    return liked


def exclusion_sweep(
    service: FeedService,
    catalog: str,
    target: str,
    texts: Sequence[str],
    labels: Mapping[str, set[str]],
    users: int,
    now: float,
    seed: int = 0,
    handle_prefix: str = "x",
) -> ExclusionResult:
    """Half fresh, half warm users (who liked a few random clips) each say one of `texts`;
    count target clips in their first three pages."""
    rng = np.random.default_rng(seed)
    snap = service.snapshots.current()
    leaks = 0
    unapplied = 0
    phrases: set[str] = set()
    for u in range(users):
        user, _ = service.accounts.create_user(f"{handle_prefix}{catalog}{target}{u}", now)
        if u % 2:
            like_random_clips(service, user, snap, rng, now)
        try:
            records = service.steering.steer(user, texts[u % len(texts)], now)
        except FeedError:
            unapplied += 1
            continue
        phrases.update(r.phrase for r in records if r.op == "exclude")
        shown = _pages(service, user, now, PAGES)
        leaks += sum(target in labels[i.clip.id] for i in shown)
    non_target = np.array([target not in labels[c] for c in snap.clip_ids])
    removed = [
        float(
            ((service.phrases.relevance(p, snap) >= EXCLUDE_Z) & non_target).sum()
            / non_target.sum()
        )
        for p in sorted(phrases)
    ]
    return ExclusionResult(catalog, target, tuple(sorted(phrases)), users, leaks,
                           float(np.mean(removed)) if removed else float("nan"),
                           unapplied)  # fmt: skip


def marked_look_clips(
    catalog: LabelledCatalog, texts: Texts, looks_of_rows: Sequence[str], phrases: PhraseRelevance
) -> tuple[int, int, int]:
    """How the looks' marks (`phrases.looks`) find a labelled catalog's look clips: over
    the look labels whose first English or Japanese name is one of a look's names, (their
    clips the marks find, their clips, clips of another look marked). `texts` and
    `looks_of_rows` are the catalog's clips in one order. Labels named otherwise are left
    out (A's and B's noir, paper, ghibli, 3D cartoon and vaporwave): their looks overlap
    others by design, as noir's black-and-white marks mark B's monochrome clips."""
    found = clips = wrong = 0
    for label, spec in catalog.labels.items():
        marks = phrases.looks.marks(spec.en.split(",")[0].strip(), spec.ja.split("、")[0])
        if spec.kind != "look" or not marks:
            continue
        marked = as_mask(phrases.marked(texts, marks), len(texts))
        ours = np.array([look == label for look in looks_of_rows])
        found += int((marked & ours).sum())
        clips += int(ours.sum())
        wrong += int((marked & ~ours).sum())
    return found, clips, wrong


def open_labelled_service(
    catalog: LabelledCatalog, home: Path, engine: ClipStore, reader: Reader, now: float
) -> tuple[FeedService, dict[str, set[str]]]:
    """Ingest a labelled catalog into `engine` (on `home`) and open a service over it.

    Returns the service and each clip's labels (kept away from the engine)."""
    from feed.core.manifest import parse_entry

    entries = [parse_entry(r.manifest_row(), n, None, 2000) for n, r in enumerate(catalog.rows, 1)]
    engine.ingest(entries, now=now - 3600)
    labels = {r.id: {r.look, r.topic} for r in catalog.rows}
    return FeedService.open(engine, home, reader), labels
