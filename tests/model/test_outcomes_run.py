"""One training run with the harm outcomes of the shipped spec (real MLflow store): every option gets a calibrated
model per outcome in the same run, evaluated per option (discrimination and calibration), logged, in the package,
the model card, and the ONE pyfunc, whose signature lists every outcome's column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.model.conftest import FIRST_STAGE_FEATURES, OPTIONS, REPO, Store

HARMS = ("adverse_event", "dropout")


def _shipped_harms() -> list[dict[str, Any]]:
    import yaml

    spec = yaml.safe_load((REPO / "models" / "response_model.yaml").read_text())
    return list(spec["harms"])


@pytest.fixture(scope="module")
def trained(store: Store, cohort_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train
    from tests.model.conftest import config_dict, write_config

    name = "pp-outcomes"
    path = write_config(
        tmp_path_factory.mktemp("outcomes-config") / "config.yaml", config_dict(name, harms=_shipped_harms())
    )
    return train(cohort_file, load_train_config(path), config_path=path, **store.kwargs)


def test_each_outcome_is_evaluated_per_option(trained: Any) -> None:
    evaluation = trained.evaluation
    assert tuple(evaluation.harms) == HARMS
    for name in HARMS:
        harm = evaluation.harms[name]
        assert [o.option_id for o in harm.per_option] == sorted(OPTIONS)  # the estimator's order
        assert sum(o.metrics.n for o in harm.per_option) == evaluation.n_test
        for o in harm.per_option:
            assert 0.0 <= o.metrics.ece < 0.3 and 0.0 < o.metrics.brier < 0.3
            assert o.ece_true_all is not None and o.ece_true_all < 0.15  # against the cohort's true probabilities
            # on the option's own patients, beside what scatter alone gives an exactly right model (0 where the
            # truth does not scatter: an option whose harm is never simulated)
            assert o.ece_true is not None and o.ece_true_floor is not None and 0.0 <= o.ece_true_floor < 0.2
        assert any((o.ece_true_floor or 0.0) > 0.0 for o in harm.per_option)
        assert harm.interval_coverage is not None and 0.0 < harm.interval_coverage <= 1.0
        assert evaluation.headline[f"{name}_ece_max"] == max(o.metrics.ece for o in harm.per_option)
        assert harm.headline["ece_true_max"] == max(o.ece_true or 0.0 for o in harm.per_option)
        assert harm.headline["ece_true_floor_max"] == max(o.ece_true_floor or 0.0 for o in harm.per_option)
        assert harm.headline["ece_true_mean"] == pytest.approx(np.mean([o.ece_true for o in harm.per_option]))
        assert harm.headline["ece_true_floor_mean"] == pytest.approx(
            np.mean([o.ece_true_floor for o in harm.per_option])
        )
    # dropout is common enough on every option to be discriminated better than chance on average
    assert evaluation.harms["dropout"].headline["auc_mean"] > 0.5


def test_every_run_reports_interval_coverage_of_both_targets(trained: Any) -> None:
    """The interval estimates the expected probability given the recorded inputs; each patient's own true
    probability also carries unrecorded effects. Both coverages are reported for every outcome, the first (the
    interval's own target) well above the second."""
    evaluation = trained.evaluation
    results = [evaluation, *evaluation.harms.values()]
    for result in results:
        assert result.interval_coverage is not None and result.interval_coverage_expected is not None
        assert 0.0 < result.interval_coverage < result.interval_coverage_expected <= 1.0
    assert set(evaluation.interval_coverage_expected_per_option) == set(OPTIONS)
    assert evaluation.headline["interval_coverage_expected"] == evaluation.interval_coverage_expected
    for name in HARMS:
        assert evaluation.headline[f"{name}_interval_coverage_expected"] == evaluation.harms[name].interval_coverage_expected


def test_the_run_logs_every_outcome(trained: Any, store: Store, tmp_path: Path) -> None:
    from mlflow.artifacts import download_artifacts

    run = store.registry().client.get_run(trained.run_id)
    metrics = run.data.metrics
    for name in HARMS:
        for o in OPTIONS:
            assert f"{name}.option.{o}.ece" in metrics and f"{name}.option.{o}.n" in metrics
            assert f"{name}.option.{o}.ece_true" in metrics and f"{name}.option.{o}.ece_true_floor" in metrics
        assert f"{name}_auc_mean" in metrics and f"{name}_interval_coverage_expected" in metrics
        assert f"{name}.option.codeine.interval_coverage_expected" in metrics
    folder = Path(download_artifacts(run_id=trained.run_id, dst_path=str(tmp_path), tracking_uri=store.tracking_uri))
    for name in HARMS:
        assert (folder / "fit" / f"{name}.json").is_file()
        assert (folder / "plots" / name / "calibration.png").is_file()
        assert (folder / "evaluation" / f"shap_mean_abs_{name}.json").is_file()
    card = (folder / "model_card.md").read_text()
    assert "Harm outcome `adverse_event`" in card and "Harm outcome `dropout`" in card
    assert f"first stage on {len(FIRST_STAGE_FEATURES)} features alone ({', '.join(FIRST_STAGE_FEATURES)};" in card


def test_the_package_and_the_pyfunc_hold_every_outcome(
    trained: Any, store: Store, cohort_file: Path, tmp_path: Path
) -> None:
    import mlflow

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.training import load_registered

    _, pkg = load_registered(store.registry(), trained.model_uri, tmp_path / "package")
    assert pkg.metadata.outcomes == ("response", *HARMS) and tuple(pkg.harms) == HARMS
    # the config's first-stage features, as positions of the catalog's columns, for the response and every harm
    columns = [pkg.catalog.feature_ids.index(f) for f in FIRST_STAGE_FEATURES]
    for estimator in (pkg.estimator, *pkg.harms.values()):
        assert list(estimator.first_stage_features) == columns
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    model = mlflow.pyfunc.load_model(trained.model_uri)
    outputs = [c.name for c in model.metadata.get_output_schema().inputs]
    assert outputs == [f"p_{o}__{opt}" for o in ("response", *HARMS) for opt in sorted(OPTIONS)]
    rows = pd.read_parquet(cohort_file).iloc[:50]
    rows = rows[[c for c in flat_columns(pkg.catalog) if c in rows.columns]].reset_index(drop=True)
    got = model.predict(rows)
    X = assemble_features(rows, pkg.catalog, pkg.tables).values
    for name in HARMS:
        want = pkg.harms[name].predict_outcomes(X)
        np.testing.assert_allclose(got[[f"p_{name}__{o}" for o in sorted(OPTIONS)]].to_numpy(), want, atol=1e-12)


def test_the_run_evaluates_the_final_ranking_on_the_true_net_benefit(trained: Any, store: Store) -> None:
    bh = trained.evaluation.benefit_harm
    assert bh is not None and bh.adverse_event_weight == 0.5
    assert set(bh.policies) == {
        "tier_then_net_benefit", "net_benefit_only", "response_only", "guideline_first_line_for_all",
        "guideline_first_line_any",
    }
    assert sum(t.n for t in bh.by_table.values()) == bh.overall.n == trained.evaluation.n_test
    for found in (bh.overall, *bh.by_table.values()):
        assert all(v >= -1e-12 for v in found.regret.values())
    assert 0.0 <= bh.probability_best.ece < 0.5 and 0.0 < bh.best_in_first_group <= 1.0
    metrics = store.registry().client.get_run(trained.run_id).data.metrics
    for policy in bh.policies:
        assert metrics[f"net_benefit_regret_{policy}"] == pytest.approx(bh.overall.regret[policy])
    assert "probability_best_ece" in metrics and "probability_best_ece_expected" in metrics
    assert bh.probability_best_expected is not None
