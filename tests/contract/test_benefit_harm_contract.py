"""Benefit against harm over a real gRPC server: every option's net benefit with its components, the answer's
utility and rule, a request's own weights (within the model's bounds, else INVALID_ARGUMENT naming the field) and
policy, and DescribeModel's defaults."""

from __future__ import annotations

import itertools
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from precisionpain.service.client import recommend_request
from precisionpain.v1 import recommendation_pb2, service_pb2

NET_BENEFIT_ONLY = recommendation_pb2.RANKING_POLICY_NET_BENEFIT_ONLY
TIER_THEN_NET_BENEFIT = recommendation_pb2.RANKING_POLICY_TIER_THEN_NET_BENEFIT


def _harm(option: Any, outcome: int) -> float:
    return next(h.probability for h in option.harms if h.outcome == outcome)


def _request(patient: dict[str, Any], **fields: Any) -> service_pb2.RecommendRequest:
    request = recommend_request(patient)
    for name, value in fields.items():
        if name == "weights":
            request.utility_weights.CopyFrom(recommendation_pb2.UtilityWeights(**value))
        else:
            setattr(request, name, value)
    return request


def test_every_option_has_its_net_benefit_and_components(stub: Any, patient_examples: dict[str, Any]) -> None:
    response = stub.Recommend(_request(patient_examples["cyp2d6_ultrarapid_diabetic_neuropathy"]), timeout=30)
    assert response.ranking.policy == TIER_THEN_NET_BENEFIT
    assert response.ranking.adverse_event_weight == 0.5 and response.ranking.dropout_weight == 0.0
    assert response.ranking.utility == "net benefit = P(response) - 0.5 x P(stop for side effects)"
    assert "significantly higher" in response.ranking.rule
    for option in (*response.options, *response.excluded):
        ae = _harm(option, recommendation_pb2.OUTCOME_ADVERSE_EVENT)
        nb = option.net_benefit
        assert nb.value == pytest.approx(option.p_response - 0.5 * ae, abs=1e-12)
        assert nb.value_interval.lower <= nb.value <= nb.value_interval.upper
        assert nb.text == f"{option.p_response:.0%} response, {ae:.0%} stop for side effects"


def test_a_patients_own_weights_and_policy(stub: Any, patient_examples: dict[str, Any]) -> None:
    patient = patient_examples["mostly_missing"]
    weights = {"adverse_event_weight": 3.0, "dropout_weight": 1.0}
    response = stub.Recommend(_request(patient, weights=weights, ranking_policy=NET_BENEFIT_ONLY), timeout=30)
    assert response.ranking.policy == NET_BENEFIT_ONLY
    assert (response.ranking.adverse_event_weight, response.ranking.dropout_weight) == (3.0, 1.0)
    for option in response.options:
        ae = _harm(option, recommendation_pb2.OUTCOME_ADVERSE_EVENT)
        dropout = _harm(option, recommendation_pb2.OUTCOME_DROPOUT)
        assert option.net_benefit.value == pytest.approx(option.p_response - 3.0 * ae - dropout, abs=1e-12)
        assert "stop early (any reason)" in option.net_benefit.text
    values = [o.net_benefit.value for o in response.options]
    assert values == sorted(values, reverse=True)
    # the default policy on the same patient: tier first (an option above a better tier says so)
    default = stub.Recommend(_request(patient, weights=weights), timeout=30)
    order = {1: 0, 2: 1, 3: 2, 5: 3, 4: 4}
    for a, b in itertools.pairwise(default.options):
        assert order[a.guideline.tier] <= order[b.guideline.tier] or a.tier_overridden


def test_weights_outside_the_bounds_are_refused_by_field(stub: Any, patient_examples: dict[str, Any]) -> None:
    request = _request(
        patient_examples["mostly_missing"], weights={"adverse_event_weight": 3.5, "dropout_weight": float("nan")}
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.Recommend(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = status_pb2.Status.FromString(dict(info.value.trailing_metadata())["grpc-status-details-bin"])
    found = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    assert "must be between 0 and 3" in found["utility_weights.adverse_event_weight"]
    assert "must be a finite number" in found["utility_weights.dropout_weight"]
    assert "3.5" not in str(found)


def test_describe_model_gives_the_ranking_defaults_and_bounds(stub: Any) -> None:
    answer = stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10)
    r = answer.ranking
    assert r.policy == TIER_THEN_NET_BENEFIT
    assert (r.adverse_event_weight, r.dropout_weight, r.adverse_event_weight_max, r.dropout_weight_max) == (
        0.5, 0.0, 3.0, 1.0,
    )
    assert r.confidence == 0.95


def test_groups_and_the_probability_of_being_best(stub: Any, patient_examples: dict[str, Any]) -> None:
    for name in ("cyp2d6_ultrarapid_diabetic_neuropathy", "mostly_missing", "older_adult_ckd"):
        response = stub.Recommend(_request(patient_examples[name]), timeout=30)
        ranked = list(response.options)
        groups = list(response.ranking.groups)
        # the groups partition the ranked options, in rank order, numbered from 1
        assert [i for g in groups for i in g.option_ids] == [o.option_id for o in ranked], name
        assert [g.group for g in groups] == list(range(1, len(groups) + 1))
        by_id = {o.option_id: o for o in ranked}
        for g in groups:
            assert all(by_id[i].tie_group == g.group for i in g.option_ids)
            assert g.text == (
                ("Equally good choices for this patient" if len(g.option_ids) > 1 else "Best choice for this patient")
                if g.group == 1
                else ("Equally good next choices" if len(g.option_ids) > 1 else "Next choice")
            )
        assert ranked[0].tie_group == 1
        assert sum(o.probability_best for o in ranked) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= o.probability_best <= 1.0 for o in ranked)
        assert not any(o.HasField("net_benefit") is False for o in response.excluded)
