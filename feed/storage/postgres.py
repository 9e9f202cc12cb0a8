"""Per-user state in PostgreSQL, behind `UserState`: the same facts and rules as the
SQLite `StateStore`, for several serving processes sharing one database.

Opened by URL (`postgresql://user@host:port/db`); the schema is created or upgraded on
open, under an advisory lock so processes starting together migrate once. Each store
keeps one connection behind a lock (reconnecting if it breaks): the SQLite store has
one writer too, and a feed page costs one query and one transaction.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg

from feed.core.types import ChannelTaste, SteeringRecord, User, UserView
from feed.storage.sqlite import APP_ID, DatabaseError
from feed.storage.state import LIKED_PER_PAGE, RESERVED_TOKEN, STAT_COLUMNS, hash_token
from feed.storage.urls import redact

log = logging.getLogger(__name__)

# A migration is SQL (statements separated by `;`), or a function for what SQL cannot say;
# either runs inside the transaction that records the new version.
PgMigration = str | Callable[[psycopg.Cursor], None]


class PostgresDatabase:
    """A PostgreSQL connection shared across threads behind one lock, with a versioned
    schema per `kind` recorded in the `schema_version` table.

    `migrations[v]` upgrades the schema of `kind` from version v to v+1 (version 0: none
    of its tables exist). Several kinds (catalog, user state, jobs) may share one database.
    """

    def __init__(self, url: str, kind: str, migrations: Mapping[int, PgMigration]) -> None:
        self.url = url
        self.kind = kind
        self.schema_version = max(migrations) + 1
        self.lock = threading.RLock()
        self._closed = False
        try:
            self.conn = self._connect()
            self._migrate(migrations)
        except psycopg.Error as exc:
            raise DatabaseError(
                f"{redact(url)} is not a usable steerfeed {kind} database ({exc})"
            ) from exc

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name=APP_ID)

    def _migrate(self, migrations: Mapping[int, PgMigration]) -> None:
        with self.tx() as cur:
            # Serialise migrations across processes (the lock ends with the transaction).
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('steerfeed schema'))")
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " kind TEXT PRIMARY KEY, app TEXT NOT NULL, version INTEGER NOT NULL)"
            )
            row = cur.execute(
                "SELECT app, version FROM schema_version WHERE kind = %s", (self.kind,)
            ).fetchone()
            if row is not None and row[0] != APP_ID:
                raise DatabaseError(f"{redact(self.url)} holds {self.kind} of app {row[0]!r}")
            version = 0 if row is None else int(row[1])
            if version > self.schema_version:
                raise DatabaseError(
                    f"{redact(self.url)} has {self.kind} schema v{version}, newer than this"
                    f" steerfeed (v{self.schema_version}); upgrade steerfeed to open it"
                )
            if version == self.schema_version:
                return
            while version < self.schema_version:
                log.info("migrating %s at %s from schema v%d", self.kind, redact(self.url),
                         version)  # fmt: skip
                step = migrations[version]
                if callable(step):
                    step(cur)
                else:
                    cur.execute(step)
                version += 1
            cur.execute(
                "INSERT INTO schema_version VALUES (%s, %s, %s)"
                " ON CONFLICT (kind) DO UPDATE SET version = excluded.version",
                (self.kind, APP_ID, version),
            )

    def _connection(self) -> psycopg.Connection:
        """The open connection; a new one if the last broke (server restart, network)."""
        if self.conn.broken and not self._closed:
            log.warning("connection to %s lost; reconnecting", redact(self.url))
            self.conn = self._connect()
        return self.conn

    @contextmanager
    def tx(self) -> Iterator[psycopg.Cursor]:
        """A transaction; committed when the block ends, rolled back if it raises."""
        with self.lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                yield cur

    def query(self, sql: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple]:
        """Run a read query (in its own transaction) and return all rows."""
        with self.lock, self._connection().cursor() as cur:
            return cur.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the connection (closing twice is harmless)."""
        with self.lock:
            self._closed = True
            self.conn.close()


# -- user state -------------------------------------------------------------------------

KIND = "user state"
# Handles compare byte by byte (collation "C"), as in SQLite: prefix ranges and order
# then mean the same in both.
MIGRATIONS: dict[int, PgMigration] = {
    0: """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        handle TEXT COLLATE "C" NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL,
        reserved BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE follows (
        user_id TEXT NOT NULL, creator TEXT COLLATE "C" NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, creator)
    );
    CREATE INDEX follows_creator ON follows(creator);
    CREATE TABLE hidden (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE watched (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, last_ts DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE liked (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE profiles (
        user_id TEXT NOT NULL, channel TEXT NOT NULL,
        taste BYTEA, taste_weight DOUBLE PRECISION NOT NULL,
        negative BYTEA, negative_weight DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, channel)
    );
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY,
        user_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        pages INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_user ON sessions(user_id, created_at);
    CREATE TABLE served (
        session_id TEXT NOT NULL, clip_id TEXT NOT NULL, page INTEGER NOT NULL,
        PRIMARY KEY (session_id, clip_id)
    );
    CREATE TABLE steering (
        id TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY,
        user_id TEXT,
        op TEXT NOT NULL, phrase TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL,
        scope TEXT NOT NULL, session_id TEXT, text TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION,
        retracted_at DOUBLE PRECISION
    );
    CREATE INDEX steering_user ON steering(user_id, seq);
    CREATE TABLE clip_stats (
        clip_id TEXT PRIMARY KEY,
        views BIGINT NOT NULL DEFAULT 0, likes BIGINT NOT NULL DEFAULT 0,
        skips BIGINT NOT NULL DEFAULT 0, hides BIGINT NOT NULL DEFAULT 0,
        shares BIGINT NOT NULL DEFAULT 0, remixes BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE made_for (
        user_id TEXT NOT NULL, clip_id TEXT NOT NULL, phrase TEXT NOT NULL,
        job_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (user_id, clip_id)
    );
    CREATE TABLE cameos (
        handle TEXT COLLATE "C" PRIMARY KEY, owner_id TEXT NOT NULL, policy TEXT NOT NULL,
        approved TEXT[] NOT NULL DEFAULT '{}', blocked TEXT[] NOT NULL DEFAULT '{}',
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX cameos_owner ON cameos(owner_id);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
    # A counter every cameo consent change bumps, so a server's cached policies can
    # tell (from its page reads) that another server changed one.
    1: """
    CREATE TABLE consent_version (version BIGINT NOT NULL);
    INSERT INTO consent_version VALUES (0);
    """,
}

STEERING_COLUMNS = ("id, user_id, op, phrase, weight, scope, session_id, text, created_at,"
                    " expires_at, retracted_at")  # fmt: skip
USER_COLUMNS = "id, handle, created_at, reserved"

# One row per fact, tagged with its kind, in typed columns: t1..t7 text, b1..b2 bytes,
# f1..f4 numbers, n the steering order. The first branch names the types.
PAGE_VIEW_SQL = """
SELECT 'taste' AS kind, channel AS t1, NULL::text AS t2, NULL::text AS t3, NULL::text AS t4,
       NULL::text AS t5, NULL::text AS t6, NULL::text AS t7, taste AS b1, negative AS b2,
       taste_weight AS f1, negative_weight AS f2, updated_at AS f3,
       NULL::double precision AS f4, NULL::bigint AS n
  FROM profiles WHERE user_id = %(user)s
UNION ALL SELECT 'follow', creator, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM follows WHERE user_id = %(user)s
UNION ALL SELECT 'hidden', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM hidden WHERE user_id = %(user)s
UNION ALL SELECT 'watched', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM watched WHERE user_id = %(user)s
UNION ALL (SELECT 'liked', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       ts, NULL, NULL, NULL, NULL
  FROM liked WHERE user_id = %(user)s ORDER BY ts DESC, clip_id LIMIT %(liked)s)
UNION ALL SELECT 'served', clip_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM served WHERE session_id = %(session)s
UNION ALL SELECT 'session', user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM sessions WHERE id = %(session)s
UNION ALL SELECT 'made_for', clip_id, phrase, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM made_for WHERE user_id = %(user)s
UNION ALL SELECT 'steering', id, user_id, op, phrase, scope, session_id, text, NULL, NULL,
       weight, created_at, expires_at, retracted_at, seq
  FROM steering WHERE user_id = %(user)s OR user_id IS NULL
UNION ALL SELECT 'follower', c.owner_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL
  FROM cameos c JOIN follows f ON f.user_id = c.owner_id
  JOIN users u ON u.id = %(user)s AND f.creator = u.handle
  WHERE c.policy = 'mutuals'
UNION ALL SELECT 'consent_version', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, version
  FROM consent_version
"""


def _vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()


def _blob(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else vector.astype(np.float32).tobytes()


def _user(row: tuple) -> User:
    return User(row[0], row[1], row[2], bool(row[3]))


class PostgresUserState:
    """Users and everything the feed remembers about them, in PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.db = PostgresDatabase(url, KIND, MIGRATIONS)

    def close(self) -> None:
        """Close the connection."""
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
            with self.db.tx() as cur:
                cur.execute(
                    "INSERT INTO users VALUES (%s, %s, %s, %s, FALSE)",
                    (user.id, handle, hash_token(token), now),
                )
        except psycopg.errors.IntegrityError as exc:
            raise ValueError(f"handle {handle!r} is taken") from exc
        return user, token

    def reserve_handles(self, handles: Iterable[str], now: float) -> int:
        """Make a reserved account for each (normalised) handle nobody holds; returns how
        many were made. Nobody can sign up as, or sign in as, a reserved account."""
        wanted = sorted(set(handles))
        if not wanted:
            return 0
        ids = [f"u_{uuid.uuid4().hex[:16]}" for _ in wanted]
        tokens = [f"{RESERVED_TOKEN}{uuid.uuid4().hex}" for _ in wanted]
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO users SELECT id, handle, token, %s, TRUE"
                " FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(id, handle, token)"
                " ON CONFLICT DO NOTHING",
                (now, ids, wanted, tokens),
            )
            return cur.rowcount

    def authenticate(self, token: str) -> User | None:
        """The user owning this token, or None."""
        digest = hash_token(token)
        rows = self.db.query(
            f"SELECT {USER_COLUMNS}, token_hash FROM users WHERE token_hash = %s AND NOT reserved",
            (digest,),
        )
        if not rows or not hmac.compare_digest(rows[0][4], digest):
            return None
        return _user(rows[0])

    def get_user(self, user_id: str) -> User | None:
        """A user by id, or None."""
        rows = self.db.query(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        return _user(rows[0]) if rows else None

    def user_by_handle(self, handle: str) -> User | None:
        """The account holding a (normalised) handle, or None."""
        rows = self.db.query(f"SELECT {USER_COLUMNS} FROM users WHERE handle = %s", (handle,))
        return _user(rows[0]) if rows else None

    def users_by_handles(self, handles: Iterable[str]) -> dict[str, User]:
        """Accounts holding these (normalised) handles; handles nobody holds are absent."""
        wanted = sorted(set(handles))
        if not wanted:
            return {}
        rows = self.db.query(f"SELECT {USER_COLUMNS} FROM users WHERE handle = ANY(%s)", (wanted,))
        return {row[1]: _user(row) for row in rows}

    def handles_of(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Handle of each of these user ids that exists."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        return dict(self.db.query("SELECT id, handle FROM users WHERE id = ANY(%s)", (wanted,)))

    def handles_starting(self, prefix: str, limit: int) -> list[str]:
        """Handles that start with a (normalised) prefix, in order; every one if it is empty."""
        rows = self.db.query(
            "SELECT handle FROM users WHERE handle >= %s AND handle < %s ORDER BY handle LIMIT %s",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def secret(self, name: str) -> bytes:
        """A random secret kept in this database under `name`, made on first use."""
        with self.db.tx() as cur:
            # Two processes making it at once: one insert wins, both read the winner.
            cur.execute(
                "INSERT INTO secrets VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_hex(32)),
            )
            row = cur.execute("SELECT value FROM secrets WHERE name = %s", (name,)).fetchone()
        assert row is not None
        return str(row[0]).encode()

    # -- relations ------------------------------------------------------------

    def follow(self, user_id: str, handle: str, now: float) -> None:
        """The user follows the account holding this (normalised) handle."""
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO follows VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (user_id, handle, now),
            )

    def unfollow(self, user_id: str, handle: str) -> None:
        """The user stops following this handle."""
        with self.db.tx() as cur:
            cur.execute(
                "DELETE FROM follows WHERE user_id = %s AND creator = %s", (user_id, handle)
            )

    def follows(self, user_id: str) -> set[str]:
        """Creators the user follows."""
        rows = self.db.query("SELECT creator FROM follows WHERE user_id = %s", (user_id,))
        return {r[0] for r in rows}

    def hidden(self, user_id: str) -> set[str]:
        """Clip ids the user hid."""
        rows = self.db.query("SELECT clip_id FROM hidden WHERE user_id = %s", (user_id,))
        return {r[0] for r in rows}

    def watched(self, user_id: str) -> set[str]:
        """Clip ids the user viewed or skipped."""
        rows = self.db.query("SELECT clip_id FROM watched WHERE user_id = %s", (user_id,))
        return {r[0] for r in rows}

    def liked(self, user_id: str, limit: int = 50) -> list[str]:
        """The user's most recently liked (or shared/remixed) clip ids."""
        rows = self.db.query(
            "SELECT clip_id FROM liked WHERE user_id = %s ORDER BY ts DESC, clip_id LIMIT %s",
            (user_id, limit),
        )
        return [r[0] for r in rows]

    # -- profiles and events -----------------------------------------------------

    def tastes(self, user_id: str) -> dict[str, ChannelTaste]:
        """The user's taste per channel (empty for a new user)."""
        rows = self.db.query(
            "SELECT channel, taste, taste_weight, negative, negative_weight, updated_at"
            " FROM profiles WHERE user_id = %s",
            (user_id,),
        )
        return {
            channel: ChannelTaste(_vector(taste), tw, _vector(negative), nw, updated)
            for channel, taste, tw, negative, nw, updated in rows
        }

    def record_events(
        self,
        user_id: str,
        rows: Sequence[tuple[str, str, float]],
        tastes: dict[str, ChannelTaste],
        follows: Iterable[str],
    ) -> None:
        """Store one batch of (clip_id, type, ts) events and the updated tastes, atomically."""
        watched = [(user_id, c, ts) for c, kind, ts in rows if kind in ("view", "skip")]
        hidden = [(user_id, c, ts) for c, kind, ts in rows if kind == "hide"]
        liked = [(user_id, c, ts) for c, kind, ts in rows if kind in ("like", "share", "remix")]
        counted: dict[str, list[tuple[str]]] = {}
        for clip_id, kind, _ in rows:
            if kind in STAT_COLUMNS:
                counted.setdefault(STAT_COLUMNS[kind], []).append((clip_id,))
        followed_at = max((r[2] for r in rows), default=0.0)
        with self.db.tx() as cur:
            if watched:
                cur.executemany(
                    "INSERT INTO watched VALUES (%s, %s, %s) ON CONFLICT (user_id, clip_id)"
                    " DO UPDATE SET last_ts = GREATEST(watched.last_ts, excluded.last_ts)",
                    watched,
                )
            if hidden:
                cur.executemany(
                    "INSERT INTO hidden VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", hidden
                )
            if liked:  # in event order: the last like of a clip sets its time
                cur.executemany(
                    "INSERT INTO liked VALUES (%s, %s, %s)"
                    " ON CONFLICT (user_id, clip_id) DO UPDATE SET ts = excluded.ts",
                    liked,
                )
            for column, clip_ids in counted.items():  # column: one of STAT_COLUMNS' values
                cur.executemany(
                    f"INSERT INTO clip_stats (clip_id, {column}) VALUES (%s, 1)"
                    f" ON CONFLICT (clip_id) DO UPDATE SET {column} = clip_stats.{column} + 1",
                    clip_ids,
                )
            for creator in follows:
                cur.execute(
                    "INSERT INTO follows VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (user_id, creator, followed_at),
                )
            if tastes:
                cur.executemany(
                    "INSERT INTO profiles VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (user_id, channel) DO UPDATE SET taste = excluded.taste,"
                    " taste_weight = excluded.taste_weight, negative = excluded.negative,"
                    " negative_weight = excluded.negative_weight,"
                    " updated_at = excluded.updated_at",
                    [(user_id, channel, _blob(t.taste), t.taste_weight, _blob(t.negative),
                      t.negative_weight, t.updated_at) for channel, t in tastes.items()],
                )  # fmt: skip

    def clip_stats(self) -> dict[str, tuple[int, int, int, int, int, int]]:
        """Engagement counts per clip id: views, likes, skips, hides, shares, remixes."""
        rows = self.db.query(
            "SELECT clip_id, views, likes, skips, hides, shares, remixes FROM clip_stats"
        )
        return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}  # type: ignore[misc]

    # -- sessions -------------------------------------------------------------

    def session_owner(self, session_id: str) -> str | None:
        """The user a session belongs to, or None if unknown."""
        rows = self.db.query("SELECT user_id FROM sessions WHERE id = %s", (session_id,))
        return rows[0][0] if rows else None

    def latest_session(self, user_id: str) -> str | None:
        """The user's most recent session id."""
        rows = self.db.query(
            "SELECT id FROM sessions WHERE user_id = %s ORDER BY created_at DESC, seq DESC LIMIT 1",
            (user_id,),
        )
        return rows[0][0] if rows else None

    def served(self, session_id: str) -> set[str]:
        """Clip ids already served in this session."""
        rows = self.db.query("SELECT clip_id FROM served WHERE session_id = %s", (session_id,))
        return {r[0] for r in rows}

    def page_view(self, user_id: str, session_id: str) -> UserView:
        """What one feed page reads about a user, in a single query (see `UserView`)."""
        rows = self.db.query(
            PAGE_VIEW_SQL, {"user": user_id, "session": session_id, "liked": LIKED_PER_PAGE}
        )
        kinds: dict[str, list[tuple]] = {}
        for row in rows:
            kinds.setdefault(row[0], []).append(row[1:])

        def ids(kind: str) -> frozenset[str]:
            return frozenset(r[0] for r in kinds.get(kind, ()))

        # Row columns from here: t1..t7 = r[0..6], b1 b2 = r[7] r[8], f1..f4 = r[9..12], n = r[13].
        tastes = {
            r[0]: ChannelTaste(_vector(r[7]), r[9], _vector(r[8]), r[10], r[11])
            for r in kinds.get("taste", ())
        }
        liked = sorted(kinds.get("liked", ()), key=lambda r: (-r[9], r[0]))
        steering = [
            SteeringRecord(r[0], r[1], r[2], r[3], r[9], r[4], r[5], r[6], r[10], r[11], r[12])
            for r in sorted(kinds.get("steering", ()), key=lambda r: r[13])
        ]
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
            consent_version=int(kinds["consent_version"][0][13]),
        )

    def record_page(
        self, session_id: str, user_id: str, page: int, clip_ids: Sequence[str], now: float
    ) -> None:
        """Remember a served page, opening its session on the first one."""
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO sessions (id, user_id, created_at, pages) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET pages = GREATEST(sessions.pages, excluded.pages)",
                (session_id, user_id, now, page + 1),
            )
            cur.execute(
                "INSERT INTO served SELECT %s, clip_id, %s FROM unnest(%s::text[]) AS c(clip_id)"
                " ON CONFLICT DO NOTHING",
                (session_id, page, list(clip_ids)),
            )

    # -- generated clips and cameos --------------------------------------------

    def add_made_for(self, rows: Sequence[tuple[str, str, str, str]], now: float) -> None:
        """Remember (user_id, clip_id, phrase, job_id): clips made for users' requests."""
        if not rows:
            return
        with self.db.tx() as cur:
            cur.executemany(
                "INSERT INTO made_for VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(*r, now) for r in rows],
            )

    def made_for_rows(self, user_id: str, limit: int) -> list[tuple[str, str, float]]:
        """(clip_id, phrase, created_at) made for this user, newest first."""
        rows = self.db.query(
            "SELECT clip_id, phrase, created_at FROM made_for WHERE user_id = %s"
            " ORDER BY created_at DESC, clip_id LIMIT %s",
            (user_id, limit),
        )
        return [(str(c), str(p), float(t)) for c, p, t in rows]

    def made_for(self, user_id: str) -> dict[str, str]:
        """Clip id → the phrase it was made for, for this user."""
        rows = self.db.query("SELECT clip_id, phrase FROM made_for WHERE user_id = %s", (user_id,))
        return dict(rows)

    def set_cameo(
        self, handle: str, owner_id: str, policy: str, approved: Sequence[str],
        blocked: Sequence[str], now: float,
    ) -> None:  # fmt: skip
        """Record (or replace) the consent policy of a cameo; the lists are user ids."""
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO cameos VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (handle)"
                " DO UPDATE SET owner_id = excluded.owner_id, policy = excluded.policy,"
                " approved = excluded.approved, blocked = excluded.blocked,"
                " updated_at = excluded.updated_at",
                (handle, owner_id, policy, sorted(set(approved)), sorted(set(blocked)), now),
            )
            cur.execute("UPDATE consent_version SET version = version + 1")

    def consent_version(self) -> int:
        """A counter that every cameo consent change moves."""
        return int(self.db.query("SELECT version FROM consent_version")[0][0])

    def cameo(self, handle: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]] | None:
        """(owner_id, policy, approved user ids, blocked user ids) of a cameo, or None."""
        rows = self.db.query(
            "SELECT owner_id, policy, approved, blocked FROM cameos WHERE handle = %s", (handle,)
        )
        if not rows:
            return None
        owner, policy, approved, blocked = rows[0]
        return owner, policy, tuple(approved), tuple(blocked)

    def all_cameos(self) -> list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]:
        """(handle, owner_id, policy, approved, blocked) of every cameo on record."""
        return [
            (h, o, p, tuple(a), tuple(b))
            for h, o, p, a, b in self.db.query(
                "SELECT handle, owner_id, policy, approved, blocked FROM cameos ORDER BY handle"
            )
        ]

    def follows_between(self, a_id: str, a_handle: str, b_id: str, b_handle: str) -> bool:
        """Whether a and b follow each other (follows are of creator handles)."""
        rows = self.db.query(
            "SELECT EXISTS (SELECT 1 FROM follows WHERE user_id = %s AND creator = %s)"
            " AND EXISTS (SELECT 1 FROM follows WHERE user_id = %s AND creator = %s)",
            (a_id, b_handle, b_id, a_handle),
        )
        return bool(rows[0][0])

    # -- steering -------------------------------------------------------------

    def add_steering(self, records: Sequence[SteeringRecord]) -> None:
        """Store new steering ops."""
        if not records:
            return
        with self.db.tx() as cur:
            cur.executemany(
                f"INSERT INTO steering ({STEERING_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(r.id, r.user_id, r.op, r.phrase, r.weight, r.scope, r.session_id, r.text,
                  r.created_at, r.expires_at, r.retracted_at) for r in records],
            )  # fmt: skip

    def steering_for(
        self, user_id: str | None, include_global: bool = True
    ) -> list[SteeringRecord]:
        """Steering ops of a user (and global ones), oldest first, retracted ones included."""
        select = f"SELECT {STEERING_COLUMNS} FROM steering"
        if user_id is None:
            rows = self.db.query(f"{select} WHERE user_id IS NULL ORDER BY seq")
        elif include_global:
            rows = self.db.query(
                f"{select} WHERE user_id = %s OR user_id IS NULL ORDER BY seq", (user_id,)
            )
        else:
            rows = self.db.query(f"{select} WHERE user_id = %s ORDER BY seq", (user_id,))
        return [SteeringRecord(*r) for r in rows]

    def live_user_steering(self, now: float) -> list[SteeringRecord]:
        """Every user's live (not retracted, not expired) steering ops."""
        rows = self.db.query(
            f"SELECT {STEERING_COLUMNS} FROM steering WHERE user_id IS NOT NULL"
            " AND retracted_at IS NULL AND (expires_at IS NULL OR expires_at > %s) ORDER BY seq",
            (now,),
        )
        return [SteeringRecord(*r) for r in rows]

    def get_steering(self, steering_id: str) -> SteeringRecord | None:
        """One steering op by id."""
        rows = self.db.query(
            f"SELECT {STEERING_COLUMNS} FROM steering WHERE id = %s", (steering_id,)
        )
        return SteeringRecord(*rows[0]) if rows else None

    def retract_steering(self, steering_ids: Sequence[str], now: float) -> int:
        """Retract ops; returns how many were active."""
        if not steering_ids:
            return 0
        with self.db.tx() as cur:
            cur.execute(
                "UPDATE steering SET retracted_at = %s WHERE id = ANY(%s) AND retracted_at IS NULL",
                (now, list(steering_ids)),
            )
            return cur.rowcount
