"""The demo catalog: render the shipped spec with the procedural renderer and ingest it,
and put its cameo owners' consent on record."""

from __future__ import annotations

import json
import logging
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from feed.core.consent import POLICIES
from feed.core.manifest import ManifestError, parse_entry
from feed.resources import DATA_DIR
from feed.services.clips import ClipStore, IngestReport, Progress
from feed.services.feed import FeedService
from generation.renderer import ProceduralRenderer

log = logging.getLogger(__name__)

DEMO_SPEC = DATA_DIR / "demo" / "clips.jsonl"
DEMO_CAMEOS = DATA_DIR / "demo" / "cameos.toml"


@dataclass(frozen=True)
class DemoSpecLine:
    """One demo clip: a manifest object (without video) and its age when the demo is built."""

    raw: dict[str, object]
    age_hours: float


def read_demo_spec(path: Path = DEMO_SPEC) -> list[DemoSpecLine]:
    """The demo spec; raises ManifestError naming the first bad line."""
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        raw = json.loads(text)
        age = float(raw.pop("age_hours", 0.0))
        try:
            parse_entry(raw, number, None, 2000)
        except ManifestError as exc:
            raise ManifestError(f"{path}:{number}: {exc}") from exc
        lines.append(DemoSpecLine(raw, age))
    return lines


def build_demo(
    engine: ClipStore,
    renderer: ProceduralRenderer,
    *,
    now: float,
    limit: int | None = None,
    spec_path: Path = DEMO_SPEC,
    progress: Progress | None = None,
    on_stage: Callable[[str, int], None] | None = None,
) -> IngestReport:
    """Render every spec clip missing from the catalog, then ingest them.

    Rendering writes straight into the home's media folder, so an interrupted
    build resumes where it stopped. `on_stage(name, total)` announces the
    render and ingest stages (for progress bars).
    """
    spec = read_demo_spec(spec_path)[:limit]
    todo = [line for line in spec if engine.catalog.get(str(line.raw["id"])) is None]
    if not todo:
        log.info("demo catalog present (%d clips)", len(spec))
        return IngestReport((), (), ())
    engine.media_dir.mkdir(parents=True, exist_ok=True)
    if on_stage is not None:
        on_stage("render", len(todo))
    entries = []
    for number, line in enumerate(todo, start=1):
        clip_id = str(line.raw["id"])
        target = engine.media_dir / f"{clip_id}.mp4"
        if not target.exists():
            renderer.render(str(line.raw["prompt"]), target, seed=zlib.crc32(clip_id.encode()))
        raw = dict(line.raw, video=str(target), created_at=now - line.age_hours * 3600)
        entries.append(parse_entry(raw, number, None, 2000))
        if progress is not None:
            progress(1)
    if on_stage is not None:
        on_stage("ingest", len(entries))
    report = engine.ingest(
        entries, now=now, progress=progress, provider={e.id: renderer.name for e in entries}
    )
    for error in report.errors:
        log.warning("demo clip %s skipped: %s", error.clip_id, error.reason)
    return report


@dataclass(frozen=True)
class DemoCameo:
    """A demo person's consent: who may see clips with their likeness."""

    handle: str
    policy: str
    approved: tuple[str, ...] = ()


def read_demo_cameos(path: Path = DEMO_CAMEOS) -> list[DemoCameo]:
    """The demo's consent file; raises ValueError naming the first bad entry."""
    cameos = []
    for number, raw in enumerate(tomllib.loads(path.read_text(encoding="utf-8"))["cameo"], 1):
        unknown = set(raw) - {"handle", "policy", "approved"}
        if unknown or raw.get("policy") not in POLICIES or not isinstance(raw.get("handle"), str):
            raise ValueError(
                f"{path}: cameo {number} needs a handle and a policy in {POLICIES}"
                + (f" (unknown keys {sorted(unknown)})" if unknown else "")
            )
        cameos.append(DemoCameo(raw["handle"], raw["policy"], tuple(raw.get("approved", ()))))
    return cameos


def record_demo_consent(service: FeedService, now: float, path: Path = DEMO_CAMEOS) -> int:
    """Record each demo cameo's policy on its reserved account; returns how many were
    recorded. The catalog's handles are reserved accounts nobody can sign in as, so the
    demo decides for them, once: a handle a person signed up as before the catalog named
    it is theirs, and so is the decision over their likeness, and a policy on record
    stands."""
    recorded = 0
    for cameo in read_demo_cameos(path):
        service.users.reserve_handles([cameo.handle], now)
        user = service.users.user_by_handle(cameo.handle)
        if user is None or not user.reserved or service.users.cameo(cameo.handle) is not None:
            continue
        service.users.reserve_handles(cameo.approved, now)
        service.consent.set_cameo(user, cameo.policy, cameo.approved, (), now)
        recorded += 1
    return recorded
