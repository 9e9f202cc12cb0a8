"""Per-user state in SQLite: users and tokens, profiles, follows, hidden and watched
clips, feed sessions and what they served, steering ops, and clip engagement counts.

Clips are referred to by their catalog id (text), which survives reindexing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from feed.core.consent import HANDLE_PATTERN, normalise_handle
from feed.core.types import ChannelTaste, SteeringRecord, User, UserView
from feed.storage.sqlite import Database, Migration

log = logging.getLogger(__name__)

RESERVED_TOKEN = "reserved:"  # prefix of a reserved account's token hash: no token matches


def _identities_by_id(db: sqlite3.Connection) -> None:
    """v3: handles normalised and unique, reserved accounts, consent lists of user ids.

    Handles that collide once normalised keep the oldest account; a later one gets a
    numbered handle (logged). Approved and blocked handles become the user ids they
    name; a handle with no account names nobody and is dropped (logged).
    """
    db.execute("ALTER TABLE users ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0")
    users = db.execute("SELECT id, handle FROM users ORDER BY created_at, rowid").fetchall()
    taken: set[str] = set()
    final: dict[str, str] = {}
    for user_id, handle in users:
        base = normalise_handle(handle)
        base = base if HANDLE_PATTERN.match(base) else handle
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base[:60]}-{n}", n + 1
        taken.add(candidate)
        final[user_id] = candidate
        if candidate != base:
            log.warning("handle %r collides with another once normalised; now %r", handle,
                        candidate)  # fmt: skip
    renamed = {uid: h for uid, h in final.items() if h != dict(users)[uid]}
    for user_id in renamed:  # two steps, so no rename trips over another's old handle
        db.execute("UPDATE users SET handle = ? WHERE id = ?", (f"#{user_id}", user_id))
    for user_id, handle in renamed.items():
        db.execute("UPDATE users SET handle = ? WHERE id = ?", (handle, user_id))
    follows = db.execute("SELECT user_id, creator, created_at FROM follows").fetchall()
    db.execute("DELETE FROM follows")
    db.executemany(
        "INSERT OR IGNORE INTO follows VALUES (?, ?, ?)",
        [(u, normalise_handle(c), t) for u, c, t in follows],
    )
    id_of = {h: uid for uid, h in final.items()}
    cameos = db.execute("SELECT owner_id, policy, approved, blocked, updated_at FROM cameos")
    rows = cameos.fetchall()
    db.execute("DELETE FROM cameos")
    for owner_id, policy, approved, blocked, updated_at in rows:
        if owner_id not in final:
            continue
        lists = []
        for raw in (approved, blocked):
            handles = [normalise_handle(h) for h in json.loads(raw)]
            unknown = sorted(h for h in handles if h not in id_of)
            if unknown:
                log.warning("cameo of %s: %s name no account; dropped", final[owner_id], unknown)
            lists.append(json.dumps(sorted({id_of[h] for h in handles if h in id_of})))
        db.execute(
            "INSERT OR REPLACE INTO cameos VALUES (?, ?, ?, ?, ?, ?)",
            (final[owner_id], owner_id, policy, lists[0], lists[1], updated_at),
        )


MIGRATIONS: dict[int, Migration] = {
    0: """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        handle TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE follows (
        user_id TEXT NOT NULL, creator TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (user_id, creator)
    );
    CREATE TABLE hidden (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE watched (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, last_ts REAL NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE liked (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, ts REAL NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE profiles (
        user_id TEXT NOT NULL, channel TEXT NOT NULL,
        taste BLOB, taste_weight REAL NOT NULL, negative BLOB, negative_weight REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (user_id, channel)
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL,
        pages INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_user ON sessions(user_id, created_at);
    CREATE TABLE served (
        session_id TEXT NOT NULL, clip_id TEXT NOT NULL, page INTEGER NOT NULL,
        PRIMARY KEY (session_id, clip_id)
    );
    CREATE TABLE steering (
        id TEXT PRIMARY KEY,
        user_id TEXT,
        op TEXT NOT NULL, phrase TEXT NOT NULL, weight REAL NOT NULL,
        scope TEXT NOT NULL, session_id TEXT, text TEXT NOT NULL,
        created_at REAL NOT NULL, expires_at REAL, retracted_at REAL
    );
    CREATE INDEX steering_user ON steering(user_id);
    CREATE TABLE clip_stats (
        clip_id TEXT PRIMARY KEY,
        views INTEGER NOT NULL DEFAULT 0, likes INTEGER NOT NULL DEFAULT 0,
        skips INTEGER NOT NULL DEFAULT 0, hides INTEGER NOT NULL DEFAULT 0,
        shares INTEGER NOT NULL DEFAULT 0, remixes INTEGER NOT NULL DEFAULT 0
    )
    """,
    # v2: generated clips routed to the users who asked, and cameo consent.
    1: """
    CREATE TABLE made_for (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, phrase TEXT NOT NULL,
        job_id TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE cameos (
        handle TEXT PRIMARY KEY, owner_id TEXT NOT NULL, policy TEXT NOT NULL,
        approved TEXT NOT NULL DEFAULT '[]', blocked TEXT NOT NULL DEFAULT '[]',
        updated_at REAL NOT NULL
    );
    """,
    2: _identities_by_id,
    # v4: a counter every cameo consent change bumps, so a server's cached policies can
    # tell (from its page reads) that another server changed one.
    3: """
    CREATE TABLE consent_version (version INTEGER NOT NULL);
    INSERT INTO consent_version VALUES (0);
    """,
}

STAT_COLUMNS = {"view": "views", "like": "likes", "skip": "skips", "hide": "hides",
                "share": "shares", "remix": "remixes"}  # fmt: skip


LIKED_PER_PAGE = 50
# One row per fact, tagged with its kind; columns a..l mean what each kind says.
PAGE_VIEW_SQL = """
SELECT 'taste', channel, taste, negative, taste_weight, negative_weight, updated_at,
       NULL, NULL, NULL, NULL, NULL, NULL
  FROM profiles WHERE user_id = :user
UNION ALL SELECT 'follow', creator, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM follows WHERE user_id = :user
UNION ALL SELECT 'hidden', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM hidden WHERE user_id = :user
UNION ALL SELECT 'watched', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL
  FROM watched WHERE user_id = :user
UNION ALL SELECT 'liked', clip_id, NULL, NULL, ts, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM liked WHERE user_id = :user
UNION ALL SELECT 'served', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM served WHERE session_id = :session
UNION ALL SELECT 'session', user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL
  FROM sessions WHERE id = :session
UNION ALL SELECT 'made_for', clip_id, phrase, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL
  FROM made_for WHERE user_id = :user
UNION ALL SELECT 'steering', id, user_id, session_id, weight, created_at, expires_at, retracted_at,
       rowid, op, phrase, scope, text
  FROM steering WHERE user_id = :user OR user_id IS NULL
UNION ALL SELECT 'follower', c.owner_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL
  FROM cameos c JOIN follows f ON f.user_id = c.owner_id
  JOIN users u ON u.id = :user AND f.creator = u.handle
  WHERE c.policy = 'mutuals'
UNION ALL SELECT 'consent_version', NULL, NULL, NULL, version, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL
  FROM consent_version
"""


def _vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token; only hashes are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class StateStore:
    """Users and everything the feed remembers about them."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, "user state", MIGRATIONS)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- users ----------------------------------------------------------------

    def create_user(self, handle: str, now: float, user_id: str | None = None) -> tuple[User, str]:
        """A new user and their bearer token (shown once; only its hash is kept).

        `handle` must be normalised already. Raises ValueError if it is taken, by a
        person or by a reservation. `user_id` fixes the id (reproducible replays).
        """
        token = secrets.token_urlsafe(32)
        user = User(user_id or f"u_{uuid.uuid4().hex[:16]}", handle, now)
        try:
            with self.db.tx() as db:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?, 0)",
                    (user.id, handle, hash_token(token), now),
                )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"handle {handle!r} is taken") from exc
        return user, token

    def reserve_handles(self, handles: Iterable[str], now: float) -> int:
        """Make a reserved account for each (normalised) handle nobody holds; returns how
        many were made. Nobody can sign up as, or sign in as, a reserved account."""
        wanted = sorted(set(handles))
        if not wanted:
            return 0
        with self.db.tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO users VALUES (?, ?, ?, ?, 1)",
                [(f"u_{uuid.uuid4().hex[:16]}", h, f"{RESERVED_TOKEN}{uuid.uuid4().hex}", now)
                 for h in wanted],
            )  # fmt: skip
            return int(db.total_changes - before)

    def authenticate(self, token: str) -> User | None:
        """The user owning this token, or None."""
        digest = hash_token(token)
        rows = self.db.query(
            "SELECT id, handle, created_at, reserved, token_hash FROM users"
            " WHERE token_hash = ? AND reserved = 0",
            (digest,),
        )
        if not rows or not hmac.compare_digest(rows[0][4], digest):
            return None
        return self._user(rows[0])

    @staticmethod
    def _user(row: tuple) -> User:
        return User(row[0], row[1], row[2], bool(row[3]))

    def get_user(self, user_id: str) -> User | None:
        """A user by id, or None."""
        rows = self.db.query(
            "SELECT id, handle, created_at, reserved FROM users WHERE id = ?", (user_id,)
        )
        return self._user(rows[0]) if rows else None

    def user_by_handle(self, handle: str) -> User | None:
        """The account holding a (normalised) handle, or None."""
        rows = self.db.query(
            "SELECT id, handle, created_at, reserved FROM users WHERE handle = ?", (handle,)
        )
        return self._user(rows[0]) if rows else None

    def users_by_handles(self, handles: Iterable[str]) -> dict[str, User]:
        """Accounts holding these (normalised) handles; handles nobody holds are absent."""
        wanted = sorted(set(handles))
        out: dict[str, User] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                f"SELECT id, handle, created_at, reserved FROM users WHERE handle IN ({marks})",
                chunk,
            ):
                out[row[1]] = self._user(row)
        return out

    def handles_of(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Handle of each of these user ids that exists."""
        wanted = sorted(set(user_ids))
        out: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(self.db.query(f"SELECT id, handle FROM users WHERE id IN ({marks})", chunk))
        return out

    def handles_starting(self, prefix: str, limit: int) -> list[str]:
        """Handles that start with a (normalised) prefix, in order; every one if it is empty."""
        rows = self.db.query(
            "SELECT handle FROM users WHERE handle >= ? AND handle < ? ORDER BY handle LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    # -- relations ------------------------------------------------------------

    def follow(self, user_id: str, handle: str, now: float) -> None:
        """The user follows the account holding this (normalised) handle."""
        with self.db.tx() as db:
            db.execute("INSERT OR IGNORE INTO follows VALUES (?, ?, ?)", (user_id, handle, now))

    def unfollow(self, user_id: str, handle: str) -> None:
        """The user stops following this handle."""
        with self.db.tx() as db:
            db.execute("DELETE FROM follows WHERE user_id=? AND creator=?", (user_id, handle))

    def follows(self, user_id: str) -> set[str]:
        """Creators the user follows."""
        return {
            r[0] for r in self.db.query("SELECT creator FROM follows WHERE user_id=?", (user_id,))
        }

    def hidden(self, user_id: str) -> set[str]:
        """Clip ids the user hid."""
        return {
            r[0] for r in self.db.query("SELECT clip_id FROM hidden WHERE user_id=?", (user_id,))
        }

    def watched(self, user_id: str) -> set[str]:
        """Clip ids the user viewed or skipped."""
        return {
            r[0] for r in self.db.query("SELECT clip_id FROM watched WHERE user_id=?", (user_id,))
        }

    def liked(self, user_id: str, limit: int = 50) -> list[str]:
        """The user's most recently liked (or shared/remixed) clip ids."""
        rows = self.db.query(
            "SELECT clip_id FROM liked WHERE user_id=? ORDER BY ts DESC LIMIT ?", (user_id, limit)
        )
        return [r[0] for r in rows]

    # -- profiles -------------------------------------------------------------

    def tastes(self, user_id: str) -> dict[str, ChannelTaste]:
        """The user's taste per channel (empty for a new user)."""
        out = {}
        for channel, taste, tw, negative, nw, updated in self.db.query(
            "SELECT channel, taste, taste_weight, negative, negative_weight, updated_at"
            " FROM profiles WHERE user_id=?",
            (user_id,),
        ):
            out[channel] = ChannelTaste(
                None if taste is None else np.frombuffer(taste, dtype=np.float32).copy(),
                tw,
                None if negative is None else np.frombuffer(negative, dtype=np.float32).copy(),
                nw,
                updated,
            )
        return out

    def record_events(
        self,
        user_id: str,
        rows: Sequence[tuple[str, str, float]],
        tastes: dict[str, ChannelTaste],
        follows: Iterable[str],
    ) -> None:
        """Store one batch of (clip_id, type, ts) events and the updated tastes, atomically."""
        with self.db.tx() as db:
            for clip_id, kind, ts in rows:
                if kind in ("view", "skip"):
                    db.execute(
                        "INSERT INTO watched VALUES (?, ?, ?) ON CONFLICT DO UPDATE"
                        " SET last_ts = max(last_ts, excluded.last_ts)",
                        (user_id, clip_id, ts),
                    )
                if kind == "hide":
                    db.execute(
                        "INSERT OR IGNORE INTO hidden VALUES (?, ?, ?)", (user_id, clip_id, ts)
                    )
                if kind in ("like", "share", "remix"):
                    db.execute(
                        "INSERT INTO liked VALUES (?, ?, ?)"
                        " ON CONFLICT DO UPDATE SET ts = excluded.ts",
                        (user_id, clip_id, ts),
                    )
                column = STAT_COLUMNS.get(kind)
                if column is not None:
                    db.execute("INSERT OR IGNORE INTO clip_stats (clip_id) VALUES (?)", (clip_id,))
                    db.execute(
                        f"UPDATE clip_stats SET {column} = {column} + 1 WHERE clip_id = ?",
                        (clip_id,),
                    )
            for creator in follows:
                db.execute(
                    "INSERT OR IGNORE INTO follows VALUES (?, ?, ?)",
                    (user_id, creator, max((r[2] for r in rows), default=0.0)),
                )
            for channel, t in tastes.items():
                db.execute(
                    "INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        user_id, channel,
                        None if t.taste is None else t.taste.astype(np.float32).tobytes(),
                        t.taste_weight,
                        None if t.negative is None else t.negative.astype(np.float32).tobytes(),
                        t.negative_weight, t.updated_at,
                    ),
                )  # fmt: skip

    def clip_stats(self) -> dict[str, tuple[int, int, int, int, int, int]]:
        """Engagement counts per clip id: views, likes, skips, hides, shares, remixes."""
        return {
            r[0]: tuple(r[1:])  # type: ignore[misc]
            for r in self.db.query(
                "SELECT clip_id, views, likes, skips, hides, shares, remixes FROM clip_stats"
            )
        }

    # -- sessions -------------------------------------------------------------

    def session_owner(self, session_id: str) -> str | None:
        """The user a session belongs to, or None if unknown."""
        rows = self.db.query("SELECT user_id FROM sessions WHERE id=?", (session_id,))
        return rows[0][0] if rows else None

    def latest_session(self, user_id: str) -> str | None:
        """The user's most recent session id."""
        rows = self.db.query(
            "SELECT id FROM sessions WHERE user_id=? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (user_id,),
        )
        return rows[0][0] if rows else None

    def served(self, session_id: str) -> set[str]:
        """Clip ids already served in this session."""
        return {
            r[0]
            for r in self.db.query("SELECT clip_id FROM served WHERE session_id=?", (session_id,))
        }

    def page_view(self, user_id: str, session_id: str) -> UserView:
        """What one feed page reads about a user, in a single query (see `UserView`)."""
        rows = self.db.query(PAGE_VIEW_SQL, {"user": user_id, "session": session_id})
        kinds: dict[str, list[tuple]] = {}
        for row in rows:
            kinds.setdefault(row[0], []).append(row[1:])

        def ids(kind: str) -> frozenset[str]:
            return frozenset(r[0] for r in kinds.get(kind, ()))

        tastes = {
            r[0]: ChannelTaste(_vector(r[1]), r[3], _vector(r[2]), r[4], r[5])
            for r in kinds.get("taste", ())
        }
        liked = sorted(kinds.get("liked", ()), key=lambda r: -r[3])[:LIKED_PER_PAGE]
        steering = [
            SteeringRecord(r[0], r[1], r[8], r[9], r[3], r[10], r[2], r[11], r[4], r[5], r[6])
            for r in sorted(kinds.get("steering", ()), key=lambda r: r[7])
        ]  # fmt: skip
        owners = kinds.get("session", ())
        return UserView(
            user_id=user_id,
            session_owner=owners[0][0] if owners else None,
            tastes=tastes,
            follows=ids("follow"),
            hidden=ids("hidden"),
            watched=ids("watched"),
            served=ids("served"),
            liked=tuple(r[0] for r in liked),
            steering=tuple(steering),
            made_for={r[0]: r[1] for r in kinds.get("made_for", ())},
            mutual_followers=ids("follower"),
            consent_version=int(kinds["consent_version"][0][3]),
        )

    def record_page(
        self, session_id: str, user_id: str, page: int, clip_ids: Sequence[str], now: float
    ) -> None:
        """Remember a served page, opening its session on the first one."""
        with self.db.tx() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE"
                " SET pages = max(pages, excluded.pages)",
                (session_id, user_id, now, page + 1),
            )
            db.executemany(
                "INSERT OR IGNORE INTO served VALUES (?, ?, ?)",
                [(session_id, c, page) for c in clip_ids],
            )

    def secret(self, name: str) -> bytes:
        """A random secret kept in this database under `name`, made on first use."""
        with self.db.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (f"secret:{name}",)).fetchone()
            if row is None:
                legacy = db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
                value = legacy[0] if legacy else secrets.token_hex(32)
                db.execute("INSERT INTO meta VALUES (?, ?)", (f"secret:{name}", value))
                return str(value).encode()
            return str(row[0]).encode()

    # -- generated clips and cameos --------------------------------------------

    def add_made_for(self, rows: Sequence[tuple[str, str, str, str]], now: float) -> None:
        """Remember (user_id, clip_id, phrase, job_id): clips made for users' requests."""
        with self.db.tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO made_for VALUES (?, ?, ?, ?, ?)",
                [(*r, now) for r in rows],
            )

    def made_for_rows(self, user_id: str, limit: int) -> list[tuple[str, str, float]]:
        """(clip_id, phrase, created_at) made for this user, newest first."""
        rows = self.db.query(
            "SELECT clip_id, phrase, created_at FROM made_for WHERE user_id=?"
            " ORDER BY created_at DESC LIMIT ?",
            (user_id, limit),
        )
        return [(str(c), str(p), float(t)) for c, p, t in rows]

    def made_for(self, user_id: str) -> dict[str, str]:
        """Clip id → the phrase it was made for, for this user."""
        rows = self.db.query("SELECT clip_id, phrase FROM made_for WHERE user_id=?", (user_id,))
        return dict(rows)

    def set_cameo(
        self, handle: str, owner_id: str, policy: str, approved: Sequence[str],
        blocked: Sequence[str], now: float,
    ) -> None:  # fmt: skip
        """Record (or replace) the consent policy of a cameo; the lists are user ids."""
        with self.db.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO cameos VALUES (?, ?, ?, ?, ?, ?)",
                (handle, owner_id, policy, json.dumps(sorted(set(approved))),
                 json.dumps(sorted(set(blocked))), now),
            )  # fmt: skip
            db.execute("UPDATE consent_version SET version = version + 1")

    def consent_version(self) -> int:
        """A counter that every cameo consent change moves."""
        return int(self.db.query("SELECT version FROM consent_version")[0][0])

    def cameo(self, handle: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]] | None:
        """(owner_id, policy, approved user ids, blocked user ids) of a cameo, or None."""
        rows = self.db.query(
            "SELECT owner_id, policy, approved, blocked FROM cameos WHERE handle=?", (handle,)
        )
        if not rows:
            return None
        owner, policy, approved, blocked = rows[0]
        return owner, policy, tuple(json.loads(approved)), tuple(json.loads(blocked))

    def all_cameos(self) -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
        """(handle, owner_id, policy, approved, blocked) of every cameo on record."""
        return [
            (h, o, p, tuple(json.loads(a)), tuple(json.loads(b)))
            for h, o, p, a, b in self.db.query(
                "SELECT handle, owner_id, policy, approved, blocked FROM cameos"
            )
        ]

    def follows_between(self, a_id: str, a_handle: str, b_id: str, b_handle: str) -> bool:
        """Whether a and b follow each other (follows are of creator handles)."""
        return b_handle in self.follows(a_id) and a_handle in self.follows(b_id)

    # -- steering -------------------------------------------------------------

    def add_steering(self, records: Sequence[SteeringRecord]) -> None:
        """Store new steering ops."""
        with self.db.tx() as db:
            db.executemany(
                "INSERT INTO steering VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.id, r.user_id, r.op, r.phrase, r.weight, r.scope, r.session_id, r.text,
                     r.created_at, r.expires_at, r.retracted_at)
                    for r in records
                ],
            )  # fmt: skip

    def steering_for(
        self, user_id: str | None, include_global: bool = True
    ) -> list[SteeringRecord]:
        """Steering ops of a user (and global ones), oldest first, retracted ones included."""
        if user_id is None:
            rows = self.db.query("SELECT * FROM steering WHERE user_id IS NULL ORDER BY rowid")
        elif include_global:
            rows = self.db.query(
                "SELECT * FROM steering WHERE user_id = ? OR user_id IS NULL ORDER BY rowid",
                (user_id,),
            )
        else:
            rows = self.db.query(
                "SELECT * FROM steering WHERE user_id = ? ORDER BY rowid", (user_id,)
            )
        return [SteeringRecord(*r) for r in rows]

    def live_user_steering(self, now: float) -> list[SteeringRecord]:
        """Every user's live (not retracted, not expired) steering ops."""
        rows = self.db.query(
            "SELECT * FROM steering WHERE user_id IS NOT NULL AND retracted_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid",
            (now,),
        )
        return [SteeringRecord(*r) for r in rows]

    def get_steering(self, steering_id: str) -> SteeringRecord | None:
        """One steering op by id."""
        rows = self.db.query("SELECT * FROM steering WHERE id = ?", (steering_id,))
        return SteeringRecord(*rows[0]) if rows else None

    def retract_steering(self, steering_ids: Sequence[str], now: float) -> int:
        """Retract ops; returns how many were active."""
        with self.db.tx() as db:
            count = 0
            for sid in steering_ids:
                cur = db.execute(
                    "UPDATE steering SET retracted_at = ? WHERE id = ? AND retracted_at IS NULL",
                    (now, sid),
                )
                count += cur.rowcount
        return count


def user_instructions(path: Path) -> list[tuple[float, str, str | None, str]]:
    """(created_at, user_id, session_id, text) of every user's instructions in a state
    file, oldest first, read without opening it for writing (operators' global steering
    and resets left out)."""
    uri = f"file:{path}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return conn.execute(
            "SELECT DISTINCT created_at, user_id, session_id, text FROM steering"
            " WHERE user_id IS NOT NULL AND op != 'reset' ORDER BY created_at"
        ).fetchall()
