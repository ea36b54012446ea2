"""The in-process engine on a real small model: ranking, CPIC exclusions, explanations, batch == single."""

from __future__ import annotations

import gc
import itertools
import weakref

import numpy as np
import pytest
import shap

from precisionpain.benefit_harm import TIER_ORDER
from precisionpain.errors import ModelCatalogMismatchError, PrecisionPainError, ProfileValidationError
from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    r = Recommender(small_package, ModelIdentity("precisionpain-test", "1", "champion"))
    r.warmup()
    return r


def test_ranked_and_explained(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    for name, data in example_profile_dicts.items():
        out = engine.recommend(validate_profile(data))
        rec = out.recommendation
        ranks = [o.rank for o in rec.options]
        assert ranks == list(range(1, len(ranks) + 1)), name
        # the default policy: guideline tier first; an option above a better tier says so
        for a, b in itertools.pairwise(rec.options):
            assert TIER_ORDER[a.guideline.tier] <= TIER_ORDER[b.guideline.tier] or a.tier_overridden, name
        for o in (*rec.options, *rec.excluded):
            assert o.interval.lower <= o.p_response + 1e-9 and o.p_response <= o.interval.upper + 1e-9
            e = out.explanation(o.option_id)
            total = e.base_value + sum(c.shap_value for c in e.contributions) + e.other_contributions
            assert abs(total - e.margin) < 1e-9
            assert abs(sum(e.domain_totals.values()) + e.base_value - e.margin) < 1e-9
        assert rec.provenance.catalog_sha256 == engine.catalog_sha256
        assert rec.provenance.model_version == "1"


def test_cpic_exclusions(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    pm = engine.recommend(validate_profile(example_profile_dicts["cyp2d6_poor_metabolizer"])).recommendation
    excluded = {o.option_id: o for o in pm.excluded}
    assert {"codeine", "tramadol"} <= set(excluded)
    assert "Avoid codeine" in excluded["codeine"].exclusion_reason
    assert all(o.option_id not in {"codeine", "tramadol"} for o in pm.options)
    hla = engine.recommend(validate_profile(example_profile_dicts["hla_b_1502_carrier"])).recommendation
    assert "carbamazepine" in {o.option_id for o in hla.excluded}


def test_explanations_equal_shap_tree_explainer(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profile = validate_profile(example_profile_dicts["hla_b_1502_carrier"])
    out = engine.recommend(profile, top_k=len(engine.package.catalog.features))
    X = np.asarray(out.features.values)[None, :]
    est = engine.package.estimator
    for option in ("gabapentin", "physical_therapy"):
        explainer = shap.TreeExplainer(est.boosters_[option])
        expected = explainer.shap_values(X)[0]
        e = out.explanation(option)
        got = {c.feature_id: c.shap_value for c in e.contributions}
        ids = engine.package.catalog.feature_ids
        assert max(abs(got[f] - expected[i]) for i, f in enumerate(ids)) < 1e-5
        assert abs(e.base_value - float(np.ravel(explainer.expected_value)[0])) < 1e-5


def test_batch_equals_single(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    batch = engine.recommend_batch(profiles)
    for profile, b in zip(profiles, batch, strict=True):
        s = engine.recommend(profile)
        assert [o.option_id for o in s.recommendation.options] == [o.option_id for o in b.recommendation.options]
        for o1, o2 in zip(s.recommendation.options, b.recommendation.options, strict=True):
            assert abs(o1.p_response - o2.p_response) < 1e-12


def test_candidates(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profile = validate_profile(example_profile_dicts["cyp2d6_poor_metabolizer"])
    out = engine.recommend(profile, candidate_ids=["codeine", "physical_therapy", "duloxetine"])
    shown = {o.option_id for o in out.recommendation.options} | {o.option_id for o in out.recommendation.excluded}
    assert shown == {"codeine", "physical_therapy", "duloxetine"}
    assert {e.option_id for e in out.explanations} == shown
    with pytest.raises(ProfileValidationError, match=r"candidate_option_ids\[1\]"):
        engine.recommend(profile, candidate_ids=["codeine", "aspirin_magic"])


def test_a_batch_with_a_failed_patient_is_freed_without_the_collector(engine, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    """A patient whose candidates break a rule fails alone, and the error kept for it does not hold the batch: the
    batch's feature matrix (and its SHAP arrays beside it) go as soon as the answers do, not at a full collection."""
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    gc.collect()
    gc.disable()
    try:
        items = list(engine.score_items(profiles, [["codeine", "aspirin_magic"]] + [None] * (len(profiles) - 1)))
        assert isinstance(items[0], PrecisionPainError)
        assert not any(isinstance(item, PrecisionPainError) for item in items[1:])
        batch_matrix = weakref.ref(items[1].values.base)
        assert batch_matrix().shape == (len(profiles), len(engine.package.catalog.feature_ids))
        del items
        held = batch_matrix() is not None
        assert not held, "the batch's arrays outlived its answers (a reference cycle)"
    finally:
        gc.enable()


def test_catalog_mismatch_is_refused(small_package) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelCatalogMismatchError):
        Recommender(small_package, expected_catalog_sha256="0" * 64)
