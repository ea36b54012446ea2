"""``evaluate --engine dask``: the held-out predictions and the SHAP sample the evaluation needs, computed on a Dask
cluster partition by partition; the rest of the evaluation is the local engine's own code.

What the evaluation asks of a model package is a handful of predictions on the same held-out rows: each model's
(the response model's and every harm model's) calibrated probabilities, (1 - alpha) intervals and interval
replicates, the response model's propensities, and exact TreeSHAP on the seeded sample the plots use. The training
process reads and checks the table, picks the rows and assembles the features as the local engine does, cuts the
feature matrix into partitions of at most ``partition_rows`` rows and sends them to the workers
(:func:`predict_partition`, mapped by :func:`precisionpain.scale.engines.map_tasks`). Each worker loads the
registered version once (:func:`precisionpain.scale.scoring.loaded_model`, the model ``score`` loads: verified
against its manifest) and answers every partition it is given from it.

The answers come back as :class:`PrecomputedModel` stand-ins for the package's models: objects with the estimator's
attributes whose predictions on those rows are the arrays the workers computed.
:func:`precisionpain.models.evaluation.evaluate` and the plots run on them unchanged. A stand-in asked about any other
rows raises (a bug: the evaluation and this module disagree about what is needed). The workers run the same
boosters on the same float32 rows as the local engine, so the metrics are the local engine's to rounding (tested
to 1e-9 relative in tests/scale/test_evaluate_engines.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from precisionpain.errors import ModelError
from precisionpain.scale.engines import Engine, Progress, map_tasks
from precisionpain.scale.scoring import ModelSpec, loaded_model

RESPONSE = "response"


@dataclass(frozen=True)
class RowBlock:
    """Rows ``start`` to ``start + len(X)`` of the held-out feature matrix, and the positions within the block of
    the rows whose SHAP values are wanted."""

    index: int
    start: int
    X: np.ndarray
    explain_rows: np.ndarray


@dataclass(frozen=True)
class ModelPredictions:
    """One model's predictions on a block (or, concatenated, on every held-out row); arrays in its options_ order."""

    outcomes: np.ndarray  # (n, k)
    interval: Any | None  # OutcomeInterval at the evaluation's alpha, None for a model without intervals
    replicates: np.ndarray | None  # (n, k, r)
    propensity: np.ndarray | None  # (n, k), the response model only
    explanation: Any | None  # Explanation of the block's explain_rows, the response model only


@dataclass(frozen=True)
class BlockPredictions:
    index: int
    rows: int
    by_model: dict[str, ModelPredictions]


def _has_intervals(model: Any) -> bool:
    return getattr(model, "interval_method", "none") != "none"


def predict_partition(spec: ModelSpec, alpha: float, block: RowBlock) -> BlockPredictions:
    """The task every engine maps: the package of ``spec`` (loaded once per process) predicts one block."""
    package = loaded_model(spec).engine.package
    models = {RESPONSE: package.estimator, **dict(package.harms)}
    out: dict[str, ModelPredictions] = {}
    for name, model in models.items():
        response = name == RESPONSE
        intervals = _has_intervals(model)
        explain = response and block.explain_rows.shape[0] > 0
        out[name] = ModelPredictions(
            outcomes=np.asarray(model.predict_outcomes(block.X)),
            interval=model.predict_interval(block.X, alpha=alpha) if intervals else None,
            replicates=np.asarray(model.predict_replicates(block.X)) if intervals else None,
            propensity=np.asarray(model.predict_propensity(block.X)) if response else None,
            explanation=model.explain(block.X[block.explain_rows]) if explain else None,
        )
    return BlockPredictions(block.index, int(block.X.shape[0]), out)


def _joined(parts: Sequence[np.ndarray | None]) -> np.ndarray | None:
    present = [p for p in parts if p is not None]
    if not present:
        return None
    if len(present) != len(parts):
        raise ModelError("held-out predictions: a partition came back without an array the others have")
    return np.concatenate(present, axis=0)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _join_intervals(parts: Sequence[Any]) -> Any | None:
    from precisionpain.models.estimator import OutcomeInterval

    if parts[0] is None:
        return None
    return OutcomeInterval(
        estimate=_frozen(np.concatenate([p.estimate for p in parts])),
        lower=_frozen(np.concatenate([p.lower for p in parts])),
        upper=_frozen(np.concatenate([p.upper for p in parts])),
        alpha=parts[0].alpha,
        options=parts[0].options,
    )


def _join_explanations(parts: Sequence[Any]) -> Any | None:
    from precisionpain.models.estimator import Explanation

    present = [p for p in parts if p is not None]
    if not present:
        return None
    return Explanation(
        contributions=_frozen(np.concatenate([p.contributions for p in present])),
        base_values=_frozen(np.concatenate([p.base_values for p in present])),
        margins=_frozen(np.concatenate([p.margins for p in present])),
        options=present[0].options,
        feature_names=present[0].feature_names,
    )


def join_blocks(blocks: Sequence[BlockPredictions]) -> dict[str, ModelPredictions]:
    """Every block's predictions, in block order, as one set per model."""
    ordered = sorted(blocks, key=lambda b: b.index)
    out: dict[str, ModelPredictions] = {}
    for name in ordered[0].by_model:
        parts = [b.by_model[name] for b in ordered]
        out[name] = ModelPredictions(
            outcomes=np.concatenate([p.outcomes for p in parts], axis=0),
            interval=_join_intervals([p.interval for p in parts]),
            replicates=_joined([p.replicates for p in parts]),
            propensity=_joined([p.propensity for p in parts]),
            explanation=_join_explanations([p.explanation for p in parts]),
        )
    return out


class PrecomputedModel:
    """A fitted model's stand-in that answers :func:`precisionpain.models.evaluation.evaluate` and the plots from
    predictions computed elsewhere on the rows ``X`` (and, for :meth:`explain`, on ``X[explained_rows]``). The
    attributes the evaluation reads are the model's own."""

    def __init__(
        self, model: Any, X: np.ndarray, predictions: ModelPredictions, explained_rows: np.ndarray | None
    ) -> None:
        self.options_ = model.options_
        self.interval_method = getattr(model, "interval_method", "none")
        self.propensity_clip = getattr(model, "propensity_clip", 0.0)
        self.n_jobs = getattr(model, "n_jobs", 1)
        self.strategy_ = getattr(model, "strategy_", None)
        self._X = X
        self._predictions = predictions
        self._explained_rows = explained_rows

    def _check_rows(self, X: Any, method: str) -> None:
        if X is self._X:
            return
        same = (
            isinstance(X, np.ndarray)
            and X.shape == self._X.shape
            and np.array_equal(X, self._X, equal_nan=True)
        )
        if not same:
            raise ModelError(f"{method}: the held-out predictions were computed for other rows")

    def _available(self, value: Any, method: str) -> Any:
        if value is None:
            raise ModelError(
                f"{method}: not computed for this model (no intervals, or not the response model)"
            )
        return value

    def predict_outcomes(self, X: Any) -> np.ndarray:
        self._check_rows(X, "predict_outcomes")
        return self._predictions.outcomes

    def predict_propensity(self, X: Any, clip: bool = False) -> np.ndarray:
        self._check_rows(X, "predict_propensity")
        e: np.ndarray = self._available(self._predictions.propensity, "predict_propensity")
        return np.maximum(e, float(self.propensity_clip)) if clip else e

    def predict_interval(self, X: Any, alpha: float = 0.1) -> Any:
        self._check_rows(X, "predict_interval")
        interval = self._available(self._predictions.interval, "predict_interval")
        if float(alpha) != float(interval.alpha):
            raise ModelError("predict_interval: the held-out intervals were computed at another alpha")
        return interval

    def predict_replicates(self, X: Any) -> np.ndarray:
        self._check_rows(X, "predict_replicates")
        replicates: np.ndarray = self._available(self._predictions.replicates, "predict_replicates")
        return replicates

    def explain(self, X: Any, options: Sequence[Hashable] | None = None) -> Any:
        explanation = self._available(self._predictions.explanation, "explain")
        rows = self._explained_rows
        if (
            options is not None
            or rows is None
            or not isinstance(X, np.ndarray)
            or not np.array_equal(X, self._X[rows], equal_nan=True)
        ):
            raise ModelError("explain: the SHAP values were computed for other rows or options")
        return explanation


def blocks_of(X: np.ndarray, explain_rows: np.ndarray | None, partition_rows: int) -> list[RowBlock]:
    """The held-out rows cut into blocks of at most ``partition_rows``, each with its share of ``explain_rows``."""
    wanted = np.zeros(0, dtype=np.int64) if explain_rows is None else np.asarray(explain_rows, dtype=np.int64)
    out = []
    for index, start in enumerate(range(0, X.shape[0], partition_rows)):
        stop = min(start + partition_rows, X.shape[0])
        mine = wanted[(wanted >= start) & (wanted < stop)] - start
        out.append(RowBlock(index, start, np.ascontiguousarray(X[start:stop]), mine))
    return out


@dataclass(frozen=True)
class HeldOutPredictions:
    """``evaluate --engine``'s hook for :func:`precisionpain.models.training.evaluate_registered`: called with the
    resolved version, its package, the held-out features and the rows of the SHAP sample, it returns the stand-ins
    of the response model and of each harm model."""

    engine: Engine
    scheduler: str | None
    tracking_uri: str
    home: str
    partition_rows: int
    n_workers: int | None = None
    progress: Progress | None = None
    #: called once with (rows, partitions) when the predictions are in
    done: Callable[[int, int], None] | None = None

    def __call__(
        self, version: Any, package: Any, X: np.ndarray, explain_rows: np.ndarray | None, alpha: float
    ) -> tuple[Any, dict[str, Any]]:
        spec = ModelSpec(
            package.metadata.catalog_sha256,
            uri=f"models:/{version.name}/{version.version}",
            tracking_uri=self.tracking_uri,
            home=self.home,
            label=f"models:/{version.name}/{version.version}",
        )
        if X.shape[0] == 0:  # nothing to predict: the local code reports the empty table
            return package.estimator, dict(package.harms)
        blocks = blocks_of(X, explain_rows, self.partition_rows)
        results = map_tasks(
            functools.partial(predict_partition, spec, alpha),
            blocks,
            engine=self.engine,
            scheduler=self.scheduler,
            n_workers=self.n_workers,
            progress=self.progress,
            scatter=True,
        )
        joined = join_blocks(results)
        if self.done is not None:
            self.done(int(X.shape[0]), len(blocks))
        rows = None if explain_rows is None else np.asarray(explain_rows)
        models: Mapping[str, Any] = {RESPONSE: package.estimator, **dict(package.harms)}
        stand_ins = {
            name: PrecomputedModel(model, X, joined[name], rows if name == RESPONSE else None)
            for name, model in models.items()
        }
        response = stand_ins.pop(RESPONSE)
        return response, stand_ins
