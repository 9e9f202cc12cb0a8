"""Experiment configuration: a TOML file read into frozen dataclasses, checked up front.

An experiment names where the catalog and the logs come from (the demo spec
and the simulator, a live home and its event log, or KuaiRec files), how the
logs are replayed and scored, and the ranker variants to compare.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feed.core.profile import EVENT_TYPES
from feed.core.ranking import RankWeights
from feed.services.pages import PER_SOURCE

RANKERS = ("engine", "popularity", "random", "als", "bpr", "item-knn")
CF_RANKERS = ("als", "bpr", "item-knn")
INSTRUCTION_SOURCES = ("heldout", "templates")
CATALOG_SOURCES = ("demo", "home", "kuairec")
LOG_SOURCES = ("simulate", "eventlog", "kuairec")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """The experiment file cannot be used; the message names the key and the problem."""


@dataclass(frozen=True)
class CatalogConfig:
    """Where the clips come from: the demo spec (text only), a steerfeed home, or KuaiRec."""

    source: str = "demo"
    path: Path | None = None
    limit: int | None = None


@dataclass(frozen=True)
class LogsConfig:
    """Where the events come from; `steering` is a steering log (Parquet) to replay too."""

    source: str = "simulate"
    path: Path | None = None
    steering: Path | None = None
    exposures: Path | None = None
    max_users: int | None = None
    session_gap_s: float = 1800.0


@dataclass(frozen=True)
class SimulationConfig:
    """The simulated population and how it was served (`logging` names the policy).

    `instructions` is where simulated users take their words from: "heldout" (the
    held-out steering corpus, data/steering/heldout.toml, which no parser was written or
    trained on), a path to a corpus in that format, or "templates" (a few fixed phrasings
    the parser was written for: fast, but steering numbers are then circular).
    """

    users: int = 100
    sessions_per_user: int = 2
    pages_per_session: int = 5
    page_size: int = 8
    logging: str = "random"
    ja_share: float = 0.3
    shift_share: float = 0.5
    averse_share: float = 0.5
    start_ts: float = 1_800_000_000.0
    clip_duration_s: float = 10.0
    instructions: str = "heldout"


@dataclass(frozen=True)
class KuaiRecConfig:
    """How KuaiRec interactions become events (watch_ratio thresholds)."""

    matrix: str = "small_matrix.csv"
    like_ratio: float = 2.0
    view_ratio: float = 0.8
    skip_ratio: float = 0.2


@dataclass(frozen=True)
class ReplayConfig:
    """How logged sessions are cut into steps and what each variant is scored on.

    A step is `step_size` consecutive logged clips; at each step a variant
    ranks `page_size` clips. Positives are clips with one of the `positives`
    event types later in the same session. Collaborative-filtering baselines are
    refit at the start of every `window_s` window on the events logged before it.
    """

    page_size: int = 10
    step_size: int = 8
    ks: tuple[int, ...] = (5, 10)
    positives: tuple[str, ...] = ("like",)
    probe_pages: int = 3
    follow_pages: int = 3
    max_steps_per_session: int | None = None
    window_s: float = 3600.0


@dataclass(frozen=True)
class ReportConfig:
    """Confidence intervals, the variant every other one is compared with, and off-policy
    estimates (IPS, SNIPS, DR) of the `rewards` event rates: `off_policy` true demands them
    (the run is refused when the logs hold no propensities), false skips them, unset
    computes them whenever the logs allow."""

    baseline: str | None = None
    bootstrap: int = 1000
    confidence: float = 0.95
    headline: tuple[str, ...] = ("ndcg@10", "recall@10", "adherence@10")
    off_policy: bool | None = None
    rewards: tuple[str, ...] = ("like", "view")


@dataclass(frozen=True)
class ModelParams:
    """Hyper-parameters of the collaborative-filtering baselines (implicit's names).

    `factors`, `regularization` and `iterations` apply to ALS and BPR, `alpha` to ALS,
    `learning_rate` to BPR, `neighbours` (K) to item-kNN.
    """

    factors: int = 32
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 2.0
    learning_rate: float = 0.05
    neighbours: int = 50


@dataclass(frozen=True)
class VariantConfig:
    """One ranker setting: the engine with weights and candidate sources, or a baseline
    (popularity, random, or a collaborative-filtering model with its parameters)."""

    name: str
    ranker: str = "engine"
    weights: RankWeights = field(default_factory=RankWeights)
    sources: frozenset[str] = field(default_factory=lambda: frozenset(PER_SOURCE))
    model: ModelParams = field(default_factory=ModelParams)


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment, as read from its TOML file."""

    name: str
    description: str
    seed: int
    catalog: CatalogConfig
    logs: LogsConfig
    simulation: SimulationConfig
    kuairec: KuaiRecConfig
    replay: ReplayConfig
    report: ReportConfig
    variants: tuple[VariantConfig, ...]

    @property
    def baseline(self) -> str:
        """The variant others are compared with (the first one unless named)."""
        return self.report.baseline or self.variants[0].name


def _convert(value: Any, kind: Any, where: str, base: Path) -> Any:
    """Check and convert one TOML value to an annotated field type."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        return _convert(value, inner[0], where, base)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list")
        item = typing.get_args(kind)[0]
        return tuple(_convert(v, item, where, base) for v in value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
        return value
    if kind is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a path")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    raise TypeError(f"no conversion for {kind!r}")  # a field type this reader does not know


def _section(cls: type[Any], table: object, where: str, base: Path) -> Any:
    """Build a config dataclass from a TOML table, refusing unknown keys."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"[{where}] has unknown keys {unknown}; expected some of {sorted(names)}")
    values = {k: _convert(v, hints[k], f"{where}.{k}", base) for k, v in table.items()}
    return cls(**values)


def _variant(table: object, index: int, base: Path) -> VariantConfig:
    where = f"variant[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - {"name", "ranker", "weights", "sources", "model"})
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}")
    name = table.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(f"{where}.name must be 1-64 letters, digits, _ . - (got {name!r})")
    ranker = table.get("ranker", "engine")
    if ranker not in RANKERS:
        raise ConfigError(f"variant {name!r}: ranker must be one of {RANKERS}")
    if ranker != "engine" and ("weights" in table or "sources" in table):
        raise ConfigError(f"variant {name!r}: weights and sources apply to the engine ranker only")
    if ranker not in CF_RANKERS and "model" in table:
        raise ConfigError(f"variant {name!r}: model applies to {', '.join(CF_RANKERS)} only")
    weights = _section(RankWeights, table.get("weights", {}), f"variant {name}.weights", base)
    model = _section(ModelParams, table.get("model", {}), f"variant {name}.model", base)
    if min(model.factors, model.iterations, model.neighbours) < 1:
        raise ConfigError(f"variant {name!r}: model factors, iterations, neighbours must be >= 1")
    if min(model.regularization, model.alpha, model.learning_rate) <= 0:
        raise ConfigError(f"variant {name!r}: model rates and regularization must be positive")
    sources = set(PER_SOURCE)
    raw_sources = table.get("sources", {})
    if not isinstance(raw_sources, dict):
        raise ConfigError(f"variant {name!r}: sources must be a table of source = true/false")
    for source, enabled in raw_sources.items():
        if source not in PER_SOURCE:
            raise ConfigError(
                f"variant {name!r}: unknown candidate source {source!r};"
                f" expected some of {sorted(PER_SOURCE)}"
            )
        if not isinstance(enabled, bool):
            raise ConfigError(f"variant {name!r}: sources.{source} must be true or false")
        if not enabled:
            sources.discard(source)
    if not sources:
        raise ConfigError(f"variant {name!r}: every candidate source is off")
    return VariantConfig(name, ranker, weights, frozenset(sources), model)


def _simulation(table: object, base: Path) -> SimulationConfig:
    """The [simulation] table; an `instructions` corpus path resolves against `base`."""
    sim: SimulationConfig = _section(SimulationConfig, table, "simulation", base)
    if sim.instructions not in INSTRUCTION_SOURCES:
        path = Path(sim.instructions).expanduser()
        resolved = path if path.is_absolute() else (base / path).resolve()
        sim = dataclasses.replace(sim, instructions=str(resolved))
    return sim


def parse_config(data: dict[str, Any], base: Path) -> ExperimentConfig:
    """Check a parsed TOML document and build the config; relative paths resolve against `base`."""
    known = {
        "name",
        "description",
        "seed",
        "catalog",
        "logs",
        "simulation",
        "kuairec",
        "replay",
        "report",
        "variant",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown top-level keys {unknown}; expected some of {sorted(known)}")
    name = data.get("name", "experiment")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError("name must be 1-64 letters, digits, _ . -")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("description must be a string")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed must be a non-negative integer")
    raw_variants = data.get("variant", [])
    if not isinstance(raw_variants, list) or not raw_variants:
        raise ConfigError("at least one [[variant]] is needed")
    config = ExperimentConfig(
        name=name,
        description=description,
        seed=seed,
        catalog=_section(CatalogConfig, data.get("catalog", {}), "catalog", base),
        logs=_section(LogsConfig, data.get("logs", {}), "logs", base),
        simulation=_simulation(data.get("simulation", {}), base),
        kuairec=_section(KuaiRecConfig, data.get("kuairec", {}), "kuairec", base),
        replay=_section(ReplayConfig, data.get("replay", {}), "replay", base),
        report=_section(ReportConfig, data.get("report", {}), "report", base),
        variants=tuple(_variant(v, i, base) for i, v in enumerate(raw_variants)),
    )
    _check(config)
    return config


def _check(config: ExperimentConfig) -> None:
    names = [v.name for v in config.variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must be unique (got {names})")
    catalog, logs, sim, replay, report = (
        config.catalog,
        config.logs,
        config.simulation,
        config.replay,
        config.report,
    )
    if catalog.source not in CATALOG_SOURCES:
        raise ConfigError(f"catalog.source must be one of {CATALOG_SOURCES}")
    if logs.source not in LOG_SOURCES:
        raise ConfigError(f"logs.source must be one of {LOG_SOURCES}")
    if catalog.source in ("home", "kuairec") and catalog.path is None:
        raise ConfigError(f"catalog.path is needed for a {catalog.source} catalog")
    if (logs.source == "kuairec") != (catalog.source == "kuairec"):
        raise ConfigError("KuaiRec logs go with a KuaiRec catalog (set both sources to kuairec)")
    if logs.source == "eventlog" and logs.path is None and catalog.source != "home":
        raise ConfigError("logs.path (an event log folder) is needed unless the catalog is a home")
    if logs.source == "simulate":
        policies = {"random", "popularity", *names}
        if sim.logging not in policies:
            raise ConfigError(f"simulation.logging must be one of {sorted(policies)}")
        if sim.users < 1 or sim.sessions_per_user < 1 or sim.pages_per_session < 1:
            raise ConfigError("simulation needs at least one user, session and page")
        if not 1 <= sim.page_size <= 100:
            raise ConfigError("simulation.page_size must be between 1 and 100")
        for key in ("ja_share", "shift_share", "averse_share"):
            if not 0.0 <= getattr(sim, key) <= 1.0:
                raise ConfigError(f"simulation.{key} must be between 0 and 1")
    if not 1 <= replay.page_size <= 100:
        raise ConfigError("replay.page_size must be between 1 and 100")
    if replay.step_size < 1 or replay.probe_pages < 1 or replay.follow_pages < 0:
        raise ConfigError("replay.step_size and probe_pages must be positive")
    if not replay.window_s > 0:
        raise ConfigError("replay.window_s must be positive")
    if not replay.ks or any(not 1 <= k <= replay.page_size for k in replay.ks):
        raise ConfigError(f"replay.ks must lie between 1 and page_size ({replay.page_size})")
    bad = sorted(set(replay.positives) - set(EVENT_TYPES))
    if bad or not replay.positives:
        raise ConfigError(f"replay.positives must be event types of {EVENT_TYPES} (got {bad})")
    if report.baseline is not None and report.baseline not in names:
        raise ConfigError(f"report.baseline {report.baseline!r} is not a variant")
    if report.bootstrap < 10:
        raise ConfigError("report.bootstrap must be at least 10 resamples")
    if not 0.5 <= report.confidence < 1.0:
        raise ConfigError("report.confidence must be in [0.5, 1)")
    if logs.max_users is not None and logs.max_users < 1:
        raise ConfigError("logs.max_users must be positive")
    bad = sorted(set(report.rewards) - set(EVENT_TYPES))
    if bad or not report.rewards:
        raise ConfigError(f"report.rewards must be event types of {EVENT_TYPES} (got {bad})")
    if report.off_policy and logs.source == "kuairec":
        raise ConfigError(
            "report.off_policy: KuaiRec logs record no logging propensities (which clips a"
            " policy could have shown, and how likely), so IPS, SNIPS and DR cannot be computed"
        )


def load_config(path: Path) -> ExperimentConfig:
    """Read and check an experiment TOML file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return parse_config(data, path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
