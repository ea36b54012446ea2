"""Read PharmCAT results into a :class:`~precisionpain.schema.Pgx` section (pure functions over text/dicts).

Two PharmCAT formats are read:

- the *outside call* TSV (``pharmcat -po``): one gene per line, up to four tab-separated fields (gene,
  diplotype, phenotype, activity score); lines starting with ``#`` and blank lines are ignored; ``.`` or ``./.``
  as diplotype is a no call. CYP2D6, CYP2C9 and CYP2C19 are checked against the CPIC tables; HLA-A/HLA-B
  diplotypes such as ``*15:02/*57:01`` (or results such as ``*15:02 positive``) become the *31:01/*15:02 status;
  OPRM1 (rs1799971) and COMT (rs4680) genotypes are accepted too. A header row (first field "Gene" or "HGNC
  gene symbol") before the first call is skipped.
- the phenotyper output ``*.phenotype.json``: ``geneReports`` keyed by data source (``CPIC``) then gene, each
  with ``recommendationDiplotypes`` (allele names, ``phenotypes``, ``activityScore`` as CPIC's text or as a
  number). PharmCAT's matcher (``*.match.json``) and reporter (``*.report.json``) outputs are recognised and
  refused with a message asking for the phenotyper's file.

Genes PrecisionPain does not use are ignored and listed. Problems are collected and raised once as a
:class:`ValidationError` naming line numbers (or JSON paths), genes and rules, never the values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from precisionpain.base import FrozenModel
from precisionpain.errors import PgxError, ValidationError, Violation, kind_of
from precisionpain.pgx.markers import (
    hla_status_from_diplotype,
    hla_status_from_phenotype,
    normalize_comt_genotype,
    normalize_oprm1_genotype,
)
from precisionpain.pgx.resolve import ResolvedGene, resolve_gene
from precisionpain.pgx.tables import (
    ACTIVITY_SCORE_GENES,
    HLA_GENES,
    HLA_RISK_ALLELES,
    NO_RECOMMENDATION_GENES,
    NO_RESULT,
    NOT_APPLICABLE,
    PGX_FIELDS,
    TRANSLATED_GENES,
    PgxTables,
)
from precisionpain.pgx.translate import normalize_phenotype
from precisionpain.schema import GeneResult, HlaStatus, Pgx, PgxSource

OUTSIDE_CALL_GENES = (*TRANSLATED_GENES, *HLA_GENES, *NO_RECOMMENDATION_GENES)
PHENOTYPE_JSON_GENES = (*TRANSLATED_GENES, *HLA_GENES)
NO_CALL_DIPLOTYPES = ("/", ".", "./.")
# PharmCAT's words for "nothing here" in phenotype and activity-score fields
_EMPTY_VALUES = {"", NO_RESULT.lower(), NOT_APPLICABLE, "unknown", "no call"}
MAX_GENE_SYMBOL_CHARS = 32  # HGNC symbols are short; a longer "gene" is not listed back as an ignored gene
# First fields of a header row ("Gene", "HGNC gene symbol", ...), lower-cased without spaces, "_" or "-"
_HEADER_FIRST_FIELDS = {"gene", "genes", "genesymbol", "hgncgenesymbol", "hgncsymbol", "symbol"}
# The largest numeric activity score read (CPIC's scores are at most a few units)
MAX_NUMERIC_ACTIVITY_SCORE = 100.0
# PharmCAT's other JSON outputs, told by top-level keys the phenotyper's file does not have
_OTHER_PHARMCAT_OUTPUTS = (
    (("genes", "drugs"), "PharmCAT's reporter output (*.report.json)"),
    (("metadata", "results"), "PharmCAT's matcher output (*.match.json)"),
)


class PharmcatImport(FrozenModel):
    """What was read from a PharmCAT file: the Pgx section, the genes set, those ignored, and notes."""

    pgx: Pgx
    genes: tuple[str, ...]  # genes the file gave a usable result for
    ignored_genes: tuple[str, ...]  # genes PrecisionPain does not use (listed, not read)
    notes: tuple[str, ...] = ()  # things worth telling the user (no patient values)


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _cyp_result(resolved: ResolvedGene) -> GeneResult:
    return GeneResult(
        diplotype=resolved.diplotype,
        phenotype=resolved.phenotype,
        activity_score=resolved.activity_score,
        source=PgxSource.pharmcat,
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY_VALUES)


class _Builder:
    """Collects gene values, violations, ignored genes and notes for one file."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.values: dict[str, Any] = {}
        self.violations: list[Violation] = []
        self.ignored: list[str] = []
        self.notes: list[str] = []

    def ignore(self, where: str, gene: str) -> None:
        if len(gene) > MAX_GENE_SYMBOL_CHARS:
            self.violations.append(
                Violation(where, f"a gene symbol has at most {MAX_GENE_SYMBOL_CHARS} characters", "string")
            )
        elif gene not in self.ignored:
            self.ignored.append(gene)

    def set(self, gene: str, value: Any) -> None:
        self.values[PGX_FIELDS[gene]] = value

    def finish(self) -> PharmcatImport:
        ValidationError.raise_if_any(self.what, self.violations)
        genes = tuple(g for g in OUTSIDE_CALL_GENES if PGX_FIELDS[g] in self.values)
        return PharmcatImport(
            pgx=Pgx(**self.values), genes=genes, ignored_genes=tuple(self.ignored), notes=tuple(self.notes)
        )


# ------------------------------------------------------------------------------------------ outside calls


def _outside_cyp(
    b: _Builder,
    where: str,
    gene: str,
    diplotype: str | None,
    phenotype: str | None,
    score: str | None,
    tables: PgxTables,
) -> None:
    given_phenotype = None
    if phenotype is not None:
        try:
            given_phenotype = normalize_phenotype(phenotype)
        except PgxError as exc:
            b.violations.append(Violation(where, f"{gene} phenotype: {exc}", "string"))
            return
    if score is not None and gene not in ACTIVITY_SCORE_GENES:
        b.notes.append(
            f"{where}: CPIC defines no activity score for {gene}; the activity score field was ignored"
        )
        score = None
    resolved = resolve_gene(gene, diplotype, given_phenotype, score, tables)
    if resolved.problems:
        for part, rule in resolved.problems:
            b.violations.append(Violation(where, f"{gene} {part}: {rule}", "string"))
        return
    b.set(gene, _cyp_result(resolved))


def _outside_hla(
    b: _Builder, where: str, gene: str, diplotype: str | None, phenotype: str | None, score: str | None
) -> None:
    try:
        from_diplotype = hla_status_from_diplotype(gene, diplotype) if diplotype is not None else None
        from_phenotype = hla_status_from_phenotype(gene, phenotype) if phenotype is not None else None
    except PgxError as exc:
        b.violations.append(Violation(where, str(exc), "string"))
        return
    if score is not None:
        b.notes.append(f"{where}: {gene} has no activity score; the activity score field was ignored")
    if from_diplotype is not None and from_phenotype is not None and from_diplotype != from_phenotype:
        b.violations.append(
            Violation(
                where,
                f"{gene}: the diplotype and the result disagree about {HLA_RISK_ALLELES[gene]}",
                "string",
            )
        )
        return
    status = from_diplotype or from_phenotype
    if status is None:
        b.notes.append(
            f"{where}: the {gene} result does not mention {HLA_RISK_ALLELES[gene]}; {gene} left as not tested"
        )
        return
    b.set(gene, status)


def _outside_variant(b: _Builder, where: str, gene: str, genotype: str | None) -> None:
    if genotype is None:
        b.violations.append(
            Violation(where, f"{gene}: give the genotype in the diplotype field", "empty string")
        )
        return
    try:
        value = normalize_oprm1_genotype(genotype) if gene == "OPRM1" else normalize_comt_genotype(genotype)
    except PgxError as exc:
        b.violations.append(Violation(where, str(exc), "string"))
        return
    b.set(gene, value)


def _is_header(first_field: str) -> bool:
    return "".join(c for c in first_field.lower() if c not in " _-") in _HEADER_FIRST_FIELDS


def read_pharmcat_outside_calls(text: str, tables: PgxTables | None = None) -> PharmcatImport:
    """Parse a PharmCAT outside-call TSV; raise one ValidationError listing every bad line."""
    t = _tables(tables)
    b = _Builder("PharmCAT outside calls")
    seen: dict[str, int] = {}
    first = True
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r").lstrip("\ufeff") if n == 1 else raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"line {n}"
        fields = [f.strip() for f in line.split("\t")]
        if first:
            first = False
            if len(fields[0]) <= MAX_GENE_SYMBOL_CHARS and _is_header(fields[0]):
                b.notes.append(f"{where}: a header row was skipped")
                continue
        if len(fields) < 2:
            b.violations.append(
                Violation(
                    where,
                    "expected tab-separated fields: gene, diplotype, phenotype, activity score",
                    f"{len(fields)} field",
                )
            )
            continue
        if len(fields) > 4:
            b.violations.append(
                Violation(
                    where,
                    "at most 4 tab-separated fields: gene, diplotype, phenotype, activity score",
                    f"{len(fields)} fields",
                )
            )
            continue
        gene = fields[0].upper()
        if not gene:
            b.violations.append(Violation(where, "the gene symbol (first field) is empty", "empty string"))
            continue
        if gene not in OUTSIDE_CALL_GENES:
            b.ignore(where, gene)
            continue
        if gene in seen:
            b.violations.append(
                Violation(where, f"{gene} is also given on line {seen[gene]}; give one call per gene")
            )
            continue
        seen[gene] = n
        diplotype = fields[1] or None
        phenotype = (fields[2] if len(fields) > 2 else "") or None
        score = (fields[3] if len(fields) > 3 else "") or None
        if diplotype is None and phenotype is None and score is None:
            b.violations.append(
                Violation(
                    where, f"{gene}: give a diplotype, a phenotype or an activity score", "empty string"
                )
            )
            continue
        if diplotype in NO_CALL_DIPLOTYPES:
            diplotype = None
            if phenotype is None and score is None:
                b.notes.append(f"{where}: {gene} is a no call; left as not tested")
                continue
        if diplotype is not None and " or " in f" {diplotype.lower()} ":
            b.violations.append(
                Violation(where, f"{gene}: more than one diplotype given; give one call", "string")
            )
            continue
        if gene in TRANSLATED_GENES:
            _outside_cyp(b, where, gene, diplotype, phenotype, score, t)
        elif gene in HLA_GENES:
            _outside_hla(b, where, gene, diplotype, phenotype, score)
        else:
            _outside_variant(b, where, gene, diplotype)
    return b.finish()


def pgx_from_pharmcat_outside_calls(text: str, tables: PgxTables | None = None) -> Pgx:
    """The Pgx section given by a PharmCAT outside-call TSV (see :func:`read_pharmcat_outside_calls`)."""
    return read_pharmcat_outside_calls(text, tables).pgx


# ------------------------------------------------------------------------------------------ phenotype.json


def _gene_reports(data: Mapping[str, Any], b: _Builder) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(json path, gene, report) for each gene report, from the nested (by source) or flat layout."""
    reports = data.get("geneReports")
    if isinstance(reports, Mapping):
        values = list(reports.values())
        flat = any(isinstance(v, Mapping) and "geneSymbol" in v for v in values)
        if flat:
            base, by_gene = "geneReports", reports
        elif isinstance(reports.get("CPIC"), Mapping):
            base, by_gene = "geneReports.CPIC", reports["CPIC"]
        else:
            b.violations.append(
                Violation("geneReports", "must hold a CPIC section (gene reports by gene)", "object")
            )
            return []
        out = []
        for key, report in by_gene.items():
            if not isinstance(report, Mapping):
                b.violations.append(
                    Violation(f"{base}.{key}", "must be a gene report object", kind_of(report))
                )
                continue
            gene = report.get("geneSymbol", key)
            out.append((f"{base}.{key}", str(gene).upper(), report))
        return out
    if isinstance(reports, list):  # early PharmCAT versions wrote a list of gene reports
        listed = []
        for i, report in enumerate(reports):
            gene = report.get("geneSymbol", report.get("gene")) if isinstance(report, Mapping) else None
            if not isinstance(gene, str):
                b.violations.append(
                    Violation(f"geneReports[{i}]", "must be a gene report with geneSymbol", kind_of(report))
                )
                continue
            listed.append((f"geneReports[{i}]", gene.upper(), report))
        return listed
    b.violations.append(Violation("geneReports", "required: PharmCAT phenotyper output", kind_of(reports)))
    return []


def _allele_name(allele: object) -> str | None:
    if isinstance(allele, Mapping):
        name = allele.get("name")
        if isinstance(name, str) and not _blank(name):
            return name.strip()
    return None


def _numeric_score(value: object) -> str | None:
    """A numeric activity score as CPIC writes it (1 -> "1.0", 0.25 -> "0.25"); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not 0.0 <= number <= MAX_NUMERIC_ACTIVITY_SCORE:  # NaN fails too
        return None
    return repr(number)


def _is_unknown(dip: Mapping[str, Any]) -> bool:
    names = [_allele_name(dip.get("allele1")), _allele_name(dip.get("allele2"))]
    phenotypes = dip.get("phenotypes") or []
    known_phenotypes = (
        [p for p in phenotypes if not _blank(p)] if isinstance(phenotypes, list) else [phenotypes]
    )
    return names == [None, None] and not known_phenotypes and _blank(dip.get("activityScore"))


def _read_cyp(
    b: _Builder, path: str, gene: str, dip: Mapping[str, Any], tables: PgxTables
) -> ResolvedGene | None:
    n1, n2 = _allele_name(dip.get("allele1")), _allele_name(dip.get("allele2"))
    if (n1 is None) != (n2 is None):
        b.violations.append(Violation(path, f"{gene}: a diplotype needs two alleles", "object"))
        return None
    diplotype = f"{n1}/{n2}" if n1 is not None else None
    phenotypes = dip.get("phenotypes") or []
    if not isinstance(phenotypes, list) or not all(isinstance(p, str) for p in phenotypes):
        b.violations.append(Violation(f"{path}.phenotypes", "must be a list of strings", kind_of(phenotypes)))
        return None
    known = [p for p in phenotypes if not _blank(p)]
    if len(known) > 1:
        b.violations.append(Violation(f"{path}.phenotypes", f"{gene}: more than one phenotype", "list"))
        return None
    score = dip.get("activityScore")
    if score is not None and not isinstance(score, str):
        text = _numeric_score(score)
        if text is None:
            b.violations.append(
                Violation(
                    f"{path}.activityScore",
                    f"must be a CPIC activity score: text, or a number from 0 to {MAX_NUMERIC_ACTIVITY_SCORE:g}",
                    kind_of(score),
                )
            )
            return None
        score = text
    given_score = None if _blank(score) or gene not in ACTIVITY_SCORE_GENES else score
    given_phenotype = None
    if known:
        try:
            given_phenotype = normalize_phenotype(known[0])
        except PgxError as exc:
            b.violations.append(Violation(f"{path}.phenotypes", f"{gene}: {exc}", "string"))
            return None
    resolved = resolve_gene(gene, diplotype, given_phenotype, given_score, tables)
    if resolved.problems:
        for part, rule in resolved.problems:
            b.violations.append(Violation(path, f"{gene} {part}: {rule}", "string"))
        return None
    return resolved


def _read_hla(b: _Builder, path: str, gene: str, dip: Mapping[str, Any]) -> HlaStatus | None:
    n1, n2 = _allele_name(dip.get("allele1")), _allele_name(dip.get("allele2"))
    statuses: set[HlaStatus] = set()
    try:
        if n1 is not None and n2 is not None:
            statuses.add(hla_status_from_diplotype(gene, f"{n1}/{n2}"))
        phenotypes = dip.get("phenotypes") or []
        for p in phenotypes if isinstance(phenotypes, list) else [phenotypes]:
            if isinstance(p, str) and not _blank(p):
                status = hla_status_from_phenotype(gene, p)
                if status is not None:
                    statuses.add(status)
    except PgxError as exc:
        b.violations.append(Violation(path, str(exc), "string"))
        return None
    if len(statuses) > 1:
        b.violations.append(
            Violation(
                path, f"{gene}: alleles and phenotypes disagree about {HLA_RISK_ALLELES[gene]}", "object"
            )
        )
        return None
    return statuses.pop() if statuses else None


def _one_reading(
    b: _Builder, path: str, gene: str, dips: Sequence[tuple[str, Mapping[str, Any]]], tables: PgxTables
) -> None:
    if gene in HLA_GENES:
        hla = [_read_hla(b, p, gene, d) for p, d in dips]
        found = {s for s in hla if s is not None}
        if not found:
            b.notes.append(
                f"{path}: the {gene} result does not mention {HLA_RISK_ALLELES[gene]}; left as not tested"
            )
        elif len(found) == 1 and None not in hla:
            b.set(gene, found.pop())
        else:
            b.notes.append(
                f"{path}: PharmCAT gave {gene} results that do not agree about {HLA_RISK_ALLELES[gene]}; not imported"
            )
        return
    cyp = [_read_cyp(b, p, gene, d, tables) for p, d in dips]
    if any(r is None for r in cyp):
        return
    readings = {(r.phenotype, r.activity_score) for r in cyp if r is not None}
    if len(cyp) == 1 and cyp[0] is not None:
        b.set(gene, _cyp_result(cyp[0]))
    elif len(readings) == 1:
        phenotype, score = readings.pop()
        if phenotype is None:
            b.notes.append(
                f"{path}: CPIC gives none of PharmCAT's possible {gene} diplotypes a phenotype; not imported"
            )
            return
        b.set(gene, GeneResult(phenotype=phenotype, activity_score=score, source=PgxSource.pharmcat))
        b.notes.append(
            f"{path}: PharmCAT gave {len(cyp)} possible {gene} diplotypes with the same CPIC reading; "
            "the phenotype was imported without a diplotype"
        )
    else:
        b.notes.append(
            f"{path}: PharmCAT gave {len(cyp)} possible {gene} diplotypes that CPIC reads differently; not imported"
        )


def read_pharmcat_phenotype(data: Mapping[str, Any], tables: PgxTables | None = None) -> PharmcatImport:
    """Read a PharmCAT ``*.phenotype.json`` (already parsed); raise one ValidationError listing every problem."""
    t = _tables(tables)
    b = _Builder("PharmCAT phenotype file")
    if not isinstance(data, Mapping):
        b.violations.append(
            Violation("(root)", "must be a JSON object (PharmCAT phenotyper output)", kind_of(data))
        )
        return b.finish()
    if "geneReports" not in data:
        for keys, what in _OTHER_PHARMCAT_OUTPUTS:
            if all(k in data for k in keys):
                b.violations.append(
                    Violation(
                        "(root)",
                        f"this is {what}; pass the phenotyper's *.phenotype.json, which PharmCAT writes in the "
                        "same run",
                        "object",
                    )
                )
                return b.finish()
    for path, gene, report in _gene_reports(data, b):
        if gene not in PHENOTYPE_JSON_GENES:
            b.ignore(path, gene)
            continue
        if report.get("callSource") == "NONE":
            continue
        key = "recommendationDiplotypes" if "recommendationDiplotypes" in report else "sourceDiplotypes"
        dips = report.get(key)
        if dips is None:
            continue
        if not isinstance(dips, list) or not all(isinstance(d, Mapping) for d in dips):
            b.violations.append(
                Violation(f"{path}.{key}", "must be a list of diplotype objects", kind_of(dips))
            )
            continue
        known = [(f"{path}.{key}[{i}]", d) for i, d in enumerate(dips) if not _is_unknown(d)]
        if not known:
            continue
        combination = [p for p, d in known if d.get("combination") is True]
        if combination:
            b.notes.append(
                f"{path}: PharmCAT called a combination of {gene} alleles, which CPIC gives no phenotype; not imported"
            )
            continue
        _one_reading(b, path, gene, known, t)
    return b.finish()


def pgx_from_pharmcat_phenotype(data: Mapping[str, Any], tables: PgxTables | None = None) -> Pgx:
    """The Pgx section given by a PharmCAT ``*.phenotype.json`` (see :func:`read_pharmcat_phenotype`)."""
    return read_pharmcat_phenotype(data, tables).pgx
