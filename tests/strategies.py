"""Hypothesis strategies that build patient profiles from the feature catalog (valid and invalid)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.catalog.types import FieldType, MissingPolicy

COMMON_ALLELES = {
    "cyp2d6": ["*1", "*2", "*3", "*4", "*5", "*9", "*10", "*17", "*41", "*1x2", "*2x≥3", "*4x2", "*68 + *4"],
    "cyp2c9": ["*1", "*2", "*3", "*5", "*8", "*11"],
    "cyp2c19": ["*1", "*2", "*3", "*17"],
}


def _gene(gene: str) -> st.SearchStrategy[dict[str, Any]]:
    alleles = st.sampled_from(COMMON_ALLELES[gene])
    diplotype = st.tuples(alleles, alleles).map(lambda ab: {"diplotype": f"{ab[0]}/{ab[1]}"})
    phenotype = st.sampled_from(
        ["Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer", "Indeterminate"]
    ).map(lambda p: {"phenotype": p})
    return st.one_of(diplotype, phenotype)


def _value(spec: Any) -> st.SearchStrategy[Any]:
    f = spec.field
    if f.type is FieldType.number:
        lo, hi = f.valid_range
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if f.type is FieldType.integer:
        lo, hi = f.valid_range
        return st.integers(int(lo), int(hi))
    if f.type is FieldType.boolean:
        return st.booleans()
    if f.type is FieldType.category:
        return st.sampled_from(list(f.levels))
    if f.type is FieldType.pgx_gene:
        return _gene(f.id)
    raise AssertionError(f.type)


@st.composite
def profile_dicts(draw: st.DrawFn, catalog: FeatureCatalog, p_missing: float = 0.3) -> dict[str, Any]:
    """A valid profile as a JSON-ready dict; each optional field is left out with probability ``p_missing``."""
    out: dict[str, dict[str, Any]] = {}
    for spec in catalog.fields:
        required = spec.field.missing is MissingPolicy.required
        if not required and draw(st.floats(0, 1)) < p_missing:
            continue
        out.setdefault(spec.section, {})[spec.id] = draw(_value(spec))
    psy = out.get("psychosocial", {})
    if "phq9_item9" in psy and "phq9_total" in psy and psy["phq9_item9"] > psy["phq9_total"]:
        psy["phq9_item9"] = psy["phq9_total"] if psy["phq9_total"] <= 3 else psy["phq9_item9"]
        psy["phq9_item9"] = min(psy["phq9_item9"], psy["phq9_total"])
    for c in catalog.constraints:  # a level the other field does not allow is drawn again from those it does
        if c.allowed is None:
            continue
        a_spec, b_spec = catalog.field(c.fields[0]), catalog.field(c.fields[1])
        a_section, b_section = out.get(a_spec.section, {}), out.get(b_spec.section, {})
        if a_spec.id in a_section and b_spec.id in b_section:
            fitting = [level for level, partners in c.allowed.items() if b_section[b_spec.id] in partners]
            if a_section[a_spec.id] not in fitting:
                a_section[a_spec.id] = draw(st.sampled_from(fitting))
    return out
