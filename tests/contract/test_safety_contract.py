"""The safety layer through the engine's doors: every clinical vignette (tests/fixtures/safety/vignettes.yaml)
in-process and over a real gRPC server, and a property test that no option hit by a contraindication or a CPIC
avoid is ever ranked, whatever the profile and the candidate list."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.schema import PatientProfile, RankedRecommendation
from precisionpain.service.convert import explained_recommendation_from_response, recommend_request_from_dict
from tests.unit.safety.conftest import load_vignettes, vignette_profile

BASE, VIGNETTES = load_vignettes()


def _check(vignette: dict[str, Any], rec: RankedRecommendation) -> None:
    ranked = {o.option_id: o for o in rec.options}
    excluded = {o.option_id: o for o in rec.excluded}
    for oid in vignette.get("excluded", ()):
        assert oid in excluded and oid not in ranked, (vignette["id"], oid)
        option = excluded[oid]
        assert option.verdict == "excluded" and option.exclusion_reason
        assert option.safety_reasons[0].level.value == "contraindicated" and option.safety_reasons[0].sources
    if "excluded" in vignette and not vignette["excluded"]:
        assert not excluded, (vignette["id"], sorted(excluded))
    for oid in vignette.get("not_excluded", ()):
        assert oid in ranked, (vignette["id"], oid, excluded.get(oid))
    for oid in vignette.get("warned", ()):
        option = ranked.get(oid) or excluded[oid]
        assert option.verdict in ("warning", "excluded"), (vignette["id"], oid)
        if option.verdict == "warning":
            assert any(c.severity.value in ("warning", "critical") for c in option.cautions), (vignette["id"], oid)
    for gene, phenotype in vignette.get("functional", {}).items():
        (reading,) = [g for g in rec.functional_phenotypes if g.gene == gene]
        assert reading.functional_phenotype == phenotype
        if reading.phenoconverted:
            assert reading.inhibitors and "functional" in reading.text
    shown = {w.field for w in rec.warnings if w.kind.value == "safety_not_checked"}
    assert len(shown) <= len(rec.warnings)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_vignette_in_process(vignette: dict[str, Any], small_package) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.recommender import Recommender

    engine = _engine(small_package)
    assert isinstance(engine, Recommender)
    profile = PatientProfile.model_validate(vignette_profile(BASE, vignette["profile"]))
    _check(vignette, engine.recommend(profile).recommendation)


def test_vignettes_over_grpc(stub: Any) -> None:
    for vignette in VIGNETTES:
        request = recommend_request_from_dict(vignette_profile(BASE, vignette["profile"]))
        response = stub.Recommend(request, timeout=20)
        _check(vignette, explained_recommendation_from_response(response).recommendation)


def test_response_carries_the_demonstration_flag_and_intended_use(stub: Any) -> None:
    request = recommend_request_from_dict(vignette_profile(BASE, VIGNETTES[0]["profile"]))
    response = stub.Recommend(request, timeout=20)
    assert response.provenance.synthetic_training_data is True
    assert response.provenance.intended_use
    assert len(response.provenance.safety_rules_sha256) == 64
    assert list(response.medications) == ["paroxetine"]


def test_unknown_medication_is_invalid_argument_naming_the_field(stub: Any) -> None:
    profile = vignette_profile(BASE, {"medications": [{"name": "sertraline"}, {"name": "notamedicine"}]})
    with pytest.raises(grpc.RpcError) as err:
        stub.Recommend(recommend_request_from_dict(profile), timeout=20)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "medications[1].name" in err.value.details()
    assert "notamedicine" not in err.value.details()


def test_a_request_naming_only_carbamazepine_does_not_make_it_the_only_choice(small_package) -> None:  # type: ignore[no-untyped-def]
    """CPIC's HLA-A*31:01 'avoid if alternatives exist' reads the catalog, never the request's candidates."""
    profile = PatientProfile.model_validate(
        vignette_profile(
            BASE,
            {"pgx": {"hla_a_3101": "positive", "hla_b_1502": "negative"}, "candidate_option_ids": ["carbamazepine"]},
        )
    )
    rec = _engine(small_package).recommend(profile).recommendation
    assert [o.option_id for o in rec.excluded] == ["carbamazepine"] and not rec.options


# ------------------------------------------------------------------------------------------ property


_ENGINES: dict[int, Any] = {}


def _engine(package: Any) -> Any:
    from precisionpain.recommender import Recommender

    if id(package) not in _ENGINES:
        _ENGINES[id(package)] = Recommender(package)
    return _ENGINES[id(package)]


_MEDICATIONS = ["paroxetine", "fluoxetine", "bupropion", "sertraline", "duloxetine", "phenelzine", "alprazolam",
                "gabapentin", "oxycodone", "fluconazole", "fluvoxamine", "omeprazole", "warfarin", "terbinafine"]  # fmt: skip
_GENE = st.one_of(
    st.none(),
    st.sampled_from(["*1/*1", "*4/*4", "*1/*4", "*1/*2x2", "*2/*2"]).map(lambda d: {"diplotype": d}),
    st.sampled_from(["Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer", "Indeterminate"]).map(
        lambda p: {"phenotype": p}
    ),
)
_PROFILES = st.fixed_dictionaries(
    {
        "clinical": st.fixed_dictionaries(
            {
                "age_years": st.integers(18, 95),
                "sex": st.sampled_from(["female", "male"]),
                "pain_type": st.sampled_from(["nociceptive", "neuropathic", "nociplastic", "mixed"]),
                "baseline_nrs": st.integers(0, 10),
            },
            optional={
                "biogeographic_group": st.sampled_from(["east_asian", "central_south_asian", "european", "latino"]),
                "egfr_ml_per_min_1_73m2": st.floats(5, 130),
                "hepatic_impairment": st.sampled_from(["none", "child_pugh_a", "child_pugh_b", "child_pugh_c"]),
                "pregnant": st.booleans(),
                "gestational_age_weeks": st.floats(1, 41),
                "breastfeeding": st.booleans(),
                "opioid_mme_per_day": st.floats(0, 200),
                "seizure_disorder": st.booleans(),
                "carbamazepine_prior_use_over_3_months": st.booleans(),
            },
        ),
        "pgx": st.fixed_dictionaries(
            {},
            optional={
                "cyp2d6": _GENE.filter(lambda g: g is not None),
                "cyp2c19": st.sampled_from(["*1/*1", "*2/*2", "*1/*17"]).map(lambda d: {"diplotype": d}),
                "cyp2c9": st.sampled_from(["*1/*1", "*3/*3", "*1/*3"]).map(lambda d: {"diplotype": d}),
                "hla_b_1502": st.sampled_from(["positive", "negative", "not_tested"]),
                "hla_a_3101": st.sampled_from(["positive", "negative", "not_tested"]),
            },
        ),
        "psychosocial": st.fixed_dictionaries(
            {}, optional={"phq9_total": st.integers(0, 27), "phq9_item9": st.integers(0, 3)}
        ),
        "medications": st.lists(st.sampled_from(_MEDICATIONS), max_size=4, unique=True).map(
            lambda names: [{"name": n} for n in names]
        ),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_PROFILES, data=st.data())
def test_no_contraindicated_option_is_ever_ranked(raw: dict[str, Any], data: Any, small_package) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.safety import apply_safety_rules

    engine = _engine(small_package)
    option_ids = list(engine.option_ids)
    candidates = data.draw(st.lists(st.sampled_from(option_ids), min_size=1, max_size=6, unique=True))
    profile = PatientProfile.model_validate({**raw, "candidate_option_ids": candidates})
    truth = apply_safety_rules(profile, engine.safety)
    forbidden = {
        o.option_id
        for o in truth.options
        if any(r.level.value == "contraindicated" for r in o.reasons)
    }
    rec = engine.recommend(profile).recommendation
    ranked = {o.option_id for o in rec.options}
    assert not ranked & forbidden
    assert {o.option_id for o in rec.excluded} == forbidden & set(candidates)
    for o in rec.options:
        assert o.verdict in ("usable", "warning") and o.rank is not None
