"""Validate a patient profile against the schema *and* the feature catalog, collecting every violation.

Structure and vocabularies come from :mod:`precisionpain.schema`; units, valid ranges, required fields and
cross-field rules from features/*.yaml; CYP gene results are checked against the CPIC tables; the medication
list against features/medications.yaml (an unknown name is a violation at ``medications[i].name``), with the
same check for a JSON profile, a converted proto message and a flat table. The error lists every problem with
its field path, the rule and the kind of value received, never the value itself.

A field that fails the schema (too long, wrong type) is reported for that and not parsed any further: the CPIC
reading of a gene result only runs on parts that passed their length check.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from precisionpain.catalog.loader import FeatureCatalog, default_feature_catalog, pydantic_violations
from precisionpain.catalog.types import Constraint, FieldType, MissingPolicy
from precisionpain.errors import ProfileValidationError, Violation, kind_of
from precisionpain.features import medications as meds
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import PgxTables
from precisionpain.schema import PatientProfile

Getter = Callable[[str, str], Any]


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _fmt(x: float) -> str:
    return f"{x:g}"


def range_rule(lo: float, hi: float, unit: str) -> str:
    u = "" if unit in ("1", "") else f" ({unit})"
    return f"must be between {_fmt(lo)} and {_fmt(hi)}{u}"


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def catalog_violations(get: Getter, catalog: FeatureCatalog, *, structural_ok: bool) -> list[Violation]:
    """Ranges, integrality, required fields and cross-field rules, read through ``get(section, field)``."""
    out: list[Violation] = []
    for f in catalog.field_rows:
        value = get(f.section, f.id)
        if value is None:
            if f.required and structural_ok:
                out.append(Violation(f.path, "required"))
            continue
        if f.valid_range is not None and _numeric(value):
            if isinstance(value, float) and not math.isfinite(value):
                continue  # the schema reports non-finite numbers
            lo, hi = f.valid_range
            if not lo <= value <= hi:
                out.append(Violation(f.path, range_rule(lo, hi, f.unit), kind_of(value)))
            elif f.type is FieldType.integer and isinstance(value, float) and not value.is_integer():
                out.append(Violation(f.path, "must be a whole number", kind_of(value)))
    for c in catalog.constraints:
        a_spec, b_spec = catalog.field(c.fields[0]), catalog.field(c.fields[1])
        a, b = get(a_spec.section, a_spec.id), get(b_spec.section, b_spec.id)
        if c.allowed is not None:
            rule = _level_rule(c, a, b, b_spec.path)
            if rule is not None:
                out.append(Violation(a_spec.path, rule, kind_of(a)))
        elif _numeric(a) and _numeric(b) and a > b:
            out.append(Violation(a_spec.path, f"must not exceed {b_spec.path} ({c.description})", kind_of(a)))
    return out


def _level_rule(c: Constraint, a: Any, b: Any, b_name: str) -> str | None:
    """The rule a pair of levels breaks under a ``levels_allowed`` constraint, or None. Values that are not
    levels of their fields (the schema reports those) break nothing here."""
    assert c.allowed is not None
    if not isinstance(a, str) or not isinstance(b, str) or a not in c.allowed:
        return None
    partners = c.allowed[a]
    if b in partners or not any(b in levels for levels in c.allowed.values()):
        return None
    return f"{a} requires {b_name} {' or '.join(partners)}"


def gene_violations(
    get: Getter, catalog: FeatureCatalog, tables: PgxTables, *, failed: Collection[str] = ()
) -> list[Violation]:
    """CYP gene results against the CPIC tables (unknown alleles, disagreeing phenotype or score).

    Genes with a path in ``failed`` (or under one) already broke a schema rule and are not read again.
    """
    out: list[Violation] = []
    for spec in catalog.field_rows:
        if spec.type is not FieldType.pgx_gene:
            continue
        if any(p == spec.path or p.startswith(spec.path + ".") for p in failed):
            continue
        result = get(spec.section, spec.id)
        if result is None:
            continue
        parts = [
            result.get(k) if isinstance(result, Mapping) else getattr(result, k, None)
            for k in ("diplotype", "phenotype", "activity_score")
        ]
        if not all(p is None or isinstance(p, str) for p in parts):
            continue  # the schema reports non-string parts
        resolved = resolve_gene(spec.id.upper(), parts[0], parts[1], parts[2], tables)
        for part, rule in resolved.problems:
            out.append(Violation(f"{spec.path}.{part}", rule, "string"))
    return out


def _json_object(text: str | bytes) -> Any:
    """Parse JSON text; what cannot be read (syntax, encoding, a number of thousands of digits, nesting deeper
    than the parser's recursion limit) is one violation at the root."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        rule = f"is not valid JSON{where}"
    except ValueError:  # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        rule = "is not readable JSON: a number has too many digits"
    except RecursionError:
        rule = "is not readable JSON: nested too deeply"
    raise ProfileValidationError("patient profile", [Violation("(root)", rule, "text")])


def validate_profile(
    raw: PatientProfile | Mapping[str, Any] | str | bytes,
    catalog: FeatureCatalog | None = None,
    tables: PgxTables | None = None,
) -> PatientProfile:
    """Parse and check one profile; raise :class:`ProfileValidationError` listing every violation."""
    cat = catalog or default_feature_catalog()
    tbl = _tables(tables)
    if isinstance(raw, str | bytes):
        raw = _json_object(raw)
    if isinstance(raw, PatientProfile):
        profile: PatientProfile | None = raw
        violations: list[Violation] = []
    elif isinstance(raw, Mapping):
        try:
            profile = PatientProfile.model_validate(raw)
            violations = []
        except pydantic.ValidationError as err:
            profile = None
            violations = pydantic_violations(err)
    else:
        raise ProfileValidationError(
            "patient profile", [Violation("(root)", "must be a JSON object", kind_of(raw))]
        )

    if profile is not None:
        dumped = profile.model_dump()

        def get(section: str, field: str) -> Any:
            return dumped[section][field]

        violations += catalog_violations(get, cat, structural_ok=True)
        violations += gene_violations(get, cat, tbl)
        for spec in cat.medication_list_fields:
            violations += meds.catalog_problems(getattr(profile, spec.id), cat)
    else:
        data = raw if isinstance(raw, Mapping) else {}

        def get_raw(section: str, field: str) -> Any:
            sec = data.get(section)
            return sec.get(field) if isinstance(sec, Mapping) else None

        already = {v.path for v in violations}
        extra = catalog_violations(get_raw, cat, structural_ok=False)
        extra += gene_violations(get_raw, cat, tbl, failed=already)
        for spec in cat.medication_list_fields:
            extra += meds.raw_problems(data.get(spec.id), cat, sorted(already))
        violations += [v for v in extra if v.path not in already]
    ProfileValidationError.raise_if_any("patient profile", violations)
    assert profile is not None
    return profile


def _rows_text(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"rows {shown}{more}"


def frame_violations(
    frame: pd.DataFrame, catalog: FeatureCatalog, tables: PgxTables | None = None
) -> list[Violation]:
    """The same catalog rules over a flat table (column per field); rows are named by position."""
    from precisionpain.features.frame import GENE_PARTS

    tbl = _tables(tables)
    out: list[Violation] = []
    for spec in catalog.input_fields:
        f = spec.field
        if f.type is FieldType.pgx_gene:
            cols = [f"{spec.id}_{part}" for part in GENE_PARTS[:3]]
            if not any(c in frame.columns for c in cols):
                continue
            parts = [
                frame[c].to_numpy(dtype=object) if c in frame.columns else np.full(len(frame), None)
                for c in cols
            ]
            bad: dict[tuple[str, str], list[int]] = {}
            keys = pd.Series(list(zip(*parts, strict=True)), dtype=object)
            codes, uniques = pd.factorize(keys)
            for code, key in enumerate(uniques):
                clean = tuple(
                    None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else str(v)
                    for v in key
                )
                resolved = resolve_gene(spec.id.upper(), clean[0], clean[1], clean[2], tbl)
                for problem in resolved.problems:
                    bad.setdefault(problem, []).extend(np.flatnonzero(codes == code).tolist())
            for (part, rule), rows in bad.items():
                out.append(
                    Violation(f"{spec.id}_{part}", f"{rule} ({_rows_text(np.array(sorted(rows)))})", "string")
                )
            continue
        if f.type is FieldType.medication_list:
            if f.id in frame.columns:
                out += meds.frame_problems(frame[f.id].to_numpy(dtype=object), catalog, _rows_text)
            continue
        if f.id not in frame.columns:
            if f.missing is MissingPolicy.required:
                out.append(Violation(f.id, "required column is absent", "no column"))
            continue
        col = frame[f.id]
        missing = col.isna().to_numpy()
        if f.missing is MissingPolicy.required and missing.any():
            out.append(Violation(f.id, f"required ({_rows_text(np.flatnonzero(missing))} missing)", "null"))
        if f.type is FieldType.category and f.levels is not None:
            unknown = ~col.isin(f.levels).to_numpy() & ~missing
            if unknown.any():
                out.append(
                    Violation(
                        f.id,
                        f"must be one of {', '.join(f.levels)} ({_rows_text(np.flatnonzero(unknown))})",
                        "string",
                    )
                )
        if f.valid_range is not None:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            not_numeric = np.isnan(values) & ~missing
            if not_numeric.any():
                out.append(
                    Violation(f.id, f"must be a number ({_rows_text(np.flatnonzero(not_numeric))})", "string")
                )
            lo, hi = f.valid_range
            outside = (values < lo) | (values > hi)
            if outside.any():
                out.append(
                    Violation(
                        f.id,
                        f"{range_rule(lo, hi, f.unit)} ({_rows_text(np.flatnonzero(outside))})",
                        "number",
                    )
                )
    for c in catalog.constraints:
        if c.allowed is not None and all(fid in frame.columns for fid in c.fields):
            out += _frame_level_problems(c, frame)
    return out


def _frame_level_problems(c: Constraint, frame: pd.DataFrame) -> list[Violation]:
    """A ``levels_allowed`` constraint over a flat table: one violation per broken pair, naming its rows."""
    pairs = pd.Series(list(zip(frame[c.fields[0]], frame[c.fields[1]], strict=True)), dtype=object)
    codes, uniques = pd.factorize(pairs)
    out: list[Violation] = []
    for code, (a, b) in enumerate(uniques):
        rule = _level_rule(c, a, b, c.fields[1])
        if rule is not None:
            out.append(
                Violation(c.fields[0], f"{rule} ({_rows_text(np.flatnonzero(codes == code))})", "string")
            )
    return out
