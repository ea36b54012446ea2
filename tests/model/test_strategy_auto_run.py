"""A training run with ``strategy: auto`` (real MLflow store): every candidate's score is logged, the chosen
strategy is tagged, written in the model card and the package, the harm models use it too, and the registered
pyfunc scores like the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.model.conftest import GOOD_MODEL, OPTIONS, Store


def test_an_auto_run_logs_every_candidate_and_records_the_choice(
    store: Store,
    small_cohort_file: Path,
    make_config: Callable[..., tuple[Any, Path]],
    model_name: str,
    tmp_path: Path,
) -> None:
    import mlflow

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.estimator import AUTO_CANDIDATES
    from precisionpain.models.training import load_registered, train

    model = {**GOOD_MODEL, "strategy": "auto", "xgboost": {**GOOD_MODEL["xgboost"], "n_estimators": 40}}
    config, path = make_config(
        model_name,
        model=model,
        harms=[
            {"name": "adverse_event", "column": "adverse_event", "factual_prefix": "true_adverse_event__"}
        ],
    )
    result = train(small_cohort_file, config, config_path=path, **store.kwargs)
    run = store.registry().client.get_run(result.run_id)
    scores = {
        k.removeprefix("strategy_auto."): v
        for k, v in run.data.metrics.items()
        if k.startswith("strategy_auto.")
    }
    assert set(scores) == {*AUTO_CANDIDATES, *(c + "_se" for c in AUTO_CANDIDATES)}
    chosen = run.data.tags["precisionpain.strategy_chosen"]
    assert chosen in AUTO_CANDIDATES and run.data.tags["precisionpain.strategy"] == "auto"

    _, pkg = load_registered(store.registry(), result.model_uri, tmp_path / "package")
    assert pkg.metadata.strategy == chosen
    card = mlflow.artifacts.download_artifacts(
        run_id=result.run_id,
        artifact_path="model_card.md",
        tracking_uri=store.tracking_uri,
        dst_path=str(tmp_path),
    )
    text = Path(card).read_text()
    assert f"Strategy chosen by `strategy: auto`: `{chosen}`" in text
    assert all(f"`{c}` {scores[c]:.4f}" in text for c in AUTO_CANDIDATES)
    assert pkg.harms["adverse_event"].strategy == chosen

    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(result.model_uri)
    rows = pd.read_parquet(small_cohort_file).iloc[:40]
    rows = rows[[c for c in flat_columns(pkg.catalog) if c in rows.columns]].reset_index(drop=True)
    want = pkg.estimator.predict_outcomes(assemble_features(rows, pkg.catalog, pkg.tables).values)
    got = pyfunc.predict(rows)[[f"p_response__{o}" for o in sorted(OPTIONS)]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)
