"""The MLflow pyfunc face of a model package, for ``mlflow.pyfunc`` consumers (batch scoring, Spark UDFs).

Input: a table of patient profiles in the flat form (one column per catalog field, as in a cohort file).
Output: one column ``p_response__<option_id>`` per option (calibrated probability of response).
The model is logged as "models from code", so loading it unpickles nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

ENTRY_POINT = """\
# MLflow "model from code" entry point for a PrecisionPain model package.
import mlflow

from precisionpain.models.pyfunc import PrecisionPainPyfunc

mlflow.models.set_model(PrecisionPainPyfunc())
"""


class PrecisionPainPyfunc(PythonModel):
    def load_context(self, context: Any) -> None:
        from precisionpain.models.package import read_package

        self.package = read_package(Path(context.artifacts["package"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from precisionpain.features.assemble import assemble_features

        pkg = self.package
        matrix = assemble_features(model_input, pkg.catalog, pkg.tables)
        p = pkg.estimator.predict_outcomes(matrix.values)
        columns = [f"p_response__{o}" for o in pkg.estimator.options_]
        return pd.DataFrame(p, columns=columns, index=model_input.index)
