"""The one consent gate: every path that shows a clip asks `visible`, every path that
puts a likeness in a clip asks `check_cameos`, and deleting asks `co_owns`.

Policies and accounts come from the user store; what never changes once known (the
account behind a handle) and what changes rarely (the policies) is cached. Every
consent change, made by any server sharing the store, moves the store's consent
version; the policies are reloaded when a check sees it moved. A feed page reads the
version with the rest of its user (`UserView.consent_version`), other paths with one
small query, so a revocation on one server wins on the next request to any. Media of
clips with cameos is fetched through URLs signed per viewer.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from feed.core.consent import (
    POLICIES,
    CameoConsent,
    clip_visible,
    inherited_cameos,
    may_use,
    mentioned_cameos,
    normalise_handle,
    refusal,
)
from feed.core.types import User, UserView
from feed.services.errors import FeedError, Forbidden, NotFound
from feed.services.snapshot import CatalogSnapshot
from feed.storage.catalog import Clip
from feed.storage.interfaces import Catalog, UserState

MEDIA_TOKEN_TTL_S = 6 * 3600


@dataclass(frozen=True)
class CameoChoice:
    """A person one may try to name in a prompt: whether their cameo allows it, and if
    not, why (in words for the requester)."""

    handle: str
    allowed: bool
    reason: str


class ConsentGate:
    """Who may see, use and delete which likeness."""

    def __init__(self, users: UserState, catalog: Catalog, secret: bytes) -> None:
        self.users = users
        self.catalog = catalog
        self._secret = secret
        self._lock = threading.Lock()
        self._consents: dict[str, CameoConsent] | None = None
        self._version = -1  # the consent version `_consents` is at least as new as
        self._owner_ids: dict[str, str] = {}  # handle → user id; a binding never changes

    def set_cameo(self, user: User, policy: str, approved: Sequence[str],
                  blocked: Sequence[str], now: float) -> CameoConsent:  # fmt: skip
        """Record who may use (and see clips with) the user's cameo; effective at once.

        `approved` and `blocked` are handles, stored as the user ids they name now.
        """
        if policy not in POLICIES:
            raise FeedError(f"policy must be one of {POLICIES}")
        approved_ids, blocked_ids = self.user_ids(approved), self.user_ids(blocked)
        self.users.set_cameo(user.handle, user.id, policy, approved_ids, blocked_ids, now)
        with self._lock:
            self._consents = None
        return self.consents()[user.handle]

    def user_ids(self, handles: Sequence[str]) -> tuple[str, ...]:
        """The user ids of these handles (with or without '@', in any case); FeedError
        naming every handle that is no account, so a list never holds a name that
        whoever signs up next would get."""
        wanted = list(dict.fromkeys(normalise_handle(h) for h in handles))
        found = self.users.users_by_handles(wanted)
        unknown = [h for h in wanted if h not in found]
        if unknown:
            raise FeedError(f"no account with handle {', '.join('@' + h for h in unknown[:10])}")
        return tuple(found[h].id for h in wanted)

    def consents(self, version: int | None = None) -> dict[str, CameoConsent]:
        """Every cameo's consent on record, at least as new as consent `version` (read
        from the store when not given); cached until the version moves."""
        if version is None:
            version = self.users.consent_version()
        with self._lock:
            if self._consents is not None and self._version >= version:
                return self._consents
        # The version was read before the cameos: a change landing in between makes
        # the next check reload again, never keeps a stale policy.
        consents = {
            handle: CameoConsent(handle, owner, policy, approved, blocked)  # type: ignore[arg-type]
            for handle, owner, policy, approved, blocked in self.users.all_cameos()
        }
        with self._lock:
            if version >= self._version:
                self._consents, self._version = consents, version
        return consents

    def owner_ids(self, handles: set[str]) -> dict[str, str]:
        """The user id holding each handle that is an account (cached: a handle's account
        never changes once it has one)."""
        with self._lock:
            missing = handles - self._owner_ids.keys()
        if missing:
            found = {h: u.id for h, u in self.users.users_by_handles(missing).items()}
            with self._lock:
                self._owner_ids.update(found)
        with self._lock:
            return {h: self._owner_ids[h] for h in handles if h in self._owner_ids}

    def in_id_namespace(self, user: User, clip_id: str) -> bool:
        """Whether a clip id is the user's to choose: it starts with '<handle>-' and no
        longer handle that is an account claims it too ('bob-x-1' is @bob-x's, not @bob's).
        Depends only on accounts, never on which clips exist."""
        prefix = user.handle + "-"
        if not clip_id.startswith(prefix):
            return False
        longer = {clip_id[:i] for i in range(len(prefix), len(clip_id)) if clip_id[i] == "-"}
        return not longer or not self.owner_ids(longer)

    def visible(
        self, viewer: User | None, cameos: tuple[str, ...], creator: str,
        view: UserView | None = None,
    ) -> bool:  # fmt: skip
        """Whether the viewer may see a clip with these cameos by this creator (`view`:
        the viewer's page view, when the caller has it, saves looking up follows)."""
        if not cameos:
            return True
        consents = self.consents(None if view is None else view.consent_version)
        owner_of, mutual = self._facts(viewer, set(cameos) | {creator}, view, consents)
        return clip_visible(cameos, creator, None if viewer is None else viewer.id,
                            consents, owner_of, mutual)  # fmt: skip

    def visible_row(self, viewer: User | None, snap: CatalogSnapshot, clip_id: str) -> bool:
        """Whether the clip is in the snapshot and the viewer may see it."""
        row = snap.row_of_id.get(clip_id)
        return row is not None and self.visible_at(viewer, snap, row)

    def visible_at(self, viewer: User | None, snap: CatalogSnapshot, row: int) -> bool:
        """Whether the viewer may see the clip at this row of the snapshot."""
        return self.visible(viewer, snap.cameos[row], snap.creator_names[snap.creator_codes[row]])

    def invisible_rows(
        self, snap: CatalogSnapshot, viewer: User | None, view: UserView | None = None
    ) -> np.ndarray:
        """Snapshot rows the viewer may not see (clips whose cameo owners did not allow it).

        Runs on every page, so the store is asked about each cameo handle once, not
        once per clip.
        """
        cameo_rows = snap.cameo_rows.tolist()
        if not cameo_rows:
            return np.empty(0, dtype=np.int64)
        handles = {h for r in cameo_rows for h in snap.cameos[r]}
        handles |= {snap.creator_names[snap.creator_codes[r]] for r in cameo_rows}
        consents = self.consents(None if view is None else view.consent_version)
        owner_of, mutual = self._facts(viewer, handles, view, consents)
        viewer_id = None if viewer is None else viewer.id
        rows = [
            r for r in cameo_rows
            if not clip_visible(snap.cameos[r], snap.creator_names[snap.creator_codes[r]],
                                viewer_id, consents, owner_of, mutual)
        ]  # fmt: skip
        return np.asarray(rows, dtype=np.int64)

    def co_owns(self, user: User, clip: Clip) -> bool:
        """Whether the user co-owns the clip: made it, or their likeness is in it."""
        owners = self.owner_ids({clip.creator, *clip.cameos})
        return user.id in owners.values()

    def check_cameos(self, user: User, prompt: str, listed: Sequence[str] = ()) -> tuple[str, ...]:
        """Every cameo in a new clip (`listed`, and @named in the prompt after
        normalisation), normalised; Forbidden unless each allows this user."""
        handles = tuple(dict.fromkeys([*(normalise_handle(h) for h in listed),
                                       *mentioned_cameos(prompt)]))  # fmt: skip
        consents = self.consents()
        owner_of = self.owner_ids(set(handles))
        for handle in handles:
            if owner_of.get(handle) == user.id:
                continue  # your own likeness is yours to use, consent on record or not
            consent = consents.get(handle)
            mutual = False
            if consent is not None and consent.policy == "mutuals":
                mutual = self._mutuals(user, consent)
            if not may_use(consent, user.id, mutual):
                reason = "has no consent on record" if consent is None else "does not allow you"
                raise Forbidden(f"cameo @{handle} {reason}")
        return handles

    def seen_clip(self, viewer: User | None, clip_id: str, purpose: str = "") -> Clip:
        """The clip; NotFound (naming `purpose`, e.g. "to remix") unless it exists and the
        viewer may see it."""
        clip = self.catalog.get(clip_id)
        if clip is None or not self.visible(viewer, clip.cameos, clip.creator):
            raise NotFound(" ".join(filter(None, ("no clip", repr(clip_id), purpose))))
        return clip

    def remix_source(self, user: User, remix_of: str) -> Clip:
        """The clip a remix would remix; NotFound unless it exists and the user may see it."""
        return self.seen_clip(user, remix_of, "to remix")

    def remix_cameos(self, user: User, prompt: str, listed: Sequence[str],
                     remix_of: str | None) -> tuple[str, ...]:  # fmt: skip
        """The cameos of a new clip that may remix another (it keeps the original's
        people), each checked as in `check_cameos`."""
        kept = self.remix_source(user, remix_of).cameos if remix_of is not None else ()
        return self.check_cameos(user, prompt, inherited_cameos(tuple(listed), kept))

    def may_remix(self, viewer: User | None, clip: Clip) -> bool:
        """Whether the viewer may remix the clip: signed in, and every cameo in it (which
        a remix keeps) allows them."""
        if viewer is None:
            return False
        try:
            self.check_cameos(viewer, "", clip.cameos)
        except Forbidden:
            return False
        return True

    def cameo_choices(self, user: User, prefix: str, limit: int) -> list[CameoChoice]:
        """People whose handle starts with `prefix`, for @mention completion: those whose
        cameo allows the user first, then those that do not, each with the reason."""
        prefix = normalise_handle(prefix)
        handles = self.users.handles_starting(prefix, max(limit * 4, 40))
        consents = self.consents()
        choices = []
        for handle in handles:
            if handle == user.handle:
                choices.append(CameoChoice(handle, True, "your own cameo"))
                continue
            consent = consents.get(handle)
            mutual = False
            if consent is not None and consent.policy == "mutuals":
                mutual = self._mutuals(user, consent)
            why = refusal(consent, user.id, mutual)
            choices.append(CameoChoice(handle, why is None, why or "allows you"))
        choices.sort(key=lambda c: not c.allowed)  # stable: allowed first, each by handle
        return choices[:limit]

    def _mutuals(self, user: User, consent: CameoConsent) -> bool:
        """Whether the user and a "mutuals" cameo's owner follow each other."""
        return self.users.follows_between(user.id, user.handle, consent.owner_id, consent.handle)

    def _facts(
        self, viewer: User | None, handles: set[str], view: UserView | None,
        consents: dict[str, CameoConsent],
    ) -> tuple[dict[str, str], dict[str, bool]]:  # fmt: skip
        """What consent checks need beyond the policies: the user id behind each handle,
        and for "mutuals" cameos whether viewer and owner follow each other (from the
        viewer's page view when given, else looked up)."""
        owner_of = self.owner_ids(handles)
        mutual: dict[str, bool] = {}
        if viewer is not None:
            for handle in handles:
                consent = consents.get(handle)
                if consent is None or consent.policy != "mutuals":
                    continue
                if view is not None:
                    mutual[handle] = (consent.handle in view.follows
                                      and consent.owner_id in view.mutual_followers)  # fmt: skip
                else:
                    mutual[handle] = self._mutuals(viewer, consent)
        return owner_of, mutual

    # -- media of clips with cameos ---------------------------------------------

    def media_query(self, viewer: User | None, clip: Clip, now: float) -> str:
        """A query string that lets this viewer's browser fetch a consent-gated clip's media.

        Video elements cannot send bearer headers, so clips with cameos get a
        short-lived signed URL per viewer; clips without cameos need none.
        """
        if viewer is None or not clip.cameos:
            return ""
        expires = int(now + MEDIA_TOKEN_TTL_S)
        sig = hmac.new(self._secret, f"{viewer.id}:{clip.id}:{expires}".encode(), hashlib.sha256)
        return f"?v={viewer.id}.{expires}.{sig.hexdigest()[:24]}"

    def media_viewer(self, clip_id: str, token: str | None, now: float) -> User | None:
        """The user a signed media token was issued to, if it is valid for this clip now."""
        if not token:
            return None
        try:
            user_id, expires_raw, sig = token.split(".")
            expires = int(expires_raw)
        except ValueError:
            return None
        want = hmac.new(self._secret, f"{user_id}:{clip_id}:{expires}".encode(), hashlib.sha256)
        if expires < now or not hmac.compare_digest(sig, want.hexdigest()[:24]):
            return None
        return self.users.get_user(user_id)
