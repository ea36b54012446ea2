"""A straightforward reading of the safety catalogs, for checking the compiled engine against.

It walks every rule's condition tree over the profile as written in models/safety_rules.yaml and docs/safety.md,
with no compilation, no input index and no cache: phenoconversion by ``functional_pgx`` and CPIC guidance by
``cpic_lookup`` on every call. Slow on purpose; the engine must give exactly what this gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from precisionpain.catalog.safety import Condition, MedicationRow, Rule, option_medication
from precisionpain.pgx.cpic import cpic_lookup, drug_pgx_fields
from precisionpain.pgx.phenoconversion import FunctionalPgx, Inhibitor, InhibitorStrength, functional_pgx
from precisionpain.pgx.tables import TRANSLATED_GENES
from precisionpain.safety import SafetyCatalogs, resolve_medications
from precisionpain.schema import PatientProfile, Pgx

SIGN = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
SEVERITY = {"contraindicated": 0, "warning": 1, "info": 2}
VERDICT = {0: "excluded", 1: "warning", 2: "usable"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(getattr(value, "value", value))


def holds(
    c: Condition, profile: PatientProfile, meds: Sequence[MedicationRow], functional: FunctionalPgx, catalogs: SafetyCatalogs
) -> list[str] | None:
    """None when the condition is false, else the facts it used."""
    if c.field is not None or c.missing is not None:
        path = c.field or c.missing or ""
        section, _, fid = path.partition(".")
        spec = catalogs.features.field(fid).field
        unit = "" if spec.unit in ("1", "") else f" {spec.unit}"
        value = getattr(getattr(profile, section), fid)
        if c.missing is not None:
            return [f"{spec.label} not given"] if value is None else None
        if value is None:
            return None
        for op in ("lt", "le", "gt", "ge"):
            threshold = getattr(c, op)
            if threshold is not None:
                ok = {"lt": value < threshold, "le": value <= threshold, "gt": value > threshold, "ge": value >= threshold}[op]
                return [f"{spec.label} {_text(value)}{unit} {SIGN[op]} {float(threshold):g}"] if ok else None
        if c.is_ is not None:
            return [f"{spec.label}: {_text(value)}"] if value == c.is_ else None
        inside = value in (c.in_ or ()) if c.in_ is not None else value not in (c.not_in or ())
        return [f"{spec.label}: {_text(value)}"] if inside else None
    if c.taking_property is not None:
        names = [m.name for m in meds if c.taking_property in m.properties]
        return [f"taking {', '.join(names)} ({c.taking_property.value})"] if names else None
    if c.taking_class is not None:
        names = [m.name for m in meds if m.drug_class == c.taking_class]
        return [f"taking {', '.join(names)} ({c.taking_class})"] if names else None
    if c.phenotype is not None:
        g = functional.gene(c.phenotype)
        if g is None or g.functional_phenotype not in (c.functional_in or ()):
            return None
        return [f"{c.phenotype} functional phenotype {g.functional_phenotype}"]
    if c.phenoconverted is not None:
        g = functional.gene(c.phenoconverted)
        return [g.describe()] if g is not None and g.phenoconverted else None
    if c.assumed_activity_score is not None:
        g = functional.gene(c.assumed_activity_score)
        return [g.note] if g is not None and g.assumed_score else None
    if c.not_ is not None:
        return [] if holds(c.not_, profile, meds, functional, catalogs) is None else None
    if c.all_ is not None:
        facts: list[str] = []
        for sub in c.all_:
            found = holds(sub, profile, meds, functional, catalogs)
            if found is None:
                return None
            facts += found
        return facts
    for sub in c.any_ or ():
        found = holds(sub, profile, meds, functional, catalogs)
        if found is not None:
            return found
    return None


def targets(rule: Rule, catalogs: SafetyCatalogs) -> list[str]:
    out = []
    for option in catalogs.options.options:
        drug = option_medication(option, catalogs.medications)
        s = rule.options
        if (
            option.id in s.ids
            or option.option_class in s.classes
            or (drug is not None and (drug.name in s.drugs or any(p in drug.properties for p in s.drug_properties)))
        ):
            out.append(option.id)
    return out


def _reason(rule: Rule, facts: list[str], catalogs: SafetyCatalogs) -> dict[str, Any]:
    sources = [
        {
            "source_id": s,
            "label": catalogs.rules.sources[s].label,
            "url": catalogs.rules.sources[s].url or "",
            "verified": catalogs.rules.sources[s].verified,
        }
        for s in rule.sources
    ]
    return {
        "rule_id": rule.id,
        "level": rule.level.value,
        "text": rule.text,
        "facts": list(facts),
        "sources": sources,
        "judgement": rule.judgement,
        "note": rule.note,
    }


def _cpic(drug: str, pgx: Pgx, profile: PatientProfile, alternatives: bool, catalogs: SafetyCatalogs) -> list[dict[str, Any]]:
    only = Pgx(**{f: getattr(pgx, f) for f in drug_pgx_fields(drug, catalogs.tables)})
    prior = profile.clinical.carbamazepine_prior_use_over_3_months if drug == "carbamazepine" else None
    found = cpic_lookup(drug, only, prior_use_over_3_months=prior, alternatives_available=alternatives, tables=catalogs.tables)
    out = []
    for g in found.guidance:
        level = catalogs.rules.cpic_action_levels.get(g.action_code)
        if level is None:
            continue
        out.append(
            {
                "rule_id": f"cpic_{drug}",
                "level": level.value,
                "text": g.recommendation,
                "facts": [f"{gene} {text}" for gene, text in g.phenotypes.items()],
                "sources": [
                    {
                        "source_id": f"cpic_{drug}",
                        "label": f"CPIC: {g.guideline} ({g.classification or 'no classification'})",
                        "url": g.guideline_url,
                        "verified": True,
                    }
                ],
                "judgement": False,
                "note": "",
            }
        )
    return out


def _verdict(reasons: list[dict[str, Any]]) -> str:
    return VERDICT[min((SEVERITY[r["level"]] for r in reasons), default=2)]


def reference_assessment(
    profile: PatientProfile, catalogs: SafetyCatalogs, option_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """The assessment as a JSON-ready dict (the shape of ``SafetyAssessment.model_dump(mode="json")``)."""
    meds = resolve_medications(profile.medications, catalogs.medications)
    inhibitors = [
        Inhibitor(medication=m.name, gene=gene, strength=strength)
        for m in meds
        for gene, strength in m.inhibits.items()
        if strength is not InhibitorStrength.none and gene in TRANSLATED_GENES
    ]
    functional = functional_pgx(profile.pgx, inhibitors, catalogs.rules.method, catalogs.tables)
    options = catalogs.options.options
    by_id = {o.id: o for o in options}
    reasons: dict[str, list[dict[str, Any]]] = {o.id: [] for o in options}
    warnings = []
    for rule in catalogs.rules.rules:
        facts = holds(rule.when, profile, meds, functional, catalogs)
        fired_for_someone = False
        for oid in targets(rule, catalogs):
            own = option_medication(by_id[oid], catalogs.medications)
            if own is not None and any(m.name == own.name for m in meds) and _reads_medications(rule.when):
                # an interaction never counts the option's own medicine
                mine = holds(rule.when, profile, [m for m in meds if m.name != own.name], functional, catalogs)
                if mine is not None:
                    reasons[oid].append(_reason(rule, mine, catalogs))
                continue
            if facts is not None:
                reasons[oid].append(_reason(rule, facts, catalogs))
                fired_for_someone = True
        if fired_for_someone and rule.data_warning:
            warnings.append({"rule_id": rule.id, "field": rule.field or "", "message": rule.text})
    cpic_options = [o for o in options if o.cpic_drug is not None]
    for o in cpic_options:
        reasons[o.id] += _cpic(o.cpic_drug or "", functional.pgx, profile, True, catalogs)
    # alternatives: another drug option not excluded, judged once from the verdicts with CPIC's usual rows
    usable = {o.id for o in options if o.modality.value == "drug" and _verdict(reasons[o.id]) != "excluded"}
    for o in cpic_options:
        if not usable - {o.id}:
            kept = [r for r in reasons[o.id] if not r["rule_id"].startswith("cpic_")]
            reasons[o.id] = kept + _cpic(o.cpic_drug or "", functional.pgx, profile, False, catalogs)
    out = []
    for o in options:
        if option_ids is not None and o.id not in option_ids:
            continue
        ordered = sorted(reasons[o.id], key=lambda r: SEVERITY[r["level"]])
        out.append({"option_id": o.id, "modality": o.modality.value, "verdict": _verdict(ordered), "reasons": ordered})
    return {
        "options": out,
        "functional_phenotypes": [g.model_dump(mode="json") for g in functional.genes],
        "functional_pgx": functional.pgx.model_dump(mode="json"),
        "medications": [m.name for m in meds],
        "data_warnings": warnings,
        "rules_catalog": {"catalog_id": catalogs.rules.catalog_id, "version": catalogs.rules.version, "sha256": catalogs.rules.sha256},
        "medication_catalog": {
            "catalog_id": catalogs.medications.catalog_id,
            "version": catalogs.medications.version,
            "sha256": catalogs.medications.sha256,
        },
    }


def _reads_medications(c: Condition) -> bool:
    if c.taking_property is not None or c.taking_class is not None:
        return True
    children = [*(c.all_ or ()), *(c.any_ or ())] + ([c.not_] if c.not_ is not None else [])
    return any(_reads_medications(s) for s in children)
