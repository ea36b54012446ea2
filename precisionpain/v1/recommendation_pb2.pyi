import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from precisionpain.v1 import patient_pb2 as _patient_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_DRUG: _ClassVar[Modality]
    MODALITY_NON_DRUG: _ClassVar[Modality]

class GuidanceAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDANCE_ACTION_UNSPECIFIED: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_USE_LABEL_DOSING: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_REDUCE_DOSE: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_CONSIDER_ALTERNATIVE: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_USE_WITH_CAUTION: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_AVOID: _ClassVar[GuidanceAction]
    GUIDANCE_ACTION_NO_RECOMMENDATION: _ClassVar[GuidanceAction]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_CRITICAL: _ClassVar[Severity]

class Domain(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOMAIN_UNSPECIFIED: _ClassVar[Domain]
    DOMAIN_PGX: _ClassVar[Domain]
    DOMAIN_BIOMARKER: _ClassVar[Domain]
    DOMAIN_WEARABLE: _ClassVar[Domain]
    DOMAIN_PSYCHOSOCIAL: _ClassVar[Domain]
    DOMAIN_CLINICAL: _ClassVar[Domain]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_RESPONSE: _ClassVar[Outcome]
    OUTCOME_ADVERSE_EVENT: _ClassVar[Outcome]
    OUTCOME_DROPOUT: _ClassVar[Outcome]

class RuleLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_LEVEL_UNSPECIFIED: _ClassVar[RuleLevel]
    RULE_LEVEL_CONTRAINDICATED: _ClassVar[RuleLevel]
    RULE_LEVEL_WARNING: _ClassVar[RuleLevel]
    RULE_LEVEL_INFO: _ClassVar[RuleLevel]

class SafetyVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAFETY_VERDICT_UNSPECIFIED: _ClassVar[SafetyVerdict]
    SAFETY_VERDICT_USABLE: _ClassVar[SafetyVerdict]
    SAFETY_VERDICT_WARNING: _ClassVar[SafetyVerdict]
    SAFETY_VERDICT_EXCLUDED: _ClassVar[SafetyVerdict]

class GuidelineTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDELINE_TIER_UNSPECIFIED: _ClassVar[GuidelineTier]
    GUIDELINE_TIER_FIRST_LINE: _ClassVar[GuidelineTier]
    GUIDELINE_TIER_SECOND_LINE: _ClassVar[GuidelineTier]
    GUIDELINE_TIER_THIRD_LINE: _ClassVar[GuidelineTier]
    GUIDELINE_TIER_RECOMMENDED_AGAINST: _ClassVar[GuidelineTier]
    GUIDELINE_TIER_NOT_ADDRESSED: _ClassVar[GuidelineTier]

class GuidelineBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDELINE_BASIS_UNSPECIFIED: _ClassVar[GuidelineBasis]
    GUIDELINE_BASIS_CONDITION: _ClassVar[GuidelineBasis]
    GUIDELINE_BASIS_PAIN_TYPE: _ClassVar[GuidelineBasis]

class RankingPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RANKING_POLICY_UNSPECIFIED: _ClassVar[RankingPolicy]
    RANKING_POLICY_TIER_THEN_NET_BENEFIT: _ClassVar[RankingPolicy]
    RANKING_POLICY_NET_BENEFIT_ONLY: _ClassVar[RankingPolicy]

class WarningKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WARNING_KIND_UNSPECIFIED: _ClassVar[WarningKind]
    WARNING_KIND_MISSING_INPUT: _ClassVar[WarningKind]
    WARNING_KIND_OUTSIDE_TRAINING_RANGE: _ClassVar[WarningKind]
    WARNING_KIND_PGX_NOT_TESTED: _ClassVar[WarningKind]
    WARNING_KIND_PGX_INDETERMINATE: _ClassVar[WarningKind]
    WARNING_KIND_SAFETY_NOT_CHECKED: _ClassVar[WarningKind]
MODALITY_UNSPECIFIED: Modality
MODALITY_DRUG: Modality
MODALITY_NON_DRUG: Modality
GUIDANCE_ACTION_UNSPECIFIED: GuidanceAction
GUIDANCE_ACTION_USE_LABEL_DOSING: GuidanceAction
GUIDANCE_ACTION_REDUCE_DOSE: GuidanceAction
GUIDANCE_ACTION_CONSIDER_ALTERNATIVE: GuidanceAction
GUIDANCE_ACTION_USE_WITH_CAUTION: GuidanceAction
GUIDANCE_ACTION_AVOID: GuidanceAction
GUIDANCE_ACTION_NO_RECOMMENDATION: GuidanceAction
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_CRITICAL: Severity
DOMAIN_UNSPECIFIED: Domain
DOMAIN_PGX: Domain
DOMAIN_BIOMARKER: Domain
DOMAIN_WEARABLE: Domain
DOMAIN_PSYCHOSOCIAL: Domain
DOMAIN_CLINICAL: Domain
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_RESPONSE: Outcome
OUTCOME_ADVERSE_EVENT: Outcome
OUTCOME_DROPOUT: Outcome
RULE_LEVEL_UNSPECIFIED: RuleLevel
RULE_LEVEL_CONTRAINDICATED: RuleLevel
RULE_LEVEL_WARNING: RuleLevel
RULE_LEVEL_INFO: RuleLevel
SAFETY_VERDICT_UNSPECIFIED: SafetyVerdict
SAFETY_VERDICT_USABLE: SafetyVerdict
SAFETY_VERDICT_WARNING: SafetyVerdict
SAFETY_VERDICT_EXCLUDED: SafetyVerdict
GUIDELINE_TIER_UNSPECIFIED: GuidelineTier
GUIDELINE_TIER_FIRST_LINE: GuidelineTier
GUIDELINE_TIER_SECOND_LINE: GuidelineTier
GUIDELINE_TIER_THIRD_LINE: GuidelineTier
GUIDELINE_TIER_RECOMMENDED_AGAINST: GuidelineTier
GUIDELINE_TIER_NOT_ADDRESSED: GuidelineTier
GUIDELINE_BASIS_UNSPECIFIED: GuidelineBasis
GUIDELINE_BASIS_CONDITION: GuidelineBasis
GUIDELINE_BASIS_PAIN_TYPE: GuidelineBasis
RANKING_POLICY_UNSPECIFIED: RankingPolicy
RANKING_POLICY_TIER_THEN_NET_BENEFIT: RankingPolicy
RANKING_POLICY_NET_BENEFIT_ONLY: RankingPolicy
WARNING_KIND_UNSPECIFIED: WarningKind
WARNING_KIND_MISSING_INPUT: WarningKind
WARNING_KIND_OUTSIDE_TRAINING_RANGE: WarningKind
WARNING_KIND_PGX_NOT_TESTED: WarningKind
WARNING_KIND_PGX_INDETERMINATE: WarningKind
WARNING_KIND_SAFETY_NOT_CHECKED: WarningKind

class Interval(_message.Message):
    __slots__ = ("lower", "upper", "level")
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    lower: float
    upper: float
    level: float
    def __init__(self, lower: _Optional[float] = ..., upper: _Optional[float] = ..., level: _Optional[float] = ...) -> None: ...

class HarmEstimate(_message.Message):
    __slots__ = ("outcome", "probability", "probability_interval", "explanation")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    probability: float
    probability_interval: Interval
    explanation: Explanation
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., probability: _Optional[float] = ..., probability_interval: _Optional[_Union[Interval, _Mapping]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ...) -> None: ...

class GeneReading(_message.Message):
    __slots__ = ("gene", "phenotype", "activity_score", "lookup_key")
    GENE_FIELD_NUMBER: _ClassVar[int]
    PHENOTYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    LOOKUP_KEY_FIELD_NUMBER: _ClassVar[int]
    gene: str
    phenotype: str
    activity_score: str
    lookup_key: str
    def __init__(self, gene: _Optional[str] = ..., phenotype: _Optional[str] = ..., activity_score: _Optional[str] = ..., lookup_key: _Optional[str] = ...) -> None: ...

class Guidance(_message.Message):
    __slots__ = ("source", "drug", "genes", "action", "classification", "recommendation", "implications", "population", "dose_adjustments", "guideline", "guideline_url", "cpic_data_version", "guideline_uri")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DRUG_FIELD_NUMBER: _ClassVar[int]
    GENES_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATION_FIELD_NUMBER: _ClassVar[int]
    IMPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    POPULATION_FIELD_NUMBER: _ClassVar[int]
    DOSE_ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_URL_FIELD_NUMBER: _ClassVar[int]
    CPIC_DATA_VERSION_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_URI_FIELD_NUMBER: _ClassVar[int]
    source: str
    drug: str
    genes: _containers.RepeatedCompositeFieldContainer[GeneReading]
    action: GuidanceAction
    classification: str
    recommendation: str
    implications: str
    population: str
    dose_adjustments: _containers.RepeatedScalarFieldContainer[str]
    guideline: str
    guideline_url: str
    cpic_data_version: str
    guideline_uri: str
    def __init__(self, source: _Optional[str] = ..., drug: _Optional[str] = ..., genes: _Optional[_Iterable[_Union[GeneReading, _Mapping]]] = ..., action: _Optional[_Union[GuidanceAction, str]] = ..., classification: _Optional[str] = ..., recommendation: _Optional[str] = ..., implications: _Optional[str] = ..., population: _Optional[str] = ..., dose_adjustments: _Optional[_Iterable[str]] = ..., guideline: _Optional[str] = ..., guideline_url: _Optional[str] = ..., cpic_data_version: _Optional[str] = ..., guideline_uri: _Optional[str] = ...) -> None: ...

class Caution(_message.Message):
    __slots__ = ("code", "severity", "source", "strength", "text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: Severity
    source: str
    strength: str
    text: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., source: _Optional[str] = ..., strength: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class SourceRef(_message.Message):
    __slots__ = ("source_id", "label", "url", "verified")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    label: str
    url: str
    verified: bool
    def __init__(self, source_id: _Optional[str] = ..., label: _Optional[str] = ..., url: _Optional[str] = ..., verified: _Optional[bool] = ...) -> None: ...

class SafetyReason(_message.Message):
    __slots__ = ("rule_id", "level", "text", "facts", "sources", "judgement", "note")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    JUDGEMENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    level: RuleLevel
    text: str
    facts: _containers.RepeatedScalarFieldContainer[str]
    sources: _containers.RepeatedCompositeFieldContainer[SourceRef]
    judgement: bool
    note: str
    def __init__(self, rule_id: _Optional[str] = ..., level: _Optional[_Union[RuleLevel, str]] = ..., text: _Optional[str] = ..., facts: _Optional[_Iterable[str]] = ..., sources: _Optional[_Iterable[_Union[SourceRef, _Mapping]]] = ..., judgement: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class FunctionalPhenotype(_message.Message):
    __slots__ = ("gene", "genotype_phenotype", "functional_phenotype", "inhibitors", "phenoconverted", "text")
    GENE_FIELD_NUMBER: _ClassVar[int]
    GENOTYPE_PHENOTYPE_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONAL_PHENOTYPE_FIELD_NUMBER: _ClassVar[int]
    INHIBITORS_FIELD_NUMBER: _ClassVar[int]
    PHENOCONVERTED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    gene: str
    genotype_phenotype: str
    functional_phenotype: str
    inhibitors: _containers.RepeatedScalarFieldContainer[str]
    phenoconverted: bool
    text: str
    def __init__(self, gene: _Optional[str] = ..., genotype_phenotype: _Optional[str] = ..., functional_phenotype: _Optional[str] = ..., inhibitors: _Optional[_Iterable[str]] = ..., phenoconverted: _Optional[bool] = ..., text: _Optional[str] = ...) -> None: ...

class GuidelinePosition(_message.Message):
    __slots__ = ("tier", "basis", "table", "sources", "judgement", "note")
    TIER_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    JUDGEMENT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    tier: GuidelineTier
    basis: GuidelineBasis
    table: str
    sources: _containers.RepeatedCompositeFieldContainer[SourceRef]
    judgement: bool
    note: str
    def __init__(self, tier: _Optional[_Union[GuidelineTier, str]] = ..., basis: _Optional[_Union[GuidelineBasis, str]] = ..., table: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[SourceRef, _Mapping]]] = ..., judgement: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class GuidelineContext(_message.Message):
    __slots__ = ("pain_condition", "pain_type", "basis", "table", "text", "sources")
    PAIN_CONDITION_FIELD_NUMBER: _ClassVar[int]
    PAIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    pain_condition: _patient_pb2.PainCondition
    pain_type: _patient_pb2.PainType
    basis: GuidelineBasis
    table: str
    text: str
    sources: _containers.RepeatedCompositeFieldContainer[SourceRef]
    def __init__(self, pain_condition: _Optional[_Union[_patient_pb2.PainCondition, str]] = ..., pain_type: _Optional[_Union[_patient_pb2.PainType, str]] = ..., basis: _Optional[_Union[GuidelineBasis, str]] = ..., table: _Optional[str] = ..., text: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[SourceRef, _Mapping]]] = ...) -> None: ...

class NetBenefit(_message.Message):
    __slots__ = ("value", "value_interval", "text")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    value: float
    value_interval: Interval
    text: str
    def __init__(self, value: _Optional[float] = ..., value_interval: _Optional[_Union[Interval, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class TieGroup(_message.Message):
    __slots__ = ("group", "option_ids", "text")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    OPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    group: int
    option_ids: _containers.RepeatedScalarFieldContainer[str]
    text: str
    def __init__(self, group: _Optional[int] = ..., option_ids: _Optional[_Iterable[str]] = ..., text: _Optional[str] = ...) -> None: ...

class RankingSummary(_message.Message):
    __slots__ = ("policy", "adverse_event_weight", "dropout_weight", "utility", "rule", "groups")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    ADVERSE_EVENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    UTILITY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    policy: RankingPolicy
    adverse_event_weight: float
    dropout_weight: float
    utility: str
    rule: str
    groups: _containers.RepeatedCompositeFieldContainer[TieGroup]
    def __init__(self, policy: _Optional[_Union[RankingPolicy, str]] = ..., adverse_event_weight: _Optional[float] = ..., dropout_weight: _Optional[float] = ..., utility: _Optional[str] = ..., rule: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[TieGroup, _Mapping]]] = ...) -> None: ...

class UtilityWeights(_message.Message):
    __slots__ = ("adverse_event_weight", "dropout_weight")
    ADVERSE_EVENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    adverse_event_weight: float
    dropout_weight: float
    def __init__(self, adverse_event_weight: _Optional[float] = ..., dropout_weight: _Optional[float] = ...) -> None: ...

class RankingSettings(_message.Message):
    __slots__ = ("policy", "adverse_event_weight", "dropout_weight", "adverse_event_weight_max", "dropout_weight_max", "confidence")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    ADVERSE_EVENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ADVERSE_EVENT_WEIGHT_MAX_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_WEIGHT_MAX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    policy: RankingPolicy
    adverse_event_weight: float
    dropout_weight: float
    adverse_event_weight_max: float
    dropout_weight_max: float
    confidence: float
    def __init__(self, policy: _Optional[_Union[RankingPolicy, str]] = ..., adverse_event_weight: _Optional[float] = ..., dropout_weight: _Optional[float] = ..., adverse_event_weight_max: _Optional[float] = ..., dropout_weight_max: _Optional[float] = ..., confidence: _Optional[float] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("feature_id", "label", "value", "unit", "display_value", "domain", "shap_value")
    FEATURE_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SHAP_VALUE_FIELD_NUMBER: _ClassVar[int]
    feature_id: str
    label: str
    value: float
    unit: str
    display_value: str
    domain: Domain
    shap_value: float
    def __init__(self, feature_id: _Optional[str] = ..., label: _Optional[str] = ..., value: _Optional[float] = ..., unit: _Optional[str] = ..., display_value: _Optional[str] = ..., domain: _Optional[_Union[Domain, str]] = ..., shap_value: _Optional[float] = ...) -> None: ...

class DomainTotal(_message.Message):
    __slots__ = ("domain", "shap_value")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SHAP_VALUE_FIELD_NUMBER: _ClassVar[int]
    domain: Domain
    shap_value: float
    def __init__(self, domain: _Optional[_Union[Domain, str]] = ..., shap_value: _Optional[float] = ...) -> None: ...

class Explanation(_message.Message):
    __slots__ = ("base_value", "margin", "space", "top_contributions", "other_contributions", "domain_totals")
    BASE_VALUE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    TOP_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    OTHER_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_TOTALS_FIELD_NUMBER: _ClassVar[int]
    base_value: float
    margin: float
    space: str
    top_contributions: _containers.RepeatedCompositeFieldContainer[Contribution]
    other_contributions: float
    domain_totals: _containers.RepeatedCompositeFieldContainer[DomainTotal]
    def __init__(self, base_value: _Optional[float] = ..., margin: _Optional[float] = ..., space: _Optional[str] = ..., top_contributions: _Optional[_Iterable[_Union[Contribution, _Mapping]]] = ..., other_contributions: _Optional[float] = ..., domain_totals: _Optional[_Iterable[_Union[DomainTotal, _Mapping]]] = ...) -> None: ...

class RankedOption(_message.Message):
    __slots__ = ("option_id", "display_name", "option_class", "modality", "rank", "p_response", "p_response_interval", "guidance", "cautions", "explanation", "verdict", "safety_reasons", "guideline", "harms", "net_benefit", "tier_overridden", "tie_group", "probability_best")
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    P_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    P_RESPONSE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    CAUTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    SAFETY_REASONS_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_FIELD_NUMBER: _ClassVar[int]
    HARMS_FIELD_NUMBER: _ClassVar[int]
    NET_BENEFIT_FIELD_NUMBER: _ClassVar[int]
    TIER_OVERRIDDEN_FIELD_NUMBER: _ClassVar[int]
    TIE_GROUP_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_BEST_FIELD_NUMBER: _ClassVar[int]
    option_id: str
    display_name: str
    option_class: str
    modality: Modality
    rank: int
    p_response: float
    p_response_interval: Interval
    guidance: _containers.RepeatedCompositeFieldContainer[Guidance]
    cautions: _containers.RepeatedCompositeFieldContainer[Caution]
    explanation: Explanation
    verdict: SafetyVerdict
    safety_reasons: _containers.RepeatedCompositeFieldContainer[SafetyReason]
    guideline: GuidelinePosition
    harms: _containers.RepeatedCompositeFieldContainer[HarmEstimate]
    net_benefit: NetBenefit
    tier_overridden: bool
    tie_group: int
    probability_best: float
    def __init__(self, option_id: _Optional[str] = ..., display_name: _Optional[str] = ..., option_class: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., rank: _Optional[int] = ..., p_response: _Optional[float] = ..., p_response_interval: _Optional[_Union[Interval, _Mapping]] = ..., guidance: _Optional[_Iterable[_Union[Guidance, _Mapping]]] = ..., cautions: _Optional[_Iterable[_Union[Caution, _Mapping]]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., verdict: _Optional[_Union[SafetyVerdict, str]] = ..., safety_reasons: _Optional[_Iterable[_Union[SafetyReason, _Mapping]]] = ..., guideline: _Optional[_Union[GuidelinePosition, _Mapping]] = ..., harms: _Optional[_Iterable[_Union[HarmEstimate, _Mapping]]] = ..., net_benefit: _Optional[_Union[NetBenefit, _Mapping]] = ..., tier_overridden: _Optional[bool] = ..., tie_group: _Optional[int] = ..., probability_best: _Optional[float] = ...) -> None: ...

class ExcludedOption(_message.Message):
    __slots__ = ("option_id", "display_name", "option_class", "modality", "reason", "p_response", "p_response_interval", "guidance", "cautions", "explanation", "verdict", "safety_reasons", "guideline", "harms", "net_benefit")
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    P_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    P_RESPONSE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    CAUTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    SAFETY_REASONS_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_FIELD_NUMBER: _ClassVar[int]
    HARMS_FIELD_NUMBER: _ClassVar[int]
    NET_BENEFIT_FIELD_NUMBER: _ClassVar[int]
    option_id: str
    display_name: str
    option_class: str
    modality: Modality
    reason: str
    p_response: float
    p_response_interval: Interval
    guidance: _containers.RepeatedCompositeFieldContainer[Guidance]
    cautions: _containers.RepeatedCompositeFieldContainer[Caution]
    explanation: Explanation
    verdict: SafetyVerdict
    safety_reasons: _containers.RepeatedCompositeFieldContainer[SafetyReason]
    guideline: GuidelinePosition
    harms: _containers.RepeatedCompositeFieldContainer[HarmEstimate]
    net_benefit: NetBenefit
    def __init__(self, option_id: _Optional[str] = ..., display_name: _Optional[str] = ..., option_class: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., reason: _Optional[str] = ..., p_response: _Optional[float] = ..., p_response_interval: _Optional[_Union[Interval, _Mapping]] = ..., guidance: _Optional[_Iterable[_Union[Guidance, _Mapping]]] = ..., cautions: _Optional[_Iterable[_Union[Caution, _Mapping]]] = ..., explanation: _Optional[_Union[Explanation, _Mapping]] = ..., verdict: _Optional[_Union[SafetyVerdict, str]] = ..., safety_reasons: _Optional[_Iterable[_Union[SafetyReason, _Mapping]]] = ..., guideline: _Optional[_Union[GuidelinePosition, _Mapping]] = ..., harms: _Optional[_Iterable[_Union[HarmEstimate, _Mapping]]] = ..., net_benefit: _Optional[_Union[NetBenefit, _Mapping]] = ...) -> None: ...

class DataWarning(_message.Message):
    __slots__ = ("kind", "field", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: WarningKind
    field: str
    message: str
    def __init__(self, kind: _Optional[_Union[WarningKind, str]] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SafetyFlag(_message.Message):
    __slots__ = ("code", "severity", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    severity: Severity
    message: str
    def __init__(self, code: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("model_name", "model_version", "model_alias", "model_run_id", "catalog_id", "catalog_version", "catalog_sha256", "options_catalog_sha256", "code_version", "cpic_data_version", "generated_at", "synthetic_training_data", "intended_use", "safety_rules_version", "safety_rules_sha256", "medication_catalog_sha256", "guideline_catalog_version", "guideline_catalog_sha256", "generate_time")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ALIAS_FIELD_NUMBER: _ClassVar[int]
    MODEL_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CPIC_DATA_VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    SAFETY_RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAFETY_RULES_SHA256_FIELD_NUMBER: _ClassVar[int]
    MEDICATION_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    GENERATE_TIME_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    model_alias: str
    model_run_id: str
    catalog_id: str
    catalog_version: str
    catalog_sha256: str
    options_catalog_sha256: str
    code_version: str
    cpic_data_version: str
    generated_at: _timestamp_pb2.Timestamp
    synthetic_training_data: bool
    intended_use: str
    safety_rules_version: str
    safety_rules_sha256: str
    medication_catalog_sha256: str
    guideline_catalog_version: str
    guideline_catalog_sha256: str
    generate_time: _timestamp_pb2.Timestamp
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., model_alias: _Optional[str] = ..., model_run_id: _Optional[str] = ..., catalog_id: _Optional[str] = ..., catalog_version: _Optional[str] = ..., catalog_sha256: _Optional[str] = ..., options_catalog_sha256: _Optional[str] = ..., code_version: _Optional[str] = ..., cpic_data_version: _Optional[str] = ..., generated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., synthetic_training_data: _Optional[bool] = ..., intended_use: _Optional[str] = ..., safety_rules_version: _Optional[str] = ..., safety_rules_sha256: _Optional[str] = ..., medication_catalog_sha256: _Optional[str] = ..., guideline_catalog_version: _Optional[str] = ..., guideline_catalog_sha256: _Optional[str] = ..., generate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelOutcome(_message.Message):
    __slots__ = ("outcome", "label", "definition")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    outcome: Outcome
    label: str
    definition: str
    def __init__(self, outcome: _Optional[_Union[Outcome, str]] = ..., label: _Optional[str] = ..., definition: _Optional[str] = ...) -> None: ...

class SubgroupGap(_message.Message):
    __slots__ = ("factor", "metric", "largest_gap", "groups")
    class GroupsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    LARGEST_GAP_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    factor: str
    metric: str
    largest_gap: float
    groups: _containers.ScalarMap[str, float]
    def __init__(self, factor: _Optional[str] = ..., metric: _Optional[str] = ..., largest_gap: _Optional[float] = ..., groups: _Optional[_Mapping[str, float]] = ...) -> None: ...
