"""A snapshot saved as files, so a large catalog opens without reading every clip.

`save_snapshot` writes a snapshot's columns as `.npy` files, its texts as one UTF-8
file (their word index beside them) and a `snapshot.json` naming the generation, row
count, channels and models, into a folder of its own under `<home>/snapshots`; then
`current.json` (replaced atomically) points to it and older folders are removed.
Processes sharing a home never write the same folder, and one still reading an older
folder keeps its open files.
`load_snapshot` reads them back (vectors memory-mapped: pages are read as rows are
used) and returns None when they do not fit the catalog as it is: another format,
other channels or models, a generation ahead of the catalog, or a first or last clip
that is not the one saved. Codes a snapshot borrowed from an index are not saved (the
index keeps them); they are borrowed again on open, and where the index no longer lends
the same codes (rebuilt on other ranges, turned flat, missing rows) the snapshot is
rebuilt instead. A snapshot loaded behind the catalog is then grown, or
rebuilt, like any other.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from feed.core.quantized import BLOCK_ROWS, BorrowedCodes, Matrix, QuantizedVectors
from feed.core.ranking import ClipTexts, SegmentedTexts
from feed.core.words import WordIndex
from feed.services.clips import ClipStore
from feed.services.snapshot import (
    SPARE_SHARE,
    CatalogSnapshot,
    IdTable,
    RowsById,
    SeqTable,
    borrow_codes,
    build_snapshot,
    group_rows,
    object_array,
    sample_parts,
)

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "snapshot.json"
POINTER = "current.json"
_COLUMNS = ("seqs", "created_at", "duration_s", "creator_codes", "remix_of_row", "cameo_rows",
            "newest_first", "sample")  # fmt: skip


def snapshot_folder(home: Path) -> Path:
    """Where a home's snapshots are saved."""
    return home / "snapshots"


def resave_snapshot(clips: ClipStore) -> bool:
    """Build the snapshot again and save it, when the home has one saved: after the
    indexes are rebuilt, a saved snapshot that borrowed the old indexes' codes no longer
    fits them, and would read its own saved codes (a second copy) until the catalog
    changes. False when there was none to replace."""
    folder = snapshot_folder(clips.home)
    if not (folder / POINTER).exists():
        return False
    save_snapshot(build_snapshot(clips), clips, folder)
    return True


def save_snapshot(snap: CatalogSnapshot, clips: ClipStore, folder: Path) -> Path:
    """Write `snap` into a new folder under `folder` and make it the current one."""
    target = folder / f"{snap.generation}-{uuid.uuid4().hex[:12]}"
    target.mkdir(parents=True)
    _write(snap, clips, target)
    pointer = folder / f".{target.name}.json"
    pointer.write_text(json.dumps({"folder": target.name}), encoding="utf-8")
    os.replace(pointer, folder / POINTER)
    for other in folder.iterdir():
        # Only older ones: another process may be saving one of the same generation.
        if other.is_dir() and _generation_of(other.name) < snap.generation:
            shutil.rmtree(other, ignore_errors=True)
    return target


def _generation_of(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


def _write(snap: CatalogSnapshot, clips: ClipStore, staging: Path) -> None:
    for name in _COLUMNS:
        np.save(staging / f"{name}.npy", getattr(snap, name))
    np.save(staging / "clip_ids.npy", np.asarray(snap.clip_ids.tolist(), dtype=str))
    channels = {}
    for channel, matrix in snap.vectors.items():
        np.save(staging / f"has.{channel}.npy", snap.has[channel])
        if isinstance(matrix, QuantizedVectors):
            # Codes borrowed from the index are the index's to keep: saving them again
            # would put every code on disk twice (9 GB at 10,000,000 clips). On open they
            # are borrowed again, or the snapshot is rebuilt.
            if not isinstance(matrix.codes, BorrowedCodes):
                _save_with_room(staging / f"vectors.{channel}.npy", matrix.codes)
            np.save(staging / f"low.{channel}.npy", matrix.low)
            np.save(staging / f"step.{channel}.npy", matrix.step)
            if matrix.exact_vectors is not None and len(matrix.exact_rows):
                np.save(staging / f"exact_rows.{channel}.npy", matrix.exact_rows)
                np.save(staging / f"exact.{channel}.npy", matrix.exact_vectors)
        else:
            np.save(staging / f"vectors.{channel}.npy", matrix)
        if channel in snap.sample_vectors:
            # Contiguous, so opening never gathers the sample's rows from across the codes
            # (which maps most of their pages: each gathered row faults in its neighbours).
            np.save(staging / f"sample.{channel}.npy", snap.sample_vectors[channel])
        channels[channel] = {
            "model": clips.encoders[channel].model_id,
            "compact": isinstance(matrix, QuantizedVectors),
            "codes": "index"
            if isinstance(matrix, QuantizedVectors) and isinstance(matrix.codes, BorrowedCodes)
            else "own",
        }
    texts = _one_blob(snap.texts)
    (staging / "texts.txt").write_text(texts.blob, encoding="utf-8")
    np.save(staging / "text_starts.npy", texts.starts)
    if texts.words is not None:
        # Keys hold no newline (texts have none), so one per line.
        (staging / "words.txt").write_text("\n".join(texts.words.tokens), encoding="utf-8")
        for part in ("offsets", "rows", "plain"):
            np.save(staging / f"words_{part}.npy", getattr(texts.words, part))
    n = len(snap)
    manifest = {
        "format": FORMAT,
        "generation": snap.generation,
        "rows": n,
        "channels": channels,
        "creator_names": list(snap.creator_names),
        "cameos": {str(r): list(snap.cameos[r]) for r in snap.cameo_rows.tolist()},
        "sample_of": snap.sample_of,
        "ends": [[int(snap.seqs[0]), snap.clip_ids[0]], [int(snap.seqs[-1]), snap.clip_ids[-1]]]
        if n
        else [],
    }
    (staging / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def load_snapshot(folder: Path, clips: ClipStore) -> CatalogSnapshot | None:
    """The snapshot saved under `folder`, or None when there is none that fits (see above)
    or it cannot be read (the caller then rebuilds)."""
    try:
        name = json.loads((folder / POINTER).read_text(encoding="utf-8"))["folder"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        saved = folder / str(name)
        manifest = json.loads((saved / MANIFEST).read_text(encoding="utf-8"))
        models = {c: clips.encoders[c].model_id for c in clips.channels}
        if (
            manifest["format"] != FORMAT
            or manifest["generation"] > clips.catalog.generation
            or {c: v["model"] for c, v in manifest["channels"].items()} != models
            or not _same_ends(manifest["ends"], clips)
        ):
            log.info("saved snapshot in %s does not fit the catalog; rebuilding", saved)
            return None
        return _borrowed(_read(saved, manifest, clips), clips)
    except _Unfit as exc:
        log.info("saved snapshot in %s does not fit the indexes (%s); rebuilding", saved, exc)
        return None
    except Exception as exc:  # anything unreadable costs a rebuild, never an open
        log.warning("saved snapshot in %s unreadable (%s); rebuilding", folder, exc)
        return None


class _Unfit(Exception):
    """A saved snapshot that reads its codes from an index the index no longer fits."""


def _read(folder: Path, manifest: dict, clips: ClipStore) -> CatalogSnapshot:
    n = manifest["rows"]
    cols = {name: np.load(folder / f"{name}.npy") for name in _COLUMNS}
    if any(len(cols[name]) != n for name in _COLUMNS if name not in ("cameo_rows", "sample")):
        raise ValueError("columns of different lengths")
    clip_ids = np.load(folder / "clip_ids.npy").astype(object)
    vectors: dict[str, Matrix] = {}
    has = {}
    for channel, about in manifest["channels"].items():
        has[channel] = np.load(folder / f"has.{channel}.npy")
        if about.get("codes") == "index":
            vectors[channel] = _lent(folder, channel, cols["seqs"], has[channel], clips)
        elif about["compact"]:
            # Copy-on-write: rows added later go into the spare rows of this process's
            # mapping (see `_save_with_room`); the file is never written.
            codes = np.asarray(np.load(folder / f"vectors.{channel}.npy", mmap_mode="c"))
            if len(has[channel]) != n or len(codes) < n:
                raise ValueError(f"{channel}: {len(codes)} vectors for {n} rows")
            low, step = (np.load(folder / f"{k}.{channel}.npy") for k in ("low", "step"))
            quantized = QuantizedVectors(codes[:n], low, step)
            rows, exact = _saved_exact(folder, channel, n, codes.shape[1])
            vectors[channel] = quantized.with_exact(rows, exact) if len(rows) else quantized
        else:
            matrix = np.load(folder / f"vectors.{channel}.npy", mmap_mode="r")
            if len(has[channel]) != n or len(matrix) != n:
                raise ValueError(f"{channel}: {len(matrix)} vectors for {n} rows")
            vectors[channel] = matrix
    sample = cols["sample"]
    sampled = len(sample) < n
    saved_sample = _sample_vectors(folder, vectors, sample) if sampled else {}
    sample_vectors, sample_has, sample_moments = sample_parts(vectors, has, sample, n, saved_sample)
    for channel, about in manifest["channels"].items():
        if about.get("codes") == "index" and channel in sample_vectors:
            _check_sample(channel, vectors[channel], has[channel], sample, sample_vectors[channel])
    cameos = object_array([()] * n)
    for row, handles in manifest["cameos"].items():
        cameos[int(row)] = tuple(handles)
    blob = (folder / "texts.txt").read_text(encoding="utf-8")
    texts = _read_words(folder, ClipTexts(blob, np.load(folder / "text_starts.npy")))
    names = tuple(manifest["creator_names"])
    creator_codes, newest_first = cols["creator_codes"], cols["newest_first"]
    return CatalogSnapshot(
        generation=manifest["generation"],
        seqs=cols["seqs"],
        clip_ids=clip_ids,
        row_of_id=RowsById(IdTable(clip_ids), n),
        created_at=cols["created_at"],
        duration_s=cols["duration_s"],
        creator_codes=creator_codes,
        creator_names=names,
        remix_of_row=cols["remix_of_row"],
        cameos=cameos,
        cameo_rows=cols["cameo_rows"],
        vectors=vectors,
        has=has,
        newest_first=newest_first,
        texts=SegmentedTexts((texts,)),
        by_creator=group_rows(creator_codes[newest_first], newest_first),
        remixes=group_rows(cols["remix_of_row"], np.arange(n, dtype=np.int64), skip=-1),
        code_of_creator={name: i for i, name in enumerate(names)},
        sample=sample,
        sample_vectors=sample_vectors,
        sample_has=sample_has,
        sample_moments=sample_moments,
        sample_of=manifest["sample_of"],
        seq_table=SeqTable.of(cols["seqs"]),
    )


def _borrowed(snap: CatalogSnapshot, clips: ClipStore) -> CatalogSnapshot:
    """`snap` reading each compact channel's rows from its index's codes instead of the
    saved ones where they fit: the index holds every row, on the same ranges (an index
    and a snapshot built from the same vectors take the same ones), and its codes agree
    with the saved sample. The saved codes, mapped from the file, are then never read."""
    vectors = dict(snap.vectors)
    for channel, saved in snap.vectors.items():
        if not isinstance(saved, QuantizedVectors) or isinstance(saved.codes, BorrowedCodes):
            continue
        has = snap.has[channel]
        lent = borrow_codes(clips, channel, snap.seqs, has, len(snap) // SPARE_SHARE)
        if lent is None:
            continue
        # Codes of the snapshot's own round to the nearest step from `low`; the index's
        # floor into a step and decode its middle, half a step higher (as do codes saved
        # from a snapshot that borrowed them): the same ranges either way.
        tolerance = lent.step * 1e-3
        same_ranges = np.allclose(lent.step, saved.step, rtol=1e-5, atol=0) and (
            bool(np.all(np.abs(lent.low - lent.step / 2 - saved.low) <= tolerance))
            or bool(np.all(np.abs(lent.low - saved.low) <= tolerance))
        )
        fits = same_ranges and _holds_every_row(lent, has, saved.exact_rows)
        if fits:
            # The saved sample rows, not the saved codes: reading those from across the
            # mapped file is what this spares. Each decodes within half a step of the
            # vector per dimension, so within a step of the other: what `codes_hold` allows.
            saved_sample = snap.sample_vectors.get(channel)
            if saved_sample is None:
                saved_sample = saved.rows(snap.sample)
            fits = _holds_sample(lent, has, snap.sample, saved_sample, saved.exact_rows)
        if not fits:
            log.info("the %s index's codes do not fit the saved snapshot; it reads its own",
                     channel)  # fmt: skip
            continue
        vectors[channel] = replace(
            lent, exact_rows=saved.exact_rows, exact_vectors=saved.exact_vectors
        )
    return replace(snap, vectors=vectors)


def _lent(
    folder: Path, channel: str, seqs: np.ndarray, has: np.ndarray, clips: ClipStore
) -> QuantizedVectors:
    """A channel saved without codes (they were its index's): the index's codes again,
    with the float32 rows saved beside them. `_Unfit` when the index holds no such codes,
    on other ranges, or lacks a row that was not kept exact."""
    lent = borrow_codes(clips, channel, seqs, has, len(seqs) // SPARE_SHARE)
    if lent is None:
        raise _Unfit(f"the {channel} index lends no codes")
    low, step = (np.load(folder / f"{k}.{channel}.npy") for k in ("low", "step"))
    if not (np.array_equal(lent.low, low) and np.array_equal(lent.step, step)):
        raise _Unfit(f"the {channel} index's codes have other ranges")
    rows, exact = _saved_exact(folder, channel, len(seqs), len(low))
    if not _holds_every_row(lent, has, rows):
        raise _Unfit(f"the {channel} index lacks rows the snapshot holds")
    return lent.with_exact(rows, exact) if len(rows) else lent


def _check_sample(
    channel: str, lent: Matrix, has: np.ndarray, sample: np.ndarray, saved: np.ndarray
) -> None:
    """`_Unfit` unless the lent codes hold the saved sample rows (rows kept exact aside)."""
    assert isinstance(lent, QuantizedVectors)
    if not _holds_sample(lent, has, sample, saved, lent.exact_rows):
        raise _Unfit(f"the {channel} index's codes do not hold the saved sample")


def _saved_exact(folder: Path, channel: str, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a saved compact channel kept as float32 (its ranges missed them), and
    their vectors; none when it kept none."""
    if not (folder / f"exact_rows.{channel}.npy").exists():
        return _NO_ROWS, np.empty((0, dim), dtype=np.float32)
    rows = np.load(folder / f"exact_rows.{channel}.npy")
    exact = np.load(folder / f"exact.{channel}.npy")
    if exact.shape != (len(rows), dim) or (len(rows) and rows[-1] >= n):
        raise ValueError(f"{channel}: exact rows do not fit the codes")
    return rows, exact


def _holds_every_row(lent: QuantizedVectors, has: np.ndarray, exact_rows: np.ndarray) -> bool:
    """Whether the index lends codes for every row that has the channel, but those kept
    exact."""
    labels = lent.codes.labels  # type: ignore[union-attr]
    return bool(np.isin(np.flatnonzero(has & (labels < 0)), exact_rows).all())


def _holds_sample(
    lent: QuantizedVectors,
    has: np.ndarray,
    sample: np.ndarray,
    saved: np.ndarray,
    exact_rows: np.ndarray,
) -> bool:
    """Whether the lent codes hold the saved sample rows `saved` (rows kept exact aside)."""
    checked = has[sample] & ~np.isin(sample, exact_rows)
    return bool(lent.codes_hold(sample[checked], saved[checked]).all())


_NO_ROWS = np.empty(0, dtype=np.int64)


def _sample_vectors(
    folder: Path, vectors: dict[str, Matrix], sample: np.ndarray
) -> dict[str, np.ndarray]:
    """Each channel's sample rows, as saved beside the snapshot (or gathered from its
    matrix where a snapshot saved before that has none)."""
    out = {}
    for channel, matrix in vectors.items():
        path = folder / f"sample.{channel}.npy"
        if not path.exists():
            out[channel] = matrix[sample]
            continue
        rows = np.load(path)
        if rows.shape != (len(sample), matrix.shape[1]) or rows.dtype != np.float32:
            raise ValueError(f"{channel}: saved sample is {rows.shape}, not {len(sample)} rows")
        out[channel] = rows
    return out


def _save_with_room(path: Path, codes: np.ndarray | BorrowedCodes) -> None:
    """Save codes followed by `len(codes) // SPARE_SHARE` zero rows, which a snapshot
    loaded from them grows into without copying the rest."""
    room = len(codes) // SPARE_SHARE
    out = np.lib.format.open_memmap(path, mode="w+", dtype=codes.dtype,
                                    shape=(len(codes) + room, *codes.shape[1:]))  # fmt: skip
    for start in range(0, len(codes), BLOCK_ROWS):
        block = codes[start : start + BLOCK_ROWS]
        out[start : start + len(block)] = block
    out.flush()
    del out


def _read_words(folder: Path, texts: ClipTexts) -> ClipTexts:
    """`texts` with their saved word index, or one built now (saved before it existed)."""
    if not (folder / "words.txt").exists():
        indexed = texts.indexed()
        if indexed is not texts:
            log.info("saved snapshot in %s has no word index; indexed %d texts", folder, len(texts))
        return indexed
    tokens = (folder / "words.txt").read_text(encoding="utf-8").split("\n")
    parts = [np.load(folder / f"words_{part}.npy") for part in ("offsets", "rows", "plain")]
    words = WordIndex.loaded(tokens, *parts)
    if len(words) != len(texts):
        raise ValueError(f"word index of {len(words)} rows for {len(texts)} texts")
    return replace(texts, words=words)


def _same_ends(ends: list, clips: ClipStore) -> bool:
    """Whether the catalog still holds the saved first and last clips under their seqs (a
    catalog replaced by another fails this; one that lost them rebuilds anyway)."""
    if not ends:
        return True
    found = clips.catalog.get_many([int(seq) for seq, _ in ends])
    return all(seq in found and found[seq].id == clip_id for seq, clip_id in ends)


def _one_blob(texts: SegmentedTexts | None) -> ClipTexts:
    out = ClipTexts("", np.zeros(0, dtype=np.int64))
    for segment in texts.segments if texts is not None else ():
        out = out.joined(segment)
    return out
