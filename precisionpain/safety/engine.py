"""The safety engine: the rules catalog compiled once into a plan, applied per patient by a pure function.

``apply_safety_rules(profile, catalogs)`` resolves the patient's medications, computes the functional CYP
phenotypes (phenoconversion, before any CPIC lookup), evaluates every rule once, looks CPIC guidance up with the
functional phenotypes, and gives every option of the option catalog a verdict (usable, warning, excluded) with
every reason, most severe first. An interaction never counts the option's own medicine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    load_feature_catalog,
    load_treatment_options,
    resolve_root,
)
from precisionpain.catalog.pgx_tables import load_pgx_tables
from precisionpain.catalog.safety import (
    Condition,
    MedicationCatalog,
    MedicationRow,
    Rule,
    RuleLevel,
    SafetyRules,
    load_medication_catalog,
    load_safety_rules,
    option_medication,
)
from precisionpain.catalog.types import Modality, TreatmentOption
from precisionpain.errors import ProfileValidationError, Violation
from precisionpain.pgx.cpic import cpic_lookup, drug_pgx_fields
from precisionpain.pgx.phenoconversion import (
    FunctionalPgx,
    Inhibitor,
    InhibitorStrength,
    functional_pgx,
)
from precisionpain.pgx.tables import TRANSLATED_GENES, ActionCode, PgxTables
from precisionpain.safety.assessment import (
    CPIC_RULE_PREFIX,
    OptionSafety,
    SafetyAssessment,
    SafetyDataWarning,
    SafetyReason,
    SourceRef,
)
from precisionpain.safety.verdicts import LEVEL_SEVERITY, Verdict, verdict_for
from precisionpain.schema import CatalogRef, Medication, PatientProfile, Pgx

Facts = list[str] | None  # None: the condition is false; a list: true, with the facts it used
Evaluator = Callable[["_Context"], Facts]

_OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_MEMO_SIZE = 16384


# ------------------------------------------------------------------------------------------ medications


def medication_violations(medications: Sequence[Medication], catalog: MedicationCatalog) -> list[Violation]:
    """Unknown names, unknown RxCUIs and a name/RxCUI mismatch, each at ``medications[i].<part>``."""
    out: list[Violation] = []
    for i, med in enumerate(medications):
        row = catalog.by_name(med.name)
        if row is None:
            out.append(
                Violation(f"medications[{i}].name", "is not in the medication catalog (features/medications.yaml)", "string")
            )
        if med.rxnorm is not None:
            by_code = catalog.by_rxcui(med.rxnorm)
            if by_code is None:
                out.append(
                    Violation(
                        f"medications[{i}].rxnorm",
                        "is not an RxNorm ingredient code of the medication catalog",
                        "string",
                    )
                )
            elif row is not None and by_code is not row:
                out.append(Violation(f"medications[{i}].rxnorm", "names a different medicine than `name`", "string"))
    return out


def resolve_medications(medications: Sequence[Medication], catalog: MedicationCatalog) -> tuple[MedicationRow, ...]:
    """The catalog rows of the patient's medications; raises :class:`ProfileValidationError` listing every
    name or code that does not resolve (never ignored)."""
    ProfileValidationError.raise_if_any("medications", medication_violations(medications, catalog))
    rows: dict[str, MedicationRow] = {}
    for med in medications:
        row = catalog.by_name(med.name)
        assert row is not None
        rows.setdefault(row.name, row)
    return tuple(rows.values())


# ------------------------------------------------------------------------------------------ context


@dataclass(slots=True)
class _Context:
    profile: PatientProfile
    meds: tuple[MedicationRow, ...]
    functional: FunctionalPgx


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(getattr(value, "value", value))


def _compile(c: Condition, features: FeatureCatalog) -> Evaluator:
    head = c.head
    if head in ("field", "missing"):
        path = c.field if head == "field" else c.missing
        assert path is not None
        section, _, fid = path.partition(".")
        spec = features.field(fid).field
        label, unit = spec.label, ("" if spec.unit in ("1", "") else f" {spec.unit}")

        def get(ctx: _Context) -> Any:
            return getattr(getattr(ctx.profile, section), fid)

        if head == "missing":
            not_given = [f"{label} not given"]
            return lambda ctx: not_given if get(ctx) is None else None
        op = c.operator
        if op in _OP_TEXT:
            threshold = float(getattr(c, op))
            sign = _OP_TEXT[op]
            compare: Callable[[float], bool] = {
                "lt": lambda v: v < threshold,
                "le": lambda v: v <= threshold,
                "gt": lambda v: v > threshold,
                "ge": lambda v: v >= threshold,
            }[op]

            def number(ctx: _Context) -> Facts:
                v = get(ctx)
                if v is None or not compare(v):
                    return None
                return [f"{label} {_fmt(v)}{unit} {sign} {threshold:g}"]

            return number
        if op == "is_":
            wanted = c.is_

            def equal(ctx: _Context) -> Facts:
                v = get(ctx)
                return [f"{label}: {_fmt(v)}"] if v is not None and v == wanted else None

            return equal
        members = frozenset((c.in_ if op == "in_" else c.not_in) or ())
        inside = op == "in_"

        def member(ctx: _Context) -> Facts:
            v = get(ctx)
            if v is None or ((v in members) != inside):
                return None
            return [f"{label}: {_fmt(v)}"]

        return member
    if head == "taking_property":
        prop = c.taking_property

        def taking(ctx: _Context) -> Facts:
            names = [m.name for m in ctx.meds if prop in m.properties]
            return [f"taking {', '.join(names)} ({prop})"] if names else None

        return taking
    if head == "taking_class":
        cls = c.taking_class

        def taking_class(ctx: _Context) -> Facts:
            names = [m.name for m in ctx.meds if m.drug_class == cls]
            return [f"taking {', '.join(names)} ({cls})"] if names else None

        return taking_class
    if head == "phenotype":
        gene, allowed = c.phenotype, frozenset(c.functional_in or ())

        def phenotype(ctx: _Context) -> Facts:
            g = ctx.functional.gene(gene or "")
            if g is None or g.functional_phenotype not in allowed:
                return None
            return [f"{gene} functional phenotype {g.functional_phenotype}"]

        return phenotype
    if head == "phenoconverted":
        gene = c.phenoconverted

        def converted(ctx: _Context) -> Facts:
            g = ctx.functional.gene(gene or "")
            return [g.describe()] if g is not None and g.phenoconverted else None

        return converted
    if head == "assumed_activity_score":
        gene = c.assumed_activity_score

        def assumed(ctx: _Context) -> Facts:
            g = ctx.functional.gene(gene or "")
            return [g.note] if g is not None and g.assumed_score else None

        return assumed
    if head == "not_":
        assert c.not_ is not None
        inner = _compile(c.not_, features)
        return lambda ctx: [] if inner(ctx) is None else None
    subs = tuple(_compile(s, features) for s in (c.all_ if head == "all_" else c.any_) or ())
    if head == "all_":

        def all_of(ctx: _Context) -> Facts:
            facts: list[str] = []
            for s in subs:
                f = s(ctx)
                if f is None:
                    return None
                facts += f
            return facts

        return all_of

    def any_of(ctx: _Context) -> Facts:
        for s in subs:
            f = s(ctx)
            if f is not None:
                return f
        return None

    return any_of


def _uses_medications(c: Condition) -> bool:
    if c.head in ("taking_property", "taking_class"):
        return True
    children = [*(c.all_ or ()), *(c.any_ or ())] + ([c.not_] if c.not_ is not None else [])
    return any(_uses_medications(s) for s in children)


# ------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    evaluate: Evaluator
    targets: frozenset[str]  # option ids
    uses_medications: bool
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True, eq=False)
class SafetyCatalogs:
    """Everything the engine reads, loaded from one catalog root, with the rules compiled into a plan."""

    root: Path
    features: FeatureCatalog
    options: OptionCatalog
    tables: PgxTables
    medications: MedicationCatalog
    rules: SafetyRules
    _plan: tuple[_CompiledRule, ...] = field(repr=False, default=())
    _option_drug: Mapping[str, MedicationRow | None] = field(repr=False, default_factory=dict)
    _functional: dict[Any, FunctionalPgx] = field(repr=False, default_factory=dict)
    _cpic_options: tuple[tuple[TreatmentOption, str, tuple[str, ...]], ...] = field(repr=False, default=())
    _cpic_levels: tuple[tuple[ActionCode, RuleLevel], ...] = field(repr=False, default=())
    _drug_option_ids: tuple[str, ...] = field(repr=False, default=())
    _refs: tuple[CatalogRef, CatalogRef] | None = field(repr=False, default=None)
    _reasons: dict[Any, SafetyReason] = field(repr=False, default_factory=dict)
    _option_results: dict[Any, OptionSafety] = field(repr=False, default_factory=dict)

    @property
    def rules_ref(self) -> CatalogRef:
        assert self._refs is not None
        return self._refs[0]

    @property
    def medications_ref(self) -> CatalogRef:
        assert self._refs is not None
        return self._refs[1]


def _targets(rule: Rule, options: OptionCatalog, option_drug: Mapping[str, MedicationRow | None]) -> frozenset[str]:
    s = rule.options
    out: set[str] = set(s.ids)
    for o in options.options:
        drug = option_drug.get(o.id)
        if o.option_class in s.classes:
            out.add(o.id)
        if drug is not None and (drug.name in s.drugs or any(p in drug.properties for p in s.drug_properties)):
            out.add(o.id)
    return frozenset(out)


def compile_safety_catalogs(
    root: Path,
    features: FeatureCatalog,
    options: OptionCatalog,
    tables: PgxTables,
    medications: MedicationCatalog,
    rules: SafetyRules,
) -> SafetyCatalogs:
    """Precompile the rules: conditions to closures, option selectors to option-id sets, sources to refs."""
    option_drug = {o.id: option_medication(o, medications) for o in options.options}
    plan = []
    for rule in rules.rules:
        sources = tuple(
            SourceRef(
                source_id=s,
                label=rules.sources[s].label,
                url=rules.sources[s].url or "",
                verified=rules.sources[s].verified,
            )
            for s in rule.sources
        )
        plan.append(
            _CompiledRule(
                rule=rule,
                evaluate=_compile(rule.when, features),
                targets=_targets(rule, options, option_drug),
                uses_medications=_uses_medications(rule.when),
                sources=sources,
            )
        )
    return SafetyCatalogs(
        root=root,
        features=features,
        options=options,
        tables=tables,
        medications=medications,
        rules=rules,
        _plan=tuple(plan),
        _option_drug=option_drug,
        _cpic_options=tuple(
            (o, o.cpic_drug, drug_pgx_fields(o.cpic_drug, tables)) for o in options.options if o.cpic_drug is not None
        ),
        _cpic_levels=tuple(rules.cpic_action_levels.items()),
        _drug_option_ids=tuple(o.id for o in options.options if o.modality is Modality.drug),
        _refs=(CatalogRef(**rules.identity), CatalogRef(**medications.identity)),
    )


def load_safety_catalogs(root: str | os.PathLike[str] | None = None) -> SafetyCatalogs:
    """Load and compile the catalogs of ``root`` (resolved like every catalog: flag, environment, bundled, repo)."""
    base = resolve_root(root)
    features = load_feature_catalog(base)
    options = load_treatment_options(base)
    medications = load_medication_catalog(base)
    rules = load_safety_rules(features, options, medications, base)
    return compile_safety_catalogs(base, features, options, load_pgx_tables(base), medications, rules)


# ------------------------------------------------------------------------------------------ CPIC


@lru_cache(maxsize=8192)
def _cpic_reasons(
    drug: str,
    results: tuple[tuple[str, Any], ...],
    prior: bool | None,
    alternatives: bool,
    tables: PgxTables,
    levels: tuple[tuple[ActionCode, RuleLevel], ...],
) -> tuple[SafetyReason, ...]:
    """CPIC guidance for one drug as reasons (cached per drug and the results of the genes its rows read)."""
    found = cpic_lookup(
        drug,
        Pgx(**dict(results)),
        prior_use_over_3_months=prior,
        alternatives_available=alternatives,
        tables=tables,
    )
    by_action = dict(levels)
    out = []
    for g in found.guidance:
        level = by_action.get(g.action_code)
        if level is None:
            continue
        out.append(
            SafetyReason(
                rule_id=f"{CPIC_RULE_PREFIX}{drug}",
                level=level,
                text=g.recommendation,
                facts=tuple(f"{gene} {text}" for gene, text in g.phenotypes.items()),
                sources=(
                    SourceRef(
                        source_id=f"cpic_{drug}",
                        label=f"CPIC: {g.guideline} ({g.classification or 'no classification'})",
                        url=g.guideline_url,
                        verified=True,
                    ),
                ),
            )
        )
    return tuple(out)


def _cpic_for(
    drug: str,
    fields: tuple[str, ...],
    pgx: Pgx,
    profile: PatientProfile,
    alternatives: bool,
    catalogs: SafetyCatalogs,
    levels: tuple[tuple[ActionCode, RuleLevel], ...],
) -> tuple[SafetyReason, ...]:
    prior = profile.clinical.carbamazepine_prior_use_over_3_months if drug == "carbamazepine" else None
    return _cpic_reasons(
        drug, tuple((f, getattr(pgx, f)) for f in fields), prior, alternatives, catalogs.tables, levels
    )


# ------------------------------------------------------------------------------------------ apply


def _inhibitors(meds: Sequence[MedicationRow]) -> tuple[tuple[str, str, InhibitorStrength], ...]:
    return tuple(
        (m.name, gene, strength)
        for m in meds
        for gene, strength in m.inhibits.items()
        if strength is not InhibitorStrength.none and gene in TRANSLATED_GENES
    )


def _functional(profile: PatientProfile, meds: Sequence[MedicationRow], catalogs: SafetyCatalogs) -> FunctionalPgx:
    inhibitors = _inhibitors(meds) if meds else ()
    key = (profile.pgx, inhibitors)
    return _remember(
        catalogs._functional,
        key,
        lambda: functional_pgx(
            profile.pgx,
            [Inhibitor(medication=n, gene=g, strength=s) for n, g, s in inhibitors],
            catalogs.rules.method,
            catalogs.tables,
        ),
    )


def _remember(cache: dict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
    """A bounded memo: many patients share the same reasons and results (same rule, same facts)."""
    hit = cache.get(key)
    if hit is None:
        if len(cache) >= _MEMO_SIZE:
            cache.clear()
        hit = cache[key] = make()
    return hit


def _reason(cr: _CompiledRule, facts: list[str], catalogs: SafetyCatalogs) -> SafetyReason:
    r = cr.rule
    key = (r.id, *facts)
    return _remember(
        catalogs._reasons,
        key,
        lambda: SafetyReason.model_construct(
            rule_id=r.id,
            level=r.level,
            text=r.text,
            facts=tuple(facts),
            sources=cr.sources,
            judgement=r.judgement,
            note=r.note,
        ),
    )


def _option_safety(option: TreatmentOption, verdict: Verdict, reasons: tuple[SafetyReason, ...]) -> OptionSafety:
    return OptionSafety.model_construct(
        option_id=option.id, modality=option.modality.value, verdict=verdict, reasons=reasons
    )


def _severity(r: SafetyReason) -> int:
    return LEVEL_SEVERITY[r.level]


def apply_safety_rules(
    profile: PatientProfile, catalogs: SafetyCatalogs, option_ids: Sequence[str] | None = None
) -> SafetyAssessment:
    """Verdicts and reasons for every option of the option catalog (or only ``option_ids``, in catalog order).

    The whole catalog is always assessed, so alternatives (CPIC's HLA-A*31:01 rows) are decided from the catalog,
    never from the options a request names. Raises :class:`ProfileValidationError` for medications that do not
    resolve.
    """
    meds = resolve_medications(profile.medications, catalogs.medications)
    functional = _functional(profile, meds, catalogs)
    ctx = _Context(profile, meds, functional)
    reasons: dict[str, list[SafetyReason]] = {o.id: [] for o in catalogs.options.options}
    warnings: list[SafetyDataWarning] = []
    med_names = {m.name for m in meds}
    own_drug_taken = (
        {oid: drug for oid, drug in catalogs._option_drug.items() if drug is not None and drug.name in med_names}
        if meds
        else {}
    )
    for cr in catalogs._plan:
        facts = cr.evaluate(ctx)
        hit = cr.targets
        if cr.uses_medications and own_drug_taken:
            for oid in hit & own_drug_taken.keys():
                own_row = own_drug_taken[oid]
                own = cr.evaluate(_Context(profile, tuple(m for m in meds if m is not own_row), functional))
                if own is not None:
                    reasons[oid].append(_reason(cr, own, catalogs))
            hit = hit - own_drug_taken.keys()
        if facts is None or not hit:
            continue
        reason = _reason(cr, facts, catalogs)
        for oid in hit:
            reasons[oid].append(reason)
        if cr.rule.data_warning:
            warnings.append(
                SafetyDataWarning.model_construct(rule_id=cr.rule.id, field=cr.rule.field or "", message=cr.rule.text)
            )

    levels = catalogs._cpic_levels
    pgx = functional.pgx
    for option, cpic_drug, fields in catalogs._cpic_options:
        reasons[option.id].extend(_cpic_for(cpic_drug, fields, pgx, profile, True, catalogs, levels))
    verdicts = {oid: verdict_for(r.level for r in rs) for oid, rs in reasons.items()}
    drug_ids = catalogs._drug_option_ids
    usable_drugs = sum(1 for oid in drug_ids if verdicts[oid] is not Verdict.excluded)
    for option, cpic_drug, fields in catalogs._cpic_options:
        others = usable_drugs - (verdicts[option.id] is not Verdict.excluded)
        if others == 0:  # no other usable drug option: CPIC's "no alternatives" rows apply
            kept = [r for r in reasons[option.id] if not r.rule_id.startswith(CPIC_RULE_PREFIX)]
            reasons[option.id] = kept + list(_cpic_for(cpic_drug, fields, pgx, profile, False, catalogs, levels))
            verdicts[option.id] = verdict_for(r.level for r in reasons[option.id])

    wanted = None if option_ids is None else set(option_ids)
    out = []
    for option in catalogs.options.options:
        if wanted is not None and option.id not in wanted:
            continue
        rs = tuple(sorted(reasons[option.id], key=_severity))
        verdict = verdicts[option.id]
        out.append(
            _remember(
                catalogs._option_results,
                (option.id, verdict, *map(id, rs)),
                partial(_option_safety, option, verdict, rs),
            )
        )
    return SafetyAssessment.model_construct(
        options=tuple(out),
        functional_phenotypes=functional.genes,
        functional_pgx=pgx,
        medications=tuple(m.name for m in meds),
        data_warnings=tuple(warnings),
        rules_catalog=catalogs.rules_ref,
        medication_catalog=catalogs.medications_ref,
    )
