"""Steering: an instruction read into ops and stored for the user (or, from operators,
for everyone); the next page obeys. Also how an op is said back, in the user's language."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from feed.core.intent import has_japanese, has_words
from feed.core.steering import (
    MAX_INSTRUCTION_CHARS,
    MAX_OPS_PER_INSTRUCTION,
    ON_SCREEN,
    OPS,
    AmbiguousInstruction,
    InstructionError,
    ParsedOp,
    Reader,
)
from feed.core.types import SteeringRecord, User
from feed.services.consent import ConsentGate
from feed.services.errors import FeedError, Forbidden, NeedsConfirmation, NotFound
from feed.services.relevance import PhraseRelevance
from feed.storage.catalog import embedding_text
from feed.storage.interfaces import UserState

DEFAULT_TTL_S = 7 * 24 * 3600.0
MAX_TTL_S = 365 * 24 * 3600.0
# A phrase longer than this is said back cut short and quoted (a clip's prompt, read
# from "more like this", or a long description typed in full).
SAID_PHRASE_CHARS = 40


def describe(record: SteeringRecord) -> str:
    """A steering op in words, as the user would say it back, in the language they used."""
    words = describe_op(record.op, record.phrase, record.weight, has_japanese(record.text))
    if record.user_id is None:
        return f"{words}（全員）" if has_japanese(record.text) else f"{words} (for everyone)"
    return words


def describe_reading(ops: Sequence[ParsedOp], japanese: bool) -> str:
    """A whole reading (several ops) in words."""
    return ("、" if japanese else ", ").join(
        describe_op(o.op, o.phrase, o.weight, japanese) for o in ops
    )


def describe_op(op: str, phrase: str, weight: float, japanese: bool) -> str:
    """One op in words, in Japanese or English."""
    if len(phrase) > SAID_PHRASE_CHARS:
        cut = phrase[:SAID_PHRASE_CHARS].rstrip() + "…"
        phrase = f"「{cut}」" if japanese else f"“{cut}”"
    if japanese:
        strength = ""
        if op in ("boost", "suppress") and weight != 1.0:
            strength = "かなり" if weight > 1.0 else "少し"
        return {
            "boost": f"{phrase}を{strength}多めに",
            "suppress": f"{phrase}を{strength}少なめに",
            "exclude": f"{phrase}はなし",
            "only": f"{phrase}だけ",
            "reset": "元に戻す",
        }[op]
    strength = ""
    if op in ("boost", "suppress") and weight != 1.0:
        strength = "much " if weight > 1.0 else "a bit "
    return {
        "boost": f"{strength}more {phrase}",
        "suppress": f"{strength}less {phrase}",
        "exclude": f"no {phrase}",
        "only": f"only {phrase}",
        "reset": "back to normal",
    }[op]


def in_force(
    records: Sequence[SteeringRecord], now: float, session_id: str | None
) -> list[SteeringRecord]:
    """The ops of `records` in force at `now` for a feed in `session_id`."""
    return [r for r in records if r.op != "reset" and r.active(now, session_id)]


class Steering:
    """Reading, storing and retracting steering ops."""

    def __init__(self, users: UserState, reader: Reader, phrases: PhraseRelevance,
                 consent: ConsentGate) -> None:  # fmt: skip
        self.users = users
        self.reader = reader
        self.phrases = phrases
        self.consent = consent

    def steer(
        self,
        user: User | None,
        text: str,
        now: float,
        *,
        scope: str = "persistent",
        ttl_s: float | None = None,
        session_id: str | None = None,
        reading: Sequence[tuple[str, str]] | None = None,
        clip_id: str | None = None,
    ) -> list[SteeringRecord]:
        """Read an instruction and apply it; `user` None sets global steering (operators).

        `reading` applies ops the caller already chose — (op, phrase) pairs, as offered
        by NeedsConfirmation — instead of reading `text`, which is kept for the record.
        `clip_id` names the clip the user is watching, what "more like this" asks about.
        A new op on a phrase replaces earlier ops on the same phrase; a new "only"
        replaces earlier ones; "reset" retracts everything active before the instruction,
        and the instruction's other ops stand on whichever side of the reset they are
        written ("less gaming please, and reset my feed too"). An instruction that reads
        two ways raises NeedsConfirmation and applies nothing.
        """
        if scope not in ("session", "persistent"):
            raise FeedError("scope must be 'session' or 'persistent'")
        ttl = DEFAULT_TTL_S if ttl_s is None else float(ttl_s)
        if not 0 < ttl <= MAX_TTL_S:
            raise FeedError(f"ttl_s must be between 1 and {int(MAX_TTL_S)} seconds")
        ops = self.read(text, user, clip_id) if reading is None else _chosen_ops(reading, text)
        ops = [replace(op, phrase=self.phrases.mended(op.phrase)) for op in ops]
        for op in ops:
            if op.op != "reset" and not self.phrases.readable(op.phrase):
                raise FeedError(
                    f"{op.phrase!r} is Japanese and this engine has no multilingual space to"
                    " match it in; run `steerfeed reindex --reembed`"
                )
        user_id = None if user is None else user.id
        if scope == "session":
            if user is None:
                raise FeedError("global steering cannot be session-scoped")
            if session_id is None:
                session_id = self.users.latest_session(user.id)
            elif self.users.session_owner(session_id) != user.id:
                raise Forbidden("that session belongs to someone else")
            if session_id is None:
                raise FeedError("no feed session yet; fetch the feed first or use scope=persistent")
        active = [r for r in self.users.steering_for(user_id, include_global=False) if r.live(now)]
        records: list[SteeringRecord] = []
        retract: set[str] = set()
        for op in ops:
            if op.op == "reset":
                retract.update(r.id for r in active)
                records.append(self._record(user_id, op, scope, session_id, text, now, ttl, now))
                continue
            for r in active + records:
                if r.phrase == op.phrase or (op.op == "only" and r.op == "only"):
                    retract.add(r.id)
            records.append(self._record(user_id, op, scope, session_id, text, now, ttl, None))
        self.users.retract_steering(sorted(retract), now)
        self.users.add_steering(records)
        self.phrases.warm(*(r.phrase for r in records if r.op != "reset"))
        return [r for r in records if r.id not in retract]

    def read(
        self, text: str, viewer: User | None = None, clip_id: str | None = None
    ) -> list[ParsedOp]:
        """What an instruction asks, applying nothing; raises FeedError where it reads as
        no instruction, NeedsConfirmation where it reads two ways. An op on the clip on
        screen ("less of this") takes the text of `clip_id`, a clip the viewer may see."""
        try:
            ops = self.reader.read(text)
        except AmbiguousInstruction as exc:
            readings = tuple(self._on_screen(r, viewer, clip_id) for r in exc.readings)
            raise NeedsConfirmation(str(exc), readings) from exc
        except InstructionError as exc:
            raise FeedError(str(exc)) from exc
        return list(self._on_screen(ops, viewer, clip_id))

    def _on_screen(
        self, ops: Sequence[ParsedOp], viewer: User | None, clip_id: str | None
    ) -> tuple[ParsedOp, ...]:
        """`ops` with the clip on screen's phrase (ON_SCREEN) as the clip's text."""
        if all(o.phrase != ON_SCREEN for o in ops):
            return tuple(ops)
        if clip_id is None:
            raise FeedError(
                "'this' points at a clip: steer while watching it (send clip_id), or say"
                " what to see more or less of"
            )
        clip = self.consent.seen_clip(viewer, clip_id)
        # The clip's text as its text spaces embed it, so the clip itself matches best.
        phrase = " ".join(embedding_text(clip.prompt, clip.caption, clip.tags).split())
        if not has_words(phrase):
            raise FeedError(f"clip {clip_id!r} has no words to steer by; say what you mean")
        phrase = phrase[:MAX_INSTRUCTION_CHARS]
        return tuple(replace(o, phrase=phrase) if o.phrase == ON_SCREEN else o for o in ops)

    @staticmethod
    def _record(
        user_id: str | None, op: ParsedOp, scope: str, session_id: str | None, text: str,
        now: float, ttl: float, retracted_at: float | None,
    ) -> SteeringRecord:  # fmt: skip
        return SteeringRecord(
            id=f"st_{uuid.uuid4().hex[:12]}", user_id=user_id, op=op.op, phrase=op.phrase,
            weight=op.weight, scope=scope, session_id=session_id if scope == "session" else None,
            text=text.strip()[:500], created_at=now, expires_at=now + ttl,
            retracted_at=retracted_at,
        )  # fmt: skip

    def active_steering(
        self, user: User | None, now: float, session_id: str | None = None
    ) -> list[SteeringRecord]:
        """Steering in force for a user (their own and global), oldest first."""
        if user is not None and session_id is None:
            session_id = self.users.latest_session(user.id)
        records = self.users.steering_for(None if user is None else user.id)
        return in_force(records, now, session_id)

    def retract(self, user: User | None, steering_id: str, now: float) -> None:
        """Retract one steering op; users may retract only their own, operators only global ones."""
        record = self.users.get_steering(steering_id)
        if record is None:
            raise NotFound(f"no steering {steering_id!r}")
        owner = None if user is None else user.id
        if record.user_id != owner:
            raise Forbidden("that steering belongs to someone else")
        self.users.retract_steering([steering_id], now)


def _chosen_ops(reading: Sequence[tuple[str, str]], text: str) -> list[ParsedOp]:
    """Ops a caller picked from the readings offered, checked like parsed ones."""
    if not reading or len(reading) > MAX_OPS_PER_INSTRUCTION:
        raise FeedError(f"a reading holds 1 to {MAX_OPS_PER_INSTRUCTION} ops")
    ops = []
    for op, phrase in reading:
        if op not in OPS:
            raise FeedError(f"unknown op {op!r}; one of {', '.join(OPS)}")
        phrase = " ".join(str(phrase).split())
        if op != "reset" and not phrase:
            raise FeedError(f"the {op} op needs a phrase")
        if len(phrase) > MAX_INSTRUCTION_CHARS:
            raise FeedError(f"phrase is longer than {MAX_INSTRUCTION_CHARS} characters")
        ops.append(ParsedOp(op, "" if op == "reset" else phrase, 1.0, text))  # type: ignore[arg-type]
    return ops
