"""Net benefit and the order of the options: the utility, the weights' bounds, tier first with a significant
advantage to move above a tier, net benefit alone, and the groups of options that cannot be told apart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from precisionpain.benefit_harm import (
    OutcomeDraws,
    Preferences,
    RankingSettings,
    UtilityWeights,
    benefit_estimates,
    net_benefit,
    order_options,
    outcome_text,
    probability_best,
    resolve,
    weight_violations,
)
from precisionpain.schema import GuidelineTier, RankingPolicy

FIRST, SECOND, THIRD, AGAINST = (
    GuidelineTier.first_line,
    GuidelineTier.second_line,
    GuidelineTier.third_line,
    GuidelineTier.recommended_against,
)


def _replicates(values: list[float], spread: list[float], r: int = 5, seed: int = 0) -> np.ndarray:
    """(k, r) replicate values around ``values`` whose jackknife standard error is ``spread`` (independent)."""
    rng = np.random.default_rng(seed)
    out = []
    for v, s in zip(values, spread, strict=True):
        z = rng.standard_normal(r)
        z = (z - z.mean()) / math.sqrt((r - 1) / r * ((z - z.mean()) ** 2).sum())
        out.append(v + s * z)
    return np.asarray(out)


def test_net_benefit_is_response_minus_the_weighted_harms() -> None:
    p = np.array([0.52, 0.40])
    harms = {"adverse_event": np.array([0.14, 0.02]), "dropout": np.array([0.30, 0.10])}
    np.testing.assert_allclose(net_benefit(p, harms, UtilityWeights()), [0.52 - 0.07, 0.40 - 0.01])
    np.testing.assert_allclose(
        net_benefit(p, harms, UtilityWeights(adverse_event=2.0, dropout=0.5)), [0.52 - 0.28 - 0.15, 0.4 - 0.04 - 0.05]
    )
    np.testing.assert_allclose(net_benefit(p, {}, UtilityWeights(adverse_event=3.0)), p)  # a response-only model
    assert outcome_text(0.52, 0.14) == "52% response, 14% stop for side effects"


def test_the_interval_of_net_benefit_comes_from_the_replicates() -> None:
    reps = {"response": _replicates([0.5, 0.4], [0.02, 0.05]), "adverse_event": np.full((2, 5), 0.1)}
    draws = OutcomeDraws(("a", "b"), {"response": np.array([0.5, 0.4]), "adverse_event": np.array([0.1, 0.1])}, reps)
    est = benefit_estimates(draws, UtilityWeights(adverse_event=1.0))
    np.testing.assert_allclose(est.values, [0.4, 0.3])
    t = 2.1318467813  # Student's t, 4 degrees of freedom, 95%
    np.testing.assert_allclose(est.upper - est.values, [t * 0.02, t * 0.05], rtol=1e-6)
    np.testing.assert_allclose(est.values - est.lower, [t * 0.02, t * 0.05], rtol=1e-6)


def test_request_weights_are_checked_against_the_models_bounds() -> None:
    settings = RankingSettings()
    bad = Preferences(adverse_event_weight=3.5, dropout_weight=float("nan"))
    violations = weight_violations(bad, settings, "utility_weights.")
    assert [(v.path, v.rule, v.received) for v in violations] == [
        ("utility_weights.adverse_event_weight", "must be between 0 and 3 (the model's bounds)", "number"),
        ("utility_weights.dropout_weight", "must be a finite number", "NaN"),
    ]
    assert weight_violations(Preferences(adverse_event_weight=-0.1), settings, "")[0].path == "adverse_event_weight"
    assert not weight_violations(Preferences(adverse_event_weight=3.0, dropout_weight=0.0), settings, "")
    weights, policy = resolve(Preferences(adverse_event_weight=2.0), settings)
    assert (weights.adverse_event, weights.dropout, policy) == (2.0, 0.0, RankingPolicy.tier_then_net_benefit)
    with pytest.raises(ValueError):
        RankingSettings(adverse_event_weight=4.0, adverse_event_weight_max=3.0)


def test_tier_first_then_net_benefit_when_no_advantage_is_significant() -> None:
    values = np.array([0.30, 0.45, 0.40, 0.50])
    reps = _replicates(values.tolist(), [0.15] * 4)  # wide: no difference here is significant
    tiers = [FIRST, SECOND, FIRST, AGAINST]
    ordering = order_options(values, reps, tiers, RankingPolicy.tier_then_net_benefit)
    assert ordering.order == (2, 0, 1, 3)
    assert not any(ordering.above_tier)
    only = order_options(values, reps, tiers, RankingPolicy.net_benefit_only)
    assert only.order == (3, 1, 2, 0)


def test_an_option_moves_above_a_better_tier_only_past_what_it_significantly_beats() -> None:
    """Second-line B (0.60) significantly beats first-line C (0.30) but not first-line A (0.55, uncertain): it is
    placed between them, and says so."""
    values = np.array([0.55, 0.60, 0.30])
    reps = _replicates(values.tolist(), [0.05, 0.01, 0.01])
    ordering = order_options(values, reps, [FIRST, SECOND, FIRST], RankingPolicy.tier_then_net_benefit)
    assert ordering.order == (0, 1, 2)
    assert ordering.above_tier == (False, True, False)
    # without the model's uncertainty nothing is significant, so nothing moves
    assert order_options(values, None, [FIRST, SECOND, FIRST], RankingPolicy.tier_then_net_benefit).order == (0, 2, 1)


def test_within_a_tier_the_conditions_average_comes_first_and_only_a_clear_difference_moves() -> None:
    """A prior (the condition's average net benefit) orders the tier; this patient's estimates move an option
    above another only where the difference is significant."""
    values = np.array([0.40, 0.45, 0.60])
    prior = np.array([0.50, 0.30, 0.20])
    reps = _replicates(values.tolist(), [0.04, 0.04, 0.005])
    tiers = [FIRST, FIRST, FIRST]
    ordering = order_options(values, reps, tiers, RankingPolicy.tier_then_net_benefit, prior=prior)
    # C (0.60, precise) is clearly above A and B for this patient; B's 0.45 against A's 0.40 is noise
    assert ordering.order == (2, 0, 1) and not any(ordering.above_tier)
    assert ordering.groups == (1, 2, 2)
    # net benefit alone ignores the prior
    assert order_options(values, reps, tiers, RankingPolicy.net_benefit_only, prior=prior).order == (2, 1, 0)


def test_groups_join_what_cannot_be_told_apart_from_the_groups_first_option() -> None:
    values = np.array([0.50, 0.49, 0.30, 0.29])
    reps = _replicates(values.tolist(), [0.01] * 4)
    ordering = order_options(values, reps, [FIRST] * 4, RankingPolicy.net_benefit_only)
    assert ordering.order == (0, 1, 2, 3) and ordering.groups == (1, 1, 2, 2)
    # under the tier policy a group holds one tier
    tiered = order_options(values, reps, [FIRST, SECOND, SECOND, SECOND], RankingPolicy.tier_then_net_benefit)
    assert tiered.groups == (1, 2, 3, 3)


def test_probability_of_being_best() -> None:
    values = np.array([0.50, 0.49, 0.20])
    p = probability_best(values, _replicates(values.tolist(), [0.03, 0.03, 0.01]), "jackknife")
    assert p.sum() == pytest.approx(1.0) and p[2] == 0.0
    assert 0.3 < p[1] < p[0] < 0.7
    assert probability_best(values, None, "jackknife").tolist() == [1.0, 0.0, 0.0]
    again = probability_best(values, _replicates(values.tolist(), [0.03, 0.03, 0.01]), "jackknife")
    assert again.tolist() == p.tolist()  # fixed draws: the same patient always gets the same answer
