"""The clip store: catalog + encoders + one vector index per channel.

It owns ingest (media → vectors → catalog → index), search, deletion and
reindexing, and keeps each index consistent with the catalog across crashes:
the catalog commits first, and an index that is behind is caught up from the
catalog's change log when the engine opens.

The engine is safe to share between threads: `lock` is a readers-writer lock.
Searches and snapshots read under it together; ingest, deletion and reindexing
change the catalog and the indexes under it alone, and only for the commit
itself: decoding and embedding happen before the lock is taken.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from embeddings.encoders import TextEncoder, VisualEncoder, multilingual, pool_frames
from embeddings.frames import MediaError, MediaLimits, probe_video, sample_frames
from embeddings.index import HNSW_EF_PER_K
from feed.core.consent import inherited_cameos
from feed.core.intent import has_japanese, name_emoji
from feed.core.manifest import LineError, ManifestEntry
from feed.services.rwlock import ReadWriteLock
from feed.storage.catalog import CatalogError, Clip, ClipRecord, as_stored, embedding_text
from feed.storage.dictionary import shared_dictionary, texts_read_by
from feed.storage.interfaces import Catalog, VectorIndex, VectorIndexes
from feed.storage.stores import StoreURLs, open_store
from feed.storage.vectors import catch_up

log = logging.getLogger(__name__)

TEXT = "text"
VISUAL = "visual"
MULTI = "multi"
# A clip's stored text vector and its text encoded again agree to this cosine when the
# text is read as this engine reads it (float16 storage keeps them above 0.999); a
# Japanese text that MiniLM once read as written sits far below it.
SAME_READING_COSINE = 0.95
INGEST_BATCH = 256
# An ingest saves the indexes once this many clips (or this share of the catalog) changed
# since they were last saved. The catalog is the record: an index opened from an older
# save catches up from its change log, so a one-clip upload writes no index file.
SAVE_AFTER_ROWS = 1000
SAVE_AFTER_SHARE = 0.05
NOT_YOURS = "clip id belongs to another creator"
# Index searches kept for asking again (about 20 KB each at k = 1,200). A change this store
# makes to an index clears them, unless it only added new clips (an upload): a search kept
# from before then scores the clips added since and keeps the best k of both, while the
# clips added since it was kept number at most CARRIED_ROWS.
NEAREST_CACHE = 2048
CARRIED_ROWS = 4096

Progress = Callable[[int], None]


class HandleRegistry(Protocol):
    """Where accounts live: ingest reserves an account for every handle it stores."""

    def reserve_handles(self, handles: Iterable[str], now: float) -> int:
        """Make a reserved account for each handle nobody holds yet."""
        ...


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: ids added and updated, and lines it skipped."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    errors: tuple[LineError, ...]


@dataclass(frozen=True)
class SearchResult:
    """One search hit: the clip, its fused score and the per-channel cosines."""

    clip: Clip
    score: float
    channel_scores: dict[str, float]


@dataclass(frozen=True)
class PrecomputedVectors:
    """Vectors embedded elsewhere (`steerfeed embed`), used by ingest instead of encoding.

    `model_ids` names each channel's model; `vectors[channel][clip_id]` is a float32
    (dim,) L2-normalised row. A clip or channel absent here is encoded at ingest.
    """

    model_ids: dict[str, str]
    vectors: dict[str, dict[str, np.ndarray]]

    def for_clip(self, clip_id: str) -> dict[str, np.ndarray]:
        """The given vectors of one clip, by channel."""
        return {c: rows[clip_id] for c, rows in self.vectors.items() if clip_id in rows}


@dataclass(frozen=True)
class _Found:
    """A search kept for asking again: the seqs it found, best first, with their scores,
    as of the index writes counted by `writes`."""

    writes: int
    seqs: np.ndarray
    scores: np.ndarray


@dataclass
class _Write:
    """What one write to the indexes did: `added` holds each channel's new clips (seqs,
    vectors) when it only added clips the indexes did not hold, else None."""

    added: dict[str, tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class _Prepared:
    record: ClipRecord
    visual: np.ndarray | None
    staged: Path | None = None  # the video's copy in the media folder, moved into place on commit
    given: dict[str, np.ndarray] = field(default_factory=dict)  # text channels embedded elsewhere


def fuse_channel_scores(scores: np.ndarray) -> np.ndarray:
    """Fuse per-channel cosines (n, c), NaN where a clip lacks a channel, into (n,).

    With one channel the cosine is the score. With several, each channel is
    z-scored over the candidates (CLIP text-image cosines live on a much
    narrower scale than sentence-model cosines) and a clip's score is the mean
    over the channels it has.
    """
    if scores.ndim != 2:
        raise ValueError(f"expected (n, channels), got {scores.shape}")
    present = ~np.isnan(scores)
    if scores.shape[1] == 1:
        return np.where(present[:, 0], scores[:, 0], -np.inf).astype(np.float32)
    mean = np.nanmean(np.where(present, scores, np.nan), axis=0)
    std = np.nanstd(np.where(present, scores, np.nan), axis=0)
    z = (scores - mean) / np.where(std > 1e-9, std, 1.0)
    z = np.where(present, z, 0.0)
    counts = present.sum(axis=1)
    return np.where(counts > 0, z.sum(axis=1) / np.maximum(counts, 1), -np.inf).astype(np.float32)


class ClipStore:
    """Clips in, vectors out, neighbours back; the catalog is the source of truth."""

    def __init__(
        self,
        home: Path,
        text_encoder: TextEncoder,
        visual_encoder: VisualEncoder | None,
        *,
        multi_encoder: TextEncoder | None = None,
        frames_per_clip: int = 8,
        max_video_bytes: int = 200 * 1024 * 1024,
        media_limits: MediaLimits | None = None,
        accounts: HandleRegistry | None = None,
        catalog: Catalog | None = None,
        indexes: VectorIndexes | None = None,
    ) -> None:
        """Clips of the catalog and indexes given, or of the embedded ones under `home`
        (media always lives under `home/media`)."""
        self.home = home
        self.media_limits = media_limits or MediaLimits()
        # Decoding runs beside the pages: at most two at once, so a burst of uploads
        # cannot take every core from the requests.
        self._decode_slots = threading.BoundedSemaphore(2)
        # Set by whoever owns the accounts (the feed service); until then ingest stores
        # handles unreserved, and the service reserves them when it opens.
        self.accounts = accounts
        self.media_dir = home / "media"
        self.frames_per_clip = frames_per_clip
        self.max_video_bytes = max_video_bytes
        urls = StoreURLs.embedded(home)
        self.catalog: Catalog = catalog or open_store("catalog", urls.catalog)
        self.index_store: VectorIndexes = indexes or open_store("vectors", urls.vectors)
        self.lock = ReadWriteLock()
        self._save_lock = threading.Lock()
        self._nearest: OrderedDict[tuple, _Found] = OrderedDict()
        self._nearest_lock = threading.Lock()
        self._writes = 0  # writes to the indexes so far
        # Each channel's clips added by the writes since `_carried_from` (write, seqs,
        # vectors): a search kept at a write from there on can be carried to now.
        self._added: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self._carried_from = 0
        self._unsaved = 0  # clips stored since the indexes were last saved
        self.encoders: dict[str, TextEncoder] = {TEXT: text_encoder}
        if multi_encoder is not None:
            self.encoders[MULTI] = multi_encoder
        self.visual_encoder = visual_encoder
        if visual_encoder is not None:
            self.encoders[VISUAL] = visual_encoder
        self.indexes: dict[str, VectorIndex] = {}
        for channel, encoder in self.encoders.items():
            stored = self.catalog.channel_model(channel)
            if stored is not None and stored != encoder.model_id:
                self.catalog.close()
                raise CatalogError(
                    f"{channel} vectors in {home} come from {stored!r} but {encoder.model_id!r} is"
                    " configured; run `steerfeed reindex --reembed` to re-embed"
                )
            self.indexes[channel] = self._open_index(channel, encoder)
        count = self.catalog.count()
        if multi_encoder is not None:
            missing = count - len(self.indexes[MULTI])
            if missing > 0:
                log.warning(
                    "%d clips have no multilingual vectors yet, so Japanese phrases cannot"
                    " reach them; run `steerfeed reindex --reembed` to add them", missing,
                )  # fmt: skip
        stale, checked = self._japanese_read_as_written(count)
        if stale:
            log.warning(
                "%d of %d clips sampled with Japanese text hold %s vectors of the text as"
                " written (embedded before that tower read Japanese in English), so phrases"
                " match such clips worse; run `steerfeed reindex --reembed` to re-encode them",
                stale, checked, text_encoder.model_id,
            )  # fmt: skip

    def _japanese_read_as_written(
        self, count: int, sample: int = 256, most: int = 8
    ) -> tuple[int, int]:
        """(stale, checked): of up to `most` clips with Japanese text among `sample` rows
        spread over the catalog's `count`, how many hold an English-only tower's vector of the text
        as written rather than of its English (`texts_read_by`), as homes embedded before
        that reading do: about 40 ms at open where such clips are found (eight texts
        encoded), a query of the sampled rows otherwise; (0, 0) where nothing can tell."""
        encoder, index = self.encoders[TEXT], self.indexes[TEXT]
        if multilingual(encoder) or not count or not len(index):
            return 0, 0
        seqs = np.unique(np.linspace(1, count, num=min(sample, count)).astype(np.int64))
        clips = [
            c for c in self.catalog.get_many(seqs.tolist()).values() if c.seq in index
        ]  # fmt: skip
        texts = {c.seq: embedding_text(c.prompt, c.caption, c.tags) for c in clips}
        japanese = [seq for seq, text in texts.items() if has_japanese(text)][:most]
        dictionary = shared_dictionary() if japanese else None  # opened only when needed
        if dictionary is None:
            return 0, 0
        now = encoder.encode_texts(texts_read_by(encoder, [texts[q] for q in japanese], dictionary))
        stored = index.vectors_for(np.asarray(japanese, dtype=np.int64))
        cosines = (now * stored).sum(axis=1)  # both unit vectors
        return int((cosines < SAME_READING_COSINE).sum()), len(japanese)

    # -- index lifecycle ------------------------------------------------------

    def _open_index(self, channel: str, encoder: TextEncoder) -> VectorIndex:
        return self.index_store.open(channel, encoder.model_id, encoder.dim, self.catalog)

    def _build_index(self, channel: str, encoder: TextEncoder) -> VectorIndex:
        return self.index_store.build(channel, encoder.model_id, encoder.dim, self.catalog)

    def catch_up(self, generation: int | None = None) -> bool:
        """Bring every index up to the catalog's generation (`generation`, when the caller
        just read it) from the change log; True if any index moved.

        Another process sharing the catalog (a replica, a worker, `steerfeed ingest`)
        moves it without touching this process's indexes; each request that notices a
        new generation calls this, so its uploads become searchable here too.
        """
        target = self.catalog.generation if generation is None else generation
        if all(index.generation >= target for index in self.indexes.values()):
            return False
        with self._writing():
            moved = False
            for index in self.indexes.values():
                if index.generation < target:
                    upserted, removed = catch_up(index, self.catalog, target)
                    moved = True
                    log.debug("%s index caught up to generation %d: %d upserted, %d removed",
                              index.channel, target, upserted, removed)  # fmt: skip
            return moved

    def _applied_own_write(self, before: int) -> None:
        """Indexes that were at generation `before` and were just given this process's own
        write move to the generation it committed, when it was the only write since (so
        no catch-up reads back and re-applies what they hold already). The caller holds
        the write lock."""
        if self.catalog.generation != before + 1:
            return  # another process wrote too: the next catch-up applies both
        for index in self.indexes.values():
            if index.generation == before:
                index.generation = before + 1

    def save(self) -> None:
        """Persist every index, caught up with the catalog, at the generation it holds."""
        self.catch_up()
        # Saving changes nothing in memory: readers go on while the files are written.
        with self.lock.read(), self._save_lock:
            self._unsaved = 0
            for index in self.indexes.values():
                self.index_store.save(index)

    def close(self) -> None:
        """Save indexes and close them and the catalog."""
        self.save()
        self.index_store.close()
        self.catalog.close()

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels this engine embeds and searches."""
        return tuple(self.encoders)

    # -- ingest ---------------------------------------------------------------

    def _media_path(self, clip_id: str, source: Path) -> Path:
        return self.media_dir / f"{clip_id}{source.suffix.lower() or '.mp4'}"

    def _prepare(
        self, entry: ManifestEntry, now: float, given: dict[str, np.ndarray] | None = None
    ) -> _Prepared:
        """Validate and embed one entry's video; copy it into the home. Raises MediaError.

        `given` holds vectors embedded elsewhere by channel; the video is still
        probed and copied, but a given visual vector spares decoding its frames.
        """
        given = given or {}
        duration = width = height = None
        has_audio = False
        video_rel = None
        visual = None
        staged = None
        if entry.video is not None:
            source = entry.video
            if not source.is_file():
                raise MediaError(f"video {source} not found")
            size = source.stat().st_size
            if size > self.max_video_bytes:
                raise MediaError(f"video is {size} bytes, over the {self.max_video_bytes} limit")
            if size == 0:
                raise MediaError("video file is empty")
            info = probe_video(source, self.media_limits)  # before anything is decoded
            duration, width, height = info.duration_s, info.width, info.height
            has_audio = info.has_audio
            if self.visual_encoder is not None and VISUAL in given:
                visual = given[VISUAL]
            else:
                with self._decode_slots:
                    sampled = sample_frames(source, self.frames_per_clip)
                if self.visual_encoder is not None:
                    visual = pool_frames(self.visual_encoder.encode_images(sampled.frames))
            target = self._media_path(entry.id, source)
            if source.resolve() != target.resolve():
                staged = _stage_copy(source, target)
            video_rel = str(target.relative_to(self.home))
        cameos = entry.cameos
        if entry.remix_of is not None:
            original = self.catalog.get(entry.remix_of)
            cameos = inherited_cameos(cameos, original.cameos if original is not None else ())
        record = ClipRecord(
            id=entry.id,
            prompt=entry.prompt,
            creator=entry.creator,
            created_at=entry.created_at if entry.created_at is not None else now,
            caption=entry.caption,
            tags=entry.tags,
            cameos=cameos,
            remix_of=entry.remix_of,
            duration_s=duration,
            width=width,
            height=height,
            has_audio=has_audio,
            video_path=video_rel,
        )
        texts = {c: v for c, v in given.items() if c in (TEXT, MULTI)}
        return _Prepared(record, visual, staged, texts)

    def _check_precomputed(self, precomputed: PrecomputedVectors) -> None:
        """Refuse vectors of another model or dimension than this engine's encoders."""
        for channel, model_id in precomputed.model_ids.items():
            encoder = self.encoders.get(channel)
            if encoder is None:
                continue  # a channel this engine does not keep
            if model_id != encoder.model_id:
                raise CatalogError(
                    f"{channel} vectors given come from {model_id!r} but {encoder.model_id!r} is"
                    " configured; embed again with this model, or switch models with"
                    " `steerfeed reindex --reembed`"
                )
            for clip_id, vector in precomputed.vectors.get(channel, {}).items():
                if vector.shape != (encoder.dim,):
                    raise CatalogError(
                        f"{channel} vector of {clip_id} has shape {vector.shape},"
                        f" expected ({encoder.dim},)"
                    )

    def ingest(
        self,
        entries: Sequence[ManifestEntry],
        *,
        now: float | None = None,
        progress: Progress | None = None,
        provider: dict[str, str] | None = None,
        keep_creators: bool = False,
        precomputed: PrecomputedVectors | None = None,
    ) -> IngestReport:
        """Embed and store entries in batches; bad media is reported, not fatal.

        Each batch commits to the catalog, then updates the indexes in memory;
        indexes are saved at the end once enough changed since their last save
        (`SAVE_AFTER_ROWS`). A crash before a save is repaired when the engine next
        opens (the index catches up from the catalog).
        `provider` maps clip id → generating provider name, when known. With
        `keep_creators`, an entry whose id a different creator already holds is
        refused (reason NOT_YOURS), checked at commit, so two uploaders racing
        for one new id cannot overwrite each other. `precomputed` vectors are
        stored as given (checked against the configured models before anything is
        written); what they lack is encoded here.
        """
        if precomputed is not None:
            self._check_precomputed(precomputed)
        now = time.time() if now is None else now
        added: list[str] = []
        updated: list[str] = []
        errors: list[LineError] = []
        for start in range(0, len(entries), INGEST_BATCH):
            batch = entries[start : start + INGEST_BATCH]
            prepared: list[_Prepared] = []
            for entry in batch:
                try:
                    given = precomputed.for_clip(entry.id) if precomputed is not None else None
                    item = self._prepare(entry, now, given)
                except MediaError as exc:
                    errors.append(LineError(entry.line, entry.id, str(exc)))
                    continue
                if provider and entry.id in provider:
                    item = replace(item, record=replace(item.record, provider=provider[entry.id]))
                prepared.append(item)
            if prepared:
                if self.accounts is not None:
                    # Before the catalog names them, so nobody can sign up as a creator
                    # or a cameo between the two.
                    self.accounts.reserve_handles(
                        {h for p in prepared for h in (p.record.creator, *p.record.cameos)}, now
                    )
                existing = self.catalog.get_creators([r.record.id for r in prepared])
                refused = self._store(prepared, keep_creators)
                lines = {e.id: e.line for e in batch}
                for item in prepared:
                    clip_id = item.record.id
                    if clip_id in refused:
                        errors.append(LineError(lines[clip_id], clip_id, NOT_YOURS))
                    else:
                        (updated if clip_id in existing else added).append(clip_id)
            if progress is not None:
                progress(len(batch))
        self._unsaved += len(added) + len(updated)
        size = max((len(i) for i in self.indexes.values()), default=0)
        if self._unsaved < max(SAVE_AFTER_ROWS, SAVE_AFTER_SHARE * size):
            return IngestReport(tuple(added), tuple(updated), tuple(errors))
        try:
            self.save()
        except OSError as exc:
            # The catalog committed: the clips are stored, and the index catches up
            # from the catalog's change log when the engine next opens.
            log.warning("index not saved (%s); it will catch up from the catalog", exc)
        return IngestReport(tuple(added), tuple(updated), tuple(errors))

    def _store(self, prepared: Sequence[_Prepared], keep_creators: bool = False) -> set[str]:
        """Commit embedded items; returns the ids refused as another creator's."""
        records = [p.record for p in prepared]
        texts = [embedding_text(r.prompt, r.caption, r.tags) for r in records]
        vectors: dict[str, tuple[str, np.ndarray]] = {
            channel: (self.encoders[channel].model_id, self._text_vectors(channel, texts, prepared))
            for channel in (TEXT, MULTI)
            if channel in self.encoders
        }
        if self.visual_encoder is not None:
            visual = np.full((len(records), self.visual_encoder.dim), np.nan, dtype=np.float32)
            for row, item in enumerate(prepared):
                if item.visual is not None:
                    visual[row] = item.visual
            vectors[VISUAL] = (self.visual_encoder.model_id, visual)
        refused: set[str] = set()
        stored = list(prepared)
        try:
            with self._writing() as write:
                if keep_creators:
                    held = self.catalog.get_creators([r.id for r in records])
                    refused = {r.id for r in records if held.get(r.id, r.creator) != r.creator}
                if refused:
                    keep = np.array([r.id not in refused for r in records])
                    records = [r for r, k in zip(records, keep.tolist(), strict=True) if k]
                    stored = [p for p, k in zip(stored, keep.tolist(), strict=True) if k]
                    vectors = {c: (m, matrix[keep]) for c, (m, matrix) in vectors.items()}
                if not records:
                    return refused
                before = self.catalog.video_paths([r.id for r in records])
                generation = self.catalog.generation
                # Rounded as the catalog stores them: the indexes hold what it holds.
                form = self.catalog.vector_format
                vectors = {c: (m, as_stored(x, form)) for c, (m, x) in vectors.items()}
                seqs = np.asarray(self.catalog.upsert_clips(records, vectors), dtype=np.int64)
                new = len(seqs) <= CARRIED_ROWS and not any(
                    int(s) in index for index in self.indexes.values() for s in seqs.tolist()
                )
                added = {}
                for channel, (_, matrix) in vectors.items():
                    has = ~np.isnan(matrix).any(axis=1)
                    self.indexes[channel].remove(seqs[~has])
                    if has.any():
                        self.indexes[channel].upsert(seqs[has], matrix[has])
                        added[channel] = (seqs[has], np.asarray(matrix[has], np.float32))
                write.added = added if new else None
                self._applied_own_write(generation)
                # Videos move into place with their records: two uploads of one id, or an
                # upload racing a delete, cannot leave one's record with the other's video.
                for item in stored:
                    if item.staged is not None and item.record.video_path is not None:
                        os.replace(item.staged, self.home / item.record.video_path)
                    old = before.get(item.record.id)
                    if old is not None and old != item.record.video_path:
                        (self.home / old).unlink(missing_ok=True)  # replaced, or now none
        finally:
            for item in prepared:
                if item.staged is not None:
                    item.staged.unlink(missing_ok=True)
        return refused

    def _text_vectors(
        self, channel: str, texts: Sequence[str], prepared: Sequence[_Prepared]
    ) -> np.ndarray:
        """(n, d) vectors of one text channel: given rows as they are, the rest encoded."""
        encoder = self.encoders[channel]

        def encoded(rows: Sequence[str]) -> np.ndarray:
            return encoder.encode_texts(texts_read_by(encoder, rows, shared_dictionary()))

        missing = [row for row, item in enumerate(prepared) if channel not in item.given]
        if len(missing) == len(prepared):
            return encoded(texts)
        matrix = np.empty((len(prepared), encoder.dim), dtype=np.float32)
        for row, item in enumerate(prepared):
            if channel in item.given:
                matrix[row] = item.given[channel]
        if missing:
            matrix[missing] = encoded([texts[row] for row in missing])
        return matrix

    def delete(self, clip_id: str) -> bool:
        """Delete a clip from catalog, indexes and media; False if it did not exist."""
        with self._writing():
            clip = self.catalog.get(clip_id)
            generation = self.catalog.generation
            seq = self.catalog.delete_clip(clip_id)
            if seq is None:
                return False
            for index in self.indexes.values():
                index.remove(np.array([seq], dtype=np.int64))
            self._applied_own_write(generation)
            if clip is not None and clip.video_path:
                (self.home / clip.video_path).unlink(missing_ok=True)
        return True

    # -- search ---------------------------------------------------------------

    def search(self, query: str, limit: int = 20) -> list[SearchResult]:
        """Clips nearest to a text query across channels, best first."""
        query = query.strip()
        if not query:
            raise ValueError("empty query")
        if limit <= 0:
            return []
        pool = max(limit * 4, 50)
        # Read as a steering phrase is: a pictograph as its name (🐱 → "cat face", as clip
        # texts are stored), a word typed in hiragana alone as it is usually written (ぴえろ
        # → ピエロ); an English-only tower reads Japanese in English, as it reads clip texts.
        dictionary = shared_dictionary()
        spoken = name_emoji(query)
        if dictionary is not None:
            spoken = dictionary.written(spoken) or spoken
        query_vectors = {
            c: e.encode_texts(texts_read_by(e, [spoken], dictionary))
            for c, e in self.encoders.items()
        }
        candidates: dict[int, None] = {}
        channels = list(self.encoders)
        self.catch_up()
        with self.lock.read():
            for channel, qv in query_vectors.items():
                for seq in self.indexes[channel].search(qv, pool)[0].ids.tolist():
                    candidates.setdefault(seq)
            if not candidates:
                return []
            seqs = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
            raw = np.full((len(seqs), len(channels)), np.nan, dtype=np.float32)
            for col, channel in enumerate(channels):
                index = self.indexes[channel]
                rows = np.array([s in index for s in seqs.tolist()], dtype=bool)
                if rows.any():
                    raw[rows, col] = index.vectors_for(seqs[rows]) @ query_vectors[channel][0]
        fused = fuse_channel_scores(raw)
        order = np.argsort(-fused, kind="stable")[:limit]
        clips = self.catalog.get_many(seqs[order].tolist())  # a clip deleted meanwhile is skipped
        results = []
        for i in order.tolist():
            clip = clips.get(int(seqs[i]))
            if clip is None:
                continue
            per_channel = {
                channels[c]: float(raw[i, c])
                for c in range(len(channels))
                if not np.isnan(raw[i, c])
            }
            results.append(SearchResult(clip, float(fused[i]), per_channel))
        return results

    # -- maintenance ----------------------------------------------------------

    def reindex(self, *, reembed: bool = False, progress: Progress | None = None) -> dict[str, int]:
        """Rebuild every index from the catalog; with `reembed`, re-encode vectors first.

        Returns the number of vectors per channel.
        """
        if reembed:
            ids = self.catalog.ids()
            for start in range(0, len(ids), INGEST_BATCH):
                chunk = [self.catalog.get(i) for i in ids[start : start + INGEST_BATCH]]
                prepared = [self._reembed_one(c) for c in chunk if c is not None]
                self._store(prepared)
                if progress is not None:
                    progress(len(chunk))
        with self._writing():
            for channel, encoder in self.encoders.items():
                self.indexes[channel] = self._build_index(channel, encoder)
            return {c: len(i) for c, i in self.indexes.items()}

    @contextmanager
    def _writing(self) -> Iterator[_Write]:
        """The write lock, for a change to the indexes. Before the lock is released, cached
        searches are forgotten, unless the write says it only added clips (`_Write`)."""
        with self.lock.write():
            write = _Write()
            try:
                yield write
            finally:
                with self._nearest_lock:
                    self._writes += 1
                    self._note(write.added)

    def _note(self, added: dict[str, tuple[np.ndarray, np.ndarray]] | None) -> None:
        """Keep what a write added, for the searches kept from before it; after any other
        write, or past CARRIED_ROWS added rows in a channel, start afresh (the caller holds
        `_nearest_lock`)."""
        if added is not None:
            for channel, (seqs, vectors) in added.items():
                self._added.setdefault(channel, []).append((self._writes, seqs, vectors))
            if all(
                sum(len(s) for _, s, _ in kept) <= CARRIED_ROWS for kept in self._added.values()
            ):
                return
        self._nearest.clear()
        self._added.clear()
        self._carried_from = self._writes

    def nearest(
        self,
        channel: str,
        vector: np.ndarray,
        k: int,
        *,
        explore: int = HNSW_EF_PER_K,
        background: bool = False,
    ) -> np.ndarray:
        """Sequence numbers of the k clips nearest to one vector in a channel, best first
        (read-only); an HNSW index explores `explore` times k candidates. A search asked
        again while the index is unchanged (a user's taste, page after page) is answered
        from a cache of the last NEAREST_CACHE searches, and so is one asked after uploads
        that only added clips: the kept search and the added clips, scored against the
        vector, give the best k of both (at 1,000,000 clips, a user's first page after an
        upload no longer searches both indexes again). A `background` search (one no
        request waits for) does not hold requests back behind a waiting writer (see
        feed.services.rwlock)."""
        query = np.ascontiguousarray(vector, dtype=np.float32)
        with self.lock.read(background=background):
            index = self.indexes[channel]
            key = (channel, k, explore, query.tobytes())
            with self._nearest_lock:
                kept, now = self._nearest.get(key), self._writes
                if kept is not None and kept.writes == now:
                    self._nearest.move_to_end(key)
                    return kept.seqs
                added = (
                    [(s, v) for w, s, v in self._added.get(channel, []) if w > kept.writes]
                    if kept is not None and kept.writes >= self._carried_from
                    else None
                )
            if kept is not None and added is not None:
                # Only clips were added since: the search kept, and each added clip
                # scored against the query, the best k of both.
                seqs = np.concatenate([kept.seqs, *(s for s, _ in added)])
                scores = np.concatenate([kept.scores, *(v @ query for _, v in added)])
                best = np.argsort(-scores, kind="stable")[:k]
                found = _Found(now, seqs[best], scores[best].astype(np.float32))
            else:
                hits = index.search(query[None, :], k, explore=explore)[0]
                found = _Found(now, hits.ids, hits.scores)
            found.seqs.flags.writeable = False
            # Kept while the read lock is still held: no writer can have changed the
            # index (and moved `_writes`) between this search and its keeping.
            with self._nearest_lock:
                self._nearest[key] = found
                self._nearest.move_to_end(key)
                while len(self._nearest) > NEAREST_CACHE:
                    self._nearest.popitem(last=False)
        return found.seqs

    def _reembed_one(self, clip: Clip) -> _Prepared:
        record = ClipRecord(
            id=clip.id, prompt=clip.prompt, creator=clip.creator, created_at=clip.created_at,
            caption=clip.caption, tags=clip.tags, cameos=clip.cameos, remix_of=clip.remix_of,
            duration_s=clip.duration_s, width=clip.width, height=clip.height,
            has_audio=clip.has_audio, video_path=clip.video_path, provider=clip.provider,
        )  # fmt: skip
        visual = None
        if self.visual_encoder is not None and clip.video_path:
            try:
                sampled = sample_frames(self.home / clip.video_path, self.frames_per_clip)
                visual = pool_frames(self.visual_encoder.encode_images(sampled.frames))
            except MediaError as exc:
                log.warning("clip %s: %s; no visual vector", clip.id, exc)
        return _Prepared(record, visual)


# Temp files each writer leaves behind when killed mid-write, by folder under the home:
# staged media and index saves (".name.XXXX.tmp"), event batches (".part-XXXX.tmp"),
# rendered or downloaded clips (".name.XXXX.part"), and spooled uploads (any name).
TEMP_PATTERNS = (("media", ".*.tmp"), ("index", ".*.tmp"), ("events", "date=*/.part-*.tmp"),
                 ("staging", ".*.part"), ("staging", "*.mp4"), ("uploads", "*"),
                 ("media", ".*.part"))  # fmt: skip


def sweep_temp_files(home: Path, now: float, min_age_s: float = 3600.0) -> int:
    """Remove temp files under a home that no writer can still be using (older than
    `min_age_s`: another process on the same home may be writing one right now).
    Returns how many were removed."""
    removed = 0
    for folder, pattern in TEMP_PATTERNS:
        for path in (home / folder).glob(pattern):
            try:
                if path.is_file() and now - path.stat().st_mtime >= min_age_s:
                    path.unlink()
                    removed += 1
            except OSError as exc:  # gone meanwhile, or not ours to remove
                log.debug("temp file %s left: %s", path.name, exc)
    if removed:
        log.info("removed %d stale temp files from %s", removed, home)
    return removed


def _stage_copy(source: Path, target: Path) -> Path:
    """Copy `source` beside `target` under a temporary name; the caller renames it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)
