"""``precisionpain train --engine dask``: every booster trained by ``xgboost.dask`` on a real ``dask.distributed``
cluster of two worker processes on 127.0.0.1, everything else as the local engine does it.

Distributed histogram building and row sampling (each worker samples its own rows) give other trees than the local
engine, about as different as another seed would, so results are compared within tolerances, not exactly:

- one cross-fit on data with a clear signal: the same number of boosting rounds within 25 %, out-of-fold margins
  correlated above 0.97, out-of-fold log loss within 0.01;
- the whole pipeline on the 36,000-patient test cohort (models that learn little, so per-option AUC moves by up to
  0.1 between any two fits): the same run (metric names, artifact paths, registered version with its package),
  and held-out Brier score within 0.003, log loss within 0.005, mean AUC within 0.05, regret against the true
  outcomes within 0.02, and 95 % intervals of the DR policy value that overlap (its estimate moved by up to 0.05
  between runs of the dask engine: which option a near-chance model ranks first flips with small changes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.model.conftest import GOOD_MODEL, Store, cohort_file, config_dict, store, write_config

__all__ = ["cohort_file", "store"]  # session fixtures shared with tests/model

TOLERANCES = {
    "brier_mean": 0.003,
    "log_loss_mean": 0.005,
    "auc_mean": 0.05,
    "regret": 0.02,
}


def test_cross_fit_on_the_cluster_matches_the_local_cross_fit(cluster: Any) -> None:
    from dask.distributed import Client
    from scipy.special import expit

    from precisionpain.models import boosting
    from precisionpain.scale.training import boosting_on

    rng = np.random.default_rng(3)
    X = rng.normal(size=(6_000, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (rng.random(6_000) < expit(1.5 * np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) ** 2 + 0.5)).astype(float)
    w = np.ones(6_000)
    fold = boosting.make_folds(y.astype(np.int64), 4, np.random.default_rng(1))
    params = boosting.booster_params(
        objective="binary", learning_rate=0.1, max_depth=3, min_child_weight=1.0, subsample=0.8,
        colsample_bytree=1.0, reg_lambda=1.0, tree_method="hist", max_bin=64, nthread=1, seed=5, extra=None,
    )  # fmt: skip
    local = boosting.cross_fit(X, y, w, fold, params, max_rounds=400, patience=20)
    with Client(cluster, set_as_default=False) as client, boosting_on(client) as engine:
        assert boosting.cross_fit == engine.cross_fit  # the estimator's calls now reach the cluster
        remote = boosting.cross_fit(X, y, w, fold, params, max_rounds=400, patience=20)
        final = boosting.train(X, y, w, params, remote.n_rounds)
    assert engine.boosters_trained == 5
    assert boosting.cross_fit.__module__ == "precisionpain.models.boosting"  # put back after the block
    assert len(remote.boosters) == 4 and all(b.num_boosted_rounds() == remote.n_rounds for b in remote.boosters)
    assert final.num_boosted_rounds() == remote.n_rounds
    assert abs(remote.n_rounds - local.n_rounds) <= 0.25 * local.n_rounds
    assert np.corrcoef(remote.oof_margin, local.oof_margin)[0, 1] > 0.97

    def log_loss(margin: np.ndarray) -> float:
        p = np.clip(expit(margin), 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert abs(log_loss(remote.oof_margin) - log_loss(local.oof_margin)) < 0.01
    # each fold's held-out loss at the round kept, as the local engine reports it (tuning compares settings by it)
    assert len(remote.fold_losses) == 4
    np.testing.assert_allclose(remote.fold_losses, local.fold_losses, rtol=0.05)


def _run(tracking_uri: str, run_id: str) -> tuple[dict[str, float], set[str]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    metrics = client.get_run(run_id).data.metrics
    paths: set[str] = set()
    todo = [""]
    while todo:
        for item in client.list_artifacts(run_id, todo.pop() or None):
            (todo.append(item.path) if item.is_dir else paths.add(item.path))
    return metrics, paths


@pytest.mark.slow
def test_train_on_the_dask_engine_gives_the_same_run_within_tolerance(
    cluster: Any, store: Store, cohort_file: Path, tmp_path: Path
) -> None:
    from precisionpain.cli import app
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import load_registered, train

    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local_config = write_config(tmp_path / "local" / "config.yaml", config_dict("pp-engine-local", GOOD_MODEL))
    dask_config = write_config(tmp_path / "dask" / "config.yaml", config_dict("pp-engine-dask", GOOD_MODEL))
    local = train(cohort_file, load_train_config(local_config), config_path=local_config, **store.kwargs)
    result = CliRunner().invoke(
        app,
        [
            "train", "--data", str(cohort_file), "--config", str(dask_config), "--engine", "dask",
            "--scheduler", cluster.scheduler_address, "--tracking-uri", store.tracking_uri,
            "--home", str(store.artifact_root.parent),
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = re.search(r"trained (\d+) boosters with xgboost.dask on the Dask scheduler given", result.output)
    assert trained is not None, result.output
    registry = store.registry()
    version = registry.version_by_alias("pp-engine-dask", "champion")
    assert version is not None and version.version == "1"

    local_metrics, local_paths = _run(store.tracking_uri, local.run_id)
    dask_metrics, dask_paths = _run(store.tracking_uri, version.run_id)
    assert set(dask_metrics) == set(local_metrics)
    assert dask_paths == local_paths
    for name, tolerance in TOLERANCES.items():
        assert abs(dask_metrics[name] - local_metrics[name]) <= tolerance, (name, dask_metrics[name], local_metrics[name])
    # the policy value of near-chance models moves with any change of trees: the two 95 % intervals overlap
    assert dask_metrics["dr_policy_value_ci_low"] <= local_metrics["dr_policy_value_ci_high"]
    assert local_metrics["dr_policy_value_ci_low"] <= dask_metrics["dr_policy_value_ci_high"]

    ours, theirs = (
        load_registered(registry, f"models:/{n}/1", tmp_path / "packages" / n)[1] for n in ("pp-engine-dask", "pp-engine-local")
    )
    assert type(ours.estimator) is type(theirs.estimator)
    # per option: the first stage's 3 fold boosters, its booster on all patients where it is kept, and the
    # correction's 3 folds and final booster
    fits = ours.estimator.option_fits_.values()
    kept = sum(1 for f in fits if f.first_stage_rounds)
    assert all(f.first_stage_rounds is not None for f in fits)
    assert int(trained.group(1)) == 6 * (3 + 3 + 1) + kept
    assert ours.estimator.options_ == theirs.estimator.options_
    assert ours.estimator.get_params() == theirs.estimator.get_params()


def test_rounds_kept_on_the_cluster_follow_the_minimum_improvement() -> None:
    """A noise-free target (the X-learner's distillation) improves by ever smaller amounts: with a minimum relative
    improvement the rounds stop where the local engine's would, not at the last round."""
    from precisionpain.scale.training import _best_rounds

    total = 1.0 + 1.0 / np.arange(1, 301)  # keeps falling: by about 10 / i**2 over the 10 rounds after round i
    curves = [total / 2, total / 2]
    assert _best_rounds(curves, patience=10) == 300
    kept = _best_rounds(curves, patience=10, min_improvement=1e-3)
    assert 80 < kept < 130  # 10 rounds stop gaining 0.1% near round 100
