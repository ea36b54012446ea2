"""The training table prepared on the Dask workers (precisionpain.scale.worker_table), on a real two-worker
``LocalCluster``: each partition of a partitioned cohort read, checked, split by patient and featurised where it
is, an option's boosters cross-fitted from those partitions, and the driving process holding counts only.

- The split and the folds are functions of the patient id: the same whichever partition (or process) holds a row.
- The workers' features, treatments, outcomes and row positions equal what this process computes from the whole
  table with the same split, exactly.
- One option's cross-fit from the workers' partitions matches the local engine's cross-fit of the same training
  rows in the same folds within the tolerances of tests/scale/test_train_engines.py: boosting rounds within
  25 %, out-of-fold margins correlated above 0.97, out-of-fold log loss within 0.01.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.model.conftest import GOOD_MODEL, config_dict, write_config

N_PATIENTS = 24_000
CHUNK = 6_000
PARTITION_ROWS = 2_500  # row groups of 6,000 cut in slices: partitions are not the part files


@pytest.fixture(scope="module")
def cohort_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A partitioned cohort (4 part files) whose response follows age clearly (so two fits can be compared)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.special import expit

    from precisionpain.scale.cohort import plan_cohort, write_cohort_part

    out = tmp_path_factory.mktemp("worker-table") / "cohort"
    plan = plan_cohort(N_PATIENTS, 31, CHUNK, str(out), None)
    for chunk in range(N_PATIENTS // CHUNK):
        path = Path(write_cohort_part(plan, chunk).uri)
        table = pq.read_table(path)
        age = table.column("age_years").to_numpy(zero_copy_only=False).astype(float)
        rng = np.random.default_rng([5, chunk])
        responded = (rng.random(age.shape[0]) < expit((age - 50.0) / 6.0)).astype(np.int64)
        column = table.schema.get_field_index("responded")
        field = table.schema.field(column)
        table = table.set_column(column, field, pa.array(responded, type=field.type))
        pq.write_table(table, path)
    return out


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from precisionpain.models.config import load_train_config

    path = tmp_path_factory.mktemp("worker-table-config") / "train.yaml"
    # the plain T-learner: a table the workers read is fitted without a first stage (refused with one)
    return load_train_config(
        write_config(path, config_dict("pp-worker-table", {**GOOD_MODEL, "first_stage_features": []}))
    )


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    from dask.distributed import Client

    with Client(cluster, set_as_default=False) as running:
        yield running


@pytest.fixture(scope="module")
def table(client: Any, cohort_folder: Path, config: Any) -> Iterator[Any]:
    from precisionpain.scale.worker_table import WorkerTable

    prepared = WorkerTable.prepare(client, cohort_folder, config, partition_rows=PARTITION_ROWS)
    yield prepared
    prepared.release()


@pytest.fixture(scope="module")
def local(cohort_folder: Path, config: Any) -> dict[str, Any]:
    """The whole table checked and featurised in this process, split with the same function of the patient id."""
    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.config import check_options
    from precisionpain.models.evaluation import check_table, outcome_arrays
    from precisionpain.models.outcomes import with_observed_harms
    from precisionpain.scale import datasets
    from precisionpain.scale.worker_table import patient_folds, patient_split

    cats = load_catalogs(None)
    options = check_options(config, cats.options.ids)
    raw = datasets.read_frame(cohort_folder)
    raw["position"] = np.arange(len(raw))
    frame = check_table(
        with_observed_harms(raw, config.harms, config.outcome.treatment_column),
        outcome=config.outcome, option_ids=options, known_option_ids=cats.options.ids, catalog=cats.features,
        tables=cats.tables, group_column="patient_id", harms=config.harms,
    )  # fmt: skip
    test = patient_split(frame["patient_id"], config.split.seed, config.split.test_fraction, "patient_id")
    fold = patient_folds(frame["patient_id"], config.seed, config.model.n_folds, "patient_id")
    train = frame.loc[~test].reset_index(drop=True)
    t, y = outcome_arrays(train, config.outcome, options)
    X = assemble_features(train, cats.features, cats.tables, validate=False).values
    return {
        "X": X.astype(np.float32), "t": np.asarray(t, dtype=object).astype(str), "y": np.asarray(y, dtype=float),
        "rows": train["position"].to_numpy(), "fold": fold[~test], "n_checked": len(frame), "n_test": int(test.sum()),
        "options": options,
    }  # fmt: skip


def test_split_and_folds_are_functions_of_the_patient_id() -> None:
    from precisionpain.errors import DataError
    from precisionpain.scale.worker_table import patient_folds, patient_split

    ids = pd.Series([f"P{i:07d}" for i in range(20_000)] + ["P0000003", "P0000004"])  # two patients twice
    whole = patient_split(ids, 11, 0.2, "patient_id")
    order = np.random.default_rng(0).permutation(len(ids))
    pieces = np.array_split(order, 3)  # other partitions, other order
    again = np.empty_like(whole)
    for piece in pieces:
        again[piece] = patient_split(ids.iloc[piece].reset_index(drop=True), 11, 0.2, "patient_id")
    np.testing.assert_array_equal(again, whole)
    assert whole[3] == whole[-2] and whole[4] == whole[-1]
    assert abs(whole.mean() - 0.2) < 0.015
    other_seed = patient_split(ids, 12, 0.2, "patient_id")
    assert 0.25 < (other_seed != whole).mean() < 0.40  # independent draws disagree on about 32 %
    folds = patient_folds(ids, 7, 3, "patient_id")
    assert set(np.unique(folds)) == {0, 1, 2}
    assert np.bincount(folds).min() > 0.3 * len(ids)
    assert np.array_equal(folds[order], patient_folds(ids.iloc[order].reset_index(drop=True), 7, 3, "patient_id"))
    # whole-number ids and their text are one patient
    assert np.array_equal(patient_split(pd.Series([17, 18]), 11, 0.5, "p"), patient_split(pd.Series(["17", "18"]), 11, 0.5, "p"))

    for bad, rule in ((None, "must not be missing"), ("x" * 300 + "-secret", "must be at most 256 characters")):
        with pytest.raises(DataError) as caught:
            patient_split(pd.Series(["P1", bad]), 11, 0.2, "patient_id")
        assert f"patient_id: {rule}" in str(caught.value)
        assert "secret" not in str(caught.value)


def test_the_workers_hold_the_features_this_process_would_assemble(table: Any, local: dict[str, Any]) -> None:
    from precisionpain.scale.worker_table import PreparedPart

    summaries = table.summaries
    assert len(summaries) == 12  # 4 part files of one row group of 6,000, each cut into 2,500 + 2,500 + 1,000
    assert table.train_rows + table.test_rows == local["n_checked"]
    assert table.test_rows == local["n_test"]
    # the driving process holds counts only: every field of a summary is a number or a dict of numbers
    for s in summaries:
        for value in vars(s).values():
            assert isinstance(value, int | dict), type(value)
    assert table.nbytes >= local["X"].nbytes

    parts: list[PreparedPart] = table.client.gather(table.parts)  # brought here for the comparison only
    X = np.concatenate([p.X_train for p in parts])
    np.testing.assert_array_equal(X, local["X"])  # NaN where the local features have NaN, the rest bit for bit
    np.testing.assert_array_equal(np.concatenate([p.rows_train for p in parts]), local["rows"])
    np.testing.assert_array_equal(np.concatenate([p.t_train for p in parts]).astype(str), local["t"])
    np.testing.assert_array_equal(np.concatenate([p.y_train for p in parts]), local["y"])
    np.testing.assert_array_equal(np.concatenate([p.fold_train for p in parts]), local["fold"])
    for option in local["options"]:
        mine = local["t"] == option
        assert table.option_rows(option) == int(mine.sum())
        assert sum(s.positives[option] for s in summaries) == local["y"][mine].sum()


def test_an_option_fitted_from_the_workers_partitions_matches_the_local_cross_fit(
    table: Any, local: dict[str, Any], config: Any
) -> None:
    from scipy.special import expit

    from precisionpain.models import boosting
    from precisionpain.scale.training import DaskBoosting
    from precisionpain.scale.worker_table import response_params, response_rounds

    counts = {o: int((local["t"] == o).sum()) for o in local["options"]}
    option = max(counts, key=lambda o: counts[o])
    assert counts[option] > 1_000
    params = response_params(config, local["options"].index(option))
    rounds = response_rounds(config)
    assert rounds == {"max_rounds": 120, "patience": 10}  # GOOD_MODEL's

    engine = DaskBoosting(table.client)
    fit = table.fit_option(engine, option, params, **rounds)
    assert engine.boosters_trained == config.model.n_folds + 1
    assert len(fit.boosters) == config.model.n_folds
    assert all(b.num_boosted_rounds() == fit.n_rounds for b in (*fit.boosters, fit.final))

    mine = local["t"] == option
    X, y, rows = local["X"][mine], local["y"][mine], local["rows"][mine]
    # the same rows in the same folds (each patient's, from its id), fitted by the local engine's cross-fit
    reference = boosting.cross_fit(X, y, np.ones_like(y), local["fold"][mine], params, **rounds)

    order = np.argsort(fit.rows)
    np.testing.assert_array_equal(fit.rows[order], rows)  # every training row of the option, once
    np.testing.assert_array_equal(fit.y[order], y)
    oof = fit.oof_margin[order]
    assert abs(fit.n_rounds - reference.n_rounds) <= 0.25 * reference.n_rounds
    assert np.corrcoef(oof, reference.oof_margin)[0, 1] > 0.97

    def log_loss(margin: np.ndarray) -> float:
        p = np.clip(expit(margin), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert abs(log_loss(oof) - log_loss(reference.oof_margin)) < 0.01
    assert log_loss(oof) < 0.6  # the age signal was learnt


def test_too_few_patients_of_an_option_is_refused_before_any_fitting(
    client: Any, cohort_folder: Path, tmp_path: Path
) -> None:
    from precisionpain.errors import DataError
    from precisionpain.models.config import load_train_config
    from precisionpain.scale.worker_table import WorkerTable

    model = {**GOOD_MODEL, "min_samples_per_option": 5_000}
    config = load_train_config(write_config(tmp_path / "train.yaml", config_dict("pp-worker-table-few", model)))
    with pytest.raises(DataError) as caught:
        WorkerTable.prepare(client, cohort_folder, config, partition_rows=PARTITION_ROWS)
    assert "training patient(s); min_samples_per_option is 5000" in str(caught.value)


def test_a_first_stage_is_refused_for_a_table_the_workers_read(tmp_path: Path) -> None:
    from precisionpain.errors import ConfigError
    from precisionpain.models.config import load_train_config
    from precisionpain.scale.worker_table import response_params

    config = load_train_config(write_config(tmp_path / "first.yaml", config_dict("pp-worker-table-first", GOOD_MODEL)))
    assert config.model.first_stage_features
    with pytest.raises(ConfigError) as err:
        response_params(config, 0)
    assert [v.path for v in err.value.violations] == ["model.first_stage_features"]
