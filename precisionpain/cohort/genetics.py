"""True genotypes by CPIC biogeographic group, and how (and whether) they appear in the record.

CYP2D6 alleles come from the CPIC frequency table in features/pgx/ (PgxTables.allele_frequencies); CYP2C9,
CYP2C19, HLA, OPRM1 and COMT frequencies from :mod:`precisionpain.cohort.params`. Only alleles that the CPIC
allele-function table knows are drawn (each group renormalized), so every diplotype translates. Each unique
diplotype is translated once with :func:`precisionpain.pgx.translate.translate_diplotype`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from precisionpain.cohort import params as P
from precisionpain.cohort.population import GROUPS, NEUROPATHIC
from precisionpain.errors import ConfigError, Violation
from precisionpain.pgx.tables import PgxTables
from precisionpain.pgx.translate import parse_activity_score, translate_diplotype
from precisionpain.schema import CPIC_GROUP_LABELS, BiogeographicGroup

CYP_GENES: tuple[str, ...] = ("CYP2D6", "CYP2C9", "CYP2C19")
# Mechanism classes of a metabolizer phenotype (the "Likely" CPIC terms share their class).
PM, IM, NM, RM, UM = range(5)
_CLASS_OF_PHENOTYPE: dict[str, int] = {
    "Poor Metabolizer": PM,
    "Likely Poor Metabolizer": PM,
    "Intermediate Metabolizer": IM,
    "Likely Intermediate Metabolizer": IM,
    "Normal Metabolizer": NM,
    "Rapid Metabolizer": RM,
    "Ultrarapid Metabolizer": UM,
}
OPRM1_GENOTYPES: tuple[str, ...] = ("A/A", "A/G", "G/G")
ASIAN_GROUPS: tuple[str, ...] = ("central_south_asian", "east_asian", "oceanian")
REPORT_FULL, REPORT_DIPLOTYPE, REPORT_PHENOTYPE = range(3)


@dataclass(frozen=True)
class GeneCalls:
    """One CYP gene for n patients: CPIC reading of the true diplotype plus the hidden mechanism values."""

    diplotype: np.ndarray  # object: canonical CPIC diplotype
    phenotype: np.ndarray  # object: CPIC phenotype (str) or None
    activity_score: np.ndarray  # object: CPIC activity-score string or None
    mechanism_activity: np.ndarray  # float: activity with uncertain alleles counted as decreased (0.5)
    mechanism_class: np.ndarray  # int: PM/IM/NM/RM/UM used by the outcome model
    cpic_class: np.ndarray  # int: class of the CPIC phenotype (-1 for Indeterminate or none)
    has_phenotype: np.ndarray  # bool
    has_activity_score: np.ndarray  # bool


@dataclass(frozen=True)
class Genotypes:
    cyp: dict[str, GeneCalls]
    hla_b_1502: np.ndarray  # bool
    hla_a_3101: np.ndarray  # bool
    oprm1_g: np.ndarray  # int 0-2
    comt: np.ndarray  # int index into params.COMT_GENOTYPES


@dataclass(frozen=True)
class _Reading:
    diplotype: str
    phenotype: str | None
    activity_score: str | None
    mechanism_activity: float
    mechanism_class: int
    cpic_class: int


class GenotypeModel:
    """Allele frequencies per group, ready to sample, and a cache of translated diplotypes."""

    def __init__(self, tables: PgxTables) -> None:
        self._tables = tables
        self.alleles: dict[str, tuple[str, ...]] = {}
        self.probs: dict[str, np.ndarray] = {}  # gene -> (n_groups, n_alleles)
        self._cache: dict[tuple[str, int], _Reading] = {}
        self.dropped_mass: dict[str, dict[str, float]] = {}
        problems: list[Violation] = []
        for gene in CYP_GENES:
            known = tables.allele_functions.get(gene, {})
            per_group = self._frequencies(gene, problems)
            names = sorted({a for freqs in per_group.values() for a in freqs if a in known}, key=_allele_key)
            index = {a: i for i, a in enumerate(names)}
            probs = np.zeros((len(GROUPS), len(names)))
            self.dropped_mass[gene] = {}
            for g, group in enumerate(GROUPS):
                freqs = per_group.get(group, {})
                kept = {a: f for a, f in freqs.items() if a in known and f > 0}
                self.dropped_mass[gene][group] = float(sum(f for a, f in freqs.items() if a not in known))
                total = sum(kept.values())
                if total <= 0:
                    problems.append(
                        Violation(f"{gene}.{group}", "has no allele frequencies the CPIC tables know")
                    )
                    continue
                for a, f in kept.items():
                    probs[g, index[a]] = f / total
            self.alleles[gene] = tuple(names)
            self.probs[gene] = probs
        ConfigError.raise_if_any("cohort genotype frequencies", problems)

    def _frequencies(self, gene: str, problems: list[Violation]) -> Mapping[str, Mapping[str, float]]:
        if gene == "CYP2D6":
            table = self._tables.allele_frequencies.get(gene, {})
            out: dict[str, Mapping[str, float]] = {}
            for group in GROUPS:
                label = CPIC_GROUP_LABELS[BiogeographicGroup(group)]
                if label not in table:
                    problems.append(Violation(f"CYP2D6.{group}", "missing from allele_frequencies.tsv"))
                    continue
                out[group] = table[label]
            return out
        source = P.CYP2C9_ALLELE_FREQUENCIES if gene == "CYP2C9" else P.CYP2C19_ALLELE_FREQUENCIES
        return {group: {"*1": 1.0 - sum(freqs.values()), **freqs} for group, freqs in source.items()}

    def _reading(self, gene: str, i: int, j: int) -> _Reading:
        names = self.alleles[gene]
        key = (gene, i * len(names) + j)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        tr = translate_diplotype(gene, f"{names[i]}/{names[j]}", self._tables)
        functions = self._tables.allele_functions[gene]
        if gene == "CYP2C19":
            activity = float("nan")
            klass = _CLASS_OF_PHENOTYPE.get(tr.phenotype or "", NM)
        else:
            activity = sum(_mechanism_value(functions[a].activity_value) for a in tr.alleles)
            klass = _activity_class(gene, activity)
        cpic_class = _CLASS_OF_PHENOTYPE.get(tr.phenotype or "", -1)
        reading = _Reading(tr.diplotype, tr.phenotype, tr.activity_score, activity, klass, cpic_class)
        self._cache[key] = reading
        return reading

    def _draw_gene(self, rng: np.random.Generator, gene: str, group: np.ndarray) -> GeneCalls:
        n = len(group)
        probs = self.probs[gene]
        k = probs.shape[1]
        cum = np.cumsum(probs, axis=1)
        cum[:, -1] = 1.0
        rows = cum[group]
        u = rng.random((n, 2))
        a = np.minimum((u[:, :1] >= rows).sum(axis=1), k - 1)
        b = np.minimum((u[:, 1:] >= rows).sum(axis=1), k - 1)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys, inverse = np.unique(lo * k + hi, return_inverse=True)
        readings = [self._reading(gene, int(key // k), int(key % k)) for key in keys]
        return GeneCalls(
            diplotype=np.asarray([r.diplotype for r in readings], dtype=object)[inverse],
            phenotype=_object_array([r.phenotype for r in readings])[inverse],
            activity_score=_object_array([r.activity_score for r in readings])[inverse],
            mechanism_activity=np.asarray([r.mechanism_activity for r in readings])[inverse],
            mechanism_class=np.asarray([r.mechanism_class for r in readings], dtype=np.int8)[inverse],
            cpic_class=np.asarray([r.cpic_class for r in readings], dtype=np.int8)[inverse],
            has_phenotype=np.asarray([r.phenotype is not None for r in readings], dtype=bool)[inverse],
            has_activity_score=np.asarray([r.activity_score is not None for r in readings], dtype=bool)[
                inverse
            ],
        )

    def draw(self, rng: np.random.Generator, group: np.ndarray) -> Genotypes:
        """True genotypes for patients of the given groups (int index into GROUPS)."""
        n = len(group)
        cyp = {gene: self._draw_gene(rng, gene, group) for gene in CYP_GENES}
        b1502 = rng.random(n) < np.asarray([P.HLA_B_1502_CARRIAGE[g] for g in GROUPS])[group]
        a3101 = rng.random(n) < np.asarray([P.HLA_A_3101_CARRIAGE[g] for g in GROUPS])[group]
        q = np.asarray([P.OPRM1_G_FREQUENCY[g] for g in GROUPS])[group]
        oprm1_g = (rng.random((n, 2)) < q[:, None]).sum(axis=1)
        comt = rng.choice(len(P.COMT_GENOTYPES), size=n, p=np.asarray(P.COMT_GENOTYPE_SHARES))
        return Genotypes(cyp=cyp, hla_b_1502=b1502, hla_a_3101=a3101, oprm1_g=oprm1_g, comt=comt)


def _allele_key(allele: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(t) if t.isdigit() else -1, t) for t in re.findall(r"\d+|\D+", allele))


def _object_array(values: list[str | None]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _mechanism_value(activity_value: str | None) -> float:
    if activity_value is None:
        return P.UNCERTAIN_ALLELE_MECHANISM_ACTIVITY
    return float(parse_activity_score(activity_value)[0])


def _activity_class(gene: str, activity: float) -> int:
    """CPIC activity-score ranges (CYP2D6: 0 PM, <1.25 IM, <=2.25 NM, >2.25 UM; CYP2C9: <=0.5 PM, <=1.5 IM)."""
    if gene == "CYP2D6":
        if activity == 0:
            return PM
        if activity < 1.25:
            return IM
        return NM if activity <= 2.25 else UM
    if activity <= 0.5:
        return PM
    return IM if activity <= 1.5 else NM


def _activity_classes(gene: str, activity: np.ndarray) -> np.ndarray:
    """:func:`_activity_class` over an array."""
    if gene == "CYP2D6":
        klass = np.where(activity == 0, PM, np.where(activity < 1.25, IM, np.where(activity <= 2.25, NM, UM)))
    else:
        klass = np.where(activity <= 0.5, PM, np.where(activity <= 1.5, IM, NM))
    return klass.astype(np.int8)


def functional_calls(calls: GeneCalls, gene: str, activity_factor: np.ndarray) -> GeneCalls:
    """The gene as it works with the medicines taken (phenoconversion): the mechanism activity times the strongest
    inhibitor's factor (1 without one), reclassified with the CPIC ranges. Rows with factor 1 are unchanged; the
    recorded CPIC values (diplotype, phenotype, score) stay the genotype's."""
    changed = activity_factor != 1.0
    if not changed.any():
        return calls
    activity = np.where(changed, calls.mechanism_activity * activity_factor, calls.mechanism_activity)
    klass = np.where(changed, _activity_classes(gene, activity), calls.mechanism_class).astype(np.int8)
    return replace(calls, mechanism_activity=activity, mechanism_class=klass)


def observe_genotypes(
    rng: np.random.Generator, geno: Genotypes, recorded_group: np.ndarray, pain_type: np.ndarray
) -> dict[str, np.ndarray]:
    """The recorded PGx columns: CYP genes as full report, diplotype only, phenotype only or untested.

    ``recorded_group`` is the recorded biogeographic group (object array, None if not recorded); HLA testing
    is more common where it is recorded as an Asian group and in neuropathic pain.
    """
    n = len(pain_type)
    cols: dict[str, np.ndarray] = {}
    panel = rng.random(n) < P.P_CYP_PANEL
    report = rng.choice(3, size=n, p=np.asarray(P.CYP_REPORT_SHARES))
    pharmcat = rng.random(n) < P.P_SOURCE_PHARMCAT
    with_score = rng.random(n) < P.P_PHENOTYPE_ONLY_WITH_SCORE
    source = np.where(pharmcat, "pharmcat", "lab").astype(object)
    for gene in CYP_GENES:
        calls = geno.cyp[gene]
        reported = panel & (rng.random(n) >= P.P_GENE_NOT_REPORTED)
        if gene == "CYP2D6":
            reported &= ~(pharmcat & (rng.random(n) < P.P_PHARMCAT_NO_CYP2D6))
        show_dip = reported & (report != REPORT_PHENOTYPE)
        show_phe = reported & (report != REPORT_DIPLOTYPE) & calls.has_phenotype
        show_score = reported & ((report == REPORT_FULL) | ((report == REPORT_PHENOTYPE) & with_score))
        show_score &= calls.has_activity_score & (gene != "CYP2C19")
        show_score &= (report == REPORT_FULL) | show_phe
        prefix = gene.lower()
        cols[f"{prefix}_diplotype"] = _where_shown(show_dip, calls.diplotype)
        cols[f"{prefix}_phenotype"] = _where_shown(show_phe, calls.phenotype)
        cols[f"{prefix}_activity_score"] = _where_shown(show_score, calls.activity_score)
        cols[f"{prefix}_source"] = _where_shown(show_dip | show_phe | show_score, source)

    asian = np.zeros(n, dtype=bool)
    for group in ASIAN_GROUPS:
        asian |= recorded_group == group
    p_hla = (
        P.P_HLA_TESTED_BASE
        + P.P_HLA_TESTED_ASIAN_EXTRA * asian
        + P.P_HLA_TESTED_NEUROPATHIC_EXTRA * (pain_type == NEUROPATHIC)
    )
    hla_tested = rng.random(n) < p_hla
    for name, carrier in (("hla_b_1502", geno.hla_b_1502), ("hla_a_3101", geno.hla_a_3101)):
        status = np.where(carrier, "positive", "negative").astype(object)
        cols[name] = np.where(hla_tested, status, "not_tested").astype(object)
    research = rng.random(n) < P.P_RESEARCH_GENOTYPES
    cols["oprm1_rs1799971"] = _where_shown(research, np.asarray(OPRM1_GENOTYPES, dtype=object)[geno.oprm1_g])
    cols["comt_rs4680"] = _where_shown(research, np.asarray(P.COMT_GENOTYPES, dtype=object)[geno.comt])
    return cols


def _where_shown(shown: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Object array: the value where shown, None elsewhere."""
    out = np.full(len(shown), None, dtype=object)
    out[shown] = values[shown]
    return out
