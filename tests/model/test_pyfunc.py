"""The registered pyfunc scores what its consumers send (real MLflow store and the MLflow scoring server's own
app): whole numbers as integers, missing values of every kind, booleans as booleans, strings or nulls, and CSV;
an unknown stays unknown on every path (never a silent true or false); a value that is not a boolean is refused by
column and rows, never echoed."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.model.conftest import History, Store


@pytest.fixture(scope="module")
def scored(history: History, store: Store, cohort_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(pyfunc model, 200 cohort rows in the flat form, what the package itself predicts for them)."""
    import mlflow

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.training import load_registered

    uri = f"models:/{history.name}/{history.better.version}"
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    _, pkg = load_registered(store.registry(), uri, tmp_path_factory.mktemp("pyfunc-package"))
    rows = pd.read_parquet(cohort_file).iloc[:200]
    rows = rows[[c for c in flat_columns(pkg.catalog) if c in rows.columns]].reset_index(drop=True)
    want = pkg.estimator.predict_outcomes(assemble_features(rows, pkg.catalog, pkg.tables).values)
    return mlflow.pyfunc.load_model(uri), rows, want, pkg.catalog


def _fields(catalog: Any, kind: str) -> list[str]:
    return [s.field.id for s in catalog.input_fields if s.field.type.value == kind]


def test_whole_numbers_and_booleans_of_every_pandas_kind_score_alike(scored: Any) -> None:
    model, rows, want, catalog = scored
    integers, numbers, booleans = _fields(catalog, "integer"), _fields(catalog, "number"), _fields(catalog, "boolean")
    assert integers and booleans and rows[integers].isna().any().any() and rows[booleans].isna().any().any()
    complete = [c for c in numbers if c in rows and rows[c].notna().all()]
    assert "age_years" in complete
    variants = {
        "as the cohort file holds them": rows,
        "int64 whole numbers, nullable Int64 scores, booleans as objects": rows.astype(
            {**{c: "int64" for c in complete if (rows[c] % 1 == 0).all()}, **{c: "Int64" for c in integers},
             **{c: object for c in booleans}}
        ),
        "booleans as text": rows.assign(**{
            c: rows[c].map(lambda v: "" if v is pd.NA else ("True" if v else "false")) for c in booleans
        }),
    }
    assert variants["int64 whole numbers, nullable Int64 scores, booleans as objects"]["age_years"].dtype == np.int64
    for what, frame in variants.items():
        np.testing.assert_allclose(model.predict(frame).to_numpy(), want, rtol=0, atol=1e-12, err_msg=what)


def _serve(model: Any, body: str, content_type: str) -> Any:
    from mlflow.pyfunc import scoring_server
    from starlette.testclient import TestClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(scoring_server.init(model))
    return client.post("/invocations", content=body, headers={"Content-Type": content_type})


def test_the_scoring_server_takes_csv_and_json_with_gaps_and_keeps_unknowns_unknown(scored: Any) -> None:
    """What ``mlflow models serve`` runs: CSV with empty cells and JSON with nulls (and absent keys) score as the
    cohort rows do; a null boolean is unknown, not false (and not true)."""
    model, rows, want, catalog = scored
    booleans = _fields(catalog, "boolean")
    csv = _serve(model, rows.to_csv(index=False), "text/csv")
    assert csv.status_code == 200, csv.text[:500]
    np.testing.assert_allclose(pd.DataFrame(csv.json()["predictions"]).to_numpy(), want, rtol=0, atol=1e-12)

    records = [{k: v for k, v in r.items() if v is not None} for r in json.loads(rows.to_json(orient="records"))]
    split = json.loads(rows.to_json(orient="split", index=False))
    for body in ({"dataframe_records": records}, {"dataframe_split": split}):
        answer = _serve(model, json.dumps(body), "application/json")
        assert answer.status_code == 200, answer.text[:500]
        np.testing.assert_allclose(pd.DataFrame(answer.json()["predictions"]).to_numpy(), want, rtol=0, atol=1e-12)
    unknown = rows.iloc[:1].assign(**{c: pd.NA for c in booleans})
    null_json = json.loads(unknown.to_json(orient="split", index=False))
    served = pd.DataFrame(_serve(model, json.dumps({"dataframe_split": null_json}), "application/json").json()["predictions"])
    np.testing.assert_allclose(served.to_numpy(), model.predict(unknown).to_numpy(), rtol=0, atol=1e-12)
    # the server hands the values over as sent (no cast to a boolean column that would make "maybe" true)
    maybe = json.loads(rows.iloc[:1].astype({booleans[0]: object}).assign(**{booleans[0]: "maybe"}).to_json(orient="split", index=False))
    refused = _serve(model, json.dumps({"dataframe_split": maybe}), "application/json")
    assert refused.status_code != 200 and booleans[0] in refused.text and "maybe" not in refused.text


def test_a_value_that_is_no_boolean_is_refused_by_column_and_rows_never_echoed(scored: Any) -> None:
    from precisionpain.errors import ProfileValidationError

    model, rows, _, catalog = scored
    column = _fields(catalog, "boolean")[0]
    bad = rows.iloc[:5].astype({column: object})
    bad.loc[[1, 3], column] = "sometimes-7"
    with pytest.raises(ProfileValidationError) as info:
        model.predict(bad)
    (violation,) = info.value.violations
    assert violation.path == column and "true or false" in violation.rule and "rows 1, 3" in violation.rule
    assert "sometimes" not in str(info.value)
    assert io.StringIO(str(info.value)).read().count("\n") == 1
