"""The validation figures of a model in plain language: every figure a training run records has a plain name,
a one-line meaning and one of the clinician's groups, so the report never shows a raw metric key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.model.conftest import Store, model_card_text


def test_every_figure_a_training_run_records_has_a_plain_name(
    store: Store,
    small_cohort_file: Path,
    make_config: Callable[..., tuple[Any, Path]],
    model_name: str,
    tmp_path: Path,
) -> None:
    from precisionpain.models.card import VALIDATION_GROUPS, metric_meaning, validation_table
    from precisionpain.models.training import train

    config, path = make_config(model_name)
    result = train(small_cohort_file, config, config_path=path, **store.kwargs)
    assert {"auc_mean", "dr_policy_value", "regret", "interval_coverage"} <= set(result.headline)
    unnamed = sorted(k for k in result.headline if metric_meaning(k) is None)
    assert unnamed == [], f"give these figures a plain name in precisionpain/models/card.py: {unnamed}"
    for key in result.headline:
        meaning = metric_meaning(key)
        assert meaning is not None and meaning.group in VALIDATION_GROUPS
        assert meaning.name and meaning.meaning and "_" not in meaning.name + meaning.meaning, key

    groups = validation_table(result.headline)
    assert [g.title for g in groups] == [t for t in VALIDATION_GROUPS if any(g.title == t for g in groups)]
    shown = [row.key for g in groups for row in g.rows]
    assert len(shown) == len(set(shown))
    intervals = {k.removesuffix("_ci_low") for k in result.headline if k.endswith("_ci_low")}
    assert set(shown) | {f"{k}_ci_low" for k in intervals} | {f"{k}_ci_high" for k in intervals} == set(result.headline)
    for g in groups:
        for row in g.rows:
            if row.key in intervals:
                assert (row.low, row.high) == (result.headline[f"{row.key}_ci_low"], result.headline[f"{row.key}_ci_high"])

    # the card sets the ranking against the best single option under the same rules, and with every option usable
    h = result.headline
    usable = f"regret {h['regret_usable']:.3f} vs {h['regret_best_single_option_usable']:.3f}"
    every = f"regret {h['regret_all_usable']:.3f} vs {h['regret_best_single_option_all_usable']:.3f}"
    card = " ".join(model_card_text(store, result.run_id, tmp_path).split())
    assert usable in card and every in card
