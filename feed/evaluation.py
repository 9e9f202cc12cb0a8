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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.profile import Event, taste_similarity
from feed.service import FeedError, FeedItem, FeedService

SUITE_PATH = Path(__file__).resolve().parent.parent / "data" / "steering" / "dev.toml"
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
        page = service.feed_page(user, PAGE, cursor, now)  # type: ignore[arg-type]
        out.extend(page.items)
        cursor = page.next_cursor
    return out


def evaluate_case(
    service: FeedService, case: SteeringCase, now: float, make_handle: Callable[[], str]
) -> CaseResult:
    """Score one case with a fresh user and a personal user."""
    snap = service.snapshot()
    fresh, _ = service.create_user(make_handle(), now)
    base_first = service.feed_page(fresh, PAGE, None, now).items
    base_three = _pages(service, fresh, now, PAGES)
    started = time.perf_counter()
    try:
        records = service.steer(fresh, case.text, now)
    except FeedError as exc:
        return CaseResult(case.text, f"error: {exc}"[:60], case.target, 0.0, 0.0, 0.0, 0.0,
                          0.0, False, 0.0, False)  # fmt: skip
    steer_ms = (time.perf_counter() - started) * 1000
    ops = {r.op for r in records}
    first = service.feed_page(fresh, PAGE, None, now).items
    three = _pages(service, fresh, now, PAGES)
    for r in records:
        service.retract(fresh, r.id, now)
    reverted = [i.clip.id for i in service.feed_page(fresh, PAGE, None, now).items] == [
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
    liked = [snap.clip_ids[r] for r in _neighbours(snap, snap.row_of_id[anchor], LIKES)]
    person, _ = service.create_user(make_handle(), now)
    service.record_events(person, [Event(c, "like", now) for c in liked], now)
    taste = service.state.tastes(person.id).get("text")
    p_before = service.feed_page(person, PAGE, None, now).items
    p_records = service.steer(person, case.text, now)
    p_after = service.feed_page(person, PAGE, None, now).items
    for r in p_records:
        service.retract(person, r.id, now)
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
    clip = service.engine.catalog.get(clip_id)
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
