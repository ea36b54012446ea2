"""The MLflow pyfunc face of a model package, for ``mlflow.pyfunc`` consumers (batch scoring, Spark UDFs).

Input: a table of patient profiles in the flat form (one column per catalog field, as in a cohort file).
Output: one column ``p_response__<option_id>`` per option (calibrated probability of response).
The model is logged as "models from code", so loading it unpickles nothing. The sha256 of the package's manifest
is logged in the model config (``package_manifest_sha256``), and loading checks every file of the package
against the manifest and the manifest against that sha256.
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


MANIFEST_CONFIG_KEY = "package_manifest_sha256"


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
        matrix = assemble_features(model_input, pkg.catalog, pkg.tables)
        p = pkg.estimator.predict_outcomes(matrix.values)
        columns = [f"p_response__{o}" for o in pkg.estimator.options_]
        return pd.DataFrame(p, columns=columns, index=model_input.index)
