import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from precisionpain.v1 import patient_pb2 as _patient_pb2
from precisionpain.v1 import recommendation_pb2 as _recommendation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecommendRequest(_message.Message):
    __slots__ = ("patient", "candidate_option_ids", "top_k_contributions", "utility_weights", "ranking_policy")
    PATIENT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_OPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    UTILITY_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    RANKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    patient: _patient_pb2.PatientProfile
    candidate_option_ids: _containers.RepeatedScalarFieldContainer[str]
    top_k_contributions: int
    utility_weights: _recommendation_pb2.UtilityWeights
    ranking_policy: _recommendation_pb2.RankingPolicy
    def __init__(self, patient: _Optional[_Union[_patient_pb2.PatientProfile, _Mapping]] = ..., candidate_option_ids: _Optional[_Iterable[str]] = ..., top_k_contributions: _Optional[int] = ..., utility_weights: _Optional[_Union[_recommendation_pb2.UtilityWeights, _Mapping]] = ..., ranking_policy: _Optional[_Union[_recommendation_pb2.RankingPolicy, str]] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("request_id", "patient_ref", "options", "excluded", "warnings", "safety_flags", "provenance", "feature_ids", "feature_values", "functional_phenotypes", "medications", "guideline_context", "ranking")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PATIENT_REF_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FLAGS_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_IDS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_VALUES_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONAL_PHENOTYPES_FIELD_NUMBER: _ClassVar[int]
    MEDICATIONS_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    patient_ref: str
    options: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.RankedOption]
    excluded: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.ExcludedOption]
    warnings: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.DataWarning]
    safety_flags: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.SafetyFlag]
    provenance: _recommendation_pb2.Provenance
    feature_ids: _containers.RepeatedScalarFieldContainer[str]
    feature_values: _containers.RepeatedScalarFieldContainer[float]
    functional_phenotypes: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.FunctionalPhenotype]
    medications: _containers.RepeatedScalarFieldContainer[str]
    guideline_context: _recommendation_pb2.GuidelineContext
    ranking: _recommendation_pb2.RankingSummary
    def __init__(self, request_id: _Optional[str] = ..., patient_ref: _Optional[str] = ..., options: _Optional[_Iterable[_Union[_recommendation_pb2.RankedOption, _Mapping]]] = ..., excluded: _Optional[_Iterable[_Union[_recommendation_pb2.ExcludedOption, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[_recommendation_pb2.DataWarning, _Mapping]]] = ..., safety_flags: _Optional[_Iterable[_Union[_recommendation_pb2.SafetyFlag, _Mapping]]] = ..., provenance: _Optional[_Union[_recommendation_pb2.Provenance, _Mapping]] = ..., feature_ids: _Optional[_Iterable[str]] = ..., feature_values: _Optional[_Iterable[float]] = ..., functional_phenotypes: _Optional[_Iterable[_Union[_recommendation_pb2.FunctionalPhenotype, _Mapping]]] = ..., medications: _Optional[_Iterable[str]] = ..., guideline_context: _Optional[_Union[_recommendation_pb2.GuidelineContext, _Mapping]] = ..., ranking: _Optional[_Union[_recommendation_pb2.RankingSummary, _Mapping]] = ...) -> None: ...

class RecommendBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RecommendRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[RecommendRequest, _Mapping]]] = ...) -> None: ...

class RecommendBatchResult(_message.Message):
    __slots__ = ("response", "error")
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response: RecommendResponse
    error: _status_pb2.Status
    def __init__(self, response: _Optional[_Union[RecommendResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class RecommendBatchResponse(_message.Message):
    __slots__ = ("request_id", "results")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    results: _containers.RepeatedCompositeFieldContainer[RecommendBatchResult]
    def __init__(self, request_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[RecommendBatchResult, _Mapping]]] = ...) -> None: ...

class ListTreatmentOptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TreatmentOption(_message.Message):
    __slots__ = ("option_id", "display_name", "option_class", "modality", "cpic_drug", "genes", "description", "cautions")
    OPTION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTION_CLASS_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    CPIC_DRUG_FIELD_NUMBER: _ClassVar[int]
    GENES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CAUTIONS_FIELD_NUMBER: _ClassVar[int]
    option_id: str
    display_name: str
    option_class: str
    modality: _recommendation_pb2.Modality
    cpic_drug: str
    genes: _containers.RepeatedScalarFieldContainer[str]
    description: str
    cautions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, option_id: _Optional[str] = ..., display_name: _Optional[str] = ..., option_class: _Optional[str] = ..., modality: _Optional[_Union[_recommendation_pb2.Modality, str]] = ..., cpic_drug: _Optional[str] = ..., genes: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., cautions: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTreatmentOptionsResponse(_message.Message):
    __slots__ = ("options", "options_catalog_sha256")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    options: _containers.RepeatedCompositeFieldContainer[TreatmentOption]
    options_catalog_sha256: str
    def __init__(self, options: _Optional[_Iterable[_Union[TreatmentOption, _Mapping]]] = ..., options_catalog_sha256: _Optional[str] = ...) -> None: ...

class DescribeModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeModelResponse(_message.Message):
    __slots__ = ("model_name", "model_version", "model_alias", "model_run_id", "model_uri", "catalog_id", "catalog_version", "catalog_sha256", "options_catalog_sha256", "code_version", "option_ids", "feature_ids", "validation_metrics", "intended_use", "training_data", "trained_at", "loaded_at", "strategy", "synthetic_training_data", "subgroup_gaps", "limitations", "max_batch_size", "guideline_catalog_version", "guideline_catalog_sha256", "train_time", "load_time", "outcomes", "ranking")
    class ValidationMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ALIAS_FIELD_NUMBER: _ClassVar[int]
    MODEL_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_URI_FIELD_NUMBER: _ClassVar[int]
    CATALOG_ID_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTION_IDS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_IDS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METRICS_FIELD_NUMBER: _ClassVar[int]
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    TRAINED_AT_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    SUBGROUP_GAPS_FIELD_NUMBER: _ClassVar[int]
    LIMITATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    GUIDELINE_CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    TRAIN_TIME_FIELD_NUMBER: _ClassVar[int]
    LOAD_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    model_alias: str
    model_run_id: str
    model_uri: str
    catalog_id: str
    catalog_version: str
    catalog_sha256: str
    options_catalog_sha256: str
    code_version: str
    option_ids: _containers.RepeatedScalarFieldContainer[str]
    feature_ids: _containers.RepeatedScalarFieldContainer[str]
    validation_metrics: _containers.ScalarMap[str, float]
    intended_use: str
    training_data: str
    trained_at: _timestamp_pb2.Timestamp
    loaded_at: _timestamp_pb2.Timestamp
    strategy: str
    synthetic_training_data: bool
    subgroup_gaps: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.SubgroupGap]
    limitations: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    guideline_catalog_version: str
    guideline_catalog_sha256: str
    train_time: _timestamp_pb2.Timestamp
    load_time: _timestamp_pb2.Timestamp
    outcomes: _containers.RepeatedCompositeFieldContainer[_recommendation_pb2.ModelOutcome]
    ranking: _recommendation_pb2.RankingSettings
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., model_alias: _Optional[str] = ..., model_run_id: _Optional[str] = ..., model_uri: _Optional[str] = ..., catalog_id: _Optional[str] = ..., catalog_version: _Optional[str] = ..., catalog_sha256: _Optional[str] = ..., options_catalog_sha256: _Optional[str] = ..., code_version: _Optional[str] = ..., option_ids: _Optional[_Iterable[str]] = ..., feature_ids: _Optional[_Iterable[str]] = ..., validation_metrics: _Optional[_Mapping[str, float]] = ..., intended_use: _Optional[str] = ..., training_data: _Optional[str] = ..., trained_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., strategy: _Optional[str] = ..., synthetic_training_data: _Optional[bool] = ..., subgroup_gaps: _Optional[_Iterable[_Union[_recommendation_pb2.SubgroupGap, _Mapping]]] = ..., limitations: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., guideline_catalog_version: _Optional[str] = ..., guideline_catalog_sha256: _Optional[str] = ..., train_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., load_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcomes: _Optional[_Iterable[_Union[_recommendation_pb2.ModelOutcome, _Mapping]]] = ..., ranking: _Optional[_Union[_recommendation_pb2.RankingSettings, _Mapping]] = ...) -> None: ...
