"""Add pharmacogenomic results from another source (e.g. PharmCAT) to a profile's Pgx section."""

from __future__ import annotations

from precisionpain.errors import ValidationError, Violation
from precisionpain.pgx.resolve import ResolvedGene, resolve_gene
from precisionpain.pgx.tables import TRANSLATED_GENES, PgxTables
from precisionpain.schema import GeneResult, HlaStatus, Pgx

_CYP_FIELDS = {gene: gene.lower() for gene in TRANSLATED_GENES}


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _detail(result: GeneResult) -> tuple[bool, bool, bool]:
    return (result.diplotype is not None, result.activity_score is not None, result.phenotype is not None)


def _disagree(a: ResolvedGene, b: ResolvedGene) -> bool:
    def differ(x: str | None, y: str | None) -> bool:
        return x is not None and y is not None and x != y

    return (
        differ(a.phenotype, b.phenotype)
        or differ(a.activity_score, b.activity_score)
        or differ(a.diplotype, b.diplotype)
    )


def merge_pgx(base: Pgx, update: Pgx, *, replace: bool = False, tables: PgxTables | None = None) -> Pgx:
    """``base`` with the results of ``update`` added.

    A gene only one side has is taken from that side. When both have it and their CPIC readings agree, the
    more detailed result is kept (diplotype over activity score over phenotype; ``update`` on a tie). When they
    disagree, every such gene is listed in one :class:`ValidationError`, unless ``replace=True``, in which case
    ``update`` wins. Results that do not match the CPIC tables cannot be merged.
    """
    t = _tables(tables)
    merged: dict[str, object] = {}
    violations: list[Violation] = []
    for gene, name in _CYP_FIELDS.items():
        old: GeneResult | None = getattr(base, name)
        new: GeneResult | None = getattr(update, name)
        if old is None or new is None:
            merged[name] = new if new is not None else old
            continue
        r_old = resolve_gene(gene, old.diplotype, old.phenotype, old.activity_score, t)
        r_new = resolve_gene(gene, new.diplotype, new.phenotype, new.activity_score, t)
        if not (r_old.ok and r_new.ok):
            violations.append(
                Violation(f"pgx.{name}", "cannot be merged: a result does not match the CPIC tables")
            )
            continue
        if _disagree(r_old, r_new) and not replace:
            violations.append(
                Violation(f"pgx.{name}", "the two results disagree; pass replace=True to take the update")
            )
            continue
        if _disagree(r_old, r_new):
            merged[name] = new
        else:
            merged[name] = new if _detail(new) >= _detail(old) else old
    for name in ("hla_b_1502", "hla_a_3101"):
        old_status: HlaStatus = getattr(base, name)
        new_status: HlaStatus = getattr(update, name)
        if HlaStatus.not_tested in (old_status, new_status) or old_status == new_status or replace:
            merged[name] = old_status if new_status is HlaStatus.not_tested else new_status
        else:
            violations.append(
                Violation(f"pgx.{name}", "the two results disagree; pass replace=True to take the update")
            )
    for name in ("oprm1_rs1799971", "comt_rs4680"):
        old_g, new_g = getattr(base, name), getattr(update, name)
        if old_g is None or new_g is None or old_g == new_g or replace:
            merged[name] = new_g if new_g is not None else old_g
        else:
            violations.append(
                Violation(f"pgx.{name}", "the two genotypes disagree; pass replace=True to take the update")
            )
    ValidationError.raise_if_any("merging pharmacogenomic results", violations)
    return Pgx.model_validate(merged)
