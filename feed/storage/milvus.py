"""milvus://: one Milvus collection per channel, kept consistent with the catalog.

One client (pymilvus `MilvusClient`) serves both places Milvus can be:

- `milvus:///abs/path/vectors.db`, `milvus://rel/path/vectors.db`: a milvus-lite file,
  served inside this process (one process at a time; a path must end in `.db`);
- `milvus://host:19530`, `milvus://user:password@host:19530/db`: a Milvus server (the
  port is required; database `db`, or the default one; user and password as its token);
- `milvus+https://host:443/db`: a Milvus server over TLS.

Options in the query string: `prefix=NAME` names the collections (`NAME_vectors_<channel>`
and `NAME_indexes`; default `steerfeed`), `index=FLAT|HNSW` picks the index (FLAT, exact
inner product, by default; HNSW with the FAISS index's M, efConstruction and efSearch).

Each channel is a collection of (seq int64 primary key, vector float32 of the channel's
dim), inner-product metric, Strong consistency. `NAME_indexes` keeps a row per channel: its
collection, model, dim, index kind and the catalog generation the collection reflects.
As with FAISS files, the catalog commits first; an index found behind it catches up from
the change log, one found ahead of it (or of another model, dim or index kind) is rebuilt
from the catalog's vectors. Writes reach Milvus at once (idempotent upserts and deletes
keyed by seq) and `save` records the generation they reflect, so a crash leaves the
collection at or past its recorded generation, never behind it. A build forgets the
channel's row first: a build cut short is rebuilt on the next open, never served.

Vectors and search live in Milvus; each process keeps only the set of seqs its index holds,
so `len` and `in` answer without a round trip. Processes serving one catalog may share the
collections (each catches up by writing the same upserts and deletes), but a rebuild
(`steerfeed reindex`, a new model) drops and refills a channel's collection under the
others: give each its own `prefix` where that matters.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from embeddings.index import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_PER_K,
    HNSW_EF_SEARCH,
    HNSW_M,
    SearchHits,
    as_ids,
    as_matrix,
    upsert_rows,
)
from feed.storage.interfaces import Catalog
from feed.storage.interfaces import VectorIndex as SearchIndex
from feed.storage.sqlite import DatabaseError
from feed.storage.stores import StoreURLError
from feed.storage.urls import redact
from feed.storage.vectors import caught_up_on_open

log = logging.getLogger(__name__)

IndexKind = Literal["FLAT", "HNSW"]
SCHEMES = {"milvus": "http", "milvus+https": "https"}
DEFAULT_PREFIX = "steerfeed"
METADATA_VERSION = 1
PK = "seq"
VECTOR = "vector"
BATCH_BYTES = 8 * 1024 * 1024  # vectors per insert or upsert call, well under gRPC's limits
ID_BATCH = 10_000  # ids per get or delete call (each becomes a `seq in [...]` expression)
MAX_TOPK = 16_384  # the most neighbours Milvus returns per query (and rows per query call)
MAX_EF = 32_768  # the deepest HNSW search Milvus runs
# Rows written since the last flush before `save` flushes: milvus-lite scans unflushed rows
# in Python (20,000 of dim 384 took 2 s a search, 0.07 s once flushed), and a server
# rate-limits flushes, so neither wants one per upload.
FLUSH_ROWS = 1000
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1,
                     "grpc.keepalive_permit_without_calls": False}  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class MilvusTarget:
    """Where a `milvus://` URL points: a milvus-lite file or a server, and our options."""

    uri: str  # the file's absolute path (milvus-lite), or http(s)://host:port
    token: str
    db_name: str
    prefix: str
    index: IndexKind
    lite_file: Path | None


def parse_url(url: str) -> MilvusTarget:
    """Read a `milvus://` or `milvus+https://` URL; StoreURLError names what is wrong."""
    shown = redact(url)
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise StoreURLError(f"{shown!r} is not a milvus:// or milvus+https:// URL")
    if parts.fragment:
        raise StoreURLError(f"{shown!r}: a milvus URL takes no #fragment")
    try:
        query = parse_qs(parts.query, strict_parsing=True) if parts.query else {}
    except ValueError as exc:
        raise StoreURLError(f"{shown!r}: unreadable query ({exc})") from exc
    unknown = sorted(set(query) - {"prefix", "index"})
    if unknown:
        raise StoreURLError(f"{shown!r}: unknown option {unknown[0]!r}; known: index, prefix")
    prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
    if not _NAME.fullmatch(prefix):
        raise StoreURLError(
            f"{shown!r}: prefix {prefix!r} must be a letter or _ then letters, digits or _"
            " (64 at most)"
        )
    index = query.get("index", ["FLAT"])[-1].upper()
    if index not in ("FLAT", "HNSW"):
        raise StoreURLError(f"{shown!r}: index must be FLAT or HNSW, not {index!r}")
    kind: IndexKind = "HNSW" if index == "HNSW" else "FLAT"
    path = parts.netloc + parts.path
    if path.endswith(".db"):
        if parts.scheme != "milvus" or "@" in parts.netloc or ":" in parts.netloc:
            raise StoreURLError(
                f"{shown!r}: a milvus-lite file is milvus:///abs/path.db or milvus://rel/path.db"
            )
        lite = Path(path).absolute()
        return MilvusTarget(str(lite), "", "", prefix, kind, lite)
    try:
        port = parts.port
    except ValueError as exc:
        raise StoreURLError(f"{shown!r}: bad port ({exc})") from exc
    if not parts.hostname or port is None:
        raise StoreURLError(
            f"{shown!r} names neither a milvus-lite file (a path ending in .db) nor a"
            " server (host:port, e.g. milvus://localhost:19530)"
        )
    db_name = parts.path.strip("/")
    if db_name and not _NAME.fullmatch(db_name):
        raise StoreURLError(f"{shown!r}: {db_name!r} is not a Milvus database name")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    token = ""
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    uri = f"{SCHEMES[parts.scheme]}://{host}:{port}"
    return MilvusTarget(uri, token, db_name, prefix, kind, None)


def collection_name(prefix: str, channel: str) -> str:
    """The collection of a channel's vectors: Milvus names allow letters, digits and _, so
    a channel named otherwise gets a hash of its name to keep it apart from look-alikes."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", channel)
    if safe != channel or not channel:
        safe = f"{safe}_{hashlib.sha1(channel.encode()).hexdigest()[:8]}"
    return f"{prefix}_vectors_{safe}"[:255]


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MilvusIndex:
    """A channel's vectors in one Milvus collection, keyed by catalog seq."""

    def __init__(
        self,
        client: MilvusClient,
        collection: str,
        channel: str,
        model: str,
        dim: int,
        kind: IndexKind,
        generation: int,
        ids: set[int],
    ) -> None:
        self.channel = channel
        self.model = model
        self.dim = dim
        self.kind = kind
        self.generation = generation
        self.collection = collection
        self._client = client
        self._ids = ids  # the seqs this index holds, so that len and `in` stay local
        self._unflushed = 0
        self.batch_rows = max(1, BATCH_BYTES // (4 * dim))

    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids, replacing any vector already stored for an id."""
        self._write(ids, vectors, self._client.upsert)

    def insert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids none of which the collection holds (cheaper than upsert on
        a server, where an upsert is a delete and an insert)."""
        self._write(ids, vectors, self._client.insert)

    def _write(self, ids: np.ndarray, vectors: np.ndarray, call: Any) -> None:
        ids, x = upsert_rows(ids, vectors, self.dim)
        for start in range(0, len(ids), self.batch_rows):
            stop = start + self.batch_rows
            seqs = ids[start:stop].tolist()
            rows = [{PK: s, VECTOR: v} for s, v in zip(seqs, x[start:stop], strict=True)]
            call(self.collection, rows)
        self._ids.update(ids.tolist())
        self._unflushed += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids (unknown ids are ignored); return how many were removed."""
        wanted = list(dict.fromkeys(as_ids(ids).tolist()))
        present = sum(seq in self._ids for seq in wanted)
        # Every id is deleted, not only those known here: another process sharing the
        # collection may have written one this process has not caught up with yet.
        for batch in _chunks(wanted, ID_BATCH):
            self._client.delete(self.collection, ids=batch)
        self._ids.difference_update(wanted)
        self._unflushed += present
        return present

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, clip_id: int) -> bool:
        return int(clip_id) in self._ids

    def vectors_for(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of the given ids, float32 (len(ids), d); KeyError on an unknown id."""
        wanted = as_ids(ids).tolist()
        for seq in wanted:
            if seq not in self._ids:
                raise KeyError(seq)
        found: dict[int, Any] = {}
        for batch in _chunks(list(dict.fromkeys(wanted)), ID_BATCH):
            for row in self._client.get(self.collection, ids=batch, output_fields=[VECTOR]):
                found[int(row[PK])] = row[VECTOR]
        out = np.empty((len(wanted), self.dim), dtype=np.float32)
        for row, seq in enumerate(wanted):
            if seq not in found:  # removed by another process sharing the collection
                raise KeyError(seq)
            out[row] = found[seq]
        return out

    def search(
        self, queries: np.ndarray, k: int, *, explore: int = HNSW_EF_PER_K
    ) -> list[SearchHits]:
        """k nearest ids per query row by inner product, best first (fewer when the index
        is small; at most 16,384, Milvus's limit). An HNSW search explores `explore` times
        as many candidates as it returns (ef, at most Milvus's 32,768)."""
        q = as_matrix(queries, self.dim)
        if k <= 0 or not self._ids or not len(q):
            empty = SearchHits(np.empty(0, np.int64), np.empty(0, np.float32))
            return [empty for _ in range(len(q))]
        limit = min(k, MAX_TOPK)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.kind == "HNSW":
            params["params"] = {"ef": min(max(HNSW_EF_SEARCH, explore * limit), MAX_EF)}
        found = self._client.search(
            self.collection, data=q, limit=limit, anns_field=VECTOR,
            output_fields=[PK], search_params=params,
        )  # fmt: skip
        return [
            SearchHits(np.array(hits.ids, dtype=np.int64), np.array(hits.distances, np.float32))
            for hits in found
        ]

    def flush_if_due(self, force: bool = False) -> None:
        """Seal what was written since the last flush, once enough has piled up."""
        if not self._unflushed or (not force and self._unflushed < FLUSH_ROWS):
            return
        try:
            self._client.flush(self.collection)
        except MilvusException as exc:  # a server refuses flushes above its rate; it seals later
            log.info("%s index not flushed (%s); the next save tries again", self.channel, exc)
            return
        self._unflushed = 0


# milvus-lite serves each file from a server inside this process; the last one to close
# the file stops it, which lets another process open the file.
_lite_lock = threading.Lock()
_lite_users: dict[Path, int] = {}


class MilvusIndexes:
    """Channel indexes as collections of one Milvus, named by a URL (see the module doc)."""

    def __init__(self, url: str) -> None:
        self.target = parse_url(url)
        self.url = redact(url)
        self._metadata = f"{self.target.prefix}_indexes"
        lite = self.target.lite_file
        if lite is not None:
            lite.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client = MilvusClient(
                uri=self.target.uri,
                token=self.target.token,
                db_name=self.target.db_name,
                # milvus-lite runs in this process: no keepalive pings (its server answers
                # pings on an idle connection by hanging up).
                **({"grpc_options": LITE_GRPC_OPTIONS} if lite is not None else {}),
            )
        except MilvusException as exc:
            busy = " (is another process using the file?)" if lite is not None else ""
            raise DatabaseError(f"cannot open Milvus at {self.url}{busy}: {exc}") from exc
        if lite is not None:
            with _lite_lock:
                _lite_users[lite] = _lite_users.get(lite, 0) + 1
        self._closed = False
        self._ensure_metadata()

    # -- the protocol ---------------------------------------------------------

    def open(self, channel: str, model: str, dim: int, catalog: Catalog) -> MilvusIndex:
        """The channel's collection, caught up with the catalog (or rebuilt from it)."""
        found = self._read(channel)
        problem = self._mismatch(channel, found, model, dim)
        if problem is not None:
            if catalog.count():
                log.warning("%s; rebuilding the %s index from the catalog", problem, channel)
            return self.build(channel, model, dim, catalog)
        assert found is not None
        if found["generation"] > catalog.generation:
            log.warning("%s index is ahead of the catalog; rebuilding", channel)
            return self.build(channel, model, dim, catalog)
        collection = found["collection"]
        self._client.load_collection(collection)  # milvus-lite reopens them released
        index = MilvusIndex(self._client, collection, channel, model, dim, self.target.index,
                            int(found["generation"]), self._read_ids(collection))  # fmt: skip
        caught_up_on_open(index, catalog, self.save)
        return index

    def build(self, channel: str, model: str, dim: int, catalog: Catalog) -> MilvusIndex:
        """A new collection of every vector the catalog holds for the channel, saved."""
        collection = collection_name(self.target.prefix, channel)
        # Forget the channel first: a build cut short is then rebuilt, never served.
        self._client.delete(self._metadata, ids=[channel])
        if self._client.has_collection(collection):
            self._client.drop_collection(collection)
        self._create(collection, dim)
        # The generation before the vectors: a write in between is applied again by the
        # next catch-up (to the same effect), never missed.
        generation = catalog.generation
        index = MilvusIndex(self._client, collection, channel, model, dim, self.target.index,
                            generation, set())  # fmt: skip
        added = 0
        for block in catalog.channel_blocks(channel):  # one block held at a time
            for start in range(0, len(block.seqs), index.batch_rows):
                stop = min(start + index.batch_rows, len(block.seqs))
                index.insert(block.seqs[start:stop], block.vectors[start:stop])
            added += len(block.seqs)
            log.info("%s index: %d vectors in %s", channel, added, collection)
        index.flush_if_due(force=True)
        self.save(index)
        return index

    def save(self, index: SearchIndex) -> None:
        """Record the generation the index's collection reflects (its writes are in
        Milvus already), flushing them when enough have piled up."""
        if not isinstance(index, MilvusIndex):
            raise TypeError(f"not a Milvus index: {type(index).__name__}")
        index.flush_if_due()
        self._client.upsert(self._metadata, [{
            "channel": index.channel, "collection": index.collection, "model": index.model,
            "dim": index.dim, "kind": index.kind, "generation": index.generation,
            "version": METADATA_VERSION, "marker": [0.0, 0.0],
        }])  # fmt: skip

    def close(self) -> None:
        """Close the connection (and stop the milvus-lite server when no one else uses it)."""
        if self._closed:
            return
        self._closed = True
        self._client.close()
        lite = self.target.lite_file
        if lite is None:
            return
        with _lite_lock:
            _lite_users[lite] -= 1
            if _lite_users[lite]:
                return
            del _lite_users[lite]
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(lite))

    # -- collections ----------------------------------------------------------

    def _ensure_metadata(self) -> None:
        if self._client.has_collection(self._metadata):
            self._client.load_collection(self._metadata)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("channel", DataType.VARCHAR, is_primary=True, max_length=256)
        schema.add_field("collection", DataType.VARCHAR, max_length=256)
        schema.add_field("model", DataType.VARCHAR, max_length=1024)
        schema.add_field("dim", DataType.INT64)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        schema.add_field("generation", DataType.INT64)
        schema.add_field("version", DataType.INT64)
        # Milvus wants a vector field in every collection; this one is always zero.
        schema.add_field("marker", DataType.FLOAT_VECTOR, dim=2)
        params = self._client.prepare_index_params()
        params.add_index(field_name="marker", index_type="FLAT", metric_type="L2")
        try:
            self._create_loaded(self._metadata, schema, params)
        except MilvusException:
            if not self._client.has_collection(self._metadata):  # else another process won
                raise
            self._client.load_collection(self._metadata)

    def _create(self, collection: str, dim: int) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(PK, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=dim)
        params = self._client.prepare_index_params()
        hnsw = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
        params.add_index(field_name=VECTOR, index_type=self.target.index, metric_type="IP",
                         params=hnsw if self.target.index == "HNSW" else {})  # fmt: skip
        self._create_loaded(collection, schema, params)

    def _create_loaded(self, collection: str, schema: Any, params: Any) -> None:
        """Create an empty collection with its index, loaded for search. The index is
        not waited for: on an empty collection there is nothing to build (and waiting
        asks for a timestamp milvus-lite cannot give)."""
        self._client.create_collection(collection, schema=schema, consistency_level="Strong")
        self._client.create_index(collection, params, sync=False)
        self._client.load_collection(collection)

    def _read(self, channel: str) -> dict[str, Any] | None:
        fields = ["collection", "model", "dim", "kind", "generation", "version"]
        rows = self._client.get(self._metadata, ids=[channel], output_fields=fields)
        return dict(rows[0]) if rows else None

    def _mismatch(
        self, channel: str, found: dict[str, Any] | None, model: str, dim: int
    ) -> str | None:
        """Why the stored index cannot be caught up (None when it can)."""
        if found is None:
            return f"no {channel} index in {self.url}"
        expected = {"version": METADATA_VERSION, "model": model, "dim": dim,
                    "kind": self.target.index}  # fmt: skip
        for field, want in expected.items():
            if found[field] != want:
                return f"{channel} index {field} is {found[field]!r}, expected {want!r}"
        if not self._client.has_collection(found["collection"]):
            return f"{channel} index collection {found['collection']} is missing"
        return None

    def _read_ids(self, collection: str) -> set[int]:
        """Every seq in the collection, a page of primary keys at a time."""
        ids: set[int] = set()
        last = -(2**63)
        while True:
            # Milvus answers a query with a limit by ascending primary key.
            rows = self._client.query(collection, filter=f"{PK} > {last}", output_fields=[PK],
                                      limit=MAX_TOPK)  # fmt: skip
            page = [int(row[PK]) for row in rows]
            ids.update(page)
            if len(page) < MAX_TOPK:
                return ids
            last = max(page)
