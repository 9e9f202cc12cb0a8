"""Running an experiment: catalog, logs, replay of every variant, tables and a report.

This is the experiments' composition root: it opens the engine, builds the
rankers and hands typed results from stage to stage. Everything it writes
lands under the output folder:

    home/                   the catalog it built (demo or KuaiRec), text channel only
    logs/                   simulated event log (live schema), steering log, users' truth,
                            exposure log (what the logging policy served, with propensities)
    steps.parquet           one row per variant and replayed step
    steering.parquet        one row per variant and instruction
    metrics.parquet, .csv   per variant and metric: value and bootstrap CI over users
                            (replay metrics, and IPS/SNIPS/DR when the logs have propensities)
    deltas.parquet, .csv    per variant and metric: paired difference from the baseline
    latency.csv             request latency per variant
    logging_policy.csv      the logging policy's own reward rates (with off-policy estimates)
    run.json                what ran, on what, for how long
    report.md, plots/       the report
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from embeddings.encoders import TextEncoder
from feed.core.manifest import ManifestEntry, parse_entry
from feed.core.steering import Glossary, Reader, load_reader
from feed.experiments.clips import ClipTable, build_clip_table
from feed.experiments.config import ExperimentConfig, VariantConfig
from feed.experiments.heldout import (
    HELDOUT_PATH,
    CorpusError,
    Phrasebook,
    build_phrasebook,
    load_heldout,
)
from feed.experiments.kuairec import kuairec_entries, kuairec_events
from feed.experiments.logs import (
    empty_steering_log,
    read_exposure_log,
    read_steering_log,
    steering_from_state,
    write_parquet_atomic,
)
from feed.experiments.offpolicy import (
    OffPolicy,
    PropensityError,
    logged_pages,
    off_policy,
    require_propensities,
)
from feed.experiments.rankers import Ranker, build_ranker
from feed.experiments.replay import (
    judge_instructions,
    load_events,
    plan_replay,
    replay,
    sample_users,
)
from feed.experiments.report import RunInfo, write_report
from feed.experiments.simulator import clip_facets, simulate
from feed.experiments.summary import (
    Summary,
    metric_infos,
    off_policy_infos,
    steering_table,
    step_table,
    summarise,
)
from feed.services.clips import ClipStore
from feed.services.demo import read_demo_spec
from feed.storage.events import EventLog
from feed.storage.stores import CATALOG_FILE, EVENTS_DIR, STATE_FILE

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
# on_stage(name, total) announces a stage and returns the callback that counts its work.
Stages = Callable[[str, int], Progress]


class RunError(ValueError):
    """An experiment cannot run as configured; the message says why."""


@dataclass(frozen=True)
class RunResult:
    """An experiment's summary and where its files are."""

    out: Path
    info: RunInfo
    summary: Summary
    report: Path


def _no_progress(name: str, total: int) -> Progress:
    return lambda n: None


@contextmanager
def single_threaded_math() -> Iterator[None]:
    """Limit BLAS/OpenMP pools to one thread while replaying.

    Replay is thousands of tiny matrix products; on a small busy machine pool
    threads only spin (measured on 2 cores: a page took 40 ms with the default
    pools and 4 ms with one thread).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, not a requirement
        yield
        return
    with threadpool_limits(limits=1):
        yield


def demo_entries(now: float, limit: int | None) -> list[ManifestEntry]:
    """The demo spec's clips without video (text channel only), aged relative to `now`."""
    entries = []
    for number, line in enumerate(read_demo_spec()[:limit], start=1):
        raw = dict(line.raw, created_at=now - line.age_hours * 3600)
        entries.append(parse_entry(raw, number, None, 2000))
    return entries


def open_catalog(
    config: ExperimentConfig, out: Path, encoder: TextEncoder, stages: Stages
) -> ClipStore:
    """The engine over the experiment's catalog (built under `out/home` unless it is a home)."""
    catalog = config.catalog
    if catalog.source == "home":
        assert catalog.path is not None
        if not (catalog.path / CATALOG_FILE).is_file():
            raise RunError(f"{catalog.path} holds no steerfeed catalog")
        return ClipStore(catalog.path, encoder, None)
    if catalog.source == "kuairec":
        assert catalog.path is not None
        entries = kuairec_entries(catalog.path, config.kuairec)[: catalog.limit]
        now = max((e.created_at or 0.0) for e in entries) if entries else 0.0
    else:
        now = config.simulation.start_ts
        entries = demo_entries(now, catalog.limit)
    engine = ClipStore(out / "home", encoder, None)
    report = engine.ingest(entries, now=now, progress=stages("catalog", len(entries)))
    for error in report.errors:
        log.warning("clip %s skipped: %s", error.clip_id, error.reason)
    return engine


def _policy(config: ExperimentConfig) -> VariantConfig:
    name = config.simulation.logging
    for variant in config.variants:
        if variant.name == name:
            return variant
    return VariantConfig(name=f"logging-{name}", ranker=name)


@dataclass(frozen=True)
class Logs:
    """What an experiment replays: events (lazy, live schema), the steering log, the
    exposure log when there is one, and lines saying where they came from."""

    events: pl.LazyFrame
    steering: pl.DataFrame
    exposures: pl.DataFrame | None
    where: str
    words: str = ""


def phrasebook_for(
    config: ExperimentConfig, table: ClipTable, glossary: Glossary
) -> Phrasebook | None:
    """The held-out cases simulated users may say on this catalog (None: fixed templates)."""
    source = config.simulation.instructions
    if source == "templates":
        return None
    path = HELDOUT_PATH if source == "heldout" else Path(source)
    try:
        cases = load_heldout(path)
    except CorpusError as exc:
        raise RunError(f"simulation.instructions: {exc}") from exc
    facets = clip_facets(table)
    tags = sorted({f.style for f in facets if f.style} | {f.topic for f in facets if f.topic})
    book = build_phrasebook(cases, tags, str(path), glossary.translate)
    if not book.phrasings:
        raise RunError(f"simulation.instructions: none of the {len(cases)} cases in {path} fit"
                       " the catalog's tags")  # fmt: skip
    return book


def collect_logs(
    config: ExperimentConfig,
    out: Path,
    engine: ClipStore,
    table: ClipTable,
    reader: Reader,
    work: Path,
    stages: Stages,
) -> Logs:
    """The logs the experiment names (simulated now, or read from where they are)."""
    glossary = reader.glossary
    logs = config.logs
    if logs.source == "simulate":
        sim = config.simulation
        policy = _policy(config)
        book = phrasebook_for(config, table, glossary)
        ranker = build_ranker(
            policy,
            engine,
            table,
            work / "logging",
            reader,
            config.seed,
            window_s=config.replay.window_s,
        )
        try:
            result = simulate(
                sim,
                table,
                ranker,
                out / "logs",
                glossary,
                config.seed,
                progress=stages("simulate", sim.users * sim.sessions_per_user),
                phrasebook=book,
            )
        finally:
            ranker.close()
        where = (
            f"{sim.users} simulated users, {result.sessions} sessions of {sim.pages_per_session}"
            f" pages x {sim.page_size} clips, served by the '{sim.logging}' policy"
            f" ({result.events} events, {result.instructions} steering instructions)"
        )
        if book is None:
            words = "fixed templates the parser was written for (steering numbers are circular)"
        else:
            words = f"{book.summary()}; {result.unsaid} intent(s) no usable case could word"
        return Logs(
            EventLog(result.events_dir).scan(),
            read_steering_log(result.steering_path),
            read_exposure_log(result.exposures_path),
            where,
            words,
        )
    steering = read_steering_log(logs.steering) if logs.steering else None
    exposures = read_exposure_log(logs.exposures) if logs.exposures else None
    if logs.source == "kuairec":
        assert config.catalog.path is not None
        events = kuairec_events(config.catalog.path, config.kuairec)
        where = f"KuaiRec {config.kuairec.matrix} from {config.catalog.path}"
        return Logs(events, _or_empty(steering), exposures, where)
    folder = logs.path or (config.catalog.path / EVENTS_DIR if config.catalog.path else None)
    if folder is None or not folder.is_dir():
        raise RunError(f"no event log folder at {folder}")
    if (
        steering is None
        and config.catalog.source == "home"
        and config.catalog.path is not None
        and (config.catalog.path / STATE_FILE).is_file()
    ):
        steering = steering_from_state(config.catalog.path / STATE_FILE)
    return Logs(EventLog(folder).scan(), _or_empty(steering), exposures, f"event log {folder}")


def _or_empty(steering: pl.DataFrame | None) -> pl.DataFrame:
    return empty_steering_log() if steering is None else steering


def checked_exposures(config: ExperimentConfig, logs: Logs) -> tuple[pl.DataFrame | None, str]:
    """The exposure log when off-policy estimates are to be made, else None and why not.

    Raises RunError when the experiment demands them (report.off_policy = true) and the
    logs cannot give them.
    """
    if config.report.off_policy is False:
        return None, "off-policy estimates were switched off (report.off_policy = false)"
    source = "KuaiRec" if config.logs.source == "kuairec" else logs.where
    try:
        return require_propensities(logs.exposures, source), ""
    except PropensityError as exc:
        if config.report.off_policy:
            raise RunError(f"report.off_policy: {exc}") from exc
        log.info("%s", exc)
        return None, str(exc)


def prepare_out(out: Path) -> None:
    """Create the output folder; refuse one that already holds files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"{out} already exists and is not empty; choose a new --out folder")
    out.mkdir(parents=True, exist_ok=True)


def run_experiment(
    config: ExperimentConfig,
    out: Path,
    encoder: TextEncoder,
    *,
    config_text: str | None = None,
    stages: Stages | None = None,
    reader: Reader | None = None,
) -> RunResult:
    """Build the catalog, get the logs, replay every variant, summarise and report.

    `reader` reads the logged instructions (default: trained or loaded under out/models).
    """
    started = time.perf_counter()
    stages = stages or _no_progress
    prepare_out(out)
    if config_text is not None:
        (out / "experiment.toml").write_text(config_text, encoding="utf-8")
    reader = reader or load_reader(out / "models")
    engine = open_catalog(config, out, encoder, stages)
    try:
        with single_threaded_math(), tempfile.TemporaryDirectory(dir=out, prefix=".work-") as tmp:
            work = Path(tmp)
            table = build_clip_table(engine)
            if len(table) == 0:
                raise RunError("the catalog is empty")
            logs = collect_logs(config, out, engine, table, reader, work, stages)
            exposures, off_policy_note = checked_exposures(config, logs)
            users = sample_users(logs.events, config.logs.max_users, config.seed)
            frame = load_events(logs.events, table.ids, users, config.logs.session_gap_s)
            if frame.is_empty():
                raise RunError("no logged events on catalog clips to replay")
            plan = plan_replay(frame, logs.steering, config.replay)
            judgements = judge_instructions(
                plan, table, reader, lambda phrase: encoder.encode_texts([phrase])[0]
            )
            traces = []
            for variant in config.variants:
                ranker: Ranker = build_ranker(
                    variant,
                    engine,
                    table,
                    work / "variants",
                    reader,
                    config.seed,
                    window_s=config.replay.window_s,
                )
                try:
                    traces.append(
                        replay(
                            plan,
                            ranker,
                            table,
                            judgements,
                            config.replay,
                            progress=stages(f"replay {variant.name}", len(plan.actions)),
                        )
                    )
                finally:
                    ranker.close()
    finally:
        engine.catalog.close()
    rcfg = config.replay
    estimates: OffPolicy | None = None
    infos = metric_infos(rcfg.ks, rcfg.page_size)
    if exposures is not None:
        pages = logged_pages(exposures, frame, config.report.rewards, plan.users)
        estimates = off_policy(pages, traces, plan.users, config.report.rewards)
        infos += off_policy_infos(config.report.rewards)
        matched = sorted(set(estimates.matched.values())) or [0]
        share = f"{matched[0]}" if len(matched) == 1 else f"{matched[0]}-{matched[-1]}"
        off_policy_note = (
            f"{estimates.pages} logged pages with propensities; {share} of them matched to"
            " the steps each variant replayed."
        )
    steps = pl.concat([step_table(t, table, rcfg.ks) for t in traces], how="diagonal_relaxed")
    steering_out = pl.concat(
        [steering_table(t, rcfg.page_size) for t in traces], how="diagonal_relaxed"
    )
    summary = summarise(
        traces,
        steps,
        steering_out,
        table,
        plan.users,
        infos,
        baseline=config.baseline,
        n_boot=config.report.bootstrap,
        confidence=config.report.confidence,
        seed=config.seed,
        ratios=estimates.ratios if estimates else None,
        reference=estimates.logged if estimates else None,
    )
    info = RunInfo(
        name=config.name,
        description=config.description,
        seed=config.seed,
        data=logs.where,
        words=logs.words,
        off_policy=off_policy_note,
        catalog_clips=len(table),
        users=len(plan.users),
        sessions=plan.sessions,
        steps=plan.requests,
        events=plan.events,
        instructions=len(plan.instructions),
        variants=tuple(v.name for v in config.variants),
        baseline=config.baseline,
        runtime_s=round(time.perf_counter() - started, 1),
    )
    write_tables(out, steps, steering_out, summary)
    if not summary.reference.is_empty():
        summary.reference.write_csv(out / "logging_policy.csv")
    report = write_report(out, config, info, summary, steps, steering_out)
    (out / "run.json").write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    return RunResult(out, info, summary, report)


def write_tables(out: Path, steps: pl.DataFrame, steering: pl.DataFrame, summary: Summary) -> None:
    """Per-step and per-instruction Parquet; per-variant metrics and deltas as Parquet and CSV."""
    write_parquet_atomic(steps, out / "steps.parquet")
    write_parquet_atomic(steering, out / "steering.parquet")
    write_parquet_atomic(summary.metrics, out / "metrics.parquet")
    write_parquet_atomic(summary.deltas, out / "deltas.parquet")
    summary.metrics.write_csv(out / "metrics.csv")
    summary.deltas.write_csv(out / "deltas.csv")
    summary.latency.write_csv(out / "latency.csv")
