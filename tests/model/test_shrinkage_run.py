"""A training run with ``model.shrinkage: auto`` (real MLflow store): lambda and its criterion are logged, the model
card says what was shrunk and how explanations follow, the harm model is shrunk too, and the registered pyfunc
scores like the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.model.conftest import GOOD_MODEL, OPTIONS, Store


def test_a_shrunk_run_logs_lambda_and_the_card_and_package_follow_it(
    store: Store,
    small_cohort_file: Path,
    make_config: Callable[..., tuple[Any, Path]],
    model_name: str,
    tmp_path: Path,
) -> None:
    import mlflow

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.shrinkage import LAMBDA_GRID
    from precisionpain.models.training import load_registered, train

    config, path = make_config(
        model_name,
        model={**GOOD_MODEL, "shrinkage": "auto"},
        harms=[
            {"name": "adverse_event", "column": "adverse_event", "factual_prefix": "true_adverse_event__"}
        ],
    )
    result = train(small_cohort_file, config, config_path=path, **store.kwargs)
    run = store.registry().client.get_run(result.run_id)
    lam = run.data.metrics["shrinkage_lambda"]
    assert lam in LAMBDA_GRID
    losses = {k: v for k, v in run.data.metrics.items() if k.startswith("shrinkage_loss.")}
    assert len(losses) == len(LAMBDA_GRID)
    # the smallest lambda within one standard error of the least loss (choose_lambda): never above the least's
    least = min(losses, key=lambda k: losses[k])
    assert lam <= float(least.removeprefix("shrinkage_loss.")) + 1e-9

    _, pkg = load_registered(store.registry(), result.model_uri, tmp_path / "package")
    assert pkg.metadata.strategy == "t_learner"
    assert pkg.estimator.get_params()["shrinkage"] == "auto"
    assert pkg.harms["adverse_event"].get_params()["shrinkage"] == "auto"
    card = mlflow.artifacts.download_artifacts(
        run_id=result.run_id,
        artifact_path="model_card.md",
        tracking_uri=store.tracking_uri,
        dst_path=str(tmp_path),
    )
    text = Path(card).read_text()
    assert "shrunk towards their population means" in text and f"with lambda {lam:.2f}" in text

    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(result.model_uri)
    rows = pd.read_parquet(small_cohort_file).iloc[:40]
    rows = rows[[c for c in flat_columns(pkg.catalog) if c in rows.columns]].reset_index(drop=True)
    X = assemble_features(rows, pkg.catalog, pkg.tables).values
    want = pkg.estimator.predict_outcomes(X)
    got = pyfunc.predict(rows)[[f"p_response__{o}" for o in sorted(OPTIONS)]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
    explanation = pkg.estimator.explain(X)
    np.testing.assert_allclose(
        explanation.base_values + explanation.contributions.sum(axis=2), explanation.margins, atol=1e-5
    )
