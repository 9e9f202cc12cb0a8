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
    """Whether the requester may use this cameo. No consent on record: only its owner."""
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
