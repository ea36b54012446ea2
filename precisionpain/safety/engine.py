"""The safety engine: the rules catalog compiled once into a plan, applied per patient by a pure function.

``apply_safety_rules(profile, catalogs)`` resolves the patient's medications, computes the functional CYP
phenotypes (phenoconversion, before any CPIC lookup), evaluates every rule once, looks CPIC guidance up with the
functional phenotypes, and gives every option of the option catalog a verdict (usable, warning, excluded) with
every reason, most severe first. An interaction never counts the option's own medicine.

How it stays fast on the request path (docs/safety.md, "Speed"):

- Compiled once: every distinct rule condition becomes a closure over one tuple of the inputs the rules read
  (the profile fields, the medication list, the functional CYP readings), numbered at compile time; option
  selectors become option indices; sources, data warnings and the "no reasons" result of every option are built
  once. Options hit by the same rules form a group (a drug class, catalog copies of an option).
- Per patient, the inputs are read in one C-level pass. A condition whose inputs are all absent has the answer it
  has for an empty profile, computed at compile time, so only conditions with a present input are evaluated (the
  common patient, without medications or organ and pregnancy facts, evaluates a fifth of them).
- Every result is a pure function of a few validated values, and is cached under exactly those: phenoconversion
  per gene (the result as given and that gene's inhibitors taken); CPIC reasons per drug (what its lookup resolves
  the genes it can speak about to: CYP phenotype and score, HLA results, prior carbamazepine use); a group's option
  results (the answers of the conditions its rules test, with the facts they used; the answers without an
  option's own medicine; its drugs' CPIC reasons); and the whole assessment, for repeat visits (every answer and
  every CPIC input). Each cache is a :class:`~precisionpain.bounded_cache.ByteBoundedLRU` within a share of one
  byte budget, keyed by validated, bounded values (schema-bounded gene results, catalog names, facts formatted
  from validated numbers and catalog labels), never by the profile or its reference.
- Internal frozen objects whose inputs are already valid are built without pydantic validation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from operator import attrgetter, ge, gt, is_not, itemgetter, le, lt
from pathlib import Path
from typing import Any

from precisionpain.base import trusted
from precisionpain.bounded_cache import ByteBoundedLRU, CacheInfo, text_bytes
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
from precisionpain.catalog.types import Modality
from precisionpain.errors import ProfileValidationError, Violation
from precisionpain.pgx.cpic import cpic_lookup, drug_pgx_fields
from precisionpain.pgx.phenoconversion import (
    FunctionalPhenotype,
    Inhibitor,
    InhibitorStrength,
    functional_change,
    functional_phenotype,
)
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import PGX_FIELDS, TRANSLATED_GENES, ActionCode, PgxTables
from precisionpain.safety.assessment import (
    CPIC_RULE_PREFIX,
    OptionSafety,
    SafetyAssessment,
    SafetyDataWarning,
)
from precisionpain.safety.verdicts import LEVEL_SEVERITY, VERDICT_BY_LEVEL, Verdict
from precisionpain.schema import (
    CatalogRef,
    GeneResult,
    Medication,
    PatientProfile,
    Pgx,
    SafetyReason,
    SourceRef,
)

Facts = tuple[str, ...] | None  # None: the condition is false; a tuple: true, with the facts it used
Inputs = tuple[Any, ...]  # one patient's inputs, in the order the compiled plan numbers them
Evaluator = Callable[[Inputs], Facts]

#: Bytes all caches of one :class:`SafetyCatalogs` may hold together, as estimated (as in bounded_cache): an upper
#: bound, since an entry counts the option results it holds although other entries share them.
SAFETY_CACHE_BYTES = 32 * 1024 * 1024
MIN_SAFETY_CACHE_BYTES = 1024
#: How the budget is shared: answers per patient, option results per group, reasons, CPIC guidance per drug and
#: per patient, phenoconversion per gene.
_CACHE_SHARES = {
    "assessments": 0.4, "results": 0.3, "reasons": 0.05, "cpic": 0.1, "cpic_answers": 0.05, "functional": 0.1,
}  # fmt: skip
#: Evaluation plans, one per pattern of present inputs (an int): few in practice, at most this many kept.
_PLANS_KEPT = 1024
_OBJECT_BYTES = 512  # a small frozen model: the object, its __dict__ and its fields set
_KEY_BYTES = 1024  # a cache key's tuples and the strings it shares with catalog and cached objects

_OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_OP_FUNC = {"lt": lt, "le": le, "gt": gt, "ge": ge}
_MEDICATIONS = ("medications",)


# ------------------------------------------------------------------------------------------ medications


def medication_violations(medications: Sequence[Medication], catalog: MedicationCatalog) -> list[Violation]:
    """Unknown names, unknown RxCUIs and a name/RxCUI mismatch, each at ``medications[i].<part>``."""
    out: list[Violation] = []
    for i, med in enumerate(medications):
        row = catalog.by_name(med.name)
        if row is None:
            out.append(
                Violation(
                    f"medications[{i}].name",
                    "is not in the medication catalog (features/medications.yaml)",
                    "string",
                )
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
                out.append(
                    Violation(f"medications[{i}].rxnorm", "names a different medicine than `name`", "string")
                )
    return out


def resolve_medications(
    medications: Sequence[Medication], catalog: MedicationCatalog
) -> tuple[MedicationRow, ...]:
    """The catalog rows of the patient's medications (each once, in order of first mention); raises
    :class:`ProfileValidationError` listing every name or code that does not resolve (never ignored)."""
    if not medications:
        return ()
    rows: dict[str, MedicationRow] = {}
    for med in medications:
        row = catalog.by_name(med.name)
        if row is None or (med.rxnorm is not None and catalog.by_rxcui(med.rxnorm) is not row):
            ProfileValidationError.raise_if_any("medications", medication_violations(medications, catalog))
        assert row is not None
        rows.setdefault(row.name, row)
    return tuple(rows.values())


# ------------------------------------------------------------------------------------------ conditions


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return str(value)  # a StrEnum member reads as its value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(getattr(value, "value", value))


def _children(c: Condition) -> tuple[Condition, ...]:
    return (*(c.all_ or ()), *(c.any_ or ()), *((c.not_,) if c.not_ is not None else ()))


def _inputs_of(c: Condition) -> set[tuple[str, ...]]:
    """The inputs a condition reads: ("field", "section.field"), ("medications",) or ("gene", GENE)."""
    head = c.head
    if head in ("field", "missing"):
        return {("field", c.field or c.missing or "")}
    if head in ("taking_property", "taking_class"):
        return {_MEDICATIONS}
    if head in ("phenotype", "phenoconverted", "assumed_activity_score"):
        return {("gene", getattr(c, head))}
    return set().union(*(_inputs_of(s) for s in _children(c)))


def _compile(c: Condition, features: FeatureCatalog, at: Mapping[tuple[str, ...], int]) -> Evaluator:
    """A closure answering the condition from one patient's inputs (``at`` numbers them)."""
    head = c.head
    if head in ("field", "missing"):
        path = c.field if head == "field" else c.missing
        assert path is not None
        i = at[("field", path)]
        spec = features.field(path.partition(".")[2]).field
        label, unit = spec.label, ("" if spec.unit in ("1", "") else f" {spec.unit}")
        if head == "missing":
            not_given = (f"{label} not given",)
            return lambda v: not_given if v[i] is None else None
        op = c.operator
        if op in _OP_TEXT:
            threshold = float(getattr(c, op))
            sign, compare = _OP_TEXT[op], _OP_FUNC[op]

            def number(v: Inputs) -> Facts:
                x = v[i]
                if x is None or not compare(x, threshold):
                    return None
                return (f"{label} {_fmt(x)}{unit} {sign} {threshold:g}",)

            return number
        if op == "is_":
            wanted = c.is_
            same = (f"{label}: {_fmt(wanted)}",)  # a str equal to the wanted level, or the wanted bool itself

            def equal(v: Inputs) -> Facts:
                x = v[i]
                if x is None or x != wanted:
                    return None
                return same if isinstance(x, str) or x is wanted else (f"{label}: {_fmt(x)}",)

            return equal
        members = frozenset((c.in_ if op == "in_" else c.not_in) or ())
        inside = op == "in_"
        texts = {level: (f"{label}: {level}",) for level in (*(spec.levels or ()), *members)}

        def member(v: Inputs) -> Facts:
            x = v[i]
            if x is None or ((x in members) != inside):
                return None
            found = texts.get(x) if isinstance(x, str) else None
            return found if found is not None else (f"{label}: {_fmt(x)}",)

        return member
    if head in ("taking_property", "taking_class"):
        m_at = at[_MEDICATIONS]
        prop, cls = c.taking_property, c.taking_class

        def taking(v: Inputs) -> Facts:
            meds: tuple[MedicationRow, ...] | None = v[m_at]
            if meds is None:
                return None
            if prop is not None:
                names = [m.name for m in meds if prop in m.properties]
            else:
                names = [m.name for m in meds if m.drug_class == cls]
            return (f"taking {', '.join(names)} ({prop if prop is not None else cls})",) if names else None

        return taking
    if head in ("phenotype", "phenoconverted", "assumed_activity_score"):
        gene = getattr(c, head)
        g_at = at[("gene", gene)]
        if head == "phenotype":
            allowed = frozenset(c.functional_in or ())

            def phenotype(v: Inputs) -> Facts:
                g: FunctionalPhenotype | None = v[g_at]
                if g is None or g.functional_phenotype not in allowed:
                    return None
                return (f"{gene} functional phenotype {g.functional_phenotype}",)

            return phenotype
        if head == "phenoconverted":

            def converted(v: Inputs) -> Facts:
                g: FunctionalPhenotype | None = v[g_at]
                return (g.describe(),) if g is not None and g.phenoconverted else None

            return converted

        def assumed(v: Inputs) -> Facts:
            g: FunctionalPhenotype | None = v[g_at]
            return (g.note,) if g is not None and g.assumed_score else None

        return assumed
    if head == "not_":
        assert c.not_ is not None
        inner = _compile(c.not_, features, at)
        return lambda v: () if inner(v) is None else None
    subs = tuple(_compile(s, features, at) for s in (c.all_ if head == "all_" else c.any_) or ())
    if head == "all_":

        def all_of(v: Inputs) -> Facts:
            facts: tuple[str, ...] = ()
            for s in subs:
                f = s(v)
                if f is None:
                    return None
                facts += f
            return facts

        return all_of

    def any_of(v: Inputs) -> Facts:
        for s in subs:
            f = s(v)
            if f is not None:
                return f
        return None

    return any_of


# ------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    index: int
    rule: Rule
    condition: int  # index of its (deduplicated) condition
    medication_position: int | None  # its condition's position among those that read medications, if it does
    targets: tuple[int, ...]  # option indices, catalog order
    sources: tuple[SourceRef, ...]
    data_warning: SafetyDataWarning | None


@dataclass(frozen=True, slots=True)
class _CpicDrug:
    drug: str
    fields: tuple[str, ...]  # the Pgx fields CPIC's rows for the drug read (the lookup is given these)
    keyed: tuple[int, ...]  # positions in the patient's lookup values of what its answer can depend on


@dataclass(frozen=True, slots=True)
class _Group:
    """Options hit by the same rules (the members of a drug class, catalog copies of an option): one cache entry
    holds all their results. Members with the same medicine and CPIC drug ("twins") get the same reasons."""

    index: int
    members: tuple[int, ...]  # option indices
    twins: tuple[
        tuple[int, int | None, tuple[int, ...]], ...
    ]  # (option, CPIC drug slot, positions in members)
    answers: Callable[[Sequence[Facts]], tuple[Facts, ...]]  # the answers of the conditions its rules test
    cpic: Callable[
        [Sequence[Any]], tuple[Any, ...]
    ]  # its CPIC drugs' answers, from the patient's per-drug answers
    medicines: bool  # a member is a medicine a patient may take (its own is left out of interactions)
    drugs: tuple[bool, ...]  # per member: a drug option (counts as an alternative unless excluded)


@dataclass(frozen=True, slots=True)
class _GeneReading:
    """One CYP gene of one patient: its functional reading and what the rules and the CPIC lookup read of it."""

    reading: FunctionalPhenotype
    rule_input: FunctionalPhenotype | None  # None: nothing for a rule to read (untested or no CPIC phenotype)
    change: GeneResult | None  # what the CPIC lookup reads instead of the result as given
    cpic_state: tuple[Any, ...] | None  # what the CPIC lookup resolves it to: (phenotype, score, problems)
    cpic_problems: tuple[Any, ...]  # why the CPIC lookup cannot read it (an error), if it cannot


def _getter(positions: Sequence[int]) -> Callable[[Sequence[Any]], Any]:
    """Items at these positions of a sequence, in one C-level call (a constant when there are none)."""
    if not positions:
        return lambda _seq: ()
    if len(positions) == 1:
        (i,) = positions
        return lambda seq: (seq[i],)
    return itemgetter(*positions)


def _cpic_key_fields(
    drug: str, fields: Sequence[str], tables: PgxTables, levels: Mapping[ActionCode, RuleLevel]
) -> set[str]:
    """What the drug's CPIC answer (as reasons) can depend on, among the ``fields`` its lookup reads: the genes of
    its row groups with an action the catalog turns into a reason (by Pgx field), and for the CYP genes of its
    other groups only whether the result can be read (an unreadable result is an error whatever the row):
    ``"<field>?"``. OPRM1 and COMT rows ("no recommendation") never give a reason."""
    recommendations = tables.recommendations_for(drug)
    if not recommendations:  # not found under this spelling: depend on everything the lookup reads
        return set(fields)
    groups: dict[tuple[str, ...], list[str]] = {}
    for rec in recommendations:
        groups.setdefault(rec.genes, []).append(rec.action_code)
    out: set[str] = set()
    for genes, actions in groups.items():
        speaks = any(ActionCode(a) in levels for a in actions)
        out |= {PGX_FIELDS[g] for g in genes if g in PGX_FIELDS and speaks}
        out |= {f"{PGX_FIELDS[g]}?" for g in genes if g in TRANSLATED_GENES and not speaks}
    return {f for f in out if not (f.endswith("?") and f[:-1] in out)}


class _Engine:
    """The compiled plan of one set of catalogs and the caches it fills."""

    def __init__(
        self,
        features: FeatureCatalog,
        options: OptionCatalog,
        medications: MedicationCatalog,
        rules: SafetyRules,
        tables: PgxTables,
        cache_bytes: int,
    ) -> None:
        if cache_bytes < MIN_SAFETY_CACHE_BYTES:
            raise ValueError(f"cache_bytes must be at least {MIN_SAFETY_CACHE_BYTES} (bytes)")
        self.tables = tables
        self.method = rules.method
        self.options = options.options
        self.refs = (CatalogRef(**rules.identity), CatalogRef(**medications.identity))
        option_drug = [option_medication(o, medications) for o in self.options]

        # inputs: every field a condition reads (one attrgetter), the medication list, the functional CYP readings
        conditions: dict[str, int] = {}
        distinct: list[Condition] = []
        for rule in rules.rules:
            key = rule.when.model_dump_json(exclude_none=True)
            if key not in conditions:
                conditions[key] = len(distinct)
                distinct.append(rule.when)
        read = set().union(*(_inputs_of(c) for c in distinct))
        paths = sorted(k[1] for k in read if k[0] == "field")
        at: dict[tuple[str, ...], int] = {("field", p): i for i, p in enumerate(paths)}
        at[_MEDICATIONS] = len(paths)
        for j, gene in enumerate(TRANSLATED_GENES):
            at[("gene", gene)] = len(paths) + 1 + j
        self.n_inputs = len(paths) + 1 + len(TRANSLATED_GENES)
        self.medications_at = len(paths)
        self.read_fields = _reader(paths)
        self.bits = tuple(1 << i for i in range(self.n_inputs))
        self.nones = (None,) * self.n_inputs
        self.evaluators = tuple(_compile(c, features, at) for c in distinct)
        self.input_masks = tuple(sum(1 << at[k] for k in _inputs_of(c)) for c in distinct)
        self.absent = tuple(ev(self.nones) for ev in self.evaluators)  # every input absent: the empty profile
        med_bit = 1 << self.medications_at
        self.medication_conditions = tuple(i for i, m in enumerate(self.input_masks) if m & med_bit)
        self.plans: dict[int, tuple[tuple[int, Evaluator], ...]] = {}

        compiled = []
        for index, rule in enumerate(rules.rules):
            ci = conditions[rule.when.model_dump_json(exclude_none=True)]
            sources = tuple(
                SourceRef(
                    source_id=s,
                    label=rules.sources[s].label,
                    url=rules.sources[s].url or "",
                    verified=rules.sources[s].verified,
                )
                for s in rule.sources
            )
            compiled.append(
                _CompiledRule(
                    index=index,
                    rule=rule,
                    condition=ci,
                    medication_position=(
                        self.medication_conditions.index(ci) if ci in self.medication_conditions else None
                    ),
                    targets=_targets(rule, self.options, option_drug),
                    sources=sources,
                    data_warning=(
                        SafetyDataWarning(rule_id=rule.id, field=rule.field or "", message=rule.text)
                        if rule.data_warning
                        else None
                    ),
                )
            )
        self.rules = tuple(compiled)
        # data warnings: said when the rule fires for an option of the catalog
        self.warning_rules = tuple(cr for cr in self.rules if cr.data_warning is not None and cr.targets)
        self.option_rules = tuple(
            tuple(cr for cr in self.rules if oi in cr.targets) for oi in range(len(self.options))
        )

        # CPIC: per drug the fields its lookup is given and what its answer depends on; the lookup values of a
        # patient are the three CYP states, the three CYP readability problems, then the other fields
        self.cpic_levels: Mapping[ActionCode, RuleLevel] = dict(rules.cpic_action_levels)
        self.cyp_fields = tuple(PGX_FIELDS[g] for g in TRANSLATED_GENES)
        drugs = sorted({o.cpic_drug for o in self.options if o.cpic_drug is not None})
        keyed = {d: _cpic_key_fields(d, drug_pgx_fields(d, tables), tables, self.cpic_levels) for d in drugs}
        cyp = (*self.cyp_fields, *(f"{f}?" for f in self.cyp_fields))
        other = sorted(set().union(*keyed.values()) - set(cyp)) if keyed else []
        self.read_cpic_other = _reader(other)
        lookup_at = {f: i for i, f in enumerate((*cyp, *other))}
        self.cpic_drugs = {
            d: _CpicDrug(d, drug_pgx_fields(d, tables), tuple(sorted(lookup_at[f] for f in keyed[d])))
            for d in drugs
        }
        self.option_cpic = tuple(
            self.cpic_drugs[o.cpic_drug] if o.cpic_drug is not None else None for o in self.options
        )
        self.cpic_options = tuple(i for i, c in enumerate(self.option_cpic) if c is not None)

        # medications: the options whose own medicine each one is; the CYP genes each inhibits, and how strongly
        own: dict[str, list[int]] = {}
        for i, drug in enumerate(option_drug):
            if drug is not None:
                own.setdefault(drug.name, []).append(i)
        self.own_options = {name: tuple(ix) for name, ix in own.items()}
        self.inhibition: dict[str, dict[str, tuple[tuple[str, InhibitorStrength], ...]]] = {
            gene: {
                m.name: ((m.name, m.strength(gene)),)
                for m in medications.medications
                if m.strength(gene) is not InhibitorStrength.none
            }
            for gene in TRANSLATED_GENES
        }
        self.untested = {
            gene: _GeneReading(
                functional_phenotype(gene, None, [], self.method, tables), None, None, None, ()
            )
            for gene in TRANSLATED_GENES
        }
        self.drug_options = tuple(i for i, o in enumerate(self.options) if o.modality is Modality.drug)
        self.no_reasons = tuple(
            trusted(
                OptionSafety, option_id=o.id, modality=o.modality.value, verdict=Verdict.usable, reasons=()
            )
            for o in self.options
        )

        # option groups: options hit by the same rules share a cache entry; an option that no rule and no CPIC
        # drug can reach always has its prebuilt result
        self.cpic_slots = tuple(self.cpic_drugs.values())
        slot = {c.drug: j for j, c in enumerate(self.cpic_slots)}
        by_rules: dict[tuple[int, ...], list[int]] = {}
        for oi in range(len(self.options)):
            hitting = tuple(cr.index for cr in self.option_rules[oi])
            if hitting or self.option_cpic[oi] is not None:
                by_rules.setdefault(hitting, []).append(oi)
        groups = []
        for gi, members in enumerate(by_rules.values()):
            conds = sorted({cr.condition for oi in members for cr in self.option_rules[oi]})
            twins: dict[tuple[str | None, str | None], list[int]] = {}
            for position, oi in enumerate(members):
                c = self.option_cpic[oi]
                drug = option_drug[oi]
                twins.setdefault((c.drug if c else None, drug.name if drug else None), []).append(position)
            slots = sorted({slot[d] for d, _ in twins if d is not None})
            groups.append(
                _Group(
                    index=gi,
                    members=tuple(members),
                    twins=tuple(
                        (members[ps[0]], slot[d] if d is not None else None, tuple(ps))
                        for (d, _), ps in twins.items()
                    ),
                    answers=_getter(conds),
                    cpic=_getter(slots),
                    medicines=any(option_drug[oi] is not None for oi in members),
                    drugs=tuple(self.options[oi].modality is Modality.drug for oi in members),
                )
            )
        self.groups = tuple(groups)
        grouped = [oi for g in groups for oi in g.members]
        ungrouped = sorted(set(range(len(self.options))) - set(grouped))
        self.ungrouped = tuple(self.no_reasons[oi] for oi in ungrouped)  # always usable, no reasons
        self.ungrouped_drugs = sum(1 for oi in ungrouped if oi in self.drug_options)
        at_flat = {oi: i for i, oi in enumerate((*ungrouped, *grouped))}
        self.catalog_order = _getter([at_flat[oi] for oi in range(len(self.options))])

        def share(name: str) -> int:
            return int(cache_bytes * _CACHE_SHARES[name])

        # entry sizes: the key's own strings, and the option results an entry holds (estimated once, when built)
        self.assessments: ByteBoundedLRU[Any, _Options] = ByteBoundedLRU(
            share("assessments"),
            lambda k, v: _facts_bytes(k[1]) + sum(_facts_bytes(own) for _, own in k[2]) + _KEY_BYTES + v[2],
        )
        self.results: ByteBoundedLRU[Any, _GroupResults] = ByteBoundedLRU(
            share("results"),
            lambda k, v: (
                _facts_bytes(k[1]) + sum(_facts_bytes(own or ()) for own in k[2]) + _KEY_BYTES + v[3]
            ),
        )
        self.reasons: ByteBoundedLRU[tuple[int, tuple[str, ...]], SafetyReason] = ByteBoundedLRU(
            share("reasons"), lambda k, _v: _facts_bytes((k[1],)) + _OBJECT_BYTES
        )
        self.cpic: ByteBoundedLRU[Any, tuple[SafetyReason, ...]] = ByteBoundedLRU(
            share("cpic"),
            lambda _k, v: _KEY_BYTES + _facts_bytes(r.facts for r in v) + _OBJECT_BYTES * len(v),
        )
        self.cpic_answers: ByteBoundedLRU[Any, tuple[tuple[SafetyReason, ...], ...]] = ByteBoundedLRU(
            share("cpic_answers"), lambda _k, v: _KEY_BYTES + 8 * len(v)
        )
        self.genes: ByteBoundedLRU[Any, _GeneReading] = ByteBoundedLRU(
            share("functional"),
            lambda k, _v: text_bytes(*(k[1] or ()), *(n for n, _ in k[2])) + _KEY_BYTES + 4 * _OBJECT_BYTES,
        )

    def cache_info(self) -> dict[str, CacheInfo]:
        return {
            "assessments": self.assessments.info(),
            "results": self.results.info(),
            "reasons": self.reasons.info(),
            "cpic": self.cpic.info(),
            "cpic_answers": self.cpic_answers.info(),
            "functional": self.genes.info(),
        }


# the options, the data warnings, the estimated bytes of the option results, the CPIC answers they were built from
_Options = tuple[tuple[OptionSafety, ...], tuple[SafetyDataWarning, ...], int, tuple[Any, ...]]
# a group's results, how many of its drug options are not excluded, the CPIC answers they were built from, and the
# estimated bytes of the results
_GroupResults = tuple[tuple[OptionSafety, ...], int, tuple[Any, ...], int]


def _results_bytes(results: Iterable[OptionSafety]) -> int:
    return sum(_OBJECT_BYTES + 8 * len(o.reasons) for o in results if o.reasons)


def _facts_bytes(answers: Iterable[Facts]) -> int:
    """Bytes held by the fact strings of some answers and their tuples, over-estimated without visiting each
    string in Python: at most 4 bytes a character plus a string's header."""
    present = [f for f in answers if f]
    strings = sum(map(len, present))
    return 64 * len(present) + 88 * strings + 4 * sum(map(len, chain.from_iterable(present)))


def _reader(paths: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """One C-level call reading every (dotted) attribute path of an object into a tuple."""
    if not paths:
        return lambda _obj: ()
    get = attrgetter(*paths)
    if len(paths) == 1:
        return lambda obj: (get(obj),)
    return get


def _targets(
    rule: Rule, options: Sequence[Any], option_drug: Sequence[MedicationRow | None]
) -> tuple[int, ...]:
    s = rule.options
    out = []
    for i, (o, drug) in enumerate(zip(options, option_drug, strict=True)):
        if (
            o.id in s.ids
            or o.option_class in s.classes
            or (
                drug is not None
                and (drug.name in s.drugs or any(p in drug.properties for p in s.drug_properties))
            )
        ):
            out.append(i)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class SafetyCatalogs:
    """Everything the engine reads, loaded from one catalog root, with the rules compiled into a plan."""

    root: Path
    features: FeatureCatalog
    options: OptionCatalog
    tables: PgxTables
    medications: MedicationCatalog
    rules: SafetyRules
    _engine: _Engine = field(repr=False, kw_only=True)

    @property
    def rules_ref(self) -> CatalogRef:
        return self._engine.refs[0]

    @property
    def medications_ref(self) -> CatalogRef:
        return self._engine.refs[1]

    def cache_info(self) -> dict[str, CacheInfo]:
        """Hits, misses, entries and bytes of each of the engine's caches (each within its share of the budget)."""
        return self._engine.cache_info()

    def rule_option_ids(self) -> dict[str, tuple[str, ...]]:
        """Each rule's id -> the ids of the options it can hit, in catalog order (for listing the catalog)."""
        engine = self._engine
        return {cr.rule.id: tuple(engine.options[i].id for i in cr.targets) for cr in engine.rules}


def compile_safety_catalogs(
    root: Path,
    features: FeatureCatalog,
    options: OptionCatalog,
    tables: PgxTables,
    medications: MedicationCatalog,
    rules: SafetyRules,
    *,
    cache_bytes: int = SAFETY_CACHE_BYTES,
) -> SafetyCatalogs:
    """Precompile the rules (conditions to closures over numbered inputs, option selectors to option indices,
    sources to references) with caches holding at most ``cache_bytes`` together."""
    engine = _Engine(features, options, medications, rules, tables, cache_bytes)
    return SafetyCatalogs(
        root=root,
        features=features,
        options=options,
        tables=tables,
        medications=medications,
        rules=rules,
        _engine=engine,
    )


def load_safety_catalogs(
    root: str | os.PathLike[str] | None = None, *, cache_bytes: int = SAFETY_CACHE_BYTES
) -> SafetyCatalogs:
    """Load and compile the catalogs of ``root`` (resolved like every catalog: flag, environment, bundled, repo)."""
    base = resolve_root(root)
    features = load_feature_catalog(base)
    options = load_treatment_options(base)
    medications = load_medication_catalog(base)
    rules = load_safety_rules(features, options, medications, base)
    return compile_safety_catalogs(
        base, features, options, load_pgx_tables(base), medications, rules, cache_bytes=cache_bytes
    )


# ------------------------------------------------------------------------------------------ per patient


def _gene_reading(
    engine: _Engine, gene: str, result: GeneResult | None, meds: tuple[MedicationRow, ...]
) -> _GeneReading:
    """Phenoconversion of one gene, cached by the result as given and the inhibitors of that gene taken."""
    if meds:
        inhibition = engine.inhibition[gene]
        inhibitors = tuple(i for m in meds for i in inhibition.get(m.name, ()))
    else:
        inhibitors = ()
    if result is None and not inhibitors:
        return engine.untested[gene]
    parts = (
        None if result is None else (result.diplotype, result.phenotype, result.activity_score, result.source)
    )
    key = (gene, parts, inhibitors)
    found, entry = engine.genes.get(key)
    if found:
        assert entry is not None
        return entry
    reading = functional_phenotype(
        gene,
        result,
        [Inhibitor.model_construct(medication=n, gene=gene, strength=s) for n, s in inhibitors],
        engine.method,
        engine.tables,
    )
    change = functional_change(reading, result)
    looked_up = change or result
    state: tuple[Any, ...] | None = None
    problems: tuple[Any, ...] = ()
    if looked_up is not None:
        r = resolve_gene(
            gene, looked_up.diplotype, looked_up.phenotype, looked_up.activity_score, engine.tables
        )
        state, problems = (r.phenotype, r.activity_score, r.problems), r.problems
    has_reading = reading.functional_phenotype is not None or reading.phenoconverted or reading.assumed_score
    entry = _GeneReading(reading, reading if has_reading else None, change, state, problems)
    engine.genes.put(key, entry)
    return entry


def _reason(engine: _Engine, cr: _CompiledRule, facts: tuple[str, ...]) -> SafetyReason:
    key = (cr.index, facts)
    found, reason = engine.reasons.get(key)
    if found:
        assert reason is not None
        return reason
    r = cr.rule
    reason = trusted(
        SafetyReason,
        rule_id=r.id,
        level=r.level,
        text=r.text,
        facts=facts,
        sources=cr.sources,
        judgement=r.judgement,
        note=r.note,
    )
    engine.reasons.put(key, reason)
    return reason


class _Patient:
    """What the options of one patient are decided from."""

    __slots__ = ("_answers", "absent", "evaluated", "lookup", "own", "pgx", "plan", "prior")

    def __init__(
        self,
        evaluated: tuple[Facts, ...],
        plan: tuple[tuple[int, Evaluator], ...],
        absent: tuple[Facts, ...],
        own: dict[int, tuple[Facts, ...]],
        pgx: Pgx,
        lookup: tuple[Any, ...],
        prior: bool | None,
    ) -> None:
        self.evaluated = evaluated  # the answers of the plan's conditions
        self.plan = plan
        self.absent = absent  # every condition's answer when its inputs are absent
        self._answers: list[Facts] | None = None
        self.own = own  # per option taken as a medicine: the medication conditions' answers without it
        self.pgx = pgx  # functional: the CPIC lookup reads it
        self.lookup = lookup  # the CYP states and problems and other gene results the CPIC answers depend on
        self.prior = prior  # carbamazepine taken for more than 3 months

    @property
    def answers(self) -> list[Facts]:
        """Every condition's answer (built when first needed: a cached assessment needs none)."""
        if self._answers is None:
            answers = list(self.absent)
            for (ci, _), facts in zip(self.plan, self.evaluated, strict=True):
                answers[ci] = facts
            self._answers = answers
        return self._answers


def _cpic_reasons(engine: _Engine, c: _CpicDrug, p: _Patient, alternatives: bool) -> tuple[SafetyReason, ...]:
    """CPIC guidance for one drug as reasons, cached per drug and what its answer depends on (the resolved CYP
    phenotype and score, the HLA results, prior carbamazepine use, whether alternatives exist)."""
    prior = p.prior if c.drug == "carbamazepine" else None
    key = (c.drug, tuple(p.lookup[i] for i in c.keyed), prior, alternatives)
    found, cached = engine.cpic.get(key)
    if found:
        assert cached is not None
        return cached
    lookup = cpic_lookup(
        c.drug,
        Pgx(**{f: getattr(p.pgx, f) for f in c.fields}),
        prior_use_over_3_months=prior,
        alternatives_available=alternatives,
        tables=engine.tables,
    )
    out = []
    for g in lookup.guidance:
        level = engine.cpic_levels.get(g.action_code)
        if level is None:
            continue
        out.append(
            SafetyReason(
                rule_id=f"{CPIC_RULE_PREFIX}{c.drug}",
                level=level,
                text=g.recommendation,
                facts=tuple(f"{gene} {text}" for gene, text in g.phenotypes.items()),
                sources=(
                    SourceRef(
                        source_id=f"cpic_{c.drug}",
                        label=f"CPIC: {g.guideline} ({g.classification or 'no classification'})",
                        url=g.guideline_url,
                        verified=True,
                    ),
                ),
            )
        )
    reasons = tuple(out)
    engine.cpic.put(key, reasons)
    return reasons


def _cpic_answers(engine: _Engine, p: _Patient) -> tuple[tuple[SafetyReason, ...], ...]:
    """Every CPIC drug's reasons (alternatives available) for this patient, cached by all the lookup reads."""
    key = (p.lookup, p.prior)
    found, cached = engine.cpic_answers.get(key)
    if found:
        assert cached is not None
        return cached
    answers = tuple(_cpic_reasons(engine, c, p, True) for c in engine.cpic_slots)
    engine.cpic_answers.put(key, answers)
    return answers


def _severity(r: SafetyReason) -> int:
    return LEVEL_SEVERITY[r.level]


def _option_result(
    engine: _Engine, oi: int, reasons: Sequence[SafetyReason], ordered: bool = False
) -> OptionSafety:
    """An option's verdict and reasons, most severe first (``ordered``: they already are)."""
    if not reasons:
        return engine.no_reasons[oi]
    ranked = tuple(reasons) if ordered else tuple(sorted(reasons, key=_severity))
    option = engine.options[oi]
    return trusted(
        OptionSafety,
        option_id=option.id,
        modality=option.modality.value,
        verdict=VERDICT_BY_LEVEL[ranked[0].level],  # the most severe reason decides
        reasons=ranked,
    )


def _rule_reasons(engine: _Engine, oi: int, p: _Patient) -> list[SafetyReason]:
    """The reasons the rules give one option, in rule order (its own medicine left out of interactions)."""
    out = []
    mine = p.own.get(oi)
    answers = p.answers
    for cr in engine.option_rules[oi]:
        if mine is not None and cr.medication_position is not None:
            facts = mine[cr.medication_position]
        else:
            facts = answers[cr.condition]
        if facts is not None:
            out.append(_reason(engine, cr, facts))
    return out


def _group_results(
    engine: _Engine, g: _Group, p: _Patient, cpic: tuple[tuple[SafetyReason, ...], ...]
) -> _GroupResults:
    """The results of a group's options (CPIC with alternatives available) and how many of its drug options are
    not excluded, cached by what they depend on: the answers of its conditions (its own medicines left out) and
    its CPIC drugs' answers (by identity: the entry holds them, so an id is never reused while it lives)."""
    held = g.cpic(cpic)
    key = (
        g.index,
        g.answers(p.answers),
        tuple(p.own.get(oi) for oi in g.members) if p.own and g.medicines else (),
        tuple(map(id, held)),
    )
    found, cached = engine.results.get(key)
    if found:
        assert cached is not None
        return cached
    out: list[OptionSafety | None] = [None] * len(g.members)
    for oi, slot, positions in g.twins:
        reasons = _rule_reasons(engine, oi, p)
        if slot is not None:
            reasons += cpic[slot]
        first = _option_result(engine, oi, reasons)
        for position in positions:
            twin = g.members[position]
            out[position] = first if twin == oi else _option_result(engine, twin, first.reasons, ordered=True)
    results = tuple(o for o in out if o is not None)
    usable = sum(
        1 for o, drug in zip(results, g.drugs, strict=True) if drug and o.verdict is not Verdict.excluded
    )
    # the reasons: the facts of the rules' answers are counted with the key; count the CPIC answers' here
    entry = (results, usable, held, _results_bytes(results) + _facts_bytes(r.facts for h in held for r in h))
    engine.results.put(key, entry)
    return entry


def _assess_options(engine: _Engine, p: _Patient, cpic: tuple[tuple[SafetyReason, ...], ...]) -> _Options:
    """Every option's verdict and reasons, and the data warnings, for one patient."""
    parts: list[tuple[OptionSafety, ...]] = [engine.ungrouped]
    usable_drugs = engine.ungrouped_drugs
    nbytes = 8 * len(engine.options)
    for g in engine.groups:
        results, usable, _, size = _group_results(engine, g, p, cpic)
        parts.append(results)
        usable_drugs += usable
        nbytes += size
    options = engine.catalog_order(tuple(chain.from_iterable(parts)))

    # alternatives: with no other usable drug option, CPIC's "no alternatives" rows apply
    if usable_drugs <= 1:
        changed = list(options)
        for oi in engine.cpic_options:
            if usable_drugs - (options[oi].verdict is not Verdict.excluded) == 0:
                kept = [r for r in options[oi].reasons if not r.rule_id.startswith(CPIC_RULE_PREFIX)]
                c = engine.option_cpic[oi]
                assert c is not None
                changed[oi] = _option_result(engine, oi, kept + list(_cpic_reasons(engine, c, p, False)))
        options = tuple(changed)
        nbytes += _results_bytes(options)

    warnings = []
    answers = p.answers
    for cr in engine.warning_rules:
        if answers[cr.condition] is None:
            continue
        if p.own and cr.medication_position is not None and all(oi in p.own for oi in cr.targets):
            continue  # it hits only options the patient already takes
        assert cr.data_warning is not None
        warnings.append(cr.data_warning)
    return options, tuple(warnings), nbytes, cpic


def apply_safety_rules(
    profile: PatientProfile, catalogs: SafetyCatalogs, option_ids: Sequence[str] | None = None
) -> SafetyAssessment:
    """Verdicts and reasons for every option of the option catalog (or only ``option_ids``, in catalog order).

    The whole catalog is always assessed, so alternatives (CPIC's HLA-A*31:01 rows) are decided from the catalog,
    never from the options a request names. Raises :class:`ProfileValidationError` for medications that do not
    resolve.
    """
    engine = catalogs._engine
    meds = resolve_medications(profile.medications, catalogs.medications)
    pgx, clinical = profile.pgx, profile.clinical
    d6 = _gene_reading(engine, "CYP2D6", pgx.cyp2d6, meds)
    c9 = _gene_reading(engine, "CYP2C9", pgx.cyp2c9, meds)
    c19 = _gene_reading(engine, "CYP2C19", pgx.cyp2c19, meds)  # TRANSLATED_GENES order

    # the inputs in plan order; only the conditions with a present input are evaluated
    inputs = (*engine.read_fields(profile), meds or None, d6.rule_input, c9.rule_input, c19.rule_input)
    present = sum(compress(engine.bits, map(is_not, inputs, engine.nones)))
    plan = engine.plans.get(present)
    if plan is None:
        if len(engine.plans) >= _PLANS_KEPT:
            engine.plans.clear()
        plan = engine.plans[present] = tuple(
            (ci, ev)
            for ci, (ev, m) in enumerate(zip(engine.evaluators, engine.input_masks, strict=True))
            if m & present
        )
    evaluated = tuple([ev(inputs) for _, ev in plan])

    own: dict[int, tuple[Facts, ...]] = {}
    if meds:
        at = engine.medications_at
        for row in meds:
            takers = engine.own_options.get(row.name)
            if takers:  # options whose own medicine it is: the medication conditions answered without it
                rest = tuple(m for m in meds if m is not row) or None
                without = (*inputs[:at], rest, *inputs[at + 1 :])
                mine = tuple(engine.evaluators[ci](without) for ci in engine.medication_conditions)
                for oi in takers:
                    own[oi] = mine

    if d6.change is None and c9.change is None and c19.change is None:
        functional = pgx
    else:
        changes = {f: g.change for f, g in zip(engine.cyp_fields, (d6, c9, c19), strict=True) if g.change}
        functional = pgx.model_copy(update=changes)
    lookup = (
        d6.cpic_state,
        c9.cpic_state,
        c19.cpic_state,
        d6.cpic_problems,
        c9.cpic_problems,
        c19.cpic_problems,
        *engine.read_cpic_other(pgx),
    )
    p = _Patient(
        evaluated,
        plan,
        engine.absent,
        own,
        functional,
        lookup,
        clinical.carbamazepine_prior_use_over_3_months,
    )
    cpic = _cpic_answers(engine, p)

    # the options are a function of every condition's answer (the plan's answers and the compile-time answers of
    # the others, which the pattern of present inputs decides), the answers without an option's own medicine and
    # the CPIC answers (by identity: an entry holds the CPIC answers it was built from, so no id is reused while
    # it lives)
    key = (present, evaluated, tuple(own.items()), tuple(map(id, cpic)))
    found, cached = engine.assessments.get(key)
    if not found:
        cached = _assess_options(engine, p, cpic)
        engine.assessments.put(key, cached)
    assert cached is not None
    options, warnings = cached[0], cached[1]

    if option_ids is not None:
        wanted = set(option_ids)
        options = tuple(o for o in options if o.option_id in wanted)
    return trusted(
        SafetyAssessment,
        options=options,
        functional_phenotypes=(d6.reading, c9.reading, c19.reading),
        functional_pgx=functional,
        medications=tuple(m.name for m in meds),
        data_warnings=warnings,
        rules_catalog=engine.refs[0],
        medication_catalog=engine.refs[1],
    )
