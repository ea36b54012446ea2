"""Proto <-> schema conversion: the only place where protobuf messages meet domain types.

Incoming messages become plain dicts that :func:`precisionpain.features.validate.validate_profile` checks, so
every field violation is reported with its path (prefixed ``patient.`` to match the request message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from precisionpain.v1 import patient_pb2

PROFILE_PATH_PREFIX = "patient"

# Enum values that are not simply the lower-cased suffix after the enum's prefix.
_ENUM_SPECIAL: dict[str, dict[str, str]] = {
    "Oprm1Genotype": {"OPRM1_GENOTYPE_A_A": "A/A", "OPRM1_GENOTYPE_A_G": "A/G", "OPRM1_GENOTYPE_G_G": "G/G"},
    "ComtGenotype": {
        "COMT_GENOTYPE_VAL_VAL": "Val/Val",
        "COMT_GENOTYPE_VAL_MET": "Val/Met",
        "COMT_GENOTYPE_MET_MET": "Met/Met",
    },
}
_ENUM_PREFIX = {
    "Sex": "SEX_",
    "PainType": "PAIN_TYPE_",
    "BiogeographicGroup": "BIOGEOGRAPHIC_GROUP_",
    "HlaStatus": "HLA_STATUS_",
    "PgxSource": "PGX_SOURCE_",
    "Oprm1Genotype": "OPRM1_GENOTYPE_",
    "ComtGenotype": "COMT_GENOTYPE_",
}


def enum_to_schema(enum_name: str, value_name: str) -> str | None:
    """``("Sex", "SEX_FEMALE")`` -> ``"female"``; the zero value (UNSPECIFIED) -> None."""
    if value_name.endswith("_UNSPECIFIED"):
        return None
    special = _ENUM_SPECIAL.get(enum_name)
    if special is not None:
        return special[value_name]
    return value_name.removeprefix(_ENUM_PREFIX[enum_name]).lower()


def schema_to_enum(enum_name: str, value: str | None) -> str:
    """Inverse of :func:`enum_to_schema`: ``("Sex", "female")`` -> ``"SEX_FEMALE"``."""
    if value is None:
        return _ENUM_PREFIX[enum_name] + "UNSPECIFIED"
    special = _ENUM_SPECIAL.get(enum_name)
    if special is not None:
        return next(k for k, v in special.items() if v == value)
    return _ENUM_PREFIX[enum_name] + value.upper()


def _message_to_dict(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        name = field.name
        if field.message_type is not None:
            if msg.HasField(name):
                out[name] = _message_to_dict(getattr(msg, name))
            continue
        if field.enum_type is not None:
            value_name = field.enum_type.values_by_number[getattr(msg, name)].name
            value = enum_to_schema(field.enum_type.name, value_name)
            if value is not None:
                out[name] = value
            continue
        if field.has_presence and not msg.HasField(name):
            continue
        out[name] = getattr(msg, name)
    return out


def profile_dict_from_proto(patient: patient_pb2.PatientProfile, candidate_option_ids: Any = ()) -> dict[str, Any]:
    """A PatientProfile message -> the dict form validated by the feature layer."""
    data = _message_to_dict(patient)
    if not data.get("patient_ref"):
        data.pop("patient_ref", None)
    pgx = data.get("pgx")
    if pgx is not None:
        for gene in ("cyp2d6", "cyp2c9", "cyp2c19"):
            result = pgx.get(gene)
            if result is not None and not any(k in result for k in ("diplotype", "phenotype", "activity_score")):
                pgx.pop(gene)  # an empty message means "not tested"
    ids = list(candidate_option_ids)
    if ids:
        data["candidate_option_ids"] = ids
    return data


def profile_proto_from_dict(data: Mapping[str, Any]) -> patient_pb2.PatientProfile:
    """The dict (JSON) form of a profile -> a PatientProfile message (used by clients and examples)."""
    msg = patient_pb2.PatientProfile()
    _fill(msg, {k: v for k, v in data.items() if k != "candidate_option_ids"})
    return msg


def _fill(msg: Message, data: Mapping[str, Any]) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    for name, value in data.items():
        if value is None:
            continue
        field = fields[name]
        if field.message_type is not None:
            _fill(getattr(msg, name), value)
        elif field.enum_type is not None:
            setattr(msg, name, field.enum_type.values_by_name[schema_to_enum(field.enum_type.name, value)].number)
        else:
            setattr(msg, name, value)
