"""The registered pyfunc under ``mlflow.pyfunc.spark_udf``, for sites that score on Spark: a real MLflow store, a
model trained and registered as champion, a local Spark session (one core, small memory, loopback only, no UI)
reading the patients from Parquet as a site would, and the UDF's answers equal ``mlflow.pyfunc.load_model(...)
.predict`` on the same rows, for the result type MLflow infers from the signature (a struct of one double per
output column), the same struct given as a DDL string, and ``array<double>``.

Slow (the Spark JVM starts in about ten seconds, the training takes a few more); needs the ``spark`` extra
(``make slow`` installs it) and a Java runtime of version 17 or later."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.model.conftest import Store

pytestmark = pytest.mark.slow

N_PATIENTS = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session: one core, 512 MiB, bound to 127.0.0.1 on free ports, no UI, its Python workers on
    this interpreter."""
    pytest.importorskip("pyspark", reason="the spark extra (pip install -e '.[spark]') is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime (Spark needs Java 17 or later)")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    scratch = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("precisionpain-spark-udf-test")
        .config("spark.driver.memory", "512m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.port", str(_free_port()))
        .config("spark.blockManager.port", str(_free_port()))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def champion(
    store: Store, small_cohort_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, pd.DataFrame]:
    """(``models:/NAME@champion`` of a model trained on the small cohort, the flat profiles of some of its
    patients)."""
    import mlflow

    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.features.frame import flat_columns
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train
    from tests.model.conftest import REPO, config_dict, write_config

    name = "pp-spark-udf"
    path = write_config(tmp_path_factory.mktemp("spark-config") / "train.yaml", config_dict(name))
    result = train(small_cohort_file, load_train_config(path), config_path=path, **store.kwargs)
    assert result.promoted, "the first version of a registered model becomes its champion"
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    rows = pd.read_parquet(small_cohort_file).iloc[:N_PATIENTS]
    columns = [c for c in flat_columns(load_feature_catalog(REPO)) if c in rows.columns]
    return f"models:/{name}@champion", rows[columns].reset_index(drop=True)


@pytest.fixture(scope="module")
def patients(spark: Any, champion: tuple[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The patients as a Spark DataFrame read from Parquet (as a site's panel would be), in two partitions."""
    _, rows = champion
    path = tmp_path_factory.mktemp("spark-panel") / "panel.parquet"
    rows.assign(row=np.arange(len(rows), dtype=np.int64)).to_parquet(path, index=False)
    return spark.read.parquet(str(path)).repartition(2)


def _scored(spark_frame: Any, udf: Any, columns: list[str]) -> Any:
    from pyspark.sql import functions as F

    return (
        spark_frame.select("row", udf(F.struct(*[F.col(c) for c in columns])).alias("p"))
        .orderBy("row")
        .toPandas()
    )


def test_spark_udf_answers_equal_the_pyfunc_for_the_inferred_struct_a_ddl_struct_and_an_array(
    spark: Any, champion: tuple[str, pd.DataFrame], patients: Any
) -> None:
    import mlflow

    uri, rows = champion
    want = mlflow.pyfunc.load_model(uri).predict(rows)
    assert want.shape == (N_PATIENTS, 6) and want.notna().all().all()
    inputs = list(rows.columns)
    ddl = ", ".join(f"{c} double" for c in want.columns)
    as_struct: Callable[[Any], np.ndarray] = lambda p: np.array(  # noqa: E731
        [[r[c] for c in want.columns] for r in p], dtype=np.float64
    )
    cases: dict[str, tuple[Any, Callable[[Any], np.ndarray]]] = {
        "inferred from the signature": (None, as_struct),
        "struct as a DDL string": (ddl, as_struct),
        "array<double>": ("array<double>", lambda p: np.array([list(r) for r in p], dtype=np.float64)),
    }
    for what, (result_type, values) in cases.items():
        udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=result_type, env_manager="local")
        got = _scored(patients, udf, inputs)
        assert got["row"].tolist() == list(range(N_PATIENTS)), what
        np.testing.assert_allclose(values(got["p"]), want.to_numpy(), rtol=0, atol=1e-12, err_msg=what)


def test_spark_udf_refuses_a_bad_boolean_naming_the_column_not_the_value(
    spark: Any, champion: tuple[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A value that is not a boolean fails the Spark job with the pyfunc's own message (column and rule)."""
    import mlflow
    from pyspark.sql import functions as F

    uri, rows = champion
    boolean = next(c for c in rows.columns if rows[c].dropna().map(type).eq(bool).all() and rows[c].notna().any())
    bad = rows.iloc[:3].astype({boolean: object}).copy()
    bad[boolean] = ["secret-value-42", None, "true"]
    path = tmp_path_factory.mktemp("spark-bad") / "bad.parquet"
    bad.to_parquet(path, index=False)
    frame = spark.read.parquet(str(path))
    udf = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local")
    with pytest.raises(Exception) as caught:
        frame.select(udf(F.struct(*[F.col(c) for c in bad.columns]))).collect()
    text = str(caught.value)
    assert f"{boolean}: must be true or false, or empty (rows 0)" in text
    assert "secret-value-42" not in text
