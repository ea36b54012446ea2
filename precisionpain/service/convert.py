"""Proto <-> schema conversion: the only place where protobuf messages meet domain types.

Incoming messages become plain dicts that :func:`precisionpain.features.validate.validate_profile` checks, so
every field violation is reported with its path (prefixed ``patient.`` to match the request message).

Outgoing responses are built straight from the engine's :class:`~precisionpain.recommender.ScoredRecommendation`
(ranking plus raw SHAP arrays), so the service does not build the per-contribution stage objects only to copy
them into messages; the explanation rules are those of
:func:`precisionpain.explain.contributions.explain_options` (top-k by absolute SHAP value, ties in feature
order; the rest summed; totals per domain), and :func:`explained_recommendation_from_response` turns a
response back into the :class:`~precisionpain.schema.ExplainedRecommendation` it describes. On that hot path
the options and explanations are written as protobuf wire bytes (field numbers taken from the descriptors;
the parts every answer repeats serialised once and cached) and parsed into the response in one call;
:func:`response_from_explained` builds the same message field by field, and the tests hold the two equal.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from precisionpain.benefit_harm import NO_PREFERENCES, Preferences, RankingSettings
from precisionpain.bounded_cache import lru_cache_bytes, text_bytes
from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog
from precisionpain.errors import ProfileValidationError, Violation, kind_of
from precisionpain.explain import display
from precisionpain.explain.contributions import DEFAULT_TOP_K, harm_top_k
from precisionpain.schema import (
    MAX_CANDIDATE_OPTIONS,
    MAX_MEDICATIONS,
    MAX_OPTION_ID_CHARS,
    CatalogRef,
    Caution,
    Contribution,
    DataWarning,
    ExplainedRecommendation,
    FeatureVector,
    FunctionalReading,
    GeneReading,
    Guidance,
    GuidelineContext,
    GuidelinePosition,
    Interval,
    ModelSummary,
    NetBenefit,
    OptionExplanation,
    OutcomeDefinition,
    OutcomePrediction,
    Provenance,
    RankedOption,
    RankedRecommendation,
    RankingPolicy,
    RankingSummary,
    SafetyFlag,
    SafetyReason,
    SourceRef,
    SubgroupGap,
    TieGroup,
    length_rule,
)
from precisionpain.v1 import patient_pb2, recommendation_pb2, service_pb2

if TYPE_CHECKING:
    from precisionpain.recommender import ModelIdentity, ScoredRecommendation

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
    "PainCondition": "PAIN_CONDITION_",
    "BiogeographicGroup": "BIOGEOGRAPHIC_GROUP_",
    "HlaStatus": "HLA_STATUS_",
    "PgxSource": "PGX_SOURCE_",
    "Oprm1Genotype": "OPRM1_GENOTYPE_",
    "ComtGenotype": "COMT_GENOTYPE_",
    "HepaticImpairment": "HEPATIC_IMPAIRMENT_",
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


#: Fields renamed inside v1 (their old names gave other languages two camel-case spellings, or held a
#: preposition): message full name -> (deprecated field, its replacement). The old field stays readable; the
#: profile's dict form (the schema and feature catalog) keeps the old name as its key.
RENAMED_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "precisionpain.v1.Clinical": (
        ("carbamazepine_prior_use_over_3_months", "carbamazepine_long_term_prior_use"),
        ("egfr_ml_per_min_1_73m2", "egfr_ml_per_min_per_standard_bsa"),
    ),
    "precisionpain.v1.Pharmacogenomics": (
        ("hla_b_1502", "hla_b1502_status"),
        ("hla_a_3101", "hla_a3101_status"),
    ),
    "precisionpain.v1.Biomarkers": (("vitamin_d_25oh_ng_per_ml", "vitamin_d_ng_per_ml"),),
}
_REPLACEMENT = {(message, old): new for message, pairs in RENAMED_FIELDS.items() for old, new in pairs}
_REPLACED = {(message, new): old for message, pairs in RENAMED_FIELDS.items() for old, new in pairs}


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    kind: int  # 0 scalar without presence, 1 scalar with presence, 2 message, 3 enum, 4 repeated message
    enum_values: Mapping[int, str | None]
    key: str = ""  # the dict key when it is not ``name``: a renamed field's old name


_SCALAR, _OPTIONAL, _MESSAGE, _ENUM, _REPEATED_MESSAGE = range(5)
MAX_REPEATED_ITEMS = MAX_MEDICATIONS  # the profile's only repeated message is its medication list


@lru_cache(maxsize=64)
def _plan(descriptor: Any) -> tuple[_FieldPlan, ...]:
    """How to read each field, replacements of renamed fields last (so that the new name wins)."""
    plan = []
    for field in descriptor.fields:
        key = _REPLACED.get((descriptor.full_name, field.name), "")
        if field.is_repeated:
            if field.message_type is None:
                raise TypeError(
                    f"{descriptor.name}.{field.name}: repeated scalars are not part of the profile"
                )
            plan.append(_FieldPlan(field.name, _REPEATED_MESSAGE, {}, key))
        elif field.message_type is not None:
            plan.append(_FieldPlan(field.name, _MESSAGE, {}, key))
        elif field.enum_type is not None:
            values = {v.number: enum_to_schema(field.enum_type.name, v.name) for v in field.enum_type.values}
            plan.append(_FieldPlan(field.name, _ENUM, values, key))
        else:
            plan.append(_FieldPlan(field.name, _OPTIONAL if field.has_presence else _SCALAR, {}, key))
    return tuple(sorted(plan, key=lambda f: bool(f.key)))


def _message_to_dict(msg: Message, path: str = "", problems: list[Violation] | None = None) -> dict[str, Any]:
    """The message as a dict keyed by schema names; a renamed field and its deprecated twin set to different
    values is a violation in ``problems`` (paths relative to the profile)."""
    out: dict[str, Any] = {}
    value: Any
    for f in _plan(msg.DESCRIPTOR):
        name = f.name
        if f.kind == _REPEATED_MESSAGE:
            items = getattr(msg, name)
            if items:
                # One item past the schema's bound is enough for validation to say "too many": no more is read.
                out[name] = [_item_to_dict(m) for m in items[: MAX_REPEATED_ITEMS + 1]]
            continue
        if f.kind == _MESSAGE:
            if not msg.HasField(name):
                continue
            value = _message_to_dict(getattr(msg, name), f"{path}{name}.", problems)
        elif f.kind == _ENUM:
            number = getattr(msg, name)
            value = f.enum_values.get(number)
            if value is None:
                if number in f.enum_values:
                    continue
                value = number  # an enum number this version does not know: validation reports it
        elif f.kind == _SCALAR or msg.HasField(name):
            value = getattr(msg, name)
        else:
            continue
        if f.key:
            if f.key in out and out[f.key] != value and problems is not None:
                problems.append(
                    Violation(
                        f"{path}{name}",
                        f"{name} and the deprecated {f.key} are both given and differ; give {name} only",
                        "two different values",
                    )
                )
            out[f.key] = value
        else:
            out[name] = value
    return out


def _item_to_dict(msg: Message) -> dict[str, Any]:
    """An item of a repeated message: an empty string means "not given" (proto3 strings have no presence)."""
    return {k: v for k, v in _message_to_dict(msg).items() if v != ""}


def profile_dict_from_proto(
    patient: patient_pb2.PatientProfile,
    candidate_option_ids: Any = (),
    violations: list[Violation] | None = None,
) -> dict[str, Any]:
    """A PatientProfile message -> the dict form validated by the feature layer.

    A renamed field is read under either name (the new one wins); both given with different values is a violation,
    added to ``violations`` (paths relative to the profile) or, without that list, raised.
    """
    problems: list[Violation] = []
    data = _message_to_dict(patient, "", problems)
    if violations is not None:
        violations += problems
    else:
        ProfileValidationError.raise_if_any("patient profile", problems)
    if not data.get("patient_ref"):
        data.pop("patient_ref", None)
    pgx = data.get("pgx")
    if pgx is not None:
        for gene in ("cyp2d6", "cyp2c9", "cyp2c19"):
            result = pgx.get(gene)
            if result is not None and not any(
                k in result for k in ("diplotype", "phenotype", "activity_score")
            ):
                pgx.pop(gene)  # an empty message means "not tested"
    ids = list(candidate_option_ids)
    if ids:
        data["candidate_option_ids"] = ids
    return data


def profile_proto_from_dict(data: Mapping[str, Any]) -> patient_pb2.PatientProfile:
    """The dict (JSON) form of a profile -> a PatientProfile message (used by clients and examples).

    Keys the message does not have, values of the wrong type and unknown enum values are collected and raised
    once as a :class:`ProfileValidationError` (values are checked against the catalog later, by the server).
    """
    msg = patient_pb2.PatientProfile()
    violations: list[Violation] = []
    if isinstance(data, Mapping):
        _fill(msg, {k: v for k, v in data.items() if k != "candidate_option_ids"}, "", violations)
    else:
        violations.append(Violation("(root)", "must be a JSON object", kind_of(data)))
    ProfileValidationError.raise_if_any("patient profile", violations)
    return msg


def _enum_number(enum: Any, value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        name = schema_to_enum(enum.name, value)
    except StopIteration:
        return None
    found = enum.values_by_name.get(name)
    return None if found is None or found.number == 0 else found.number


def _fill(msg: Message, data: Mapping[str, Any], path: str, violations: list[Violation]) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    message = msg.DESCRIPTOR.full_name
    for name, value in data.items():
        where = f"{path}.{name}" if path else str(name)
        if value is None:
            continue
        field = fields.get(
            _REPLACEMENT.get((message, name), name)
        )  # a renamed field is sent under its new name
        if field is None:
            violations.append(Violation(where, "unknown key (not allowed)", kind_of(value)))
        elif field.is_repeated:
            if not isinstance(value, list | tuple):
                violations.append(Violation(where, "must be a list", kind_of(value)))
                continue
            items = getattr(msg, field.name)
            for i, item in enumerate(value[: MAX_REPEATED_ITEMS + 1]):
                if isinstance(item, Mapping):
                    _fill(items.add(), item, f"{where}[{i}]", violations)
                else:
                    violations.append(Violation(f"{where}[{i}]", "must be an object", kind_of(item)))
        elif field.message_type is not None:
            if isinstance(value, Mapping):
                _fill(getattr(msg, field.name), value, where, violations)
            else:
                violations.append(Violation(where, "must be an object", kind_of(value)))
        elif field.enum_type is not None:
            number = _enum_number(field.enum_type, value)
            if number is None:
                allowed = [
                    enum_to_schema(field.enum_type.name, v.name) for v in field.enum_type.values if v.number
                ]
                violations.append(
                    Violation(where, f"must be one of {', '.join(map(str, allowed))}", kind_of(value))
                )
            else:
                setattr(msg, field.name, number)
        else:
            try:
                setattr(msg, field.name, value)
            except (TypeError, ValueError):
                violations.append(
                    Violation(
                        where, f"must be {_FIELD_KINDS.get(field.type, 'of another type')}", kind_of(value)
                    )
                )


_FIELD_KINDS = {
    FieldDescriptor.TYPE_DOUBLE: "a number",
    FieldDescriptor.TYPE_INT32: "a whole number",
    FieldDescriptor.TYPE_BOOL: "true or false",
    FieldDescriptor.TYPE_STRING: "a string",
}


# ============================================================================================== requests


@dataclass(frozen=True)
class RecommendInput:
    """What one RecommendRequest asks for, before validation: the profile dict, candidates, top-k and the
    ranking preferences (utility weights and policy; their bounds are the model's, checked by the servicer)."""

    profile: dict[str, Any]
    candidate_option_ids: tuple[str, ...]
    top_k: int
    violations: tuple[Violation, ...]  # request-level problems found while converting (top_k, candidate ids)
    preferences: Preferences = NO_PREFERENCES


def _preferences(request: service_pb2.RecommendRequest, violations: list[Violation]) -> Preferences:
    """The request's utility weights (None where unset) and policy (None for UNSPECIFIED); a policy number this
    version does not know is a violation."""
    weights = request.utility_weights
    policy = None
    number = int(request.ranking_policy)
    if number:
        policy = _POLICY_BACK.get(number)
        if policy is None:
            allowed = ", ".join(sorted(_POLICY))
            violations.append(Violation("ranking_policy", f"must be one of {allowed}", "unknown enum number"))
    return Preferences(
        adverse_event_weight=weights.adverse_event_weight
        if weights.HasField("adverse_event_weight")
        else None,
        dropout_weight=weights.dropout_weight if weights.HasField("dropout_weight") else None,
        policy=None if policy is None else RankingPolicy(policy),
    )


def _bounded_candidates(ids: Sequence[str], violations: list[Violation]) -> tuple[str, ...]:
    """The request's candidate ids if their count and lengths are within bounds; else () and the violations."""
    if len(ids) > MAX_CANDIDATE_OPTIONS:
        violations.append(
            Violation("candidate_option_ids", f"must list at most {MAX_CANDIDATE_OPTIONS} option ids", "list")
        )
        return ()
    too_long = [
        Violation(f"candidate_option_ids[{i}]", length_rule(MAX_OPTION_ID_CHARS), "string")
        for i, c in enumerate(ids)
        if len(c) > MAX_OPTION_ID_CHARS
    ]
    violations += too_long
    return () if too_long else tuple(ids)


def recommend_input_from_request(request: service_pb2.RecommendRequest) -> RecommendInput:
    """A RecommendRequest -> profile dict (validated next), candidate ids and top-k (0 = default).

    Candidate ids beyond their bounds (count, length) are reported here and not looked at further.
    """
    violations: list[Violation] = []
    top_k = int(request.top_k_contributions)
    if top_k < 0:
        violations.append(Violation("top_k_contributions", "must be 0 (default) or more", "integer"))
    elif top_k == 0:
        top_k = DEFAULT_TOP_K
    candidates = _bounded_candidates(request.candidate_option_ids, violations)
    problems: list[Violation] = []
    profile = profile_dict_from_proto(request.patient, violations=problems)
    violations += [Violation(f"{PROFILE_PATH_PREFIX}.{v.path}", v.rule, v.received) for v in problems]
    preferences = _preferences(request, violations)
    return RecommendInput(
        profile=profile,
        candidate_option_ids=candidates,
        top_k=max(top_k, 0),
        violations=tuple(violations),
        preferences=preferences,
    )


def recommend_request_from_dict(
    data: Mapping[str, Any], candidates: Sequence[str] | None = None, top_k: int = 0
) -> service_pb2.RecommendRequest:
    """A profile in its JSON form (as in examples/patients) -> a RecommendRequest."""
    ids = list(candidates) if candidates else list(data.get("candidate_option_ids") or ())
    return service_pb2.RecommendRequest(
        patient=profile_proto_from_dict(data), candidate_option_ids=ids, top_k_contributions=top_k
    )


# ============================================================================================== enums


def _enum_maps(
    enum: EnumDescriptor, prefix: str, *, lower: bool = True
) -> tuple[dict[str, int], dict[int, str]]:
    """schema value <-> proto number for an enum whose names are PREFIX + VALUE (UNSPECIFIED excluded)."""
    forward: dict[str, int] = {}
    for v in enum.values:
        if v.number == 0:
            continue
        key = v.name.removeprefix(prefix)
        forward[key.lower() if lower else key] = v.number
    return forward, {n: k for k, n in forward.items()}


_MODALITY, _MODALITY_BACK = _enum_maps(recommendation_pb2.Modality.DESCRIPTOR, "MODALITY_")
_ACTION, _ACTION_BACK = _enum_maps(
    recommendation_pb2.GuidanceAction.DESCRIPTOR, "GUIDANCE_ACTION_", lower=False
)
_SEVERITY, _SEVERITY_BACK = _enum_maps(recommendation_pb2.Severity.DESCRIPTOR, "SEVERITY_")
_DOMAIN, _DOMAIN_BACK = _enum_maps(recommendation_pb2.Domain.DESCRIPTOR, "DOMAIN_")
_WARNING, _WARNING_BACK = _enum_maps(recommendation_pb2.WarningKind.DESCRIPTOR, "WARNING_KIND_")
_LEVEL, _LEVEL_BACK = _enum_maps(recommendation_pb2.RuleLevel.DESCRIPTOR, "RULE_LEVEL_")
_VERDICT, _VERDICT_BACK = _enum_maps(recommendation_pb2.SafetyVerdict.DESCRIPTOR, "SAFETY_VERDICT_")
_TIER, _TIER_BACK = _enum_maps(recommendation_pb2.GuidelineTier.DESCRIPTOR, "GUIDELINE_TIER_")
_BASIS, _BASIS_BACK = _enum_maps(recommendation_pb2.GuidelineBasis.DESCRIPTOR, "GUIDELINE_BASIS_")
_CONDITION, _CONDITION_BACK = _enum_maps(patient_pb2.PainCondition.DESCRIPTOR, "PAIN_CONDITION_")
_PAIN_TYPE, _PAIN_TYPE_BACK = _enum_maps(patient_pb2.PainType.DESCRIPTOR, "PAIN_TYPE_")
_OUTCOME, _OUTCOME_BACK = _enum_maps(recommendation_pb2.Outcome.DESCRIPTOR, "OUTCOME_")
_POLICY, _POLICY_BACK = _enum_maps(recommendation_pb2.RankingPolicy.DESCRIPTOR, "RANKING_POLICY_")


# ============================================================================================== timestamps


def _timestamp(msg: Any, iso: str) -> None:
    """Set a google.protobuf.Timestamp from an ISO 8601 string (empty string = leave unset)."""
    if not iso:
        return
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    msg.FromDatetime(when)


def _iso(msg: Any, present: bool) -> str:
    if not present:
        return ""
    return str(msg.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z"))


def _iso_either(msg: Any, field: str, deprecated: str) -> str:
    """A timestamp from its ``*_time`` field, or from its deprecated twin when an older server set only that."""
    name = field if msg.HasField(field) else deprecated
    return _iso(getattr(msg, name), msg.HasField(name))


# ============================================================================================== responses


@dataclass(frozen=True)
class _FeatureTable:
    """Per model feature, what a Contribution message carries, in catalog order."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    units: tuple[str, ...]
    domains: tuple[int, ...]  # proto Domain numbers
    domain_numbers: tuple[int, ...]  # the domains present, in first-seen catalog order
    domain_matrix: np.ndarray  # (domains, features) 0/1


@lru_cache(maxsize=16)
def _feature_table(catalog: FeatureCatalog) -> _FeatureTable:
    names = tuple(f.domain.value for f in catalog.features)
    present = tuple(dict.fromkeys(names))
    return _FeatureTable(
        ids=tuple(f.id for f in catalog.features),
        labels=tuple(f.label for f in catalog.features),
        units=tuple(f.unit for f in catalog.features),
        domains=tuple(_DOMAIN.get(d, 0) for d in names),
        domain_numbers=tuple(_DOMAIN.get(d, 0) for d in present),
        domain_matrix=np.array([[1.0 if d == name else 0.0 for d in names] for name in present]),
    )


# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/) for the Explanation messages.
_Wire = bytes | memoryview  # written bytes, or a view of bytes written in one piece with others
_WIRE_VARINT, _WIRE_I64, _WIRE_LEN = 0, 1, 2
_DOUBLE = struct.Struct("<d")
_ONE_BYTE = tuple(bytes([n]) for n in range(0x80))


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _key(message: Any, field: str, wire: int) -> bytes:
    return _varint(message.DESCRIPTOR.fields_by_name[field].number << 3 | wire)


def _string_field(key: bytes, text: str) -> bytes:
    """A string field (omitted when empty, as proto3 writes it)."""
    data = text.encode("utf-8")
    return key + _varint(len(data)) + data if data else b""


def _varint_field(key: bytes, number: int) -> bytes:
    return key + _varint(number) if number else b""


class _ExplanationCodec:
    """Writes Explanation messages of one feature catalog as wire bytes (field numbers from the descriptors).

    What a Contribution carries about its feature (id, label, unit, domain) is encoded once per catalog; the
    patient's value and its display text once per response and feature; only the SHAP value per contribution.
    """

    def __init__(self, catalog: FeatureCatalog) -> None:
        E, C, D = (
            recommendation_pb2.Explanation,
            recommendation_pb2.Contribution,
            recommendation_pb2.DomainTotal,
        )
        t = _feature_table(catalog)
        self.static = tuple(
            _string_field(_key(C, "feature_id", _WIRE_LEN), t.ids[i])
            + _string_field(_key(C, "label", _WIRE_LEN), t.labels[i])
            + _string_field(_key(C, "unit", _WIRE_LEN), t.units[i])
            + _varint_field(_key(C, "domain", _WIRE_VARINT), t.domains[i])
            for i in range(len(t.ids))
        )
        self.value_key = _key(C, "value", _WIRE_I64)
        self.display_key = _key(C, "display_value", _WIRE_LEN)
        self.shap_key = _key(C, "shap_value", _WIRE_I64)
        self.contribution_key = _key(E, "top_contributions", _WIRE_LEN)
        self.base_key = _key(E, "base_value", _WIRE_I64)
        self.margin_key = _key(E, "margin", _WIRE_I64)
        self.space = _string_field(_key(E, "space", _WIRE_LEN), "log_odds")
        self.other_key = _key(E, "other_contributions", _WIRE_I64)
        # an answer's feature ids (the catalog's, every one written, as protobuf writes a repeated string) and the key
        # of its packed feature values
        R = service_pb2.RecommendResponse
        ids_key = _key(R, "feature_ids", _WIRE_LEN)
        self.feature_ids = b"".join(ids_key + _varint(len(b)) + b for b in (i.encode("utf-8") for i in t.ids))
        self.values_key = _key(R, "feature_values", _WIRE_LEN)
        self._header_layout = np.dtype(
            [("k1", "u1"), ("base", "<f8"), ("k2", "u1"), ("margin", "<f8"), ("space", f"V{len(self.space)}")]
        )
        # one DomainTotal entry per domain: the bytes before its 8-byte shap_value
        self.domain_prefixes = tuple(
            _key(E, "domain_totals", _WIRE_LEN) + _varint(len(body) + 8) + body
            for body in (
                _varint_field(_key(D, "domain", _WIRE_VARINT), number) + _key(D, "shap_value", _WIRE_I64)
                for number in t.domain_numbers
            )
        )
        # when every prefix has the same length and other_contributions' key is one byte, numpy writes the end of
        # every explanation of an answer (other_contributions, then the DomainTotal entries) at once
        sizes = {len(p) for p in self.domain_prefixes}
        self._tail_layout: np.dtype[Any] | None = None
        if len(sizes) == 1 and len(self.other_key) == 1:
            (size,) = sizes
            domain = np.dtype([("prefix", f"V{size}"), ("value", "<f8")])
            self._tail_layout = np.dtype(
                [("key", "u1"), ("other", "<f8"), ("domains", domain, (len(self.domain_prefixes),))]
            )
            self._domain_prefix_array = np.frombuffer(b"".join(self.domain_prefixes), dtype=f"V{size}")

    def header(self, base_value: float, margin: float) -> bytes:
        return self.base_key + _DOUBLE.pack(base_value) + self.margin_key + _DOUBLE.pack(margin) + self.space

    def header_rows(self, base_values: np.ndarray, margins: np.ndarray) -> tuple[bytes, np.ndarray]:
        """:meth:`header` of every row, joined, and each one's length (the keys are one byte each, the layout
        fixed, so numpy writes them all at once)."""
        k = base_values.shape[0]
        if len(self.base_key) != 1 or len(self.margin_key) != 1:
            rows = zip(base_values.tolist(), margins.tolist(), strict=True)
            return _joined([self.header(b, m) for b, m in rows])
        table = np.empty(k, dtype=self._header_layout)
        table["k1"] = self.base_key[0]
        table["base"] = base_values
        table["k2"] = self.margin_key[0]
        table["margin"] = margins
        table["space"] = np.frombuffer(self.space, dtype=f"V{len(self.space)}")[0]
        return table.tobytes(), np.full(k, self._header_layout.itemsize, dtype=np.int64)

    def other(self, value: float) -> bytes:
        return self.other_key + _DOUBLE.pack(value)

    def contribution_head(self, catalog: FeatureCatalog, index: int, value: float | None) -> bytes:
        """A Contribution of this feature up to its shap_value: append the 8 bytes of the value to finish it."""
        body = (
            self.static[index]
            + (self.value_key + _DOUBLE.pack(value) if value is not None else b"")
            + _string_field(self.display_key, display.feature_value(catalog.features[index], value))
            + self.shap_key
        )
        return self.contribution_key + _varint(len(body) + 8) + body

    def tail_rows(self, rest: np.ndarray, totals: np.ndarray) -> tuple[bytes, np.ndarray]:
        """Every row's end, joined, and each one's length: the sum of the contributions not listed (``rest``,
        (k,)), then its DomainTotal entries (``totals``, (k, domains))."""
        if self._tail_layout is None:  # keys or prefixes of other lengths (not so for the shipped fields)
            prefixes = self.domain_prefixes
            pack = _DOUBLE.pack
            return _joined(
                [
                    self.other(r) + b"".join([p + pack(v) for p, v in zip(prefixes, row, strict=True)])
                    for r, row in zip(rest.tolist(), totals.tolist(), strict=True)
                ]
            )
        k = totals.shape[0]
        table = np.empty(k, dtype=self._tail_layout)
        table["key"] = self.other_key[0]
        table["other"] = rest
        domains = table["domains"]
        domains["prefix"] = self._domain_prefix_array
        domains["value"] = totals
        return table.tobytes(), np.full(k, self._tail_layout.itemsize, dtype=np.int64)


def _joined(rows: Sequence[bytes]) -> tuple[bytes, np.ndarray]:
    return b"".join(rows), np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))


@lru_cache(maxsize=16)
def _explanation_codec(catalog: FeatureCatalog) -> _ExplanationCodec:
    return _ExplanationCodec(catalog)


CONTRIBUTION_HEAD_CACHE_BYTES = 4 * 1024 * 1024


@lru_cache_bytes(CONTRIBUTION_HEAD_CACHE_BYTES, lambda args, head: text_bytes(head) + 128)
def _contribution_head(catalog: FeatureCatalog, index: int, value: float | None) -> bytes:
    """Cached per feature value: most features take few distinct values (codes, flags, whole scores). The value
    is the caller's, so the cache is bounded in bytes: a flood of distinct values evicts, it does not grow."""
    return _explanation_codec(catalog).contribution_head(catalog, index, value)


def _head_of(catalog: FeatureCatalog, index: int, value: float | None) -> bytes:
    """:func:`_contribution_head`, but -0.0 (equal to 0.0 as a key, so either would get the other's cached bytes,
    a sign another patient sent) is written uncached."""
    if value == 0.0 and math.copysign(1.0, value) < 0.0:
        return _explanation_codec(catalog).contribution_head(catalog, index, value)
    return _contribution_head(catalog, index, value)


def _fill_guidance(msg: Any, g: Guidance) -> None:
    msg.source = g.source
    msg.drug = g.drug
    for r in g.genes:
        msg.genes.add(
            gene=r.gene, phenotype=r.phenotype, activity_score=r.activity_score, lookup_key=r.lookup_key
        )
    msg.action = _ACTION.get(g.action, 0)
    msg.classification = g.classification
    msg.recommendation = g.recommendation
    msg.implications = g.implications
    msg.population = g.population
    msg.dose_adjustments.extend(g.dose_adjustments)
    msg.guideline = g.guideline
    msg.guideline_url = g.guideline_url  # deprecated twin of guideline_uri, kept for older clients
    msg.guideline_uri = g.guideline_url
    msg.cpic_data_version = g.cpic_data_version


def _fill_source(msg: Any, src: SourceRef) -> None:
    msg.source_id, msg.label, msg.url, msg.verified = src.source_id, src.label, src.url, src.verified


def _fill_reason(msg: Any, r: SafetyReason) -> None:
    msg.rule_id = r.rule_id
    msg.level = _LEVEL.get(r.level.value, 0)
    msg.text = r.text
    msg.facts.extend(r.facts)
    for src in r.sources:
        _fill_source(msg.sources.add(), src)
    msg.judgement = r.judgement
    msg.note = r.note


def _fill_guideline(msg: Any, g: GuidelinePosition) -> None:
    """An option's tier; its sources by id only (their labels and URLs are in the answer's GuidelineContext)."""
    msg.tier = _TIER.get(g.tier.value, 0)
    msg.basis = _BASIS.get(g.basis.value, 0)
    msg.table = g.table
    for src in g.sources:
        msg.sources.add(source_id=src.source_id, verified=src.verified)
    msg.judgement = g.judgement
    msg.note = g.note


def _fill_guideline_context(msg: Any, c: GuidelineContext | None) -> None:
    if c is None:
        return
    ctx = msg.guideline_context
    ctx.pain_condition = _CONDITION.get(c.pain_condition.value, 0) if c.pain_condition is not None else 0
    ctx.pain_type = _PAIN_TYPE.get(c.pain_type.value, 0)
    ctx.basis = _BASIS.get(c.basis.value, 0)
    ctx.table = c.table
    ctx.text = c.text
    for src in c.sources:
        _fill_source(ctx.sources.add(), src)


def _fill_option(msg: Any, o: RankedOption) -> None:
    """The fields RankedOption and ExcludedOption share (the explanation is filled separately)."""
    msg.option_id = o.option_id
    msg.display_name = o.display_name
    msg.option_class = o.option_class
    msg.modality = _MODALITY.get(o.modality, 0)
    msg.p_response = o.p_response
    iv = msg.p_response_interval
    iv.lower, iv.upper, iv.level = o.interval.lower, o.interval.upper, o.interval.level
    for g in o.guidance:
        _fill_guidance(msg.guidance.add(), g)
    for c in o.cautions:
        msg.cautions.add(
            code=c.code,
            severity=_SEVERITY.get(c.severity.value, 0),
            source=c.source,
            strength=c.strength,
            text=c.text,
        )
    msg.verdict = _VERDICT.get(o.verdict, 0)
    for r in o.safety_reasons:
        _fill_reason(msg.safety_reasons.add(), r)
    if o.guideline is not None:
        _fill_guideline(msg.guideline, o.guideline)
    for h in o.harms:
        hm = msg.harms.add(outcome=_OUTCOME.get(h.outcome.value, 0), probability=h.probability)
        hi = hm.probability_interval
        hi.lower, hi.upper, hi.level = h.interval.lower, h.interval.upper, h.interval.level
    if o.net_benefit is not None:
        nb = msg.net_benefit
        nb.value, nb.text = o.net_benefit.value, o.net_benefit.text
        ni = nb.value_interval
        ni.lower, ni.upper, ni.level = (
            o.net_benefit.interval.lower,
            o.net_benefit.interval.upper,
            o.net_benefit.interval.level,
        )
    if "tier_overridden" in msg.DESCRIPTOR.fields_by_name:  # RankedOption only
        msg.tier_overridden = o.tier_overridden
        msg.tie_group = o.tie_group or 0
        msg.probability_best = o.probability_best or 0.0


def _fill_provenance(msg: Any, p: Provenance) -> None:
    msg.model_name = p.model_name
    msg.model_version = p.model_version
    msg.model_alias = p.model_alias
    msg.model_run_id = p.model_run_id
    msg.catalog_id = p.catalog_id
    msg.catalog_version = p.catalog_version
    msg.catalog_sha256 = p.catalog_sha256
    msg.options_catalog_sha256 = p.options_catalog_sha256
    msg.code_version = p.code_version
    msg.cpic_data_version = p.cpic_data_version
    _timestamp(msg.generate_time, p.generated_at)
    _timestamp(msg.generated_at, p.generated_at)  # deprecated twin, kept for older clients
    msg.synthetic_training_data = p.synthetic_training_data
    msg.intended_use = p.intended_use
    msg.safety_rules_version = p.safety_rules_version
    msg.safety_rules_sha256 = p.safety_rules_sha256
    msg.medication_catalog_sha256 = p.medication_catalog_sha256
    msg.guideline_catalog_version = p.guideline_catalog_version
    msg.guideline_catalog_sha256 = p.guideline_catalog_sha256


def _fill_recommendation(msg: Any, rec: RankedRecommendation) -> dict[tuple[str, str], Any]:
    """Options, exclusions, warnings, flags and provenance; returns (option id, outcome) -> its Explanation
    message (the response's and each harm's)."""
    explanations: dict[tuple[str, str], Any] = {}
    msg.patient_ref = rec.patient_ref or ""
    for o in rec.options:
        m = msg.options.add()
        _fill_option(m, o)
        m.rank = o.rank or 0
        _explanation_targets(explanations, o.option_id, m)
    for o in rec.excluded:
        m = msg.excluded.add()
        _fill_option(m, o)
        m.reason = o.exclusion_reason
        _explanation_targets(explanations, o.option_id, m)
    _fill_patient_safety(msg, rec)
    _fill_provenance(msg.provenance, rec.provenance)
    return explanations


def _explanation_targets(out: dict[tuple[str, str], Any], option_id: str, m: Any) -> None:
    out[(option_id, "response")] = m.explanation
    for h in m.harms:
        out[(option_id, _OUTCOME_BACK.get(h.outcome, ""))] = h.explanation


def _fill_patient_safety(msg: Any, rec: RankedRecommendation) -> None:
    """Warnings, safety flags, functional phenotypes and medications: what the answer says of the patient."""
    _fill_warnings(msg, rec)
    _fill_readings(msg, rec)


def _fill_warnings(msg: Any, rec: RankedRecommendation) -> None:
    """The warnings and safety flags (RecommendResponse fields 5 and 6)."""
    for w in rec.warnings:
        msg.warnings.add(kind=_WARNING.get(w.kind.value, 0), field=w.field, message=w.message)
    for f in rec.safety_flags:
        msg.safety_flags.add(code=f.code, severity=_SEVERITY.get(f.severity.value, 0), message=f.message)


def _fill_readings(msg: Any, rec: RankedRecommendation) -> None:
    """Functional phenotypes, medications, guideline context and ranking summary (RecommendResponse fields 10 on)."""
    for g in rec.functional_phenotypes:
        msg.functional_phenotypes.add(
            gene=g.gene,
            genotype_phenotype=g.genotype_phenotype,
            functional_phenotype=g.functional_phenotype,
            inhibitors=g.inhibitors,
            phenoconverted=g.phenoconverted,
            text=g.text,
        )
    msg.medications.extend(rec.medications)
    _fill_guideline_context(msg, rec.guideline_context)
    _fill_ranking(msg, rec.ranking)


def _fill_ranking(msg: Any, r: RankingSummary | None) -> None:
    if r is None:
        return
    m = msg.ranking
    m.policy = _POLICY.get(r.policy.value, 0)
    m.adverse_event_weight, m.dropout_weight = r.adverse_event_weight, r.dropout_weight
    m.utility, m.rule = r.utility, r.rule
    for g in r.groups:
        m.groups.add(group=g.group, option_ids=g.option_ids, text=g.text)


def _fill_features(msg: Any, names: Sequence[str], values: Iterable[float]) -> None:
    msg.feature_ids.extend(names)
    msg.feature_values.extend(values)


class _PartCache(dict[Any, Any]):
    """A dict of serialised parts, emptied when the bytes it holds would pass ``max_bytes``: what a caution says
    depends on the patient's readings, so the parts kept are bounded in bytes, not in number."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.nbytes = 0

    def remember(self, key: Any, value: Any, nbytes: int) -> None:
        if self.nbytes + nbytes > self.max_bytes:
            self.clear()
            self.nbytes = 0
        self[key] = value
        self.nbytes += nbytes


class _OptionCodec:
    """Writes RankedOption or ExcludedOption messages as wire bytes (the field of RecommendResponse included).

    The parts every answer repeats are serialised once by protobuf itself and reused: an option's identity
    (id, name, class, modality), each CPIC Guidance (by object: the ranking caches them per genotype) and
    each Caution (by object: the ranking caches them). Only numbers, the rank or exclusion reason and the explanation are new bytes.
    """

    CACHE_BYTES = 2 * 1024 * 1024  # per kind of part
    _ENTRY_BYTES = 256  # the key, the dict slot and the bytes object's header
    _GUIDANCE_OBJECT_BYTES = 4096  # a Guidance kept alive with its bytes (its texts are the CPIC table's)

    def __init__(self, message: Any, response_field: str) -> None:
        self.message = message
        self.field_key = _key(service_pb2.RecommendResponse, response_field, _WIRE_LEN)
        fields = message.DESCRIPTOR.fields_by_name
        self.rank_key = _key(message, "rank", _WIRE_VARINT) if "rank" in fields else b""
        self.reason_key = _key(message, "reason", _WIRE_LEN) if "reason" in fields else b""
        iv = recommendation_pb2.Interval
        keys = (
            _key(message, "p_response", _WIRE_I64),
            _key(message, "p_response_interval", _WIRE_LEN),
            _key(iv, "lower", _WIRE_I64),
            _key(iv, "upper", _WIRE_I64),
            _key(iv, "level", _WIRE_I64),
        )
        if any(len(k) != 1 for k in keys):
            raise AssertionError("field numbers above 15 in RankedOption/Interval: update _OptionCodec")
        # p_response, then p_response_interval {lower, upper, level}: one fixed layout of 38 bytes
        self._numbers = struct.Struct("<BdBBBdBdBd")
        self._number_keys = (keys[0][0], keys[1][0], 27, keys[2][0], keys[3][0], keys[4][0])
        self.explanation_key = _key(message, "explanation", _WIRE_LEN)
        self.guidance_key = _key(message, "guidance", _WIRE_LEN)
        self.cautions_key = _key(message, "cautions", _WIRE_LEN)
        self.verdict_key = _key(message, "verdict", _WIRE_VARINT)
        self.reasons_key = _key(message, "safety_reasons", _WIRE_LEN)
        self.guideline_key = _key(message, "guideline", _WIRE_LEN)
        self.harms_key = _key(message, "harms", _WIRE_LEN)
        H = recommendation_pb2.HarmEstimate
        self.harm_outcome_key = _key(H, "outcome", _WIRE_VARINT)
        self.harm_probability_key = _key(H, "probability", _WIRE_I64)
        self.harm_interval_key = _key(H, "probability_interval", _WIRE_LEN)
        self.harm_explanation_key = _key(H, "explanation", _WIRE_LEN)
        interval_key = _key(H, "probability_interval", _WIRE_LEN)
        if len(interval_key) != 1 or len(self.harm_probability_key) != 1:
            raise AssertionError("field numbers above 15 in HarmEstimate: update _OptionCodec")
        self._harm_interval_head = interval_key[0]
        self._interval = struct.Struct("<BdBdBd")  # lower, upper, level, each with its one-byte key
        # a harm's probability, then its interval's key, length (27) and the interval
        self._harm_numbers = struct.Struct("<dBBBdBdBd")
        self._harm_prefixes: dict[Any, bytes] = {}  # outcome -> its outcome field and the probability's key
        N = recommendation_pb2.NetBenefit
        self.net_benefit_key = _key(message, "net_benefit", _WIRE_LEN)
        self.net_value_key = _key(N, "value", _WIRE_I64)
        self.net_interval_key = _key(N, "value_interval", _WIRE_LEN)
        self.net_text_key = _key(N, "text", _WIRE_LEN)
        fields_here = message.DESCRIPTOR.fields_by_name
        ranked = "tier_overridden" in fields_here  # RankedOption (ExcludedOption has none of these)
        self.overridden_key = _key(message, "tier_overridden", _WIRE_VARINT) if ranked else b""
        self.group_key = _key(message, "tie_group", _WIRE_VARINT) if ranked else b""
        self.best_key = _key(message, "probability_best", _WIRE_I64) if ranked else b""
        self._interval_keys = (keys[2][0], keys[3][0], keys[4][0])
        self._identity = _PartCache(self.CACHE_BYTES)  # (id, name, class, modality) -> bytes
        self._guidance = _PartCache(self.CACHE_BYTES)  # id(Guidance) -> (Guidance, bytes)
        self._cautions = _PartCache(self.CACHE_BYTES)  # id(Caution) -> (Caution, bytes)
        self._reasons = _PartCache(self.CACHE_BYTES)  # id(SafetyReason) -> (SafetyReason, bytes)
        # id(GuidelinePosition) -> (GuidelinePosition, bytes): the guideline catalog shares one position per
        # option and table, so this holds one entry per (option, condition or pain type)
        self._guidelines = _PartCache(self.CACHE_BYTES)

    def _identity_bytes(self, o: RankedOption) -> bytes:
        msg = self.message(
            option_id=o.option_id,
            display_name=o.display_name,
            option_class=o.option_class,
            modality=_MODALITY.get(o.modality, 0),
        )
        data: bytes = msg.SerializeToString()
        key = (o.option_id, o.display_name, o.option_class, o.modality)
        self._identity.remember(key, data, len(data) + text_bytes(*key) + self._ENTRY_BYTES)
        return data

    def _guidance_bytes(self, g: Guidance) -> bytes:
        msg = recommendation_pb2.Guidance()
        _fill_guidance(msg, g)
        payload = msg.SerializeToString()
        data = self.guidance_key + _varint(len(payload)) + payload
        # holding g keeps its id from being reused
        self._guidance.remember(id(g), (g, data), len(data) + self._GUIDANCE_OBJECT_BYTES)
        return data

    def _caution_bytes(self, c: Caution) -> bytes:
        message: Any = recommendation_pb2.Caution
        payload = message(
            code=c.code,
            severity=_SEVERITY.get(c.severity.value, 0),
            source=c.source,
            strength=c.strength,
            text=c.text,
        ).SerializeToString()
        data = self.cautions_key + _varint(len(payload)) + payload
        # by object, held (the ranking caches its cautions, so patients share them): hashing the content per
        # caution per answer cost more than serialising the rare new one
        self._cautions.remember(id(c), (c, data), 2 * len(data) + self._ENTRY_BYTES)
        return data

    def _reason_bytes(self, r: SafetyReason) -> bytes:
        msg = recommendation_pb2.SafetyReason()
        _fill_reason(msg, r)
        payload = msg.SerializeToString()
        data = self.reasons_key + _varint(len(payload)) + payload
        # holding r keeps its id from being reused (the safety engine shares its reasons between patients)
        self._reasons.remember(id(r), (r, data), 2 * len(data) + self._ENTRY_BYTES)
        return data

    def _guideline_bytes(self, g: GuidelinePosition) -> bytes:
        msg = recommendation_pb2.GuidelinePosition()
        _fill_guideline(msg, g)
        payload = msg.SerializeToString()
        data = self.guideline_key + _varint(len(payload)) + payload
        self._guidelines.remember(id(g), (g, data), 2 * len(data) + self._ENTRY_BYTES)
        return data

    def _harm_parts(self, h: OutcomePrediction, explanation: _Wire) -> tuple[_Wire, ...]:
        """A HarmEstimate field as parts to join (the explanation's bytes are not copied into a part)."""
        prefix = self._harm_prefixes.get(h.outcome)
        if prefix is None:
            prefix = self._harm_prefixes[h.outcome] = (
                _varint_field(self.harm_outcome_key, _OUTCOME.get(h.outcome.value, 0))
                + self.harm_probability_key
            )
        iv = h.interval
        k_lo, k_up, k_lv = self._interval_keys
        numbers = prefix + self._harm_numbers.pack(
            h.probability, self._harm_interval_head, 27, k_lo, iv.lower, k_up, iv.upper, k_lv, iv.level
        )
        if not explanation:
            return (self.harms_key + _varint(len(numbers)) + numbers,)
        head = self.harm_explanation_key + _varint(len(explanation))
        size = len(numbers) + len(head) + len(explanation)
        return self.harms_key + _varint(size) + numbers + head, explanation

    def _net_benefit_bytes(self, nb: NetBenefit) -> bytes:
        iv = nb.interval
        k_lo, k_up, k_lv = self._interval_keys
        interval = self._interval.pack(k_lo, iv.lower, k_up, iv.upper, k_lv, iv.level)
        body = (
            self.net_value_key
            + _DOUBLE.pack(nb.value)
            + self.net_interval_key
            + _varint(len(interval))
            + interval
            + _string_field(self.net_text_key, nb.text)
        )
        return self.net_benefit_key + _varint(len(body)) + body

    def encode(
        self, o: RankedOption, explanation: _Wire, harm_explanations: Mapping[str, _Wire] | None = None
    ) -> list[_Wire]:
        """The option as a field of RecommendResponse (options or excluded), as parts to join (the explanations'
        bytes are parts of their own, never copied until the answer is joined); ``harm_explanations`` holds each
        harm outcome's Explanation bytes of this option, by outcome name."""
        identity = self._identity.get((o.option_id, o.display_name, o.option_class, o.modality))
        parts = [identity if identity is not None else self._identity_bytes(o)]
        if self.rank_key and o.rank:
            parts.append(self.rank_key + _varint(o.rank))
        if self.reason_key and o.exclusion_reason:
            parts.append(_string_field(self.reason_key, o.exclusion_reason))
        iv = o.interval
        k_p, k_iv, n_iv, k_lo, k_up, k_lv = self._number_keys
        parts.append(
            self._numbers.pack(k_p, o.p_response, k_iv, n_iv, k_lo, iv.lower, k_up, iv.upper, k_lv, iv.level)
        )
        guidance = self._guidance
        for g in o.guidance:
            hit = guidance.get(id(g))
            parts.append(hit[1] if hit is not None and hit[0] is g else self._guidance_bytes(g))
        cautions = self._cautions
        for c in o.cautions:
            hit = cautions.get(id(c))
            parts.append(hit[1] if hit is not None and hit[0] is c else self._caution_bytes(c))
        verdict = _VERDICT.get(o.verdict, 0)
        if verdict:
            parts.append(self.verdict_key + _varint(verdict))
        reasons = self._reasons
        for r in o.safety_reasons:
            hit = reasons.get(id(r))
            parts.append(hit[1] if hit is not None and hit[0] is r else self._reason_bytes(r))
        position = o.guideline
        if position is not None:
            hit = self._guidelines.get(id(position))
            parts.append(
                hit[1] if hit is not None and hit[0] is position else self._guideline_bytes(position)
            )
        if explanation:
            parts += (self.explanation_key + _varint(len(explanation)), explanation)
        harm_bytes = harm_explanations or {}
        for h in o.harms:  # the outcome is a StrEnum: it is its own name as a key
            parts += self._harm_parts(h, harm_bytes.get(h.outcome, b""))
        if o.net_benefit is not None:
            parts.append(self._net_benefit_bytes(o.net_benefit))
        if self.overridden_key:
            if o.tier_overridden:
                parts.append(self.overridden_key + b"\x01")
            if o.tie_group:
                parts.append(self.group_key + _varint(o.tie_group))
            if o.probability_best:
                parts.append(self.best_key + _DOUBLE.pack(o.probability_best))
        parts[0] = self.field_key + _varint(sum(map(len, parts))) + parts[0]
        return parts


_RANKED = _OptionCodec(recommendation_pb2.RankedOption, "options")
_EXCLUDED = _OptionCodec(recommendation_pb2.ExcludedOption, "excluded")


def recommend_response_bytes(scored: ScoredRecommendation, request_id: str = "") -> bytes:
    """The engine's result as the wire bytes of a RecommendResponse, converting the SHAP arrays directly.

    The options with their explanations (top contributions by absolute SHAP value, ties in feature order; the
    rest summed; totals per domain) are written as wire bytes (:class:`_ExplanationCodec`,
    :class:`_OptionCodec`); the rest of the answer (request id, what it says of the patient, provenance, the
    features) is a small message serialised by protobuf, and the two are joined (a protobuf message is the
    concatenation of its fields, in any order). The gRPC service sends these bytes as they are: parsing them
    into a message to serialise it again cost as much as writing them. :func:`response_from_explained` builds
    the same message the plain way.
    """
    rec = scored.recommendation
    catalog = scored.catalog
    raw_values = scored.values.tolist()
    values = [None if math.isnan(x) else x for x in raw_values]
    ids = scored.option_ids
    k = len(ids)
    # the response's explanations, then each harm's with the harms' number of contributions, outcome by outcome
    groups = [_ShapGroup(scored.contributions, scored.base_values, scored.margins, scored.top_k)]
    groups += [
        _ShapGroup(shap.contributions, shap.base_values, shap.margins, harm_top_k(scored.top_k))
        for shap in scored.harm_shap.values()
    ]
    written = _explanation_bytes(groups, catalog, values) if k else []
    explanations = dict(zip(ids, written[:k], strict=True))
    outcomes = tuple(scored.harm_shap)
    by_option = {o: {h: written[(g + 1) * k + j] for g, h in enumerate(outcomes)} for j, o in enumerate(ids)}
    no_harms: dict[str, _Wire] = {}

    def harm_parts(option_id: str) -> dict[str, _Wire]:
        return by_option.get(option_id, no_harms)

    parts: list[_Wire] = []
    for o in rec.options:
        parts += _RANKED.encode(o, explanations.get(o.option_id, b""), harm_parts(o.option_id))
    for o in rec.excluded:
        parts += _EXCLUDED.encode(o, explanations.get(o.option_id, b""), harm_parts(o.option_id))
    # the rest in field order, as protobuf writes it: the fields before the provenance by protobuf, the provenance
    # and the features as bytes (the feature ids are the catalog's, written once), the fields after by protobuf
    head = service_pb2.RecommendResponse(request_id=request_id, patient_ref=rec.patient_ref or "")
    _fill_warnings(head, rec)
    parts.append(head.SerializeToString())
    provenance = _provenance_bytes(rec.provenance)
    parts.append(_PROVENANCE_KEY + _varint(len(provenance)) + provenance)
    codec = _explanation_codec(catalog)
    parts.append(codec.feature_ids)
    if k_features := scored.values.shape[0]:
        parts.append(codec.values_key + _varint(8 * k_features))
        parts.append(np.asarray(scored.values, dtype="<f8").tobytes())
    tail = service_pb2.RecommendResponse()
    _fill_readings(tail, rec)
    parts.append(tail.SerializeToString())
    return b"".join(parts)


def fill_recommend_response(
    msg: service_pb2.RecommendResponse, scored: ScoredRecommendation, request_id: str = ""
) -> service_pb2.RecommendResponse:
    """Fill a RecommendResponse from the engine's result (:func:`recommend_response_bytes`, parsed)."""
    msg.MergeFromString(recommend_response_bytes(scored, request_id))
    return msg


_BATCH_REQUEST_ID = _key(service_pb2.RecommendBatchResponse, "request_id", _WIRE_LEN)
_BATCH_RESULT = _key(service_pb2.RecommendBatchResponse, "results", _WIRE_LEN)
_RESULT_RESPONSE = _key(service_pb2.RecommendBatchResult, "response", _WIRE_LEN)
_RESULT_ERROR = _key(service_pb2.RecommendBatchResult, "error", _WIRE_LEN)


def batch_response_bytes(request_id: str, results: Iterable[tuple[bool, bytes]]) -> bytes:
    """A RecommendBatchResponse's wire bytes from its results in order: (True, RecommendResponse bytes) or
    (False, google.rpc.Status bytes) each.

    Each result's bytes are copied once, into the answer: only the few bytes framing it are new (a full batch's
    answer is tens of megabytes, and framing a copy of each result held the answer three times over)."""
    parts = [_string_field(_BATCH_REQUEST_ID, request_id)]
    for ok, data in results:
        inner = (_RESULT_RESPONSE if ok else _RESULT_ERROR) + _varint(len(data))
        parts.append(_BATCH_RESULT + _varint(len(inner) + len(data)) + inner)
        parts.append(data)
    return b"".join(parts)


@dataclass(frozen=True)
class _ShapGroup:
    """One outcome's SHAP arrays of an answer's options: contributions (k, p), base values and margins (k,), and
    how many contributions its explanations list."""

    contributions: np.ndarray
    base_values: np.ndarray
    margins: np.ndarray
    top_k: int


def _explanation_bytes(
    groups: Sequence[_ShapGroup], catalog: FeatureCatalog, values: Sequence[float | None]
) -> list[_Wire]:
    """Every Explanation message of an answer as wire bytes, the groups' rows one after the other: the top
    ``top_k`` contributions by absolute value (ties in feature order), the rest summed, totals per domain.

    Each explanation is a header (base value, margin, space), its contributions (each a cached head of the feature
    and the patient's value, then the 8 bytes of its SHAP value) and an end (the rest, the domain totals). numpy
    writes the headers, the ends and the SHAP values of all rows at once; the bytes of every explanation are then
    gathered from those and the heads in one indexing pass (each part a run of bytes at a known offset), so no
    Python code runs per contribution. The sums are taken with the plain path's array shapes (per group, as
    :func:`precisionpain.explain.contributions.explain_options` takes them), so they come out bit for bit the
    same."""
    codec = _explanation_codec(catalog)
    domain_matrix = _feature_table(catalog).domain_matrix
    parts = [np.asarray(g.contributions, dtype=np.float64) for g in groups]
    C = np.concatenate(parts) if len(parts) != 1 else parts[0]
    n, p = C.shape
    ks = [max(0, min(int(g.top_k), p)) for g in groups]
    order = np.argsort(-np.abs(C), axis=1, kind="stable")
    ranked = np.take_along_axis(C, order, axis=1)
    ends = np.cumsum([0, *(c.shape[0] for c in parts)]).tolist()
    rest = np.concatenate([ranked[a:b, k:].sum(axis=1) for a, b, k in zip(ends, ends[1:], ks, strict=False)])
    totals = np.concatenate([c @ domain_matrix.T for c in parts])
    header, header_sizes = codec.header_rows(
        np.concatenate([np.asarray(g.base_values, dtype=np.float64) for g in groups]),
        np.concatenate([np.asarray(g.margins, dtype=np.float64) for g in groups]),
    )
    tail, tail_sizes = codec.tail_rows(rest, totals)
    kmax = max(ks, default=0)
    top = order[:, :kmax]
    listed = np.arange(kmax) < np.repeat(ks, np.diff(ends))[:, None]  # (n, kmax): which slots a row lists
    shap = np.ascontiguousarray(ranked[:, :kmax]).astype("<f8", copy=False).tobytes()
    heads = [b""] * p
    for i in np.flatnonzero(np.bincount(top[listed], minlength=p)).tolist():
        heads[i] = _head_of(catalog, i, values[i])
    head_sizes = np.fromiter(map(len, heads), dtype=np.int64, count=p)
    # the source of every part: headers, ends, heads, SHAP values, one after the other
    at_tail = len(header)
    at_heads = at_tail + len(tail)
    at_shap = at_heads + int(head_sizes.sum())
    source = np.frombuffer(b"".join([header, tail, *heads, shap]), dtype=np.uint8)
    starts = np.empty((n, 2 * kmax + 2), dtype=np.int64)  # per row: header, (head, SHAP value) per slot, end
    sizes = np.empty_like(starts)
    starts[:, 0] = np.cumsum(header_sizes) - header_sizes
    sizes[:, 0] = header_sizes
    starts[:, 1:-1:2] = (at_heads + np.cumsum(head_sizes) - head_sizes)[top]
    sizes[:, 1:-1:2] = np.where(listed, head_sizes[top], 0)
    starts[:, 2:-1:2] = at_shap + 8 * np.arange(n * kmax, dtype=np.int64).reshape(n, kmax)
    sizes[:, 2:-1:2] = 8 * listed
    starts[:, -1] = at_tail + np.cumsum(tail_sizes) - tail_sizes
    sizes[:, -1] = tail_sizes
    flat_starts, flat_sizes = starts.reshape(-1), sizes.reshape(-1)
    written = np.cumsum(flat_sizes)
    index = np.arange(int(written[-1]) if written.size else 0, dtype=np.int64)
    index += np.repeat(flat_starts - (written - flat_sizes), flat_sizes)
    out = source[index].data  # each explanation a view: its bytes are copied once, into the answer
    row_ends = [0, *np.cumsum(sizes.sum(axis=1)).tolist()]
    return [out[a:b] for a, b in pairwise(row_ends)]


_PROVENANCE_CACHE: list[tuple[Provenance, bytes]] = []
_PROVENANCE_KEY = _key(service_pb2.RecommendResponse, "provenance", _WIRE_LEN)


def _provenance_bytes(p: Provenance) -> bytes:
    """A Provenance message's bytes; the engine shares one Provenance object per second, so keep the last."""
    cache = _PROVENANCE_CACHE
    last = cache[-1] if cache else None
    if last is not None and last[0] is p:
        return last[1]
    msg = recommendation_pb2.Provenance()
    _fill_provenance(msg, p)
    data = msg.SerializeToString()
    cache[:] = [(p, data)]
    return data


def recommend_response(scored: ScoredRecommendation, request_id: str = "") -> service_pb2.RecommendResponse:
    return fill_recommend_response(service_pb2.RecommendResponse(), scored, request_id)


def response_from_explained(
    explained: ExplainedRecommendation, request_id: str = ""
) -> service_pb2.RecommendResponse:
    """An ExplainedRecommendation (e.g. read back from a saved file) -> RecommendResponse."""
    msg = service_pb2.RecommendResponse(request_id=request_id)
    explanations = _fill_recommendation(msg, explained.recommendation)
    for e in (*explained.explanations, *explained.harm_explanations):
        target = explanations.get((e.option_id, e.outcome.value))
        if target is None:
            continue
        target.base_value = e.base_value
        target.margin = e.margin
        target.space = e.space
        for c in e.contributions:
            target.top_contributions.add(
                feature_id=c.feature_id,
                label=c.label,
                value=c.value,
                unit=c.unit,
                display_value=c.display_value,
                domain=_DOMAIN.get(c.domain, 0),
                shap_value=c.shap_value,
            )
        target.other_contributions = e.other_contributions
        for domain, total in e.domain_totals.items():
            target.domain_totals.add(domain=_DOMAIN.get(domain, 0), shap_value=total)
    _fill_features(msg, explained.features.names, explained.features.values)
    return msg


# ---------------------------------------------------------------------------------------- response -> schema


def _guidance(m: Any) -> Guidance:
    return Guidance(
        source=m.source,
        drug=m.drug,
        genes=tuple(
            GeneReading(
                gene=g.gene, phenotype=g.phenotype, activity_score=g.activity_score, lookup_key=g.lookup_key
            )
            for g in m.genes
        ),
        action=_ACTION_BACK.get(m.action, ""),
        classification=m.classification,
        recommendation=m.recommendation,
        implications=m.implications,
        population=m.population,
        dose_adjustments=tuple(m.dose_adjustments),
        guideline=m.guideline,
        guideline_url=m.guideline_uri or m.guideline_url,  # an older server fills only guideline_url
        cpic_data_version=m.cpic_data_version,
    )


def _sources(items: Iterable[Any]) -> tuple[SourceRef, ...]:
    return tuple(
        SourceRef(source_id=x.source_id, label=x.label, url=x.url, verified=x.verified) for x in items
    )


def _guideline(m: Any, cited: Mapping[str, SourceRef]) -> GuidelinePosition | None:
    """An option's guideline tier (None when the answer has none, or a tier this version does not know), its
    sources completed from the answer's GuidelineContext (``cited``, by source id)."""
    tier, basis = _TIER_BACK.get(m.tier), _BASIS_BACK.get(m.basis)
    if tier is None or basis is None:
        return None
    sources = tuple(
        cited.get(x.source_id)
        or SourceRef(source_id=x.source_id, label=x.label, url=x.url, verified=x.verified)
        for x in m.sources
    )
    return GuidelinePosition(
        tier=tier, basis=basis, table=m.table, sources=sources, judgement=m.judgement, note=m.note
    )


def _guideline_context(m: Any) -> GuidelineContext | None:
    pain_type, basis = _PAIN_TYPE_BACK.get(m.pain_type), _BASIS_BACK.get(m.basis)
    if pain_type is None or basis is None:
        return None
    return GuidelineContext(
        pain_condition=_CONDITION_BACK.get(m.pain_condition),
        pain_type=pain_type,
        basis=basis,
        table=m.table,
        text=m.text,
        sources=_sources(m.sources),
    )


def _ranked_option(m: Any, *, excluded: bool, cited: Mapping[str, SourceRef]) -> RankedOption:
    return RankedOption(
        option_id=m.option_id,
        display_name=m.display_name,
        option_class=m.option_class,
        modality=_MODALITY_BACK.get(m.modality, ""),
        rank=None if excluded else m.rank,
        p_response=m.p_response,
        interval=Interval(
            lower=m.p_response_interval.lower,
            upper=m.p_response_interval.upper,
            level=m.p_response_interval.level,
        ),
        guidance=tuple(_guidance(g) for g in m.guidance),
        cautions=tuple(
            Caution(
                code=c.code,
                severity=_SEVERITY_BACK.get(c.severity, "info"),
                source=c.source,
                strength=c.strength,
                text=c.text,
            )
            for c in m.cautions
        ),
        excluded=excluded,
        exclusion_reason=m.reason if excluded else "",
        verdict=_VERDICT_BACK.get(m.verdict) or ("excluded" if excluded else "usable"),
        safety_reasons=tuple(
            SafetyReason(
                rule_id=r.rule_id,
                level=_LEVEL_BACK.get(r.level, "info"),
                text=r.text,
                facts=tuple(r.facts),
                sources=_sources(r.sources),
                judgement=r.judgement,
                note=r.note,
            )
            for r in m.safety_reasons
        ),
        guideline=_guideline(m.guideline, cited) if m.HasField("guideline") else None,
        harms=tuple(
            OutcomePrediction(
                outcome=_OUTCOME_BACK[h.outcome],
                probability=h.probability,
                interval=Interval(
                    lower=h.probability_interval.lower,
                    upper=h.probability_interval.upper,
                    level=h.probability_interval.level,
                ),
            )
            for h in m.harms
            if h.outcome in _OUTCOME_BACK
        ),
        net_benefit=_net_benefit(m.net_benefit) if m.HasField("net_benefit") else None,
        tier_overridden=bool(getattr(m, "tier_overridden", False)),
        tie_group=(getattr(m, "tie_group", 0) or None) if not excluded else None,
        probability_best=float(getattr(m, "probability_best", 0.0)) if not excluded and m.tie_group else None,
    )


def _net_benefit(m: Any) -> NetBenefit:
    iv = m.value_interval
    return NetBenefit(
        value=m.value, interval=Interval(lower=iv.lower, upper=iv.upper, level=iv.level), text=m.text
    )


def _ranking(m: Any) -> RankingSummary | None:
    policy = _POLICY_BACK.get(m.policy)
    if policy is None:
        return None
    return RankingSummary(
        policy=RankingPolicy(policy),
        adverse_event_weight=m.adverse_event_weight,
        dropout_weight=m.dropout_weight,
        utility=m.utility,
        rule=m.rule,
        groups=tuple(TieGroup(group=g.group, option_ids=tuple(g.option_ids), text=g.text) for g in m.groups),
    )


def _explanation(option_id: str, m: Any, outcome: str = "response") -> OptionExplanation:
    return OptionExplanation(
        option_id=option_id,
        outcome=outcome,
        base_value=m.base_value,
        margin=m.margin,
        space="log_odds",
        contributions=tuple(
            Contribution(
                feature_id=c.feature_id,
                label=c.label,
                domain=_DOMAIN_BACK.get(c.domain, ""),
                value=c.value if c.HasField("value") else None,
                unit=c.unit,
                display_value=c.display_value,
                shap_value=c.shap_value,
            )
            for c in m.top_contributions
        ),
        other_contributions=m.other_contributions,
        domain_totals={_DOMAIN_BACK.get(d.domain, ""): d.shap_value for d in m.domain_totals},
    )


def explained_recommendation_from_response(resp: service_pb2.RecommendResponse) -> ExplainedRecommendation:
    """A RecommendResponse -> the ExplainedRecommendation it describes (e.g. to build a report remotely).

    Explanations follow the response's order (usable options, then excluded ones); the feature vector comes
    from ``feature_ids``/``feature_values`` and the catalog identity from ``provenance``.
    """
    pv = resp.provenance
    provenance = Provenance(
        model_name=pv.model_name,
        model_version=pv.model_version,
        model_alias=pv.model_alias,
        model_run_id=pv.model_run_id,
        catalog_id=pv.catalog_id,
        catalog_version=pv.catalog_version,
        catalog_sha256=pv.catalog_sha256,
        options_catalog_sha256=pv.options_catalog_sha256,
        code_version=pv.code_version,
        cpic_data_version=pv.cpic_data_version,
        generated_at=_iso_either(pv, "generate_time", "generated_at"),
        synthetic_training_data=pv.synthetic_training_data,
        intended_use=pv.intended_use,
        safety_rules_version=pv.safety_rules_version,
        safety_rules_sha256=pv.safety_rules_sha256,
        medication_catalog_sha256=pv.medication_catalog_sha256,
        guideline_catalog_version=pv.guideline_catalog_version,
        guideline_catalog_sha256=pv.guideline_catalog_sha256,
    )
    context = _guideline_context(resp.guideline_context) if resp.HasField("guideline_context") else None
    cited = {s.source_id: s for s in context.sources} if context is not None else {}
    recommendation = RankedRecommendation(
        patient_ref=resp.patient_ref or None,
        options=tuple(_ranked_option(o, excluded=False, cited=cited) for o in resp.options),
        excluded=tuple(_ranked_option(o, excluded=True, cited=cited) for o in resp.excluded),
        warnings=tuple(
            DataWarning(kind=_WARNING_BACK.get(w.kind, ""), field=w.field, message=w.message)
            for w in resp.warnings
        ),
        safety_flags=tuple(
            SafetyFlag(code=f.code, severity=_SEVERITY_BACK.get(f.severity, ""), message=f.message)
            for f in resp.safety_flags
        ),
        provenance=provenance,
        functional_phenotypes=tuple(
            FunctionalReading(
                gene=g.gene,
                genotype_phenotype=g.genotype_phenotype,
                functional_phenotype=g.functional_phenotype,
                inhibitors=tuple(g.inhibitors),
                phenoconverted=g.phenoconverted,
                text=g.text,
            )
            for g in resp.functional_phenotypes
        ),
        medications=tuple(resp.medications),
        guideline_context=context,
        ranking=_ranking(resp.ranking) if resp.HasField("ranking") else None,
    )
    explanations = tuple(_explanation(o.option_id, o.explanation) for o in resp.options) + tuple(
        _explanation(o.option_id, o.explanation) for o in resp.excluded
    )
    shown: list[Any] = [*resp.options, *resp.excluded]
    harm_explanations = tuple(
        _explanation(o.option_id, h.explanation, _OUTCOME_BACK[h.outcome])
        for o in shown
        for h in o.harms
        if h.outcome in _OUTCOME_BACK and h.HasField("explanation")
    )
    names = tuple(resp.feature_ids)
    values = tuple(float(v) for v in resp.feature_values)
    if len(names) != len(values):
        raise ProfileValidationError(
            "recommend response", [Violation("feature_values", "must have one value per feature id", "list")]
        )
    features = FeatureVector(
        catalog=CatalogRef(catalog_id=pv.catalog_id, version=pv.catalog_version, sha256=pv.catalog_sha256),
        names=names,
        values=values,
        missing=tuple(n for n, v in zip(names, values, strict=True) if math.isnan(v)),
    )
    return ExplainedRecommendation(
        recommendation=recommendation,
        explanations=explanations,
        features=features,
        harm_explanations=harm_explanations,
    )


# ============================================================================================== catalog, model


def list_options_response(options: OptionCatalog) -> service_pb2.ListTreatmentOptionsResponse:
    msg = service_pb2.ListTreatmentOptionsResponse(options_catalog_sha256=options.sha256)
    for o in options.options:
        msg.options.add(
            option_id=o.id,
            display_name=o.display_name,
            option_class=o.option_class.value,
            modality=_MODALITY.get(o.modality.value, 0),
            cpic_drug=o.cpic_drug or "",
            genes=list(o.genes),
            description=o.description,
            cautions=list(o.cautions),
        )
    return msg


@dataclass(frozen=True)
class ModelDescription:
    """What DescribeModel reports: the model summary plus where it came from and what it was built with."""

    summary: ModelSummary
    identity: ModelIdentity
    provenance: Provenance  # catalog identity and code version (generated_at = when the model was loaded)
    option_ids: tuple[str, ...]
    feature_ids: tuple[str, ...]
    max_batch_size: int = 0
    ranking: RankingSettings | None = None  # the model's ranking defaults and weight bounds


def describe_model_response(d: ModelDescription) -> service_pb2.DescribeModelResponse:
    s, p = d.summary, d.provenance
    msg = service_pb2.DescribeModelResponse(
        model_name=d.identity.name or s.model_name,
        model_version=d.identity.version,
        model_alias=d.identity.alias,
        model_run_id=d.identity.run_id or s.run_id,
        model_uri=d.identity.uri,
        catalog_id=p.catalog_id,
        catalog_version=p.catalog_version,
        catalog_sha256=p.catalog_sha256,
        options_catalog_sha256=p.options_catalog_sha256,
        code_version=p.code_version,
        option_ids=list(d.option_ids),
        feature_ids=list(d.feature_ids),
        validation_metrics=dict(s.validation_metrics),
        intended_use=s.intended_use,
        training_data=s.training_data,
        strategy=s.strategy,
        synthetic_training_data=s.synthetic_training_data,
        limitations=list(s.limitations),
        max_batch_size=d.max_batch_size,
        guideline_catalog_version=p.guideline_catalog_version,
        guideline_catalog_sha256=p.guideline_catalog_sha256,
    )
    for gap in s.subgroup_gaps:
        msg.subgroup_gaps.add(
            factor=gap.factor, metric=gap.metric, largest_gap=gap.largest_gap, groups=gap.groups
        )
    for o in s.outcomes:
        msg.outcomes.add(outcome=_OUTCOME.get(o.outcome.value, 0), label=o.label, definition=o.definition)
    if d.ranking is not None:
        settings = d.ranking
        ranking: Any = msg.ranking
        ranking.policy = _POLICY.get(settings.policy.value, 0)
        ranking.adverse_event_weight = settings.adverse_event_weight
        ranking.dropout_weight = settings.dropout_weight
        ranking.adverse_event_weight_max = settings.adverse_event_weight_max
        ranking.dropout_weight_max = settings.dropout_weight_max
        ranking.confidence = settings.confidence
    _timestamp(msg.train_time, s.trained_at)
    _timestamp(msg.load_time, p.generated_at)
    _timestamp(msg.trained_at, s.trained_at)  # deprecated twins, kept for older clients
    _timestamp(msg.loaded_at, p.generated_at)
    return msg


def model_summary_from_response(msg: service_pb2.DescribeModelResponse) -> ModelSummary:
    """DescribeModelResponse -> the ModelSummary a report shows (so a report can be built from a remote call)."""
    return ModelSummary(
        model_name=msg.model_name,
        model_version=msg.model_version,
        model_alias=msg.model_alias,
        run_id=msg.model_run_id,
        trained_at=_iso_either(msg, "train_time", "trained_at"),
        strategy=msg.strategy,
        intended_use=msg.intended_use,
        training_data=msg.training_data,
        synthetic_training_data=msg.synthetic_training_data,
        validation_metrics=dict(msg.validation_metrics),
        subgroup_gaps=tuple(
            SubgroupGap(factor=g.factor, metric=g.metric, largest_gap=g.largest_gap, groups=dict(g.groups))
            for g in msg.subgroup_gaps
        ),
        limitations=tuple(msg.limitations),
        outcomes=tuple(
            OutcomeDefinition(outcome=_OUTCOME_BACK[o.outcome], label=o.label, definition=o.definition)
            for o in msg.outcomes
            if o.outcome in _OUTCOME_BACK
        ),
    )
