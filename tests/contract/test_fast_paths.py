"""The serving hot path's shortcuts give exactly what the plain code gives, on many varied patients.

- responses written as wire bytes == responses built field by field from the stage types;
- a batch's answer framed as wire bytes == protobuf's serialisation, each answer copied into it once;
- the engine's fused interval == ``TreatmentResponseModel.interval_from_margins`` (jackknife and bootstrap);
- the engine's feature matrix == the feature layer's own table path;
- one provenance object per clock second.
"""

from __future__ import annotations

import math
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.rpc import status_pb2

from precisionpain.benefit_harm import NO_PREFERENCES, Preferences
from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.schema import PatientProfile, RankedRecommendation, RankingPolicy, RuleLevel
from precisionpain.service import convert
from precisionpain.v1 import service_pb2

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    # a fixed clock: a batch and the same patients one by one must give the same bytes even when the second
    # turns between the two calls
    r = Recommender(
        small_package,
        ModelIdentity("precisionpain-test", "7", "champion", "run-7", "models:/x@champion"),
        clock=lambda: "2026-01-01T00:00:00Z",
    )
    r.warmup()
    return r


@pytest.fixture(scope="module")
def cohort_profiles(feature_catalog) -> list[PatientProfile]:  # type: ignore[no-untyped-def]
    """Synthetic patients: every genotype mix, missing inputs, safety flags, values outside training ranges."""
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.frame import iter_profile_dicts

    frame = generate_cohort(120, 31, catalog=feature_catalog)
    profiles = []
    for i, data in enumerate(iter_profile_dicts(frame, feature_catalog)):
        if i % 3 == 0:
            data["patient_ref"] = f"p-{i}"
        profiles.append(validate_profile(data, feature_catalog))
    return profiles


def _wire(msg: Any) -> bytes:
    return bytes(msg.SerializeToString(deterministic=True))


@pytest.mark.parametrize("top_k", [0, 3, 8, 1000])
def test_wire_bytes_response_equals_the_plain_one(engine, cohort_profiles, patient_examples, top_k) -> None:  # type: ignore[no-untyped-def]
    profiles = cohort_profiles + [validate_profile(d) for d in patient_examples.values()]
    for scored in engine.score(profiles, top_k=top_k):
        fast = convert.recommend_response(scored, "rid-fast")
        plain = convert.response_from_explained(scored.explained(), "rid-fast")
        assert _wire(fast) == _wire(plain)
        again = service_pb2.RecommendResponse.FromString(fast.SerializeToString())
        assert _wire(again) == _wire(fast)


def _kinds(profile: PatientProfile, scored: Any) -> set[str]:
    """What one answer holds of the kinds the wire bytes must carry like the plain path."""
    rec: RankedRecommendation = scored.recommendation
    kinds = set()
    excluded_reasons = [r for o in rec.excluded for r in o.safety_reasons]
    if any(r.level is RuleLevel.contraindicated and not r.is_cpic for r in excluded_reasons):
        kinds.add("excluded by a safety rule")
    if any(g.action == "AVOID" for o in rec.excluded for g in o.guidance):
        kinds.add("CPIC avoid")
    if any(o.harms for o in (*rec.options, *rec.excluded)) and scored.harm_shap:
        kinds.add("harm outcomes")
    if rec.ranking is not None and any(len(g.option_ids) > 1 for g in rec.ranking.groups):
        kinds.add("tie group")
    if any(o.tier_overridden for o in rec.options):
        kinds.add("tier override")
    if any(math.isnan(x) for x in scored.values.tolist()):
        kinds.add("missing values")
    if profile.clinical.pain_condition is None:
        kinds.add("no pain condition")
    if rec.ranking is not None and (rec.ranking.adverse_event_weight != 0.5 or rec.ranking.dropout_weight):
        kinds.add("request weights")
    if rec.ranking is not None and rec.ranking.policy is RankingPolicy.net_benefit_only:
        kinds.add("net benefit only")
    return kinds


def test_wire_bytes_equal_the_plain_ones_for_every_kind_of_answer(engine, cohort_profiles, patient_examples) -> None:  # type: ignore[no-untyped-def]
    """Exclusions by rules and by CPIC, harms, tie groups, tier overrides, missing values, no condition, a
    request's own weights and policy: the bytes parse to the message the plain path builds, and the ranking's
    objects (built without validation) are the ones validation builds."""
    profiles = cohort_profiles + [validate_profile(d) for d in patient_examples.values()]
    profiles += [
        p.model_copy(update={"clinical": p.clinical.model_copy(update={"pain_condition": None})})
        for p in profiles[::4]
    ]
    choices = [
        NO_PREFERENCES,
        Preferences(adverse_event_weight=2.5),
        Preferences(adverse_event_weight=0.0, dropout_weight=0.7),
        Preferences(policy=RankingPolicy.net_benefit_only),
        Preferences(adverse_event_weight=1.0, dropout_weight=0.2, policy=RankingPolicy.tier_then_net_benefit),
    ]
    preferences = [choices[i % len(choices)] for i in range(len(profiles))]
    top_k = [(0, 1, 3, 8, 1000)[i % 5] for i in range(len(profiles))]
    seen: Counter[str] = Counter()
    answers = engine.score(profiles, top_k=top_k, preferences=preferences)
    for profile, scored in zip(profiles, answers, strict=True):
        fast = convert.recommend_response(scored, "rid-kinds")
        assert _wire(fast) == _wire(convert.response_from_explained(scored.explained(), "rid-kinds"))
        rec = scored.recommendation
        assert RankedRecommendation.model_validate(rec.model_dump()) == rec
        seen.update(_kinds(profile, scored))
    wanted = {
        "excluded by a safety rule", "CPIC avoid", "harm outcomes", "tie group", "tier override",
        "missing values", "no pain condition", "request weights", "net benefit only",
    }  # fmt: skip
    assert wanted <= set(seen), f"kinds never met: {sorted(wanted - set(seen))}"


def test_the_rankings_caches_give_what_a_cold_ranking_gives(engine, cohort_profiles, patient_examples) -> None:  # type: ignore[no-untyped-def]
    """The ranking keeps the catalog's facts per catalog, cautions by the reasons' parts, CPIC views by the gene
    readings and safety warnings by their texts: each answer ranked after many others equals the same answer ranked
    with every cache of the ranking emptied first."""
    from precisionpain import ranking

    profiles = cohort_profiles + [validate_profile(d) for d in patient_examples.values()]
    warm = [scored.recommendation for scored in engine.score(profiles)]
    for profile, expected in zip(profiles, warm, strict=True):
        ranking._catalog_facts.cache_clear()
        ranking._caution_of.cache.clear()
        ranking._drug_view.cache.clear()
        ranking._catalog_cautions_of.cache_clear()
        ranking._safety_warning.cache_clear()
        (cold,) = engine.score([profile])
        assert cold.recommendation == expected


def test_wire_bytes_response_with_candidates_and_in_a_batch(engine, cohort_profiles) -> None:  # type: ignore[no-untyped-def]
    candidates = [("codeine", "duloxetine"), None, ("carbamazepine", "pregabalin", "tramadol"), ("amitriptyline",)]
    wanted = [candidates[i % len(candidates)] for i in range(len(cohort_profiles))]
    batch = engine.score(cohort_profiles, wanted, [1 + i % 9 for i in range(len(cohort_profiles))])
    for profile, chosen, scored in zip(cohort_profiles, wanted, batch, strict=True):
        fast = convert.recommend_response(scored)
        assert _wire(fast) == _wire(convert.response_from_explained(scored.explained()))
        (single,) = engine.score([profile], [chosen], scored.top_k)
        assert _wire(convert.recommend_response(single)) == _wire(fast)
        shown = {o.option_id for o in fast.options} | {o.option_id for o in fast.excluded}
        assert shown == set(chosen or engine.option_ids)


@contextmanager
def _interval_method(estimator: Any, method: str) -> Iterator[None]:
    before = estimator.interval_method
    estimator.interval_method = method
    try:
        yield
    finally:
        estimator.interval_method = before


@pytest.mark.parametrize("method", ["jackknife", "bootstrap"])
def test_fused_interval_equals_the_estimator(small_package, engine, cohort_profiles, method) -> None:  # type: ignore[no-untyped-def]
    est = small_package.estimator
    X = engine._feature_matrix(cohort_profiles)
    with _interval_method(est, method):
        r = Recommender(small_package)
        assert r._replicates is not None and r._interval_q[0] is not None
        k = len(r.option_ids)
        margins = r._point.explain(X).margins[:, :k]  # the response's, before the harm outcomes'
        reps = r._replicates.margins(X).reshape(X.shape[0], len(r.outcomes), k, r._n_replicates)[:, 0]
        expected = est.interval_from_margins(margins, reps, r.alpha)
        p, lower, upper, _replicates = r._interval(est, r._interval_q[0], margins, reps)
    np.testing.assert_array_equal(p, expected.estimate)
    np.testing.assert_array_equal(lower, expected.lower)
    np.testing.assert_array_equal(upper, expected.upper)


def test_feature_matrix_equals_the_feature_layer(engine, cohort_profiles, feature_catalog, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import profiles_to_frame

    X = engine._feature_matrix(cohort_profiles)
    expected = assemble_features(profiles_to_frame(cohort_profiles, feature_catalog), feature_catalog, pgx_tables)
    np.testing.assert_array_equal(X, np.asarray(expected.values, dtype=np.float64))
    for i in (0, 7, len(cohort_profiles) - 1):
        np.testing.assert_array_equal(engine._feature_matrix([cohort_profiles[i]])[0], X[i])


def test_one_provenance_per_clock_second(small_package) -> None:  # type: ignore[no-untyped-def]
    ticks = iter(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"])
    r = Recommender(small_package, clock=lambda: next(ticks))
    first, second, third = r.provenance(), r.provenance(), r.provenance()
    assert first is second and first.generated_at == "2026-01-01T00:00:00Z"
    assert third is not first and third.generated_at == "2026-01-01T00:00:01Z"
    assert third.model_copy(update={"generated_at": first.generated_at}) == first


def test_batch_answer_bytes_equal_protobufs_and_copy_each_answer_once() -> None:
    rng = np.random.default_rng(11)
    results: list[tuple[bool, bytes]] = []
    for i, n_values in enumerate([0, 3, 15, 2_000, 9, 40_000, 1, 25_000, 300, 60_000] * 4):
        if i % 7 == 3:  # an item that failed alone
            status = status_pb2.Status(code=3, message="recommend request: 1 problem" + "." * n_values)
            results.append((False, status.SerializeToString()))
        else:
            answer = service_pb2.RecommendResponse(
                request_id="rid-batch", feature_values=rng.random(n_values)
            )
            results.append((True, answer.SerializeToString()))
    expected = service_pb2.RecommendBatchResponse(request_id="rid-batch")
    for ok, data in results:
        item = expected.results.add()
        if ok:
            item.response.MergeFromString(data)
        else:
            item.error.MergeFromString(data)
    answers_bytes = sum(len(data) for _, data in results)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        framed = convert.batch_response_bytes("rid-batch", results)
        peak_bytes = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

    assert framed == expected.SerializeToString(deterministic=True)
    assert service_pb2.RecommendBatchResponse.FromString(framed) == expected
    # the answer itself and its framing (a few bytes per item): no copy of an item on the way
    framed_bytes = len(framed)
    assert framed_bytes < answers_bytes + 16 * len(results)
    assert peak_bytes < framed_bytes + answers_bytes // 10, (
        f"{peak_bytes:,} bytes at the peak for {framed_bytes:,}"
    )


@pytest.mark.parametrize("first", [0.0, -0.0])
def test_a_zero_keeps_its_sign_whoever_came_before(engine, patient_examples, first) -> None:  # type: ignore[no-untyped-def]
    """The written contributions are cached per feature value, and -0.0 == 0.0: a patient's answer must still show
    its own value, not the sign of the zero another patient sent before."""
    data = patient_examples["cyp2d6_poor_metabolizer"]
    for zero in (first, -first):
        profile = validate_profile({**data, "clinical": {**data["clinical"], "baseline_nrs": zero}})
        (scored,) = engine.score([profile], top_k=1000)
        fast = convert.recommend_response(scored)
        assert _wire(fast) == _wire(convert.response_from_explained(scored.explained())), zero
