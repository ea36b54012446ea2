"""Fixtures for the model-pipeline tests: a small synthetic cohort file, one real MLflow store (SQLite file and
artifact folder in a temporary directory) shared by the session, and configs that train in seconds.

Each test that registers models uses its own registered-model name, so tests do not see each other's versions.
Training is real (few options, few thousand patients, few boosting rounds, one thread).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

REPO = Path(__file__).resolve().parents[2]

#: options the pipeline tests train (CYP2D6 drugs, an HLA-B drug, a gabapentinoid, an SNRI, a non-drug option)
OPTIONS = ("codeine", "tramadol", "carbamazepine", "pregabalin", "duloxetine", "physical_therapy")

#: a model that learns something on ~10,000 patients in about a second
#: the shipped spec's shape: every option's booster starts from a first stage on pain-condition features
FIRST_STAGE_FEATURES = ["pain_type_neuropathic", "pain_condition_trigeminal_neuralgia", "pain_condition_fibromyalgia"]
GOOD_MODEL: dict[str, Any] = {
    "strategy": "t_learner",
    "n_folds": 3,
    "n_jobs": 1,
    "xgboost": {"learning_rate": 0.1, "max_depth": 3, "n_estimators": 120, "early_stopping_rounds": 10},
    "first_stage_features": FIRST_STAGE_FEATURES,
}
#: a model that can learn nothing: one split of one tree with a tiny step (near-constant predictions)
WEAK_MODEL: dict[str, Any] = {
    "strategy": "t_learner",
    "n_folds": 3,
    "n_jobs": 1,
    "xgboost": {"learning_rate": 0.01, "max_depth": 1, "n_estimators": 1, "early_stopping_rounds": 1},
}
FAST_EVALUATION: dict[str, Any] = {"n_bootstrap": 20, "shap_sample_size": 60}


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_root: Path

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"tracking_uri": self.tracking_uri, "artifact_root": self.artifact_root}

    def registry(self) -> Any:
        from precisionpain.models.registry import Registry

        return Registry(self.tracking_uri, self.artifact_root)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    from precisionpain.models.registry import quiet_mlflow

    quiet_mlflow()
    home = tmp_path_factory.mktemp("mlflow-home")
    return Store(f"sqlite:///{home / 'mlflow.db'}", home / "mlartifacts")


def write_cohort_file(path: Path, n: int, seed: int) -> Path:
    """A synthetic cohort written as ``precisionpain cohort`` writes it (parquet with the generator's metadata)."""
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort, write_cohort

    cats = {"catalog": load_feature_catalog(REPO), "options": load_treatment_options(REPO), "tables": load_pgx_tables(REPO)}
    write_cohort(generate_cohort(n, seed, **cats), path, n=n, seed=seed, **cats)
    return path


@pytest.fixture(scope="session")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36,000 synthetic patients (about 10,000 received one of OPTIONS, 6 of the 28), with the true potential
    outcomes."""
    return write_cohort_file(tmp_path_factory.mktemp("cohort") / "cohort.parquet", 36_000, 22)


def reversed_outcomes(path: Path, out: Path) -> Path:
    """The same patients (same file metadata) with every outcome reversed: a model trained on it ranks the options
    backwards, which makes a champion that any reasonable model clearly beats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    frame = table.to_pandas()
    frame["responded"] = (1 - frame["responded"]).astype(frame["responded"].dtype)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata), out)
    return out


@pytest.fixture(scope="session")
def reversed_cohort_file(cohort_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cohort_file`` with every outcome reversed (see :func:`reversed_outcomes`)."""
    return reversed_outcomes(cohort_file, tmp_path_factory.mktemp("cohort-reversed") / "cohort.parquet")


@pytest.fixture(scope="session")
def small_cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 synthetic patients, for runs whose model quality does not matter."""
    return write_cohort_file(tmp_path_factory.mktemp("cohort-small") / "cohort.parquet", 6_000, 23)


def config_dict(name: str, model: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "experiment": f"test-{name}",
        "registered_model": name,
        "description": "pipeline test run",
        "options": list(OPTIONS),
        "seed": 7,
        "model": model or GOOD_MODEL,
        "evaluation": FAST_EVALUATION,
    }
    data.update(overrides)
    return data


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def model_name() -> str:
    return f"pp-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., tuple[Any, Path]]:
    """``make_config(name, model=..., **top_level_overrides)`` -> (TrainConfig, path of its YAML file)."""
    from precisionpain.models.config import load_train_config

    def make(name: str, model: dict[str, Any] | None = None, **overrides: Any) -> tuple[Any, Path]:
        path = write_config(tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.yaml", config_dict(name, model, **overrides))
        return load_train_config(path), path

    return make


@dataclass(frozen=True)
class History:
    """Three runs of one registered model on the same patients split the same way: a weak model trained on reversed
    outcomes (v1, ranks the options backwards), a good model (v2, clearly better), the weak model on the real
    outcomes (v3, no better than v2)."""

    name: str
    first: Any
    better: Any
    worse: Any
    config_path: Path


@pytest.fixture(scope="session")
def history(
    store: Store, cohort_file: Path, reversed_cohort_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> History:
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train

    folder = tmp_path_factory.mktemp("configs")
    name = "pp-history"
    weak = write_config(folder / "weak.yaml", config_dict(name, WEAK_MODEL))
    good = write_config(folder / "good.yaml", config_dict(name, GOOD_MODEL))
    runs = [
        train(data, load_train_config(path), config_path=path, **store.kwargs)
        for data, path in ((reversed_cohort_file, weak), (cohort_file, good), (cohort_file, weak))
    ]
    return History(name, runs[0], runs[1], runs[2], good)


def model_card_text(store: Store, run_id: str, folder: Path) -> str:
    """The model card a training run logged (downloaded into ``folder``)."""
    import mlflow

    card = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="model_card.md", tracking_uri=store.tracking_uri, dst_path=str(folder)
    )
    return Path(card).read_text()


def assert_pyfunc_scores_like_package(store: Store, model_uri: str, package: Any, cohort_path: Path) -> Any:
    """The registered pyfunc's response probabilities equal the package's on 40 cohort patients; returns their
    model input (n, p)."""
    import mlflow
    import numpy as np
    import pandas as pd

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns

    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    rows = pd.read_parquet(cohort_path).iloc[:40]
    rows = rows[[c for c in flat_columns(package.catalog) if c in rows.columns]].reset_index(drop=True)
    X = assemble_features(rows, package.catalog, package.tables).values
    want = package.estimator.predict_outcomes(X)
    got = pyfunc.predict(rows)[[f"p_response__{o}" for o in sorted(OPTIONS)]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
    return X
