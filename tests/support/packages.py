"""Build a small, real model package (trained on a synthetic cohort) for tests that need a model.

Training is real (TreatmentResponseModel on a few thousand synthetic patients, few boosting rounds), only
small; MLflow is not involved. ``build_package(dir)`` writes a package folder that ``read_package`` and the
server's ``--model-path`` accept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def build_package(
    directory: Path,
    *,
    n: int = 4000,
    seed: int = 5,
    n_estimators: int = 60,
    harms: bool = True,
    strategy: str = "t_learner",
) -> Path:
    """A package of every option of the catalog, fitted by ``strategy``; with ``harms`` (default) also the harm
    outcomes of the shipped spec (models/response_model.yaml), fitted on the same patients with the same
    settings."""
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.card import LIMITATIONS
    from precisionpain.models.config import default_config_path, load_train_config
    from precisionpain.models.estimator import TreatmentResponseModel
    from precisionpain.models.outcomes import table_means, with_observed_harms
    from precisionpain.models.package import package_metadata, write_package

    catalog = load_feature_catalog(REPO)
    options = load_treatment_options(REPO)
    tables = load_pgx_tables(REPO)
    frame = generate_cohort(n, seed, catalog=catalog, options=options, tables=tables)
    X = assemble_features(frame, catalog, tables).values
    params = {
        "n_estimators": n_estimators,
        "learning_rate": 0.1,
        "max_depth": 3,
        "early_stopping_rounds": 10,
        "n_folds": 3,
        "random_state": seed,
        "n_jobs": 1,
        "strategy": strategy,
    }
    treatment = frame["assigned_option"].to_numpy(dtype=object)
    model = TreatmentResponseModel(**params).fit(X, treatment, frame["responded"].to_numpy(dtype=float))
    harm_configs = load_train_config(default_config_path(REPO)).harms if harms else ()
    observed = with_observed_harms(frame, harm_configs, "assigned_option")
    harm_models = {
        h.name: TreatmentResponseModel(**params, single_class="prior").fit(
            X,
            treatment,
            observed[h.column].to_numpy(dtype=float),
            propensity_model=model.propensity_model_,
        )
        for h in harm_configs
    }
    metadata = package_metadata(
        model,
        X,
        catalog,
        options,
        registered_model="precisionpain-test",
        training_data=f"Synthetic cohort (PrecisionPain generator; not real patients), {n:,} patients",
        headline_metrics={"auc_mean": 0.6, "ece_max": 0.05, "dr_policy_value": 0.5},
        code_version="test",
        run_id="test-run",
        harms=harm_configs,
        table_means=table_means(
            {"response": model, **harm_models}, X, frame, [str(o) for o in model.options_]
        ),
    )
    assert np.isfinite(X).any()
    card = "# Model card (test)\n\n" + "\n".join(LIMITATIONS)
    return write_package(directory, model, metadata, REPO, card, harm_models)
