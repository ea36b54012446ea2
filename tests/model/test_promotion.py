"""Champion/challenger: the first version becomes champion; a version whose doubly robust policy value on the
same held-out patients beats the champion's takes over; a worse one stays challenger with the reason logged;
promotion by hand moves the alias and is logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.model.conftest import History, Store


def _run(store: Store, run_id: str) -> Any:
    return store.registry().client.get_run(run_id)


def test_first_version_becomes_champion(history: History, store: Store) -> None:
    first = history.first
    assert first.version == "1" and first.promoted
    assert first.decision.startswith("v1 becomes champion: no champion yet")
    tags = _run(store, first.run_id).data.tags
    assert tags["precisionpain.promotion.promoted"] == "true"
    assert tags["precisionpain.promotion.decision"] == first.decision


def test_better_version_takes_over_on_the_same_patients(history: History, store: Store) -> None:
    better = history.better
    assert better.version == "2" and better.promoted and better.champion_version == "2"
    run = _run(store, better.run_id)
    champion_value = run.data.metrics["champion_dr_policy_value_same_data"]
    assert better.headline["dr_policy_value"] > champion_value
    assert f"beats champion v1 ({champion_value:.4f})" in better.decision
    assert run.data.tags["precisionpain.promotion.previous_champion"] == "1"
    # the weak model's policy really is worse: its true value on the held-out patients is lower
    assert better.headline["true_policy_value"] > history.first.headline["true_policy_value"]


def test_worse_version_stays_challenger_with_the_reason(history: History, store: Store) -> None:
    worse = history.worse
    assert worse.version == "3" and not worse.promoted and worse.champion_version == "2"
    run = _run(store, worse.run_id)
    champion_value = run.data.metrics["champion_dr_policy_value_same_data"]
    assert worse.headline["dr_policy_value"] <= champion_value
    assert worse.decision.startswith("v3 stays challenger")
    assert f"does not beat champion v2 ({champion_value:.4f})" in worse.decision
    assert run.data.tags["precisionpain.promotion.promoted"] == "false"
    registry = store.registry()
    assert registry.client.get_model_version(history.name, "3").tags["promotion_decision"] == worse.decision


def test_aliases_after_the_three_runs(history: History, store: Store) -> None:
    snap = store.registry().snapshot(history.name)
    assert list(snap.versions) == ["1", "2", "3"]
    assert snap.aliases == {"champion": "2", "challenger": "3"}


@pytest.mark.parametrize(
    ("champion", "challenger", "margin", "promoted"),
    [(None, 0.4, 0.0, True), (0.5, 0.51, 0.0, True), (0.5, 0.5, 0.0, False), (0.5, 0.51, 0.02, False)],
)
def test_decision_rule(champion: float | None, challenger: float, margin: float, promoted: bool) -> None:
    from precisionpain.models.training import decide_promotion

    ok, text = decide_promotion("5", challenger, None if champion is None else "4", champion, "no champion yet", margin)
    assert ok is promoted
    assert text.startswith("v5 becomes champion" if promoted else "v5 stays challenger")


def test_unscorable_champion_keeps_the_title() -> None:
    from precisionpain.models.training import decide_promotion

    ok, text = decide_promotion("5", 0.9, "4", None, "champion v4 ranks a different option set", 0.0)
    assert not ok and "ranks a different option set" in text and "by hand" in text


def test_promote_by_hand_moves_champion_and_is_logged(
    store: Store, small_cohort_file: Path, make_config: Any, model_name: str
) -> None:
    from precisionpain.models.training import promote, train
    from tests.model.conftest import WEAK_MODEL

    config, _ = make_config(model_name, WEAK_MODEL)
    train(small_cohort_file, config, **store.kwargs)
    train(small_cohort_file, config, **store.kwargs)
    registry = store.registry()
    assert registry.aliases(model_name)["champion"] == "1"  # equal DR values: v2 does not take over

    result = promote(f"models:/{model_name}/2", reason="clinical review", **store.kwargs)
    assert result.changed and result.previous_champion == "1" and result.version == "2"
    assert registry.aliases(model_name) == {"champion": "2", "challenger": "2"}
    assert "clinical review" in result.decision
    run = registry.client.get_run(result.run_id)
    assert run.data.tags["precisionpain.run_kind"] == "promotion"
    assert run.data.tags["precisionpain.promotion.previous"] == "1"
    assert registry.client.get_model_version(model_name, "2").tags["promotion_decision"] == result.decision

    again = promote(f"models:/{model_name}@champion", **store.kwargs)
    assert not again.changed and again.run_id is None

    from precisionpain.errors import RegistryError

    with pytest.raises(RegistryError, match="no version 9"):
        promote(f"models:/{model_name}/9", **store.kwargs)
    assert registry.aliases(model_name)["champion"] == "2"

    # the same from the command line: back to v1
    from typer.testing import CliRunner

    from precisionpain.cli import app
    from precisionpain.models.commands import register

    register(app)
    runner = CliRunner()
    args = ["promote", "--model", f"models:/{model_name}/1", "--reason", "audit", "--tracking-uri", store.tracking_uri]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "v1 becomes champion by hand (was v2): audit" in result.output
    assert registry.aliases(model_name)["champion"] == "1"
    missing = runner.invoke(app, ["promote", "--model", f"models:/{model_name}/7", "--tracking-uri", store.tracking_uri])
    assert missing.exit_code == 2 and "no version 7" in missing.output
