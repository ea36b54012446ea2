"""Every option's harms beside its response: the package holds one calibrated model per option per outcome, the
engine estimates and explains each (exact TreeSHAP: base + contributions = margin, the probability the calibrated
margin), the answer carries them over gRPC and reads back, and DescribeModel lists the outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.service import convert
from precisionpain.v1 import recommendation_pb2, service_pb2

HARMS = ("adverse_event", "dropout")


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    r = Recommender(small_package, ModelIdentity("precisionpain-test", "3", "champion"))
    r.warmup()
    return r


def test_the_package_has_a_model_per_option_per_outcome(small_package) -> None:  # type: ignore[no-untyped-def]
    assert small_package.metadata.outcomes == ("response", *HARMS)
    assert tuple(small_package.harms) == HARMS
    for model in small_package.harms.values():
        assert model.options_ == small_package.estimator.options_
        assert set(model.calibrators_) == set(model.options_)


def test_every_option_gets_each_outcome_estimated_and_explained(engine, small_package, patient_examples) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in patient_examples.values()]
    X = engine._feature_matrix(profiles)
    expected = {h: m.predict_outcomes(X) for h, m in small_package.harms.items()}
    margins = {h: m.predict_margins(X) for h, m in small_package.harms.items()}
    for i, scored in enumerate(engine.score(profiles)):
        explained = scored.explained()
        rec = explained.recommendation
        for option in (*rec.options, *rec.excluded):
            j = engine.option_ids.index(option.option_id)
            assert [h.outcome.value for h in option.harms] == list(HARMS)
            for h in option.harms:
                assert h.probability == pytest.approx(expected[h.outcome.value][i, j], abs=1e-6)  # XGBoost sums in float32
                assert h.interval.lower <= h.probability + 1e-9 <= h.interval.upper + 2e-9
                e = explained.explanation(option.option_id, h.outcome)
                total = e.base_value + sum(c.shap_value for c in e.contributions) + e.other_contributions
                assert total == pytest.approx(e.margin, abs=1e-9)
                assert e.margin == pytest.approx(margins[h.outcome.value][i, j], abs=1e-5)
        assert len(explained.harm_explanations) == len(HARMS) * len(explained.explanations)


def test_the_answer_carries_the_harms_and_reads_back(engine, patient_examples) -> None:  # type: ignore[no-untyped-def]
    scored = engine.score([validate_profile(patient_examples["cyp2d6_poor_metabolizer"])])[0]
    expected = scored.explained()
    response = service_pb2.RecommendResponse.FromString(convert.recommend_response(scored).SerializeToString())
    for message in (*response.options, *response.excluded):
        assert [h.outcome for h in message.harms] == [
            recommendation_pb2.OUTCOME_ADVERSE_EVENT,
            recommendation_pb2.OUTCOME_DROPOUT,
        ]
        assert all(len(h.explanation.top_contributions) > 0 for h in message.harms)
    back = convert.explained_recommendation_from_response(response)
    assert back.recommendation == expected.recommendation
    def by_key(explanations: Any) -> dict[tuple[str, str], Any]:
        return {(e.option_id, e.outcome.value): e for e in explanations}

    assert by_key(back.harm_explanations) == by_key(expected.harm_explanations)
    assert convert.response_from_explained(expected) == convert.recommend_response(scored)


def test_describe_model_lists_the_outcomes(stub: Any) -> None:
    answer = stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10)
    assert [o.outcome for o in answer.outcomes] == [
        recommendation_pb2.OUTCOME_RESPONSE,
        recommendation_pb2.OUTCOME_ADVERSE_EVENT,
        recommendation_pb2.OUTCOME_DROPOUT,
    ]
    assert [o.label for o in answer.outcomes] == ["response", "stop for side effects", "stop early (any reason)"]
    assert all(o.definition for o in answer.outcomes)
    summary = convert.model_summary_from_response(answer)
    assert [o.outcome.value for o in summary.outcomes] == ["response", *HARMS]


def test_a_response_only_package_still_serves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Packages registered before the harm outcomes (and response-only configs) answer as before: no harms."""
    from precisionpain.models.package import read_package
    from tests.support.packages import build_package

    package = read_package(build_package(tmp_path / "package", n=1500, n_estimators=5, harms=False))
    assert package.metadata.outcomes == ("response",) and not package.harms
    engine = Recommender(package)
    rec = engine.recommend(validate_profile({"clinical": {"age_years": 50, "sex": "male", "pain_type": "mixed",
                                                          "baseline_nrs": 6}}))
    assert all(o.harms == () for o in rec.recommendation.options) and rec.harm_explanations == ()
    assert convert.model_summary_from_response(
        convert.describe_model_response(
            convert.ModelDescription(engine.summary, engine.identity, engine.provenance(), engine.option_ids, ())
        )
    ).outcomes[0].outcome.value == "response"


def test_the_tier_policy_reads_the_conditions_averages_from_the_package(engine, small_package, patient_examples) -> None:  # type: ignore[no-untyped-def]
    """The package keeps each option's mean training probability per recorded condition (or pain type) and outcome;
    the engine hands the patient's own group to the ranking (the order within a tier before this patient's
    estimates move anything)."""
    means = small_package.metadata.table_means
    assert "all" in means and "chronic_low_back_pain" in means and "not given (neuropathic)" in means
    k = len(engine.option_ids)
    assert all(len(v) == k for by in means.values() for v in by.values())
    profile = validate_profile(patient_examples["mostly_missing"])  # no condition given: its pain type's group
    scores = engine._score(engine._feature_matrix([profile]))
    draws = engine._draws(scores, 0, profile)
    key = f"not given ({profile.clinical.pain_type.value})"
    assert draws.prior is not None
    for outcome in ("response", *HARMS):
        np.testing.assert_array_equal(draws.prior[outcome], np.asarray(means[key][outcome]))
