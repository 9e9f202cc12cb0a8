"""Labelled evaluation data: held-out steering instructions and the labelled test catalogs.

Pure loaders over data/steering/. `heldout.toml` holds hand-written
instructions with the ops a parser should find in them; `catalog_a` and
`catalog_b` are manifests (one JSON object a line) whose rows carry exactly one
`look` and one `topic` label, described in the TOML file beside each. `catalog_c`
has the same form but is a tuning catalog: thresholds may be chosen on it, never on
A or B. The labels are for scoring only: the engine is given
`CatalogRow.manifest_row()`, never the labels.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from feed.resources import DATA_DIR as SHIPPED

DATA_DIR = SHIPPED / "steering"
HELDOUT_PATH = DATA_DIR / "heldout.toml"

# +1: more of the concept, -1: less of it, 0: neither. An op's `accept` never
# holds an op of the opposite sign.
POLARITY = {"boost": 1, "only": 1, "suppress": -1, "exclude": -1, "reset": 0, "none": 0, "ask": 0}
LANGS = ("en", "ja", "mixed")
CATALOGS = ("a", "b")  # the labelled test catalogs, which held-out cases target
TUNING_CATALOGS = ("c", "e")  # labelled the same way, for choosing thresholds and words
# Labelled test catalogs no held-out case targets: D's prompts are mostly Japanese.
OTHER_TEST_CATALOGS = ("d",)
LABEL_KINDS = ("look", "topic")


@dataclass(frozen=True)
class ExpectedOp:
    """One op a parser should find: the op, the span of text it applies to, other ops allowed.

    `concept` is copied verbatim from the case's text; None for ops without
    one (none, a reset of everything).
    """

    op: str
    concept: str | None
    accept: tuple[str, ...] = ()

    def allows(self, op: str) -> bool:
        """Whether a parser's `op` counts as correct for this expected op."""
        return op == self.op or op in self.accept


@dataclass(frozen=True)
class HeldoutCase:
    """One held-out instruction, its expected ops in sentence order, and an optional target.

    `target` is a label of catalog `catalog` that the first op should move
    (both None when the case's page effect is not measured).
    """

    id: str
    text: str
    lang: str
    kind: str
    ops: tuple[ExpectedOp, ...]
    catalog: str | None
    target: str | None


@dataclass(frozen=True)
class CatalogRow:
    """One clip of a labelled catalog: its manifest fields and its two labels."""

    id: str
    prompt: str
    creator: str
    look: str
    topic: str

    def manifest_row(self) -> dict[str, str]:
        """The row as the engine may see it: manifest fields without the labels."""
        return {"id": self.id, "prompt": self.prompt, "creator": self.creator}


@dataclass(frozen=True)
class CatalogLabel:
    """A label of a catalog: a look or a topic, described in English and Japanese."""

    name: str
    kind: str
    en: str
    ja: str


@dataclass(frozen=True)
class LabelledCatalog:
    """A test catalog whose every row has exactly one look and one topic label."""

    name: str
    rows: tuple[CatalogRow, ...]
    labels: Mapping[str, CatalogLabel]

    def rows_with(self, label: str) -> tuple[CatalogRow, ...]:
        """The rows carrying `label`, as their look or as their topic."""
        return tuple(r for r in self.rows if label in (r.look, r.topic))


def _expected_op(raw: dict, case_id: str) -> ExpectedOp:
    op = raw["op"]
    accept = tuple(raw.get("accept", ()))
    for name in (op, *accept):
        if name not in POLARITY:
            raise ValueError(f"{case_id}: unknown op {name!r}")
    if any(POLARITY[a] * POLARITY[op] < 0 for a in accept):
        raise ValueError(f"{case_id}: {op} accepts an op of the opposite polarity {accept}")
    return ExpectedOp(op, raw.get("concept"), accept)


def _heldout_case(raw: dict) -> HeldoutCase:
    case_id = raw["id"]
    if raw["lang"] not in LANGS:
        raise ValueError(f"{case_id}: unknown lang {raw['lang']!r}")
    catalog, target = raw.get("catalog"), raw.get("target")
    if (catalog is None) != (target is None):
        raise ValueError(f"{case_id}: catalog and target go together")
    if catalog is not None and catalog not in CATALOGS:
        raise ValueError(f"{case_id}: unknown catalog {catalog!r}")
    ops = tuple(_expected_op(op, case_id) for op in raw["ops"])
    if not ops:
        raise ValueError(f"{case_id}: no ops")
    return HeldoutCase(case_id, raw["text"], raw["lang"], raw["kind"], ops, catalog, target)


def load_heldout(path: Path = HELDOUT_PATH) -> list[HeldoutCase]:
    """Read the held-out instructions (a TOML list of [[case]] tables), in file order."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return [_heldout_case(raw) for raw in data.get("case", [])]


def load_labelled_catalog(name: str, directory: Path = DATA_DIR) -> LabelledCatalog:
    """Read catalog `name` ("a", "b", "d" or the tuning catalogs "c" and "e"): rows from
    catalog_<name>.jsonl, labels from .toml."""
    known = CATALOGS + TUNING_CATALOGS + OTHER_TEST_CATALOGS
    if name not in known:
        raise ValueError(f"unknown catalog {name!r}; expected one of {known}")
    with (directory / f"catalog_{name}.toml").open("rb") as fh:
        raw_labels = tomllib.load(fh)["labels"]
    labels = {
        label: CatalogLabel(label, spec["kind"], spec["en"], spec["ja"])
        for label, spec in raw_labels.items()
    }
    for spec in labels.values():
        if spec.kind not in LABEL_KINDS:
            raise ValueError(f"catalog {name}: label {spec.name!r} has kind {spec.kind!r}")
    rows = []
    with (directory / f"catalog_{name}.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                raw = json.loads(line)
                rows.append(
                    CatalogRow(raw["id"], raw["prompt"], raw["creator"], raw["look"], raw["topic"])
                )
    for row in rows:
        for label, kind in ((row.look, "look"), (row.topic, "topic")):
            if label not in labels or labels[label].kind != kind:
                raise ValueError(f"catalog {name}: {row.id} has {label!r}, not a {kind} label")
    return LabelledCatalog(name, tuple(rows), labels)
