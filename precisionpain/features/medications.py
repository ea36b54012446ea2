"""The medication list in the feature layer: its flat form, its checks and what features read of it.

A profile's ``medications`` (a top-level ``medication_list`` field of the feature catalog) is one flat column of
catalog generic names joined by ``"; "`` (empty or missing: none recorded), so cohort files, training tables and
single profiles stay one code path. Every name is resolved against features/medications.yaml through
:func:`precisionpain.safety.medication_violations`, the check the safety engine uses: an unknown name is a
violation at ``medications[i].name``, never ignored.

The medication catalog and the phenoconversion method (models/safety_rules.yaml) are read from the feature
catalog's own root, once per catalog.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.errors import Violation, kind_of
from precisionpain.schema import MAX_MEDICATION_NAME_CHARS, MAX_MEDICATIONS, Medication

if TYPE_CHECKING:
    from precisionpain.catalog.safety import MedicationCatalog
    from precisionpain.pgx.phenoconversion import InhibitorStrength, PhenoconversionMethod

SEPARATOR = "; "
#: The longest flat value that can hold a valid list (checked before the text is split).
MAX_FLAT_CHARS = MAX_MEDICATIONS * (MAX_MEDICATION_NAME_CHARS + len(SEPARATOR))


#: What was read of each loaded feature catalog's root, kept as long as the catalog itself: a model package's
#: catalog root is a temporary copy that is gone once the package is loaded, so nothing is read from it later.
_READ: weakref.WeakKeyDictionary[FeatureCatalog, tuple[MedicationCatalog, PhenoconversionMethod]] = (
    weakref.WeakKeyDictionary()
)
_READ_LOCK = threading.Lock()


def read_safety_inputs(catalog: FeatureCatalog) -> tuple[MedicationCatalog, PhenoconversionMethod]:
    """features/medications.yaml and the phenoconversion method of models/safety_rules.yaml of the catalog's root,
    read once per catalog (call it while the root exists: :func:`precisionpain.models.package.read_package` does)."""
    with _READ_LOCK:
        found = _READ.get(catalog)
        if found is None:
            from precisionpain.catalog.loader import load_treatment_options
            from precisionpain.catalog.safety import load_medication_catalog, load_safety_rules

            meds = load_medication_catalog(catalog.root)
            options = load_treatment_options(catalog.root)
            found = _READ[catalog] = (meds, load_safety_rules(catalog, options, meds, catalog.root).method)
        return found


def medication_catalog(catalog: FeatureCatalog) -> MedicationCatalog:
    """features/medications.yaml of the feature catalog's root (read once per catalog)."""
    return read_safety_inputs(catalog)[0]


def phenoconversion_method(catalog: FeatureCatalog) -> PhenoconversionMethod:
    """The phenoconversion method of the catalog root's safety rules (models/safety_rules.yaml), the numbers the
    safety engine uses, so the model's functional activity and the rules' functional phenotype agree."""
    return read_safety_inputs(catalog)[1]


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and value != value


def join_names(medications: Sequence[Medication], catalog: FeatureCatalog) -> str | None:
    """The flat value of a profile's list: catalog generic names (a name the catalog does not know is kept as
    given, for validation to report) joined by ``"; "``; None for an empty list."""
    if not medications:
        return None
    meds = medication_catalog(catalog)
    names: list[str] = []
    for m in medications:
        row = meds.by_name(m.name)
        names.append(row.name if row is not None else m.name)
    return SEPARATOR.join(names)


def split_names(text: str) -> list[str]:
    """The names of a flat value (bounded by the caller: see :func:`flat_problems`); blanks are dropped."""
    return [part.strip() for part in text.split(";") if part.strip()]


def flat_problems(value: Any) -> tuple[list[str], list[Violation]]:
    """A flat value's names, or the violations of its shape (type, length, count, name length) at
    ``medications[...]``; the text is bounded before it is split."""
    if is_missing(value):
        return [], []
    if not isinstance(value, str):
        return [], [Violation("medications", "must be text: generic names joined by '; '", kind_of(value))]
    if len(value) > MAX_FLAT_CHARS:
        return [], [Violation("medications", f"must be at most {MAX_FLAT_CHARS} characters", "string")]
    names = split_names(value)
    problems = []
    if len(names) > MAX_MEDICATIONS:
        problems.append(Violation("medications", f"must list at most {MAX_MEDICATIONS} medications", "list"))
    for i, name in enumerate(names):
        if len(name) > MAX_MEDICATION_NAME_CHARS:
            problems.append(
                Violation(
                    f"medications[{i}].name",
                    f"must be at most {MAX_MEDICATION_NAME_CHARS} characters",
                    "string",
                )
            )
    return names, problems


def catalog_problems(medications: Sequence[Medication], catalog: FeatureCatalog) -> list[Violation]:
    """Names and RxCUIs against the medication catalog, through the safety layer's own check."""
    if not medications:
        return []
    from precisionpain.safety import medication_violations

    return medication_violations(medications, medication_catalog(catalog))


def raw_problems(raw: Any, catalog: FeatureCatalog, failed: Sequence[str]) -> list[Violation]:
    """The catalog check over a raw (JSON) list that failed the schema somewhere: every item that passed its own
    schema rules is resolved; items under a path in ``failed`` are not read again."""
    if not isinstance(raw, list | tuple):
        return []
    out: list[Violation] = []
    for i, item in enumerate(raw[:MAX_MEDICATIONS]):
        where = f"medications[{i}]"
        if any(p == where or p.startswith(where + ".") or p == "medications" for p in failed):
            continue
        try:
            med = Medication.model_validate(item)
        except ValueError:
            continue
        out += [
            Violation(where + v.path.removeprefix("medications[0]"), v.rule, v.received)
            for v in catalog_problems([med], catalog)
        ]
    return out


def frame_problems(
    values: np.ndarray, catalog: FeatureCatalog, rows_text: Callable[[np.ndarray], str]
) -> list[Violation]:
    """The flat column's checks, once per distinct value; each violation names the rows it was found in."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    found: dict[tuple[str, str, str], list[np.ndarray]] = {}
    for code, value in enumerate(uniques):
        names, problems = flat_problems(value)
        if not problems:
            problems = catalog_problems([Medication(name=n) for n in names], catalog)
        for v in problems:
            found.setdefault((v.path, v.rule, v.received), []).append(np.flatnonzero(codes == code))
    return [
        Violation(path, f"{rule} ({rows_text(np.sort(np.concatenate(rows)))})", received)
        for (path, rule, received), rows in found.items()
    ]


def strongest_strength(names: Sequence[str], gene: str, catalog: FeatureCatalog) -> InhibitorStrength | None:
    """The strongest inhibition of ``gene`` among the named medicines (``none`` if no inhibitor); None when a name
    is not in the catalog (the inhibition cannot be known)."""
    from precisionpain.pgx.phenoconversion import STRENGTH_ORDER, InhibitorStrength

    meds = medication_catalog(catalog)
    strengths = set()
    for name in names:
        row = meds.by_name(name)
        if row is None:
            return None
        strengths.add(row.strength(gene))
    return next((s for s in STRENGTH_ORDER if s in strengths), InhibitorStrength.none)


def strongest_strengths(values: np.ndarray, gene: str, catalog: FeatureCatalog) -> np.ndarray:
    """Per row of a flat column, the strongest inhibition of ``gene`` (object array; None = unknown name)."""
    out = np.empty(len(values), dtype=object)
    cache: dict[Any, Any] = {}
    if len(values) > 64:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        table = np.empty(len(uniques) + 1, dtype=object)
        for k, value in enumerate(uniques):
            table[k] = _strength_of(value, gene, catalog)
        table[-1] = _strength_of(None, gene, catalog)
        out[:] = table[codes]
        return out
    for i, value in enumerate(values):
        key = None if is_missing(value) else value
        if key not in cache:
            cache[key] = _strength_of(key, gene, catalog)
        out[i] = cache[key]
    return out


def _strength_of(value: Any, gene: str, catalog: FeatureCatalog) -> Any:
    names, problems = flat_problems(value)
    if problems:
        return None
    return strongest_strength(names, gene, catalog)


def medications_of(row: Mapping[str, Any], field_id: str) -> list[dict[str, Any]]:
    """The profile's list (``[{"name": ...}]``) from a flat row; empty when missing or blank."""
    value = row.get(field_id)
    if is_missing(value):
        return []
    if (
        not isinstance(value, str) or len(value) > MAX_FLAT_CHARS
    ):  # not split: the schema reports it as one name
        return [{"name": value}]
    return [{"name": n} for n in split_names(value)]
