"""Every live field of precisionpain.v1 follows the naming rules other languages depend on (Google AIP-140 and
AIP-142), required fields say so (google.api.field_behavior), and renamed fields keep their old names readable."""

from __future__ import annotations

import re

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from precisionpain.v1 import patient_pb2, recommendation_pb2, service_pb2

#: AIP-140: no prepositions in field names ("per" joins the parts of a unit, as in mg_per_l, and is allowed)
PREPOSITIONS = frozenset({
    "about", "above", "across", "after", "against", "along", "among", "around", "at", "before", "behind",
    "below", "beneath", "beside", "between", "by", "despite", "during", "except", "for", "from", "in",
    "inside", "into", "near", "of", "off", "on", "onto", "over", "past", "since", "through", "to", "toward",
    "towards", "under", "until", "upon", "via", "with", "within", "without",
})
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*")
TIMESTAMP = "google.protobuf.Timestamp"


def api_messages() -> list[Descriptor]:
    out: list[Descriptor] = []
    todo = [m for mod in (patient_pb2, recommendation_pb2, service_pb2) for m in mod.DESCRIPTOR.message_types_by_name.values()]
    while todo:
        message = todo.pop()
        if not message.GetOptions().map_entry:
            out.append(message)
            todo.extend(message.nested_types)
    return out


def live_fields() -> list[tuple[Descriptor, FieldDescriptor]]:
    return [(m, f) for m in api_messages() for f in m.fields if not f.GetOptions().deprecated]


def naming_problems(name: str, field: FieldDescriptor) -> list[str]:
    problems = []
    if not SNAKE.fullmatch(name):
        problems.append("lower_snake_case with no digit right after an underscore (one camel-case spelling)")
    if PREPOSITIONS & set(name.split("_")):
        problems.append("no preposition")
    if field.message_type is not None and field.message_type.full_name == TIMESTAMP and not name.endswith("_time"):
        problems.append("a timestamp ends in _time")
    return problems


def test_every_live_field_has_one_camel_case_spelling_and_no_preposition() -> None:
    """protoc's JSON name and protobufjs's camel case differ exactly when a digit follows an underscore
    ("hla_b_1502": "hlaB1502" and "hlaB_1502"); a client sending the other spelling is silently ignored."""
    bad = [
        f"{m.name}.{f.name}: {', '.join(problems)}"
        for m, f in live_fields()
        if (problems := naming_problems(f.name, f))
    ]
    assert not bad, bad


def test_the_rules_catch_the_fields_they_are_for() -> None:
    clinical = patient_pb2.Clinical.DESCRIPTOR.fields_by_name
    provenance = recommendation_pb2.Provenance.DESCRIPTOR.fields_by_name
    assert naming_problems("hla_b_1502", clinical["age_years"])
    assert naming_problems("carbamazepine_prior_use_over_3_months", clinical["age_years"])
    assert naming_problems("generated_at", provenance["generated_at"]) == ["no preposition", "a timestamp ends in _time"]
    assert not naming_problems("egfr_ml_per_min_per_standard_bsa", clinical["age_years"])


def test_deprecated_fields_are_renamed_fields_still_read() -> None:
    """Each deprecated field has a live replacement of the same type, and convert reads both."""
    from precisionpain.service.convert import RENAMED_FIELDS

    deprecated = {(m.full_name, f.name) for m in api_messages() for f in m.fields if f.GetOptions().deprecated}
    renamed = {(message, old) for message, pairs in RENAMED_FIELDS.items() for old, _ in pairs}
    timestamps = {
        ("precisionpain.v1.Provenance", "generated_at"),
        ("precisionpain.v1.DescribeModelResponse", "trained_at"),
        ("precisionpain.v1.DescribeModelResponse", "loaded_at"),
        ("precisionpain.v1.Guidance", "guideline_url"),
    }
    assert deprecated == renamed | timestamps
    for message, pairs in RENAMED_FIELDS.items():
        fields = next(m for m in api_messages() if m.full_name == message).fields_by_name
        for old, new in pairs:
            assert (fields[old].type, fields[old].enum_type) == (fields[new].type, fields[new].enum_type), new
            assert not fields[new].GetOptions().deprecated


def behaviours(field: FieldDescriptor) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def test_required_fields_carry_field_behavior_required() -> None:
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.catalog.types import MissingPolicy
    from tests.conftest import REPO

    catalog = load_feature_catalog(REPO)
    required_in_catalog = {s.field.id for s in catalog.input_fields if s.field.missing is MissingPolicy.required}
    clinical = patient_pb2.Clinical.DESCRIPTOR
    marked = {f.name for f in clinical.fields if field_behavior_pb2.REQUIRED in behaviours(f)}
    assert required_in_catalog and marked == required_in_catalog
    for message, name in (
        (service_pb2.RecommendRequest, "patient"),
        (patient_pb2.PatientProfile, "clinical"),
        (patient_pb2.Medication, "name"),
    ):
        assert field_behavior_pb2.REQUIRED in behaviours(message.DESCRIPTOR.fields_by_name[name]), name
