"""Strict training configs and checked training tables: one clear error listing every problem, raised before
anything is tracked or registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.errors import ConfigError, DataError
from tests.model.conftest import REPO, WEAK_MODEL, Store, config_dict, write_config


def test_the_committed_experiment_configs_load() -> None:
    from precisionpain.catalog.loader import load_treatment_options
    from precisionpain.models.config import load_train_config

    known = load_treatment_options(REPO).ids
    paths = sorted((REPO / "experiments").glob("*/config*.yaml"))
    assert len(paths) >= 4
    strategies = {load_train_config(p, known_options=known).model.strategy for p in paths}
    assert strategies == {"t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner", "auto"}


def test_bad_config_lists_every_problem_in_one_error(tmp_path: Path) -> None:
    from precisionpain.catalog.loader import load_treatment_options
    from precisionpain.models.config import load_train_config

    data = config_dict("pp-bad")
    data["optoins"] = ["codeine"]  # misspelt key
    data["seed"] = "seven"
    data["split"] = {"test_fraction": 1.5, "group_column": "patient_id"}
    data["model"] = {
        "strategy": "r_learner",
        "calibration": "platt",
        "xgboost": {"max_depth": 0, "learning_rate": 2.0, "objective": "reg:squarederror"},
        "interval": {"method": "jackknife", "alpha": 0.7},
    }
    data["evaluation"] = {"age_bands_years": [65, 40], "n_bootstrap": 3}
    data["outcome"] = {"column": "responded", "objective": "ordinal"}
    path = write_config(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_train_config(path, known_options=load_treatment_options(REPO).ids)
    paths = {v.path for v in err.value.violations}
    expected = {
        "optoins",
        "seed",
        "split.test_fraction",
        "model.strategy",
        "model.calibration",
        "model.xgboost.max_depth",
        "model.xgboost.learning_rate",
        "model.xgboost.objective",
        "model.interval.alpha",
        "evaluation.age_bands_years",
        "evaluation.n_bootstrap",
        "outcome.objective",
    }
    assert expected <= paths, expected - paths
    message = str(err.value)
    assert message.startswith(f"training config {path}: {len(err.value.violations)} problems")
    assert "unknown key" in message
    assert "seven" not in message  # the kind of value is named, never the value


def test_unknown_options_are_reported_with_the_other_problems(tmp_path: Path) -> None:
    from precisionpain.catalog.loader import load_treatment_options
    from precisionpain.models.config import load_train_config

    data = config_dict("pp-bad", options=["codeine", "aspirin", "homeopathy"])
    data["evaluation"] = {"reference_option": "aspirin"}
    data["model"] = {"xgboost": {"max_depth": -1}}
    with pytest.raises(ConfigError) as err:
        load_train_config(write_config(tmp_path / "bad.yaml", data), known_options=load_treatment_options(REPO).ids)
    by_path = {v.path: v.rule for v in err.value.violations}
    assert "aspirin, homeopathy" in by_path["options"]
    assert {"evaluation.reference_option", "model.xgboost.max_depth"} <= set(by_path)


def test_invalid_yaml_and_empty_config(tmp_path: Path) -> None:
    from precisionpain.models.config import load_train_config

    broken = tmp_path / "broken.yaml"
    broken.write_text("experiment: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_train_config(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="experiment"):
        load_train_config(empty)


@pytest.fixture(scope="module")
def cohort_frame(small_cohort_file: Path) -> pd.DataFrame:
    return pd.read_parquet(small_cohort_file)


def _train_on(frame: pd.DataFrame, tmp_path: Path, store: Store, make_config: Any, model_name: str) -> None:
    from precisionpain.models.training import train

    path = tmp_path / "data.parquet"
    frame.to_parquet(path, index=False)
    config, _ = make_config(model_name, WEAK_MODEL)
    train(path, config, **store.kwargs)


def test_bad_data_gives_one_data_error_and_touches_nothing(
    cohort_frame: pd.DataFrame, tmp_path: Path, store: Store, make_config: Any, model_name: str
) -> None:
    frame = cohort_frame.drop(columns=["age_years", "pain_type"]).copy()
    frame["assigned_option"] = frame["assigned_option"].astype(object)
    frame.loc[:2, "assigned_option"] = "aspirin"
    frame.loc[3, "assigned_option"] = None
    frame["responded"] = frame["responded"].astype(float)
    frame.loc[5:7, "responded"] = 2.0
    frame.loc[8, "responded"] = np.nan
    frame["baseline_nrs"] = frame["baseline_nrs"].astype(float)
    frame.loc[9, "baseline_nrs"] = 14.0  # outside 0-10
    with pytest.raises(DataError) as err:
        _train_on(frame, tmp_path, store, make_config, model_name)
    by_path: dict[str, list[str]] = {}
    for v in err.value.violations:
        by_path.setdefault(v.path, []).append(v.rule)
    assert set(by_path) >= {"age_years", "pain_type", "assigned_option", "responded", "baseline_nrs"}
    assert any("aspirin" in r for r in by_path["assigned_option"])
    assert any("no treatment" in r for r in by_path["assigned_option"])
    assert any("0 or 1" in r for r in by_path["responded"]) and any("no outcome" in r for r in by_path["responded"])
    assert str(err.value).startswith("training data: ")
    assert all("14.0" not in v.describe() and "aspirin" not in v.received for v in err.value.violations)
    registry = store.registry()
    assert registry.client.get_experiment_by_name(f"test-{model_name}") is None  # nothing was tracked
    assert registry.snapshot(model_name).versions == {}


def test_missing_outcome_and_patient_columns(
    cohort_frame: pd.DataFrame, tmp_path: Path, store: Store, make_config: Any, model_name: str
) -> None:
    frame = cohort_frame.drop(columns=["responded", "patient_id"])
    with pytest.raises(DataError) as err:
        _train_on(frame, tmp_path, store, make_config, model_name)
    assert {v.path for v in err.value.violations} == {"responded", "patient_id"}
    assert all(v.rule == "required column is absent" for v in err.value.violations)


def test_too_few_patients_for_an_option(
    cohort_frame: pd.DataFrame, tmp_path: Path, store: Store, make_config: Any, model_name: str
) -> None:
    frame = cohort_frame[cohort_frame["assigned_option"] != "carbamazepine"]
    extra = cohort_frame[cohort_frame["assigned_option"] == "carbamazepine"].iloc[:5]
    with pytest.raises(DataError, match=r"option carbamazepine has [0-9] training patient"):
        _train_on(pd.concat([frame, extra]), tmp_path, store, make_config, model_name)


def test_unreadable_files(tmp_path: Path, store: Store, make_config: Any, model_name: str) -> None:
    from precisionpain.models.training import train

    config, _ = make_config(model_name, WEAK_MODEL)
    with pytest.raises(DataError, match="file does not exist"):
        train(tmp_path / "nope.parquet", config, **store.kwargs)
    text = tmp_path / "cohort.txt"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"\.parquet or \.csv"):
        train(text, config, **store.kwargs)


def test_split_keeps_each_patient_on_one_side() -> None:
    from precisionpain.models.config import SplitConfig
    from precisionpain.models.evaluation import split_by_patient

    rng = np.random.default_rng(0)
    patients = rng.integers(0, 500, size=3000)
    frame = pd.DataFrame({"patient_id": [f"P{p}" for p in patients], "x": rng.normal(size=3000)})
    train_rows, test_rows = split_by_patient(frame, SplitConfig(test_fraction=0.25, seed=3))
    assert len(train_rows) + len(test_rows) == 3000 and not set(train_rows) & set(test_rows)
    train_ids = set(frame["patient_id"].iloc[train_rows])
    test_ids = set(frame["patient_id"].iloc[test_rows])
    assert not train_ids & test_ids
    assert 0.2 < len(test_ids) / (len(train_ids) + len(test_ids)) < 0.3
    again = split_by_patient(frame, SplitConfig(test_fraction=0.25, seed=3))
    assert np.array_equal(again[1], test_rows)
    with pytest.raises(DataError, match="group_column"):
        split_by_patient(frame.drop(columns=["patient_id"]), SplitConfig())


def test_first_stage_features_are_catalog_columns(
    cohort_file: Path, tmp_path: Path, store: Store, make_config: Any, model_name: str
) -> None:
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.models.training import train

    ids = load_feature_catalog(REPO).feature_ids
    config, _ = make_config(model_name, model={**WEAK_MODEL, "first_stage_features": [ids[3], ids[0]]})
    params = config.model.estimator_params("binary", 7, feature_ids=ids)
    assert params["first_stage_features"] == (3, 0) and params["first_stage_lambda"] == 20.0
    assert config.model.estimator_params("binary", 7)["first_stage_features"] == (ids[3], ids[0])
    # an id the catalog does not have is refused before anything is tracked, naming its place in the list
    config, path = make_config(model_name, model={**WEAK_MODEL, "first_stage_features": [ids[0], "no_such_feature"]})
    with pytest.raises(ConfigError) as err:
        train(cohort_file, config, config_path=path, **store.kwargs)
    assert [v.path for v in err.value.violations] == ["model.first_stage_features[1]"]
    assert "no_such_feature" not in str(err.value)
    assert store.registry().snapshot(model_name).versions == {}
