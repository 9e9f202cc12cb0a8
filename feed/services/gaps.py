"""Closing the loop: steering demand → gaps → prompts → jobs → clips → the users who asked.

The feed side of generation: it measures demand from live steering, hands
generation/ pure inputs (demand signals, liked prompts) and an ingest
callable, and remembers which users each new clip was made for.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.core.consent import mentioned_cameos
from feed.core.manifest import parse_entry
from feed.core.ranking import MATCH_Z
from feed.core.types import User
from feed.services.feed import FeedError, FeedService, Forbidden, NotFound
from generation.gaps import DemandSignal, Gap, detect_gaps
from generation.jobs import BudgetExceeded, Budgets, Job, JobStore, NewJob, run_jobs
from generation.prompts import compose_prompts
from generation.providers import VideoProvider

log = logging.getLogger(__name__)

GAP_CREATOR = "steerfeed"
SUPPLY_COSINE = 0.35
MAX_FILL = 8


class BudgetError(FeedError):
    """A generation budget is spent; nothing was queued. `retry_after_s`: when a slot frees."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def checked_prompt(prompt: str) -> str:
    """A generation prompt without its edge spaces; FeedError unless 1-1000 characters."""
    prompt = prompt.strip()
    if not prompt or len(prompt) > 1000:
        raise FeedError("prompt must be 1-1000 characters")
    return prompt


@dataclass(frozen=True)
class FillResult:
    """Jobs queued for a gap."""

    gap: Gap
    jobs: tuple[Job, ...]


class GapFiller:
    """Detects gaps, queues generation jobs and ingests what they make."""

    def __init__(
        self,
        service: FeedService,
        jobs: JobStore,
        provider: VideoProvider,
        staging: Path,
        budgets: Budgets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.jobs = jobs
        self.provider = provider
        self.staging = staging
        self.budgets = budgets or Budgets()
        self.clock = clock

    # -- demand and gaps ------------------------------------------------------

    def system_user(self) -> User:
        """The reserved account gap fills are made as: it holds no likeness of its own, so a
        gap naming a cameo is filled only if that cameo allows anyone to use it."""
        state = self.service.users
        state.reserve_handles([GAP_CREATOR], self.clock())
        user = state.user_by_handle(GAP_CREATOR)
        assert user is not None
        return user

    def _allowed(self, user: User, prompt: str) -> bool:
        try:
            self.service.consent.check_cameos(user, prompt)
        except Forbidden:
            return False
        return True

    def demand(self, now: float) -> list[DemandSignal]:
        """One signal per user per active boost/only phrase, with that user's unseen supply.

        A phrase naming a cameo that does not allow generation by the gap filler is no
        demand: no gap is ever filled with a likeness its owner did not allow.
        """
        snap = self.service.snapshots.current()
        signals = []
        system = self.system_user()
        for record in self.service.users.live_user_steering(now):
            if record.op not in ("boost", "only") or not self._allowed(system, record.phrase):
                continue
            z = self.service.phrases.relevance(record.phrase, snap)
            # z alone always finds a "top 7%"; supply also needs real closeness, or a
            # phrase the catalog lacks entirely would look well served.
            cosine = (
                snap.vectors["text"] @ self.service.phrases.phrase_vectors(record.phrase)["text"]
            )
            unseen = np.ones(len(snap), dtype=bool)
            for seen in (self.service.users.watched(record.user_id or ""),
                         self.service.users.hidden(record.user_id or "")):  # fmt: skip
                unseen[snap.rows_for_ids(seen)] = False
            matches = (z >= MATCH_Z) & (cosine >= SUPPLY_COSINE) & unseen
            best = int(np.argmax(z)) if len(z) else -1
            signals.append(
                DemandSignal(
                    user_id=record.user_id or "", phrase=record.phrase, op=record.op,
                    unseen_matches=int(matches.sum()),
                    best_match=snap.clip_ids[best] if best >= 0 else None,
                    best_z=float(z[best]) if best >= 0 else 0.0, since=record.created_at,
                )
            )  # fmt: skip
        return signals

    def gaps(self, now: float) -> list[Gap]:
        """Current gaps, highest demand x shortfall first."""
        return detect_gaps(self.demand(now))

    def fill_gap(self, gap_id: str, count: int, now: float) -> FillResult:
        """Queue `count` varied prompts for a gap, shaped by what its waiting users like."""
        if not 1 <= count <= MAX_FILL:
            raise FeedError(f"count must be between 1 and {MAX_FILL}")
        gap = next((g for g in self.gaps(now) if g.id == gap_id), None)
        if gap is None:
            raise NotFound(f"no open gap {gap_id!r}")
        system = self.system_user()
        liked: list[str] = []
        for user_id in gap.waiting_users:
            clips = self.service.clips.catalog
            # Subjects never come from a prompt that names someone: a likeness is not
            # carried from a liked clip into a new one.
            for clip_id in self.service.users.liked(user_id, 10):
                clip = clips.get(clip_id)
                if clip is not None and not mentioned_cameos(clip.prompt):
                    liked.append(clip.prompt)
        prompts = compose_prompts(gap.phrase, liked, count, seed=zlib.crc32(gap.id.encode()))
        for prompt in prompts:
            self.service.consent.check_cameos(
                system, prompt
            )  # the phrase was checked: belt and braces
        day = int(now // 86_400)
        new = [
            NewJob(
                prompt=p, idempotency_key=f"{gap.id}:{day}:{i}", gap_id=gap.id, phrase=gap.phrase
            )
            for i, p in enumerate(prompts)
        ]
        try:
            jobs = self.jobs.enqueue(new, self.provider.name, now, self.budgets)
        except BudgetExceeded as exc:
            raise BudgetError(str(exc), exc.retry_after_s) from exc
        # Route now, while we know who is waiting: the clips appear on their pages
        # as soon as they are ingested.
        self.service.users.add_made_for(
            [(u, j.clip_id_for_ingest, gap.phrase, j.id) for j in jobs for u in gap.waiting_users],
            now,
        )
        return FillResult(gap, tuple(jobs))

    # -- user requests --------------------------------------------------------

    def request(
        self,
        user: User,
        prompt: str,
        now: float,
        key: str | None = None,
        *,
        remix_of: str | None = None,
        seconds: float | None = None,
        aspect: str | None = None,
    ) -> Job:
        """Queue a user's own generation request (cameos need their owners' consent).

        A remix names a clip the user may see (NotFound otherwise); it keeps that clip's
        cameos, whose consent is needed as for any named in the prompt. `seconds` and
        `aspect` must be ones the provider makes (None: its default).
        """
        prompt = checked_prompt(prompt)
        if seconds is not None and seconds not in self.provider.durations_s:
            raise FeedError(f"seconds must be one of {list(self.provider.durations_s)}")
        if aspect is not None and aspect not in self.provider.aspects:
            raise FeedError(f"aspect must be one of {list(self.provider.aspects)}")
        try:
            self.service.consent.remix_cameos(user, prompt, (), remix_of)
        except (NotFound, Forbidden) as exc:
            raise type(exc)(f"{exc}; nothing was queued") from exc
        key = key or f"{user.id}:{zlib.crc32(f'{prompt}|{remix_of}|{seconds}|{aspect}'.encode())}"
        key += f":{int(now // 60)}"
        new = NewJob(prompt=prompt, idempotency_key=key, requester=user.id, remix_of=remix_of,
                     seconds=seconds, aspect=aspect)  # fmt: skip
        try:
            (job,) = self.jobs.enqueue([new], self.provider.name, now, self.budgets)
        except BudgetExceeded as exc:
            raise BudgetError(str(exc), exc.retry_after_s) from exc
        self.service.users.add_made_for([(user.id, job.clip_id_for_ingest, prompt, job.id)], now)
        return job

    # -- running --------------------------------------------------------------

    def run(self, max_jobs: int = 10) -> list[Job]:
        """Run queued jobs now; each finished clip is ingested and routed to who asked."""

        def ingest(job: Job, path: Path, provider: str) -> str:
            maker = self.system_user()
            if job.requester is not None:
                maker = self.service.users.get_user(job.requester) or maker
            # Consent is checked again as the clip is stored: a cameo's owner may have
            # changed their mind since the job was queued (or deleted the remixed clip).
            raw: dict[str, object] = {"id": job.clip_id_for_ingest, "prompt": job.prompt,
                                      "creator": maker.handle, "video": str(path),
                                      "tags": ["generated"]}  # fmt: skip
            if job.remix_of is not None:
                raw["remix_of"] = job.remix_of
            try:
                cameos = self.service.consent.remix_cameos(maker, job.prompt, (), job.remix_of)
            except NotFound as exc:
                raise RuntimeError(f"the clip it remixes ({job.remix_of}) was deleted") from exc
            raw["cameos"] = list(cameos)
            entry = parse_entry(raw, 1, None, 2000)
            report = self.service.clips.ingest([entry], provider={entry.id: provider})
            if report.errors:
                raise RuntimeError(report.errors[0].reason)
            return entry.id

        return run_jobs(self.jobs, self.provider, ingest, self.staging, self.clock,
                        self.budgets, max_jobs)  # fmt: skip
