"""One SQLite database file (WAL) with a versioned schema and serialised access."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

APP_ID = "steerfeed"
# The write-ahead log is copied back into the database (a checkpoint, which syncs the file)
# by a thread of the database's own once it holds this many bytes, not by a request: left
# to SQLite, one commit in a few hundred paid for the sync (8 ms here) while the request
# that made it waited. Only past CHECKPOINT_BOUND_BYTES does a commit checkpoint.
CHECKPOINT_WAL_BYTES = 4 << 20
CHECKPOINT_EVERY_S = 0.5
# Under writes that never pause (a catalog filled with millions of clips) the thread's
# checkpoints never catch up with the last commit, and the log only starts over once one
# has: it grew past 50 GB filling 10,000,000 clips. A commit that leaves it this large
# checkpoints it itself and empties it, without waiting: where a reader holds the log, it
# tries again once the log has grown by as much again.
CHECKPOINT_BOUND_BYTES = 256 << 20
BUSY_TIMEOUT_MS = 5000

# A migration is SQL, or a function for what SQL cannot say (Unicode normalisation);
# either runs inside the transaction that records the new version.
Migration = str | Callable[[sqlite3.Connection], None]


class DatabaseError(RuntimeError):
    """A database file cannot be used (foreign, newer, or corrupt)."""


class Database:
    """A SQLite connection shared across threads behind one lock.

    `migrations[v]` upgrades the schema from version v to v+1
    (version 0 is an empty file); `kind` names what the file holds, so a
    catalog is never opened as a user store or the other way round.

    `unversioned_tables` adopts files written before their kind had a versioned
    schema: a file without version whose tables are all among these opens as
    version 0, so `migrations[0]` must be idempotent over them. Any other file
    without version is refused as foreign.
    """

    def __init__(
        self,
        path: Path,
        kind: str,
        migrations: Mapping[int, Migration],
        unversioned_tables: Collection[str] = (),
    ) -> None:
        self.path = path
        self.kind = kind
        self.unversioned_tables = frozenset(unversioned_tables)
        self.schema_version = max(migrations) + 1
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        try:
            self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode (only an OS
            # crash can lose the last commits), at a fraction of FULL's fsyncs.
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._migrate(migrations)
            self.conn.execute("PRAGMA wal_autocheckpoint=0")  # see CHECKPOINT_WAL_BYTES
            # The log restarts from its start once checkpointed; without a limit its file
            # keeps the size it once reached, and would read as "full" from then on.
            self.conn.execute("PRAGMA journal_size_limit=0")
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise DatabaseError(f"{path} is not a readable {kind} database ({exc})") from exc
        self._busy_log_bytes = 0  # the log's size when a bounding checkpoint found it busy
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name=f"steerfeed-checkpoint-{kind}", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Checkpoint the log whenever it has grown past CHECKPOINT_WAL_BYTES, on a
        connection of this thread's own; PASSIVE never waits for readers or writers, so a
        checkpoint that cannot finish now finishes on a later turn."""
        wal = Path(f"{self.path}-wal")
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=0.1)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    if wal.exists() and wal.stat().st_size >= CHECKPOINT_WAL_BYTES:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except (OSError, sqlite3.Error) as exc:  # busy, or the file going away
                    log.debug("checkpoint of %s put off: %s", self.path, exc)
        finally:
            conn.close()

    def _version(self) -> int:
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            return 0
        if "meta" not in tables and tables <= self.unversioned_tables:
            log.info("adopting unversioned %s %s as schema v0", self.kind, self.path)
            return 0
        if "meta" not in tables:
            raise DatabaseError(
                f"{self.path} is not a steerfeed {self.kind} (foreign tables: {sorted(tables)})"
            )
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("app") != APP_ID or meta.get("kind", self.kind) != self.kind:
            raise DatabaseError(
                f"{self.path} is not a steerfeed {self.kind}"
                f" (app={meta.get('app')!r}, kind={meta.get('kind')!r})"
            )
        return int(meta["schema_version"])

    def _migrate(self, migrations: Mapping[int, Migration]) -> None:
        with self.lock:
            version = self._version()
            if version > self.schema_version:
                raise DatabaseError(
                    f"{self.path} has {self.kind} schema v{version}, newer than this steerfeed"
                    f" (v{self.schema_version}); upgrade steerfeed to open it"
                )
            while version < self.schema_version:
                log.info("migrating %s %s from schema v%d", self.kind, self.path, version)
                with self.tx() as db:
                    if version == 0:
                        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    step = migrations[version]
                    if callable(step):
                        step(db)
                    else:
                        for statement in step.split(";"):
                            if statement.strip():
                                db.execute(statement)
                    db.executemany(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        [
                            ("app", APP_ID),
                            ("kind", self.kind),
                            ("schema_version", str(version + 1)),
                        ],
                    )
                version += 1

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); rolled back if the block raises."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            self._bound_the_log()

    def _bound_the_log(self) -> None:
        """Checkpoint and empty the log where it has grown past CHECKPOINT_BOUND_BYTES
        (see there), never waiting on a reader of it: when one holds it, the log is left
        until it has grown by the bound again. A failure is logged, never raised: the
        commit before it stands."""
        size = self._wal_bytes()
        if size < CHECKPOINT_BOUND_BYTES or size < self._busy_log_bytes + CHECKPOINT_BOUND_BYTES:
            return
        try:
            self.conn.execute("PRAGMA busy_timeout=0")
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            log.debug("bounding checkpoint of %s put off: %s", self.path, exc)
            busy = 1
        finally:
            self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._busy_log_bytes = size if busy else 0

    def _wal_bytes(self) -> int:
        """The size of the write-ahead log's file (0 when there is none)."""
        try:
            return Path(f"{self.path}-wal").stat().st_size
        except OSError:
            return 0

    def query(self, sql: str, args: tuple | list | dict = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Stop the checkpoint thread and close the connection (closing twice is
        harmless); SQLite checkpoints what the log still holds as the last connection to
        the file closes."""
        self._stop.set()
        if self._checkpointer.is_alive() and self._checkpointer is not threading.current_thread():
            self._checkpointer.join()
        with self.lock:
            self.conn.close()
