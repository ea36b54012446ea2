"""The MLflow pyfunc face of a model package, for ``mlflow.pyfunc`` consumers (batch scoring, Spark UDFs,
``mlflow models serve``).

Input: a table of patient profiles in the flat form (one column per catalog field, as in a cohort file).
Output: one column ``p_response__<option_id>`` per option: the model's calibrated probability of response, raw;
then, for each harm outcome the package models, ``p_adverse_event__<option_id>`` (stopping for an adverse event)
and ``p_dropout__<option_id>`` (stopping early for any reason), also raw.
No CPIC guidance, safety rule or ranking is applied (an option a rule excludes still gets its probability); the
gRPC service and ``precisionpain recommend`` give the ranked, rule-applied answer.

The signature declares the outputs only. MLflow's input enforcement cannot carry what profiles hold: it has no
integer or boolean column that may be missing (a missing score fails; in JSON a null boolean becomes false and
an absent one true), it refuses whole numbers sent as integers for a number column, and its refusals quote the
rows. So the pyfunc takes the table as sent, reads booleans given as text ("true", "false", "1", "0", "yes",
"no", or empty) and checks everything against the catalog itself (:func:`precisionpain.features.validate
.frame_violations`): problems name columns and row positions, never values.

The model is logged as "models from code", so loading it unpickles nothing. The sha256 of the package's manifest
is logged in the model config (``package_manifest_sha256``), and loading checks every file of the package
against the manifest and the manifest against that sha256.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from precisionpain.errors import ProfileValidationError, Violation

if TYPE_CHECKING:
    from precisionpain.catalog.loader import FeatureCatalog

ENTRY_POINT = """\
# MLflow "model from code" entry point for a PrecisionPain model package.
import mlflow

from precisionpain.models.pyfunc import PrecisionPainPyfunc

mlflow.models.set_model(PrecisionPainPyfunc())
"""


MANIFEST_CONFIG_KEY = "package_manifest_sha256"

#: Booleans as text (CSV cells, JSON strings), lower-cased; an empty cell is missing.
_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no"})
_ROWS_SHOWN = 5


def output_columns(option_ids: Sequence[str], outcomes: Sequence[str] = ("response",)) -> list[str]:
    """The pyfunc's output columns: every outcome's probability per option, outcome by outcome."""
    from precisionpain.models.outcomes import PROBABILITY_PREFIX

    return [f"{PROBABILITY_PREFIX[outcome]}{o}" for outcome in outcomes for o in option_ids]


def model_signature(option_ids: Sequence[str], outcomes: Sequence[str] = ("response",)) -> Any:
    """The pyfunc signature: one double output per option and outcome, no input schema (see the module
    docstring)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    return ModelSignature(
        outputs=Schema([ColSpec("double", c) for c in output_columns(option_ids, outcomes)])
    )


def _boolean(value: Any) -> bool | str | None:
    """A boolean cell as True, False or None (missing); the string ``"?"`` for anything else."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and len(value) <= 8:
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    return "?"


def read_booleans(frame: pd.DataFrame, catalog: FeatureCatalog) -> pd.DataFrame:
    """``frame`` with every boolean column as True / False / None, whatever form it came in; a value that is
    no boolean is a violation naming the column and its rows (never the value)."""
    from precisionpain.catalog.types import FieldType

    columns: dict[str, pd.Series] = {}
    violations: list[Violation] = []
    for spec in catalog.input_fields:
        name = spec.field.id
        if spec.field.type is not FieldType.boolean or name not in frame.columns:
            continue
        values = [_boolean(v) for v in frame[name].to_numpy(dtype=object)]
        bad = [i for i, v in enumerate(values) if v == "?"]
        if bad:
            shown = ", ".join(map(str, bad[:_ROWS_SHOWN]))
            more = f" and {len(bad) - _ROWS_SHOWN} more" if len(bad) > _ROWS_SHOWN else ""
            violations.append(
                Violation(name, f"must be true or false, or empty (rows {shown}{more})", "other value")
            )
        columns[name] = pd.Series(values, index=frame.index, dtype=object)
    ProfileValidationError.raise_if_any("patient table", violations)
    return frame.assign(**columns) if columns else frame


class PrecisionPainPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from precisionpain.models.package import read_package

        config = context.model_config or {}
        self.package = read_package(
            Path(context.artifacts["package"]), expected_manifest_sha256=config.get(MANIFEST_CONFIG_KEY)
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        from precisionpain.features.assemble import assemble_features

        pkg = self.package
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        matrix = assemble_features(read_booleans(frame, pkg.catalog), pkg.catalog, pkg.tables)
        from precisionpain.models.outcomes import predict_in_order

        options = [str(o) for o in pkg.estimator.options_]
        models = [pkg.estimator, *pkg.harms.values()]
        p = np.concatenate([predict_in_order(m, matrix.values, options) for m in models], axis=1)
        columns = output_columns(options, pkg.metadata.outcomes)
        return pd.DataFrame(p, columns=columns, index=frame.index)
