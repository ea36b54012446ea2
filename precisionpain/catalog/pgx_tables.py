"""Read the CPIC-derived tables in features/pgx/ into :class:`precisionpain.pgx.tables.PgxTables`."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from functools import cache
from pathlib import Path

from precisionpain.catalog.loader import resolve_root, sha256_of_files
from precisionpain.errors import CatalogError, Violation
from precisionpain.pgx.tables import (
    CLASSIFICATIONS,
    ActionCode,
    AlleleFunction,
    PgxTables,
    Recommendation,
    ScoreRule,
    parse_score_condition,
)

TABLE_FILES = (
    "allele_functions.tsv",
    "phenotype_rules.tsv",
    "recommendations.tsv",
    "allele_frequencies.tsv",
)


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise CatalogError("pgx tables", [Violation(path.name, "missing from features/pgx/")])
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in required if c not in header]
        if missing:
            raise CatalogError(
                "pgx tables", [Violation(path.name, f"lacks column(s) {', '.join(missing)}", "header")]
            )
        return [{k: (v or "").strip() for k, v in row.items()} for row in reader]


def _lookup_key(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in raw.split("|"):
        gene, _, value = part.partition("=")
        out[gene] = value
    return out


def load_pgx_tables(root: str | os.PathLike[str] | None = None) -> PgxTables:
    """Read and check features/pgx/*.tsv."""
    pdir = resolve_root(root) / "features" / "pgx"
    functions: dict[str, dict[str, AlleleFunction]] = defaultdict(dict)
    for row in _rows(
        pdir / "allele_functions.tsv", ("gene", "allele", "clinical_function", "activity_value")
    ):
        functions[row["gene"]][row["allele"]] = AlleleFunction(
            gene=row["gene"],
            allele=row["allele"],
            clinical_function=row["clinical_function"] or None,
            activity_value=row["activity_value"] or None,
            notation=row.get("notation") or "single",
        )

    score_rules: dict[str, list[ScoreRule]] = defaultdict(list)
    pairs: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    problems: list[Violation] = []
    for i, row in enumerate(
        _rows(pdir / "phenotype_rules.tsv", ("gene", "rule_type", "condition", "result")), 2
    ):
        if row["rule_type"] == "activity_score_range":
            try:
                score_rules[row["gene"]].append(
                    parse_score_condition(row["gene"], row["condition"], row["result"])
                )
            except ValueError as exc:
                problems.append(Violation(f"phenotype_rules.tsv line {i}", str(exc)))
        elif row["rule_type"] == "function_pair":
            a, _, b = row["condition"].partition(" + ")
            key: tuple[str, str] = tuple(sorted((a.strip(), b.strip())))  # type: ignore[assignment]
            pairs[row["gene"]][key] = row["result"]
    CatalogError.raise_if_any("pgx tables", problems)

    recs: list[Recommendation] = []
    by_drug: dict[str, list[Recommendation]] = defaultdict(list)
    actions = {a.value for a in ActionCode}
    for i, row in enumerate(
        _rows(pdir / "recommendations.tsv", ("drug", "genes", "lookup_key", "action_code")), 2
    ):
        where = f"recommendations.tsv line {i}"
        if row["action_code"] not in actions:
            problems.append(
                Violation(where, f"action_code must be one of {', '.join(sorted(actions))}", "string")
            )
        if row["classification"] not in CLASSIFICATIONS:
            problems.append(Violation(where, "classification is not a CPIC classification", "string"))
        if set(_lookup_key(row["lookup_key"])) != set(row["genes"].split("+")):
            problems.append(Violation(where, "lookup_key must name exactly the genes of the row"))
        rec = Recommendation(
            drug=row["drug"],
            genes=tuple(row["genes"].split("+")),
            lookup_key=_lookup_key(row["lookup_key"]),
            phenotype=row["phenotype"],
            activity_score=row["activity_score"],
            allele_status=row["allele_status"],
            population=row["population"],
            classification=row["classification"],
            action_code=row["action_code"],
            dose_adjustment=tuple(t for t in row["dose_adjustment"].split(";") if t),
            mentions_alternative=row["mentions_alternative"] == "Y",
            mentions_tdm=row["mentions_tdm"] == "Y",
            recommendation=row["recommendation"],
            implications=row["implications"],
            comments=row["comments"],
            guideline=row["guideline"],
            guideline_url=row["guideline_url"],
            guideline_latest_year=row["guideline_latest_year"],
            guideline_publications=row["guideline_publications"],
            cpic_data_version=row["cpic_data_version"],
            source=row["source"],
        )
        recs.append(rec)
        by_drug[rec.drug].append(rec)
    CatalogError.raise_if_any("pgx tables", problems)

    freqs: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in _rows(pdir / "allele_frequencies.tsv", ("gene", "allele", "biogeographic_group", "frequency")):
        freqs[row["gene"]][row["biogeographic_group"]][row["allele"]] = float(row["frequency"])

    return PgxTables(
        allele_functions=dict(functions),
        score_rules={g: tuple(r) for g, r in score_rules.items()},
        function_pairs=dict(pairs),
        recommendations=tuple(recs),
        allele_frequencies={g: {k: dict(v) for k, v in d.items()} for g, d in freqs.items()},
        sha256=sha256_of_files([pdir / f for f in TABLE_FILES], pdir),
        _by_drug={d: tuple(v) for d, v in by_drug.items()},
    )


@cache
def default_pgx_tables() -> PgxTables:
    """The tables of the default catalog root, read once per process."""
    return load_pgx_tables(None)
