"""Cameo consent: who may put a person's likeness in a clip, and who may see it. Pure checks.

Identity is by user id. A handle names exactly one account for good: handles are
normalised (NFKC, invisible characters dropped, case-folded) before they are stored or
compared, every handle the catalog names is an account (ingest reserves the ones nobody
signed up for), and approved and blocked lists hold user ids resolved when they are set.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Policy = Literal["only_me", "approved", "mutuals", "everyone"]
POLICIES: tuple[Policy, ...] = ("only_me", "approved", "mutuals", "everyone")
HANDLE_PATTERN = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,63}$")
# Any @ followed by a handle names that person, whatever comes before it: "x@alice" reads
# as alice to a video model as much as "@alice" does.
MENTION = re.compile(r"@([a-z0-9_][a-z0-9_.-]{0,63})")


@dataclass(frozen=True)
class CameoConsent:
    """A cameo's owner and policy; `approved` and `blocked` are user ids."""

    handle: str
    owner_id: str
    policy: Policy
    approved: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()


# Characters that render as nothing but are letters to Unicode (Hangul fillers).
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def normalise_text(text: str) -> str:
    """Text as handles are compared: compatibility forms folded (so "＠ａｌｉｃｅ" is
    "@alice"), without invisible characters (zero-width spaces and joiners, soft hyphens,
    fillers) or accents, case-folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(
        ch for ch in decomposed
        if unicodedata.category(ch) not in ("Cf", "Mn") and ch not in INVISIBLE_LETTERS
    )  # fmt: skip
    return unicodedata.normalize("NFKC", kept.casefold())


def normalise_handle(raw: str) -> str:
    """A handle in its one stored form: normalised, trimmed, without its leading '@'.

    The result still has to match HANDLE_PATTERN to be a handle.
    """
    return normalise_text(raw).strip().removeprefix("@")


def mentioned_cameos(prompt: str) -> list[str]:
    """Handles named with @ in a prompt (after normalisation), in order, without repeats."""
    found = (m.rstrip(".") for m in MENTION.findall(normalise_text(prompt)))
    return list(dict.fromkeys(h for h in found if h))


def strip_mentions(text: str) -> str:
    """The text without any @handle in it (for text that must not carry a likeness)."""
    return re.sub(r"\s+", " ", MENTION.sub("", normalise_text(text))).strip()


def may_use(consent: CameoConsent | None, requester_id: str, mutual: bool) -> bool:
    """Whether the requester may use this cameo. With no consent on record nobody may
    (callers let the handle's own user through before asking)."""
    if consent is None:
        return False
    if requester_id == consent.owner_id:
        return True
    if requester_id in consent.blocked:
        return False
    if consent.policy == "everyone":
        return True
    if consent.policy == "approved":
        return requester_id in consent.approved
    if consent.policy == "mutuals":
        return mutual
    return False


def refusal(consent: CameoConsent | None, requester_id: str, mutual: bool) -> str | None:
    """Why the requester may not use this cameo, in words for them; None when they may.

    A block reads like any other refusal: nobody learns from it that they were blocked.
    """
    if may_use(consent, requester_id, mutual):
        return None
    if consent is None:
        return "has not recorded a cameo for others to use"
    if consent.policy == "only_me":
        return "keeps their cameo to themselves"
    if consent.policy == "approved" and requester_id not in consent.blocked:
        return "lets only people they approve use their cameo"
    if consent.policy == "mutuals" and requester_id not in consent.blocked:
        return "lets only mutuals use their cameo: you don't both follow each other"
    return "does not let you use their cameo"


def open_to_anyone(consent: CameoConsent | None) -> bool:
    """Whether a viewer nobody can identify may see this cameo: its policy is `everyone`
    and it blocks nobody (a blocked person could otherwise just sign out to look)."""
    return consent is not None and consent.policy == "everyone" and not consent.blocked


def clip_visible(
    cameos: tuple[str, ...],
    creator: str,
    viewer_id: str | None,
    consents: Mapping[str, CameoConsent],
    owner_of: Mapping[str, str],
    mutual: Mapping[str, bool],
) -> bool:
    """Whether a viewer may see a clip, given every cameo in it (co-owners all decide).

    `owner_of` maps handles (the creator's and the cameos') to their user ids. The clip's
    co-owners (its creator and every cameo's owner) always see it. A cameo with no consent
    on record keeps the clip to its co-owners. `mutual[handle]` says whether viewer and
    that cameo's owner follow each other. Anonymous viewers (viewer_id None) see only
    clips whose every cameo is open to anyone.
    """
    if not cameos:
        return True
    if viewer_id is not None:
        owners = {owner_of.get(h) for h in (creator, *cameos)}
        owners |= {consents[h].owner_id for h in cameos if h in consents}
        if viewer_id in owners:
            return True  # a co-owner always sees the clip their likeness is in
    for handle in cameos:
        consent = consents.get(handle)
        if viewer_id is None:
            if not open_to_anyone(consent):
                return False
        elif not may_use(consent, viewer_id, mutual.get(handle, False)):
            return False
    return True


def inherited_cameos(listed: tuple[str, ...], original: tuple[str, ...]) -> tuple[str, ...]:
    """The cameos of a remix: its own, then those of the clip it remixes (a remix keeps
    the people of its original, so their consent governs it too)."""
    return listed + tuple(c for c in original if c not in listed)
