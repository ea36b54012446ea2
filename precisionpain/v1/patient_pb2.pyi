from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Sex(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEX_UNSPECIFIED: _ClassVar[Sex]
    SEX_FEMALE: _ClassVar[Sex]
    SEX_MALE: _ClassVar[Sex]

class PainType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAIN_TYPE_UNSPECIFIED: _ClassVar[PainType]
    PAIN_TYPE_NOCICEPTIVE: _ClassVar[PainType]
    PAIN_TYPE_NEUROPATHIC: _ClassVar[PainType]
    PAIN_TYPE_NOCIPLASTIC: _ClassVar[PainType]
    PAIN_TYPE_MIXED: _ClassVar[PainType]

class PainCondition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAIN_CONDITION_UNSPECIFIED: _ClassVar[PainCondition]
    PAIN_CONDITION_PAINFUL_DIABETIC_NEUROPATHY: _ClassVar[PainCondition]
    PAIN_CONDITION_POSTHERPETIC_NEURALGIA: _ClassVar[PainCondition]
    PAIN_CONDITION_TRIGEMINAL_NEURALGIA: _ClassVar[PainCondition]
    PAIN_CONDITION_LUMBAR_RADICULOPATHY: _ClassVar[PainCondition]
    PAIN_CONDITION_CHRONIC_LOW_BACK_PAIN: _ClassVar[PainCondition]
    PAIN_CONDITION_KNEE_HIP_OSTEOARTHRITIS: _ClassVar[PainCondition]
    PAIN_CONDITION_FIBROMYALGIA: _ClassVar[PainCondition]
    PAIN_CONDITION_OTHER_NEUROPATHIC: _ClassVar[PainCondition]
    PAIN_CONDITION_OTHER: _ClassVar[PainCondition]

class BiogeographicGroup(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BIOGEOGRAPHIC_GROUP_UNSPECIFIED: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_AFRICAN_AMERICAN_AFRO_CARIBBEAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_AMERICAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_CENTRAL_SOUTH_ASIAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_EAST_ASIAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_EUROPEAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_LATINO: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_NEAR_EASTERN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_OCEANIAN: _ClassVar[BiogeographicGroup]
    BIOGEOGRAPHIC_GROUP_SUB_SAHARAN_AFRICAN: _ClassVar[BiogeographicGroup]

class HlaStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HLA_STATUS_UNSPECIFIED: _ClassVar[HlaStatus]
    HLA_STATUS_POSITIVE: _ClassVar[HlaStatus]
    HLA_STATUS_NEGATIVE: _ClassVar[HlaStatus]
    HLA_STATUS_NOT_TESTED: _ClassVar[HlaStatus]

class Oprm1Genotype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPRM1_GENOTYPE_UNSPECIFIED: _ClassVar[Oprm1Genotype]
    OPRM1_GENOTYPE_A_A: _ClassVar[Oprm1Genotype]
    OPRM1_GENOTYPE_A_G: _ClassVar[Oprm1Genotype]
    OPRM1_GENOTYPE_G_G: _ClassVar[Oprm1Genotype]

class ComtGenotype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMT_GENOTYPE_UNSPECIFIED: _ClassVar[ComtGenotype]
    COMT_GENOTYPE_VAL_VAL: _ClassVar[ComtGenotype]
    COMT_GENOTYPE_VAL_MET: _ClassVar[ComtGenotype]
    COMT_GENOTYPE_MET_MET: _ClassVar[ComtGenotype]

class HepaticImpairment(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEPATIC_IMPAIRMENT_UNSPECIFIED: _ClassVar[HepaticImpairment]
    HEPATIC_IMPAIRMENT_NONE: _ClassVar[HepaticImpairment]
    HEPATIC_IMPAIRMENT_CHILD_PUGH_A: _ClassVar[HepaticImpairment]
    HEPATIC_IMPAIRMENT_CHILD_PUGH_B: _ClassVar[HepaticImpairment]
    HEPATIC_IMPAIRMENT_CHILD_PUGH_C: _ClassVar[HepaticImpairment]

class PgxSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PGX_SOURCE_UNSPECIFIED: _ClassVar[PgxSource]
    PGX_SOURCE_LAB: _ClassVar[PgxSource]
    PGX_SOURCE_PHARMCAT: _ClassVar[PgxSource]
SEX_UNSPECIFIED: Sex
SEX_FEMALE: Sex
SEX_MALE: Sex
PAIN_TYPE_UNSPECIFIED: PainType
PAIN_TYPE_NOCICEPTIVE: PainType
PAIN_TYPE_NEUROPATHIC: PainType
PAIN_TYPE_NOCIPLASTIC: PainType
PAIN_TYPE_MIXED: PainType
PAIN_CONDITION_UNSPECIFIED: PainCondition
PAIN_CONDITION_PAINFUL_DIABETIC_NEUROPATHY: PainCondition
PAIN_CONDITION_POSTHERPETIC_NEURALGIA: PainCondition
PAIN_CONDITION_TRIGEMINAL_NEURALGIA: PainCondition
PAIN_CONDITION_LUMBAR_RADICULOPATHY: PainCondition
PAIN_CONDITION_CHRONIC_LOW_BACK_PAIN: PainCondition
PAIN_CONDITION_KNEE_HIP_OSTEOARTHRITIS: PainCondition
PAIN_CONDITION_FIBROMYALGIA: PainCondition
PAIN_CONDITION_OTHER_NEUROPATHIC: PainCondition
PAIN_CONDITION_OTHER: PainCondition
BIOGEOGRAPHIC_GROUP_UNSPECIFIED: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_AFRICAN_AMERICAN_AFRO_CARIBBEAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_AMERICAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_CENTRAL_SOUTH_ASIAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_EAST_ASIAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_EUROPEAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_LATINO: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_NEAR_EASTERN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_OCEANIAN: BiogeographicGroup
BIOGEOGRAPHIC_GROUP_SUB_SAHARAN_AFRICAN: BiogeographicGroup
HLA_STATUS_UNSPECIFIED: HlaStatus
HLA_STATUS_POSITIVE: HlaStatus
HLA_STATUS_NEGATIVE: HlaStatus
HLA_STATUS_NOT_TESTED: HlaStatus
OPRM1_GENOTYPE_UNSPECIFIED: Oprm1Genotype
OPRM1_GENOTYPE_A_A: Oprm1Genotype
OPRM1_GENOTYPE_A_G: Oprm1Genotype
OPRM1_GENOTYPE_G_G: Oprm1Genotype
COMT_GENOTYPE_UNSPECIFIED: ComtGenotype
COMT_GENOTYPE_VAL_VAL: ComtGenotype
COMT_GENOTYPE_VAL_MET: ComtGenotype
COMT_GENOTYPE_MET_MET: ComtGenotype
HEPATIC_IMPAIRMENT_UNSPECIFIED: HepaticImpairment
HEPATIC_IMPAIRMENT_NONE: HepaticImpairment
HEPATIC_IMPAIRMENT_CHILD_PUGH_A: HepaticImpairment
HEPATIC_IMPAIRMENT_CHILD_PUGH_B: HepaticImpairment
HEPATIC_IMPAIRMENT_CHILD_PUGH_C: HepaticImpairment
PGX_SOURCE_UNSPECIFIED: PgxSource
PGX_SOURCE_LAB: PgxSource
PGX_SOURCE_PHARMCAT: PgxSource

class GeneResult(_message.Message):
    __slots__ = ("diplotype", "phenotype", "activity_score", "source")
    DIPLOTYPE_FIELD_NUMBER: _ClassVar[int]
    PHENOTYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    diplotype: str
    phenotype: str
    activity_score: str
    source: PgxSource
    def __init__(self, diplotype: _Optional[str] = ..., phenotype: _Optional[str] = ..., activity_score: _Optional[str] = ..., source: _Optional[_Union[PgxSource, str]] = ...) -> None: ...

class Clinical(_message.Message):
    __slots__ = ("age_years", "sex", "biogeographic_group", "pain_type", "pain_duration_months", "baseline_nrs", "bpi_severity", "bpi_interference", "paindetect_score", "dn4_score", "diabetes", "carbamazepine_prior_use_over_3_months", "current_opioid_use", "egfr_ml_per_min_1_73m2", "hepatic_impairment", "pregnant", "gestational_age_weeks", "breastfeeding", "opioid_mme_per_day", "history_gi_bleed", "cardiovascular_disease", "seizure_disorder", "pain_condition", "carbamazepine_long_term_prior_use", "egfr_ml_per_min_per_standard_bsa")
    AGE_YEARS_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    BIOGEOGRAPHIC_GROUP_FIELD_NUMBER: _ClassVar[int]
    PAIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAIN_DURATION_MONTHS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_NRS_FIELD_NUMBER: _ClassVar[int]
    BPI_SEVERITY_FIELD_NUMBER: _ClassVar[int]
    BPI_INTERFERENCE_FIELD_NUMBER: _ClassVar[int]
    PAINDETECT_SCORE_FIELD_NUMBER: _ClassVar[int]
    DN4_SCORE_FIELD_NUMBER: _ClassVar[int]
    DIABETES_FIELD_NUMBER: _ClassVar[int]
    CARBAMAZEPINE_PRIOR_USE_OVER_3_MONTHS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_OPIOID_USE_FIELD_NUMBER: _ClassVar[int]
    EGFR_ML_PER_MIN_1_73M2_FIELD_NUMBER: _ClassVar[int]
    HEPATIC_IMPAIRMENT_FIELD_NUMBER: _ClassVar[int]
    PREGNANT_FIELD_NUMBER: _ClassVar[int]
    GESTATIONAL_AGE_WEEKS_FIELD_NUMBER: _ClassVar[int]
    BREASTFEEDING_FIELD_NUMBER: _ClassVar[int]
    OPIOID_MME_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    HISTORY_GI_BLEED_FIELD_NUMBER: _ClassVar[int]
    CARDIOVASCULAR_DISEASE_FIELD_NUMBER: _ClassVar[int]
    SEIZURE_DISORDER_FIELD_NUMBER: _ClassVar[int]
    PAIN_CONDITION_FIELD_NUMBER: _ClassVar[int]
    CARBAMAZEPINE_LONG_TERM_PRIOR_USE_FIELD_NUMBER: _ClassVar[int]
    EGFR_ML_PER_MIN_PER_STANDARD_BSA_FIELD_NUMBER: _ClassVar[int]
    age_years: float
    sex: Sex
    biogeographic_group: BiogeographicGroup
    pain_type: PainType
    pain_duration_months: float
    baseline_nrs: float
    bpi_severity: float
    bpi_interference: float
    paindetect_score: int
    dn4_score: int
    diabetes: bool
    carbamazepine_prior_use_over_3_months: bool
    current_opioid_use: bool
    egfr_ml_per_min_1_73m2: float
    hepatic_impairment: HepaticImpairment
    pregnant: bool
    gestational_age_weeks: float
    breastfeeding: bool
    opioid_mme_per_day: float
    history_gi_bleed: bool
    cardiovascular_disease: bool
    seizure_disorder: bool
    pain_condition: PainCondition
    carbamazepine_long_term_prior_use: bool
    egfr_ml_per_min_per_standard_bsa: float
    def __init__(self, age_years: _Optional[float] = ..., sex: _Optional[_Union[Sex, str]] = ..., biogeographic_group: _Optional[_Union[BiogeographicGroup, str]] = ..., pain_type: _Optional[_Union[PainType, str]] = ..., pain_duration_months: _Optional[float] = ..., baseline_nrs: _Optional[float] = ..., bpi_severity: _Optional[float] = ..., bpi_interference: _Optional[float] = ..., paindetect_score: _Optional[int] = ..., dn4_score: _Optional[int] = ..., diabetes: _Optional[bool] = ..., carbamazepine_prior_use_over_3_months: _Optional[bool] = ..., current_opioid_use: _Optional[bool] = ..., egfr_ml_per_min_1_73m2: _Optional[float] = ..., hepatic_impairment: _Optional[_Union[HepaticImpairment, str]] = ..., pregnant: _Optional[bool] = ..., gestational_age_weeks: _Optional[float] = ..., breastfeeding: _Optional[bool] = ..., opioid_mme_per_day: _Optional[float] = ..., history_gi_bleed: _Optional[bool] = ..., cardiovascular_disease: _Optional[bool] = ..., seizure_disorder: _Optional[bool] = ..., pain_condition: _Optional[_Union[PainCondition, str]] = ..., carbamazepine_long_term_prior_use: _Optional[bool] = ..., egfr_ml_per_min_per_standard_bsa: _Optional[float] = ...) -> None: ...

class Medication(_message.Message):
    __slots__ = ("name", "rxnorm")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RXNORM_FIELD_NUMBER: _ClassVar[int]
    name: str
    rxnorm: str
    def __init__(self, name: _Optional[str] = ..., rxnorm: _Optional[str] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("painchek_total", "gait_speed_m_per_s")
    PAINCHEK_TOTAL_FIELD_NUMBER: _ClassVar[int]
    GAIT_SPEED_M_PER_S_FIELD_NUMBER: _ClassVar[int]
    painchek_total: int
    gait_speed_m_per_s: float
    def __init__(self, painchek_total: _Optional[int] = ..., gait_speed_m_per_s: _Optional[float] = ...) -> None: ...

class Pharmacogenomics(_message.Message):
    __slots__ = ("cyp2d6", "cyp2c9", "cyp2c19", "hla_b_1502", "hla_a_3101", "oprm1_rs1799971", "comt_rs4680", "hla_b1502_status", "hla_a3101_status")
    CYP2D6_FIELD_NUMBER: _ClassVar[int]
    CYP2C9_FIELD_NUMBER: _ClassVar[int]
    CYP2C19_FIELD_NUMBER: _ClassVar[int]
    HLA_B_1502_FIELD_NUMBER: _ClassVar[int]
    HLA_A_3101_FIELD_NUMBER: _ClassVar[int]
    OPRM1_RS1799971_FIELD_NUMBER: _ClassVar[int]
    COMT_RS4680_FIELD_NUMBER: _ClassVar[int]
    HLA_B1502_STATUS_FIELD_NUMBER: _ClassVar[int]
    HLA_A3101_STATUS_FIELD_NUMBER: _ClassVar[int]
    cyp2d6: GeneResult
    cyp2c9: GeneResult
    cyp2c19: GeneResult
    hla_b_1502: HlaStatus
    hla_a_3101: HlaStatus
    oprm1_rs1799971: Oprm1Genotype
    comt_rs4680: ComtGenotype
    hla_b1502_status: HlaStatus
    hla_a3101_status: HlaStatus
    def __init__(self, cyp2d6: _Optional[_Union[GeneResult, _Mapping]] = ..., cyp2c9: _Optional[_Union[GeneResult, _Mapping]] = ..., cyp2c19: _Optional[_Union[GeneResult, _Mapping]] = ..., hla_b_1502: _Optional[_Union[HlaStatus, str]] = ..., hla_a_3101: _Optional[_Union[HlaStatus, str]] = ..., oprm1_rs1799971: _Optional[_Union[Oprm1Genotype, str]] = ..., comt_rs4680: _Optional[_Union[ComtGenotype, str]] = ..., hla_b1502_status: _Optional[_Union[HlaStatus, str]] = ..., hla_a3101_status: _Optional[_Union[HlaStatus, str]] = ...) -> None: ...

class Biomarkers(_message.Message):
    __slots__ = ("hs_crp_mg_per_l", "il6_pg_per_ml", "tnf_alpha_pg_per_ml", "vitamin_d_25oh_ng_per_ml", "hba1c_pct", "bdnf_ng_per_ml", "vitamin_d_ng_per_ml")
    HS_CRP_MG_PER_L_FIELD_NUMBER: _ClassVar[int]
    IL6_PG_PER_ML_FIELD_NUMBER: _ClassVar[int]
    TNF_ALPHA_PG_PER_ML_FIELD_NUMBER: _ClassVar[int]
    VITAMIN_D_25OH_NG_PER_ML_FIELD_NUMBER: _ClassVar[int]
    HBA1C_PCT_FIELD_NUMBER: _ClassVar[int]
    BDNF_NG_PER_ML_FIELD_NUMBER: _ClassVar[int]
    VITAMIN_D_NG_PER_ML_FIELD_NUMBER: _ClassVar[int]
    hs_crp_mg_per_l: float
    il6_pg_per_ml: float
    tnf_alpha_pg_per_ml: float
    vitamin_d_25oh_ng_per_ml: float
    hba1c_pct: float
    bdnf_ng_per_ml: float
    vitamin_d_ng_per_ml: float
    def __init__(self, hs_crp_mg_per_l: _Optional[float] = ..., il6_pg_per_ml: _Optional[float] = ..., tnf_alpha_pg_per_ml: _Optional[float] = ..., vitamin_d_25oh_ng_per_ml: _Optional[float] = ..., hba1c_pct: _Optional[float] = ..., bdnf_ng_per_ml: _Optional[float] = ..., vitamin_d_ng_per_ml: _Optional[float] = ...) -> None: ...

class Wearables(_message.Message):
    __slots__ = ("window_days", "hrv_rmssd_ms", "resting_hr_bpm", "sleep_minutes", "sleep_efficiency_pct", "steps_per_day", "skin_conductance_us", "activity_deviation_pct")
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    HRV_RMSSD_MS_FIELD_NUMBER: _ClassVar[int]
    RESTING_HR_BPM_FIELD_NUMBER: _ClassVar[int]
    SLEEP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SLEEP_EFFICIENCY_PCT_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    SKIN_CONDUCTANCE_US_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_DEVIATION_PCT_FIELD_NUMBER: _ClassVar[int]
    window_days: int
    hrv_rmssd_ms: float
    resting_hr_bpm: float
    sleep_minutes: float
    sleep_efficiency_pct: float
    steps_per_day: float
    skin_conductance_us: float
    activity_deviation_pct: float
    def __init__(self, window_days: _Optional[int] = ..., hrv_rmssd_ms: _Optional[float] = ..., resting_hr_bpm: _Optional[float] = ..., sleep_minutes: _Optional[float] = ..., sleep_efficiency_pct: _Optional[float] = ..., steps_per_day: _Optional[float] = ..., skin_conductance_us: _Optional[float] = ..., activity_deviation_pct: _Optional[float] = ...) -> None: ...

class Psychosocial(_message.Message):
    __slots__ = ("pcs_total", "phq9_total", "phq9_item9", "gad7_total", "tsk11_total", "tsk17_total", "pseq_total", "prior_programme_completed", "app_use_days_per_week")
    PCS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PHQ9_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PHQ9_ITEM9_FIELD_NUMBER: _ClassVar[int]
    GAD7_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TSK11_TOTAL_FIELD_NUMBER: _ClassVar[int]
    TSK17_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PSEQ_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PRIOR_PROGRAMME_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    APP_USE_DAYS_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    pcs_total: int
    phq9_total: int
    phq9_item9: int
    gad7_total: int
    tsk11_total: int
    tsk17_total: int
    pseq_total: int
    prior_programme_completed: bool
    app_use_days_per_week: int
    def __init__(self, pcs_total: _Optional[int] = ..., phq9_total: _Optional[int] = ..., phq9_item9: _Optional[int] = ..., gad7_total: _Optional[int] = ..., tsk11_total: _Optional[int] = ..., tsk17_total: _Optional[int] = ..., pseq_total: _Optional[int] = ..., prior_programme_completed: _Optional[bool] = ..., app_use_days_per_week: _Optional[int] = ...) -> None: ...

class PatientProfile(_message.Message):
    __slots__ = ("patient_ref", "clinical", "objective", "pgx", "biomarkers", "wearables", "psychosocial", "medications")
    PATIENT_REF_FIELD_NUMBER: _ClassVar[int]
    CLINICAL_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    PGX_FIELD_NUMBER: _ClassVar[int]
    BIOMARKERS_FIELD_NUMBER: _ClassVar[int]
    WEARABLES_FIELD_NUMBER: _ClassVar[int]
    PSYCHOSOCIAL_FIELD_NUMBER: _ClassVar[int]
    MEDICATIONS_FIELD_NUMBER: _ClassVar[int]
    patient_ref: str
    clinical: Clinical
    objective: Objective
    pgx: Pharmacogenomics
    biomarkers: Biomarkers
    wearables: Wearables
    psychosocial: Psychosocial
    medications: _containers.RepeatedCompositeFieldContainer[Medication]
    def __init__(self, patient_ref: _Optional[str] = ..., clinical: _Optional[_Union[Clinical, _Mapping]] = ..., objective: _Optional[_Union[Objective, _Mapping]] = ..., pgx: _Optional[_Union[Pharmacogenomics, _Mapping]] = ..., biomarkers: _Optional[_Union[Biomarkers, _Mapping]] = ..., wearables: _Optional[_Union[Wearables, _Mapping]] = ..., psychosocial: _Optional[_Union[Psychosocial, _Mapping]] = ..., medications: _Optional[_Iterable[_Union[Medication, _Mapping]]] = ...) -> None: ...
