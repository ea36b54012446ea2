"""Translate a lab's table of diplotypes (TSV with columns gene, diplotype) into CPIC activity scores and
phenotypes: the pure part of ``precisionpain pgx translate IN.tsv --out OUT.tsv``.

Every column of the input is kept and ``activity_score`` and ``phenotype`` are added. A row that cannot be
translated is left out of the output and reported with its 1-based line number (the header is line 1), its
gene and the reason; the other rows are still translated. This is a tool over lab tables, not patient
profiles, so the reason may name the unknown allele.
"""

from __future__ import annotations

from precisionpain.base import FrozenModel
from precisionpain.errors import PgxError, UnknownAlleleError, UnknownGeneError, ValidationError, Violation
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, NOT_APPLICABLE, TRANSLATED_GENES, PgxTables
from precisionpain.pgx.translate import translate_diplotype

INPUT_COLUMNS = ("gene", "diplotype")
ADDED_COLUMNS = ("activity_score", "phenotype")


class TableRowMessage(FrozenModel):
    """A problem (or a note) about one input row."""

    line: int  # 1-based line in the input; the header is line 1
    gene: str
    reason: str

    def describe(self) -> str:
        return f"line {self.line}: {self.gene or '(no gene)'}: {self.reason}"


class TranslatedTable(FrozenModel):
    """The translated rows, and the rows that could not be translated."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    errors: tuple[TableRowMessage, ...] = ()
    notes: tuple[TableRowMessage, ...] = ()  # translated rows worth a remark (e.g. no CPIC phenotype)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_tsv(self) -> str:
        lines = ["\t".join(self.header), *("\t".join(row) for row in self.rows)]
        return "\n".join(lines) + "\n"


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _reason(gene: str, exc: PgxError) -> str:
    if isinstance(exc, UnknownGeneError):
        return f"gene is not translated; expected one of {', '.join(TRANSLATED_GENES)}"
    if isinstance(exc, UnknownAlleleError):
        return f"allele {exc.allele!r} is not in the CPIC allele-function table; no phenotype is guessed"
    text = str(exc)
    prefix = f"{gene}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _header(first_line: str) -> tuple[tuple[str, ...], int, int]:
    header = tuple(h.strip() for h in first_line.split("\t"))
    lowered = [h.lower() for h in header]
    violations = [
        Violation("header", f"must have a column named {name}", "no column")
        for name in INPUT_COLUMNS
        if name not in lowered
    ]
    violations += [
        Violation(
            "header", f"already has a column named {name}; rename it so the output can add it", "string"
        )
        for name in ADDED_COLUMNS
        if name in lowered
    ]
    duplicated = sorted({h for h in lowered if lowered.count(h) > 1})
    if duplicated:
        violations.append(
            Violation("header", f"column names must be unique ({', '.join(duplicated)})", "string")
        )
    ValidationError.raise_if_any("diplotype table", violations)
    return header, lowered.index("gene"), lowered.index("diplotype")


def translate_table(text: str, tables: PgxTables | None = None) -> TranslatedTable:
    """Translate every row of a gene/diplotype TSV; bad rows are reported, not fatal.

    Raises :class:`ValidationError` only for an unusable header (empty input, missing ``gene`` or
    ``diplotype`` column, a column already named ``activity_score`` or ``phenotype``).
    """
    t = _tables(tables)
    lines = text.lstrip("\ufeff").split("\n")
    if not lines[0].strip():
        raise ValidationError(
            "diplotype table", [Violation("header", "the first line must be the header", "empty line")]
        )
    header, gene_col, dip_col = _header(lines[0].rstrip("\r"))
    rows: list[tuple[str, ...]] = []
    errors: list[TableRowMessage] = []
    notes: list[TableRowMessage] = []
    for n, raw in enumerate(lines[1:], 2):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = tuple(f.strip() for f in line.split("\t"))
        if len(fields) != len(header):
            gene = fields[gene_col].upper() if len(fields) > gene_col else ""
            errors.append(
                TableRowMessage(
                    line=n, gene=gene, reason=f"has {len(fields)} fields; the header has {len(header)}"
                )
            )
            continue
        gene, diplotype = fields[gene_col].upper(), fields[dip_col]
        if not gene:
            errors.append(TableRowMessage(line=n, gene="", reason="gene is empty"))
            continue
        if not diplotype:
            errors.append(TableRowMessage(line=n, gene=gene, reason="diplotype is empty"))
            continue
        try:
            tr = translate_diplotype(gene, diplotype, t)
        except PgxError as exc:
            errors.append(TableRowMessage(line=n, gene=gene, reason=_reason(gene, exc)))
            continue
        score = tr.activity_score
        if score is None and tr.gene in ACTIVITY_SCORE_GENES and tr.phenotype == "Indeterminate":
            score = NOT_APPLICABLE
        rows.append((*fields, score or "", tr.phenotype or ""))
        if tr.note:
            notes.append(TableRowMessage(line=n, gene=tr.gene, reason=tr.note))
    return TranslatedTable(
        header=(*header, *ADDED_COLUMNS), rows=tuple(rows), errors=tuple(errors), notes=tuple(notes)
    )
