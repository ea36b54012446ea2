"""Explained recommendations for the report tests, built without a trained model.

The real stages run (profile validation, feature assembly, CPIC ranking, data warnings); only the model is
replaced by a small deterministic additive score per option: each feature contributes
``w[option, feature] * tanh((x - centre) / spread)`` (a fixed amount when missing), so the contributions are
exact SHAP values of that score and ``base + sum(contributions) == margin`` holds by construction.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionpain.catalog.guidelines import GuidelineCatalog, load_guideline_catalog
from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog
from precisionpain.catalog.types import Domain, FeatureSpec
from precisionpain.explain import display
from precisionpain.features.assemble import assemble_features
from precisionpain.features.validate import validate_profile
from precisionpain.pgx.tables import PgxTables
from precisionpain.ranking import data_warnings, rank_options
from precisionpain.safety import SafetyCatalogs, apply_safety_rules, load_safety_catalogs
from precisionpain.schema import (
    Contribution,
    ExplainedRecommendation,
    Interval,
    ModelSummary,
    OptionExplanation,
    OptionPrediction,
    PatientProfile,
    Provenance,
    SubgroupGap,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "patients"
#: every example patient, by file name without ".json"
EXAMPLE_NAMES = tuple(p.stem for p in sorted(EXAMPLES.glob("*.json")))
GENERATED_AT = "2026-11-22T09:30:00Z"
TOP_K = 10

# typical centre and spread of features whose valid range is much wider than the usual values
TYPICAL: dict[str, tuple[float, float]] = {
    "age_years": (50, 15),
    "pain_duration_months": (24, 30),
    "hs_crp_mg_per_l": (2, 3),
    "il6_pg_per_ml": (5, 4),
    "tnf_alpha_pg_per_ml": (8, 5),
    "vitamin_d_25oh_ng_per_ml": (28, 10),
    "hba1c_pct": (5.8, 1.0),
    "bdnf_ng_per_ml": (8, 6),
    "hrv_rmssd_ms": (38, 15),
    "resting_hr_bpm": (70, 10),
    "sleep_minutes": (420, 60),
    "sleep_efficiency_pct": (85, 8),
    "steps_per_day": (6500, 3000),
    "skin_conductance_us": (6, 5),
    "activity_deviation_pct": (0, 25),
    "window_days": (21, 14),
}

# a few clinically plausible effects on top of small random ones (log-odds at one spread)
EFFECTS: dict[tuple[str, str], float] = {
    ("codeine", "cyp2d6_activity_score"): 0.9,
    ("tramadol", "cyp2d6_activity_score"): 0.8,
    ("amitriptyline", "pain_type_neuropathic"): 0.5,
    ("duloxetine", "pain_type_neuropathic"): 0.45,
    ("duloxetine", "phq9_total"): 0.3,
    ("pregabalin", "pain_type_neuropathic"): 0.6,
    ("gabapentin", "pain_type_neuropathic"): 0.5,
    ("carbamazepine", "pain_type_neuropathic"): 0.6,
    ("celecoxib", "hs_crp_mg_per_l"): 0.35,
    ("ibuprofen", "hs_crp_mg_per_l"): 0.3,
    ("physical_therapy", "tsk_pct_of_range"): -0.5,
    ("physical_therapy", "pseq_total"): 0.4,
    ("guided_icbt", "pcs_total"): 0.35,
    ("mindfulness", "gad7_total"): 0.3,
}

# training ranges a model would record (narrower than the catalog's valid ranges)
TRAINING_RANGES: dict[str, tuple[float, float]] = {
    "hs_crp_mg_per_l": (0.1, 4.0),
    "steps_per_day": (800.0, 16000.0),
    "age_years": (18.0, 85.0),
    "sleep_minutes": (240.0, 600.0),
}


def load_raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def _centre_spread(spec: FeatureSpec) -> tuple[float, float]:
    if spec.id in TYPICAL:
        return TYPICAL[spec.id]
    if spec.valid_range is not None:
        lo, hi = spec.valid_range
        return (lo + hi) / 2, max((hi - lo) / 4, 1e-6)
    return 0.5, 0.5


def _weights(option_id: str, catalog: FeatureCatalog) -> tuple[float, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(option_id.encode()))
    base = float(display.logit(rng.uniform(0.3, 0.45)))
    w = rng.normal(0.0, 0.1, size=len(catalog.features))
    missing_shift = rng.normal(0.0, 0.03, size=len(catalog.features))
    for spec in catalog.features:
        effect = EFFECTS.get((option_id, spec.id))
        if effect is not None:
            w[spec.index] = effect
        elif spec.domain is Domain.pgx:  # genes act only through the listed effects
            w[spec.index] = 0.0
            missing_shift[spec.index] = 0.0
    return base, w, missing_shift


@dataclass(frozen=True)
class Scored:
    option_id: str
    base: float
    contributions: np.ndarray  # per feature, catalog order


def score(option_id: str, values: tuple[float, ...], catalog: FeatureCatalog) -> Scored:
    base, w, missing_shift = _weights(option_id, catalog)
    contrib = np.empty(len(values))
    for spec in catalog.features:
        x = values[spec.index]
        if math.isnan(x):
            contrib[spec.index] = missing_shift[spec.index]
        else:
            centre, spread = _centre_spread(spec)
            contrib[spec.index] = w[spec.index] * math.tanh((x - centre) / spread)
    return Scored(option_id, base, contrib)


def _calibrated(margin: float) -> float:
    return display.sigmoid(0.9 * margin - 0.05)


def _prediction(s: Scored) -> OptionPrediction:
    margin = s.base + float(s.contributions.sum())
    p = _calibrated(margin)
    half = 0.06 + 0.25 * p * (1 - p)
    return OptionPrediction(
        option_id=s.option_id,
        p_response=p,
        interval=Interval(lower=max(0.0, p - half), upper=min(1.0, p + half), level=0.9),
        model_name="precisionpain-response",
        model_version="3",
    )


def _explanation(
    s: Scored, values: tuple[float, ...], catalog: FeatureCatalog, top_k: int = TOP_K
) -> OptionExplanation:
    order = sorted(range(len(values)), key=lambda j: -abs(s.contributions[j]))
    top = order[:top_k]
    contributions = []
    for j in top:
        spec = catalog.features[j]
        x = values[j]
        contributions.append(
            Contribution(
                feature_id=spec.id,
                label=spec.label,
                domain=spec.domain.value,
                value=None if math.isnan(x) else x,
                unit=spec.unit,
                display_value=display.feature_value(spec, x),
                shap_value=float(s.contributions[j]),
            )
        )
    domain_totals: dict[str, float] = {}
    for spec in catalog.features:
        domain_totals[spec.domain.value] = domain_totals.get(spec.domain.value, 0.0) + float(
            s.contributions[spec.index]
        )
    other = float(sum(s.contributions[j] for j in order[top_k:]))
    margin = s.base + float(s.contributions.sum())
    return OptionExplanation(
        option_id=s.option_id,
        base_value=s.base,
        margin=margin,
        contributions=tuple(contributions),
        other_contributions=other,
        domain_totals=domain_totals,
    )


def provenance(catalog: FeatureCatalog, options: OptionCatalog, tables: PgxTables) -> Provenance:
    return Provenance(
        model_name="precisionpain-response",
        model_version="3",
        model_alias="champion",
        model_run_id="4f1c2a9e7b3d4c5e8f9a0b1c2d3e4f5a",
        catalog_id=catalog.catalog_id,
        catalog_version=catalog.version,
        catalog_sha256=catalog.sha256,
        options_catalog_sha256=options.sha256,
        code_version="0.1.0+gtest",
        cpic_data_version=tables.recommendations[0].cpic_data_version,
        generated_at=GENERATED_AT,
    )


@functools.cache
def _safety_catalogs() -> SafetyCatalogs:
    return load_safety_catalogs()


_GUIDELINES: dict[int, tuple[OptionCatalog, GuidelineCatalog]] = {}


def _guideline_catalog(options: OptionCatalog) -> GuidelineCatalog:
    """The repository's guideline catalog, read once per option catalog."""
    hit = _GUIDELINES.get(id(options))
    if hit is None or hit[0] is not options:
        hit = _GUIDELINES[id(options)] = (options, load_guideline_catalog(options))
    return hit[1]


def build_explained(
    raw: dict[str, Any],
    catalog: FeatureCatalog,
    options: OptionCatalog,
    tables: PgxTables,
    preferences: Any = None,
) -> tuple[ExplainedRecommendation, PatientProfile]:
    """Run the real stages around the stand-in model for one raw profile (``preferences``: the request's ranking
    preferences, :class:`precisionpain.benefit_harm.Preferences`; default the model's)."""
    from precisionpain.benefit_harm import NO_PREFERENCES

    profile = validate_profile(raw, catalog, tables)
    features = assemble_features(profile, catalog, tables)
    scored = [score(o.id, features.values, catalog) for o in options.options]
    predictions = [_prediction(s) for s in scored]
    warnings = data_warnings(profile, features, catalog, TRAINING_RANGES)
    ranked = rank_options(
        profile,
        predictions,
        options,
        tables,
        provenance(catalog, options, tables),
        safety=apply_safety_rules(profile, _safety_catalogs()),
        warnings=warnings,
        guidelines=_guideline_catalog(options),
        preferences=preferences or NO_PREFERENCES,
    )
    explanations = tuple(_explanation(s, features.values, catalog) for s in scored)
    return ExplainedRecommendation(
        recommendation=ranked, explanations=explanations, features=features
    ), profile


def model_summary(*, synthetic: bool = True) -> ModelSummary:
    return ModelSummary(
        model_name="precisionpain-response",
        model_version="3",
        model_alias="champion",
        run_id="4f1c2a9e7b3d4c5e8f9a0b1c2d3e4f5a",
        trained_at="2026-11-20T14:02:00Z",
        strategy="ipw_t_learner",
        intended_use="Ranks treatment options for adults with chronic pain by the predicted chance of "
        "response, for review by a clinician.",
        training_data="Synthetic cohort (n=20,000, seed 7): simulated patients, not real people."
        if synthetic
        else "Registry cohort (n=4,200).",
        synthetic_training_data=synthetic,
        validation_metrics={
            "auc_mean": 0.684,
            "auc_min": 0.612,
            "ece_max": 0.041,
            "dr_policy_value": 0.463,
            "dr_policy_value_ci_low": 0.441,
            "dr_policy_value_ci_high": 0.486,
            "regret": 0.031,
            "subgroup_sex_auc_gap": 0.018,
        },
        subgroup_gaps=(
            SubgroupGap(
                factor="sex", metric="auc", largest_gap=0.018, groups={"female": 0.69, "male": 0.672}
            ),
            SubgroupGap(
                factor="biogeographic_group",
                metric="auc",
                largest_gap=0.071,
                groups={"european": 0.692, "east_asian": 0.655, "sub_saharan_african": 0.621},
            ),
        ),
        limitations=(
            "Who received which treatment in the training data was not randomised; estimates adjust for "
            "measured confounders only.",
            "Not evaluated for people under 18, for cancer pain or for acute pain.",
        ),
    )
