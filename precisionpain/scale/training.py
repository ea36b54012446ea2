"""Training on a Dask cluster: every booster of ``precisionpain train`` (each option's and outcome's K fold
boosters with early stopping, its final booster, bootstrap replicates) is trained by ``xgboost.dask`` over the
cluster's workers instead of in this process.

Everything else is the local engine's own code, unchanged and in this process: reading and checking the table,
the split by patient, feature assembly, the propensity model, the calibrators (fitted on the out-of-fold margins
the cluster returns), the evaluation, the MLflow run and the registered model. The boosters are ordinary
``xgboost.Booster`` objects, so the package does not know how it was trained.

How it maps onto the estimator's cross-fitting (:func:`precisionpain.models.boosting.cross_fit`): the rows are sent
to the workers once, fold by fold, each fold cut into one piece per worker. Fold k's booster is trained with
``xgboost.dask.train`` on the other folds' pieces, with fold k as its evaluation set and early stopping after
``patience`` rounds without improvement. The boosting round kept for every fold is chosen as the local engine
chooses it, on the weighted sum of the K held-out loss curves, scanned over the rounds all K folds reached; each
fold booster is cut there and predicts its own fold's out-of-fold margins on the workers. The trees differ from
the local engine's only as distributed histogram building differs (quantile sketches merged across workers), so
held-out metrics agree within a tolerance (tests/scale/test_train_engines.py), not bit for bit.

:func:`boosting_on` swaps the two functions the estimator calls for every booster
(``boosting.cross_fit`` and ``boosting.train``) for the ones here, for the duration of the block, in this process.
Boosters are trained one at a time (a lock; ``n_jobs`` threads of the estimator queue up), each over every worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from precisionpain.errors import ModelError

#: one booster at a time on the cluster (xgboost.dask sets up one collective group per training)
_TRAINING = threading.Lock()
_SWAPPED = threading.Lock()


@dataclass(frozen=True)
class _Piece:
    """Rows of one fold held by the workers as dask arrays (one chunk per worker, or per partition of a table the
    workers read themselves: see scale.worker_table)."""

    X: Any
    y: Any
    weight: Any
    base_margin: Any | None
    weight_sum: float


@dataclass(frozen=True)
class PiecesFit:
    """A cross-fit over pieces on the workers: the K boosters cut at ``n_rounds``, each fold's out-of-fold margins
    (in its piece's row order) and each fold's weighted held-out loss at ``n_rounds``."""

    boosters: tuple[Any, ...]
    fold_margins: list[np.ndarray]
    n_rounds: int
    fold_losses: tuple[float, ...]


class DaskBoosting:
    """``cross_fit`` and ``train`` with the signatures of :mod:`precisionpain.models.boosting`, on ``client``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.n_workers = max(1, len(client.scheduler_info()["workers"]))
        self.boosters_trained = 0

    # ------------------------------------------------------------------ data on the workers

    def _array(self, a: np.ndarray) -> Any:
        import dask
        import dask.array as da

        parts = [p for p in np.array_split(a, self.n_workers) if p.shape[0]] or [a]
        futures = self.client.scatter(parts, hash=False)  # new keys: the same rows sent again are new data
        return da.concatenate(
            [
                da.from_delayed(dask.delayed(f), shape=p.shape, dtype=p.dtype)
                for f, p in zip(futures, parts, strict=True)
            ]
        )

    def _piece(
        self, X: np.ndarray, y: np.ndarray, weight: np.ndarray, base_margin: np.ndarray | None
    ) -> _Piece:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        return _Piece(
            self._array(X32),
            self._array(np.asarray(y, dtype=np.float64)),
            self._array(np.asarray(weight, dtype=np.float64)),
            None if base_margin is None else self._array(np.asarray(base_margin, dtype=np.float64)),
            float(np.sum(weight)),
        )

    def _matrix(self, pieces: list[_Piece], params: Mapping[str, Any], *, quantile: bool) -> Any:
        import dask.array as da
        from xgboost import dask as dxgb

        def joined(get: Callable[[_Piece], Any]) -> Any:
            parts = [get(p) for p in pieces]
            return parts[0] if len(parts) == 1 else da.concatenate(parts)

        margin = None if pieces[0].base_margin is None else joined(lambda p: p.base_margin)
        common = {"weight": joined(lambda p: p.weight), "base_margin": margin, "missing": np.nan}
        if quantile and params.get("tree_method", "hist") == "hist":
            return dxgb.DaskQuantileDMatrix(
                self.client,
                joined(lambda p: p.X),
                joined(lambda p: p.y),
                max_bin=int(params["max_bin"]),
                **common,
            )
        return dxgb.DaskDMatrix(self.client, joined(lambda p: p.X), joined(lambda p: p.y), **common)

    def _train(self, params: Mapping[str, Any], dtrain: Any, rounds: int, **kwargs: Any) -> dict[str, Any]:
        import xgboost as xgb
        from xgboost import dask as dxgb

        with _TRAINING:
            try:
                out = dxgb.train(
                    self.client, dict(params), dtrain, num_boost_round=rounds, verbose_eval=False, **kwargs
                )
            except xgb.core.XGBoostError as exc:
                raise ModelError(
                    f"XGBoost failed while fitting on the Dask cluster: {str(exc).splitlines()[0]}"
                ) from None
        self.boosters_trained += 1
        return dict(out)

    # ------------------------------------------------------------------ the two functions the estimator calls

    def cross_fit(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`precisionpain.models.boosting.cross_fit` on the cluster."""
        # xgboost.dask looks the client up as the current one, in the estimator's own (pool) thread
        with self.client.as_current():
            return self._cross_fit(*args, **kwargs)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`precisionpain.models.boosting.train` on the cluster."""
        with self.client.as_current():
            return self._train_final(*args, **kwargs)

    def _cross_fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        fold: np.ndarray,
        params: Mapping[str, Any],
        *,
        max_rounds: int,
        patience: int,
        stop: threading.Event | None = None,
        base_margin: np.ndarray | None = None,
        obj: Any = None,
        min_improvement: float = 1e-12,
        fold_base_margins: Any = None,
    ) -> Any:
        from precisionpain.models.boosting import CrossFit

        n_folds = int(fold.max()) + 1

        def pieces_from(start: np.ndarray | None) -> list[_Piece]:
            return [
                self._piece(X[rows], y[rows], weight[rows], None if start is None else start[rows])
                for rows in (fold == k for k in range(n_folds))
            ]

        # with a starting margin per fold, fold k's booster sees every fold's rows with the k-th margins
        per_fold = None if fold_base_margins is None else [pieces_from(m) for m in fold_base_margins]
        fitted = self.cross_fit_pieces(
            pieces_from(base_margin) if per_fold is None else per_fold[0],
            params,
            max_rounds=max_rounds,
            patience=patience,
            stop=stop,
            obj=obj,
            min_improvement=min_improvement,
            fold_pieces=per_fold,
        )
        oof = np.empty(X.shape[0], dtype=np.float64)
        for k, margins in enumerate(fitted.fold_margins):
            oof[fold == k] = margins
        return CrossFit(fitted.boosters, oof, fitted.n_rounds, fitted.fold_losses)

    def cross_fit_pieces(
        self,
        pieces: list[_Piece],
        params: Mapping[str, Any],
        *,
        max_rounds: int,
        patience: int,
        stop: threading.Event | None = None,
        obj: Any = None,
        min_improvement: float = 1e-12,
        fold_pieces: list[list[_Piece]] | None = None,
    ) -> PiecesFit:
        """The cross-fit over rows already on the workers, one piece per fold: fold k's booster trained on the
        other pieces with piece k as its evaluation set, all cut at the round the local engine's rule keeps, and
        each fold's out-of-fold margins (in its piece's row order). ``fold_pieces``: fold k's booster uses
        ``fold_pieces[k]`` instead of ``pieces`` (the same rows with fold k's own starting margins)."""
        from xgboost import dask as dxgb

        from precisionpain.models.boosting import raise_if_stopped

        metric = str(params["eval_metric"])
        trained, curves = [], []
        for k in range(len(pieces)):
            raise_if_stopped(stop)
            mine = pieces if fold_pieces is None else fold_pieces[k]
            dtrain = self._matrix([p for j, p in enumerate(mine) if j != k], params, quantile=True)
            dval = self._matrix([mine[k]], params, quantile=False)
            out = self._train(
                params, dtrain, max_rounds, evals=[(dval, "v")], early_stopping_rounds=patience, obj=obj
            )
            loss = np.asarray(out["history"]["v"][metric], dtype=np.float64)
            curves.append(mine[k].weight_sum * (loss * loss if metric == "rmse" else loss))
            trained.append((out["booster"], dval))
        n_rounds = _best_rounds(curves, patience, min_improvement)
        boosters, fold_margins = [], []
        for booster, dval in trained:
            cut = booster[:n_rounds]
            margins = dxgb.predict(self.client, cut, dval, output_margin=True)
            fold_margins.append(np.asarray(self.client.compute(margins).result(), dtype=np.float64))
            boosters.append(cut)
        # each fold's weighted held-out loss at the round kept (what tuning compares settings by)
        fold_losses = tuple(float(c[n_rounds - 1]) for c in curves)
        return PiecesFit(tuple(boosters), fold_margins, n_rounds, fold_losses)

    def train_pieces(
        self, pieces: list[_Piece], params: Mapping[str, Any], n_rounds: int, obj: Any = None
    ) -> Any:
        """One booster of ``n_rounds`` rounds on every piece's rows (no early stopping)."""
        dtrain = self._matrix(pieces, params, quantile=True)
        return self._train(params, dtrain, n_rounds, obj=obj)["booster"]

    def _train_final(
        self,
        X: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        params: Mapping[str, Any],
        n_rounds: int,
        base_margin: np.ndarray | None = None,
        obj: Any = None,
    ) -> Any:
        return self.train_pieces([self._piece(X, y, weight, base_margin)], params, n_rounds, obj=obj)


def _best_rounds(curves: list[np.ndarray], patience: int, min_improvement: float = 1e-12) -> int:
    """The local engine's rule on the summed held-out loss: the first round after which ``patience`` rounds bring
    no improvement of more than ``min_improvement`` (relative), over the rounds every fold reached; the number of
    rounds to keep."""
    reached = min(c.shape[0] for c in curves)
    total = np.sum([c[:reached] for c in curves], axis=0)
    best_loss, best_round = np.inf, 0
    for it in range(reached):
        if it == 0 or total[it] < best_loss - min_improvement * abs(best_loss):
            best_loss, best_round = float(total[it]), it
        elif it - best_round >= patience:
            break
    return best_round + 1


@contextmanager
def boosting_on(client: Any) -> Iterator[DaskBoosting]:
    """For the duration of the block, every booster the estimator trains in this process is trained on the Dask
    cluster of ``client``."""
    from precisionpain.models import boosting

    engine = DaskBoosting(client)
    if not _SWAPPED.acquire(blocking=False):
        raise ModelError("boosting_on: another block already trains on a Dask cluster in this process")
    saved = boosting.cross_fit, boosting.train
    boosting.cross_fit, boosting.train = engine.cross_fit, engine.train
    try:
        yield engine
    finally:
        boosting.cross_fit, boosting.train = saved
        _SWAPPED.release()
