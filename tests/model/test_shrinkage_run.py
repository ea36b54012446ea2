"""A training run with ``model.shrinkage: auto`` (real MLflow store): lambda and its criterion are logged, the model
card says what was shrunk and how explanations follow, the harm model is shrunk too, and the registered pyfunc
scores like the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.model.conftest import GOOD_MODEL, Store, assert_pyfunc_scores_like_package, model_card_text


def test_a_shrunk_run_logs_lambda_and_the_card_and_package_follow_it(
    store: Store,
    small_cohort_file: Path,
    make_config: Callable[..., tuple[Any, Path]],
    model_name: str,
    tmp_path: Path,
) -> None:

    from precisionpain.models.shrinkage import LAMBDA_GRID
    from precisionpain.models.training import load_registered, train

    config, path = make_config(
        model_name,
        model={**GOOD_MODEL, "shrinkage": "auto", "first_stage_features": []},  # a first stage is per option, unshrunk
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
    text = model_card_text(store, result.run_id, tmp_path)
    assert "shrunk towards their population means" in text and f"with lambda {lam:.2f}" in text

    X = assert_pyfunc_scores_like_package(store, result.model_uri, pkg, small_cohort_file)
    explanation = pkg.estimator.explain(X)
    np.testing.assert_allclose(
        explanation.base_values + explanation.contributions.sum(axis=2), explanation.margins, atol=1e-5
    )
