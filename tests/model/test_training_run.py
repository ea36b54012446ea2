"""What one training run leaves in MLflow: params, metrics, tags, config, catalog files with sha256, plots, the
model card, and ONE pyfunc model for the whole option set that predicts what the package's estimator predicts."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.model.conftest import OPTIONS, REPO, History, Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MITCHELL_SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)


@pytest.fixture(scope="module")
def run(history: History, store: Store) -> Any:
    return store.registry().client.get_run(history.better.run_id)


@pytest.fixture(scope="module")
def artifacts(history: History, store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow.artifacts import download_artifacts

    target = tmp_path_factory.mktemp("run-artifacts")
    return Path(
        download_artifacts(run_id=history.better.run_id, dst_path=str(target), tracking_uri=store.tracking_uri)
    )


def test_params_record_the_data_split_and_the_config(run: Any, cohort_file: Path) -> None:
    params = run.data.params
    frame = pd.read_parquet(cohort_file)
    kept = int(frame["assigned_option"].isin(OPTIONS).sum())
    assert int(params["n_rows"]) == kept
    assert int(params["n_train"]) + int(params["n_test"]) == kept
    assert 0.15 < int(params["n_test"]) / kept < 0.25  # test_fraction 0.2 of the patients
    assert params["options"].split(",") == list(OPTIONS)
    assert params["config.model.strategy"] == "t_learner"
    assert params["config.model.xgboost.max_depth"] == "3"
    assert params["config.outcome.column"] == "responded"
    assert params["config.split.group_column"] == "patient_id"
    assert params["seed"] == "7"


def test_metrics_per_option_policy_oracle_and_subgroups(run: Any) -> None:
    m = run.data.metrics
    n_test = int(run.data.params["n_test"])
    assert sum(m[f"option.{o}.n"] for o in OPTIONS) == n_test
    for o in OPTIONS:
        assert 0.4 < m[f"option.{o}.auc"] < 1.0
        assert 0.0 < m[f"option.{o}.brier"] < 0.3
        assert m[f"option.{o}.log_loss"] > m[f"option.{o}.brier"]
        assert 0.0 <= m[f"option.{o}.ece"] < 0.5
        assert 0.0 <= m[f"option.{o}.ece_true"] < 0.5
        assert 0.0 < m[f"option.{o}.ece_noise_floor"] < 0.2
        assert 0.0 < m[f"option.{o}.ece_true_floor"] < 0.2
    floors = [m[f"option.{o}.ece_true_floor"] for o in OPTIONS]
    assert m["ece_true_floor_max"] == max(floors)
    assert m["ece_true_floor_mean"] == pytest.approx(np.mean(floors))
    own = [m[f"option.{o}.ece_true"] for o in OPTIONS]
    assert m["ece_true_max"] == max(own) and m["ece_true_mean"] == pytest.approx(np.mean(own))
    assert min(own) < m["ece_true_mean"] < max(own)
    for key in ("policy.policy.dr", "policy.policy.ipw", "policy.best_single.dr", "policy.observed"):
        assert m[f"{key}.ci_low"] <= m[f"{key}.estimate"] <= m[f"{key}.ci_high"], key
    assert 0.0 < m["policy.policy.dr.estimate"] < 1.0
    # the synthetic truth: regret, top-1 agreement, Kendall tau, sqrt-PEHE per option against the reference
    assert 0.0 <= m["regret"] <= m["regret_observed_policy"] + 0.1
    assert 0.0 <= m["top1_agreement"] <= 1.0 and -1.0 <= m["kendall_tau"] <= 1.0
    pehe = {k.rsplit(".", 1)[1] for k in m if k.startswith("oracle.sqrt_pehe.")}
    assert len(pehe) == len(OPTIONS) - 1
    assert 0.0 <= m["interval_coverage"] <= 1.0
    for factor in ("sex", "biogeographic_group", "age_band"):
        groups = {k.split(".")[3] for k in m if k.startswith(f"subgroup.{factor}.groups.")}
        assert len(groups) >= 2, factor
        aucs = [m[f"subgroup.{factor}.groups.{g}.auc"] for g in groups if f"subgroup.{factor}.groups.{g}.auc" in m]
        assert m[f"subgroup.{factor}.auc_gap"] <= max(aucs) - min(aucs) + 1e-12
        assert f"subgroup.{factor}.ece_gap" in m
    assert m["fit_seconds"] > 0 and m["pipeline_seconds"] >= m["fit_seconds"]
    assert 0.0 <= m["overlap.share_outside_overlap"] <= 1.0


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_tags_identify_data_code_and_catalog(run: Any, cohort_file: Path) -> None:
    tags = run.data.tags
    frame = pd.read_parquet(cohort_file)
    digest = hashlib.sha256(cohort_file.read_bytes())
    digest.update(f"{frame.shape[0]}x{frame.shape[1]}".encode())
    assert tags["precisionpain.data_fingerprint"] == digest.hexdigest()
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    assert tags["precisionpain.git_commit"] == _git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    assert tags["precisionpain.run_kind"] == "training"
    assert tags["precisionpain.model_version"] == "2"
    from precisionpain.catalog.loader import load_feature_catalog

    assert tags["precisionpain.catalog_sha256"] == load_feature_catalog(REPO).sha256


def test_config_and_catalog_files_with_their_sha256(artifacts: Path, history: History) -> None:
    logged = json.loads((artifacts / "config" / "config.json").read_text())
    assert logged["registered_model"] == history.name and list(logged["options"]) == list(OPTIONS)
    assert (artifacts / "config" / history.config_path.name).read_text() == history.config_path.read_text()
    sums = json.loads((artifacts / "catalog" / "sha256.json").read_text())["files"]
    assert "models/treatment_options.yaml" in sums and "features/catalog.yaml" in sums
    assert any(rel.startswith("features/pgx/") for rel in sums)
    for rel, digest in sums.items():
        assert hashlib.sha256((REPO / rel).read_bytes()).hexdigest() == digest, rel
        assert (artifacts / "catalog" / rel).read_bytes() == (REPO / rel).read_bytes(), rel


def test_plots_calibration_and_shap_per_option(artifacts: Path) -> None:
    pngs = [artifacts / "plots" / "calibration.png"]
    pngs += [artifacts / "plots" / "shap" / f"{o}_{kind}.png" for o in OPTIONS for kind in ("bar", "beeswarm")]
    for path in pngs:
        assert path.read_bytes()[:8] == PNG_MAGIC, path.name
    shap_summary = json.loads((artifacts / "evaluation" / "shap_mean_abs.json").read_text())
    assert set(shap_summary) == set(OPTIONS)


def test_model_card_has_every_section_filled_from_the_run(artifacts: Path, run: Any) -> None:
    card = (artifacts / "model_card.md").read_text()
    headings = [line.removeprefix("## ").strip() for line in card.splitlines() if line.startswith("## ")]
    assert headings == list(MITCHELL_SECTIONS)
    assert run.info.run_id in card
    for o in OPTIONS:
        assert f"| {o} |" in card
    assert f"{run.data.metrics['policy.policy.dr.estimate']:.3f}" in card
    assert f"{int(run.data.params['n_test']):,}" in card


def test_decision_is_logged(artifacts: Path, run: Any) -> None:
    decision, rule = (artifacts / "promotion.txt").read_text().strip().split("\n")
    assert decision == run.data.tags["precisionpain.promotion.decision"]
    assert rule == run.data.tags["precisionpain.promotion.rule"]
    assert decision.startswith("v2 becomes champion")


def test_the_training_patients_are_recorded_without_their_ids(artifacts: Path, cohort_file: Path) -> None:
    from precisionpain.models.promotion import TrainingPatients

    record = TrainingPatients.read(artifacts / "data")
    assert record is not None and record.group_column == "patient_id"
    assert record.namespace.startswith("synthetic cohort seed 22, generator parameters ")
    frame = pd.read_parquet(cohort_file)
    ids = frame.loc[frame["assigned_option"].isin(OPTIONS), "patient_id"].tolist()
    held_out = math.ceil(0.2 * len(ids))  # GroupShuffleSplit rounds the test share up
    assert record.count_seen(ids, record.namespace) == record.digests.size == len(ids) - held_out
    assert not any(i.encode() in (artifacts / "data" / name).read_bytes() for i in ids[:50] for name in
                   ("training_patients.json", "training_patients.npy"))


def test_one_pyfunc_model_with_signature_and_example_predicts_like_the_package(
    history: History, store: Store, cohort_file: Path, tmp_path: Path
) -> None:
    import mlflow
    from mlflow.models import Model

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.training import load_registered

    uri = f"models:/{history.name}/{history.better.version}"
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    info = Model.load(uri)
    assert info.signature is not None and info.saved_input_example_info is not None
    outputs = [c.name for c in info.signature.outputs.inputs]
    assert outputs == [f"p_response__{o}" for o in sorted(OPTIONS)]
    example = info.load_input_example(mlflow.artifacts.download_artifacts(uri, tracking_uri=store.tracking_uri))
    assert example is not None and len(example) == 1

    assert info.signature.inputs is None  # the pyfunc checks its input against the catalog itself
    rows = pd.read_parquet(cohort_file).iloc[:300]
    _, pkg = load_registered(store.registry(), uri, tmp_path)
    inputs = rows[[c for c in flat_columns(pkg.catalog) if c in rows.columns]]
    scored = mlflow.pyfunc.load_model(uri).predict(inputs)
    want = pkg.estimator.predict_outcomes(assemble_features(rows, pkg.catalog, pkg.tables).values)
    assert list(scored.columns) == outputs
    np.testing.assert_allclose(scored.to_numpy(), want, rtol=0, atol=1e-12)
    assert tuple(pkg.metadata.option_ids) == tuple(sorted(OPTIONS))
    assert pkg.metadata.run_id == history.better.run_id


def test_registered_version_points_at_the_run(history: History, store: Store) -> None:
    client = store.registry().client
    mv = client.get_model_version(history.name, history.better.version)
    assert mv.run_id == history.better.run_id
    assert mv.tags["data_fingerprint"] and float(mv.tags["dr_policy_value"]) == pytest.approx(
        history.better.headline["dr_policy_value"]
    )


def test_the_package_manifest_sha256_is_recorded_on_the_version_and_the_run(
    history: History, store: Store, run: Any, tmp_path: Path
) -> None:
    from precisionpain.errors import ModelError
    from precisionpain.models.package import MANIFEST_FILE, find_package_root, read_package, seal_package
    from precisionpain.models.training import load_registered
    from tests.unit.models.test_package_integrity import swap_two_option_ids

    registry = store.registry()
    uri = f"models:/{history.name}/{history.better.version}"
    version, pkg = load_registered(registry, uri, tmp_path / "a")
    recorded = version.tags["package_manifest_sha256"]
    assert hashlib.sha256((pkg.path / MANIFEST_FILE).read_bytes()).hexdigest() == recorded == pkg.manifest_sha256
    assert run.data.tags["precisionpain.package_manifest_sha256"] == recorded
    # files and manifest rewritten together: consistent in itself, refused against the record, which the
    # pyfunc's model config carries too
    downloaded = registry.download(version, tmp_path / "b")
    swap_two_option_ids(find_package_root(downloaded))
    seal_package(find_package_root(downloaded))
    read_package(downloaded)
    with pytest.raises(ModelError, match="does not match the sha256 recorded"):
        read_package(downloaded, expected_manifest_sha256=recorded)
    import mlflow

    with pytest.raises(ModelError, match="does not match the sha256 recorded"):
        mlflow.pyfunc.load_model(str(downloaded))
