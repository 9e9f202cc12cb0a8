"""The catalog: clips, creators, cameo handles and clip vectors in SQLite (WAL).

The catalog is the source of truth; FAISS indexes are derived from the
vectors stored here. Every write bumps a generation counter in the same
transaction, and each clip row remembers the generation that last touched
it, so an index saved at generation G can be caught up (or found stale)
after a crash.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feed.core.consent import mentioned_cameos, normalise_handle
from feed.core.intent import name_emoji
from feed.storage.sqlite import Database, DatabaseError, Migration

log = logging.getLogger(__name__)


# Migrations: MIGRATIONS[v] upgrades a catalog at version v to v + 1.
# Version 0 is an empty database.
def _normalised_handles(db: sqlite3.Connection) -> None:
    """v2: creator and cameo handles in their one normalised form (case-folded)."""
    creators = db.execute("SELECT handle, created_at FROM creators").fetchall()
    db.executemany(
        "INSERT OR IGNORE INTO creators VALUES (?, ?)",
        [(normalise_handle(h), t) for h, t in sorted(creators, key=lambda r: r[1])],
    )
    for handle, _ in creators:
        if normalise_handle(handle) != handle:
            db.execute("UPDATE clips SET creator = ? WHERE creator = ?",
                       (normalise_handle(handle), handle))  # fmt: skip
            db.execute("DELETE FROM creators WHERE handle = ?", (handle,))
    cameos = db.execute("SELECT seq, handle FROM clip_cameos").fetchall()
    db.execute("DELETE FROM clip_cameos")
    db.executemany(
        "INSERT OR IGNORE INTO clip_cameos VALUES (?, ?)",
        [(seq, normalise_handle(h)) for seq, h in cameos],
    )


MIGRATIONS: dict[int, Migration] = {
    0: """
    INSERT INTO meta VALUES ('generation', '0');
    CREATE TABLE creators (
        handle TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    CREATE TABLE clips (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        prompt TEXT NOT NULL,
        caption TEXT NOT NULL DEFAULT '',
        creator TEXT NOT NULL REFERENCES creators(handle),
        tags TEXT NOT NULL DEFAULT '[]',
        duration_s REAL,
        width INTEGER,
        height INTEGER,
        has_audio INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        remix_of TEXT,
        video_path TEXT,
        provider TEXT,
        gen INTEGER NOT NULL
    );
    CREATE INDEX clips_creator ON clips(creator);
    CREATE INDEX clips_gen ON clips(gen);
    CREATE TABLE clip_cameos (
        seq INTEGER NOT NULL REFERENCES clips(seq) ON DELETE CASCADE,
        handle TEXT NOT NULL,
        PRIMARY KEY (seq, handle)
    );
    CREATE INDEX clip_cameos_handle ON clip_cameos(handle);
    CREATE TABLE clip_vectors (
        seq INTEGER NOT NULL REFERENCES clips(seq) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        model TEXT NOT NULL,
        vec BLOB NOT NULL,
        PRIMARY KEY (seq, channel)
    );
    CREATE TABLE deleted_clips (seq INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
    """,
    1: _normalised_handles,
    # v3: a clip's remixes are listed on its page.
    2: "CREATE INDEX clips_remix_of ON clips(remix_of, created_at)",
    # v4: the change log reads deletions after a generation without a scan.
    3: "CREATE INDEX deleted_clips_gen ON deleted_clips(gen)",
    # v5: each stored vector says its bytes per value (4: float32, 2: float16).
    4: "ALTER TABLE clip_vectors ADD COLUMN width INTEGER NOT NULL DEFAULT 4",
}
SCHEMA_VERSION = max(MIGRATIONS) + 1  # the version a catalog has after every migration
# Bumped whenever mention finding changes: every stored prompt is searched again once.
MENTION_RULES = "2"


CatalogError = DatabaseError


@dataclass(frozen=True)
class ClipRecord:
    """A clip as submitted for storage (before it has a catalog seq)."""

    id: str
    prompt: str
    creator: str
    created_at: float
    caption: str = ""
    tags: tuple[str, ...] = ()
    cameos: tuple[str, ...] = ()
    remix_of: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool = False
    video_path: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Clip:
    """A stored clip. `seq` is the int64 id used in every vector index."""

    seq: int
    id: str
    prompt: str
    creator: str
    created_at: float
    caption: str
    tags: tuple[str, ...]
    cameos: tuple[str, ...]
    remix_of: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    has_audio: bool
    video_path: str | None
    provider: str | None
    channels: tuple[str, ...]


VECTOR_CHUNK_ROWS = 8192  # rows per fetch when reading a channel's vectors
# Rows per block when a channel is read block by block (`channel_blocks`): 32 MiB of
# float32 at 512-d, however large the catalog (a reader holds a few copies of a block
# at once: the fetched bytes, the matrix, what it computes from it).
CHANNEL_BLOCK_ROWS = 16_384


@dataclass(frozen=True)
class ChannelVectors:
    """All stored vectors of one channel: seqs int64 (n,), vectors float32 (n, d)."""

    channel: str
    model: str
    seqs: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class ChannelChanges:
    """What changed in a channel after some generation: upserts and removals."""

    upserted: ChannelVectors
    removed: np.ndarray


# The forms a catalog can store vectors in, by bytes per value (`set_vector_format`).
# float16 halves a catalog's largest part; a unit vector's values keep about three
# significant digits, far finer than the 8-bit codes large catalogs rank with.
VECTOR_FORMATS = {"float32": 4, "float16": 2}
_DTYPE_OF_WIDTH: dict[int, np.dtype] = {4: np.dtype(np.float32), 2: np.dtype(np.float16)}


def vector_width(vector_format: str) -> int:
    """Bytes per value of a vector format; ValueError for an unknown one."""
    if vector_format not in VECTOR_FORMATS:
        raise ValueError(
            f"unknown vector format {vector_format!r}: expected one of {sorted(VECTOR_FORMATS)}"
        )
    return VECTOR_FORMATS[vector_format]


def _within_range(values: np.ndarray, dtype: np.dtype) -> None:
    """ValueError when a finite value is beyond what `dtype` holds."""
    finite = values[np.isfinite(values)]
    if finite.size and np.abs(finite).max() > np.finfo(dtype).max:
        raise ValueError(f"a vector has a value beyond {dtype.name}'s range")


def vector_bytes(vector: np.ndarray, width: int) -> bytes | None:
    """A vector as stored, `width` bytes a value; None for one with a non-finite value
    (no vector). ValueError for a finite value beyond the format's range."""
    values = np.asarray(vector, dtype=np.float32)
    if not np.isfinite(values).all():
        return None
    _within_range(values, _DTYPE_OF_WIDTH[width])
    return values.astype(_DTYPE_OF_WIDTH[width]).tobytes()


def as_stored(vectors: np.ndarray, vector_format: str) -> np.ndarray:
    """float32 vectors as a catalog storing them in this form reads them back (a NaN
    stays NaN), so what an index is given is what a rebuild from the catalog gives it.
    ValueError for a value beyond the form's range."""
    values = np.asarray(vectors, dtype=np.float32)
    dtype = _DTYPE_OF_WIDTH[vector_width(vector_format)]
    if dtype == np.float32:
        return values
    _within_range(values, dtype)
    return values.astype(dtype).astype(np.float32)


def decode_vectors(rows: Sequence[tuple]) -> np.ndarray:
    """float32 (len(rows), d) of (…, bytes, width) rows, each at its own width."""
    widths = {r[-1] for r in rows}
    if len(widths) == 1:  # one format: one join and one conversion
        flat = np.frombuffer(b"".join(r[-2] for r in rows), dtype=_DTYPE_OF_WIDTH[widths.pop()])
        return flat.reshape(len(rows), -1).astype(np.float32, copy=False)
    return np.stack([np.frombuffer(r[-2], dtype=_DTYPE_OF_WIDTH[r[-1]]) for r in rows]).astype(
        np.float32
    )


def vectors_of_rows(channel: str, rows: Sequence[tuple]) -> ChannelVectors:
    """(seq, model, bytes, width) rows as one ChannelVectors; several models are an error."""
    models = {r[1] for r in rows}
    if len(models) > 1:
        raise CatalogError(f"{channel} vectors come from several models: {sorted(models)}")
    model = models.pop() if models else ""
    seqs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = decode_vectors(rows) if rows else np.empty((0, 0), dtype=np.float32)
    return ChannelVectors(channel, model, seqs, vectors)


def blocks_after(
    channel: str,
    read: Callable[[int, int], Sequence[tuple]],
    rows: int | None = None,
    after: int | None = None,
) -> Iterator[ChannelVectors]:
    """A channel's vectors in seq order (those of seq above `after`, when given), `rows`
    at a time (`CHANNEL_BLOCK_ROWS` as it is when reading starts, by default):
    `read(after, limit)` gives the (seq, model, bytes, width) rows with seq above `after`,
    in seq order, at most `limit` of them. Each block starts where the one before ended
    (keyset pagination), so no block scans from the first row, and only one block is held
    at a time."""
    rows = CHANNEL_BLOCK_ROWS if rows is None else rows
    if rows < 1:
        raise ValueError("a block holds at least one row")
    after, model = (-1 if after is None else after), None
    while batch := read(after, rows):
        block = vectors_of_rows(channel, batch)
        if model is not None and block.model != model:
            raise CatalogError(
                f"{channel} vectors come from several models: {sorted({model, block.model})}"
            )
        model = block.model
        yield block
        if len(batch) < rows:
            return
        after = int(block.seqs[-1])


def embedding_text(prompt: str, caption: str, tags: Sequence[str]) -> str:
    """The text the text channel embeds for a clip: prompt, caption and tags, emoji read
    as their names ("hammerhead squad 🦈" is about sharks)."""
    prompt, caption = name_emoji(prompt), name_emoji(caption)
    parts = [prompt.strip()]
    if caption.strip() and caption.strip() != prompt.strip():
        parts.append(caption.strip())
    if tags:
        parts.append(" ".join(f"#{t}" for t in tags))
    return ". ".join(parts)


# Each reads every page of what `Catalog.get_many` reads: the clips' rows, the index of
# their vector channels (a count reads the smallest index) and their cameos.
_READ_AHEAD = (
    "SELECT sum(length(id) + length(prompt) + length(caption) + length(tags)) FROM clips",
    "SELECT count(*) FROM clip_vectors",
    "SELECT count(*) FROM clip_cameos",
)


class Catalog:
    """SQLite-backed store of clips and creators; thread-safe through one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._database = Database(path, "catalog", MIGRATIONS)
        self._db = self._database.conn
        self._lock = self._database.lock
        self._tx = self._database.tx
        self._add_mentioned_cameos()

    def _add_mentioned_cameos(self) -> None:
        """Once per catalog and mention rules: make every @handle a prompt names a cameo
        of its clip.

        Catalogs written before mentions counted as cameos (or before "＠alice" and
        "x@alice" counted as mentions) hold only the ones found then, and a likeness
        named in a prompt must still be under consent.
        """
        with self._tx() as db:
            found = db.execute("SELECT value FROM meta WHERE key='mentions_are_cameos'")
            if (found.fetchone() or ("",))[0] == MENTION_RULES:
                return
            rows = db.execute("SELECT seq, prompt FROM clips").fetchall()
            pairs = [(seq, h) for seq, prompt in rows for h in mentioned_cameos(prompt)]
            before = db.execute("SELECT COUNT(*) FROM clip_cameos").fetchone()[0]
            db.executemany("INSERT OR IGNORE INTO clip_cameos VALUES (?, ?)", pairs)
            if db.execute("SELECT COUNT(*) FROM clip_cameos").fetchone()[0] != before:
                # The clips' generation moves too: readers catching up from the change log
                # (indexes, snapshots) see these clips as changed.
                gen = self._bump(db)
                db.executemany("UPDATE clips SET gen=? WHERE seq=?",
                               [(gen, seq) for seq in {seq for seq, _ in pairs}])  # fmt: skip
                log.warning("%s: prompts' @mentions added as cameos", self.path)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('mentions_are_cameos', ?)",
                       (MENTION_RULES,))  # fmt: skip

    def read_ahead(self) -> threading.Thread:
        """Read what pages read of the catalog (each clip's record, the list of its vector
        channels and its cameos) once, on a thread and a read-only connection of its own,
        so that the pages after an open find it in the system's page cache. A page reads
        its items' records (`get_many`): after an open on a cold cache, 20 records of a
        million took 2.8 ms (p50) from the disk and 0.16 ms cached; reading the 180 MB
        they sit in, in the tables' order, took 3.3 s. Returns the thread; nothing waits
        for it."""

        def read() -> None:
            try:
                db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    for sql in _READ_AHEAD:
                        db.execute(sql).fetchall()
                finally:
                    db.close()
            except sqlite3.Error as exc:  # closed or removed meanwhile
                log.debug("no read-ahead of %s: %s", self.path, exc)

        thread = threading.Thread(target=read, name="steerfeed-catalog-read-ahead", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Close the database connection."""
        self._database.close()

    # -- generation -----------------------------------------------------------

    @property
    def generation(self) -> int:
        """Counter bumped by every committed write."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0])

    def _bump(self, db: sqlite3.Connection) -> int:
        gen = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]) + 1
        db.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
        return gen

    # -- vector format --------------------------------------------------------

    @property
    def vector_format(self) -> str:
        """The form new vectors are stored in: "float32" (the default) or "float16"."""
        with self._lock:
            return self._vector_format(self._db)

    def _vector_format(self, db: sqlite3.Connection) -> str:
        row = db.execute("SELECT value FROM meta WHERE key='vector_format'").fetchone()
        return "float32" if row is None else str(row[0])

    def set_vector_format(self, vector_format: str) -> None:
        """Store vectors written from now on in this form ("float32" or "float16");
        vectors already stored keep theirs (`steerfeed reindex --reembed` writes every one
        again). What a vector reads as changes only by the rounding of the new form."""
        vector_width(vector_format)  # a clear error, before anything is written
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('vector_format', ?)", (vector_format,))

    # -- writes ---------------------------------------------------------------

    def upsert_clips(
        self, records: Sequence[ClipRecord], vectors: dict[str, tuple[str, np.ndarray]]
    ) -> list[int]:
        """Insert or update clips with their channel vectors in one transaction.

        `vectors` maps channel → (model, float32 (len(records), d)); a row of
        NaN means that clip has no vector on that channel. Returns the seqs.
        An update keeps the clip's cameos: a likeness once in a clip stays under its
        owner's consent (and co-ownership) until the clip is deleted.
        """
        for channel, (_, matrix) in vectors.items():
            if matrix.shape[0] != len(records):
                raise ValueError(f"{channel}: {matrix.shape[0]} vectors for {len(records)} clips")
        seqs: list[int] = []
        with self._tx() as db:
            width = vector_width(self._vector_format(db))
            gen = self._bump(db)
            for row, rec in enumerate(records):
                db.execute(
                    "INSERT OR IGNORE INTO creators VALUES (?, ?)", (rec.creator, rec.created_at)
                )
                values = (
                    rec.prompt, rec.caption, rec.creator, json.dumps(list(rec.tags)),
                    rec.duration_s, rec.width, rec.height, int(rec.has_audio), rec.created_at,
                    rec.remix_of, rec.video_path, rec.provider, gen,
                )  # fmt: skip
                found = db.execute("SELECT seq FROM clips WHERE id=?", (rec.id,)).fetchone()
                if found is None:
                    cur = db.execute(
                        "INSERT INTO clips (prompt, caption, creator, tags, duration_s, width,"
                        " height, has_audio, created_at, remix_of, video_path, provider, gen, id)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (*values, rec.id),
                    )
                    seq = int(cur.lastrowid or 0)
                else:
                    seq = int(found[0])
                    db.execute(
                        "UPDATE clips SET prompt=?, caption=?, creator=?, tags=?, duration_s=?,"
                        " width=?, height=?, has_audio=?, created_at=?, remix_of=?, video_path=?,"
                        " provider=?, gen=? WHERE seq=?",
                        (*values, seq),
                    )
                    db.execute("DELETE FROM clip_vectors WHERE seq=?", (seq,))
                db.executemany(
                    "INSERT OR IGNORE INTO clip_cameos VALUES (?, ?)",
                    [(seq, h) for h in rec.cameos],
                )
                for channel, (model, matrix) in vectors.items():
                    stored = vector_bytes(matrix[row], width)
                    if stored is not None:
                        db.execute(
                            "INSERT INTO clip_vectors VALUES (?, ?, ?, ?, ?)",
                            (seq, channel, model, stored, width),
                        )
                db.execute("DELETE FROM deleted_clips WHERE seq=?", (seq,))
                seqs.append(seq)
        return seqs

    def delete_clip(self, clip_id: str) -> int | None:
        """Remove a clip; return its seq, or None if there was no such clip."""
        with self._tx() as db:
            found = db.execute("SELECT seq FROM clips WHERE id=?", (clip_id,)).fetchone()
            if found is None:
                return None
            gen = self._bump(db)
            db.execute("DELETE FROM clips WHERE seq=?", (found[0],))
            db.execute("INSERT OR REPLACE INTO deleted_clips VALUES (?, ?)", (found[0], gen))
            return int(found[0])

    # -- reads ----------------------------------------------------------------

    _SELECT = (
        "SELECT c.seq, c.id, c.prompt, c.creator, c.created_at, c.caption, c.tags,"
        " (SELECT json_group_array(handle) FROM clip_cameos m WHERE m.seq = c.seq),"
        " c.remix_of, c.duration_s, c.width, c.height, c.has_audio, c.video_path, c.provider,"
        " (SELECT json_group_array(channel) FROM clip_vectors v WHERE v.seq = c.seq)"
        " FROM clips c"
    )

    @staticmethod
    def _clip(row: tuple) -> Clip:
        return Clip(
            seq=row[0], id=row[1], prompt=row[2], creator=row[3], created_at=row[4],
            caption=row[5], tags=tuple(json.loads(row[6])),
            cameos=tuple(sorted(json.loads(row[7]))),
            remix_of=row[8], duration_s=row[9], width=row[10], height=row[11],
            has_audio=bool(row[12]), video_path=row[13], provider=row[14],
            channels=tuple(sorted(json.loads(row[15]))),
        )  # fmt: skip

    def count(self) -> int:
        """Number of clips."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM clips").fetchone()[0])

    def get(self, clip_id: str) -> Clip | None:
        """The clip with this id, or None."""
        with self._lock:
            row = self._db.execute(f"{self._SELECT} WHERE c.id=?", (clip_id,)).fetchone()
        return None if row is None else self._clip(row)

    def get_creators(self, clip_ids: Sequence[str]) -> dict[str, str]:
        """Creator of each of these clip ids that exists."""
        out: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(clip_ids), 500):
                chunk = list(clip_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, creator FROM clips WHERE id IN ({marks})"
                out.update(self._db.execute(sql, chunk).fetchall())
        return out

    def get_many(self, seqs: Sequence[int]) -> dict[int, Clip]:
        """Clips by seq; missing seqs are absent from the result."""
        out: dict[int, Clip] = {}
        with self._lock:
            for start in range(0, len(seqs), 500):
                chunk = [int(s) for s in seqs[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(f"{self._SELECT} WHERE c.seq IN ({marks})", chunk):
                    out[row[0]] = self._clip(row)
        return out

    def clips_with_cameo(self, handle: str) -> list[Clip]:
        """Every clip whose cameos include this handle, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"{self._SELECT} WHERE c.seq IN (SELECT seq FROM clip_cameos WHERE handle=?)"
                " ORDER BY c.created_at DESC",
                (handle,),
            ).fetchall()
        return [self._clip(r) for r in rows]

    def clips_by_creator(self, handle: str, limit: int) -> list[Clip]:
        """The creator's clips, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"{self._SELECT} WHERE c.creator=? ORDER BY c.created_at DESC, c.seq DESC LIMIT ?",
                (handle, limit),
            ).fetchall()
        return [self._clip(r) for r in rows]

    def remixes_of(self, clip_id: str, limit: int) -> list[Clip]:
        """Clips that remix this one, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"{self._SELECT} WHERE c.remix_of=? ORDER BY c.created_at DESC, c.seq DESC LIMIT ?",
                (clip_id, limit),
            ).fetchall()
        return [self._clip(r) for r in rows]

    def ids(self) -> list[str]:
        """All clip ids, in insertion order."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM clips ORDER BY seq")]

    def creators(self) -> list[str]:
        """All creator handles."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT handle FROM creators ORDER BY handle")]

    def handles(self) -> set[str]:
        """Every handle the catalog names: creators and cameos."""
        with self._lock:
            rows = self._db.execute(
                "SELECT handle FROM creators UNION SELECT handle FROM clip_cameos"
            ).fetchall()
        return {r[0] for r in rows}

    def video_paths(self, clip_ids: Sequence[str]) -> dict[str, str]:
        """Stored video path of each of these clip ids that has one."""
        out: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(clip_ids), 500):
                chunk = list(clip_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT id, video_path FROM clips WHERE id IN ({marks})"
                    " AND video_path IS NOT NULL"
                )
                out.update(self._db.execute(sql, chunk).fetchall())
        return out

    def channel_vectors(self, channel: str) -> ChannelVectors:
        """Every stored vector of a channel (for building or checking an index)."""
        return self._vectors_where(channel, "", ())

    def channel_blocks(
        self, channel: str, rows: int | None = None, after: int | None = None
    ) -> Iterator[ChannelVectors]:
        """A channel's stored vectors in seq order (of seq above `after`, when given), at
        most `rows` at a time, each block read in a transaction of its own: a catalog of
        any size is read holding one block. Blocks do not share one catalog state: a clip
        written while they are read may be missing or present, so a reader takes the
        generation first and catches up from it."""

        def read(after: int, limit: int) -> list[tuple]:
            with self._lock:
                return self._db.execute(
                    "SELECT v.seq, v.model, v.vec, v.width FROM clip_vectors v"
                    " JOIN clips c ON c.seq = v.seq"
                    " WHERE v.channel = ? AND v.seq > ? ORDER BY v.seq LIMIT ?",
                    (channel, after, limit),
                ).fetchall()

        return blocks_after(channel, read, rows, after)

    def channel_changes(self, channel: str, after_gen: int) -> ChannelChanges:
        """Vectors upserted and clips deleted after generation `after_gen`."""
        # Clips first, through their generation index: only the changed rows are read
        # (left to itself, SQLite walks every stored vector of the channel in seq order).
        upserted = self._vectors_where(
            channel, " AND c.gen > ?", (after_gen,),
            join="FROM clips c CROSS JOIN clip_vectors v ON c.seq = v.seq",
        )  # fmt: skip
        with self._lock:
            gone = [
                r[0]
                for r in self._db.execute(
                    "SELECT seq FROM deleted_clips WHERE gen > ?", (after_gen,)
                )
            ]
            stale = [
                r[0]
                for r in self._db.execute(
                    "SELECT c.seq FROM clips c WHERE c.gen > ? AND NOT EXISTS"
                    " (SELECT 1 FROM clip_vectors v WHERE v.seq = c.seq AND v.channel = ?)",
                    (after_gen, channel),
                )
            ]
        return ChannelChanges(upserted, np.asarray(gone + stale, dtype=np.int64))

    def _vectors_where(
        self, channel: str, where: str, args: tuple,
        join: str = "FROM clip_vectors v JOIN clips c ON c.seq = v.seq",
    ) -> ChannelVectors:  # fmt: skip
        # Read in chunks into one matrix: only a chunk of rows is ever held as Python
        # objects, so the peak is the matrix itself, not the matrix two or three times.
        with self._lock:
            # One read transaction: the count and the rows see the same catalog state.
            self._db.execute("BEGIN")
            try:
                return self._read_vectors(channel, join, where, args)
            finally:
                self._db.execute("COMMIT")

    def _read_vectors(self, channel: str, join: str, where: str, args: tuple) -> ChannelVectors:
        """The rows of `_vectors_where`; the caller holds the lock and a read transaction."""
        count, dim = self._db.execute(
            f"SELECT COUNT(*), MAX(length(v.vec) / v.width) {join} WHERE v.channel = ?{where}",
            (channel, *args),
        ).fetchone()
        seqs = np.empty(count, dtype=np.int64)
        vectors = np.empty((count, dim or 0), dtype=np.float32)
        models: set[str] = set()
        cursor = self._db.execute(
            f"SELECT v.seq, v.model, v.vec, v.width {join} WHERE v.channel = ?{where}"
            " ORDER BY v.seq",
            (channel, *args),
        )
        start = 0
        while chunk := cursor.fetchmany(VECTOR_CHUNK_ROWS):
            end = start + len(chunk)
            seqs[start:end] = [r[0] for r in chunk]
            models.update(r[1] for r in chunk)
            vectors[start:end] = decode_vectors(chunk)
            start = end
        if len(models) > 1:
            raise CatalogError(f"{channel} vectors come from several models: {sorted(models)}")
        model = models.pop() if models else ""
        if not count:
            vectors = np.empty((0, 0), dtype=np.float32)
        return ChannelVectors(channel, model, seqs, vectors)

    def channel_model(self, channel: str) -> str | None:
        """The model whose vectors a channel stores, or None if it has none."""
        with self._lock:
            row = self._db.execute(
                "SELECT model FROM clip_vectors WHERE channel=? LIMIT 1", (channel,)
            ).fetchone()
        return None if row is None else str(row[0])
