"""Behavioural tests of a small trained model (tests/support/packages.py, trained on a synthetic cohort):
invariance (things that must not matter do not), directional expectations (published mechanisms the cohort
encodes), and pharmacogenomic safety (CPIC "avoid" options are never offered as usable, whatever the model says).

Checklist-style tests after Ribeiro et al. 2020 ("Beyond accuracy: behavioral testing of NLP models with
CheckList"): each perturbs inputs and checks the direction or the absence of a change, not a fixed output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

OPIOIDS_CYP2D6 = ("codeine", "tramadol")
NEUROPATHIC_DRUGS = ("gabapentin", "pregabalin", "amitriptyline")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A model trained on 45,000 synthetic patients (about 1,100-3,600 per option of 28), big enough to pick up
    the cohort's main effect modifiers; about 15 seconds on one thread."""
    from precisionpain.models.package import read_package
    from tests.support.packages import build_package

    return read_package(build_package(tmp_path_factory.mktemp("behaviour") / "package", n=45_000, seed=5, n_estimators=300))


@pytest.fixture(scope="module")
def patients(package: Any) -> pd.DataFrame:
    """3,000 new synthetic patients (another seed than the training cohort)."""
    from precisionpain.cohort import generate_cohort

    return generate_cohort(3000, 77, catalog=package.catalog, options=package.options, tables=package.tables)


def predict(package: Any, frame: pd.DataFrame) -> np.ndarray:
    from precisionpain.features.assemble import assemble_features

    return np.asarray(package.estimator.predict_outcomes(assemble_features(frame, package.catalog, package.tables).values))


def column(package: Any, option: str) -> int:
    return [str(o) for o in package.estimator.options_].index(option)


def with_values(frame: pd.DataFrame, **values: Any) -> pd.DataFrame:
    out = frame.copy()
    for key, value in values.items():
        out[key] = pd.Series([value] * len(out), index=out.index, dtype=object)
    return out


def with_cyp2d6(frame: pd.DataFrame, diplotype: str) -> pd.DataFrame:
    return with_values(
        frame, cyp2d6_diplotype=diplotype, cyp2d6_phenotype=None, cyp2d6_activity_score=None, cyp2d6_source="lab"
    )


# ------------------------------------------------------------------------------------------------- invariance


def test_patient_ref_does_not_change_the_prediction(package: Any, example_profile_dicts: dict[str, Any]) -> None:
    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.validate import validate_profile

    for data in example_profile_dicts.values():
        a = validate_profile({**data, "patient_ref": "first"}, package.catalog, package.tables)
        b = validate_profile({**data, "patient_ref": "someone-else-entirely"}, package.catalog, package.tables)
        xa = np.asarray(assemble_features(a, package.catalog, package.tables).values)[None, :]
        xb = np.asarray(assemble_features(b, package.catalog, package.tables).values)[None, :]
        np.testing.assert_array_equal(package.estimator.predict_outcomes(xa), package.estimator.predict_outcomes(xb))


def neuropathic(frame: pd.DataFrame) -> pd.DataFrame:
    return with_values(frame, pain_type="neuropathic", pain_condition="painful_diabetic_neuropathy")


def nociceptive(frame: pd.DataFrame) -> pd.DataFrame:
    return with_values(frame, pain_type="nociceptive", pain_condition="chronic_low_back_pain")


def test_comt_genotype_a_null_mechanism_barely_moves_predictions(package: Any, patients: pd.DataFrame) -> None:
    base = predict(package, patients)
    # a real mechanism for scale: the pain condition moves the neuropathic drugs by a few points on average
    js = [column(package, o) for o in NEUROPATHIC_DRUGS]
    real = np.abs(predict(package, neuropathic(patients))[:, js] - predict(package, nociceptive(patients))[:, js]).mean()
    for genotype in ("Val/Val", "Val/Met", "Met/Met", None):
        moved = np.abs(predict(package, with_values(patients, comt_rs4680=genotype)) - base)
        assert moved.mean() < 0.005, genotype
        assert np.quantile(moved, 0.99) < 0.05, genotype
        assert moved.mean() < real / 10, genotype


def test_row_order_does_not_change_each_rows_prediction(package: Any, patients: pd.DataFrame) -> None:
    base = predict(package, patients)
    order = np.random.default_rng(3).permutation(len(patients))
    shuffled = predict(package, patients.iloc[order].reset_index(drop=True))
    np.testing.assert_array_equal(shuffled, base[order])
    one = predict(package, patients.iloc[[17]].reset_index(drop=True))
    np.testing.assert_allclose(one, base[[17]], rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------- directional


def test_cyp2d6_poor_metabolizers_respond_less_to_codeine_and_tramadol(package: Any, patients: pd.DataFrame) -> None:
    poor = predict(package, with_cyp2d6(patients, "*4/*4"))
    normal = predict(package, with_cyp2d6(patients, "*1/*1"))
    diffs = {o: float((poor[:, column(package, o)] - normal[:, column(package, o)]).mean()) for o in OPIOIDS_CYP2D6}
    assert all(d <= 1e-9 for d in diffs.values()), diffs  # never higher for a poor metabolizer
    assert np.mean(list(diffs.values())) < -0.005, diffs  # and lower on average over both prodrugs
    # oxycodone is not a CYP2D6 prodrug in the cohort: no comparable drop
    j = column(package, "oxycodone")
    assert float((poor[:, j] - normal[:, j]).mean()) > np.mean(list(diffs.values()))


def test_neuropathic_pain_raises_gabapentinoid_and_tca_response(package: Any, patients: pd.DataFrame) -> None:
    """Diabetic neuropathy against chronic low back pain (the cohort's effects are by condition; pain type and
    condition change together, as the catalog requires)."""
    neuro = predict(package, neuropathic(patients))
    noci = predict(package, nociceptive(patients))
    diffs = {o: float((neuro[:, column(package, o)] - noci[:, column(package, o)]).mean()) for o in NEUROPATHIC_DRUGS}
    # never lower; a small model may read diabetes, HbA1c and the pain type instead of the condition indicators for
    # one drug (they carry much the same information in the cohort), so higher on average over the three
    assert all(d >= -1e-9 for d in diffs.values()), diffs
    assert np.mean(list(diffs.values())) > 0.02, diffs


# ------------------------------------------------------------------------------------------------- PGx safety


def _resolved_phenotypes(frame: pd.DataFrame, package: Any) -> np.ndarray:
    from precisionpain.pgx.resolve import resolve_gene

    def clean(v: Any) -> str | None:
        return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)

    return np.array(
        [
            resolve_gene("CYP2D6", clean(d), clean(p), clean(s), package.tables).phenotype
            for d, p, s in zip(
                frame["cyp2d6_diplotype"], frame["cyp2d6_phenotype"], frame["cyp2d6_activity_score"], strict=True
            )
        ],
        dtype=object,
    )


def test_cpic_avoid_options_are_never_the_chosen_usable_option(package: Any, patients: pd.DataFrame) -> None:
    """The policy training and evaluation use ("the model's top option the safety rules do not exclude"), even when
    the model scores the forbidden drug highest: CPIC's avoid on the genotype, on the functional phenotype
    (phenoconversion) and for HLA-B*15:02 carriers; and the exclusion is specific to those patients."""
    from precisionpain.models.evaluation import usable_policy
    from precisionpain.ranking import safety_exclusion_matrix
    from precisionpain.safety import load_safety_catalogs

    options = [str(o) for o in package.estimator.options_]
    specific = with_values(
        with_cyp2d6(patients.iloc[900:1200], "*1/*1"),
        medications=None, breastfeeding=None, hla_b_1502="negative", hla_a_3101="negative",
    )  # fmt: skip
    frame = pd.concat(
        [patients, with_cyp2d6(patients.iloc[:300], "*4/*4"), with_cyp2d6(patients.iloc[300:600], "*1/*1x2"),
         with_values(patients.iloc[600:900], hla_b_1502="positive", carbamazepine_prior_use_over_3_months=False),
         with_values(with_cyp2d6(patients.iloc[1200:1500], "*1/*1"), medications="paroxetine"),
         specific],
        ignore_index=True,
    )  # fmt: skip
    phenotype = _resolved_phenotypes(frame, package)
    pm_um = np.isin(phenotype, ["Poor Metabolizer", "Ultrarapid Metabolizer"])
    positive = (frame["hla_b_1502"].astype(object) == "positive").to_numpy()
    # CPIC: a carrier who has taken carbamazepine for over three months without reaction may continue (with
    # caution); every other carrier (naive or unknown) must not start it.
    tolerated = (frame["carbamazepine_prior_use_over_3_months"].astype(object) == True).to_numpy()  # noqa: E712
    hla = positive & ~tolerated
    # a genotypic normal metabolizer on paroxetine (strong CYP2D6 inhibitor) is a functional poor metabolizer
    paroxetine = (frame["medications"].astype(object) == "paroxetine").to_numpy() & (phenotype == "Normal Metabolizer")
    assert pm_um.sum() >= 600 and hla.sum() >= 300 and paroxetine.sum() >= 300
    avoid = safety_exclusion_matrix(frame, options, load_safety_catalogs(package.path / "catalog"))
    p = predict(package, frame)
    adversarial = p.copy()
    for o in (*OPIOIDS_CYP2D6, "carbamazepine"):
        adversarial[:, column(package, o)] = 0.999  # the model "prefers" the risky drug for everyone
    for scores in (p, adversarial):
        chosen = np.asarray(options, dtype=object)[usable_policy(scores, avoid)]
        assert not np.isin(chosen[pm_um | paroxetine], OPIOIDS_CYP2D6).any()
        assert not (chosen[hla] == "carbamazepine").any()
    # patients with a normal genotype, no medicines, not breastfeeding and HLA-negative can still get them
    chosen = np.asarray(options, dtype=object)[usable_policy(adversarial, avoid)]
    last = np.arange(len(frame)) >= len(frame) - len(specific)
    assert np.isin(chosen[last], [*OPIOIDS_CYP2D6, "carbamazepine"]).all()


def test_ranked_recommendations_exclude_cpic_avoid_options(package: Any, patients: pd.DataFrame) -> None:
    """The same through the serving path (profiles -> ranking), for real cohort patients."""
    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.features.validate import validate_profile
    from precisionpain.recommender import Recommender

    engine = Recommender(package)
    phenotype = _resolved_phenotypes(patients, package)
    pm_um = patients[np.isin(phenotype, ["Poor Metabolizer", "Ultrarapid Metabolizer"])].head(25)
    hla = with_values(patients.head(25), hla_b_1502="positive", carbamazepine_prior_use_over_3_months=False)
    assert len(pm_um) >= 10
    for frame, forbidden in ((pm_um, OPIOIDS_CYP2D6), (hla, ("carbamazepine",))):
        profiles = [
            validate_profile(row_to_profile_dict(r, package.catalog), package.catalog, package.tables)
            for r in frame.to_dict(orient="records")
        ]
        for out in engine.recommend_batch(profiles):
            rec = out.recommendation
            usable = {o.option_id for o in rec.options}
            excluded = {o.option_id for o in rec.excluded}
            assert not usable & set(forbidden)
            assert set(forbidden) <= excluded
