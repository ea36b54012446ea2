"""Typed, strict views of the declarative catalogs in features/, models/ and serving/."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from precisionpain.base import FrozenModel
from precisionpain.bounded_cache import per_object

SNAKE_ID = r"^[a-z][a-z0-9_]*$"


class Domain(StrEnum):
    """Where a feature comes from; the report totals SHAP values per domain."""

    pgx = "pgx"
    biomarker = "biomarker"
    wearable = "wearable"
    psychosocial = "psychosocial"
    clinical = "clinical"


DOMAIN_LABELS: dict[Domain, str] = {
    Domain.pgx: "Genetics",
    Domain.biomarker: "Biomarkers",
    Domain.wearable: "Wearables",
    Domain.psychosocial: "Psychosocial",
    Domain.clinical: "Clinical",
}


class FieldType(StrEnum):
    """Kind of a patient-profile input field."""

    number = "number"
    integer = "integer"
    boolean = "boolean"
    category = "category"
    pgx_gene = "pgx_gene"  # CYP gene result: diplotype and/or phenotype + activity score
    text = "text"
    # The profile's top-level medication list, resolved against features/medications.yaml; in the flat form one
    # column of generic names joined by "; ". Only in a file without a section (top-level), never a model feature.
    medication_list = "medication_list"


class FeatureType(StrEnum):
    """Kind of a model feature column (always encoded as float; NaN = missing)."""

    number = "number"
    integer = "integer"
    binary = "binary"
    ordinal = "ordinal"


class MissingPolicy(StrEnum):
    required = "required"  # the profile is invalid without it
    allow = "allow"  # missing -> NaN in the feature matrix, listed in FeatureVector.missing


class ModelUse(StrEnum):
    identity = "identity"  # the field is also a model feature with the same id
    none = "none"  # the field is an input only (validated, shown, used by rules), not a model feature


class InputField(FrozenModel):
    """One field of the patient profile: its unit, valid range and clinician-facing text."""

    id: str = Field(pattern=SNAKE_ID)
    type: FieldType
    unit: str
    valid_range: tuple[float, float] | None = None
    levels: tuple[str, ...] | None = None
    missing: MissingPolicy = MissingPolicy.allow
    model: ModelUse = ModelUse.identity
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> InputField:
        if self.valid_range is not None:
            lo, hi = self.valid_range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ValueError("valid_range must be two finite numbers [low, high] with low <= high")
            if self.type not in (FieldType.number, FieldType.integer):
                raise ValueError("valid_range applies only to number and integer fields")
        if self.type is FieldType.category and not self.levels:
            raise ValueError("a category field lists its levels")
        if self.type is not FieldType.category and self.levels is not None:
            raise ValueError("levels apply only to category fields")
        if self.model is ModelUse.identity and self.type not in (
            FieldType.number,
            FieldType.integer,
            FieldType.boolean,
        ):
            raise ValueError("only number, integer and boolean fields can be model features as they are")
        if self.type is FieldType.medication_list and self.missing is MissingPolicy.required:
            raise ValueError("a medication_list field is optional (an empty list means none recorded)")
        return self


class DerivedFeature(FrozenModel):
    """A model feature computed from one or more input fields by a named encoder."""

    id: str = Field(pattern=SNAKE_ID)
    type: FeatureType
    unit: str
    valid_range: tuple[float, float] | None = None
    sources: tuple[str, ...] = Field(min_length=1)
    encoder: str = Field(pattern=SNAKE_ID)
    args: dict[str, Any] = Field(default_factory=dict)
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)


class Constraint(FrozenModel):
    """A cross-field rule checked when every field it names is present.

    ``less_equal``: the first number field must not exceed the second. ``levels_allowed``: for each level of the
    first category field, ``allowed`` lists the levels of the second that may go with it (every level listed).
    """

    id: str = Field(pattern=SNAKE_ID)
    rule: Literal["less_equal", "levels_allowed"]
    fields: tuple[str, str]
    allowed: dict[str, tuple[str, ...]] | None = None
    description: str = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self) -> Constraint:
        if (self.rule == "levels_allowed") != (self.allowed is not None):
            raise ValueError("allowed is given for a levels_allowed rule, and only for one")
        if self.allowed is not None and not all(self.allowed.values()):
            raise ValueError("allowed lists at least one level for each level it names")
        return self


class DomainFile(FrozenModel):
    """One features/<domain>.yaml file. Without ``section`` its fields are top-level profile fields (only
    ``medication_list`` fields live there); with one, they are fields of that profile section."""

    domain: Domain
    section: str | None = Field(default=None, pattern=SNAKE_ID)
    description: str = ""
    fields: tuple[InputField, ...] = ()
    derived: tuple[DerivedFeature, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    @model_validator(mode="after")
    def _placement(self) -> DomainFile:
        top_level = self.section is None
        for f in self.fields:
            if top_level and f.type is not FieldType.medication_list:
                raise ValueError(f"{f.id}: a file without a section holds only medication_list fields")
            if not top_level and f.type is FieldType.medication_list:
                raise ValueError(
                    f"{f.id}: a medication_list field is top-level (in a file without a section)"
                )
        if top_level and self.constraints:
            raise ValueError("constraints belong to a file with a section")
        return self


class CatalogIndex(FrozenModel):
    """features/catalog.yaml: identity, version and the ordered list of domain files."""

    catalog_id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    files: tuple[str, ...] = Field(min_length=1)
    pgx_tables: str = "pgx"


class FeatureSpec(FrozenModel):
    """A model feature column, resolved: what the feature layer, the models and the report need."""

    id: str
    index: int
    domain: Domain
    type: FeatureType
    unit: str
    valid_range: tuple[float, float] | None
    sources: tuple[str, ...]
    encoder: str
    args: dict[str, Any]
    label: str
    description: str


class FieldSpec(FrozenModel):
    """An input field, resolved with its profile section ("" for a top-level field) and domain."""

    section: str
    domain: Domain
    field: InputField

    @property
    def id(self) -> str:
        return self.field.id

    @property
    def top_level(self) -> bool:
        return not self.section

    @property
    def path(self) -> str:
        return self.field.id if self.top_level else f"{self.section}.{self.field.id}"


# ---------------------------------------------------------------- treatment options (models/)


class OptionClass(StrEnum):
    opioid = "opioid"
    nsaid = "nsaid"
    tricyclic_antidepressant = "tricyclic_antidepressant"
    snri = "snri"
    gabapentinoid = "gabapentinoid"
    anticonvulsant = "anticonvulsant"
    topical_nsaid = "topical_nsaid"  # kept apart from nsaid: little systemic exposure
    topical = "topical"  # local anaesthetic or capsaicin patches for localised neuropathic pain
    physical = "physical"
    psychological = "psychological"
    mind_body = "mind_body"
    digital = "digital"
    social = "social"
    multidisciplinary = "multidisciplinary"  # physician, physiotherapist and psychologist together


class Modality(StrEnum):
    drug = "drug"
    non_drug = "non_drug"


class TreatmentOption(FrozenModel):
    """One treatment option the engine can rank."""

    id: str = Field(pattern=SNAKE_ID)
    display_name: str = Field(min_length=1)
    option_class: OptionClass = Field(alias="class")
    modality: Modality
    cpic_drug: str | None = None  # key into features/pgx/recommendations.tsv
    genes: tuple[str, ...] = ()
    description: str = Field(min_length=1)
    cautions: tuple[str, ...] = ()  # non-genetic cautions shown with the option (plain text)
    references: tuple[str, ...] = ()

    model_config = FrozenModel.model_config | {"populate_by_name": True}

    @field_validator("genes")
    @classmethod
    def _genes_upper(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for g in v:
            if g != g.upper():
                raise ValueError("gene symbols are written in upper case (e.g. CYP2D6, HLA-B)")
        return v


class TreatmentOptionCatalog(FrozenModel):
    """models/treatment_options.yaml."""

    catalog_id: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    options: tuple[TreatmentOption, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique(self) -> TreatmentOptionCatalog:
        ids = [o.id for o in self.options]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"option ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def get(self, option_id: str) -> TreatmentOption:
        option = _option_index(self).get(option_id)
        if option is None:
            raise KeyError(option_id)
        return option

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)


@per_object(16)  # catalogs of models loaded and unloaded: the last few
def _option_index(catalog: TreatmentOptionCatalog) -> dict[str, TreatmentOption]:
    """Each option catalog's options by id, kept beside the catalog (frozen: its options never change); the ranking
    looks every option up per patient, which a scan of the tuple made quadratic in the number of options."""
    return {o.id: o for o in catalog.options}


PhenotypeTerm = Literal[
    "Poor Metabolizer",
    "Likely Poor Metabolizer",
    "Intermediate Metabolizer",
    "Likely Intermediate Metabolizer",
    "Normal Metabolizer",
    "Rapid Metabolizer",
    "Ultrarapid Metabolizer",
    "Indeterminate",
]
