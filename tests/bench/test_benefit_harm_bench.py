"""benchmarks/benefit_harm_bench.py's comparison of the shipped ranking with the best single option and the
guideline's first line for all: each comparator is chosen on the training patients' truth and given to held-out
patients as their first usable option; regret and top-1 agreement are measured against the best usable option's
truth; and the shipped ranking's first option is the one the evaluation scores (the same regret on the true net
benefit as :func:`precisionpain.models.evaluation.benefit_harm_evaluation`)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.benefit_harm_bench import (
    best_single_order,
    default_first_choice,
    first_line_for_all,
    first_usable,
    group_means,
    policy_scores,
)
from precisionpain.benefit_harm import TIER_ORDER, RankingSettings, UtilityWeights, net_benefit
from precisionpain.models.evaluation import benefit_harm_evaluation
from precisionpain.schema import GuidelineTier

FIRST, SECOND = TIER_ORDER[GuidelineTier.first_line], TIER_ORDER[GuidelineTier.second_line]


def test_first_usable_skips_excluded_options_and_marks_patients_with_none() -> None:
    usable = np.array([[True, True, True], [False, True, True], [False, False, True], [False, False, False]])
    assert first_usable(np.array([0, 1, 2]), usable).tolist() == [0, 1, 2, -1]
    assert first_usable(np.array([2, 0, 1]), usable).tolist() == [2, 2, 2, -1]


def test_best_single_option_is_chosen_on_the_training_truth() -> None:
    rng = np.random.default_rng(1)
    train = np.column_stack(
        [rng.uniform(0.2, 0.3, 500), rng.uniform(0.5, 0.6, 500), rng.uniform(0.3, 0.4, 500)]
    )
    assert best_single_order(train).tolist() == [1, 2, 0]


def test_first_line_for_all_takes_each_tables_best_first_line_option_on_the_training_truth() -> None:
    # table a: options 0 and 1 first line, 1 better on the training truth; table b: only option 2 first line,
    # although option 1 is better there too
    train_truth = np.tile([0.3, 0.5, 0.2], (6, 1))
    train_tables = np.array(["a", "a", "a", "b", "b", "b"], dtype=object)
    tables = np.array(["a", "a", "b", "b"], dtype=object)
    tiers = np.array(
        [[FIRST, FIRST, SECOND], [FIRST, FIRST, SECOND], [SECOND, SECOND, FIRST], [SECOND, SECOND, FIRST]]
    )
    usable = np.ones((4, 3), dtype=bool)
    usable[1, 1] = False  # excluded: the next option of its table's order
    usable[3, 2] = False
    chosen, choice = first_line_for_all(train_truth, train_tables, tiers, tables, usable)
    assert chosen.tolist() == [1, 0, 2, 1]
    assert choice == {"a": 1, "b": 2}


def test_a_table_without_training_patients_is_ordered_by_every_training_patient() -> None:
    train_truth = np.tile([0.3, 0.5, 0.2], (4, 1))
    chosen, choice = first_line_for_all(
        train_truth, np.array(["a"] * 4, dtype=object), np.full((2, 3), FIRST), np.array(["c", "c"], dtype=object),
        np.ones((2, 3), dtype=bool),
    )  # fmt: skip
    assert chosen.tolist() == [1, 1] and choice == {"c": 1}


def test_regret_and_top1_agreement_against_the_best_usable_option() -> None:
    truth = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.2, 0.6, 0.3], [0.2, 0.6, 0.3]])
    usable = np.ones((4, 3), dtype=bool)
    usable[1, 0] = False  # the truly best option is excluded: the best usable one is option 1
    usable[3] = False  # nothing usable: left out of the means
    regret, agree = policy_scores(np.array([1, 1, 2, -1]), truth, usable)
    assert regret[:3] == pytest.approx([0.1, 0.0, 0.3])
    assert agree[:3].tolist() == [0.0, 1.0, 0.0]
    assert np.isnan(regret[3]) and np.isnan(agree[3])
    means = group_means(regret, np.array(["a", "a", "b", "b"], dtype=object))
    assert means == [
        ("all patients", 3, pytest.approx(0.4 / 3)),
        ("a", 2, pytest.approx(0.05)),
        ("b", 1, 0.3),
    ]


def test_the_shipped_first_choice_is_the_one_the_evaluation_scores() -> None:
    """Arrays where the tier rule and the significance test both matter: the bench's first option per patient gives
    the same regret on the true net benefit as the evaluation, with and without condition averages."""
    rng = np.random.default_rng(3)
    n, k, r = 300, 4, 5
    truth = {
        "response": rng.uniform(0.2, 0.7, (n, k)),
        "adverse_event": rng.uniform(0.0, 0.3, (n, k)),
    }
    estimate = {o: np.clip(v + rng.normal(0, 0.05, (n, k)), 0.01, 0.99) for o, v in truth.items()}
    replicates = {o: v[:, :, None] + rng.normal(0, 0.03, (n, k, r)) for o, v in estimate.items()}
    tables = rng.choice(np.array(["a", "b"], dtype=object), n)
    tiers = np.where((tables == "a")[:, None], [FIRST, FIRST, SECOND, SECOND], [SECOND, FIRST, FIRST, SECOND])
    avoid = rng.uniform(size=(n, k)) < 0.15
    settings = RankingSettings()
    weights = UtilityWeights(adverse_event=settings.adverse_event_weight, dropout=settings.dropout_weight)

    def nb(source: dict[str, np.ndarray]) -> np.ndarray:
        return net_benefit(source["response"], {"adverse_event": source["adverse_event"]}, weights)

    true_nb = nb(truth)
    for prior in (None, {"a": {o: v[tables == "a"].mean(axis=0) for o, v in estimate.items()}, "all": {
        o: v.mean(axis=0) for o, v in estimate.items()
    }}):  # fmt: skip
        found = benefit_harm_evaluation(
            estimate, replicates, truth, avoid, tiers, tables, settings, ("w", "x", "y", "z"),
            method="jackknife", prior=prior,
        )  # fmt: skip
        prior_nb = None if prior is None else {t: nb(by) for t, by in prior.items()}
        chosen = default_first_choice(
            nb(estimate), nb(replicates), tiers, tables, ~avoid, prior_nb, method="jackknife",
            confidence=settings.confidence,
        )  # fmt: skip
        regret, _ = policy_scores(chosen, true_nb, ~avoid)
        assert np.nanmean(regret) == pytest.approx(found.overall.regret["tier_then_net_benefit"], abs=1e-12)
