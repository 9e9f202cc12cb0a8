"""Cameo consent: who may put a person's likeness in a clip. Pure policy checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Policy = Literal["only_me", "approved", "mutuals", "everyone"]
POLICIES: tuple[Policy, ...] = ("only_me", "approved", "mutuals", "everyone")
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})")


@dataclass(frozen=True)
class CameoConsent:
    """A cameo's owner and policy (handles, not user ids, in the lists)."""

    handle: str
    owner_id: str
    policy: Policy
    approved: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()


def mentioned_cameos(prompt: str) -> list[str]:
    """Handles named with @ in a prompt, in order, without repeats."""
    return list(dict.fromkeys(m.rstrip(".") for m in MENTION.findall(prompt)))


def may_use(consent: CameoConsent | None, requester_id: str, requester_handle: str,
            mutual: bool) -> bool:  # fmt: skip
    """Whether the requester may use this cameo. With no consent on record nobody may
    (callers let the handle's own user through before asking)."""
    if consent is None:
        return False
    if requester_id == consent.owner_id:
        return True
    if requester_handle in consent.blocked:
        return False
    if consent.policy == "everyone":
        return True
    if consent.policy == "approved":
        return requester_handle in consent.approved
    if consent.policy == "mutuals":
        return mutual
    return False


def clip_visible(
    cameos: tuple[str, ...],
    creator: str,
    viewer_id: str | None,
    viewer_handle: str | None,
    consents: dict[str, CameoConsent],
    owner_of: dict[str, str],
    mutual: dict[str, bool],
) -> bool:
    """Whether a viewer may see a clip, given every cameo in it (co-owners all decide).

    The clip's co-owners (its creator and every cameo's owner) always see it. A cameo with no
    consent on record keeps the clip to its creator and that cameo's owner;
    `owner_of` maps such handles to the user of that handle, when one exists.
    `mutual[handle]` says whether viewer and that cameo's owner follow each other.
    Anonymous viewers (viewer_id None) see only clips whose cameos allow everyone.
    """
    if not cameos or (viewer_handle is not None and viewer_handle == creator):
        return True
    owners = {consents[h].owner_id if h in consents else owner_of.get(h) for h in cameos}
    if viewer_id is not None and viewer_id in owners:
        return True  # a co-owner always sees the clip their likeness is in
    for handle in cameos:
        consent = consents.get(handle)
        owner = consent.owner_id if consent is not None else owner_of.get(handle)
        if viewer_id is not None and viewer_id == owner:
            continue
        if consent is None:
            return False
        if viewer_id is None:
            if consent.policy != "everyone":
                return False
            continue
        if not may_use(consent, viewer_id, viewer_handle or "", mutual.get(handle, False)):
            return False
    return True
