"""The outcomes a model package estimates for every option: the response and, beside it, the harms.

- ``response``: at least 30% less pain at 12 weeks, intention to treat (a patient who stops early, for an adverse
  event or any other reason, counts as not responding);
- ``adverse_event``: stopping the option because of an adverse event (withdrawal-level);
- ``dropout``: stopping before 12 weeks for any reason (adverse events included).

Each outcome has one calibrated model per option (the generic :class:`~precisionpain.models.estimator
.TreatmentResponseModel`, fitted on the same patients and features with the same settings). This module holds
the names, their clinician wording and how a training table gives a harm's observed outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from precisionpain.errors import DataError, Violation
from precisionpain.models.config import HARM_OUTCOMES, HarmConfig

RESPONSE = "response"
OUTCOMES: tuple[str, ...] = (RESPONSE, *HARM_OUTCOMES)

#: how an answer words each outcome's probability for a clinician ("52% response, 14% stop for side effects")
OUTCOME_LABELS: Mapping[str, str] = {
    RESPONSE: "response",
    "adverse_event": "stop for side effects",
    "dropout": "stop early (any reason)",
}

#: what each outcome means, where a harm's config gives no definition of its own
OUTCOME_DEFINITIONS: Mapping[str, str] = {
    RESPONSE: ">=30% reduction in 0-10 NRS pain at 12 weeks, intention to treat (stopping early counts as no "
    "response)",
    "adverse_event": "stops the option because of an adverse event (withdrawal-level) before 12 weeks",
    "dropout": "stops the option before 12 weeks for any reason, adverse events included",
}

#: the column prefix of each outcome's probabilities in a pyfunc's output and in a synthetic cohort's truth
PROBABILITY_PREFIX: Mapping[str, str] = {
    RESPONSE: "p_response__",
    "adverse_event": "p_adverse_event__",
    "dropout": "p_dropout__",
}
TRUE_PROBABILITY_PREFIX: Mapping[str, str] = {o: f"true_{p}" for o, p in PROBABILITY_PREFIX.items()}


def predict_in_order(model: Any, X: np.ndarray, option_ids: Sequence[str]) -> np.ndarray:
    """``model.predict_outcomes(X)`` with its columns in the order of ``option_ids`` (each outcome's model keeps
    its own option order; the answer follows the response model's)."""
    p = model.predict_outcomes(X)
    own = [str(o) for o in model.options_]
    if own == list(option_ids):
        return np.asarray(p)
    return np.asarray(p)[:, [own.index(o) for o in option_ids]]


def harm_definition(harm: HarmConfig) -> str:
    return harm.definition or OUTCOME_DEFINITIONS[harm.name]


def with_observed_harms(
    frame: pd.DataFrame, harms: Sequence[HarmConfig], treatment_column: str, what: str = "training data"
) -> pd.DataFrame:
    """``frame`` with each harm's observed outcome in its ``column``: kept when the table has it, else (a synthetic
    cohort) taken from ``<factual_prefix><option>`` for the option each patient received. A harm the table gives
    neither way is a DataError naming the column; unknown options and missing values are left for the table
    checks to report."""
    added: dict[str, np.ndarray] = {}
    problems: list[Violation] = []
    for harm in harms:
        if harm.column in frame.columns:
            continue
        prefix = harm.factual_prefix
        family = [c for c in frame.columns if prefix and str(c).startswith(prefix)] if prefix else []
        if not family or treatment_column not in frame.columns:
            problems.append(
                Violation(
                    harm.column,
                    f"required column for the {harm.name} outcome is absent"
                    + (f" (and no {prefix}<option> columns to read it from)" if prefix else ""),
                    "no column",
                )
            )
            continue
        assert prefix is not None
        treatment = frame[treatment_column].astype(object).to_numpy()
        values = np.full(len(frame), np.nan)
        for option in pd.unique(treatment):
            column = f"{prefix}{option}"
            if column in frame.columns:
                rows = treatment == option
                values[rows] = pd.to_numeric(frame.loc[rows, column], errors="coerce").to_numpy(dtype=float)
        added[harm.column] = values
    DataError.raise_if_any(what, problems)
    if not added:
        return frame
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)
