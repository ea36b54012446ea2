"""Beyond one machine: batch scoring over Parquet datasets on the local or the Dask engine, and the team's MLflow
tracking server on PostgreSQL.

- :mod:`precisionpain.scale.datasets`: a Parquet dataset as partitions (a file, or a folder of files, cut into
  row groups and slices), read and written through pyarrow's file systems;
- :mod:`precisionpain.scale.scoring`: one partition of patients -> one partition of answers (ranked options,
  exclusions, probabilities with intervals, top-k exact TreeSHAP contributions), the model loaded once per
  process;
- :mod:`precisionpain.scale.engines`: the same partitions mapped in this process (``local``) or over a
  ``dask.distributed`` cluster (``dask``);
- :mod:`precisionpain.scale.cohort` and :mod:`precisionpain.scale.training`: ``cohort --engine`` (one part file per
  chunk) and ``train --engine dask`` (every booster trained by ``xgboost.dask``);
- :mod:`precisionpain.scale.worker_table`: the training table read, checked, split by patient and featurised on the
  workers, partition by partition, and an option's response boosters fitted from those partitions (not yet used by
  ``train``);
- :mod:`precisionpain.scale.evaluation`: ``evaluate --engine dask`` (the held-out predictions and SHAP sample
  computed partition by partition, the model loaded once per worker);
- :mod:`precisionpain.scale.tracking`: ``precisionpain mlflow-server``;
- :mod:`precisionpain.scale.commands`: the ``score`` and ``mlflow-server`` verbs and the engine options of the
  others.

Like the gRPC adapter, these only convert, delegate to the engine the server uses
(:class:`precisionpain.recommender.Recommender`) and convert back; the domain stages never know which engine
called them. Nothing happens at import time and Dask is imported only by the ``dask`` engine.
"""
