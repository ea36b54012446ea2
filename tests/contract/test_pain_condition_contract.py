"""The pain condition over the wire: every level has its proto enum value, and unset means not given."""

from __future__ import annotations

import pytest

from precisionpain.errors import ProfileValidationError
from precisionpain.features.validate import validate_profile
from precisionpain.schema import PainCondition
from precisionpain.service import convert
from precisionpain.v1 import patient_pb2

MINIMAL = {"age_years": 50, "sex": "female", "pain_type": "mixed", "baseline_nrs": 6}


@pytest.mark.parametrize("condition", list(PainCondition))
def test_each_condition_round_trips_through_the_proto(condition: PainCondition) -> None:
    msg = convert.profile_proto_from_dict({"clinical": {**MINIMAL, "pain_condition": condition.value}})
    assert patient_pb2.PainCondition.Name(msg.clinical.pain_condition) == "PAIN_CONDITION_" + condition.name.upper()
    assert validate_profile(convert.profile_dict_from_proto(msg)).clinical.pain_condition is condition


def test_unset_condition_is_not_given() -> None:
    msg = convert.profile_proto_from_dict({"clinical": MINIMAL})
    assert msg.clinical.pain_condition == patient_pb2.PAIN_CONDITION_UNSPECIFIED
    assert validate_profile(convert.profile_dict_from_proto(msg)).clinical.pain_condition is None


def test_a_condition_that_disagrees_with_the_pain_type_is_named() -> None:
    msg = convert.profile_proto_from_dict(
        {"clinical": {**MINIMAL, "pain_type": "nociceptive", "pain_condition": "trigeminal_neuralgia"}}
    )
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(convert.profile_dict_from_proto(msg))
    assert [(v.path, v.rule) for v in info.value.violations] == [
        ("clinical.pain_condition", "trigeminal_neuralgia requires clinical.pain_type neuropathic or mixed")
    ]
