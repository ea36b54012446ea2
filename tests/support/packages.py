"""Build a small, real model package (trained on a synthetic cohort) for tests that need a model.

Training is real (TreatmentResponseModel on a few thousand synthetic patients, few boosting rounds), only
small; MLflow is not involved. ``build_package(dir)`` writes a package folder that ``read_package`` and the
server's ``--model-path`` accept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def build_package(directory: Path, *, n: int = 4000, seed: int = 5, n_estimators: int = 60) -> Path:
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.card import LIMITATIONS
    from precisionpain.models.estimator import TreatmentResponseModel
    from precisionpain.models.package import package_metadata, write_package

    catalog = load_feature_catalog(REPO)
    options = load_treatment_options(REPO)
    tables = load_pgx_tables(REPO)
    frame = generate_cohort(n, seed, catalog=catalog, options=options, tables=tables)
    X = assemble_features(frame, catalog, tables).values
    model = TreatmentResponseModel(
        n_estimators=n_estimators,
        learning_rate=0.1,
        max_depth=3,
        early_stopping_rounds=10,
        n_folds=3,
        random_state=seed,
        n_jobs=1,
    ).fit(X, frame["assigned_option"].to_numpy(dtype=object), frame["responded"].to_numpy(dtype=float))
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
    )
    assert np.isfinite(X).any()
    return write_package(directory, model, metadata, REPO, "# Model card (test)\n\n" + "\n".join(LIMITATIONS))
