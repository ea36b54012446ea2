"""The model card's subgroup audit finds the heterogeneity the cohort builds in.

The cohort's OPRM1 118G loss is larger in Asian than in European patients (Yu 2019; docs/cohort.md,
"Heterogeneity by sex and ancestry"). Ancestry is never a model feature, so a model cannot see the difference:
its estimates run high for East Asian patients given an opioid and low for European ones. The audit
(:func:`precisionpain.models.evaluation.evaluate` by biogeographic group, shown by the card through
:func:`precisionpain.models.card.subgroup_gaps`) must report exactly that: the same model on the same patients,
once with the cohort as built and once with the ancestry difference switched off (same random draws), moves the
audit's mean-estimate-minus-observed for the affected groups in the documented directions and leaves every
unaffected group as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

OPIOIDS = ("codeine", "tramadol", "oxycodone", "tapentadol", "buprenorphine_transdermal")
UNAFFECTED = ("african_american_afro_caribbean", "latino", "near_eastern", "american", "sub_saharan_african")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small model (what it learned does not matter: it cannot see ancestry whatever it learned)."""
    from precisionpain.models.package import read_package
    from tests.support.packages import build_package

    return read_package(
        build_package(tmp_path_factory.mktemp("audit") / "package", n=8_000, seed=5, n_estimators=30)
    )


def _opioid_patients(package: Any) -> pd.DataFrame:
    """The patients given an opioid among 40,000 new ones (about 7,000; about 550 East Asian)."""
    from precisionpain.cohort import generate_cohort

    frame = generate_cohort(
        40_000, 99, catalog=package.catalog, options=package.options, tables=package.tables
    )
    return frame[frame["assigned_option"].isin(OPIOIDS)].reset_index(drop=True)


def _audit(package: Any, frame: pd.DataFrame) -> Any:
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.config import EvaluationConfig, OutcomeConfig
    from precisionpain.models.evaluation import evaluate, held_out

    X = assemble_features(frame, package.catalog, package.tables).values
    options = tuple(str(o) for o in package.estimator.options_)
    data = held_out(frame, X, OutcomeConfig(), options, package.options, package.tables)
    config = EvaluationConfig(n_bootstrap=10, shap_sample_size=20)
    return evaluate(package.estimator, data, config, package.catalog)


def test_the_audit_reports_the_ancestry_difference_a_model_cannot_see(
    package: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from precisionpain.cohort import params as P
    from precisionpain.models.card import subgroup_gaps

    built_in = _audit(package, _opioid_patients(package))
    monkeypatch.setattr(P, "OPRM1_LOSS_ANCESTRY_FACTOR", {g: 1.0 for g in P.OPRM1_LOSS_ANCESTRY_FACTOR})
    without = _audit(package, _opioid_patients(package))

    def estimate_minus_observed(result: Any, group: str) -> float:
        return float(result.subgroups["biogeographic_group"].groups[group].calibration_in_the_large)

    east_asian = estimate_minus_observed(built_in, "east_asian") - estimate_minus_observed(
        without, "east_asian"
    )
    european = estimate_minus_observed(built_in, "european") - estimate_minus_observed(without, "european")
    # estimates run higher than the outcomes for East Asians, whose larger loss the model cannot see (+0.012), and
    # lower for Europeans, whose loss is smaller (-0.006)
    assert east_asian > 0.006
    assert european < -0.003
    for group in UNAFFECTED:  # the same outcomes and the same estimates
        assert estimate_minus_observed(built_in, group) == estimate_minus_observed(without, group), group

    # the card carries it: a mean-estimate-minus-observed gap by biogeographic group, with each group's value
    (gap,) = [
        g for g in subgroup_gaps(built_in) if g.factor == "biogeographic_group" and g.metric == "calibration"
    ]
    assert gap.groups["east_asian"] == pytest.approx(estimate_minus_observed(built_in, "east_asian"))
    assert gap.largest_gap == pytest.approx(
        built_in.subgroups["biogeographic_group"].calibration_in_the_large_gap
    )
    assert built_in.headline["subgroup_biogeographic_group_calibration_gap"] == pytest.approx(gap.largest_gap)
