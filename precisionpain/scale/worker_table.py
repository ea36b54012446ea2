"""The training table held by the Dask workers: each partition of a dataset is read, checked, split by patient and
turned into features on a worker and kept there, and each option's response boosters are cross-fitted by
``xgboost.dask`` from those partitions, so the process that drives the training never holds the table or its
feature matrix.

What runs where:

- **On the workers**, one task per partition (:func:`precisionpain.scale.datasets.list_partitions`: a row group
  of a part file, or a slice of one): read the rows, check them as ``train`` checks its table
  (:func:`precisionpain.models.evaluation.check_table`, a violation naming rows by their position in the
  partition), keep the configured options' rows, split them by patient, assemble the features
  (:func:`precisionpain.features.assemble.assemble_features`) and keep, for each side of the split, the features
  (float32), the treatments, the outcome and the harm outcomes. For one option at a time, each partition's
  training rows of that option are cut by fold, and DaskDMatrix / DaskQuantileDMatrix are built from those
  pieces where they lie (:meth:`precisionpain.scale.training.DaskBoosting.cross_fit_pieces`).
- **In the driving process**: the partition list (file metadata only), per partition the row counts per option
  and fold and the positives per option (to check ``min_samples_per_option`` before any fitting), and per option
  what the calibration and evaluation of a fit need: the out-of-fold margins, the outcome and the rows' positions
  (8 bytes each per training row of the option), and the boosters.

The split and the folds are functions of the patient id (and the configured seeds), not of where a row lies:
``blake2b`` of the seed and the id read as a number in [0, 1), below ``split.test_fraction`` for the held-out
side, times ``n_folds`` for the fold. So every worker agrees, a patient's rows land on one side and in one fold
whichever partition holds them, and a re-partitioned dataset gives the same split. It is not the local engine's
split (a seeded shuffle of the whole table, :func:`precisionpain.models.evaluation.split_by_patient`), nor its
folds (stratified by outcome within each option), so the patients on each side differ from the local engine's
and results agree within a tolerance (tests/scale/test_worker_table.py), not bit for bit.

This is the first part of training a cohort that no single process holds: ``train --engine dask`` does not use
it yet. The rest of a run (the propensity model, the calibrators, harm models, the X-/DR-learner stages, the
held-out evaluation, the model package) still takes the feature matrix in one process (docs/scale.md, "Training
on Dask").
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precisionpain.errors import DataError, Violation

if TYPE_CHECKING:
    from precisionpain.models.config import TrainConfig
    from precisionpain.scale.training import DaskBoosting

#: patient ids are read as text of at most this many characters (a longer one is refused naming the column)
MAX_ID_CHARS = 256
DEFAULT_PARTITION_ROWS = 100_000
_SPLIT_KEY = b"precisionpain.split"
_FOLD_KEY = b"precisionpain.fold"
#: the column that carries each row's position in the dataset through the table checks (dropped after)
_ROW = "__precisionpain_row_position"


def unit_hash(ids: pd.Series, seed: int, key: bytes, column: str) -> np.ndarray:
    """Each id (as text) with ``seed`` hashed (keyed blake2b) to a number in [0, 1): the same on every machine,
    process and partition. A missing id or one longer than :data:`MAX_ID_CHARS` is a DataError naming
    ``column``."""
    values = ids.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        raise DataError(
            "training data", [Violation(column, "must not be missing (rows are split by patient)", "null")]
        )
    texts = [str(v) for v in values]
    if any(len(t) > MAX_ID_CHARS for t in texts):
        raise DataError(
            "training data",
            [Violation(column, f"must be at most {MAX_ID_CHARS} characters", "longer string")],
        )
    prefix = f"{int(seed)}\x1f".encode()
    out = np.empty(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        digest = hashlib.blake2b(prefix + text.encode("utf-8"), digest_size=8, key=key).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def patient_split(ids: pd.Series, seed: int, test_fraction: float, column: str) -> np.ndarray:
    """True for the rows whose patient is held out: a function of the id and the seed only."""
    return unit_hash(ids, seed, _SPLIT_KEY, column) < test_fraction


def patient_folds(ids: pd.Series, seed: int, n_folds: int, column: str) -> np.ndarray:
    """The cross-fitting fold (0..n_folds-1) of each row's patient: a function of the id and the seed only."""
    u = unit_hash(ids, seed, _FOLD_KEY, column)
    return np.minimum((u * n_folds).astype(np.int8), n_folds - 1)


@dataclass(frozen=True)
class TablePlan:
    """What every partition task needs: the run's config, the options it trains, where the catalogs are (a
    resolved path the workers must see) and the columns to read."""

    config: TrainConfig
    option_ids: tuple[str, ...]
    known_option_ids: tuple[str, ...]
    catalog_root: str
    columns: tuple[str, ...]


@dataclass
class PreparedPart:
    """One partition's rows as the workers keep them: per side of the split, the features, the treatment labels,
    the outcome, the harm outcomes, and the rows' positions in the dataset; the training rows' folds."""

    index: int
    X_train: np.ndarray
    t_train: np.ndarray
    y_train: np.ndarray
    fold_train: np.ndarray
    rows_train: np.ndarray
    X_test: np.ndarray
    t_test: np.ndarray
    y_test: np.ndarray
    rows_test: np.ndarray
    harm_train: dict[str, np.ndarray] = field(default_factory=dict)
    harm_test: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        arrays += [*self.harm_train.values(), *self.harm_test.values()]
        return int(sum(a.nbytes for a in arrays))


@dataclass(frozen=True)
class PartSummary:
    """What the driving process learns of a partition: counts, never rows."""

    index: int
    rows_read: int
    train_rows: int
    test_rows: int
    #: option -> training rows of that option in each fold
    fold_counts: dict[str, tuple[int, ...]]
    #: option -> training rows of that option with a positive outcome (binary) or the outcome's sum
    positives: dict[str, float]
    nbytes: int
    n_features: int


@functools.lru_cache(maxsize=4)
def _catalogs(root: str) -> Any:
    from precisionpain.catalog.catalogs import load_catalogs

    return load_catalogs(root)


def prepare_part(plan: TablePlan, partition: Any) -> PreparedPart:
    """On a worker: read, check, split and featurise one partition (see the module docstring)."""
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.evaluation import check_table, harm_arrays, outcome_arrays
    from precisionpain.models.outcomes import with_observed_harms
    from precisionpain.scale import datasets

    config = plan.config
    cats = _catalogs(plan.catalog_root)
    raw = datasets.read_partition(partition, plan.columns).to_pandas()
    raw[_ROW] = np.arange(partition.first_row, partition.first_row + len(raw), dtype=np.int64)
    frame = check_table(
        with_observed_harms(raw, config.harms, config.outcome.treatment_column),
        outcome=config.outcome,
        option_ids=plan.option_ids,
        known_option_ids=plan.known_option_ids,
        catalog=cats.features,
        tables=cats.tables,
        group_column=config.split.group_column,
        harms=config.harms,
    )
    rows = frame.pop(_ROW).to_numpy(dtype=np.int64)
    column = config.split.group_column
    ids = frame[column] if column is not None else pd.Series(rows)  # no patient column: each row a patient
    label = column or "row position"
    test = patient_split(ids, config.split.seed, config.split.test_fraction, label)
    fold = patient_folds(ids, config.seed, config.model.n_folds, label)
    sides = {}
    for name, mask in (("train", ~test), ("test", test)):
        side = frame.loc[mask].reset_index(drop=True)
        t, y = outcome_arrays(side, config.outcome, plan.option_ids)
        X = assemble_features(side, cats.features, cats.tables, validate=False).values
        sides[name] = (np.ascontiguousarray(X, dtype=np.float32), t, y, harm_arrays(side, config.harms))
    (X_tr, t_tr, y_tr, h_tr), (X_te, t_te, y_te, h_te) = sides["train"], sides["test"]
    return PreparedPart(
        partition.index,
        X_tr,
        t_tr,
        np.asarray(y_tr, dtype=np.float64),
        fold[~test],
        rows[~test],
        X_te,
        t_te,
        np.asarray(y_te, dtype=np.float64),
        rows[test],
        h_tr,
        h_te,
    )


def summarise_part(part: PreparedPart, option_ids: Sequence[str], n_folds: int, rows_read: int) -> PartSummary:
    """On a worker: the counts the driving process needs of a prepared partition."""
    labels = np.asarray(part.t_train, dtype=object).astype(str)
    fold_counts, positives = {}, {}
    for option in option_ids:
        mine = labels == option
        fold_counts[option] = tuple(int(c) for c in np.bincount(part.fold_train[mine], minlength=n_folds))
        positives[option] = float(part.y_train[mine].sum())
    return PartSummary(
        part.index,
        rows_read,
        int(part.y_train.shape[0]),
        int(part.y_test.shape[0]),
        fold_counts,
        positives,
        part.nbytes,
        int(part.X_train.shape[1]),
    )


def option_fold(part: PreparedPart, option: str, fold: int) -> tuple[np.ndarray, ...]:
    """On a worker: the training rows of ``option`` in ``fold``: features, outcome, weights (ones), positions."""
    mine = (np.asarray(part.t_train, dtype=object).astype(str) == option) & (part.fold_train == fold)
    y = part.y_train[mine]
    return part.X_train[mine], y, np.ones_like(y), part.rows_train[mine]


@dataclass(frozen=True)
class OptionFit:
    """One option's response boosters fitted from the workers' partitions: the K fold boosters cut at ``n_rounds``,
    the final booster on all the option's training rows, and per training row (in fold order, then partition
    order) its out-of-fold margin, its outcome and its position in the dataset."""

    option: str
    boosters: tuple[Any, ...]
    final: Any
    n_rounds: int
    fold_losses: tuple[float, ...]
    oof_margin: np.ndarray
    y: np.ndarray
    rows: np.ndarray


class WorkerTable:
    """A dataset prepared on the workers of ``client`` (see the module docstring); :meth:`prepare` makes one."""

    def __init__(self, client: Any, plan: TablePlan, parts: list[Any], summaries: list[PartSummary]) -> None:
        self.client = client
        self.plan = plan
        self.parts = parts  # futures of PreparedPart, one per partition, held by the workers
        self.summaries = summaries

    @classmethod
    def prepare(
        cls,
        client: Any,
        data: str | Path,
        config: TrainConfig,
        *,
        catalog_root: str | Path | None = None,
        partition_rows: int = DEFAULT_PARTITION_ROWS,
    ) -> WorkerTable:
        """Read, check, split and featurise every partition of ``data`` on the workers; keep the results there.
        Checks ``min_samples_per_option`` and the outcome classes of each option from the counts (one DataError
        listing every problem) before any booster is fitted."""
        from precisionpain.catalog.loader import resolve_root
        from precisionpain.models.config import check_options
        from precisionpain.scale import datasets

        cats = _catalogs(str(resolve_root(catalog_root)))
        option_ids = check_options(config, cats.options.ids)
        partitions, columns = datasets.list_partitions(data, partition_rows)
        plan = TablePlan(config, tuple(option_ids), tuple(cats.options.ids), str(cats.root), tuple(columns))
        parts = client.map(functools.partial(prepare_part, plan), partitions, pure=False)
        summaries = client.gather(
            [
                client.submit(summarise_part, part, plan.option_ids, config.model.n_folds, p.rows, pure=False)
                for part, p in zip(parts, partitions, strict=True)
            ]
        )
        table = cls(client, plan, parts, list(summaries))
        table.check_counts()  # on a refusal the futures go with the table: the workers drop the partitions
        return table

    # ------------------------------------------------------------------ counts

    @property
    def train_rows(self) -> int:
        return sum(s.train_rows for s in self.summaries)

    @property
    def test_rows(self) -> int:
        return sum(s.test_rows for s in self.summaries)

    @property
    def nbytes(self) -> int:
        """Bytes the workers hold for the prepared table (features and the arrays beside them)."""
        return sum(s.nbytes for s in self.summaries)

    def option_rows(self, option: str) -> int:
        return sum(sum(s.fold_counts[option]) for s in self.summaries)

    def check_counts(self) -> None:
        """``min_samples_per_option`` and (binary) both outcome classes per option, on the training rows, as
        ``train`` checks them (:func:`precisionpain.models.evaluation.option_count_violations`, given a stand-in of
        at most ``min_samples_per_option`` rows per option with the same counts and classes verdict)."""
        from precisionpain.models.evaluation import option_count_violations

        config = self.plan.config
        least = int(config.model.min_samples_per_option)
        labels: list[str] = []
        outcomes: list[float] = []
        for option in self.plan.option_ids:
            n = self.option_rows(option)
            positives = sum(s.positives[option] for s in self.summaries)
            shown = min(n, max(least, 2))
            y = np.zeros(shown)
            if positives >= n:
                y[:] = 1.0
            elif positives > 0 and shown:
                y[0] = 1.0
            labels += [option] * shown
            outcomes += y.tolist()
        DataError.raise_if_any(
            "training data",
            option_count_violations(
                np.asarray(labels, dtype=object),
                np.asarray(outcomes),
                self.plan.option_ids,
                least,
                config.outcome.objective,
            ),
        )

    # ------------------------------------------------------------------ one option's rows on the workers

    def option_pieces(self, option: str) -> tuple[list[Any], list[Any]]:
        """For each fold, the option's training rows as a piece of dask arrays over the partitions that have any
        (no data passes through this process), and the dask array of the rows' positions."""
        import dask
        import dask.array as da

        from precisionpain.scale.training import _Piece

        n_folds = int(self.plan.config.model.n_folds)
        pieces, positions = [], []
        for k in range(n_folds):
            xs, ys, ws, rs = [], [], [], []
            for part, summary in zip(self.parts, self.summaries, strict=True):
                n = summary.fold_counts[option][k]
                if n == 0:
                    continue
                cut = self.client.submit(option_fold, part, option, k, pure=False)
                n_features = summary.n_features
                got = [self.client.submit(operator.getitem, cut, i, pure=False) for i in range(4)]
                xs.append(da.from_delayed(dask.delayed(got[0]), shape=(n, n_features), dtype=np.float32))
                ys.append(da.from_delayed(dask.delayed(got[1]), shape=(n,), dtype=np.float64))
                ws.append(da.from_delayed(dask.delayed(got[2]), shape=(n,), dtype=np.float64))
                rs.append(da.from_delayed(dask.delayed(got[3]), shape=(n,), dtype=np.int64))
            if not xs:
                raise DataError(
                    "training data",
                    [
                        Violation(
                            "treatment",
                            f"option {option} has no training patient in fold {k} of {n_folds}",
                            "too few rows",
                        )
                    ],
                )
            count = sum(x.shape[0] for x in xs)
            pieces.append(
                _Piece(da.concatenate(xs), da.concatenate(ys), da.concatenate(ws), None, float(count))
            )
            positions.append(da.concatenate(rs))
        return pieces, positions

    def fit_option(
        self,
        boosting: DaskBoosting,
        option: str,
        params: dict[str, Any],
        *,
        max_rounds: int,
        patience: int,
        min_improvement: float = 1e-12,
    ) -> OptionFit:
        """Cross-fit ``option``'s response boosters from the workers' partitions (the local engine's stopping rule
        on the summed held-out loss), then its final booster on all of its training rows."""
        pieces, positions = self.option_pieces(option)
        with self.client.as_current():
            fitted = boosting.cross_fit_pieces(
                pieces, params, max_rounds=max_rounds, patience=patience, min_improvement=min_improvement
            )
            final = boosting.train_pieces(pieces, params, fitted.n_rounds)
        ys = self.client.compute([p.y for p in pieces], sync=True)
        rows = self.client.compute(positions, sync=True)
        return OptionFit(
            option,
            fitted.boosters,
            final,
            fitted.n_rounds,
            fitted.fold_losses,
            np.concatenate(fitted.fold_margins),
            np.concatenate(ys),
            np.concatenate(rows),
        )

    def release(self) -> None:
        """Let the workers drop the prepared partitions (once no other reference to their futures is left)."""
        self.parts = []
        self.summaries = []


def response_params(config: TrainConfig, option_index: int) -> dict[str, Any]:
    """The XGBoost parameters of the run's estimator (its own mapping of the config's settings), one thread, seeded
    per option from the run's seed."""
    from precisionpain.errors import ConfigError, Violation
    from precisionpain.models.estimator import TreatmentResponseModel

    if config.model.first_stage_features:  # fit_option fits the plain per-option booster only
        raise ConfigError(
            "training config",
            [Violation("model.first_stage_features", "must be empty for a table the workers read", "a list")],
        )
    estimator = TreatmentResponseModel(**config.model.estimator_params(config.outcome.objective, config.seed))
    rng = np.random.default_rng([config.seed, option_index])
    params: dict[str, Any] = estimator._params(nthread=1, seed=int(rng.integers(2**31 - 1)))
    return params


def response_rounds(config: TrainConfig) -> dict[str, int]:
    """The run's estimator's most boosting rounds and early-stopping patience, as :meth:`WorkerTable.fit_option`
    takes them."""
    from precisionpain.models.estimator import TreatmentResponseModel

    got = TreatmentResponseModel(**config.model.estimator_params(config.outcome.objective, config.seed)).get_params()
    return {"max_rounds": int(got["n_estimators"]), "patience": int(got["early_stopping_rounds"])}
