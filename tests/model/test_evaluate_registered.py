"""Re-evaluating a registered version (``precisionpain evaluate``) and promoting by hand from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.model.conftest import OPTIONS, History, Store


def test_rescoring_the_training_split_reproduces_the_training_evaluation(
    history: History, store: Store, cohort_file: Path
) -> None:
    from precisionpain.models.training import evaluate_registered

    result = evaluate_registered(
        f"models:/{history.name}/{history.better.version}", cohort_file, split="test", log_to_mlflow=False, **store.kwargs
    )
    trained = history.better.evaluation
    assert result.n_test == trained.n_test
    for key in ("dr_policy_value", "ipw_policy_value", "auc_mean", "ece_max", "regret", "top1_agreement"):
        assert result.headline[key] == pytest.approx(trained.headline[key], abs=1e-12), key
    assert result.provenance["model_version"] == history.better.version
    assert "run_id" not in result.provenance


def test_evaluate_by_alias_on_a_new_table_logs_a_tagged_run(
    history: History, store: Store, small_cohort_file: Path
) -> None:
    from precisionpain.models.training import evaluate_registered

    result = evaluate_registered(f"models:/{history.name}@champion", small_cohort_file, **store.kwargs)
    frame = pd.read_parquet(small_cohort_file)
    assert result.n_test == int(frame["assigned_option"].isin(OPTIONS).sum())  # split "all": every usable row
    assert result.provenance["model_version"] == "2"
    run = store.registry().client.get_run(result.provenance["run_id"])
    tags = run.data.tags
    assert tags["precisionpain.run_kind"] == "evaluation"
    assert tags["precisionpain.model_version"] == "2" and tags["precisionpain.model_alias"] == "champion"
    assert tags["precisionpain.model_uri"] == f"models:/{history.name}@champion"
    assert run.data.metrics["dr_policy_value"] == pytest.approx(result.headline["dr_policy_value"])
    assert run.data.metrics["option.codeine.n"] == result.per_option[[o.option_id for o in result.per_option].index("codeine")].metrics.n


def test_evaluate_rejects_unknown_versions_and_bad_tables(
    history: History, store: Store, small_cohort_file: Path, tmp_path: Path
) -> None:
    from precisionpain.errors import DataError, RegistryError
    from precisionpain.models.training import evaluate_registered

    with pytest.raises(RegistryError, match="no version with alias 'nope'"):
        evaluate_registered(f"models:/{history.name}@nope", small_cohort_file, **store.kwargs)
    with pytest.raises(RegistryError, match="models:/NAME@ALIAS"):
        evaluate_registered("runs:/abc/model", small_cohort_file, **store.kwargs)
    broken = tmp_path / "broken.parquet"
    pd.read_parquet(small_cohort_file).drop(columns=["responded"]).to_parquet(broken)
    with pytest.raises(DataError, match="evaluation data: 1 problem"):
        evaluate_registered(f"models:/{history.name}/1", broken, **store.kwargs)


def _app() -> Any:
    from precisionpain.cli import app
    from precisionpain.models.commands import register

    register(app)
    register(app)  # idempotent
    names = [c.name for c in app.registered_commands]
    assert names.count("evaluate") == names.count("promote") == names.count("train") == 1
    return app


def test_cli_evaluate_and_promote(history: History, store: Store, small_cohort_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    app = _app()
    out = tmp_path / "evaluation.json"
    uri = f"models:/{history.name}@challenger"
    result = runner.invoke(
        app,
        ["evaluate", "--model", uri, "--data", str(small_cohort_file), "--tracking-uri", store.tracking_uri,
         "--json", str(out), "--no-log"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["provenance"]["model_version"] == "3" and "dr_policy_value" in saved["headline"]
    assert "codeine" in result.output
    h = saved["headline"]
    like_for_like = (
        f"regret {h['regret_usable']:.3f} (best single option under the same rules "
        f"{h['regret_best_single_option_usable']:.3f}); every option usable: {h['regret_all_usable']:.3f}"
    )
    assert like_for_like in " ".join(result.output.split())

    bad = runner.invoke(
        app, ["evaluate", "--model", uri, "--data", str(tmp_path / "missing.parquet"), "--tracking-uri", store.tracking_uri]
    )
    assert bad.exit_code == 2 and "file does not exist" in bad.output

    split = runner.invoke(
        app, ["evaluate", "--model", uri, "--data", str(small_cohort_file), "--split", "half", "--tracking-uri", store.tracking_uri]
    )
    assert split.exit_code == 2 and "--split" in split.output
