"""The final ranking's evaluation on the true net benefit, on arrays whose answer is known: a model that knows the
truth has no regret by net benefit, ranking by response alone pays for the harms it ignores, the guideline
comparator gives each table its best first-line option, and the probability of being best is calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from precisionpain.benefit_harm import TIER_ORDER, RankingSettings
from precisionpain.models.evaluation import (
    GUIDELINE_FIRST_LINE_FOR_ALL,
    RESPONSE_ONLY,
    benefit_harm_evaluation,
)
from precisionpain.schema import GuidelineTier


def test_regret_on_the_true_net_benefit_per_policy_and_table() -> None:
    rng = np.random.default_rng(0)
    n, r = 400, 5
    # option 0: high response and many side effects; option 1: a little less response, few side effects;
    # option 2: poor. Option 1 is first line for table "a", option 0 for table "b".
    response = np.column_stack([rng.uniform(0.55, 0.6, n), rng.uniform(0.5, 0.55, n), np.full(n, 0.2)])
    adverse = np.column_stack([np.full(n, 0.3), np.full(n, 0.02), np.full(n, 0.02)])
    truth = {"response": response, "adverse_event": adverse}
    replicates = {o: v[:, :, None] + 1e-4 * rng.standard_normal((n, 3, r)) for o, v in truth.items()}
    tables = np.where(np.arange(n) < n // 2, "a", "b").astype(object)
    first, second = TIER_ORDER[GuidelineTier.first_line], TIER_ORDER[GuidelineTier.second_line]
    tiers = np.where((tables == "a")[:, None], [second, first, second], [first, second, second])
    avoid = np.zeros((n, 3), dtype=bool)
    avoid[:10, 1] = True  # a few patients cannot have option 1
    result = benefit_harm_evaluation(
        truth, replicates, truth, avoid, tiers, tables, RankingSettings(), ("x", "y", "z"), method="jackknife"
    )
    regret = result.overall.regret
    assert regret["net_benefit_only"] == pytest.approx(0.0)
    # ignoring side effects: option 0 everywhere, 0.5 x 0.28 minus the response difference (about 0.05) lost
    assert regret[RESPONSE_ONLY] == pytest.approx(0.14 - 0.05 * (n - 10) / n, abs=0.01)
    # table a's first line is the best option; table b's (option 0) is not
    assert result.by_table["a"].regret[GUIDELINE_FIRST_LINE_FOR_ALL] == pytest.approx(0.0)
    assert result.by_table["b"].regret[GUIDELINE_FIRST_LINE_FOR_ALL] > 0.05
    assert result.first_line_choice == {"a": "y", "b": "x"}
    # tier first: table b's patients keep option 0 unless option 1 is significantly better, which it is here
    assert regret["tier_then_net_benefit"] == pytest.approx(0.0)
    assert result.best_in_first_group == pytest.approx(1.0)
    assert result.probability_best.ece < 0.02
    assert sum(result.probability_best.bins_count) == 3 * n - 10
