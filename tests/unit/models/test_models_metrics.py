"""Metrics against hand-computed small examples and known-truth simulations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from precisionpain.errors import ValidationError
from precisionpain.models import metrics as M

Y = np.array([0, 1, 1, 0])
P = np.array([0.1, 0.9, 0.8, 0.3])


def test_brier_log_loss_auc_by_hand() -> None:
    assert M.brier_score(Y, P) == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)
    assert M.log_loss(Y, P) == pytest.approx(-(math.log(0.9) * 2 + math.log(0.8) + math.log(0.7)) / 4)
    assert M.roc_auc(Y, P) == 1.0
    # one discordant pair out of four (positive 0.3 below negative 0.4) -> AUC 3/4
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.3, 0.8]) == pytest.approx(0.75)
    assert math.isnan(M.roc_auc([1, 1], [0.2, 0.3]))


def test_weighted_brier() -> None:
    assert M.brier_score([0, 1], [0.5, 0.0], sample_weight=[3, 1]) == pytest.approx((3 * 0.25 + 1.0) / 4)


def test_ece_uniform_bins_by_hand() -> None:
    # bin [0, 0.5): p 0.1, 0.3 (mean 0.2), observed 0 -> gap 0.2; bin [0.5, 1]: mean 0.85, observed 1 -> 0.15
    assert M.expected_calibration_error(Y, P, n_bins=2, strategy="uniform") == pytest.approx(
        0.5 * 0.2 + 0.5 * 0.15
    )
    curve = M.calibration_curve(Y, P, n_bins=2, strategy="uniform")
    assert curve.mean_predicted == pytest.approx((0.2, 0.85))
    assert curve.observed_rate == (0.0, 1.0) and curve.count == (2.0, 2.0)


def test_ece_quantile_bins_and_perfect_calibration() -> None:
    # quantile bins of 2 each: {0.1, 0.3} and {0.8, 0.9} -> same as uniform here
    assert M.expected_calibration_error(Y, P, n_bins=2) == pytest.approx(0.175)
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.random(p.size) < p).astype(int)
    assert M.expected_calibration_error(y, p) < 0.01
    assert M.expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) > 0.08


def test_classification_metrics_bundle() -> None:
    m = M.classification_metrics(Y, P, n_bins=2, strategy="uniform")
    assert m.n == 4 and m.prevalence == 0.5 and m.auc == 1.0 and m.ece == pytest.approx(0.175)
    flat = m.flat("test")
    assert flat["test.auc"] == 1.0 and flat["test.n"] == 4.0


def test_metric_input_errors_do_not_echo_values() -> None:
    with pytest.raises(ValidationError) as info:
        M.brier_score([0, 3.777], [0.5, 1.2])
    assert {v.path for v in info.value.violations} == {"y", "p"}
    assert "3.777" not in str(info.value)
    with pytest.raises(ValidationError):
        M.expected_calibration_error(Y, P, strategy="kmeans")  # type: ignore[arg-type]


def test_policy_value_by_hand() -> None:
    options = ["a", "b"]
    treatment = np.array(["a", "b", "a", "b"])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    e = np.array([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5], [0.8, 0.2]])
    mu = np.array([[0.6, 0.4], [0.5, 0.5], [0.3, 0.7], [0.2, 0.9]])
    policy = np.array(["a", "a", "b", "b"])
    # matches: row 0 (a, e=0.5, w=2), row 3 (b, e=0.2, w=5); rows 1, 2 unmatched
    ipw = (2 * 1.0 + 5 * 1.0) / (2 + 5)
    dr = np.mean([0.6 + 2 * (1 - 0.6), 0.5, 0.7, 0.9 + 5 * (1 - 0.9)])
    v = M.policy_value(policy, treatment, y, e, mu, options, n_boot=50)
    assert v.ipw.estimate == pytest.approx(ipw)
    assert v.dr.estimate == pytest.approx(dr)
    assert v.match_rate == 0.5 and v.n == 4


def _randomised(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    x = rng.normal(size=n)
    p_true = np.column_stack([np.full(n, 0.3), 1 / (1 + np.exp(-x)), np.full(n, 0.5) - 0.1 * (x > 0)])
    t = rng.integers(0, 3, size=n)
    y = (rng.random(n) < p_true[np.arange(n), t]).astype(float)
    return x, p_true, t, y


def test_ipw_and_aipw_are_unbiased_on_randomised_data() -> None:
    rng = np.random.default_rng(4)
    options = ["a", "b", "c"]
    e = np.full((400, 3), 1 / 3)
    ipw, dr, truth = [], [], []
    for _ in range(300):
        x, p_true, t, y = _randomised(400, rng)
        policy_codes = np.where(x > 0, 1, 0)
        truth.append(p_true[np.arange(400), policy_codes].mean())
        mu = np.full((400, 3), 0.4)  # a wrong outcome model: DR must still be unbiased (propensity is right)
        v = M.policy_value(
            np.asarray(options)[policy_codes], np.asarray(options)[t], y, e, mu, options, n_boot=0
        )
        ipw.append(v.ipw.estimate)
        dr.append(v.dr.estimate)
    bias_ipw = np.mean(np.array(ipw) - np.array(truth))
    bias_dr = np.mean(np.array(dr) - np.array(truth))
    se = np.std(np.array(dr) - np.array(truth)) / np.sqrt(300)
    assert abs(bias_dr) < 4 * se
    assert abs(bias_ipw) < 4 * np.std(np.array(ipw) - np.array(truth)) / np.sqrt(300) + 0.002


def test_dr_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(5)
    options = ["a", "b", "c"]
    e = np.full((300, 3), 1 / 3)
    covered = 0
    reps = 60
    for r in range(reps):
        x, p_true, t, y = _randomised(300, rng)
        policy_codes = np.where(x > 0, 1, 2)
        mu = p_true + rng.normal(scale=0.05, size=p_true.shape)
        # truth: the policy's expected value in the population (approximated by a large sample)
        xb = np.random.default_rng(1000 + r).normal(size=200_000)
        big = np.where(xb > 0, 1 / (1 + np.exp(-xb)), 0.5 - 0.1 * (xb > 0))
        v = M.policy_value(
            np.asarray(options)[policy_codes],
            np.asarray(options)[t],
            y,
            e,
            mu,
            options,
            n_boot=200,
            alpha=0.1,
            random_state=r,
        )
        covered += v.dr.ci_low <= big.mean() <= v.dr.ci_high
    assert covered / reps >= 0.78  # nominal 0.90


def test_evaluate_policy_compares_with_observed_and_best_single() -> None:
    rng = np.random.default_rng(6)
    options = ["a", "b", "c"]
    _, p_true, t, y = _randomised(3000, rng)
    e = np.full((3000, 3), 1 / 3)
    best = p_true.argmax(axis=1)
    ev = M.evaluate_policy(
        np.asarray(options)[best], np.asarray(options)[t], y, e, p_true, options, n_boot=100, alpha=0.1
    )
    assert ev.observed.estimate == pytest.approx(y.mean())
    assert ev.best_single_option == options[int(np.argmax(p_true.mean(axis=0)))]
    assert set(ev.single_option_dr) == set(options)
    assert ev.dr_gain_vs_observed.estimate > 0 and ev.dr_gain_vs_observed.ci_low > 0
    assert ev.dr_gain_vs_best_single.estimate > 0
    assert ev.policy.dr.ci_low <= ev.policy.dr.estimate <= ev.policy.dr.ci_high
    assert "policy.dr.estimate" in ev.flat()


def test_policy_inputs_are_validated() -> None:
    with pytest.raises(ValidationError) as info:
        M.policy_value(
            ["a", "zzz"], ["a", "b"], [1, 0], np.full((2, 2), 0.5), np.full((2, 3), 0.5), ["a", "b"]
        )
    paths = {v.path for v in info.value.violations}
    assert paths == {"policy", "predicted"}
    assert "zzz" not in str(info.value)


def test_oracle_metrics_by_hand() -> None:
    true = np.array([[0.2, 0.5, 0.4], [0.6, 0.1, 0.3]])
    pred = np.array([[0.3, 0.35, 0.6], [0.5, 0.2, 0.4]])
    m = M.oracle_metrics(true, pred, ["a", "b", "c"], reference="a")
    # row 0 chooses c (true 0.4, best 0.5): regret 0.1; row 1 chooses a (best): 0
    assert m.regret == pytest.approx(0.05)
    assert m.top1_agreement == 0.5
    taus = [stats.kendalltau(pred[i], true[i]).statistic for i in range(2)]
    assert m.kendall_tau == pytest.approx(np.mean(taus))
    # effects vs a: true b-a = [0.3, -0.5], pred = [0.05, -0.3]
    assert m.sqrt_pehe["b"] == pytest.approx(math.sqrt(((0.05 - 0.3) ** 2 + (-0.3 + 0.5) ** 2) / 2))
    assert set(m.sqrt_pehe) == {"b", "c"}
    # the oracle itself has no regret
    perfect = M.oracle_metrics(true, true, ["a", "b", "c"], reference="b")
    assert perfect.regret == 0 and perfect.top1_agreement == 1 and perfect.kendall_tau == 1
    observed = M.oracle_metrics(true, pred, ["a", "b", "c"], reference="a", policy=["b", "b"])
    assert observed.regret == pytest.approx(0.25)


# option a is best for everyone but excluded for rows 2-3; row 4 has no usable option
EXCLUDED_TRUE = np.array(
    [[0.6, 0.1, 0.4], [0.6, 0.1, 0.4], [0.7, 0.45, 0.2], [0.7, 0.45, 0.2], [0.5, 0.5, 0.5]]
)
EXCLUDED_USABLE = np.array(
    [[True, True, True], [True, True, True], [False, True, True], [False, True, True], [False, False, False]]
)


def test_usable_oracle_metrics_by_hand() -> None:
    options = ["a", "b", "c"]
    m = M.usable_oracle_metrics(EXCLUDED_TRUE, EXCLUDED_USABLE, options, policy=["a", "c", "b", "c", "a"])
    # best usable: a, a, b, b; the policy loses 0, 0.2, 0, 0.25 (row 4 is not scored)
    assert m.n == 4
    assert m.regret == pytest.approx(0.1125)
    assert m.top1_agreement == pytest.approx(0.5)
    # mean true p over the scored rows: a 0.65, c 0.3, b 0.275, so "a first" falls back to c for rows 2-3 (loses
    # 0.25 each); "b first": rows 0-1 get b (0.5 each); "c first": 0.2 and 0.25 each
    assert m.best_single_regrets == pytest.approx({"a": 0.125, "b": 0.25, "c": 0.225})
    assert (m.best_single_option, m.best_single_regret) == ("a", pytest.approx(0.125))
    # ignoring the exclusions, option a for everyone loses nothing against the best option overall
    assert ((EXCLUDED_TRUE.max(axis=1)[:, None] - EXCLUDED_TRUE).mean(axis=0)).min() == 0.0
    # the policy's regret against the best option overall (rows 0-3) is larger: 0.25 and 0.5 in rows 2-3
    assert M.policy_regret(EXCLUDED_TRUE[:4], [0, 2, 1, 2]) == pytest.approx(0.2375)
    # with every option usable the best usable option is the best option overall
    everything = M.usable_oracle_metrics(EXCLUDED_TRUE, np.ones((5, 3), dtype=bool), options, ["a"] * 5)
    assert (everything.n, everything.regret, everything.best_single_option) == (5, 0.0, "a")


def test_usable_oracle_metrics_without_usable_rows_and_bad_input() -> None:
    none = M.usable_oracle_metrics(EXCLUDED_TRUE, np.zeros((5, 3), dtype=bool), ["a", "b", "c"], ["a"] * 5)
    assert none.n == 0 and math.isnan(none.regret) and none.best_single_option is None
    with pytest.raises(ValidationError) as info:
        M.usable_oracle_metrics(EXCLUDED_TRUE, np.ones((5, 2)), ["a", "b", "c"], ["a"] * 4 + ["secret-id"])
    assert {v.path for v in info.value.violations} == {"usable", "policy"}
    assert "secret-id" not in str(info.value)


def test_evaluate_compares_with_the_best_single_option_under_the_same_rules(
    fitted_t: Any, hte_test: dict[str, Any]
) -> None:
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.models.config import EvaluationConfig
    from precisionpain.models.evaluation import HeldOut, evaluate
    from tests.unit.models.models_testdata import ARMS

    true_p = hte_test["p_true"]
    n = true_p.shape[0]
    # arm_b (best where x0 > 0) is excluded for those patients; the first 50 patients may have nothing
    avoid = np.zeros((n, 3), dtype=bool)
    avoid[:, 1] = true_p[:, 1] == true_p.max(axis=1)
    avoid[:50] = True
    X = hte_test["X"].to_numpy()
    data = HeldOut(hte_test["X"], X, hte_test["t"], hte_test["y"].astype(float), avoid, true_p, ARMS)
    config = EvaluationConfig(n_bootstrap=10, expected_truth_rows=0, subgroups=())
    result = evaluate(fitted_t, data, config, load_feature_catalog())
    h = result.headline

    p = fitted_t.predict_outcomes(X)
    kept = ~avoid.all(axis=1)
    usable_true = np.where(avoid, -np.inf, true_p)[kept]
    chosen = np.where(avoid, -np.inf, p).argmax(axis=1)[kept]
    rows = np.arange(int(kept.sum()))
    assert h["regret_usable"] == pytest.approx((usable_true.max(axis=1) - true_p[kept][rows, chosen]).mean())
    assert h["top1_agreement_usable"] == pytest.approx((chosen == usable_true.argmax(axis=1)).mean())
    # the model is charged for the exclusions against the best option overall, not against the best usable one
    assert h["regret"] > h["regret_usable"] + 0.05
    # one fixed order, each patient its first usable option, the best first option
    mean_true = true_p[kept].mean(axis=0)
    singles = []
    for j in range(3):
        order = [j] + [o for o in np.argsort(-mean_true) if o != j]
        given = [next(o for o in order if not avoid[i, o]) for i in np.flatnonzero(kept)]
        singles.append((usable_true.max(axis=1) - true_p[kept][rows, given]).mean())
    assert h["regret_best_single_option_usable"] == pytest.approx(min(singles))
    assert result.oracle_usable is not None
    assert result.oracle_usable.best_single_option == ARMS[int(np.argmin(singles))]
    # every option usable: the top predicted option and one option for all, against the best overall
    top = p.argmax(axis=1)
    assert h["regret_all_usable"] == pytest.approx((true_p.max(axis=1) - true_p[np.arange(n), top]).mean())
    assert h["regret_all_usable"] < h["regret"]
    assert h["regret_best_single_option_all_usable"] == h["regret_best_single_option"]
    assert h["regret_best_single_option_all_usable"] == pytest.approx(
        (true_p.max(axis=1)[:, None] - true_p).mean(axis=0).min()
    )


def test_kendall_tau_rows_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4, size=(50, 6)).astype(float)
    b = rng.normal(size=(50, 6))
    ours = M.kendall_tau_rows(a, b)
    ref = [stats.kendalltau(a[i], b[i]).statistic for i in range(50)]
    assert np.allclose(ours, ref, equal_nan=True)


def test_subgroup_metrics_and_gaps() -> None:
    rng = np.random.default_rng(8)
    n = 4000
    p = rng.uniform(0.05, 0.95, size=n)
    y = (rng.random(n) < p).astype(int)
    group = np.where(np.arange(n) % 2 == 0, "g1", "g2")
    p_biased = np.where(group == "g2", np.clip(p + 0.2, 0, 1), p)  # g2 is miscalibrated
    report = M.subgroup_metrics(y, p_biased, group)
    assert set(report.groups) == {"g1", "g2"}
    g1, g2 = report.groups["g1"], report.groups["g2"]
    assert g1.n == g2.n == n // 2
    assert abs(g1.calibration_in_the_large) < 0.03 and g2.calibration_in_the_large > 0.12
    assert report.calibration_in_the_large_gap == pytest.approx(
        g2.calibration_in_the_large - g1.calibration_in_the_large
    )
    assert report.ece_gap > 0.1
    assert report.auc_gap == pytest.approx(abs(g1.auc - g2.auc))


def test_subgroup_gap_ignores_tiny_groups() -> None:
    y = np.array([0, 1] * 50 + [1, 0])
    p = np.array([0.2, 0.8] * 50 + [0.1, 0.9])
    groups = ["big"] * 100 + ["tiny"] * 2
    report = M.subgroup_metrics(y, p, groups, min_group_size=30)
    assert report.groups["tiny"].auc == 0.0 and math.isnan(report.auc_gap)


def test_per_option_metrics() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    t = np.array(["a", "a", "b", "b", "a", "b"])
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4], [0.3, 0.7], [0.7, 0.5], [0.2, 0.1]])
    out = M.per_option_metrics(y, t, pred, ["a", "b"])
    assert out["a"].n == 3 and out["a"].auc == 1.0 and out["b"].auc == 1.0
    assert out["a"].brier == pytest.approx(np.mean([0.01, 0.04, 0.09]))
