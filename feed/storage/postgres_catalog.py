"""The catalog in PostgreSQL, behind `Catalog`: the same clips, vectors, generations and
change log as the SQLite catalog, for several serving processes sharing one database.

Opened by URL (`postgresql://user@host:port/db`); the schema is created or upgraded on
open, under the same advisory lock as the other PostgreSQL stores, and its tables are
named `catalog_*` so user state and jobs can live in the same database. Vectors are
float32 bytes (`bytea`): the indexes that search them are built from the catalog.

Every write bumps the generation row first, in the transaction that makes the change:
the row lock it takes holds other writers until the commit, so changes commit in
generation order and an index caught up to generation G has seen all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import psycopg

from feed.core.consent import mentioned_cameos
from feed.storage.catalog import (
    MENTION_RULES,
    ChannelChanges,
    ChannelVectors,
    Clip,
    ClipRecord,
    blocks_after,
    vector_bytes,
    vector_width,
    vectors_of_rows,
)
from feed.storage.postgres import PgMigration, PostgresDatabase
from feed.storage.urls import redact

log = logging.getLogger(__name__)

KIND = "catalog"
# Ids and handles compare byte by byte (collation "C"), as in SQLite: `creators()` then
# lists them in the same order. Seqs come from an identity: never handed out twice.
MIGRATIONS: dict[int, PgMigration] = {
    0: """
    CREATE TABLE catalog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO catalog_meta VALUES ('generation', '0'), ('mentions_are_cameos', '');
    CREATE TABLE catalog_creators (
        handle TEXT COLLATE "C" PRIMARY KEY,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE catalog_clips (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT COLLATE "C" NOT NULL UNIQUE,
        prompt TEXT NOT NULL,
        caption TEXT NOT NULL DEFAULT '',
        creator TEXT COLLATE "C" NOT NULL REFERENCES catalog_creators(handle),
        tags TEXT[] NOT NULL DEFAULT '{}',
        duration_s DOUBLE PRECISION,
        width INTEGER,
        height INTEGER,
        has_audio BOOLEAN NOT NULL DEFAULT FALSE,
        created_at DOUBLE PRECISION NOT NULL,
        remix_of TEXT COLLATE "C",
        video_path TEXT,
        provider TEXT,
        gen BIGINT NOT NULL
    );
    CREATE INDEX catalog_clips_creator ON catalog_clips(creator, created_at);
    CREATE INDEX catalog_clips_gen ON catalog_clips(gen);
    CREATE INDEX catalog_clips_remix_of ON catalog_clips(remix_of, created_at);
    CREATE TABLE catalog_cameos (
        seq BIGINT NOT NULL REFERENCES catalog_clips(seq) ON DELETE CASCADE,
        handle TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (seq, handle)
    );
    CREATE INDEX catalog_cameos_handle ON catalog_cameos(handle);
    CREATE TABLE catalog_vectors (
        seq BIGINT NOT NULL REFERENCES catalog_clips(seq) ON DELETE CASCADE,
        channel TEXT COLLATE "C" NOT NULL,
        model TEXT NOT NULL,
        vec BYTEA NOT NULL,
        PRIMARY KEY (seq, channel)
    );
    CREATE INDEX catalog_vectors_channel ON catalog_vectors(channel, seq);
    CREATE TABLE catalog_deleted (seq BIGINT PRIMARY KEY, gen BIGINT NOT NULL);
    CREATE INDEX catalog_deleted_gen ON catalog_deleted(gen)
    """,
    # v2: each stored vector says its bytes per value (4: float32, 2: float16).
    1: "ALTER TABLE catalog_vectors ADD COLUMN width SMALLINT NOT NULL DEFAULT 4",
}

_SELECT = (
    "SELECT c.seq, c.id, c.prompt, c.creator, c.created_at, c.caption, c.tags,"
    " ARRAY(SELECT handle FROM catalog_cameos m WHERE m.seq = c.seq),"
    " c.remix_of, c.duration_s, c.width, c.height, c.has_audio, c.video_path, c.provider,"
    " ARRAY(SELECT channel FROM catalog_vectors v WHERE v.seq = c.seq)"
    " FROM catalog_clips c"
)
_UPSERT = (
    "INSERT INTO catalog_clips (id, prompt, caption, creator, tags, duration_s, width, height,"
    " has_audio, created_at, remix_of, video_path, provider, gen)"
    " VALUES (%s, %s, %s, %s, %s::text[], %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET prompt = excluded.prompt, caption = excluded.caption,"
    " creator = excluded.creator, tags = excluded.tags, duration_s = excluded.duration_s,"
    " width = excluded.width, height = excluded.height, has_audio = excluded.has_audio,"
    " created_at = excluded.created_at, remix_of = excluded.remix_of,"
    " video_path = excluded.video_path, provider = excluded.provider, gen = excluded.gen"
    " RETURNING seq"
)
_VECTORS = (
    "SELECT v.seq, v.model, v.vec, v.width"
    " FROM catalog_vectors v JOIN catalog_clips c ON c.seq = v.seq"
    " WHERE v.channel = %s"
)


def _vector_format(cur: psycopg.Cursor) -> str:
    row = cur.execute("SELECT value FROM catalog_meta WHERE key = 'vector_format'").fetchone()
    return "float32" if row is None else str(row[0])


def _clip(row: tuple) -> Clip:
    return Clip(
        seq=int(row[0]), id=row[1], prompt=row[2], creator=row[3], created_at=row[4],
        caption=row[5], tags=tuple(row[6]), cameos=tuple(sorted(row[7])),
        remix_of=row[8], duration_s=row[9], width=row[10], height=row[11],
        has_audio=bool(row[12]), video_path=row[13], provider=row[14],
        channels=tuple(sorted(row[15])),
    )  # fmt: skip


def _hold_generation(cur: psycopg.Cursor) -> None:
    """Lock the generation row (as a write would) without moving it.

    Every writer takes this row before anything else, so writers never deadlock.
    """
    cur.execute("SELECT value FROM catalog_meta WHERE key = 'generation' FOR UPDATE")


def _bump(cur: psycopg.Cursor) -> int:
    """The next generation; its row stays locked until the transaction ends."""
    row = cur.execute(
        "UPDATE catalog_meta SET value = (value::bigint + 1)::text"
        " WHERE key = 'generation' RETURNING value"
    ).fetchone()
    assert row is not None
    return int(row[0])


class PostgresCatalog:
    """Clips and creators in PostgreSQL; one connection behind a lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = PostgresDatabase(url, KIND, MIGRATIONS)
        self._add_mentioned_cameos()

    def _add_mentioned_cameos(self) -> None:
        """Once per catalog and mention rules: make every @handle a prompt names a cameo
        of its clip (see the SQLite catalog: a likeness named in a prompt is under consent).
        """
        with self.db.tx() as cur:
            _hold_generation(cur)
            row = cur.execute(
                "SELECT value FROM catalog_meta WHERE key = 'mentions_are_cameos'"
            ).fetchone()
            if row is not None and row[0] == MENTION_RULES:
                return
            rows = cur.execute("SELECT seq, prompt FROM catalog_clips").fetchall()
            pairs = [(seq, h) for seq, prompt in rows for h in mentioned_cameos(prompt)]
            if pairs:
                cur.execute(
                    "INSERT INTO catalog_cameos SELECT * FROM unnest(%s::bigint[], %s::text[])"
                    " ON CONFLICT DO NOTHING",
                    ([p[0] for p in pairs], [p[1] for p in pairs]),
                )
                if cur.rowcount > 0:
                    gen = _bump(cur)
                    # as in the SQLite catalog: these clips count as changed
                    cur.execute("UPDATE catalog_clips SET gen = %s WHERE seq = ANY(%s)",
                                (gen, sorted({p[0] for p in pairs})))  # fmt: skip
                    log.warning("%s: prompts' @mentions added as cameos", redact(self.url))
            cur.execute(
                "INSERT INTO catalog_meta VALUES ('mentions_are_cameos', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (MENTION_RULES,),
            )

    def read_ahead(self) -> None:
        """Nothing to read ahead: the database server keeps its own cache."""
        return None

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- generation -------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Counter bumped by every committed write."""
        rows = self.db.query("SELECT value FROM catalog_meta WHERE key = 'generation'")
        return int(rows[0][0])

    # -- vector format ----------------------------------------------------------------

    @property
    def vector_format(self) -> str:
        """The form new vectors are stored in: "float32" (the default) or "float16"."""
        with self.db.tx() as cur:
            return _vector_format(cur)

    def set_vector_format(self, vector_format: str) -> None:
        """Store vectors written from now on in this form (see `Catalog.set_vector_format`)."""
        vector_width(vector_format)  # a clear error, before anything is written
        with self.db.tx() as cur:
            cur.execute(
                "INSERT INTO catalog_meta VALUES ('vector_format', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (vector_format,),
            )

    # -- writes -----------------------------------------------------------------------

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
        if not records:
            with self.db.tx() as cur:
                _bump(cur)
            return []
        creators: dict[str, float] = {}
        for rec in records:  # the first clip of a new creator dates them
            creators.setdefault(rec.creator, rec.created_at)
        with self.db.tx() as cur:
            gen = _bump(cur)
            cur.execute(
                "INSERT INTO catalog_creators SELECT * FROM unnest(%s::text[], %s::float8[])"
                " ON CONFLICT DO NOTHING",
                (list(creators), list(creators.values())),
            )
            cur.executemany(
                _UPSERT,
                [(rec.id, rec.prompt, rec.caption, rec.creator, list(rec.tags), rec.duration_s,
                  rec.width, rec.height, rec.has_audio, rec.created_at, rec.remix_of,
                  rec.video_path, rec.provider, gen) for rec in records],
                returning=True,
            )  # fmt: skip
            seqs: list[int] = []
            while True:  # one result per record, in order (ids repeated in a batch included)
                seqs.append(int(cur.fetchone()[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
            # What a clip's last record in the batch names replaces its vectors.
            last = {seq: row for row, seq in enumerate(seqs)}
            cur.execute("DELETE FROM catalog_vectors WHERE seq = ANY(%s::bigint[])", (list(last),))
            cur.execute("DELETE FROM catalog_deleted WHERE seq = ANY(%s::bigint[])", (list(last),))
            cameos = [(seq, h) for seq, rec in zip(seqs, records, strict=True) for h in rec.cameos]
            if cameos:
                cur.execute(
                    "INSERT INTO catalog_cameos SELECT * FROM unnest(%s::bigint[], %s::text[])"
                    " ON CONFLICT DO NOTHING",
                    ([c[0] for c in cameos], [c[1] for c in cameos]),
                )
            width = vector_width(_vector_format(cur))
            stored: list[tuple[int, str, str, bytes, int]] = []
            for channel, (model, matrix) in vectors.items():
                rows = np.asarray(matrix, dtype=np.float32)
                for seq, row in last.items():
                    if (data := vector_bytes(rows[row], width)) is not None:
                        stored.append((seq, channel, model, data, width))
            if stored:
                cur.execute(
                    "INSERT INTO catalog_vectors (seq, channel, model, vec, width) SELECT * FROM"
                    " unnest(%s::bigint[], %s::text[], %s::text[], %s::bytea[], %s::smallint[])",
                    tuple(list(column) for column in zip(*stored, strict=True)),
                )
        return seqs

    def delete_clip(self, clip_id: str) -> int | None:
        """Remove a clip; return its seq, or None if there was no such clip."""
        with self.db.tx() as cur:
            _hold_generation(cur)
            found = cur.execute(
                "SELECT seq FROM catalog_clips WHERE id = %s", (clip_id,)
            ).fetchone()
            if found is None:
                return None
            seq = int(found[0])
            gen = _bump(cur)
            cur.execute("DELETE FROM catalog_clips WHERE seq = %s", (seq,))
            cur.execute(
                "INSERT INTO catalog_deleted VALUES (%s, %s)"
                " ON CONFLICT (seq) DO UPDATE SET gen = excluded.gen",
                (seq, gen),
            )
            return seq

    # -- reads ------------------------------------------------------------------------

    def count(self) -> int:
        """Number of clips."""
        return int(self.db.query("SELECT COUNT(*) FROM catalog_clips")[0][0])

    def get(self, clip_id: str) -> Clip | None:
        """The clip with this id, or None."""
        rows = self.db.query(f"{_SELECT} WHERE c.id = %s", (clip_id,))
        return _clip(rows[0]) if rows else None

    def get_creators(self, clip_ids: Sequence[str]) -> dict[str, str]:
        """Creator of each of these clip ids that exists."""
        if not clip_ids:
            return {}
        rows = self.db.query(
            "SELECT id, creator FROM catalog_clips WHERE id = ANY(%s::text[])", (list(clip_ids),)
        )
        return dict(rows)

    def get_many(self, seqs: Sequence[int]) -> dict[int, Clip]:
        """Clips by seq; missing seqs are absent from the result."""
        if not len(seqs):
            return {}
        wanted = [int(s) for s in seqs]
        rows = self.db.query(f"{_SELECT} WHERE c.seq = ANY(%s::bigint[])", (wanted,))
        return {int(r[0]): _clip(r) for r in rows}

    def clips_with_cameo(self, handle: str) -> list[Clip]:
        """Every clip whose cameos include this handle, newest first."""
        rows = self.db.query(
            f"{_SELECT} WHERE c.seq IN (SELECT seq FROM catalog_cameos WHERE handle = %s)"
            " ORDER BY c.created_at DESC, c.seq DESC",
            (handle,),
        )
        return [_clip(r) for r in rows]

    def clips_by_creator(self, handle: str, limit: int) -> list[Clip]:
        """The creator's clips, newest first."""
        rows = self.db.query(
            f"{_SELECT} WHERE c.creator = %s ORDER BY c.created_at DESC, c.seq DESC LIMIT %s",
            (handle, limit),
        )
        return [_clip(r) for r in rows]

    def remixes_of(self, clip_id: str, limit: int) -> list[Clip]:
        """Clips that remix this one, newest first."""
        rows = self.db.query(
            f"{_SELECT} WHERE c.remix_of = %s ORDER BY c.created_at DESC, c.seq DESC LIMIT %s",
            (clip_id, limit),
        )
        return [_clip(r) for r in rows]

    def ids(self) -> list[str]:
        """All clip ids, in insertion order."""
        return [r[0] for r in self.db.query("SELECT id FROM catalog_clips ORDER BY seq")]

    def creators(self) -> list[str]:
        """All creator handles."""
        rows = self.db.query("SELECT handle FROM catalog_creators ORDER BY handle")
        return [r[0] for r in rows]

    def handles(self) -> set[str]:
        """Every handle the catalog names: creators and cameos."""
        rows = self.db.query(
            "SELECT handle FROM catalog_creators UNION SELECT handle FROM catalog_cameos"
        )
        return {r[0] for r in rows}

    def video_paths(self, clip_ids: Sequence[str]) -> dict[str, str]:
        """Stored video path of each of these clip ids that has one."""
        if not clip_ids:
            return {}
        rows = self.db.query(
            "SELECT id, video_path FROM catalog_clips WHERE id = ANY(%s::text[])"
            " AND video_path IS NOT NULL",
            (list(clip_ids),),
        )
        return dict(rows)

    def channel_vectors(self, channel: str) -> ChannelVectors:
        """Every stored vector of a channel (for building or checking an index)."""
        return vectors_of_rows(channel, self.db.query(f"{_VECTORS} ORDER BY v.seq", (channel,)))

    def channel_blocks(
        self, channel: str, rows: int | None = None, after: int | None = None
    ) -> Iterator[ChannelVectors]:
        """A channel's stored vectors in seq order (of seq above `after`, when given), at
        most `rows` at a time, each block read in a transaction of its own (see
        `Catalog.channel_blocks`)."""

        def read(after: int, limit: int) -> list[tuple]:
            return self.db.query(
                f"{_VECTORS} AND v.seq > %s ORDER BY v.seq LIMIT %s", (channel, after, limit)
            )

        return blocks_after(channel, read, rows, after)

    def channel_changes(self, channel: str, after_gen: int) -> ChannelChanges:
        """Vectors upserted and clips deleted after generation `after_gen`."""
        with self.db.tx() as cur:
            # One snapshot for both halves: a write committing between them is in neither
            # or in both.
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            rows = cur.execute(
                f"{_VECTORS} AND c.gen > %s ORDER BY v.seq", (channel, after_gen)
            ).fetchall()
            gone = cur.execute(
                "SELECT seq FROM catalog_deleted WHERE gen > %s", (after_gen,)
            ).fetchall()
            stale = cur.execute(
                "SELECT c.seq FROM catalog_clips c WHERE c.gen > %s AND NOT EXISTS"
                " (SELECT 1 FROM catalog_vectors v WHERE v.seq = c.seq AND v.channel = %s)",
                (after_gen, channel),
            ).fetchall()
        removed = np.asarray([r[0] for r in gone + stale], dtype=np.int64)
        return ChannelChanges(vectors_of_rows(channel, rows), removed)

    def channel_model(self, channel: str) -> str | None:
        """The model whose vectors a channel stores, or None if it has none."""
        rows = self.db.query(
            "SELECT model FROM catalog_vectors WHERE channel = %s LIMIT 1", (channel,)
        )
        return str(rows[0][0]) if rows else None
