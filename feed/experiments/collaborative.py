"""Collaborative-filtering baselines from `implicit`: ALS, BPR and item-kNN.

The standard baselines a reviewer asks for beside popularity. Each model is
refit at the start of every replay window (`window_s` seconds, windows aligned
to the epoch) on the events logged before that window began, never per step
and never on anything later. Between refits a user's own events so far still
count where the model can take them in without refitting: ALS solves the
user's factors from their history, item-kNN scores their history through the
item-item similarities; BPR keeps the factors it learnt for users it has seen
and, like every model here, ranks by popularity for a user it knows nothing of.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feed.core.popularity import ENGAGEMENT
from feed.core.profile import Event
from feed.experiments.clips import ClipTable
from feed.experiments.config import ModelParams
from feed.experiments.rankers import BlockList

# How much an event says the user wanted the clip (implicit feedback confidence).
# Skips, hides and bare impressions say nothing positive and are left out.
CF_WEIGHT = {"view": 1.0, "like": 4.0, "share": 4.0, "remix": 4.0}


@dataclass(frozen=True)
class Fit:
    """One refit: the window it serves, and the training events it saw (all before `start`)."""

    start: float
    events: int
    latest_ts: float


class CollaborativeRanker:
    """An `implicit` model (kind "als", "bpr" or "item-knn") refit per replay window."""

    steerable = False

    def __init__(
        self,
        name: str,
        kind: str,
        table: ClipTable,
        params: ModelParams,
        window_s: float,
        seed: int,
    ) -> None:
        if kind not in ("als", "bpr", "item-knn"):
            raise ValueError(f"unknown collaborative model {kind!r}")
        self.name = name
        self.kind = kind
        self.table = table
        self.params = params
        self.window_s = window_s
        self.seed = seed
        self.fits: list[Fit] = []
        self._blocked = BlockList(table)
        self._users: dict[str, int] = {}
        self._log_user: list[int] = []
        self._log_row: list[int] = []
        self._log_weight: list[float] = []
        self._log_ts: list[float] = []
        self._history: dict[int, dict[int, float]] = {}
        self._popularity = np.zeros(len(table), dtype=np.float64)
        self._tiebreak = np.random.default_rng(seed).permutation(len(table))
        self._window: int | None = None
        self._model: Any = None
        self._trained_users: set[int] = set()

    def _user(self, user_id: str) -> int:
        return self._users.setdefault(user_id, len(self._users))

    def record(self, user_id: str, events: Sequence[Event], now: float) -> None:
        """Remember the events (for the next refit, the user's history and popularity)."""
        self._blocked.record(user_id, events)
        u = self._user(user_id)
        history = self._history.setdefault(u, {})
        for e in events:
            row = self.table.row_of_id.get(e.clip_id)
            if row is None:
                continue
            self._popularity[row] += ENGAGEMENT.get(e.type, 0.0)
            weight = CF_WEIGHT.get(e.type, 0.0)
            if weight <= 0:
                continue
            history[row] = history.get(row, 0.0) + weight
            self._log_user.append(u)
            self._log_row.append(row)
            self._log_weight.append(weight)
            self._log_ts.append(e.ts)

    def steer(self, user_id: str, text: str, now: float) -> None:
        """Instructions are ignored: this baseline cannot be steered."""

    def _refresh(self, now: float) -> None:
        """Refit when `now` falls in a window the model was not fit for."""
        window = math.floor(now / self.window_s)
        if window == self._window:
            return
        self._window = window
        start = window * self.window_s
        ts = np.asarray(self._log_ts, dtype=np.float64)
        keep = ts < start
        users = np.asarray(self._log_user, dtype=np.int64)[keep]
        self.fits.append(Fit(start, int(keep.sum()), float(ts[keep].max()) if keep.any() else -1.0))
        if not keep.any():
            self._model, self._trained_users = None, set()
            return
        from scipy.sparse import csr_matrix

        matrix = csr_matrix(
            (
                np.asarray(self._log_weight, dtype=np.float32)[keep],
                (users, np.asarray(self._log_row, dtype=np.int64)[keep]),
            ),
            shape=(len(self._users), len(self.table)),
        )
        matrix.sum_duplicates()
        self._model = _fit(self.kind, matrix, self.params, self.seed)
        self._trained_users = set(np.unique(users).tolist())

    def _scores(self, user_id: str) -> np.ndarray | None:
        """The model's score for every clip row (N,), or None where it knows nothing."""
        u = self._users.get(user_id)
        history = self._history.get(u, {}) if u is not None else {}
        if self._model is None or u is None or not history:
            return None
        if self.kind == "bpr":
            if u not in self._trained_users:
                return None
            return np.asarray(self._model.item_factors @ self._model.user_factors[u], np.float64)
        from scipy.sparse import csr_matrix

        rows = np.fromiter(history, dtype=np.int64)
        values = np.asarray([history[r] for r in rows.tolist()], dtype=np.float32)
        user_items = csr_matrix(
            (values, (np.zeros(len(rows), dtype=np.int64), rows)), shape=(1, len(self.table))
        )
        if self.kind == "als":
            factor = self._model.recalculate_user(0, user_items)
            return np.asarray(self._model.item_factors @ factor, dtype=np.float64)
        return np.asarray((user_items @ self._model.similarity).toarray()[0], dtype=np.float64)

    def _top(self, user_id: str, allowed: np.ndarray, k: int, now: float) -> list[int]:
        self._refresh(now)
        scores = self._scores(user_id)
        if scores is None:
            scores = np.zeros(len(self.table))
        order = np.lexsort((self._tiebreak, -self._popularity, -scores))
        return order[allowed[order]][:k].tolist()

    def page(self, user_id: str, session_id: str, k: int, now: float) -> tuple[str, ...]:
        """The k best-scored clips the user has not seen in the session or before."""
        served = self._blocked.served.setdefault(session_id, set())
        rows = self._top(user_id, self._blocked.allowed(user_id, served), k, now)
        served.update(rows)
        return tuple(self.table.ids[r] for r in rows)

    def probe(self, user_id: str, k: int, pages: int, now: float) -> tuple[str, ...]:
        """The first pages of a fresh session."""
        rows = self._top(user_id, self._blocked.allowed(user_id, set()), k * pages, now)
        return tuple(self.table.ids[r] for r in rows)

    def close(self) -> None:
        """Nothing to release."""


def _fit(kind: str, user_items: Any, params: ModelParams, seed: int) -> Any:
    """Fit one `implicit` CPU model on a (users, clips) confidence matrix.

    Two notices are silenced because they fire on every refit and say nothing about
    the experiment: item-kNN converting its normalised matrix to CSR, and ALS advising
    a single-threaded BLAS (experiments already run their math on one thread; see
    `single_threaded_math` in the runner; limiting it here again per fit cost more than
    the fit).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        warnings.filterwarnings("ignore", message="OpenBLAS is configured")
        model = _model(kind, params, seed)
        model.fit(user_items, show_progress=False)
    return model


def _model(kind: str, params: ModelParams, seed: int) -> Any:
    """An unfitted `implicit` CPU model of the given kind."""
    if kind == "als":
        from implicit.cpu.als import AlternatingLeastSquares

        model: Any = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            num_threads=1,
            random_state=seed,
        )
    elif kind == "bpr":
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(
            factors=params.factors,
            learning_rate=params.learning_rate,
            regularization=params.regularization,
            iterations=params.iterations,
            num_threads=1,
            random_state=seed,
        )
    else:
        from implicit.nearest_neighbours import CosineRecommender

        model = CosineRecommender(K=params.neighbours, num_threads=1)
    return model
