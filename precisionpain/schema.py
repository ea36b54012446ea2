"""Frozen boundary types between the stages (see docs in README "Design").

``PatientProfile`` holds what arrives about one patient. Its structure and closed vocabularies live here; its
units, valid ranges and missing policy come from the feature catalog (features/*.yaml) and are checked by
:func:`precisionpain.features.validate.validate_profile`, which collects every violation and raises once.
Every stage output round-trips through JSON so the CLI can restart from any stage's file.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from precisionpain.base import FrozenModel

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

# Every free-text part of a profile or request is bounded, and checked against its bound before any parsing.
MAX_DIPLOTYPE_CHARS = 200
MAX_PHENOTYPE_CHARS = 80
MAX_ACTIVITY_SCORE_CHARS = 16
MAX_PATIENT_REF_CHARS = 128
MAX_OPTION_ID_CHARS = 64
MAX_CANDIDATE_OPTIONS = 64  # more than any catalog holds; ids may not repeat

OptionId = Annotated[str, Field(max_length=MAX_OPTION_ID_CHARS)]


def length_rule(limit: int) -> str:
    """The rule a too-long string breaks, for checks made outside pydantic (same words as its own check)."""
    return f"must have at most {limit} characters"


class Sex(StrEnum):
    female = "female"
    male = "male"


class PainType(StrEnum):
    nociceptive = "nociceptive"
    neuropathic = "neuropathic"
    nociplastic = "nociplastic"
    mixed = "mixed"


class PainCondition(StrEnum):
    """The diagnosis behind the pain, where one is known: guideline tiers are given per condition.

    Which pain types each condition allows is a rule of the feature catalog (features/clinical.yaml).
    """

    painful_diabetic_neuropathy = "painful_diabetic_neuropathy"
    postherpetic_neuralgia = "postherpetic_neuralgia"
    trigeminal_neuralgia = "trigeminal_neuralgia"
    lumbar_radiculopathy = "lumbar_radiculopathy"
    chronic_low_back_pain = "chronic_low_back_pain"
    knee_hip_osteoarthritis = "knee_hip_osteoarthritis"
    fibromyalgia = "fibromyalgia"
    other_neuropathic = "other_neuropathic"
    other = "other"


class BiogeographicGroup(StrEnum):
    """CPIC biogeographic groups (the labels used in CPIC frequency tables)."""

    african_american_afro_caribbean = "african_american_afro_caribbean"
    american = "american"
    central_south_asian = "central_south_asian"
    east_asian = "east_asian"
    european = "european"
    latino = "latino"
    near_eastern = "near_eastern"
    oceanian = "oceanian"
    sub_saharan_african = "sub_saharan_african"


CPIC_GROUP_LABELS: dict[BiogeographicGroup, str] = {
    BiogeographicGroup.african_american_afro_caribbean: "African American/Afro-Caribbean",
    BiogeographicGroup.american: "American",
    BiogeographicGroup.central_south_asian: "Central/South Asian",
    BiogeographicGroup.east_asian: "East Asian",
    BiogeographicGroup.european: "European",
    BiogeographicGroup.latino: "Latino",
    BiogeographicGroup.near_eastern: "Near Eastern",
    BiogeographicGroup.oceanian: "Oceanian",
    BiogeographicGroup.sub_saharan_african: "Sub-Saharan African",
}


class HlaStatus(StrEnum):
    positive = "positive"
    negative = "negative"
    not_tested = "not_tested"


class HepaticImpairment(StrEnum):
    """Liver function by Child-Pugh class (``none`` = no hepatic impairment)."""

    none = "none"
    child_pugh_a = "child_pugh_a"
    child_pugh_b = "child_pugh_b"
    child_pugh_c = "child_pugh_c"


class PgxSource(StrEnum):
    lab = "lab"
    pharmcat = "pharmcat"


Oprm1Genotype = Literal["A/A", "A/G", "G/G"]
ComtGenotype = Literal["Val/Val", "Val/Met", "Met/Met"]


class Clinical(FrozenModel):
    age_years: FiniteFloat
    sex: Sex
    biogeographic_group: BiogeographicGroup | None = None
    pain_type: PainType
    pain_condition: PainCondition | None = None
    pain_duration_months: FiniteFloat | None = None
    baseline_nrs: FiniteFloat
    bpi_severity: FiniteFloat | None = None
    bpi_interference: FiniteFloat | None = None
    paindetect_score: int | None = None
    dn4_score: int | None = None
    diabetes: bool | None = None
    carbamazepine_prior_use_over_3_months: bool | None = None
    current_opioid_use: bool | None = None
    # organ function, pregnancy and histories read by the safety rules (models/safety_rules.yaml);
    # missing means unknown, and an unknown that matters is said
    egfr_ml_per_min_1_73m2: FiniteFloat | None = None
    hepatic_impairment: HepaticImpairment | None = None
    pregnant: bool | None = None
    gestational_age_weeks: FiniteFloat | None = None
    breastfeeding: bool | None = None
    opioid_mme_per_day: FiniteFloat | None = None
    history_gi_bleed: bool | None = None
    cardiovascular_disease: bool | None = None
    seizure_disorder: bool | None = None


class Objective(FrozenModel):
    painchek_total: int | None = None
    gait_speed_m_per_s: FiniteFloat | None = None


class GeneResult(FrozenModel):
    """A CYP gene result: a diplotype (lab report / PharmCAT) and/or a CPIC phenotype and activity score."""

    diplotype: str | None = Field(default=None, max_length=MAX_DIPLOTYPE_CHARS)
    phenotype: str | None = Field(default=None, max_length=MAX_PHENOTYPE_CHARS)
    activity_score: str | None = Field(default=None, max_length=MAX_ACTIVITY_SCORE_CHARS)
    source: PgxSource = PgxSource.lab

    @model_validator(mode="after")
    def _something(self) -> GeneResult:
        if self.diplotype is None and self.phenotype is None and self.activity_score is None:
            raise ValueError("give a diplotype, a phenotype or an activity score (or leave the gene out)")
        return self


class Pgx(FrozenModel):
    cyp2d6: GeneResult | None = None
    cyp2c9: GeneResult | None = None
    cyp2c19: GeneResult | None = None
    hla_b_1502: HlaStatus = HlaStatus.not_tested
    hla_a_3101: HlaStatus = HlaStatus.not_tested
    oprm1_rs1799971: Oprm1Genotype | None = None
    comt_rs4680: ComtGenotype | None = None


class Biomarkers(FrozenModel):
    hs_crp_mg_per_l: FiniteFloat | None = None
    il6_pg_per_ml: FiniteFloat | None = None
    tnf_alpha_pg_per_ml: FiniteFloat | None = None
    vitamin_d_25oh_ng_per_ml: FiniteFloat | None = None
    hba1c_pct: FiniteFloat | None = None
    bdnf_ng_per_ml: FiniteFloat | None = None


class Wearables(FrozenModel):
    window_days: int | None = None
    hrv_rmssd_ms: FiniteFloat | None = None
    resting_hr_bpm: FiniteFloat | None = None
    sleep_minutes: FiniteFloat | None = None
    sleep_efficiency_pct: FiniteFloat | None = None
    steps_per_day: FiniteFloat | None = None
    skin_conductance_us: FiniteFloat | None = None
    activity_deviation_pct: FiniteFloat | None = None


class Psychosocial(FrozenModel):
    pcs_total: int | None = None
    phq9_total: int | None = None
    phq9_item9: int | None = None
    gad7_total: int | None = None
    tsk11_total: int | None = None
    tsk17_total: int | None = None
    pseq_total: int | None = None
    # engagement with self-management and digital programmes (features/engagement.yaml)
    prior_programme_completed: bool | None = None
    app_use_days_per_week: int | None = None


MAX_MEDICATION_NAME_CHARS = 80
MAX_RXCUI_CHARS = 10
MAX_MEDICATIONS = 64


class Medication(FrozenModel):
    """A medication the patient takes now: its generic name (or a synonym in features/medications.yaml) and,
    optionally, its RxNorm ingredient code (RxCUI). Resolved against the medication catalog."""

    name: str = Field(min_length=1, max_length=MAX_MEDICATION_NAME_CHARS)
    rxnorm: str | None = Field(default=None, max_length=MAX_RXCUI_CHARS, pattern=r"^[0-9]+$")


SECTIONS: tuple[str, ...] = ("clinical", "objective", "pgx", "biomarkers", "wearables", "psychosocial")


class PatientProfile(FrozenModel):
    """Everything known about one patient. Only age, sex, pain type and baseline NRS are required."""

    patient_ref: str | None = Field(
        default=None, max_length=MAX_PATIENT_REF_CHARS, description="opaque; never logged"
    )
    clinical: Clinical
    objective: Objective = Objective()
    pgx: Pgx = Pgx()
    biomarkers: Biomarkers = Biomarkers()
    wearables: Wearables = Wearables()
    psychosocial: Psychosocial = Psychosocial()
    candidate_option_ids: tuple[OptionId, ...] | None = Field(default=None, max_length=MAX_CANDIDATE_OPTIONS)
    medications: tuple[Medication, ...] = Field(default=(), max_length=MAX_MEDICATIONS)

    @field_validator("candidate_option_ids")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and len(v) == 0:
            raise ValueError("if given, list at least one option id")
        return v


# ------------------------------------------------------------------------------------------ stage outputs


class CatalogRef(FrozenModel):
    catalog_id: str
    version: str
    sha256: str


class FeatureVector(FrozenModel):
    """One patient's model input in catalog column order (NaN = missing)."""

    catalog: CatalogRef
    names: tuple[str, ...]
    values: tuple[float, ...]
    missing: tuple[str, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _null_is_nan(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return tuple(math.nan if x is None else x for x in v)
        return v

    @field_serializer("values", when_used="json")
    def _nan_is_null(self, v: tuple[float, ...]) -> list[float | None]:
        return [None if math.isnan(x) else x for x in v]

    @model_validator(mode="after")
    def _lengths(self) -> FeatureVector:
        if len(self.names) != len(self.values):
            raise ValueError("names and values differ in length")
        return self

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values, strict=True))

    def value(self, name: str) -> float:
        return self.values[self.names.index(name)]

    def is_missing(self, name: str) -> bool:
        return math.isnan(self.value(name))


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Interval(FrozenModel):
    lower: float
    upper: float
    level: float = Field(gt=0.0, lt=1.0)


class Outcome(StrEnum):
    """An outcome the model estimates for every option (precisionpain.models.outcomes has the definitions)."""

    response = "response"  # >=30% less pain at 12 weeks, intention to treat
    adverse_event = "adverse_event"  # stops the option because of an adverse event
    dropout = "dropout"  # stops the option early, for any reason


class OutcomePrediction(FrozenModel):
    """The model's calibrated probability of one harm outcome for one option, with its uncertainty interval
    (the same kind of interval as the response's: see RankedOption.interval)."""

    outcome: Outcome
    probability: float = Field(ge=0.0, le=1.0)
    interval: Interval


class OptionPrediction(FrozenModel):
    """The model's calibrated response probability for one option, with its uncertainty interval, and the
    probability of each harm outcome the model has (none for a response-only model)."""

    option_id: str
    p_response: float = Field(ge=0.0, le=1.0)
    interval: Interval
    model_name: str = ""
    model_version: str = ""
    harms: tuple[OutcomePrediction, ...] = ()


class GeneReading(FrozenModel):
    gene: str
    phenotype: str
    activity_score: str = ""
    lookup_key: str = ""


class Guidance(FrozenModel):
    """One CPIC recommendation that applies to a patient and an option."""

    source: str = "CPIC"
    drug: str
    genes: tuple[GeneReading, ...]
    action: str  # USE_LABEL_DOSING | REDUCE_DOSE | CONSIDER_ALTERNATIVE | USE_WITH_CAUTION | AVOID | NO_RECOMMENDATION
    classification: str  # CPIC strength
    recommendation: str
    implications: str = ""
    population: str = ""
    dose_adjustments: tuple[str, ...] = ()
    guideline: str = ""
    guideline_url: str = ""
    cpic_data_version: str = ""


class RuleLevel(StrEnum):
    """Level of a safety rule (models/safety_rules.yaml): what it makes of the option it hits."""

    contraindicated = "contraindicated"
    warning = "warning"
    info = "info"


class SourceRef(FrozenModel):
    """A citation behind a safety reason: catalog source id, label, URL and whether it was read in the source."""

    source_id: str
    label: str
    url: str = ""
    verified: bool = False


class SafetyReason(FrozenModel):
    """Why an option is excluded, warned or annotated: rule, level, text, sources and the patient facts used
    (e.g. "eGFR 25 mL/min/1.73 m2 < 30"). CPIC recommendations appear as rules ``cpic_<drug>``."""

    rule_id: str
    level: RuleLevel
    text: str
    facts: tuple[str, ...] = ()
    sources: tuple[SourceRef, ...] = ()
    judgement: bool = False
    note: str = ""

    @property
    def is_cpic(self) -> bool:
        return self.rule_id.startswith("cpic_")


class FunctionalReading(FrozenModel):
    """One CYP gene as genotyped and as it works with the patient's medications (phenoconversion)."""

    gene: str
    genotype_phenotype: str = ""
    functional_phenotype: str = ""
    inhibitors: tuple[str, ...] = ()
    phenoconverted: bool = False
    text: str = ""  # e.g. "CYP2D6: genotype Normal Metabolizer; functional Poor Metabolizer with paroxetine"


class GuidelineTier(StrEnum):
    """Where a clinical guideline places an option (models/guidelines.yaml), from the most to the least preferred;
    ``not_addressed`` when no guideline of the table places it."""

    first_line = "first_line"
    second_line = "second_line"
    third_line = "third_line"
    recommended_against = "recommended_against"
    not_addressed = "not_addressed"


class GuidelineBasis(StrEnum):
    """What a table of guideline tiers is for: a pain condition, or a pain type."""

    condition = "condition"
    pain_type = "pain_type"


class GuidelinePosition(FrozenModel):
    """One option's guideline tier for a patient, the table it was read from and that row's sources.

    Information beside the ranking: a tier never moves an option up or down."""

    tier: GuidelineTier
    basis: GuidelineBasis
    table: str  # the condition or pain type whose table gave the tier, e.g. "fibromyalgia", "neuropathic"
    sources: tuple[SourceRef, ...] = ()
    judgement: bool = False
    note: str = ""


class GuidelineContext(FrozenModel):
    """Which table of guideline tiers an answer reads: the patient's pain condition when given, else the pain type."""

    pain_condition: PainCondition | None = None
    pain_type: PainType
    basis: GuidelineBasis
    table: str
    text: str  # e.g. "Pain condition not given: guideline tiers from the pain type (neuropathic)"
    sources: tuple[SourceRef, ...] = ()  # every source the table cites


class NetBenefit(FrozenModel):
    """One option's expected net benefit for this patient under the answer's utility (RankingSummary.utility):
    P(response) - w_ae x P(adverse event) - w_dropout x P(dropout), on the probability scale, with its interval
    (the same kind as the probabilities': see RankedOption.interval) and each component in words."""

    value: float
    interval: Interval
    text: str  # e.g. "52% response, 14% stop for side effects"


class RankingPolicy(StrEnum):
    """How the usable options are ordered (precisionpain.benefit_harm has the rules)."""

    tier_then_net_benefit = "tier_then_net_benefit"  # guideline tier first, net benefit within a tier
    net_benefit_only = "net_benefit_only"


class TieGroup(FrozenModel):
    """Consecutive ranked options whose net benefits cannot be told apart (group 1: the best)."""

    group: int
    option_ids: tuple[str, ...]
    text: str  # e.g. "Equally good choices for this patient"


class RankingSummary(FrozenModel):
    """How an answer ordered its usable options: the policy, the utility's weights and formula, the rule, and the
    groups of options that cannot be told apart."""

    policy: RankingPolicy
    adverse_event_weight: float
    dropout_weight: float
    utility: str  # e.g. "net benefit = P(response) - 0.5 x P(stop for side effects)"
    rule: str
    groups: tuple[TieGroup, ...] = ()


class Caution(FrozenModel):
    code: str
    severity: Severity
    source: str  # "CPIC" | "catalog" | "guideline"
    strength: str = ""
    text: str


class RankedOption(FrozenModel):
    option_id: str
    display_name: str
    option_class: str
    modality: str
    rank: int | None  # None when excluded
    p_response: float
    interval: Interval
    guidance: tuple[Guidance, ...] = ()
    cautions: tuple[Caution, ...] = ()
    excluded: bool = False
    exclusion_reason: str = ""
    # The safety layer's verdict (usable | warning | excluded) and every reason behind it, most severe first.
    verdict: Literal["usable", "warning", "excluded"] = "usable"
    safety_reasons: tuple[SafetyReason, ...] = ()
    # The guideline tier of the option for this patient's condition (or pain type); None in answers made before
    # the guideline catalog existed.
    guideline: GuidelinePosition | None = None
    # The probability of each harm outcome the model has (adverse event, dropout); empty for a response-only model.
    harms: tuple[OutcomePrediction, ...] = ()
    # The expected net benefit the options are ordered by (None in answers made before it existed).
    net_benefit: NetBenefit | None = None
    # Placed above options of a better guideline tier: its net benefit is significantly higher than each of theirs.
    tier_overridden: bool = False
    # Ranked options only: the group of options it cannot be told apart from (1 = the best group) and the
    # probability that it has the highest net benefit of the ranked options, from the model's uncertainty.
    tie_group: int | None = None
    probability_best: float | None = None

    def harm(self, outcome: Outcome | str) -> OutcomePrediction | None:
        return next((h for h in self.harms if h.outcome == outcome), None)


class WarningKind(StrEnum):
    missing_input = "missing_input"
    outside_training_range = "outside_training_range"
    pgx_not_tested = "pgx_not_tested"
    pgx_indeterminate = "pgx_indeterminate"
    safety_not_checked = (
        "safety_not_checked"  # a safety rule could not be checked: an input it needs is missing
    )


class DataWarning(FrozenModel):
    kind: WarningKind
    field: str
    message: str


class SafetyFlag(FrozenModel):
    code: str
    severity: Severity
    message: str


class Provenance(FrozenModel):
    model_name: str
    model_version: str
    model_alias: str = ""
    model_run_id: str = ""
    catalog_id: str
    catalog_version: str
    catalog_sha256: str
    options_catalog_sha256: str
    code_version: str
    cpic_data_version: str = ""
    generated_at: str  # ISO 8601, UTC
    synthetic_training_data: bool = False  # the model learned from synthetic patients: demonstration only
    intended_use: str = ""
    safety_rules_version: str = ""
    safety_rules_sha256: str = ""
    medication_catalog_sha256: str = ""
    guideline_catalog_version: str = ""
    guideline_catalog_sha256: str = ""


class RankedRecommendation(FrozenModel):
    """Usable options best first, excluded options with reasons, warnings, safety flags, provenance."""

    patient_ref: str | None = None
    options: tuple[RankedOption, ...]
    excluded: tuple[RankedOption, ...] = ()
    warnings: tuple[DataWarning, ...] = ()
    safety_flags: tuple[SafetyFlag, ...] = ()
    provenance: Provenance
    functional_phenotypes: tuple[FunctionalReading, ...] = ()
    medications: tuple[str, ...] = ()  # the patient's medications, as catalog generic names
    guideline_context: GuidelineContext | None = None  # the table every option's guideline tier was read from
    ranking: RankingSummary | None = (
        None  # how the usable options were ordered (None before net benefit existed)
    )


class Contribution(FrozenModel):
    feature_id: str
    label: str
    domain: str
    value: float | None  # None = missing
    unit: str
    display_value: str
    shap_value: float  # log-odds


class OptionExplanation(FrozenModel):
    """SHAP explanation of one option's model of one outcome: base_value + sum(all contributions) == margin
    (log-odds)."""

    option_id: str
    outcome: Outcome = Outcome.response
    base_value: float
    margin: float
    space: Literal["log_odds"] = "log_odds"
    contributions: tuple[Contribution, ...]  # top-k by |shap_value|
    other_contributions: float  # sum of the contributions not listed
    domain_totals: dict[str, float]


class ExplainedRecommendation(FrozenModel):
    """A ranked recommendation with an explanation of the response for every option (usable and excluded) and,
    for a model with harm outcomes, of each harm for every option (``harm_explanations``)."""

    recommendation: RankedRecommendation
    explanations: tuple[OptionExplanation, ...]
    features: FeatureVector
    harm_explanations: tuple[OptionExplanation, ...] = ()

    def explanation(self, option_id: str, outcome: Outcome | str = Outcome.response) -> OptionExplanation:
        found = self.explanations if outcome == Outcome.response else self.harm_explanations
        for e in found:
            if e.option_id == option_id and e.outcome == outcome:
                return e
        raise KeyError(option_id)


class SubgroupGap(FrozenModel):
    """The largest difference in a validation metric between subgroups of one factor (e.g. sex)."""

    factor: str
    metric: str  # "auc" | "ece" | "calibration" (mean estimate minus observed)
    largest_gap: float
    groups: dict[str, float]


class OutcomeDefinition(FrozenModel):
    """One outcome a model estimates: its name, how answers word it and what it means."""

    outcome: Outcome
    label: str  # e.g. "stop for side effects"
    definition: str


class ModelSummary(FrozenModel):
    """What a report and DescribeModel say about the model behind a recommendation (from its model card)."""

    model_name: str
    model_version: str
    model_alias: str = ""
    run_id: str = ""
    trained_at: str = ""
    strategy: str = ""
    intended_use: str
    training_data: str  # e.g. "Synthetic cohort (n=200,000, seed 7) - not real patients"
    synthetic_training_data: bool = True
    validation_metrics: dict[str, float] = Field(default_factory=dict)  # e.g. "auc_mean", "ece_max"
    subgroup_gaps: tuple[SubgroupGap, ...] = ()
    limitations: tuple[str, ...] = ()
    outcomes: tuple[OutcomeDefinition, ...] = ()  # what the model estimates per option (empty: response only)


RECOMMENDATION_RECORD_FORMAT: Literal["precisionpain.recommendation/1"] = "precisionpain.recommendation/1"


class RecommendationRecord(FrozenModel):
    """A saved recommendation (``<base>.recommendation.json``): the patient's profile, the explained ranking
    and the summary of the model behind it. Everything the clinician report needs, so a report can be rebuilt
    later without the model or the server."""

    record_format: Literal["precisionpain.recommendation/1"] = RECOMMENDATION_RECORD_FORMAT
    profile: PatientProfile
    explained: ExplainedRecommendation
    model: ModelSummary
