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


ALL_PATIENTS = "all"


def table_means(
    models: Mapping[str, Any], X: np.ndarray, frame: pd.DataFrame, option_ids: Sequence[str]
) -> dict[str, dict[str, tuple[float, ...]]]:
    """Per group of patients (the recorded pain condition, or the pain type when none: ``benefit_harm.table_key``;
    and ``"all"``), per outcome, every option's mean predicted probability over those patients (in
    ``option_ids`` order): the condition's average the tier policy orders a tier by."""
    from precisionpain.benefit_harm import table_key

    predicted = {o: predict_in_order(m, X, option_ids) for o, m in models.items()}
    conditions = (
        frame["pain_condition"] if "pain_condition" in frame.columns else pd.Series([None] * len(frame))
    )
    labels = np.asarray(
        [
            table_key(None if pd.isna(c) else str(c), str(t))
            for c, t in zip(conditions.astype(object), frame["pain_type"].astype(object), strict=True)
        ],
        dtype=object,
    )
    out: dict[str, dict[str, tuple[float, ...]]] = {}
    for label in (ALL_PATIENTS, *sorted(set(labels.tolist()))):
        rows = np.ones(len(labels), dtype=bool) if label == ALL_PATIENTS else labels == label
        out[str(label)] = {o: tuple(float(x) for x in p[rows].mean(axis=0)) for o, p in predicted.items()}
    return out


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
