"""Where the shipped data lives: the lexicon, steering corpora and suites, the demo spec.

From a source checkout it is the top-level `data/` folder; an installed wheel carries
the same files inside the package as `feed/data/`. Nothing here imports the project.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
DATA_DIR = _PACKAGE / "data" if (_PACKAGE / "data").is_dir() else _PACKAGE.parent / "data"
