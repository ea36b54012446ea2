"""Predictions + CPIC rules + catalog -> RankedRecommendation.

Options whose CPIC action is AVOID are never ranked as usable: they move to ``excluded`` with the CPIC text
as the reason. Other CPIC actions (reduce dose, consider an alternative, use with caution) become cautions on
the option; OPRM1/COMT genotypes are reported as having no CPIC recommendation. Usable options are ranked by
calibrated response probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog
from precisionpain.catalog.types import DOMAIN_LABELS, FieldType, TreatmentOption
from precisionpain.errors import ProfileValidationError, Violation
from precisionpain.pgx.cpic import CpicGuidance, cpic_lookup, drug_pgx_fields
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, PGX_FIELDS, TRANSLATED_GENES, PgxTables
from precisionpain.schema import (
    Caution,
    DataWarning,
    FeatureVector,
    GeneReading,
    Guidance,
    OptionPrediction,
    PatientProfile,
    Pgx,
    Provenance,
    RankedOption,
    RankedRecommendation,
    SafetyFlag,
    Severity,
    WarningKind,
)

AVOID = "AVOID"
CAUTION_ACTIONS = {"REDUCE_DOSE", "CONSIDER_ALTERNATIVE", "USE_WITH_CAUTION"}

DOSE_TEXT = {
    "start_dose_minus_25pct": "start at a 25% lower dose",
    "start_dose_minus_50pct": "start at a 50% lower dose",
    "start_lowest_dose": "start at the lowest recommended dose",
    "start_25-50pct_of_lowest_dose": "start at 25-50% of the lowest recommended dose",
    "start_50pct_of_lowest_dose": "start at 50% of the lowest recommended dose",
    "lower_start_slower_titration": "lower starting dose and slower titration",
    "maintenance_minus_25pct": "25% lower maintenance dose",
    "maintenance_minus_50pct": "50% lower maintenance dose",
    "slower_titration_lower_maintenance": "slower titration to a lower maintenance dose",
    "titrate_to_higher_dose": "titrate to a higher dose if needed",
}


def check_candidates(candidate_ids: Sequence[str] | None, options: OptionCatalog) -> tuple[str, ...]:
    """The option ids to rank; an id not in the catalog is a violation at ``candidate_option_ids[i]``."""
    if not candidate_ids:
        return options.ids
    known = set(options.ids)
    problems = [
        Violation(f"candidate_option_ids[{i}]", "is not an option id in models/treatment_options.yaml", "string")
        for i, c in enumerate(candidate_ids)
        if c not in known
    ]
    seen: set[str] = set()
    for i, c in enumerate(candidate_ids):
        if c in seen:
            problems.append(Violation(f"candidate_option_ids[{i}]", "repeats an option id", "string"))
        seen.add(c)
    ProfileValidationError.raise_if_any("candidate options", problems)
    return tuple(c for c in options.ids if c in seen)


def _to_guidance(g: CpicGuidance) -> Guidance:
    genes = tuple(
        GeneReading(
            gene=gene,
            phenotype=g.phenotypes.get(gene, ""),
            activity_score=g.lookup.get(gene, "") if gene in ACTIVITY_SCORE_GENES else "",
            lookup_key=g.lookup.get(gene, ""),
        )
        for gene in g.genes
    )
    return Guidance(
        drug=g.drug,
        genes=genes,
        action=g.action_code.value,
        classification=g.classification,
        recommendation=g.recommendation,
        implications=g.implications,
        population=g.population,
        dose_adjustments=tuple(g.dose_adjustment),
        guideline=g.guideline,
        guideline_url=g.guideline_url,
        cpic_data_version=g.cpic_data_version,
    )


@dataclass(frozen=True, slots=True)
class _CpicView:
    """What CPIC says about one drug for one set of results: guidance, unresolved reasons, the exclusion reason
    (empty unless an action is AVOID) and the cautions that follow from the guidance alone."""

    guidance: tuple[Guidance, ...] = ()
    unresolved: tuple[str, ...] = ()
    exclusion_reason: str = ""
    cautions: tuple[Caution, ...] = ()


_NO_CPIC = _CpicView()


def _cpic_view(
    option: TreatmentOption, profile: PatientProfile, tables: PgxTables, alternatives_available: bool
) -> _CpicView:
    if option.cpic_drug is None:
        return _NO_CPIC
    fields = drug_pgx_fields(option.cpic_drug, tables)
    pgx = profile.pgx
    return _drug_view(
        option.cpic_drug,
        tuple((f, getattr(pgx, f)) for f in fields),
        profile.clinical.carbamazepine_prior_use_over_3_months,
        alternatives_available,
        tables,
    )


def option_guidance(
    option: TreatmentOption, profile: PatientProfile, tables: PgxTables, *, alternatives_available: bool = True
) -> tuple[tuple[Guidance, ...], tuple[str, ...]]:
    """The CPIC recommendations that apply to this patient for this option (none for non-drug options), and
    the reasons guidance could not be resolved for genes that were given (e.g. a phenotype without score)."""
    view = _cpic_view(option, profile, tables, alternatives_available)
    return view.guidance, view.unresolved


@lru_cache(maxsize=8192)
def _drug_view(
    drug: str,
    results: tuple[tuple[str, Any], ...],
    prior: bool | None,
    alternatives_available: bool,
    tables: PgxTables,
) -> _CpicView:
    """Cached per drug and the results of the genes its CPIC rows read: many patients share those few readings."""
    found = cpic_lookup(
        drug,
        Pgx(**dict(results)),
        prior_use_over_3_months=prior,
        alternatives_available=alternatives_available,
        tables=tables,
    )
    guidance = tuple(_to_guidance(g) for g in found.guidance)
    unresolved = tuple(u.reason for u in found.unresolved)
    return _CpicView(guidance, unresolved, _exclusion_reason(guidance), _cpic_cautions(guidance, unresolved))


def _gene_summary(g: Guidance) -> str:
    return "; ".join(f"{r.gene} {r.phenotype}" for r in g.genes if r.phenotype)


def _untested_cautions(option: TreatmentOption, profile: PatientProfile) -> list[Caution]:
    """Where a guideline asks for a genotype that was not tested, say so."""
    out: list[Caution] = []
    pgx = profile.pgx
    if "CYP2D6" in option.genes and option.cpic_drug in {"codeine", "tramadol"} and pgx.cyp2d6 is None:
        out.append(
            Caution(
                code="cyp2d6_not_tested",
                severity=Severity.info,
                source="CPIC",
                text="CYP2D6 not tested: CPIC genotype-guided dosing could not be applied "
                "(poor metabolizers get little analgesia, ultrarapid metabolizers risk toxicity).",
            )
        )
    if option.cpic_drug == "carbamazepine" and pgx.hla_b_1502.value == "not_tested":
        out.append(
            Caution(
                code="hla_b_1502_not_tested",
                severity=Severity.warning,
                source="guideline",
                text="HLA-B*15:02 not tested: the carbamazepine label asks for testing before starting in "
                "patients with ancestry in populations where the allele is common (SJS/TEN risk).",
            )
        )
    return out


def _cpic_cautions(guidance: Sequence[Guidance], unresolved: Sequence[str]) -> tuple[Caution, ...]:
    out: list[Caution] = [
        Caution(code="cpic_unresolved", severity=Severity.info, source="CPIC", text=reason) for reason in unresolved
    ]
    for g in guidance:
        who = _gene_summary(g)
        if g.action in CAUTION_ACTIONS:
            dose = "; ".join(DOSE_TEXT.get(t, t) for t in g.dose_adjustments)
            text = g.recommendation + (f" (dose: {dose})" if dose else "")
            out.append(
                Caution(
                    code=f"cpic_{g.action.lower()}",
                    severity=Severity.warning,
                    source="CPIC",
                    strength=g.classification,
                    text=f"{who}: {text}" if who else text,
                )
            )
        elif g.action == "NO_RECOMMENDATION" and g.genes and g.genes[0].gene in {"OPRM1", "COMT"}:
            out.append(
                Caution(
                    code=f"no_cpic_recommendation_{g.genes[0].gene.lower()}",
                    severity=Severity.info,
                    source="CPIC",
                    text=f"{who}: CPIC makes no recommendation for this genotype.",
                )
            )
    return tuple(out)


def _cautions(option: TreatmentOption, cpic: _CpicView, profile: PatientProfile) -> tuple[Caution, ...]:
    out: list[Caution] = list(cpic.cautions)
    out.extend(_untested_cautions(option, profile))
    if option.option_class.value == "gabapentinoid" and profile.clinical.current_opioid_use:
        out.append(
            Caution(
                code="gabapentinoid_with_opioid",
                severity=Severity.warning,
                source="guideline",
                text="Takes an opioid: gabapentinoids add a risk of respiratory depression (FDA 2019 warning).",
            )
        )
    out.extend(_catalog_cautions(option))
    return tuple(out)


@lru_cache(maxsize=256)
def _catalog_cautions(option: TreatmentOption) -> tuple[Caution, ...]:
    return tuple(
        Caution(code=f"catalog_{i + 1}", severity=Severity.info, source="catalog", text=text)
        for i, text in enumerate(option.cautions)
    )


def _exclusion_reason(guidance: Sequence[Guidance]) -> str:
    parts = []
    for g in guidance:
        if g.action == AVOID:
            who = _gene_summary(g)
            strength = f" ({g.classification})" if g.classification else ""
            parts.append(f"CPIC{strength}{' - ' + who if who else ''}: {g.recommendation}")
    return " ".join(parts)


def rank_options(
    profile: PatientProfile,
    predictions: Sequence[OptionPrediction],
    options: OptionCatalog,
    tables: PgxTables,
    provenance: Provenance,
    *,
    warnings: Sequence[DataWarning] = (),
    candidate_ids: Sequence[str] | None = None,
) -> RankedRecommendation:
    """Apply CPIC rules to the predictions and rank the usable options (best first)."""
    wanted = check_candidates(candidate_ids or profile.candidate_option_ids, options)
    by_id = {p.option_id: p for p in predictions}
    missing = [o for o in wanted if o not in by_id]
    if missing:
        raise KeyError(f"no prediction for option(s) {', '.join(missing)}")
    usable: list[dict[str, Any]] = []
    excluded: list[RankedOption] = []
    for option_id in wanted:
        option = options.get(option_id)
        pred = by_id[option_id]
        cpic = _cpic_view(option, profile, tables, len(wanted) > 1)
        reason = cpic.exclusion_reason
        entry = dict(
            option_id=option.id,
            display_name=option.display_name,
            option_class=option.option_class.value,
            modality=option.modality.value,
            rank=None,
            p_response=pred.p_response,
            interval=pred.interval,
            guidance=cpic.guidance,
            cautions=_cautions(option, cpic, profile),
            excluded=bool(reason),
            exclusion_reason=reason,
        )
        if reason:
            excluded.append(RankedOption(**entry))
        else:
            usable.append(entry)
    usable.sort(key=lambda o: (-o["p_response"], o["option_id"]))
    ranked = tuple(RankedOption(**{**o, "rank": i + 1}) for i, o in enumerate(usable))
    return RankedRecommendation(
        patient_ref=profile.patient_ref,
        options=ranked,
        excluded=tuple(excluded),
        warnings=tuple(warnings),
        safety_flags=safety_flags(profile),
        provenance=provenance,
    )


def safety_flags(profile: PatientProfile) -> tuple[SafetyFlag, ...]:
    """Findings a clinician must see whatever the ranking says."""
    flags: list[SafetyFlag] = []
    psy = profile.psychosocial
    if psy.phq9_item9 is not None and psy.phq9_item9 > 0:
        flags.append(
            SafetyFlag(
                code="phq9_item9_positive",
                severity=Severity.critical,
                message="PHQ-9 item 9 (thoughts of self-harm) is above 0: assess suicide risk before "
                "treatment decisions.",
            )
        )
    if psy.phq9_total is not None and psy.phq9_total >= 20:
        flags.append(
            SafetyFlag(
                code="phq9_severe_depression",
                severity=Severity.warning,
                message="PHQ-9 of 20 or more suggests severe depression: assess and treat depression.",
            )
        )
    if profile.clinical.current_opioid_use:
        flags.append(
            SafetyFlag(
                code="current_opioid_use",
                severity=Severity.info,
                message="Takes an opioid now: check for interactions (gabapentinoids, sedatives, serotonergic "
                "drugs) before adding a treatment.",
            )
        )
    return tuple(flags)


def data_warnings(
    profile: PatientProfile,
    features: FeatureVector,
    catalog: FeatureCatalog,
    training_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[DataWarning, ...]:
    """Missing inputs (grouped by domain), values outside the training range, PGx not tested or indeterminate."""
    out: list[DataWarning] = []
    missing_by_domain: dict[str, list[str]] = {}
    for name in features.missing:
        feat = catalog.feature(name)
        missing_by_domain.setdefault(DOMAIN_LABELS[feat.domain], []).append(feat.label)
    total = {DOMAIN_LABELS[d]: 0 for d in DOMAIN_LABELS}
    for f in catalog.features:
        total[DOMAIN_LABELS[f.domain]] += 1
    for domain, labels in missing_by_domain.items():
        n = len(labels)
        what = "all" if n == total[domain] else f"{n} of {total[domain]}"
        out.append(
            DataWarning(
                kind=WarningKind.missing_input,
                field=domain.lower(),
                message=f"{domain}: {what} inputs missing ({', '.join(labels)}); the model treats them as unknown.",
            )
        )
    if training_ranges:
        for name, value in zip(features.names, features.values, strict=True):
            rng = training_ranges.get(name)
            if rng is None or math.isnan(value):
                continue
            lo, hi = rng
            if value < lo or value > hi:
                feat = catalog.feature(name)
                out.append(
                    DataWarning(
                        kind=WarningKind.outside_training_range,
                        field=name,
                        message=f"{feat.label} is outside the range seen in training "
                        f"({lo:g}-{hi:g} {feat.unit}); the prediction is less certain.",
                    )
                )
    for spec in catalog.fields:
        if spec.field.type is not FieldType.pgx_gene:
            continue
        result = getattr(profile.pgx, spec.id)
        if result is None:
            out.append(
                DataWarning(
                    kind=WarningKind.pgx_not_tested,
                    field=spec.path,
                    message=f"{spec.field.label} not tested.",
                )
            )
        elif (result.phenotype or "").strip().lower() == "indeterminate" or (
            result.diplotype is not None and features.is_missing(f"{spec.id}_phenotype_ordinal")
        ):
            out.append(
                DataWarning(
                    kind=WarningKind.pgx_indeterminate,
                    field=spec.path,
                    message=f"{spec.field.label}: CPIC phenotype is indeterminate for this result.",
                )
            )
    return tuple(out)


def _resolved_gene_columns(frame: pd.DataFrame, gene: str, tables: PgxTables) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the CPIC reading (activity score, phenotype) of one CYP gene; None where untested/unreadable."""
    from precisionpain.pgx.resolve import resolve_gene

    n = len(frame)
    parts = []
    for part in ("diplotype", "phenotype", "activity_score"):
        col = f"{gene}_{part}"
        values = frame[col].to_numpy(dtype=object) if col in frame.columns else np.full(n, None, dtype=object)
        parts.append(values)
    codes, uniques = pd.factorize(pd.Series(list(zip(*parts, strict=True)), dtype=object))
    score = np.empty(len(uniques) + 1, dtype=object)
    phenotype = np.empty(len(uniques) + 1, dtype=object)
    for u, key in enumerate(uniques):
        clean = [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v) for v in key]
        if all(v is None for v in clean):
            score[u], phenotype[u] = None, None
            continue
        r = resolve_gene(gene.upper(), clean[0], clean[1], clean[2], tables)
        score[u], phenotype[u] = (r.activity_score, r.phenotype) if r.ok else (None, None)
    score[-1] = phenotype[-1] = None
    return score[codes], phenotype[codes]


_GENE_COLUMNS = {g: PGX_FIELDS[g] for g in TRANSLATED_GENES}
_MARKER_COLUMNS = {g: f for g, f in PGX_FIELDS.items() if g not in _GENE_COLUMNS}


def cpic_avoid_matrix(
    frame: pd.DataFrame,
    option_ids: Sequence[str],
    options: OptionCatalog,
    tables: PgxTables,
) -> np.ndarray:
    """(n, k) booleans: True where CPIC says AVOID for that patient and option (a flat patient table).

    The same rule as :func:`rank_options`, looked up once per distinct reading of the option's genes, so a
    table of hundreds of thousands of patients takes a second or two.
    """
    from precisionpain.schema import GeneResult, Pgx

    n = len(frame)
    out = np.zeros((n, len(option_ids)), dtype=bool)
    resolved: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    prior_col = "carbamazepine_prior_use_over_3_months"
    prior = frame[prior_col].to_numpy(dtype=object) if prior_col in frame.columns else np.full(n, None, dtype=object)
    for j, option_id in enumerate(option_ids):
        option = options.get(option_id)
        if option.cpic_drug is None:
            continue
        key_columns: list[np.ndarray] = []
        names: list[str] = []
        for gene in option.genes:
            if gene in _GENE_COLUMNS:
                if gene not in resolved:
                    resolved[gene] = _resolved_gene_columns(frame, _GENE_COLUMNS[gene], tables)
                key_columns += list(resolved[gene])
                names += [f"{gene}:score", f"{gene}:phenotype"]
            elif gene in _MARKER_COLUMNS and _MARKER_COLUMNS[gene] in frame.columns:
                key_columns.append(frame[_MARKER_COLUMNS[gene]].to_numpy(dtype=object))
                names.append(gene)
        key_columns.append(prior)
        names.append("prior")
        codes, uniques = pd.factorize(pd.Series(list(zip(*key_columns, strict=True)), dtype=object))
        avoid = np.zeros(len(uniques) + 1, dtype=bool)
        for u, key in enumerate(uniques):
            row = {
                name: (None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v)
                for name, v in zip(names, key, strict=True)
            }
            pgx_data: dict[str, object] = {}
            for gene, column in _GENE_COLUMNS.items():
                score, phenotype = row.get(f"{gene}:score"), row.get(f"{gene}:phenotype")
                if score is not None or phenotype is not None:
                    pgx_data[column] = GeneResult(phenotype=phenotype, activity_score=score)
            for gene, column in _MARKER_COLUMNS.items():
                if row.get(gene) is not None:
                    pgx_data[column] = row[gene]
            found = cpic_lookup(
                option.cpic_drug,
                Pgx.model_validate(pgx_data),
                prior_use_over_3_months=None if row["prior"] is None else bool(row["prior"]),
                tables=tables,
            )
            avoid[u] = any(g.action_code.value == AVOID for g in found.guidance)
        out[:, j] = avoid[codes]
    return out
