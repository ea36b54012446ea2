"""Champion/challenger: the first version becomes champion; a later version takes over only when its doubly robust
policy value beats the champion's by more than the noise (the one-sided lower bound of the paired difference on
held-out patients neither model was trained on is above promotion.min_improvement); a run whose held-out patients
the champion was trained on says so and does not promote; the decision and both figures are written to the run
and the version; promotion by hand moves the alias and is logged."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.model.conftest import (
    GOOD_MODEL,
    WEAK_MODEL,
    History,
    Store,
    config_dict,
    write_cohort_file,
    write_config,
)


def _run(store: Store, run_id: str) -> Any:
    return store.registry().client.get_run(run_id)


def _version_tags(store: Store, name: str, version: str) -> dict[str, str]:
    return dict(store.registry().client.get_model_version(name, version).tags)


# ------------------------------------------------------------------------------------ the rule by itself


def test_the_bound_is_the_paired_normal_lower_bound() -> None:
    from precisionpain.models.promotion import compare_paired

    rng = np.random.default_rng(3)
    champion = rng.normal(0.5, 1.0, 400)
    challenger = champion + rng.normal(0.02, 0.5, 400)
    c = compare_paired(challenger, champion, confidence=0.95, n_discordant=123)
    d = challenger - champion
    assert c.difference == pytest.approx(d.mean()) == pytest.approx(c.challenger_value - c.champion_value)
    assert c.standard_error == pytest.approx(d.std(ddof=1) / math.sqrt(400))
    assert c.lower_bound == pytest.approx(d.mean() - 1.6448536 * c.standard_error, abs=1e-6)
    assert (c.n_patients, c.n_discordant) == (400, 123)
    # the same mean difference with less noise per patient gives a tighter bound
    tight = compare_paired(champion + d.mean(), champion, confidence=0.95, n_discordant=400)
    assert tight.lower_bound == pytest.approx(d.mean())


@pytest.mark.parametrize(
    ("difference", "lower_bound", "margin", "promoted", "because"),
    [
        (0.06, 0.02, 0.005, True, ""),
        (0.06, 0.004, 0.005, False, "within the noise"),
        (0.01, -0.03, 0.0, False, "within the noise"),
        (-0.01, -0.05, 0.0, False, "not better than the champion"),
        (0.06, 0.02, 0.03, False, "within the noise"),
    ],
)
def test_decision_rule(difference: float, lower_bound: float, margin: float, promoted: bool, because: str) -> None:
    from precisionpain.models.config import PromotionConfig
    from precisionpain.models.promotion import PairedComparison, decide_promotion

    c = PairedComparison(
        n_patients=4000, n_discordant=900, challenger_value=0.5 + difference, champion_value=0.5,
        difference=difference, standard_error=0.01, lower_bound=lower_bound, confidence=0.95,
    )
    ok, text = decide_promotion("5", c.challenger_value, "4", c, "", PromotionConfig(min_improvement=margin))
    assert ok is promoted
    assert text.startswith("v5 becomes champion" if promoted else "v5 stays challenger")
    assert f"difference {difference:+.4f}" in text and f"lower bound {lower_bound:+.4f}" in text
    assert "same 4,000 held-out patients" in text and because in text


def test_first_version_and_unscorable_champion() -> None:
    from precisionpain.models.config import PromotionConfig
    from precisionpain.models.promotion import decide_promotion

    ok, text = decide_promotion("1", 0.4, None, None, "no champion yet", PromotionConfig())
    assert ok and text.startswith("v1 becomes champion: no champion yet")
    ok, text = decide_promotion("5", 0.9, "4", None, "champion v4 ranks a different option set", PromotionConfig())
    assert not ok and "ranks a different option set" in text and "by hand" in text


def test_the_shipped_rule_needs_a_positive_margin() -> None:
    from precisionpain.models.config import PromotionConfig, default_config_path, load_train_config

    shipped = load_train_config(default_config_path()).promotion
    assert shipped.min_improvement > 0 and PromotionConfig().min_improvement > 0
    assert 0.9 <= shipped.confidence < 1


def test_training_patients_are_recorded_as_keyed_hashes(tmp_path: Path) -> None:
    from precisionpain.models.promotion import TrainingPatients

    ids = [f"SYN-{i:07d}" for i in range(1, 1001)]
    record = TrainingPatients.of(ids, namespace="synthetic cohort seed 7", group_column="patient_id")
    record.write(tmp_path)
    stored = b"".join(p.read_bytes() for p in sorted(tmp_path.iterdir()))
    assert b"SYN-" not in stored  # no id is stored
    back = TrainingPatients.read(tmp_path)
    assert back is not None and back.digests.size == 1000
    assert back.count_seen([*ids[990:], "SYN-0005000", "SYN-0005001"], "synthetic cohort seed 7") == 10
    assert back.count_seen(ids, "synthetic cohort seed 8") == 0  # another cohort's SYN-... are other patients
    assert TrainingPatients.read(tmp_path / "nothing") is None


def test_overlap_without_a_record_is_judged_by_table_and_split() -> None:
    from precisionpain.models.config import SplitConfig
    from precisionpain.models.promotion import overlap_reason

    split = SplitConfig()
    same = overlap_reason("3", None, "abc", split, fingerprint="abc", split=split, namespace="", held_out_ids=None)
    assert same == ""  # the same table split the same way: the same held-out patients
    other = overlap_reason("3", None, "abc", split, fingerprint="def", split=split, namespace="", held_out_ids=None)
    resplit = overlap_reason(
        "3", None, "abc", split, fingerprint="abc", split=SplitConfig(seed=12), namespace="", held_out_ids=None
    )
    for reason in (other, resplit):
        assert "champion v3's run recorded no training patients" in reason


# ------------------------------------------------------------------------ real runs in a real MLflow store


def test_first_version_becomes_champion(history: History, store: Store) -> None:
    first = history.first
    assert first.version == "1" and first.promoted and first.comparison is None
    assert first.decision.startswith("v1 becomes champion: no champion yet")
    tags = _run(store, first.run_id).data.tags
    assert tags["precisionpain.promotion.promoted"] == "true"
    assert tags["precisionpain.promotion.decision"] == first.decision


def test_a_clearly_better_version_takes_over_with_both_figures_recorded(history: History, store: Store) -> None:
    better = history.better
    assert better.version == "2" and better.promoted and better.champion_version == "2"
    c = better.comparison
    assert c is not None
    assert c.challenger_value == pytest.approx(better.headline["dr_policy_value"])  # the run's own DR value
    assert c.n_patients == better.evaluation.n_test
    assert c.lower_bound > 0.005  # above the default margin
    assert f"lower bound {c.lower_bound:+.4f} > 0.005 required" in better.decision
    run = _run(store, better.run_id)
    assert run.data.metrics["champion_dr_policy_value_same_data"] == pytest.approx(c.champion_value)
    assert run.data.metrics["promotion.dr_difference"] == pytest.approx(c.difference)
    assert run.data.metrics["promotion.dr_difference_lower_bound"] == pytest.approx(c.lower_bound)
    assert run.data.metrics["promotion.min_improvement"] == pytest.approx(0.005)
    assert run.data.tags["precisionpain.promotion.previous_champion"] == "1"
    assert "lower bound of the paired difference" in run.data.tags["precisionpain.promotion.rule"]
    tags = _version_tags(store, history.name, "2")
    assert tags["promotion_decision"] == better.decision and tags["promotion_compared_with"] == "v1"
    assert float(tags["promotion_dr_difference"]) == pytest.approx(c.difference, abs=1e-6)
    assert float(tags["promotion_dr_difference_lower_bound"]) == pytest.approx(c.lower_bound, abs=1e-6)
    assert tags["promotion_rule"] == run.data.tags["precisionpain.promotion.rule"]
    # the champion it replaced really is worse: its true policy value on the held-out patients is lower
    assert better.headline["true_policy_value"] > history.first.headline["true_policy_value"] + 0.05


def test_a_version_no_better_stays_challenger_with_the_reason(history: History, store: Store) -> None:
    worse = history.worse
    assert worse.version == "3" and not worse.promoted and worse.champion_version == "2"
    c = worse.comparison
    assert c is not None and c.lower_bound <= 0.005
    assert worse.decision.startswith("v3 stays challenger")
    assert f"vs champion v2 ({c.champion_value:.4f})" in worse.decision
    run = _run(store, worse.run_id)
    assert run.data.tags["precisionpain.promotion.promoted"] == "false"
    assert _version_tags(store, history.name, "3")["promotion_decision"] == worse.decision


def test_aliases_after_the_three_runs(history: History, store: Store) -> None:
    snap = store.registry().snapshot(history.name)
    assert list(snap.versions) == ["1", "2", "3"]
    assert snap.aliases == {"champion": "2", "challenger": "3"}


def test_a_noisy_small_challenger_does_not_take_over(
    store: Store, cohort_file: Path, make_config: Any, model_name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The README's mistake: a model trained on a small independent cohort looks better on its few held-out
    patients (DR point estimate above the champion's), while the champion is truly better on those very patients."""
    from precisionpain.models.training import evaluate_registered, train

    # the plain T-learner: on this small cohort its point estimate looks better than the champion's (the scenario)
    config, _ = make_config(model_name, {**GOOD_MODEL, "first_stage_features": []})
    champion = train(cohort_file, config, **store.kwargs)
    small = write_cohort_file(tmp_path_factory.mktemp("independent") / "cohort.parquet", 6_000, 56)
    challenger = train(small, config, **store.kwargs)

    c = challenger.comparison
    assert c is not None and c.n_patients == challenger.evaluation.n_test < 600
    assert c.difference > 0.05, "precondition: the point estimates alone would promote"
    assert c.lower_bound < 0.005 and not challenger.promoted
    assert "the gain is within the noise" in challenger.decision
    assert store.registry().aliases(model_name)["champion"] == champion.version
    truth = evaluate_registered(
        f"models:/{model_name}/{champion.version}", small, split="test", log_to_mlflow=False, **store.kwargs
    )
    assert truth.n_test == c.n_patients
    assert truth.true_policy_value > challenger.headline["true_policy_value"] + 0.02


@pytest.fixture(scope="module")
def backwards_champion(store: Store, reversed_cohort_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A champion any good model clearly beats (trained on the cohort's reversed outcomes), under its own name."""
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train

    name = "pp-overlap"
    path = write_config(tmp_path_factory.mktemp("overlap") / "weak.yaml", config_dict(name, WEAK_MODEL))
    return train(reversed_cohort_file, load_train_config(path), **store.kwargs)


@pytest.mark.parametrize("how", ["same table, another split", "same cohort seed, another size"])
def test_held_out_patients_the_champion_trained_on_block_promotion(
    how: str, backwards_champion: Any, store: Store, cohort_file: Path, make_config: Any, tmp_path: Path
) -> None:
    """A good model would take over from the backwards champion on unseen patients (see the history above); here
    most of its held-out patients were the champion's training patients, so it must not be compared on them."""
    from precisionpain.models.training import train

    name = backwards_champion.registered_model
    if how == "same table, another split":
        data = cohort_file
        good, _ = make_config(name, GOOD_MODEL, split={"seed": 12})
    else:
        data = write_cohort_file(tmp_path / "cohort-20000.parquet", 20_000, 22)  # cohort_file: 25,000, seed 22
        good, _ = make_config(name, GOOD_MODEL)
    challenger = train(data, good, **store.kwargs)

    assert not challenger.promoted and challenger.comparison is None
    n_test = challenger.evaluation.n_test
    decision = challenger.decision
    assert f"of its {n_test:,} held-out patients were among champion v{backwards_champion.version}'s training" in decision
    assert "synthetic cohort seed 22" in decision and "not be on patients new to both models" in decision
    assert store.registry().aliases(name)["champion"] == backwards_champion.version
    run = _run(store, challenger.run_id)
    assert run.data.tags["precisionpain.promotion.not_compared"] in decision
    assert "promotion.dr_difference" not in run.data.metrics
    assert _version_tags(store, name, challenger.version)["promotion_decision"] == decision


def test_promote_by_hand_moves_champion_and_is_logged(
    store: Store, small_cohort_file: Path, make_config: Any, model_name: str
) -> None:
    from precisionpain.models.training import promote, train

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


def test_an_experiment_created_by_another_training_in_between_is_joined_not_an_error(store: Store) -> None:
    """Two trainings started together both look the experiment up, find none, and both create it: the one that
    loses the race joins the experiment the other made instead of failing."""
    first, second = store.registry(), store.registry()
    name = f"race-{np.random.default_rng().integers(1 << 62):x}"
    real_lookup = first.client.get_experiment_by_name
    calls: list[str] = []

    def lookup_before_the_other_creates_it(experiment: str) -> Any:
        calls.append(experiment)
        if len(calls) == 1:  # this process looked first and saw nothing; the other creates it right after
            found = real_lookup(experiment)
            second.experiment_id(experiment)
            return found
        return real_lookup(experiment)

    first.client.get_experiment_by_name = lookup_before_the_other_creates_it  # type: ignore[method-assign]
    joined = first.experiment_id(name)
    assert joined == second.experiment_id(name)
    assert len(calls) == 2, "the loser of the race must look the experiment up again"
