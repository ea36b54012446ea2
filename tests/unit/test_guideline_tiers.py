"""Every answer carries each option's guideline tier for the patient's condition (or pain type), beside the ranking
and never changing it; an answer without a condition says its tiers come from the pain type."""

from __future__ import annotations

from typing import Any

import pytest

from precisionpain.benefit_harm import Preferences
from precisionpain.catalog.guidelines import load_guideline_catalog
from precisionpain.features.validate import validate_profile
from precisionpain.ranking import rank_options
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.safety import apply_safety_rules
from precisionpain.schema import (
    GuidelineBasis,
    GuidelineTier,
    Interval,
    OptionPrediction,
    PainCondition,
    PainType,
    RankingPolicy,
    WarningKind,
)

NOT_GIVEN = "Pain condition not given: guideline tiers from the pain type (neuropathic)."


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    return Recommender(small_package, ModelIdentity("precisionpain-test", "1", "champion"))


def _profile(condition: str | None, pain_type: str = "neuropathic", **clinical: Any):  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {"age_years": 61, "sex": "female", "pain_type": pain_type, "baseline_nrs": 7, **clinical}
    if condition is not None:
        data["pain_condition"] = condition
    return validate_profile({"clinical": data, "pgx": {"cyp2d6": {"diplotype": "*4/*4"}}})


def test_every_option_carries_its_tier_from_the_package_catalog(engine) -> None:  # type: ignore[no-untyped-def]
    catalog = load_guideline_catalog(engine.package.options, engine.package.path / "catalog")
    for condition in PainCondition:
        rec = engine.recommend(_profile(condition.value, "mixed")).recommendation
        table = catalog.table(condition, PainType.mixed)
        shown = (*rec.options, *rec.excluded)
        assert shown and rec.excluded  # codeine and tramadol are excluded for a CYP2D6 poor metabolizer
        for o in shown:
            assert o.guideline == table[o.option_id], (condition, o.option_id)
        assert rec.guideline_context == catalog.context(condition, PainType.mixed)
        assert not [w for w in rec.warnings if w.field == "clinical.pain_condition"]
    assert rec.provenance.guideline_catalog_version == catalog.version
    assert rec.provenance.guideline_catalog_sha256 == catalog.sha256


def test_trigeminal_neuralgia_and_radiculopathy_differ(engine) -> None:  # type: ignore[no-untyped-def]
    tn = engine.recommend(_profile("trigeminal_neuralgia")).recommendation
    sciatica = engine.recommend(_profile("lumbar_radiculopathy")).recommendation
    tier_tn = {o.option_id: o.guideline.tier for o in (*tn.options, *tn.excluded)}
    tier_sc = {o.option_id: o.guideline.tier for o in (*sciatica.options, *sciatica.excluded)}
    assert tier_tn["carbamazepine"] is GuidelineTier.first_line
    assert tier_sc["carbamazepine"] is GuidelineTier.recommended_against
    assert tn.options[0].guideline.basis is GuidelineBasis.condition


def test_without_a_condition_tiers_come_from_the_pain_type_and_it_is_said(engine) -> None:  # type: ignore[no-untyped-def]
    rec = engine.recommend(_profile(None)).recommendation
    assert rec.guideline_context is not None and rec.guideline_context.pain_condition is None
    assert rec.guideline_context.text == NOT_GIVEN
    (warning,) = [w for w in rec.warnings if w.field == "clinical.pain_condition"]
    assert warning.kind is WarningKind.missing_input and warning.message == NOT_GIVEN
    for o in (*rec.options, *rec.excluded):
        assert o.guideline is not None
        assert o.guideline.basis is GuidelineBasis.pain_type and o.guideline.table == "neuropathic"


def test_tiers_order_the_options_only_under_the_tier_policy(engine) -> None:  # type: ignore[no-untyped-def]
    """Under the net-benefit-only policy, ranking with and without the guideline catalog gives the same answer but
    for the tiers: predictions that put recommended-against options on top keep them there. Under the default
    policy the tiers come first."""
    pkg = engine.package
    catalog = load_guideline_catalog(pkg.options, pkg.path / "catalog")
    profile = _profile("fibromyalgia", "nociplastic")
    against = {o for o, p in catalog.table(PainCondition.fibromyalgia, PainType.nociplastic).items()
               if p.tier is GuidelineTier.recommended_against}
    predictions = [
        OptionPrediction(
            option_id=o, p_response=0.9 if o in against else 0.1 + 0.01 * i,
            interval=Interval(lower=0.0, upper=1.0, level=0.9),
        )
        for i, o in enumerate(pkg.options.ids)
    ]
    args = (profile, predictions, pkg.options, pkg.tables, engine.provenance())
    safety = apply_safety_rules(profile, engine.safety)
    # under the net-benefit-only policy the tiers are information beside the order
    only = Preferences(policy=RankingPolicy.net_benefit_only)
    plain = rank_options(*args, safety=safety, preferences=only)
    tiered = rank_options(*args, safety=safety, guidelines=catalog, preferences=only)
    assert [o.option_id for o in tiered.options] == [o.option_id for o in plain.options]
    usable_against = against - {o.option_id for o in tiered.excluded}  # codeine, tramadol: CPIC avoid
    assert usable_against and {o.option_id for o in tiered.options[: len(usable_against)]} == usable_against
    assert tiered.options[0].guideline.tier is GuidelineTier.recommended_against
    # under the default policy they come last: without the model's replicates no advantage is significant
    by_tier = rank_options(*args, safety=safety, guidelines=catalog)
    assert {o.option_id for o in by_tier.options[-len(usable_against):]} == usable_against
    for a, b in zip((*plain.options, *plain.excluded), (*tiered.options, *tiered.excluded), strict=True):
        assert a.guideline is None and b.guideline is not None
        assert a == b.model_copy(update={"guideline": None})
