"""generate_cohort: the synthetic cohort as one DataFrame (profile columns, observed treatment, ground truth).

Randomness depends only on (seed, chunk index, stage): chunk k's stage s draws from
``numpy.random.SeedSequence(seed, spawn_key=(k, s))``. So the same (n, seed, chunk_size) always gives the same
frame, whatever the timing, and the rows of a complete chunk do not depend on n.

Columns:

- ``patient_id`` ("SYN-0000001", ...);
- every flat profile column of the feature catalog (:func:`precisionpain.features.frame.flat_columns`), with
  missing values;
- ``assigned_option`` (the option the prescriber chose) and ``responded`` (0/1, its observed response);
- ground truth, which evaluation may read and training must not: ``true_p_response__<option>``,
  ``true_response__<option>``, ``true_adverse_event__<option>``, ``true_dropout__<option>``,
  ``true_propensity__<option>``, ``true_p_adverse_event__<option>``, ``true_p_dropout__<option>``,
  ``true_p_natural_course``, ``true_p_placebo``, the hidden genotypes and group (``true_cyp2d6_diplotype``, ...),
  the hidden condition, skin tone, engagement and true wearable readings (``true_pain_condition``,
  ``true_dark_skin``, ``true_engagement``, ``true_sleep_efficiency_pct``, ``true_hrv_rmssd_ms``) and the hidden
  safety inputs behind the recorded ones (``true_medications``, ``true_egfr_ml_per_min_1_73m2``, ...).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog, default_feature_catalog
from precisionpain.catalog.safety import MedicationCatalog
from precisionpain.catalog.types import FieldType, MissingPolicy
from precisionpain.cohort import params as P
from precisionpain.cohort.assignment import draw_assignment, policy_covariates, propensities
from precisionpain.cohort.genetics import CYP_GENES, OPRM1_GENOTYPES, GenotypeModel, observe_genotypes
from precisionpain.cohort.medications import MedicationModel, observe_medications
from precisionpain.cohort.outcomes import draw_outcomes, outcome_probabilities
from precisionpain.cohort.population import (
    GROUPS,
    draw_clinical_safety,
    draw_population,
    observe_clinical_safety,
    observe_population,
)
from precisionpain.errors import ConfigError, Violation, kind_of
from precisionpain.features.frame import GENE_PARTS
from precisionpain.features.medications import medication_catalog
from precisionpain.pgx.tables import PgxTables

COHORT_SCHEMA_VERSION = P.COHORT_SCHEMA_VERSION
DEFAULT_CHUNK_SIZE = 100_000
PATIENT_ID_PREFIX = "SYN-"
TRUE_PREFIX = "true_"
# Per-option ground-truth column families, in output order: (prefix, kind).
PER_OPTION_TRUTH: tuple[tuple[str, str], ...] = (
    ("true_p_response__", "float"),
    ("true_response__", "binary"),
    ("true_adverse_event__", "binary"),
    ("true_dropout__", "binary"),
    ("true_propensity__", "float"),
    ("true_p_adverse_event__", "float"),
    ("true_p_dropout__", "float"),
)
# Hidden truth columns after the per-option families, in output order, with their kinds.
HIDDEN_TRUTH_KINDS: MappingProxyType[str, str] = MappingProxyType(
    {
        "true_p_natural_course": "float",
        "true_p_placebo": "float",
        "true_biogeographic_group": "str",
        **{f"true_{g.lower()}_{part}": "str" for g in CYP_GENES for part in ("diplotype", "phenotype")},
        "true_hla_b_1502": "str",
        "true_hla_a_3101": "str",
        "true_oprm1_rs1799971": "str",
        "true_comt_rs4680": "str",
        "true_carbamazepine_prior_use_over_3_months": "bool",
        "true_medications": "str",
        "true_egfr_ml_per_min_1_73m2": "float",
        "true_hepatic_impairment": "str",
        "true_pregnant": "bool",
        "true_breastfeeding": "bool",
        "true_opioid_mme_per_day": "float",
        "true_history_gi_bleed": "bool",
        "true_cardiovascular_disease": "bool",
        "true_seizure_disorder": "bool",
        "true_pain_condition": "str",
        "true_dark_skin": "bool",
        "true_engagement": "float",
        "true_sleep_efficiency_pct": "float",
        "true_hrv_rmssd_ms": "float",
    }
)
HIDDEN_TRUTH: tuple[str, ...] = tuple(HIDDEN_TRUTH_KINDS)
# Random streams per chunk. New stages take new numbers, so the streams of the others stay as they were.
_STAGES = MappingProxyType(
    {"population": 0, "genotypes": 1, "observe_population": 2, "observe_genotypes": 3, "assignment": 4,
     "patient_effects": 5, "outcomes": 6, "safety_inputs": 7, "medications": 8, "observe_safety": 9,
     "condition": 10, "measurement": 11}
)  # fmt: skip


def _rng(seed: int, chunk: int, stage: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk, _STAGES[stage])))


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_arguments(n: object, seed: object, chunk_size: object) -> None:
    problems: list[Violation] = []
    if not _is_int(n) or int(n) < 0:  # type: ignore[call-overload]
        problems.append(Violation("n", "must be a whole number >= 0", kind_of(n)))
    if not _is_int(seed) or int(seed) < 0:  # type: ignore[call-overload]
        problems.append(Violation("seed", "must be a whole number >= 0", kind_of(seed)))
    if not _is_int(chunk_size) or int(chunk_size) < 1:  # type: ignore[call-overload]
        problems.append(Violation("chunk_size", "must be a whole number >= 1", kind_of(chunk_size)))
    ConfigError.raise_if_any("cohort arguments", problems)


def _option_ids(options: OptionCatalog | None) -> tuple[str, ...]:
    if options is None:
        from precisionpain.catalog.loader import default_treatment_options

        options = default_treatment_options()
    ids = tuple(options.ids)
    problems = [
        Violation(f"options.{o}", "has no data-generating parameters in precisionpain.cohort.params")
        for o in ids
        if o not in P.OPTION_SPECS or o not in P.POLICY_COEFFICIENTS or o not in P.POLICY_INTERCEPTS
    ]
    if len(ids) < 2:
        problems.append(Violation("options", "must list at least two options", "list"))
    ConfigError.raise_if_any("cohort treatment options", problems)
    return ids


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _medications(medications: MedicationCatalog | None, catalog: FeatureCatalog) -> MedicationCatalog:
    """The given medication catalog, or the feature catalog root's (read once per feature catalog)."""
    return medications if medications is not None else medication_catalog(catalog)


def _column_kinds(catalog: FeatureCatalog) -> dict[str, str]:
    """Flat column -> "float" | "bool" | "str", from the catalog's field types."""
    kinds: dict[str, str] = {}
    for spec in catalog.input_fields:
        t = spec.field.type
        if t is FieldType.pgx_gene:
            kinds.update({f"{spec.id}_{part}": "str" for part in GENE_PARTS})
        elif t in (FieldType.number, FieldType.integer):
            kinds[spec.id] = "float"
        elif t is FieldType.boolean:
            kinds[spec.id] = "bool"
        else:
            kinds[spec.id] = "str"
    return kinds


def _generated_profile_columns() -> frozenset[str]:
    genes = (f"{g.lower()}_{part}" for g in CYP_GENES for part in GENE_PARTS)
    return frozenset(
        (
            "age_years", "sex", "biogeographic_group", "pain_type", "pain_duration_months", "baseline_nrs",
            "bpi_severity", "bpi_interference", "paindetect_score", "dn4_score", "diabetes",
            "carbamazepine_prior_use_over_3_months", "current_opioid_use", "painchek_total",
            "gait_speed_m_per_s", *genes, "hla_b_1502", "hla_a_3101", "oprm1_rs1799971", "comt_rs4680",
            "hs_crp_mg_per_l", "il6_pg_per_ml", "tnf_alpha_pg_per_ml", "vitamin_d_25oh_ng_per_ml", "hba1c_pct",
            "bdnf_ng_per_ml", "window_days", "hrv_rmssd_ms", "resting_hr_bpm", "sleep_minutes",
            "sleep_efficiency_pct", "steps_per_day", "skin_conductance_us", "activity_deviation_pct",
            "pcs_total", "phq9_total", "phq9_item9", "gad7_total", "tsk11_total", "tsk17_total", "pseq_total",
            "egfr_ml_per_min_1_73m2", "hepatic_impairment", "pregnant", "gestational_age_weeks", "breastfeeding",
            "opioid_mme_per_day", "history_gi_bleed", "cardiovascular_disease", "seizure_disorder", "medications",
            "pain_condition", "prior_programme_completed", "app_use_days_per_week",
        )
    )  # fmt: skip


def _check_catalog(catalog: FeatureCatalog) -> None:
    """The catalog's required fields are generated, and the generated conditions are the catalog's, each drawn
    only with a pain type the catalog allows for it."""
    generated = _generated_profile_columns()
    problems = [
        Violation(spec.id, "is required by the feature catalog but the cohort generator does not produce it")
        for spec in catalog.fields
        if spec.field.missing is MissingPolicy.required and spec.id not in generated
    ]
    if catalog.has_field("pain_condition"):
        levels = catalog.field("pain_condition").field.levels or ()
        if tuple(levels) != tuple(P.PAIN_CONDITIONS):
            problems.append(
                Violation(
                    "pain_condition", "must list the conditions of params.PAIN_CONDITIONS, in that order"
                )
            )
        for c in catalog.constraints:
            if c.allowed is None or tuple(c.fields) != ("pain_condition", "pain_type"):
                continue
            for pain_type, weights in P.CONDITION_WEIGHTS.items():
                for condition in weights:
                    if pain_type not in c.allowed.get(condition, ()):
                        problems.append(
                            Violation(
                                f"params.CONDITION_WEIGHTS.{pain_type}.{condition}",
                                f"is a pair the catalog's constraint {c.id} does not allow",
                            )
                        )
    ConfigError.raise_if_any("cohort feature catalog", problems)


def _label(values: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    return np.asarray(labels, dtype=object)[values]


def _chunk(
    seed: int,
    chunk: int,
    n: int,
    model: GenotypeModel,
    medicines: MedicationModel,
    option_ids: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """All columns of one chunk as numpy arrays (object arrays for text and nullable booleans)."""
    pop = draw_population(_rng(seed, chunk, "population"), n, _rng(seed, chunk, "condition"))
    geno = model.draw(_rng(seed, chunk, "genotypes"), pop.group)
    safety = draw_clinical_safety(_rng(seed, chunk, "safety_inputs"), pop)
    meds = medicines.draw(_rng(seed, chunk, "medications"), pop, safety)
    cols = observe_population(_rng(seed, chunk, "observe_population"), pop, _rng(seed, chunk, "measurement"))
    cols.update(
        observe_genotypes(
            _rng(seed, chunk, "observe_genotypes"), geno, cols["biogeographic_group"], pop.pain_type
        )
    )
    observe = _rng(seed, chunk, "observe_safety")
    cols.update(observe_clinical_safety(observe, pop, safety, cols["current_opioid_use"]))
    cols.update(observe_medications(observe, meds))
    prop = propensities(policy_covariates(cols, geno, medicines), option_ids)
    assigned = draw_assignment(_rng(seed, chunk, "assignment"), prop)
    exposures = medicines.exposures(meds)
    probs = outcome_probabilities(
        _rng(seed, chunk, "patient_effects"), pop, geno, option_ids, safety, exposures
    )
    sampled = draw_outcomes(_rng(seed, chunk, "outcomes"), probs)
    rows = np.arange(n)
    cols["assigned_option"] = _label(assigned, option_ids)
    cols["responded"] = sampled.response[rows, assigned]
    families = {
        "true_p_response__": probs.p_response,
        "true_response__": sampled.response,
        "true_adverse_event__": sampled.adverse_event,
        "true_dropout__": sampled.dropout,
        "true_propensity__": prop,
        "true_p_adverse_event__": probs.p_adverse_event,
        "true_p_dropout__": probs.p_dropout,
    }
    for prefix, _ in PER_OPTION_TRUTH:
        matrix = families[prefix]
        for k, option in enumerate(option_ids):
            cols[f"{prefix}{option}"] = np.ascontiguousarray(matrix[:, k])
    cols["true_p_natural_course"] = probs.p_natural
    cols["true_p_placebo"] = probs.p_placebo
    cols["true_biogeographic_group"] = _label(pop.group, GROUPS)
    for gene in CYP_GENES:
        cols[f"true_{gene.lower()}_diplotype"] = geno.cyp[gene].diplotype
        cols[f"true_{gene.lower()}_phenotype"] = geno.cyp[gene].phenotype
    cols["true_hla_b_1502"] = np.where(geno.hla_b_1502, "positive", "negative").astype(object)
    cols["true_hla_a_3101"] = np.where(geno.hla_a_3101, "positive", "negative").astype(object)
    cols["true_oprm1_rs1799971"] = _label(geno.oprm1_g, OPRM1_GENOTYPES)
    cols["true_comt_rs4680"] = _label(geno.comt, P.COMT_GENOTYPES)
    cols["true_carbamazepine_prior_use_over_3_months"] = pop.carbamazepine_prior
    cols["true_medications"] = meds.names()
    cols["true_egfr_ml_per_min_1_73m2"] = safety.egfr
    cols["true_hepatic_impairment"] = _label(safety.hepatic, P.HEPATIC_CLASSES)
    cols["true_pregnant"] = safety.pregnant
    cols["true_breastfeeding"] = safety.breastfeeding
    cols["true_opioid_mme_per_day"] = safety.opioid_mme
    cols["true_history_gi_bleed"] = safety.gi_bleed
    cols["true_cardiovascular_disease"] = safety.cvd
    cols["true_seizure_disorder"] = safety.seizure
    cols["true_pain_condition"] = _label(pop.pain_condition, P.PAIN_CONDITIONS)
    cols["true_dark_skin"] = pop.dark_skin
    cols["true_engagement"] = pop.engagement
    cols["true_sleep_efficiency_pct"] = pop.sleep_efficiency
    cols["true_hrv_rmssd_ms"] = pop.rmssd
    return cols


def _column_kinds_all(profile_kinds: Mapping[str, str], option_ids: Sequence[str]) -> dict[str, str]:
    kinds: dict[str, str] = {
        "patient_id": "str",
        **profile_kinds,
        "assigned_option": "str",
        "responded": "binary",
    }
    for prefix, kind in PER_OPTION_TRUTH:
        kinds.update({f"{prefix}{o}": kind for o in option_ids})
    kinds.update(HIDDEN_TRUTH_KINDS)
    return kinds


def _to_series(values: np.ndarray, kind: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    if kind == "float":
        return np.asarray(values, dtype=np.float64)
    if kind == "binary":
        return np.asarray(values, dtype=np.int8)
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    return pd.array(values, dtype="str")


def _patient_ids(start: int, stop: int, total: int) -> np.ndarray:
    width = max(7, len(str(total)))
    return np.asarray([f"{PATIENT_ID_PREFIX}{i:0{width}d}" for i in range(start + 1, stop + 1)], dtype=object)


def generate_cohort(
    n: int,
    seed: int,
    *,
    catalog: FeatureCatalog | None = None,
    options: OptionCatalog | None = None,
    tables: PgxTables | None = None,
    medications: MedicationCatalog | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Generate ``n`` synthetic patients with observed treatment and the true outcome of every option.

    The same (n, seed, chunk_size) gives an identical frame. ``progress`` is called after each chunk with the
    number of rows finished. ``medications`` is the medication catalog (default: the feature catalog root's
    features/medications.yaml). Raises :class:`ConfigError` for bad arguments or catalogs the DGP cannot serve.
    """
    _check_arguments(n, seed, chunk_size)
    parts_of = _ChunkMaker(catalog, options, tables, medications)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in parts_of.kinds}
    for chunk in range(cohort_chunks(n, chunk_size)):
        cols = parts_of(n, seed, chunk, chunk_size)
        for name in parts_of.kinds:
            parts[name].append(cols[name])
        if progress is not None:
            progress(min((chunk + 1) * chunk_size, n))
    return parts_of.frame(parts, n)


def cohort_chunks(n: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """How many chunks (partitions) a cohort of ``n`` patients has."""
    return math.ceil(n / chunk_size)


def generate_chunk(
    n: int,
    seed: int,
    chunk: int,
    *,
    catalog: FeatureCatalog | None = None,
    options: OptionCatalog | None = None,
    tables: PgxTables | None = None,
    medications: MedicationCatalog | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> pd.DataFrame:
    """Rows ``chunk * chunk_size`` up to ``(chunk + 1) * chunk_size`` (at most ``n``) of
    ``generate_cohort(n, seed, chunk_size=chunk_size, ...)``, equal to them column by column, made without the
    other chunks. One partition of a partitioned cohort: chunks draw from their own random streams, so they can
    be made in any order, in any process."""
    _check_arguments(n, seed, chunk_size)
    n_chunks = cohort_chunks(n, chunk_size)
    if not _is_int(chunk) or not 0 <= int(chunk) < max(n_chunks, 1):
        raise ConfigError(
            "cohort arguments",
            [Violation("chunk", f"must be a whole number from 0 to {max(n_chunks, 1) - 1}", kind_of(chunk))],
        )
    parts_of = _ChunkMaker(catalog, options, tables, medications)
    cols = parts_of(n, seed, int(chunk), chunk_size) if n else {}
    return parts_of.frame({name: [cols[name]] for name in cols}, len(next(iter(cols.values()), ())))


class _ChunkMaker:
    """The checked catalogs and models every chunk of a cohort is drawn with, and the output columns' kinds."""

    def __init__(
        self,
        catalog: FeatureCatalog | None,
        options: OptionCatalog | None,
        tables: PgxTables | None,
        medications: MedicationCatalog | None,
    ) -> None:
        cat = catalog or default_feature_catalog()
        _check_catalog(cat)
        self.option_ids = _option_ids(options)
        self.model = GenotypeModel(_tables(tables))
        self.medicines = MedicationModel(_medications(medications, cat))
        self.kinds = _column_kinds_all(_column_kinds(cat), self.option_ids)

    def __call__(self, n: int, seed: int, chunk: int, chunk_size: int) -> dict[str, np.ndarray]:
        """Every output column of one chunk (profile columns the generator does not make are all missing)."""
        start = chunk * chunk_size
        stop = min(start + chunk_size, n)
        cols = _chunk(seed, chunk, stop - start, self.model, self.medicines, self.option_ids)
        cols["patient_id"] = _patient_ids(start, stop, n)
        return {
            name: cols[name] if name in cols else np.full(stop - start, None, dtype=object)
            for name in self.kinds
        }

    def frame(self, parts: dict[str, list[np.ndarray]], rows: int) -> pd.DataFrame:
        data = {}
        for name, kind in self.kinds.items():
            values = np.concatenate(parts.pop(name)) if rows else np.empty(0, dtype=object)
            data[name] = _to_series(values, kind)
        return pd.DataFrame(data, copy=False)


def dgp_fingerprint() -> str:
    """sha256 over every constant in :mod:`precisionpain.cohort.params` (names and values, sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(vars(P)):
        if name.isupper():
            h.update(name.encode())
            h.update(b"=")
            h.update(repr(getattr(P, name)).encode())
            h.update(b"\n")
    return h.hexdigest()


def cohort_metadata(
    n: int,
    seed: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    catalog: FeatureCatalog | None = None,
    options: OptionCatalog | None = None,
    tables: PgxTables | None = None,
    medications: MedicationCatalog | None = None,
) -> dict[str, str]:
    """Key/value metadata to store with a written cohort (e.g. in the parquet file's metadata)."""
    _check_arguments(n, seed, chunk_size)
    cat = catalog or default_feature_catalog()
    if options is None:
        from precisionpain.catalog.loader import default_treatment_options

        options = default_treatment_options()
    try:
        version = metadata.version("precisionpain")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "precisionpain.cohort.schema_version": COHORT_SCHEMA_VERSION,
        "precisionpain.cohort.generator": "precisionpain.cohort.generate_cohort",
        "precisionpain.cohort.package_version": version,
        "precisionpain.cohort.n": str(int(n)),
        "precisionpain.cohort.seed": str(int(seed)),
        "precisionpain.cohort.chunk_size": str(int(chunk_size)),
        "precisionpain.cohort.dgp_sha256": dgp_fingerprint(),
        "precisionpain.cohort.feature_catalog_sha256": cat.sha256,
        "precisionpain.cohort.options_sha256": options.sha256,
        "precisionpain.cohort.pgx_tables_sha256": _tables(tables).sha256,
        "precisionpain.cohort.medications_sha256": _medications(medications, cat).sha256,
        "precisionpain.cohort.options": ",".join(options.ids),
        "precisionpain.cohort.outcome": "response = >=30% NRS reduction at 12 weeks (intention to treat)",
        "precisionpain.cohort.ground_truth_prefix": TRUE_PREFIX,
    }


def cohort_file_name(n: int, seed: int) -> str:
    """The file name a cohort of ``n`` patients from ``seed`` is written under when none is given."""
    return f"cohort-{n}-seed{seed}.parquet"


def write_cohort(
    frame: pd.DataFrame,
    out: Path,
    *,
    n: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    catalog: FeatureCatalog | None = None,
    options: OptionCatalog | None = None,
    tables: PgxTables | None = None,
    medications: MedicationCatalog | None = None,
) -> None:
    """Parquet (zstd) with the generator's metadata (:func:`cohort_metadata`), so a reader can tell which
    generator, size and seed made it; the same frame always gives the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    written = cohort_metadata(
        n,
        seed,
        chunk_size=chunk_size,
        catalog=catalog,
        options=options,
        tables=tables,
        medications=medications,
    )
    meta.update({k.encode(): str(v).encode() for k, v in written.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), out, compression="zstd")
