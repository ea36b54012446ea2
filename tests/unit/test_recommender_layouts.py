"""Serving an S-learner package: the compiled stacked path gives what the estimators' own methods give."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender, serving_layout


@pytest.fixture(scope="module")
def s_engine(tmp_path_factory):  # type: ignore[no-untyped-def]
    from precisionpain.models.package import read_package
    from tests.support.packages import build_package

    path = build_package(
        tmp_path_factory.mktemp("s-package") / "package", n=2500, n_estimators=30, strategy="s_learner"
    )
    engine = Recommender(read_package(path), ModelIdentity("precisionpain-test", "1", "champion"))
    engine.warmup()
    return engine


def _rows(engine, example_profile_dicts) -> np.ndarray:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    return np.stack([np.asarray(engine.recommend(p).features.values, dtype=np.float64) for p in profiles])


def test_an_s_learner_package_is_served_by_the_stacked_path(s_engine) -> None:  # type: ignore[no-untyped-def]
    assert s_engine.layout == "stacked"
    assert len(s_engine.outcomes) == 3


def test_stacked_path_equals_the_estimators_own_methods(s_engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    X = _rows(s_engine, example_profile_dicts)
    X[0, ::3] = np.nan  # missing values take the trees' default branches in both
    scores = s_engine._score(X)
    models = (s_engine.package.estimator, *(s_engine.package.harms[o] for o in s_engine.outcomes[1:]))
    for outcome, model, got in zip(s_engine.outcomes, models, scores, strict=True):
        explanation = model.explain(X)
        interval = model.predict_interval(X, alpha=s_engine.alpha)
        assert np.abs(got.margins - explanation.margins).max() < 1e-5, outcome
        assert np.abs(got.contributions - explanation.contributions).max() < 1e-5, outcome
        assert np.abs(got.base_values - explanation.base_values).max() < 1e-5, outcome
        # the base value varies by option and patient: the option's one-hot contribution is in it
        assert np.ptp(got.base_values, axis=1).max() > 0, outcome
        # probabilities from float32 trees summed in another order: within what the margins allow
        for mine, theirs in ((got.p, interval.estimate), (got.lower, interval.lower), (got.upper, interval.upper)):
            assert np.abs(mine - theirs).max() < 1e-5, outcome


def test_stacked_answers_add_up(s_engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    for name, data in example_profile_dicts.items():
        out = s_engine.recommend(validate_profile(data))
        for o in (*out.recommendation.options, *out.recommendation.excluded):
            e = out.explanation(o.option_id)
            total = e.base_value + sum(c.shap_value for c in e.contributions) + e.other_contributions
            assert abs(total - e.margin) < 1e-9, name
            assert o.interval.lower <= o.p_response + 1e-9 <= o.interval.upper + 2e-9, name


def test_batch_equals_single_on_the_stacked_path(s_engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    for profile, b in zip(profiles, s_engine.recommend_batch(profiles), strict=True):
        s = s_engine.recommend(profile)
        assert [o.option_id for o in s.recommendation.options] == [o.option_id for o in b.recommendation.options]
        for o1, o2 in zip(s.recommendation.options, b.recommendation.options, strict=True):
            assert abs(o1.p_response - o2.p_response) < 1e-12


@pytest.mark.parametrize(
    ("fitted", "layout"),
    [
        (("t_learner", "t_learner", "ipw_t_learner"), "per_option"),
        (("s_learner", "s_learner"), "stacked"),
        (("t_learner", "s_learner"), None),  # outcomes of both kinds: each served by its own methods
        (("x_learner",), None),
        (("dr_learner", "t_learner"), None),
    ],
)
def test_serving_layout_follows_the_fitted_strategies(fitted, layout) -> None:  # type: ignore[no-untyped-def]
    # "auto" is served as the strategy it chose (strategy_)
    models = [SimpleNamespace(strategy="auto", strategy_=f) for f in fitted]
    assert serving_layout(models) == layout
