"""One partition of patients -> one partition of answers, through the engine the server uses.

Each row of the input is a patient in the flat form (one column per catalog field, as in a cohort file). It is
read into a profile and checked like a ``RecommendBatch`` item (:func:`precisionpain.features.validate
.validate_profile`); the valid ones are scored together by :meth:`precisionpain.recommender.Recommender
.score_items` (features, calibrated probabilities with their intervals and exact TreeSHAP for every shown option
at once, then the safety rules, CPIC and the ranking per patient). A patient whose row breaks a rule gets the
error's reason (the status table's ``reason``, as in a ``RecommendBatch`` item) and message instead of an answer;
the others are answered.

One output row per input row (:func:`answer_schema`): ``row`` (position in the input dataset), the patient id
column when the input has one, ``error_reason`` and ``error`` (null when answered), ``options`` (usable options
in the answer's order) and ``excluded`` (options the safety rules exclude), each a list of options with the
response probability and its interval, each harm outcome's probability and interval, the net benefit and its
interval, the tie group and probability of being best, the verdict, the safety rule ids, the guideline tier and
the response model's top-k contributions by absolute SHAP value (log-odds; ``base_value + sum of every
contribution = margin``), then ``warnings`` (kind and field of each data warning) and ``safety_flags`` (codes).
The model's identity and the catalog hashes are in each file's metadata (key ``precisionpain``).

The model is loaded once per process (:func:`loaded_model`) and kept for the partitions that follow: on a Dask
worker the first task loads it, the others reuse it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from precisionpain.errors import ModelError, PrecisionPainError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from precisionpain.recommender import ScoredRecommendation
    from precisionpain.scale.datasets import Partition
    from precisionpain.service.model_store import LoadedModel

METADATA_KEY = b"precisionpain"
ROW_COLUMN = "row"
MAX_TOP_K = 64
#: patients scored together inside a task (the engine's arrays of a batch are the bulk of a task's memory)
BATCH_ROWS = 1_000


@dataclass(frozen=True)
class ModelSpec:
    """Which model every task loads (picklable, sent to the workers): a registry version pinned by number (an
    alias is resolved once, by the client, so a moving alias cannot split a run over two versions) or a package
    folder, and the feature catalog sha256 it must match."""

    expected_catalog_sha256: str
    uri: str = ""
    path: str = ""
    tracking_uri: str = ""
    home: str = ""
    label: str = ""


_loaded: dict[ModelSpec, LoadedModel] = {}
_loading = threading.Lock()
_loads = [0]  # models loaded by this process so far


def models_loaded() -> int:
    """How many times this process has loaded a model for scoring (once per worker and model)."""
    return _loads[0]


def loaded_model(spec: ModelSpec) -> LoadedModel:
    """The model of ``spec``, loaded on the first call in this process (verified like the server's: every file
    against the package manifest, a registry version's manifest against its recorded sha256) and kept."""
    from precisionpain.service.heap import settle_heap
    from precisionpain.service.model_store import load_model, model_source

    with _loading:
        found = _loaded.get(spec)
        if found is None:
            source = model_source(
                spec.uri or None,
                Path(spec.path) if spec.path else None,
                home=Path(spec.home) if spec.home else None,
                tracking_uri=spec.tracking_uri or None,
            )
            _loaded.clear()  # one model per process
            found = load_model(source, spec.expected_catalog_sha256, warmup=False)
            _loads[0] += 1
            _loaded[spec] = found
            settle_heap()  # as a server does after a load: collections no longer walk the model
        return found


def _harm_type() -> pa.DataType:
    import pyarrow as pa

    return pa.struct(
        [
            ("outcome", pa.string()),
            ("probability", pa.float64()),
            ("lower", pa.float64()),
            ("upper", pa.float64()),
        ]
    )


def _types() -> tuple[pa.DataType, pa.DataType]:
    import pyarrow as pa

    contribution = pa.struct(
        [("feature_id", pa.string()), ("value", pa.float64()), ("shap_value", pa.float64())]
    )
    option = pa.struct(
        [
            ("rank", pa.int32()),
            ("option_id", pa.string()),
            ("p_response", pa.float64()),
            ("p_lower", pa.float64()),
            ("p_upper", pa.float64()),
            ("interval_level", pa.float64()),
            ("harms", pa.list_(_harm_type())),
            ("net_benefit", pa.float64()),
            ("net_benefit_lower", pa.float64()),
            ("net_benefit_upper", pa.float64()),
            ("tie_group", pa.int32()),
            ("probability_best", pa.float64()),
            ("tier_overridden", pa.bool_()),
            ("verdict", pa.string()),
            ("exclusion_reason", pa.string()),
            ("safety_rules", pa.list_(pa.string())),
            ("guideline_tier", pa.string()),
            ("base_value", pa.float64()),
            ("margin", pa.float64()),
            ("contributions", pa.list_(contribution)),
            ("other_contributions", pa.float64()),
        ]
    )
    return contribution, option


def answer_schema(id_column: str | None) -> pa.Schema:
    """The output schema (``id_column`` as a string column when the input has one)."""
    import pyarrow as pa

    _, option = _types()
    warning = pa.struct([("kind", pa.string()), ("field", pa.string())])
    fields = [pa.field(ROW_COLUMN, pa.int64(), nullable=False)]
    if id_column:
        fields.append(pa.field(id_column, pa.string()))
    fields += [
        pa.field("error_reason", pa.string()),
        pa.field("error", pa.string()),
        pa.field("options", pa.list_(option)),
        pa.field("excluded", pa.list_(option)),
        pa.field("warnings", pa.list_(warning)),
        pa.field("safety_flags", pa.list_(pa.string())),
    ]
    return pa.schema(fields)


#: per-option scalar fields, read from each RankedOption
_SCALARS = (
    "rank",
    "option_id",
    "p_response",
    "p_lower",
    "p_upper",
    "interval_level",
    "net_benefit",
    "net_benefit_lower",
    "net_benefit_upper",
    "tie_group",
    "probability_best",
    "tier_overridden",
    "verdict",
    "exclusion_reason",
)


class _Shown:
    """The shown options of one partition in answer order (each patient's ranked options best first, then its
    excluded ones), gathered as columns; SHAP arrays stay numpy until the end."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[Any]] = {name: [] for name in _SCALARS}
        self.tiers: list[str | None] = []
        self.rule_offsets: list[int] = [0]
        self.rules: list[str] = []
        self.harm_offsets: list[int] = [0]
        #: every shown option's harm outcomes as columns (outcome, probability, lower, upper): plain values, which
        #: the garbage collector does not track, rather than a dict per harm
        self.harms: dict[str, list[Any]] = {"outcome": [], "probability": [], "lower": [], "upper": []}
        self.patient: list[int] = []  # which answered patient (index into the stacked arrays' blocks)
        self.row: list[int] = []  # row of the option in the stacked SHAP arrays

    def add(self, options: Sequence[Any], patient: int, first: int, position: dict[str, int]) -> None:
        s = self.scalars
        for o in options:
            s["rank"].append(o.rank)
            s["option_id"].append(o.option_id)
            s["p_response"].append(o.p_response)
            s["p_lower"].append(o.interval.lower)
            s["p_upper"].append(o.interval.upper)
            s["interval_level"].append(o.interval.level)
            nb = o.net_benefit
            s["net_benefit"].append(nb.value if nb is not None else None)
            s["net_benefit_lower"].append(nb.interval.lower if nb is not None else None)
            s["net_benefit_upper"].append(nb.interval.upper if nb is not None else None)
            s["tie_group"].append(o.tie_group)
            s["probability_best"].append(o.probability_best)
            s["tier_overridden"].append(o.tier_overridden)
            harms = self.harms
            for h in o.harms:
                harms["outcome"].append(h.outcome.value)
                harms["probability"].append(h.probability)
                harms["lower"].append(h.interval.lower)
                harms["upper"].append(h.interval.upper)
            self.harm_offsets.append(len(harms["outcome"]))
            s["verdict"].append(o.verdict)
            s["exclusion_reason"].append(o.exclusion_reason)
            self.tiers.append(o.guideline.tier.value if o.guideline is not None else None)
            self.rules.extend(r.rule_id for r in o.safety_reasons)
            self.rule_offsets.append(len(self.rules))
            self.patient.append(patient)
            self.row.append(first + position[o.option_id])


def _option_values(
    shown: _Shown,
    contributions: Any,
    base: Any,
    margins: Any,
    values: Any,
    feature_ids: Sequence[str],
    top_k: int,
) -> pa.StructArray:
    """The option structs of ``shown``: scalars, and each option's top ``top_k`` contributions by absolute SHAP
    value (ties in feature order, the order :func:`precisionpain.explain.contributions.explain_options` and the
    gRPC response use) with the sum of the rest."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    contribution, option = _types()
    rows = np.asarray(shown.row, dtype=np.int64)
    C = contributions[rows]  # (m, p)
    m, p = C.shape
    k = max(0, min(int(top_k), p))
    order = np.argsort(-np.abs(C), axis=1, kind="stable")
    ranked = np.take_along_axis(C, order, axis=1)
    top = order[:, :k]
    X = values[np.asarray(shown.patient, dtype=np.int64)[:, None], top]  # the patient's value of each feature
    offsets = pa.array(np.arange(0, m * k + 1, k, dtype=np.int32) if m else np.zeros(1, np.int32))
    contributions_list = pa.ListArray.from_arrays(
        offsets,
        pa.StructArray.from_arrays(
            [
                pc.take(pa.array(list(feature_ids), pa.string()), pa.array(top.ravel(), pa.int32())),
                pa.array(X.ravel(), pa.float64(), from_pandas=True),  # NaN (missing) -> null
                pa.array(ranked[:, :k].ravel(), pa.float64()),
            ],
            fields=list(contribution),
        ),
    )
    columns: dict[str, pa.Array] = {
        name: pa.array(shown.scalars[name], option.field(name).type) for name in _SCALARS
    }
    columns["guideline_tier"] = pa.array(shown.tiers, pa.string())
    columns["safety_rules"] = pa.ListArray.from_arrays(
        pa.array(shown.rule_offsets, pa.int32()), pa.array(shown.rules, pa.string())
    )
    columns["harms"] = pa.ListArray.from_arrays(
        pa.array(shown.harm_offsets, pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(shown.harms[f.name], f.type) for f in _harm_type()], fields=list(_harm_type())
        ),
    )
    columns["base_value"] = pa.array(base[rows], pa.float64())
    columns["margin"] = pa.array(margins[rows], pa.float64())
    columns["contributions"] = contributions_list
    columns["other_contributions"] = pa.array(ranked[:, k:].sum(axis=1), pa.float64())
    return pa.StructArray.from_arrays([columns[f.name] for f in option], fields=list(option))


def answer_table(
    first_row: int,
    ids: Sequence[Any] | None,
    id_column: str | None,
    outcomes: Iterable[ScoredRecommendation | PrecisionPainError],
    top_k: int,
) -> pa.Table:
    """The output rows of one partition: ``outcomes`` gives one answer or error per input row, in order.

    Each answer is taken apart into columns as it arrives and only its arrays are kept, so the answers' objects
    (options, intervals, reasons: about a thousand per patient) never pile up: held for a whole batch, every pass
    of the garbage collector walked all of them, which cost as much as the scoring itself."""
    import numpy as np
    import pyarrow as pa

    from precisionpain.service.status import error_status_for

    schema = answer_schema(id_column)
    shown = _Shown()
    lists: dict[str, list[int]] = {"options": [0], "excluded": [0]}
    valid: list[bool] = []
    reasons: list[str | None] = []
    messages: list[str | None] = []
    warnings: list[list[dict[str, str]] | None] = []
    flags: list[list[str] | None] = []
    arrays: dict[str, list[Any]] = {"contributions": [], "base": [], "margins": [], "values": []}
    feature_ids: Sequence[str] = ()
    first = 0
    for outcome in outcomes:
        if isinstance(outcome, PrecisionPainError):
            reasons.append(error_status_for(outcome).reason)
            messages.append(str(outcome))
            warnings.append(None)
            flags.append(None)
            valid.append(False)
            lists["options"].append(lists["options"][-1])
            lists["excluded"].append(lists["excluded"][-1])
            continue
        rec = outcome.recommendation
        position = {o: j for j, o in enumerate(outcome.option_ids)}
        patient = len(arrays["values"])
        for name, options in (("options", rec.options), ("excluded", rec.excluded)):
            shown.add(options, patient, first, position)
            lists[name].append(lists[name][-1] + len(options))
        arrays["contributions"].append(outcome.contributions)
        arrays["base"].append(outcome.base_values)
        arrays["margins"].append(outcome.margins)
        arrays["values"].append(outcome.values)
        feature_ids = outcome.catalog.feature_ids
        first += len(outcome.option_ids)
        valid.append(True)
        reasons.append(None)
        messages.append(None)
        warnings.append([{"kind": w.kind.value, "field": w.field} for w in rec.warnings])
        flags.append([f.code for f in rec.safety_flags])
        del outcome, rec  # the answer's objects go now, not at the next one
    n = len(valid)
    if arrays["values"]:
        contributions = np.concatenate(arrays["contributions"])
        base = np.concatenate(arrays["base"])
        margins = np.concatenate(arrays["margins"])
        values = np.stack(arrays["values"])
    else:
        contributions = np.zeros((0, 0))
        base = margins = np.zeros(0)
        values = np.zeros((0, 0))
    # ranked options first, then excluded ones, per patient: split the gathered options into the two lists
    option_values = _option_values(shown, contributions, base, margins, values, feature_ids, top_k)
    in_options = np.zeros(len(shown.row), dtype=bool)
    cursor = 0
    for i in range(n):
        k_ranked = lists["options"][i + 1] - lists["options"][i]
        k_excluded = lists["excluded"][i + 1] - lists["excluded"][i]
        in_options[cursor : cursor + k_ranked] = True
        cursor += k_ranked + k_excluded
    mask = pa.array(~np.asarray(valid, dtype=bool)) if not all(valid) else None  # null lists: refused rows
    columns: dict[str, Any] = {ROW_COLUMN: pa.array(range(first_row, first_row + n), pa.int64())}
    if id_column:
        columns[id_column] = pa.array(
            [None if v is None else str(v) for v in (ids or [None] * n)], pa.string()
        )
    columns["error_reason"] = pa.array(reasons, pa.string())
    columns["error"] = pa.array(messages, pa.string())
    for name, selected in (("options", in_options), ("excluded", ~in_options)):
        columns[name] = pa.ListArray.from_arrays(
            pa.array(lists[name], pa.int32()), option_values.filter(pa.array(selected)), mask=mask
        )
    columns["warnings"] = pa.array(warnings, schema.field("warnings").type)
    columns["safety_flags"] = pa.array(flags, schema.field("safety_flags").type)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def score_rows(
    model: LoadedModel, rows: Sequence[dict[str, Any]], top_k: int
) -> Iterator[ScoredRecommendation | PrecisionPainError]:
    """Flat rows -> one ScoredRecommendation or PrecisionPainError per row, in order (each row checked alone).
    The rows are checked and scored together on the first ``next``; the answers are then made one at a time
    (:meth:`precisionpain.recommender.Recommender.score_items`), for a caller that takes each apart before the
    next."""
    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.features.validate import validate_profile

    engine = model.engine
    catalog, tables = engine.package.catalog, engine.package.tables
    outcomes: list[PrecisionPainError | None] = []  # a row's error, or None for a row the engine answers
    profiles = []
    for row in rows:
        try:
            profiles.append(validate_profile(row_to_profile_dict(row, catalog), catalog, tables))
        except PrecisionPainError as exc:
            outcomes.append(exc.with_traceback(None))
            continue
        outcomes.append(None)
    answers = engine.score_items(profiles, top_k=top_k)
    for outcome in outcomes:
        yield outcome if outcome is not None else next(answers)
    if next(answers, None) is not None:
        raise AssertionError("the engine gave more answers than patients")


@dataclass(frozen=True)
class PartitionResult:
    """What a task returns to the client: small, never patient data."""

    index: int
    rows: int
    answered: int
    errors: int
    seconds: float
    out: str
    cpu_seconds: float = 0.0  # this process's CPU time for the task (below ``seconds`` when cores are shared)


def file_metadata(model: LoadedModel, top_k: int) -> dict[str, Any]:
    """What every output file says about the model and the catalogs (no patient data)."""
    prov = model.engine.provenance()
    return {
        "format": "precisionpain.score",
        "format_version": 1,
        "top_k": top_k,
        "model_uri": model.identity.uri,
        "manifest_sha256": model.manifest_sha256,
        "provenance": prov.model_dump(mode="json", exclude={"generated_at", "intended_use"}),
    }


def score_partition(
    spec: ModelSpec, out: str, top_k: int, id_column: str | None, partition: Partition
) -> PartitionResult:
    """Read one partition, answer every patient in it, write its part file (the task every engine maps).

    Patients are scored :data:`BATCH_ROWS` at a time (each patient's answer does not depend on the others in
    its batch), so a task's memory is the model, the partition's rows and its answers as Arrow columns, whatever
    the partition size. The task runs with the serving processes' garbage-collector threshold
    (:func:`precisionpain.service.heap.serving_threshold`); the process's own is back after it."""
    import pyarrow as pa

    from precisionpain.features.frame import flat_columns
    from precisionpain.scale.datasets import read_partition, write_part
    from precisionpain.service.heap import serving_threshold

    started, cpu = time.perf_counter(), time.process_time()
    try:
        with serving_threshold():
            model = loaded_model(spec)
            columns = list(flat_columns(model.engine.package.catalog))
            wanted = [*columns, id_column] if id_column and id_column not in columns else columns
            rows = read_partition(partition, wanted)
            tables = []
            answered = errors = 0
            for start in range(0, rows.num_rows, BATCH_ROWS):
                frame = rows.slice(start, BATCH_ROWS).to_pandas()
                ids = frame[id_column].tolist() if id_column and id_column in frame.columns else None
                outcomes = score_rows(model, frame.to_dict(orient="records"), top_k)
                table = answer_table(partition.first_row + start, ids, id_column, outcomes, top_k)
                answered_here = table.column("error_reason").null_count  # a refused row carries its reason
                answered += answered_here
                errors += table.num_rows - answered_here
                tables.append(table)
                del frame, outcomes, table  # a batch's answers are held as Arrow columns only
            table = pa.concat_tables(tables) if tables else answer_schema(id_column).empty_table()
            meta = json.dumps(file_metadata(model, top_k), sort_keys=True).encode("utf-8")
            table = table.replace_schema_metadata({METADATA_KEY: meta})
            written = write_part(out, partition.index, table)
    except ValidationError as exc:
        # raised once for the whole partition (not a patient's row): carried back as a message, since a
        # validation error's violations do not survive the trip from a worker
        raise ModelError(str(exc)) from None
    return PartitionResult(
        partition.index,
        answered + errors,
        answered,
        errors,
        time.perf_counter() - started,
        written,
        time.process_time() - cpu,
    )
