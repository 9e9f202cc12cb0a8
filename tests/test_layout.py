"""Package boundaries: embeddings ← generation ← feed, only feed/storage/ opens SQLite,
and nothing heavy at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"embeddings": set(), "generation": {"embeddings"}, "feed": {"embeddings", "generation"}}
HEAVY = ("torch", "open_clip", "sentence_transformers", "dask", "distributed")
# Modules outside feed/storage/ that still import sqlite3 (being moved into storage);
# the test wants exactly these, so the list shrinks as each one moves.


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_import_direction():
    violations = []
    for package, allowed in ALLOWED.items():
        forbidden = set(ALLOWED) - allowed - {package}
        for path in (ROOT / package).rglob("*.py"):
            bad = imported_top_levels(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_importing_packages_loads_no_model_library():
    code = (
        "import sys, importlib\n"
        "for m in ['embeddings.encoders', 'embeddings.index', 'embeddings.frames',"
        " 'feed.http.app', 'feed.services.clips', 'feed.cli', 'feed.services.demo',"
        " 'feed.services.shards',"
        " 'generation.renderer']:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# Inside feed/, each layer may import only the layers named here (and itself).
LAYERS = {
    "feed.core": {"feed.resources"},
    "feed.storage": {"feed.core", "feed.resources"},
    "feed.services": {"feed.core", "feed.storage", "feed.resources"},
    "feed.http": {"feed.core", "feed.storage", "feed.services", "feed.resources",
                  "feed.settings", "feed.bootstrap"},
}  # fmt: skip
STORAGE_ONLY = ("sqlite3", "faiss", "psycopg", "redis", "pymilvus", "milvus_lite")


def test_layers_inside_feed_import_only_downwards():
    violations = []
    for layer, allowed in LAYERS.items():
        for path in (ROOT / layer.replace(".", "/")).rglob("*.py"):
            for name in imported_modules(path):
                if not name.startswith("feed.") or name.startswith(layer + ".") or name == layer:
                    continue
                if not any(name == a or name.startswith(a + ".") for a in allowed):
                    violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []


def test_only_storage_talks_to_sqlite_or_faiss():
    """SQL, FAISS and the server clients live in feed/storage/ (FAISS also in embeddings/,
    which wraps it)."""
    offenders = []
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            if (ROOT / "feed" / "storage") in path.parents:
                continue
            forbidden = {"sqlite3"} if package == "embeddings" else set(STORAGE_ONLY)
            bad = {n.split(".")[0] for n in imported_modules(path)} & forbidden
            if bad:
                offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []
