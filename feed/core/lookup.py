"""Finding values in a sorted array by binary search: rows among sorted rows, seqs among a
snapshot's ascending seqs."""

from __future__ import annotations

import numpy as np


def find_sorted(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in ascending `keys` of each wanted value (int64), and whether it is there
    (the position of a value that is not is meaningless)."""
    if not len(keys):
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), dtype=bool)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return at.astype(np.int64), keys[at] == wanted
