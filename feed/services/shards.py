"""Vector shards: a manifest embedded in pieces, on this machine or a Dask cluster.

`embed_manifest` splits a manifest's entries into shards and writes one Parquet
file of vectors per shard (one row per clip and channel). A shard is written
atomically and carries a digest of its entries and encoder settings, so a re-run
redoes only the shards that are missing or whose lines changed. `read_vectors`
loads the shards back as `PrecomputedVectors` for `ClipStore.ingest`.

Workers build their encoders from an `EncoderSpec` (names and paths, never the
models themselves) once per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embeddings.encoders import (
    ClipEncoder,
    EncoderUnavailable,
    MultilingualEncoder,
    SentenceEncoder,
    TextEncoder,
    VisualEncoder,
    limit_torch_threads,
    pool_frames,
)
from embeddings.frames import MediaError, sample_frames
from feed.core.manifest import ManifestEntry
from feed.services.clips import MULTI, TEXT, VISUAL, PrecomputedVectors
from feed.storage.catalog import embedding_text
from feed.storage.dictionary import shared_dictionary, texts_read_by

log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.parquet"
DIGEST_KEY = b"steerfeed.digest"
SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("source", pa.string()),  # digest of what was embedded: text and video path
        ("channel", pa.string()),
        ("model_id", pa.string()),
        ("dim", pa.int32()),
        ("vector", pa.list_(pa.float32())),
    ]
)


@dataclass(frozen=True)
class EncoderSpec:
    """Which encoders to load, by name and path, so any worker process can load them.

    `text_model` None is the packaged all-MiniLM-L6-v2; `clip_pretrained` None
    turns the visual channel off. `torch_threads` limits each worker's intra-op
    threads (None leaves torch's default).
    """

    text_model: str | None = None
    multilingual: bool = True
    clip_model: str = ""
    clip_pretrained: str | None = None
    clip_config: str | None = None
    device: str = "cpu"
    frames_per_clip: int = 8
    torch_threads: int | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What changes the vectors (not how many threads compute them)."""
        facts = asdict(self)
        facts.pop("torch_threads")
        return facts


@dataclass(frozen=True)
class ShardTask:
    """One shard to embed: its entries, where its file goes, and its digest."""

    index: int
    entries: tuple[ManifestEntry, ...]
    path: Path
    digest: str
    spec: EncoderSpec


@dataclass(frozen=True)
class ShardResult:
    """What embedding one shard did: clips written, and visual vectors not made."""

    index: int
    clips: int
    skipped: bool
    media_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmbedReport:
    """A whole embed run: shards written and skipped, clips embedded."""

    written: int
    skipped: int
    clips: int
    media_errors: tuple[str, ...]


@dataclass
class _Encoders:
    text: dict[str, TextEncoder]
    visual: VisualEncoder | None


@functools.lru_cache(maxsize=2)
def load_encoders(spec: EncoderSpec) -> _Encoders:
    """The encoders a spec names, loaded once per process."""
    if spec.torch_threads is not None:
        limit_torch_threads(spec.torch_threads)
    text: dict[str, TextEncoder] = {TEXT: SentenceEncoder.load(spec.text_model, spec.device)}
    if spec.multilingual:
        try:
            text[MULTI] = MultilingualEncoder.load()
        except EncoderUnavailable as exc:
            log.warning("multilingual channel off: %s", exc)
    visual = None
    if spec.clip_pretrained is not None:
        config = Path(spec.clip_config) if spec.clip_config else None
        try:
            visual = ClipEncoder.load(
                spec.clip_model, spec.clip_pretrained, config_path=config, device=spec.device
            )
        except EncoderUnavailable as exc:
            log.warning("visual channel off: %s", exc)
    return _Encoders(text, visual)


def source_digest(entry: ManifestEntry) -> str:
    """Digest of what a clip's vectors are made from: its embedding text and video path."""
    text = embedding_text(entry.prompt, entry.caption, entry.tags)
    video = str(entry.video) if entry.video is not None else ""
    return hashlib.sha256(f"{text}\0{video}".encode()).hexdigest()[:32]


def shard_digest(entries: Sequence[ManifestEntry], spec: EncoderSpec) -> str:
    """Digest of a shard's entries (ids and sources, not line numbers) and encoder settings."""
    h = hashlib.sha256(json.dumps(spec.fingerprint(), sort_keys=True).encode())
    for entry in entries:
        h.update(f"{entry.id}\0{source_digest(entry)}\n".encode())
    return h.hexdigest()


def shard_path(out_dir: Path, index: int) -> Path:
    """Where shard `index` is written."""
    return out_dir / f"shard-{index:05d}.parquet"


def plan_shards(
    entries: Sequence[ManifestEntry], out_dir: Path, shard_size: int, spec: EncoderSpec
) -> list[ShardTask]:
    """Split entries into shards of `shard_size`, in manifest order."""
    if shard_size <= 0:
        raise ValueError("shard size must be positive")
    tasks = []
    for index, start in enumerate(range(0, len(entries), shard_size)):
        chunk = tuple(entries[start : start + shard_size])
        digest = shard_digest(chunk, spec)
        tasks.append(ShardTask(index, chunk, shard_path(out_dir, index), digest, spec))
    return tasks


def is_done(task: ShardTask) -> bool:
    """Whether the shard's file exists and was written from the same entries and settings."""
    try:
        metadata = pq.read_schema(task.path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return metadata.get(DIGEST_KEY) == task.digest.encode()


def embed_shard(task: ShardTask) -> ShardResult:
    """Embed one shard and write its file atomically; a shard already done is skipped."""
    if is_done(task):
        return ShardResult(task.index, len(task.entries), skipped=True)
    encoders = load_encoders(task.spec)
    entries = task.entries
    sources = [source_digest(e) for e in entries]
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}

    def add(channel: str, model_id: str, row: int, vector: np.ndarray) -> None:
        columns["clip_id"].append(entries[row].id)
        columns["source"].append(sources[row])
        columns["channel"].append(channel)
        columns["model_id"].append(model_id)
        columns["dim"].append(int(vector.shape[0]))
        columns["vector"].append(np.asarray(vector, dtype=np.float32))

    texts = [embedding_text(e.prompt, e.caption, e.tags) for e in entries]
    for channel, encoder in encoders.text.items():
        matrix = encoder.encode_texts(texts_read_by(encoder, texts, shared_dictionary()))
        for row in range(len(entries)):
            add(channel, encoder.model_id, row, matrix[row])
    errors = []
    visual = encoders.visual
    if visual is not None:
        for row, entry in enumerate(entries):
            if entry.video is None:
                continue
            try:
                frames = sample_frames(entry.video, task.spec.frames_per_clip).frames
            except MediaError as exc:  # ingest reports it on its own line
                errors.append(f"{entry.id}: {exc}")
                continue
            add(VISUAL, visual.model_id, row, pool_frames(visual.encode_images(frames)))
    table = pa.table(columns, schema=SCHEMA.with_metadata({DIGEST_KEY: task.digest.encode()}))
    _write_atomically(table, task.path)
    return ShardResult(task.index, len(entries), skipped=False, media_errors=tuple(errors))


def _write_atomically(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Runs shard tasks and yields each result as it finishes (in-process, or on a cluster).
ShardRunner = Callable[[Sequence[ShardTask]], Iterable[ShardResult]]


def run_here(tasks: Sequence[ShardTask]) -> Iterable[ShardResult]:
    """Embed shards one after another in this process."""
    for task in tasks:
        yield embed_shard(task)


def embed_manifest(
    entries: Sequence[ManifestEntry],
    out_dir: Path,
    spec: EncoderSpec,
    *,
    shard_size: int = 1000,
    run: ShardRunner = run_here,
    progress: Callable[[int], None] | None = None,
) -> EmbedReport:
    """Embed entries into shard files under `out_dir`; only shards not done are run.

    `progress` is called with 1 per shard finished or skipped. Shard files past
    the last shard (left by a longer manifest) are removed.
    """
    tasks = plan_shards(entries, out_dir, shard_size, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(SHARD_GLOB):
        if stale not in {t.path for t in tasks}:
            stale.unlink()
    todo = [t for t in tasks if not is_done(t)]
    if progress is not None and len(tasks) > len(todo):
        progress(len(tasks) - len(todo))
    written = clips = 0
    errors: list[str] = []
    for result in run(todo):
        written += not result.skipped
        clips += result.clips
        errors.extend(result.media_errors)
        if progress is not None:
            progress(1)
    return EmbedReport(written, len(tasks) - written, clips, tuple(errors))


def read_vectors(out_dir: Path, entries: Sequence[ManifestEntry]) -> PrecomputedVectors:
    """The vectors of `entries` found in the shards under `out_dir`.

    A clip whose prompt, caption, tags or video changed since it was embedded is
    left out (ingest encodes it). Raises ValueError when a channel's rows name
    more than one model.
    """
    wanted = {e.id: source_digest(e) for e in entries}
    model_ids: dict[str, str] = {}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    paths = sorted(out_dir.glob(SHARD_GLOB))
    if not paths:
        raise ValueError(f"no vector shards ({SHARD_GLOB}) in {out_dir}")
    for path in paths:
        table = pq.read_table(path)
        ids = table.column("clip_id").to_pylist()
        sources = table.column("source").to_pylist()
        channels = table.column("channel").to_pylist()
        models = table.column("model_id").to_pylist()
        flat = table.column("vector").combine_chunks()
        values = flat.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        offsets = flat.offsets.to_numpy()
        for row, (clip_id, source, channel, model_id) in enumerate(
            zip(ids, sources, channels, models, strict=True)
        ):
            if wanted.get(clip_id) != source:
                continue
            known = model_ids.setdefault(channel, model_id)
            if known != model_id:
                raise ValueError(
                    f"{channel} vectors in {out_dir} come from both {known!r} and {model_id!r}"
                )
            vector = values[offsets[row] : offsets[row + 1]]
            vectors.setdefault(channel, {})[clip_id] = vector
    return PrecomputedVectors(model_ids, vectors)


@contextmanager
def dask_runner(
    address: str | None = None, local_workers: int | None = None
) -> Iterator[ShardRunner]:
    """A runner that sends shards to the Dask scheduler at `address`, or to a private
    cluster of `local_workers` processes on 127.0.0.1 (closed on exit).

    Workers write the shard files themselves: `out_dir` and the videos must be at
    the same paths on every worker's machine.
    """
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if local_workers is not None:
        cluster = LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    try:
        with Client(cluster if cluster is not None else address) as client:

            def run(tasks: Sequence[ShardTask]) -> Iterable[ShardResult]:
                futures = client.map(embed_shard, list(tasks), pure=False)
                for future in as_completed(futures):
                    yield future.result()

            yield run
    finally:
        if cluster is not None:
            cluster.close()
