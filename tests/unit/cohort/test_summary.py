"""The summary tables used in docs/cohort.md."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.cohort.summary import (
    assignment_table,
    markdown_table,
    mechanism_tables,
    oracle_choice_table,
    oracle_summary,
    response_rate_table,
    summary_markdown,
)
from precisionpain.errors import DataError


def test_response_rate_table(cohort: pd.DataFrame, option_catalog: Any) -> None:
    table = response_rate_table(cohort)
    assert list(table.index) == ["natural course", "placebo", *option_catalog.ids]
    assert {"all", "nociceptive", "neuropathic", "nociplastic", "mixed", "published"} <= set(table.columns)
    assert table.loc["amitriptyline", "all"] == pytest.approx(cohort["true_p_response__amitriptyline"].mean())
    assert table.loc["amitriptyline", "published_p30_neuropathic"] > table.loc["placebo", "all"]


def test_assignment_and_oracle(cohort: pd.DataFrame) -> None:
    assign = assignment_table(cohort)
    assert assign["n_assigned"].sum() == len(cohort)
    assert assign["share"].sum() == pytest.approx(1.0)
    oracle = oracle_summary(cohort)["value"]
    means = cohort[[c for c in cohort.columns if c.startswith("true_p_response__")]].mean()
    assert oracle["best single option"] == means.idxmax().removeprefix("true_p_response__")
    assert oracle["regret, best single option"] == pytest.approx(
        oracle["mean true p, oracle (best option per patient)"] - means.max()
    )
    assert oracle["regret, observed assignment"] >= 0
    choice = oracle_choice_table(cohort)
    np.testing.assert_allclose(choice.sum(axis=0).to_numpy(), 1.0)


def test_markdown(cohort: pd.DataFrame) -> None:
    table = pd.DataFrame(
        {"a": [1, 2], "b": [0.5, float("nan")], "c": ["x|y", "z"]}, index=pd.Index(["r1", "r2"], name="row")
    )
    lines = markdown_table(table, digits=2).splitlines()
    assert lines[0] == "| row | a | b | c |"
    assert lines[2] == "| r1 | 1 | 0.50 | x\\|y |"
    assert lines[3] == "| r2 | 2 |  | z |"
    text = summary_markdown(cohort)
    assert "### Oracle and regret" in text and "Mechanism: CYP2D6" in text
    assert set(mechanism_tables(cohort)) >= {"CYP2D6 and codeine/tramadol", "COMT (no effect by design)"}


def test_frame_without_ground_truth_is_a_data_error() -> None:
    with pytest.raises(DataError):
        oracle_summary(pd.DataFrame({"pain_type": ["mixed"]}))
