"""The two safety catalogs, read strictly: features/medications.yaml and models/safety_rules.yaml.

Every problem is collected and raised once as a :class:`CatalogError` naming the file, the path inside it, the
rule and the kind of value found. Beyond the shape of each row, the loader checks what the rows point at:
source ids, field paths (against the feature catalog, with the value's type and the category levels), option
ids and classes (against models/treatment_options.yaml), medication names and properties, genes and
phenotypes. Every drug option of the option catalog must have a medication row, so the rules can reach it by its
medicine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    file_sha256,
    parse_as,
    read_yaml,
    resolve_root,
)
from precisionpain.catalog.types import SNAKE_ID, FieldType, Modality, OptionClass
from precisionpain.errors import CatalogError, Violation, kind_of
from precisionpain.pgx.phenoconversion import InhibitorStrength, PhenoconversionMethod
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, TRANSLATED_GENES, ActionCode
from precisionpain.pgx.translate import PHENOTYPES, canonical_activity_score
from precisionpain.schema import RuleLevel

MEDICATIONS_FILE = "features/medications.yaml"
RULES_FILE = "models/safety_rules.yaml"
VERSION = r"^\d+\.\d+\.\d+$"


class MedicationProperty(StrEnum):
    """What the safety rules ask of a medicine (closed vocabulary)."""

    serotonergic = "serotonergic"
    maoi = "maoi"
    benzodiazepine = "benzodiazepine"
    cns_depressant = "cns_depressant"
    opioid = "opioid"
    gabapentinoid = "gabapentinoid"
    nsaid = "nsaid"
    anticoagulant = "anticoagulant"
    antiplatelet = "antiplatelet"
    hla_b_1502_risk = "hla_b_1502_risk"
    strong_cyp1a2_inhibitor = "strong_cyp1a2_inhibitor"
    strong_cyp3a4_inducer = "strong_cyp3a4_inducer"


class Source(FrozenModel):
    """A citation: label (authors, title, journal or issuer, date), optional URL, and whether it was read."""

    label: str = Field(min_length=3, max_length=400)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    verified: bool


# ------------------------------------------------------------------------------------------ medications


class MedicationRow(FrozenModel):
    name: str = Field(min_length=1, max_length=80, pattern=r"^[a-z][a-z0-9 \-]*$")
    synonyms: tuple[str, ...] = ()
    rxnorm: str | None = Field(default=None, pattern=r"^[0-9]{1,10}$")
    drug_class: str = Field(pattern=SNAKE_ID)
    inhibits: dict[str, InhibitorStrength] = Field(default_factory=dict)
    properties: tuple[MedicationProperty, ...] = ()
    acb_score: int = Field(ge=0, le=3)
    sources: tuple[str, ...] = Field(min_length=1)
    note: str = ""

    @field_validator("inhibits")
    @classmethod
    def _genes(cls, v: dict[str, InhibitorStrength]) -> dict[str, InhibitorStrength]:
        unknown = sorted(set(v) - set(TRANSLATED_GENES))
        if unknown:
            raise ValueError(f"inhibitor strengths are given for {', '.join(TRANSLATED_GENES)} only")
        return v

    @field_validator("synonyms")
    @classmethod
    def _synonyms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if not 1 <= len(s) <= 80:
                raise ValueError("a synonym has 1 to 80 characters")
        return v

    def strength(self, gene: str) -> InhibitorStrength:
        return self.inhibits.get(gene, InhibitorStrength.none)


class MedicationFile(FrozenModel):
    catalog_id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(pattern=VERSION)
    description: str = ""
    sources: dict[str, Source] = Field(min_length=1)
    medications: tuple[MedicationRow, ...] = Field(min_length=1)


@dataclass(frozen=True, eq=False)
class MedicationCatalog:
    """features/medications.yaml, validated, with name/synonym/RxCUI indexes (case-insensitive names)."""

    catalog_id: str
    version: str
    sha256: str
    path: Path
    sources: Mapping[str, Source]
    medications: tuple[MedicationRow, ...]
    _by_name: Mapping[str, MedicationRow] = field(repr=False, default_factory=dict)
    _by_rxcui: Mapping[str, MedicationRow] = field(repr=False, default_factory=dict)

    def by_name(self, name: str) -> MedicationRow | None:
        # a name already in normal form (the usual spelling) is found without normalizing it again
        return self._by_name.get(name) or self._by_name.get(normalize_medication_name(name))

    def by_rxcui(self, rxcui: str) -> MedicationRow | None:
        return self._by_rxcui.get(rxcui)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.medications)

    @property
    def identity(self) -> dict[str, str]:
        return {"catalog_id": self.catalog_id, "version": self.version, "sha256": self.sha256}


_SPACES = re.compile(r"\s+")


def normalize_medication_name(name: str) -> str:
    """Case- and space-insensitive key of a medication name (the caller bounds its length first)."""
    return _SPACES.sub(" ", name.strip().lower())


def _source_violations(where: str, ids: tuple[str, ...], known: Mapping[str, Source]) -> list[Violation]:
    return [
        Violation(f"{where}.sources", f"names source {s!r}, which is not in `sources`")
        for s in ids
        if s not in known
    ]


def load_medication_catalog(root: str | os.PathLike[str] | None = None) -> MedicationCatalog:
    base = resolve_root(root)
    path = base / MEDICATIONS_FILE
    data = parse_as(MedicationFile, read_yaml(path), MEDICATIONS_FILE)
    violations: list[Violation] = []
    by_name: dict[str, MedicationRow] = {}
    by_rxcui: dict[str, MedicationRow] = {}
    for i, row in enumerate(data.medications):
        where = f"medications[{i}]"
        violations += _source_violations(where, row.sources, data.sources)
        for key in (row.name, *row.synonyms):
            k = normalize_medication_name(key)
            if k in by_name:
                violations.append(
                    Violation(f"{where}", f"name or synonym {key!r} is also used by {by_name[k].name!r}")
                )
            by_name[k] = row
        if row.rxnorm is not None:
            if row.rxnorm in by_rxcui:
                violations.append(Violation(f"{where}.rxnorm", f"also used by {by_rxcui[row.rxnorm].name!r}"))
            by_rxcui[row.rxnorm] = row
    CatalogError.raise_if_any(MEDICATIONS_FILE, violations)
    return MedicationCatalog(
        catalog_id=data.catalog_id,
        version=data.version,
        sha256=file_sha256(path),
        path=path,
        sources=data.sources,
        medications=data.medications,
        _by_name=by_name,
        _by_rxcui=by_rxcui,
    )


# ------------------------------------------------------------------------------------------ rules


class Condition(FrozenModel):
    """One node of a rule's ``when``: exactly one head (see the header of models/safety_rules.yaml)."""

    field: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    is_: bool | str | None = Field(default=None, alias="is")
    in_: tuple[str, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[str, ...] | None = Field(default=None, min_length=1)
    missing: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    taking_property: MedicationProperty | None = None
    taking_class: str | None = Field(default=None, pattern=SNAKE_ID)
    phenotype: str | None = None
    functional_in: tuple[str, ...] | None = Field(default=None, min_length=1)
    phenoconverted: str | None = None
    assumed_activity_score: str | None = None
    all_: tuple[Condition, ...] | None = Field(default=None, alias="all", min_length=1)
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")

    model_config = FrozenModel.model_config | {"populate_by_name": True}

    HEADS: ClassVar[tuple[str, ...]] = (
        "field", "missing", "taking_property", "taking_class", "phenotype", "phenoconverted",
        "assumed_activity_score", "all_", "any_", "not_",
    )  # fmt: skip
    OPERATORS: ClassVar[tuple[str, ...]] = ("lt", "le", "gt", "ge", "is_", "in_", "not_in")

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        heads = [h for h in self.HEADS if getattr(self, h) is not None]
        if len(heads) != 1:
            raise ValueError(
                "a condition has exactly one of field, missing, taking_property, taking_class, phenotype, "
                "phenoconverted, assumed_activity_score, all, any, not"
            )
        ops = [o for o in self.OPERATORS if getattr(self, o) is not None]
        if heads[0] == "field" and len(ops) != 1:
            raise ValueError("a field condition has exactly one of lt, le, gt, ge, is, in, not_in")
        if heads[0] != "field" and ops:
            raise ValueError("lt, le, gt, ge, is, in and not_in go with `field` only")
        if (self.functional_in is not None) != (heads[0] == "phenotype"):
            raise ValueError("`phenotype: GENE` goes with `functional_in: [...]`")
        return self

    @property
    def head(self) -> str:
        return next(h for h in self.HEADS if getattr(self, h) is not None)

    @property
    def operator(self) -> str:
        return next(o for o in self.OPERATORS if getattr(self, o) is not None)


class OptionSelector(FrozenModel):
    ids: tuple[str, ...] = ()
    classes: tuple[OptionClass, ...] = ()
    drugs: tuple[str, ...] = ()
    drug_properties: tuple[MedicationProperty, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> OptionSelector:
        if not (self.ids or self.classes or self.drugs or self.drug_properties):
            raise ValueError("name the options by ids, classes, drugs or drug_properties")
        return self


class Rule(FrozenModel):
    id: str = Field(pattern=SNAKE_ID, max_length=80)
    level: RuleLevel
    when: Condition
    options: OptionSelector
    text: str = Field(min_length=10, max_length=600)
    sources: tuple[str, ...] = Field(min_length=1)
    judgement: bool = False
    note: str = ""
    data_warning: bool = False
    field: str | None = None  # the input a data warning is about

    @model_validator(mode="after")
    def _judgement_note(self) -> Rule:
        if self.judgement and not self.note.strip():
            raise ValueError("a rule resting on judgement says why in `note`")
        if self.data_warning and self.field is None:
            raise ValueError("a data_warning rule names the input it is about in `field`")
        return self


class Phenoconversion(FrozenModel):
    genes: tuple[str, ...]
    activity_multipliers: dict[InhibitorStrength, float]
    phenotype_only: dict[InhibitorStrength, str | dict[str, str]] = Field(default_factory=dict)
    sources: tuple[str, ...] = Field(min_length=1)
    judgement: bool = False
    note: str = Field(min_length=10)


class AssumedScore(FrozenModel):
    gene: str
    phenotype: str
    activity_score: str
    sources: tuple[str, ...] = Field(min_length=1)
    judgement: bool = False
    note: str = Field(min_length=10)


class RulesFile(FrozenModel):
    catalog_id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(pattern=VERSION)
    description: str = ""
    sources: dict[str, Source] = Field(min_length=1)
    cpic_action_levels: dict[ActionCode, RuleLevel]
    phenoconversion: Phenoconversion
    assumed_activity_scores: tuple[AssumedScore, ...] = ()
    rules: tuple[Rule, ...] = Field(min_length=1)


@dataclass(frozen=True, eq=False)
class SafetyRules:
    """models/safety_rules.yaml, validated against the feature, option and medication catalogs."""

    catalog_id: str
    version: str
    sha256: str
    path: Path
    sources: Mapping[str, Source]
    cpic_action_levels: Mapping[ActionCode, RuleLevel]
    phenoconversion: Phenoconversion
    method: PhenoconversionMethod
    assumed_activity_scores: tuple[AssumedScore, ...]
    rules: tuple[Rule, ...]

    @property
    def identity(self) -> dict[str, str]:
        return {"catalog_id": self.catalog_id, "version": self.version, "sha256": self.sha256}


def _check_phenotype(where: str, value: str, out: list[Violation]) -> None:
    if value not in PHENOTYPES:
        out.append(
            Violation(where, f"must be a CPIC phenotype term ({', '.join(PHENOTYPES)})", kind_of(value))
        )


def _check_gene(where: str, gene: str, out: list[Violation]) -> None:
    if gene not in TRANSLATED_GENES:
        out.append(Violation(where, f"must be one of {', '.join(TRANSLATED_GENES)}", kind_of(gene)))


def _check_condition(
    c: Condition, where: str, features: FeatureCatalog, medications: MedicationCatalog, out: list[Violation]
) -> None:
    head = c.head
    if head in ("field", "missing"):
        path = c.field if head == "field" else c.missing
        assert path is not None
        section, _, fid = path.partition(".")
        if not features.has_field(fid) or features.field(fid).section != section:
            out.append(
                Violation(
                    f"{where}.{head}", "is not a field of the feature catalog (section.field)", "string"
                )
            )
            return
        if head == "missing":
            return
        spec = features.field(fid).field
        op = c.operator
        if op in ("lt", "le", "gt", "ge"):
            if spec.type not in (FieldType.number, FieldType.integer):
                out.append(Violation(f"{where}.{op}", f"{path} is not a number field", "number"))
        elif op == "is_":
            value = c.is_
            if spec.type is FieldType.boolean and not isinstance(value, bool):
                out.append(Violation(f"{where}.is", f"{path} is true or false", kind_of(value)))
            elif spec.type is FieldType.category and value not in (spec.levels or ()):
                out.append(Violation(f"{where}.is", f"must be a level of {path}", kind_of(value)))
            elif spec.type not in (FieldType.boolean, FieldType.category):
                out.append(Violation(f"{where}.is", f"{path} is compared with lt/le/gt/ge", kind_of(value)))
        else:
            values = c.in_ if op == "in_" else c.not_in
            if spec.type is not FieldType.category:
                out.append(Violation(f"{where}.{op.rstrip('_')}", f"{path} is not a category field", "list"))
            else:
                for v in values or ():
                    if v not in (spec.levels or ()):
                        out.append(
                            Violation(
                                f"{where}.{op.rstrip('_')}", f"{v!r} is not a level of {path}", "string"
                            )
                        )
    elif head == "taking_class":
        known = {m.drug_class for m in medications.medications}
        if c.taking_class not in known:
            out.append(
                Violation(f"{where}.taking_class", "is not a drug_class of the medication catalog", "string")
            )
    elif head == "phenotype":
        _check_gene(f"{where}.phenotype", c.phenotype or "", out)
        for v in c.functional_in or ():
            _check_phenotype(f"{where}.functional_in", v, out)
    elif head in ("phenoconverted", "assumed_activity_score"):
        _check_gene(f"{where}.{head}", getattr(c, head), out)
    elif head in ("all_", "any_"):
        for i, sub in enumerate(getattr(c, head)):
            _check_condition(sub, f"{where}.{head.rstrip('_')}[{i}]", features, medications, out)
    elif head == "not_":
        assert c.not_ is not None
        _check_condition(c.not_, f"{where}.not", features, medications, out)


def _check_selector(
    s: OptionSelector,
    where: str,
    options: OptionCatalog,
    medications: MedicationCatalog,
    out: list[Violation],
) -> None:
    known = set(options.ids)
    for i, oid in enumerate(s.ids):
        if oid not in known:
            out.append(
                Violation(
                    f"{where}.ids[{i}]", "is not an option id in models/treatment_options.yaml", "string"
                )
            )
    names = set(medications.names)
    for i, d in enumerate(s.drugs):
        if d not in names:
            out.append(
                Violation(
                    f"{where}.drugs[{i}]", "is not a medication name in features/medications.yaml", "string"
                )
            )


def option_medication(option: Any, medications: MedicationCatalog) -> MedicationRow | None:
    """The medication row of a drug option: by its id, else by its CPIC drug name."""
    if option.modality is not Modality.drug:
        return None
    return medications.by_name(option.id.replace("_", " ")) or (
        medications.by_name(option.cpic_drug) if option.cpic_drug else None
    )


def load_safety_rules(
    features: FeatureCatalog,
    options: OptionCatalog,
    medications: MedicationCatalog,
    root: str | os.PathLike[str] | None = None,
) -> SafetyRules:
    base = resolve_root(root)
    path = base / RULES_FILE
    data = parse_as(RulesFile, read_yaml(path), RULES_FILE)
    out: list[Violation] = []
    seen: set[str] = set()
    for i, rule in enumerate(data.rules):
        where = f"rules[{i}]"
        if rule.id in seen:
            out.append(Violation(f"{where}.id", "repeats a rule id", "string"))
        seen.add(rule.id)
        out += _source_violations(where, rule.sources, data.sources)
        _check_condition(rule.when, f"{where}.when", features, medications, out)
        _check_selector(rule.options, f"{where}.options", options, medications, out)
        if rule.field is not None:
            section, _, fid = rule.field.partition(".")
            if not features.has_field(fid) or features.field(fid).section != section:
                out.append(
                    Violation(
                        f"{where}.field", "is not a field of the feature catalog (section.field)", "string"
                    )
                )
    pc = data.phenoconversion
    out += _source_violations("phenoconversion", pc.sources, data.sources)
    for g in pc.genes:
        _check_gene("phenoconversion.genes", g, out)
    for strength, target in pc.phenotype_only.items():
        for value in [target] if isinstance(target, str) else [*target, *target.values()]:
            _check_phenotype(f"phenoconversion.phenotype_only.{strength.value}", value, out)
    assumed: dict[str, dict[str, str]] = {}
    for i, a in enumerate(data.assumed_activity_scores):
        where = f"assumed_activity_scores[{i}]"
        out += _source_violations(where, a.sources, data.sources)
        _check_phenotype(f"{where}.phenotype", a.phenotype, out)
        if a.gene not in ACTIVITY_SCORE_GENES:
            out.append(
                Violation(f"{where}.gene", f"must be one of {', '.join(ACTIVITY_SCORE_GENES)}", "string")
            )
        try:
            score = canonical_activity_score(a.activity_score)
        except ValueError:
            out.append(
                Violation(f"{where}.activity_score", "must be an activity score such as '1.0'", "string")
            )
            continue
        assumed.setdefault(a.gene, {})[a.phenotype] = score
    for option in options.options:
        if option.modality is Modality.drug and option_medication(option, medications) is None:
            out.append(
                Violation(
                    "models/treatment_options.yaml",
                    f"drug option {option.id!r} has no row in {MEDICATIONS_FILE} (by id or CPIC drug name)",
                )
            )
    CatalogError.raise_if_any(RULES_FILE, out)
    method = PhenoconversionMethod(
        genes=pc.genes,
        activity_multipliers=pc.activity_multipliers,
        phenotype_only=pc.phenotype_only,
        assumed_activity_scores=assumed,
    )
    return SafetyRules(
        catalog_id=data.catalog_id,
        version=data.version,
        sha256=file_sha256(path),
        path=path,
        sources=data.sources,
        cpic_action_levels=data.cpic_action_levels,
        phenoconversion=pc,
        method=method,
        assumed_activity_scores=data.assumed_activity_scores,
        rules=data.rules,
    )
