"""The clinician report: ExplainedRecommendation + profile + model card -> :class:`Report` -> HTML or JSON.

:func:`build_report` is a pure stage. It turns the stage outputs into one frozen, JSON-round-tripping
:class:`Report` that holds everything the page shows, already in display form (labels, units, bins, the
waterfall steps), so a saved report re-renders without catalogs (:func:`report_from_json`, then
:func:`precisionpain.explain.render.render_html`). The report never carries the patient reference.

Sections follow the PharmCAT report (genotype summary, then prescribing guidance with CPIC strength and
citation), GeneSight-style colour bins for gene-drug guidance, SHAP waterfalls for the model's reasons, and
a model-card summary so the clinician can review the basis of each estimate (FDA CDS guidance, criterion 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, Literal

import pydantic

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog, pydantic_violations
from precisionpain.catalog.types import DOMAIN_LABELS, Domain, FieldSpec, FieldType
from precisionpain.errors import ValidationError, Violation, kind_of
from precisionpain.explain import display
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import PgxTables
from precisionpain.ranking import DOSE_TEXT, data_warnings, safety_flags
from precisionpain.schema import (
    CPIC_GROUP_LABELS,
    BiogeographicGroup,
    Caution,
    DataWarning,
    ExplainedRecommendation,
    FunctionalReading,
    GeneResult,
    Guidance,
    GuidelineTier,
    HlaStatus,
    Interval,
    ModelSummary,
    NetBenefit,
    OptionExplanation,
    OutcomePrediction,
    PatientProfile,
    Provenance,
    RankedOption,
    RankedRecommendation,
    RankingSummary,
    SafetyFlag,
    SafetyReason,
    Severity,
    SourceRef,
    WarningKind,
)

REPORT_FORMAT: Final = "precisionpain-report/1"
DEFAULT_MAX_CONTRIBUTIONS = 8
#: Ranked options drawn as a full waterfall: the top ranks a clinician would consider (and every option the
#: guideline tiers put first line, whatever its rank). The other ranked options get one summary row each, and
#: excluded options their reasons for exclusion, which keeps a 28-option page small.
DEFAULT_CHARTED_RANKS = 8
#: |base + sum(contributions) - margin| above this (log-odds) means the explanation is not additive.
ADDITIVITY_TOLERANCE = 1e-3

DOMAIN_ORDER: tuple[Domain, ...] = (
    Domain.clinical,
    Domain.psychosocial,
    Domain.biomarker,
    Domain.wearable,
    Domain.pgx,
)


TIER_LABELS = display.TIER_LABELS

SUPPORT_STATEMENT = (
    "This report supports and does not replace clinical judgment. Review the basis of each estimate before "
    "acting on it."
)


class PgxBin(StrEnum):
    """GeneSight-like bins for CPIC gene-drug guidance."""

    use_as_directed = "use_as_directed"
    caution = "caution"
    avoid = "avoid"
    no_recommendation = "no_recommendation"
    not_tested = "not_tested"


BIN_LABELS: dict[PgxBin, str] = {
    PgxBin.use_as_directed: "Use as directed",
    PgxBin.caution: "Adjust dose or use with caution",
    PgxBin.avoid: "Avoid",
    PgxBin.no_recommendation: "No CPIC recommendation",
    PgxBin.not_tested: "Genes not tested",
}

ACTION_BINS: dict[str, PgxBin] = {
    "USE_LABEL_DOSING": PgxBin.use_as_directed,
    "REDUCE_DOSE": PgxBin.caution,
    "CONSIDER_ALTERNATIVE": PgxBin.caution,
    "USE_WITH_CAUTION": PgxBin.caution,
    "AVOID": PgxBin.avoid,
    "NO_RECOMMENDATION": PgxBin.no_recommendation,
}

ACTION_LABELS = {
    "USE_LABEL_DOSING": "Use label-recommended dosing",
    "REDUCE_DOSE": "Reduce the dose",
    "CONSIDER_ALTERNATIVE": "Consider an alternative",
    "USE_WITH_CAUTION": "Use with caution",
    "AVOID": "Avoid",
    "NO_RECOMMENDATION": "No recommendation for this genotype",
}

_PGX_SECTION_ONLY = ("cpic_unresolved", "no_cpic_recommendation")
_BIN_SEVERITY = {PgxBin.avoid: 3, PgxBin.caution: 2, PgxBin.use_as_directed: 1}

# ------------------------------------------------------------------------------------------- report types


class InputItem(FrozenModel):
    field_id: str
    label: str
    display_value: str  # value with unit, "missing" when absent
    given: bool
    value: str = ""  # the value alone
    unit: str = ""  # its unit as displayed ("" for none)


class DomainInputs(FrozenModel):
    domain: str  # clinician label, e.g. "Biomarkers"
    items: tuple[InputItem, ...]

    @property
    def n_given(self) -> int:
        return sum(1 for i in self.items if i.given)

    @property
    def missing_labels(self) -> tuple[str, ...]:
        return tuple(i.label for i in self.items if not i.given)


class PatientSummary(FrozenModel):
    """Key inputs with units, grouped by domain; no identifiers. Every count the report shows about the inputs
    (header, domain cards, missing-input warnings, genes reported) is read from ``domains``."""

    domains: tuple[DomainInputs, ...]
    missing_domains: tuple[str, ...]  # domains with no input at all

    @pydantic.model_validator(mode="before")
    @classmethod
    def _drop_feature_counts(cls, data: Any) -> Any:
        """Reports saved before the counts came from ``domains`` also carried the model's feature counts."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("n_features", "n_features_missing")}
        return data

    @property
    def n_inputs(self) -> int:
        return sum(len(d.items) for d in self.domains)

    @property
    def n_given(self) -> int:
        return sum(d.n_given for d in self.domains)


class GeneRow(FrozenModel):
    gene: str  # clinician label, e.g. "CYP2D6", "HLA-B*15:02"
    tested: bool
    result: str = ""  # diplotype, genotype or carrier status
    activity_score: str = ""
    phenotype: str = ""
    source: str = ""
    note: str = ""

    @property
    def summary(self) -> str:
        """One phrase for the patient summary: the phenotype, else the result."""
        return self.phenotype or self.result


class Citation(FrozenModel):
    label: str
    url: str = ""


class GuidanceItem(FrozenModel):
    """One CPIC recommendation for one drug, in display form."""

    genes: str  # e.g. "CYP2D6 Poor Metabolizer (activity score 0.0)"
    bin: PgxBin
    action: str
    action_label: str
    classification: str  # CPIC strength
    recommendation: str
    implications: str = ""
    dose: str = ""
    population: str = ""
    guideline: str = ""
    guideline_url: str = ""
    publications: tuple[Citation, ...] = ()
    cpic_data_version: str = ""


class DrugPgx(FrozenModel):
    option_id: str
    drug: str
    bin: PgxBin
    items: tuple[GuidanceItem, ...] = ()  # recommendations with an action (not "no recommendation")
    no_recommendation: tuple[str, ...] = ()  # results for which CPIC makes no recommendation
    notes: tuple[str, ...] = ()  # untested genes, guidance that could not be applied
    guideline: str = ""
    guideline_url: str = ""
    publications: tuple[Citation, ...] = ()


class PgxSection(FrozenModel):
    genes: tuple[GeneRow, ...]
    drugs: tuple[DrugPgx, ...]
    drugs_without_guideline: tuple[str, ...] = ()
    cpic_data_version: str = ""

    @property
    def n_tested(self) -> int:
        return sum(1 for g in self.genes if g.tested)

    def in_bin(self, b: PgxBin | str) -> tuple[DrugPgx, ...]:
        return tuple(d for d in self.drugs if d.bin == b)


class OptionEntry(FrozenModel):
    option_id: str
    display_name: str
    option_class: str  # clinician label
    modality: str
    description: str = ""
    rank: int | None
    p_response: float
    interval: Interval
    pgx_bin: PgxBin | None = None  # None for non-drug options and drugs without a CPIC guideline
    cautions: tuple[Caution, ...] = ()
    excluded: bool = False
    exclusion_reason: str = ""
    guideline_tier: GuidelineTier | None = None  # None in recommendations made before guideline tiers
    # the harms' probabilities and the net benefit the options are ordered by (empty/None in recommendations made
    # before them); placed above options of a better guideline tier for a significantly higher net benefit
    harms: tuple[OutcomePrediction, ...] = ()
    net_benefit: NetBenefit | None = None
    tier_overridden: bool = False
    tie_group: int | None = None  # ranked options: the group it cannot be told apart from (1 = the best)
    probability_best: float | None = None


class WaterfallStep(FrozenModel):
    """One bar of a waterfall: a feature (or the rest) moving the log-odds from ``start`` to ``end``."""

    kind: Literal["feature", "other"]
    feature_id: str = ""
    label: str
    display_value: str = ""
    domain: str = ""
    shap_value: float
    start: float
    end: float
    delta_p: float  # sigmoid(end) - sigmoid(start), as a fraction
    outside_training_range: bool = False


class DomainTotal(FrozenModel):
    domain: str
    shap_value: float
    delta_p: float  # sigmoid(base + total) - sigmoid(base)


class OptionWhy(FrozenModel):
    """The model's reasons for one option: a SHAP waterfall in log-odds with probability conversions."""

    option_id: str
    display_name: str
    base_value: float
    margin: float
    p_base: float
    p_margin: float
    p_response: float  # calibrated, as ranked
    steps: tuple[WaterfallStep, ...]
    n_other_features: int
    domain_totals: tuple[DomainTotal, ...]
    excluded: bool = False
    #: drawn as a full waterfall; otherwise one summary row (ranked) or the reasons for exclusion (excluded).
    #: Reports saved before summary rows existed chart every option.
    chart: bool = True


class Reference(FrozenModel):
    label: str
    url: str


class SafetyRow(FrozenModel):
    """One option's safety verdict for this patient and every reason behind it, most severe first."""

    option_id: str
    display_name: str
    verdict: Literal["usable", "warning", "excluded"]
    reasons: tuple[SafetyReason, ...] = ()


class MedicationSafety(FrozenModel):
    """The "Medication safety" section: medications and how they change the genes' function, organ function and
    pregnancy as given, the checks that could not be made, and each option's verdict with its reasons."""

    medications: tuple[str, ...] = ()
    functional_phenotypes: tuple[FunctionalReading, ...] = ()
    facts: tuple[InputItem, ...] = ()  # organ function, pregnancy and the histories the rules read
    not_checked: tuple[str, ...] = ()  # messages of the safety rules that an unknown input left unchecked
    rows: tuple[SafetyRow, ...] = ()  # excluded first, then warned, then usable (ranked order within each)
    rules_version: str = ""
    rules_sha256: str = ""


class TierRow(FrozenModel):
    """One option's guideline tier for this patient, with the sources of its row (ids into the section's list)."""

    option_id: str
    display_name: str
    tier: GuidelineTier
    source_ids: tuple[str, ...] = ()
    judgement: bool = False
    note: str = ""
    excluded: bool = False


class GuidelineSection(FrozenModel):
    """The "Guideline tiers" section: which table the tiers come from (the pain condition, or the pain type when
        no condition was given) and every shown option's tier, ranked options first. Under the default ranking policy
    the tier comes first in the order (``Report.ranking`` says which policy an answer used)."""

    condition: str = ""  # clinician label of the pain condition; "" = not given
    pain_type: str
    table: str
    text: str  # e.g. "Pain condition not given: guideline tiers from the pain type (mixed)."
    rows: tuple[TierRow, ...] = ()
    sources: tuple[SourceRef, ...] = ()  # every source the rows cite, once, in order of first citation
    catalog_version: str = ""
    catalog_sha256: str = ""

    def number(self, source_id: str) -> int:
        """The 1-based number the section cites a source by."""
        return next(i for i, s in enumerate(self.sources, 1) if s.source_id == source_id)


class Report(FrozenModel):
    """One clinician report, rendered to HTML (:func:`render_html`) or JSON (``model_dump_json``)."""

    report_format: Literal["precisionpain-report/1"] = REPORT_FORMAT
    title: str = "Chronic pain treatment options: clinician report"
    generated_at: str
    intended_use: str
    outcome_definition: str
    support_statement: str = SUPPORT_STATEMENT
    provenance: Provenance
    model: ModelSummary
    safety_flags: tuple[SafetyFlag, ...]
    patient: PatientSummary
    pgx: PgxSection
    options: tuple[OptionEntry, ...]
    excluded: tuple[OptionEntry, ...]
    explanations: tuple[OptionWhy, ...]
    warnings: tuple[DataWarning, ...]
    references: tuple[Reference, ...]
    medication_safety: MedicationSafety = MedicationSafety()
    guidelines: GuidelineSection | None = None  # None for a recommendation made before guideline tiers
    charted_ranks: int = DEFAULT_CHARTED_RANKS  # ranked options charted in full, besides the first-line ones
    ranking: RankingSummary | None = None  # how the options were ordered (None before net benefit existed)

    def explanation(self, option_id: str) -> OptionWhy:
        for e in self.explanations:
            if e.option_id == option_id:
                return e
        raise KeyError(option_id)

    @property
    def critical_flags(self) -> tuple[SafetyFlag, ...]:
        return tuple(f for f in self.safety_flags if f.severity is Severity.critical)


# ------------------------------------------------------------------------------------------- references

GENERAL_REFERENCES: tuple[Reference, ...] = (
    Reference(
        label="Clinical Pharmacogenetics Implementation Consortium (CPIC): guidelines",
        url="https://cpicpgx.org/guidelines/",
    ),
    Reference(
        label="Dworkin RH et al. Interpreting the clinical importance of treatment outcomes in chronic pain "
        "clinical trials: IMMPACT recommendations. J Pain 2008;9:105-121.",
        url="https://doi.org/10.1016/j.jpain.2007.09.005",
    ),
    Reference(
        label="Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity "
        "measure. J Gen Intern Med 2001;16:606-613.",
        url="https://doi.org/10.1046/j.1525-1497.2001.016009606.x",
    ),
    Reference(
        label="Lundberg SM, Lee S-I. A unified approach to interpreting model predictions (SHAP). "
        "NeurIPS 2017.",
        url="https://arxiv.org/abs/1705.07874",
    ),
    Reference(
        label="Lundberg SM et al. From local explanations to global understanding with explainable AI for "
        "trees (TreeSHAP). Nat Mach Intell 2020;2:56-67.",
        url="https://doi.org/10.1038/s42256-019-0138-9",
    ),
    Reference(
        label="Mitchell M et al. Model cards for model reporting. FAT* 2019.",
        url="https://arxiv.org/abs/1810.03993",
    ),
    Reference(
        label="Collins GS et al. TRIPOD+AI statement: updated guidance for reporting clinical prediction "
        "models that use regression or machine learning methods. BMJ 2024;385:e078378.",
        url="https://doi.org/10.1136/bmj-2023-078378",
    ),
    Reference(
        label="US FDA. Clinical Decision Support Software: guidance for industry and FDA staff "
        "(final guidance first issued 28 September 2022).",
        url="https://www.fda.gov/regulatory-information/search-fda-guidance-documents/"
        "clinical-decision-support-software",
    ),
)


def _publication(text: str) -> Citation:
    """``PMID:33387367(2021)`` -> a PubMed citation; anything else is kept as plain text."""
    raw = text.strip()
    if raw.upper().startswith("PMID:"):
        body = raw[5:]
        pmid, _, rest = body.partition("(")
        pmid = pmid.strip()
        year = rest.rstrip(")").strip()
        if pmid.isdigit():
            return Citation(
                label=f"PMID {pmid}" + (f" ({year})" if year else ""),
                url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
            )
    return Citation(label=raw)


def _guideline_publications(tables: PgxTables, drug: str, guideline: str) -> tuple[Citation, ...]:
    for rec in tables.recommendations_for(drug):
        if rec.guideline == guideline and rec.guideline_publications:
            return tuple(_publication(p) for p in rec.guideline_publications.split(";") if p.strip())
    return ()


# ------------------------------------------------------------------------------------------- validation


def _check_inputs(explained: ExplainedRecommendation, catalog: FeatureCatalog) -> None:
    """The explanation must belong to this catalog and add up; every problem is raised at once."""
    problems: list[Violation] = []
    rec = explained.recommendation
    if explained.features.catalog.sha256 != catalog.sha256:
        problems.append(
            Violation("features.catalog.sha256", "must match the feature catalog the report is built with")
        )
    if rec.provenance.catalog_sha256 != catalog.sha256:
        problems.append(
            Violation(
                "recommendation.provenance.catalog_sha256",
                "must match the feature catalog the report is built with",
            )
        )
    explained_ids = [e.option_id for e in explained.explanations]
    for i, option in enumerate((*rec.options, *rec.excluded)):
        if option.option_id not in explained_ids:
            where = f"recommendation.{'excluded' if option.excluded else 'options'}"
            problems.append(
                Violation(f"{where}[{i}].option_id", "has no explanation in explanations", "string")
            )
    for i, e in enumerate(explained.explanations):
        total = e.base_value + sum(c.shap_value for c in e.contributions) + e.other_contributions
        values = (e.base_value, e.margin, e.other_contributions, *(c.shap_value for c in e.contributions))
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            problems.append(Violation(f"explanations[{i}]", "values must be finite numbers", kind_of(bad[0])))
        elif abs(total - e.margin) > ADDITIVITY_TOLERANCE:
            problems.append(
                Violation(
                    f"explanations[{i}]",
                    f"base_value + contributions + other_contributions must equal margin "
                    f"(within {ADDITIVITY_TOLERANCE:g} log-odds)",
                    "number",
                )
            )
    ValidationError.raise_if_any("explained recommendation", problems)


# ------------------------------------------------------------------------------------------- patient summary


def _field_value(profile: PatientProfile, spec: FieldSpec) -> Any:
    return getattr(getattr(profile, spec.section), spec.id)


def _input_display(spec: FieldSpec, value: Any) -> tuple[str, str]:
    """(value, unit) as displayed; the unit is "" for categories, booleans and unitless numbers."""
    f = spec.field
    if value is None:
        return display.MISSING, ""
    if f.type is FieldType.boolean:
        return ("yes" if value else "no"), ""
    if f.type is FieldType.category:
        text = str(getattr(value, "value", value))
        if spec.id == "biogeographic_group":
            return CPIC_GROUP_LABELS.get(BiogeographicGroup(text), text), ""
        return (display.humanize(text) if text.islower() else text), ""
    if f.type in (FieldType.number, FieldType.integer):
        return display.number(float(value)), display.unit_text(f.unit)
    return str(value), ""


def _is_given(value: Any) -> bool:
    return value is not None and value != HlaStatus.not_tested


def _patient_summary(
    profile: PatientProfile, catalog: FeatureCatalog, genes: Sequence[GeneRow]
) -> PatientSummary:
    """The inputs by domain; a gene or marker counts as given exactly when the pharmacogenomics section reports
    it as tested, so both sections count the same."""
    gene_rows = {g.gene: g for g in genes}
    groups: list[DomainInputs] = []
    missing_domains: list[str] = []
    for domain in DOMAIN_ORDER:
        items: list[InputItem] = []
        for spec in catalog.fields:
            if spec.domain is not domain:
                continue
            value = _field_value(profile, spec)
            row = gene_rows.get(spec.field.label) if spec.domain is Domain.pgx else None
            given = row.tested if row is not None else _is_given(value)
            if spec.domain is Domain.pgx:
                summary = (row.summary if row is not None else "") or "result given"
                shown, unit = (summary if given else "not tested"), ""
            else:
                shown, unit = _input_display(spec, value)
            items.append(
                InputItem(
                    field_id=spec.id,
                    label=spec.field.label,
                    display_value=display.with_unit(shown, unit) if given else shown,
                    given=given,
                    value=shown,
                    unit=unit,
                )
            )
        group = DomainInputs(domain=DOMAIN_LABELS[domain], items=tuple(items))
        groups.append(group)
        if items and group.n_given == 0:
            missing_domains.append(group.domain)
    return PatientSummary(domains=tuple(groups), missing_domains=tuple(missing_domains))


def _missing_input_warnings(summary: PatientSummary) -> tuple[DataWarning, ...]:
    """One warning per domain with missing inputs, counted and named from the patient summary's own cards."""
    out = []
    for d in summary.domains:
        missing = d.missing_labels
        if not missing:
            continue
        what = f"all {len(d.items)}" if d.n_given == 0 else f"{len(missing)} of {len(d.items)}"
        out.append(
            DataWarning(
                kind=WarningKind.missing_input,
                field=d.domain.lower(),
                message=f"{d.domain}: {what} inputs missing ({', '.join(missing)}); the model treats them as "
                "unknown.",
            )
        )
    return tuple(out)


# ------------------------------------------------------------------------------------------- pharmacogenomics


def _gene_rows(profile: PatientProfile, catalog: FeatureCatalog, tables: PgxTables) -> tuple[GeneRow, ...]:
    rows: list[GeneRow] = []
    for spec in catalog.fields_in("pgx"):
        value = _field_value(profile, spec)
        label = spec.field.label
        if spec.field.type is FieldType.pgx_gene:
            if value is None:
                rows.append(GeneRow(gene=label, tested=False))
                continue
            result: GeneResult = value
            resolved = resolve_gene(
                spec.id.upper(), result.diplotype, result.phenotype, result.activity_score, tables
            )
            rows.append(
                GeneRow(
                    gene=label,
                    tested=True,
                    result=resolved.diplotype or result.diplotype or "not given",
                    activity_score=resolved.activity_score or result.activity_score or "",
                    phenotype=resolved.phenotype or result.phenotype or "no CPIC phenotype",
                    source="PharmCAT" if result.source.value == "pharmcat" else "Laboratory report",
                )
            )
        elif isinstance(value, HlaStatus):
            tested = value is not HlaStatus.not_tested
            allele = label.split("*", 1)[-1] if "*" in label else label
            rows.append(
                GeneRow(
                    gene=label,
                    tested=tested,
                    result=display.humanize(value.value) if tested else "",
                    phenotype=(
                        f"*{allele} carrier" if value is HlaStatus.positive else f"*{allele} non-carrier"
                    )
                    if tested
                    else "",
                )
            )
        else:
            rows.append(
                GeneRow(
                    gene=label,
                    tested=value is not None,
                    result=str(value) if value is not None else "",
                    note="CPIC makes no recommendation on this genotype." if value is not None else "",
                )
            )
    return tuple(rows)


def _gene_tested(profile: PatientProfile) -> dict[str, bool]:
    pgx = profile.pgx
    return {
        "CYP2D6": pgx.cyp2d6 is not None,
        "CYP2C9": pgx.cyp2c9 is not None,
        "CYP2C19": pgx.cyp2c19 is not None,
        "HLA-B": pgx.hla_b_1502 is not HlaStatus.not_tested,
        "HLA-A": pgx.hla_a_3101 is not HlaStatus.not_tested,
        "OPRM1": pgx.oprm1_rs1799971 is not None,
        "COMT": pgx.comt_rs4680 is not None,
    }


def _actionable_genes(tables: PgxTables, drug: str) -> tuple[str, ...]:
    """Genes with a CPIC recommendation other than "no recommendation" for this drug, in table order."""
    seen: dict[str, None] = {}
    for rec in tables.recommendations_for(drug):
        if rec.action_code != "NO_RECOMMENDATION":
            for g in rec.genes:
                seen.setdefault(g, None)
    return tuple(seen)


def _dose_text(tokens: Sequence[str]) -> str:
    return "; ".join(DOSE_TEXT.get(t, t.replace("_", " ")) for t in tokens)


def _genes_text(readings: Iterable[Any]) -> str:
    parts = []
    for r in readings:
        phenotype = r.phenotype or "result given"
        parts.append(phenotype if phenotype.startswith(r.gene) else f"{r.gene} {phenotype}")
    return "; ".join(parts)


def _cpic_drug(option: RankedOption, options: OptionCatalog | None, tables: PgxTables) -> str | None:
    if options is not None:
        try:
            drug: str | None = options.get(option.option_id).cpic_drug
        except KeyError:
            drug = None
        if drug is not None:
            return drug
    if option.guidance:
        return option.guidance[0].drug
    return option.option_id if option.option_id in tables.drugs else None


def _guidance_item(g: Guidance, tables: PgxTables) -> GuidanceItem:
    return GuidanceItem(
        genes=_genes_text(g.genes),
        bin=ACTION_BINS.get(g.action, PgxBin.no_recommendation),
        action=g.action,
        action_label=ACTION_LABELS.get(g.action, display.humanize(g.action.lower())),
        classification=g.classification,
        recommendation=g.recommendation,
        implications=g.implications,
        dose=_dose_text(g.dose_adjustments),
        population=g.population,
        guideline=g.guideline,
        guideline_url=g.guideline_url,
        publications=_guideline_publications(tables, g.drug, g.guideline),
        cpic_data_version=g.cpic_data_version,
    )


def _drug_pgx(option: RankedOption, drug: str, tested: Mapping[str, bool], tables: PgxTables) -> DrugPgx:
    """One drug's CPIC guidance in display form, and its bin (the most severe action that applies)."""
    items = tuple(_guidance_item(g, tables) for g in option.guidance if g.action != "NO_RECOMMENDATION")
    none_for = tuple(_genes_text(g.genes) for g in option.guidance if g.action == "NO_RECOMMENDATION")
    actionable = _actionable_genes(tables, drug)
    untested = [g for g in actionable if not tested.get(g, False)]
    notes = [f"{g} not tested." for g in untested]
    unresolved = [c.text for c in option.cautions if c.code == "cpic_unresolved"]
    notes += [f"CPIC guidance could not be applied: {t}" for t in unresolved]
    if not actionable:
        notes.append("CPIC evidence is too weak for a genotype-based recommendation for this drug.")
    if items:
        b = max((i.bin for i in items), key=lambda x: _BIN_SEVERITY.get(x, 0))
    elif untested and not unresolved and actionable:
        b = PgxBin.not_tested
    else:
        b = PgxBin.no_recommendation
    first = option.guidance[0] if option.guidance else None
    return DrugPgx(
        option_id=option.option_id,
        drug=option.display_name,
        bin=b,
        items=items,
        no_recommendation=none_for,
        notes=tuple(notes),
        guideline=first.guideline if first else "",
        guideline_url=first.guideline_url if first else "",
        publications=_guideline_publications(tables, first.drug, first.guideline) if first else (),
    )


def _pgx_section(
    explained: ExplainedRecommendation,
    profile: PatientProfile,
    catalog: FeatureCatalog,
    tables: PgxTables,
    options: OptionCatalog | None,
) -> PgxSection:
    rec = explained.recommendation
    tested = _gene_tested(profile)
    drugs: list[DrugPgx] = []
    without: list[str] = []
    for option in (*rec.options, *rec.excluded):
        if option.modality != "drug":
            continue
        drug = _cpic_drug(option, options, tables)
        if drug is None:
            without.append(option.display_name)
            continue
        drugs.append(_drug_pgx(option, drug, tested, tables))
    drugs.sort(key=lambda d: (-_BIN_SEVERITY.get(d.bin, 0), d.drug))
    return PgxSection(
        genes=_gene_rows(profile, catalog, tables),
        drugs=tuple(drugs),
        drugs_without_guideline=tuple(sorted(without)),
        cpic_data_version=rec.provenance.cpic_data_version,
    )


# ------------------------------------------------------------------------------------------- options


def _option_entry(
    option: RankedOption, bins: Mapping[str, PgxBin], options: OptionCatalog | None
) -> OptionEntry:
    description = ""
    if options is not None:
        try:
            description = options.get(option.option_id).description
        except KeyError:
            description = ""
    return OptionEntry(
        option_id=option.option_id,
        display_name=option.display_name,
        option_class=display.option_class_label(option.option_class),
        modality=option.modality,
        description=description,
        rank=option.rank,
        p_response=option.p_response,
        interval=option.interval,
        pgx_bin=bins.get(option.option_id),
        # unresolved guidance and "no recommendation" genotypes are shown in the pharmacogenomics section
        cautions=tuple(c for c in option.cautions if not c.code.startswith(_PGX_SECTION_ONLY)),
        excluded=option.excluded,
        exclusion_reason=option.exclusion_reason,
        guideline_tier=option.guideline.tier if option.guideline is not None else None,
        harms=option.harms,
        net_benefit=option.net_benefit,
        tier_overridden=option.tier_overridden,
        tie_group=option.tie_group,
        probability_best=option.probability_best,
    )


def _guideline_section(rec: RankedRecommendation) -> GuidelineSection | None:
    ctx = rec.guideline_context
    if ctx is None:
        return None
    shown = [o for o in (*rec.options, *rec.excluded) if o.guideline is not None]
    sources: dict[str, SourceRef] = {}
    for o in shown:
        for src in o.guideline.sources:  # type: ignore[union-attr]
            sources.setdefault(src.source_id, src)
    return GuidelineSection(
        condition=display.humanize(ctx.pain_condition.value) if ctx.pain_condition is not None else "",
        pain_type=display.humanize(ctx.pain_type.value),
        table=ctx.table,
        text=ctx.text,
        rows=tuple(
            TierRow(
                option_id=o.option_id,
                display_name=o.display_name,
                tier=o.guideline.tier,
                source_ids=tuple(src.source_id for src in o.guideline.sources),
                judgement=o.guideline.judgement,
                note=o.guideline.note,
                excluded=o.excluded,
            )
            for o in shown
            if o.guideline is not None
        ),
        sources=tuple(sources.values()),
        catalog_version=rec.provenance.guideline_catalog_version,
        catalog_sha256=rec.provenance.guideline_catalog_sha256,
    )


# ------------------------------------------------------------------------------------------- explanations


def _domain_label(key: str) -> str:
    try:
        return DOMAIN_LABELS[Domain(key)]
    except ValueError:
        return key


def _charted(option: RankedOption, charted_ranks: int) -> bool:
    """Whether the option gets a full waterfall: a ranked option in the top ``charted_ranks``, or one that the
    guideline tiers put first line for this patient. Excluded options are explained by their exclusion."""
    if option.excluded:
        return False
    top = option.rank is not None and option.rank <= charted_ranks
    return top or (option.guideline is not None and option.guideline.tier is GuidelineTier.first_line)


def _option_why(
    option: RankedOption,
    e: OptionExplanation,
    catalog: FeatureCatalog,
    n_features: int,
    outside: set[str],
    max_contributions: int,
    charted_ranks: int,
) -> OptionWhy:
    ordered = sorted(e.contributions, key=lambda c: (-abs(c.shap_value), c.feature_id))
    shown = ordered[:max_contributions]
    other = e.other_contributions + sum(c.shap_value for c in ordered[max_contributions:])
    steps: list[WaterfallStep] = []
    cum = e.base_value
    for c in shown:
        try:
            spec = catalog.feature(c.feature_id)
            label = spec.label
            value_text = display.feature_value(spec, c.value)
            domain = DOMAIN_LABELS[spec.domain]
        except KeyError:
            label = c.label or c.feature_id
            value_text = c.display_value or (display.MISSING if c.value is None else display.number(c.value))
            domain = _domain_label(c.domain)
        end = cum + c.shap_value
        steps.append(
            WaterfallStep(
                kind="feature",
                feature_id=c.feature_id,
                label=label,
                display_value=value_text,
                domain=domain,
                shap_value=c.shap_value,
                start=cum,
                end=end,
                delta_p=display.sigmoid(end) - display.sigmoid(cum),
                outside_training_range=c.feature_id in outside,
            )
        )
        cum = end
    n_other = max(n_features - len(shown), 0)
    end = cum + other
    steps.append(
        WaterfallStep(
            kind="other",
            label=f"{n_other} other inputs" if n_other else "Other inputs",
            shap_value=other,
            start=cum,
            end=end,
            delta_p=display.sigmoid(end) - display.sigmoid(cum),
        )
    )
    totals: dict[str, float] = {DOMAIN_LABELS[d]: 0.0 for d in DOMAIN_ORDER}
    for key, value in e.domain_totals.items():
        label = _domain_label(key)
        totals[label] = totals.get(label, 0.0) + value
    p_base = display.sigmoid(e.base_value)
    return OptionWhy(
        option_id=e.option_id,
        display_name=option.display_name,
        base_value=e.base_value,
        margin=e.margin,
        p_base=p_base,
        p_margin=display.sigmoid(e.margin),
        p_response=option.p_response,
        steps=tuple(steps),
        n_other_features=n_other,
        domain_totals=tuple(
            DomainTotal(domain=d, shap_value=v, delta_p=display.sigmoid(e.base_value + v) - p_base)
            for d, v in totals.items()
        ),
        excluded=option.excluded,
        chart=_charted(option, charted_ranks),
    )


# ------------------------------------------------------------------------------------------- build


#: The clinical inputs the safety rules read, shown in the "Medication safety" section as given or "not given".
SAFETY_FACT_FIELDS: Final = (
    "egfr_ml_per_min_1_73m2",
    "hepatic_impairment",
    "pregnant",
    "gestational_age_weeks",
    "breastfeeding",
    "opioid_mme_per_day",
    "history_gi_bleed",
    "cardiovascular_disease",
    "seizure_disorder",
)
_PREGNANCY_FIELDS: Final = ("pregnant", "gestational_age_weeks", "breastfeeding")
_VERDICT_ORDER = {"excluded": 0, "warning": 1, "usable": 2}


def _medication_safety(
    rec: RankedRecommendation,
    profile: PatientProfile,
    patient: PatientSummary,
    warnings: Sequence[DataWarning],
) -> MedicationSafety:
    items = {i.field_id: i for d in patient.domains for i in d.items}
    shown = [
        f for f in SAFETY_FACT_FIELDS if profile.clinical.sex.value == "female" or f not in _PREGNANCY_FIELDS
    ]
    facts = tuple(items[f] for f in shown if f in items)
    ordered = sorted(
        (*rec.options, *rec.excluded), key=lambda o: (_VERDICT_ORDER[o.verdict], o.rank or 0, o.option_id)
    )
    return MedicationSafety(
        medications=rec.medications,
        functional_phenotypes=rec.functional_phenotypes,
        facts=facts,
        not_checked=tuple(w.message for w in warnings if w.kind is WarningKind.safety_not_checked),
        rows=tuple(
            SafetyRow(
                option_id=o.option_id,
                display_name=o.display_name,
                verdict=o.verdict,
                reasons=o.safety_reasons,
            )
            for o in ordered
        ),
        rules_version=rec.provenance.safety_rules_version,
        rules_sha256=rec.provenance.safety_rules_sha256,
    )


def _screening_gaps(profile: PatientProfile) -> tuple[SafetyFlag, ...]:
    """Screens a guideline asks for that the inputs do not contain."""
    if profile.psychosocial.phq9_item9 is None:
        return (
            SafetyFlag(
                code="phq9_item9_not_recorded",
                severity=Severity.info,
                message="PHQ-9 item 9 (thoughts of self-harm) was not recorded, so this report could not "
                "screen for suicide risk; ask about it before treatment decisions.",
            ),
        )
    return ()


def _merge_flags(*groups: Iterable[SafetyFlag]) -> tuple[SafetyFlag, ...]:
    order = {Severity.critical: 0, Severity.warning: 1, Severity.info: 2}
    seen: dict[str, SafetyFlag] = {}
    for group in groups:
        for f in group:
            seen.setdefault(f.code, f)
    return tuple(sorted(seen.values(), key=lambda f: order[f.severity]))


def _merge_warnings(*groups: Iterable[DataWarning]) -> tuple[DataWarning, ...]:
    order = list(WarningKind)
    seen: dict[tuple[str, str], DataWarning] = {}
    for group in groups:
        for w in group:
            seen.setdefault((w.kind.value, w.field), w)
    return tuple(sorted(seen.values(), key=lambda w: order.index(w.kind)))


def _references(pgx: PgxSection) -> tuple[Reference, ...]:
    out: list[Reference] = []
    seen: set[str] = set()
    for d in pgx.drugs:
        for item in d.items:
            if item.guideline_url and item.guideline_url not in seen:
                seen.add(item.guideline_url)
                out.append(Reference(label=f"CPIC guideline: {item.guideline}", url=item.guideline_url))
    return (*out, *GENERAL_REFERENCES)


def _default_outcome() -> str:
    from precisionpain.models.config import OutcomeConfig

    return OutcomeConfig().definition


def build_report(
    explained: ExplainedRecommendation,
    profile: PatientProfile,
    model: ModelSummary,
    catalog: FeatureCatalog,
    tables: PgxTables,
    *,
    generated_at: str | None = None,
    options: OptionCatalog | None = None,
    outcome_definition: str | None = None,
    max_contributions: int = DEFAULT_MAX_CONTRIBUTIONS,
    charted_ranks: int = DEFAULT_CHARTED_RANKS,
) -> Report:
    """Build the clinician report for one explained recommendation (pure; no I/O, no clock).

    ``generated_at`` defaults to the recommendation's ``provenance.generated_at``, so rebuilding a saved
    recommendation gives the same report. ``options`` (the treatment-option catalog) adds option
    descriptions and the exact CPIC drug of each option; without it an option whose id is a CPIC drug is
    taken as that drug. Safety flags and missing-input warnings are recomputed from the profile and merged
    with the recommendation's, so neither can be lost. The ranked options in the top ``charted_ranks`` and the
    first-line ones are charted in full; every option's explanation stays in the report's data (and JSON).
    Raises :class:`ValidationError` listing every problem when the explanation does not belong to ``catalog``
    or does not add up to the model's margin.
    """
    settings: list[Violation] = []
    if max_contributions < 1:
        settings.append(Violation("max_contributions", "must be at least 1", kind_of(max_contributions)))
    if charted_ranks < 0:
        settings.append(Violation("charted_ranks", "must be at least 0", kind_of(charted_ranks)))
    ValidationError.raise_if_any("report settings", settings)
    _check_inputs(explained, catalog)
    rec = explained.recommendation
    pgx = _pgx_section(explained, profile, catalog, tables, options)
    bins = {d.option_id: d.bin for d in pgx.drugs}
    patient = _patient_summary(profile, catalog, pgx.genes)
    # missing inputs are counted once, from the patient summary; the model's own per-feature count differs
    others = (
        w
        for w in (*rec.warnings, *data_warnings(profile, explained.features, catalog))
        if w.kind is not WarningKind.missing_input
    )
    warnings = _merge_warnings(_missing_input_warnings(patient), others)
    outside = {w.field for w in warnings if w.kind is WarningKind.outside_training_range}
    by_id = {o.option_id: o for o in (*rec.options, *rec.excluded)}
    n_features = len(explained.features.names)
    explanations = tuple(
        _option_why(
            by_id[o.option_id],
            explained.explanation(o.option_id),
            catalog,
            n_features,
            outside,
            max_contributions,
            charted_ranks,
        )
        for o in (*rec.options, *rec.excluded)
    )
    return Report(
        generated_at=generated_at or rec.provenance.generated_at,
        intended_use=model.intended_use,
        outcome_definition=outcome_definition or _default_outcome(),
        provenance=rec.provenance,
        model=model,
        safety_flags=_merge_flags(rec.safety_flags, safety_flags(profile), _screening_gaps(profile)),
        patient=patient,
        pgx=pgx,
        options=tuple(_option_entry(o, bins, options) for o in rec.options),
        excluded=tuple(_option_entry(o, bins, options) for o in rec.excluded),
        explanations=explanations,
        warnings=warnings,
        references=_references(pgx),
        medication_safety=_medication_safety(rec, profile, patient, warnings),
        guidelines=_guideline_section(rec),
        charted_ranks=charted_ranks,
        ranking=rec.ranking,
    )


def report_from_json(text: str | bytes) -> Report:
    """Read a saved report (``Report.model_dump_json()``); every problem is raised at once.

    A saved explained recommendation is not a report: build one from it with :func:`build_report` and the
    patient's profile (the recommendation alone lacks the inputs the patient summary shows).
    """
    import json

    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValidationError("report", [Violation("(root)", f"is not valid JSON{where}", "text")]) from None
    if not isinstance(data, dict):
        raise ValidationError("report", [Violation("(root)", "must be a JSON object", kind_of(data))])
    if data.get("report_format") != REPORT_FORMAT:
        if "recommendation" in data and "explanations" in data:
            rule = (
                "is an explained recommendation, not a report; build the report from it and the patient's "
                "profile (build_report)"
            )
            raise ValidationError("report", [Violation("(root)", rule, "object")])
        raise ValidationError(
            "report",
            [Violation("report_format", f"must be {REPORT_FORMAT!r}", kind_of(data.get("report_format")))],
        )
    try:
        return Report.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError("report", pydantic_violations(err)) from None


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; no scripts, no network fetches)."""
    from precisionpain.explain.render import render_report

    return render_report(report)


def report_json(report: Report, *, indent: int | None = 2) -> str:
    """The report as JSON text (what :func:`report_from_json` reads back)."""
    return report.model_dump_json(indent=indent)


__all__ = [
    "BIN_LABELS",
    "DEFAULT_CHARTED_RANKS",
    "REPORT_FORMAT",
    "TIER_LABELS",
    "Citation",
    "DomainInputs",
    "DomainTotal",
    "DrugPgx",
    "GeneRow",
    "GuidanceItem",
    "GuidelineSection",
    "InputItem",
    "OptionEntry",
    "OptionWhy",
    "PatientSummary",
    "PgxBin",
    "PgxSection",
    "Reference",
    "Report",
    "TierRow",
    "WaterfallStep",
    "build_report",
    "render_html",
    "report_from_json",
    "report_json",
]
