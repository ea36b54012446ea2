"""A training run with ``strategy: auto`` (real MLflow store): every candidate's score is logged, the chosen
strategy is tagged, written in the model card and the package, the harm models use it too, and the registered
pyfunc scores like the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.model.conftest import GOOD_MODEL, Store, assert_pyfunc_scores_like_package, model_card_text


def test_an_auto_run_logs_every_candidate_and_records_the_choice(
    store: Store,
    small_cohort_file: Path,
    make_config: Callable[..., tuple[Any, Path]],
    model_name: str,
    tmp_path: Path,
) -> None:

    from precisionpain.models.estimator import AUTO_CANDIDATES
    from precisionpain.models.training import load_registered, train

    model = {
        **GOOD_MODEL,
        "strategy": "auto",
        "xgboost": {**GOOD_MODEL["xgboost"], "n_estimators": 40},
        "first_stage_features": [],  # each candidate fits its own way
    }
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
    text = model_card_text(store, result.run_id, tmp_path)
    assert f"Strategy chosen by `strategy: auto`: `{chosen}`" in text
    assert all(f"`{c}` {scores[c]:.4f}" in text for c in AUTO_CANDIDATES)
    assert pkg.harms["adverse_event"].strategy == chosen

    assert_pyfunc_scores_like_package(store, result.model_uri, pkg, small_cohort_file)
