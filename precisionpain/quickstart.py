"""Everything end to end on embedded defaults: cohort -> champion model -> gRPC server -> example reports.

1. a synthetic cohort (reused when the file with the same size and seed is there);
2. a registered champion in the embedded MLflow store, trained with the shipped spec
   (``models/response_model.yaml``) unless a champion for the current feature catalog already exists;
3. the gRPC server as its own process on a free 127.0.0.1 port, until its health check says SERVING;
4. every example patient sent over gRPC; each answer saved as a recommendation record and turned into the
   clinician report;
5. the server stopped with SIGTERM (it drains);
6. the CDS Hooks service started in the background on 127.0.0.1 (port 8090 when free), an ``order-select``
   request for an example patient (codeine for a CYP2D6 poor metabolizer) written beside the reports and fired
   once, and a summary of where everything is with the curl line that fires it again.

Re-running reuses the cohort and the champion, so a second run takes seconds plus the server start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from precisionpain.errors import ConfigError, PrecisionPainError, Violation

SERVER_START_TIMEOUT_S = 180.0
CHAMPION = "champion"
CDS_HOOKS_PORT = 8090
CDS_DEMO_PATIENT = "cyp2d6_poor_metabolizer"
CDS_DEMO_ORDER = ("2670", "codeine")  # RxNorm ingredient code, features/medications.yaml


class QuickstartError(PrecisionPainError, RuntimeError):
    """A quickstart step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class QuickstartPlan:
    out: Path
    home: Path | None = None
    tracking_uri: str | None = None
    catalog_root: Path | None = None
    n_patients: int = 200_000
    seed: int = 7
    examples: Path | None = None
    config: Path | None = None
    retrain: bool = False
    cds_hooks: bool = True  # start the CDS Hooks service at the end and leave it running


@dataclass(frozen=True)
class ExampleResult:
    name: str
    record: Path
    report: Path
    top_options: tuple[tuple[str, float], ...]
    excluded: tuple[str, ...]
    critical_flags: int


@dataclass(frozen=True)
class QuickstartResult:
    cohort: Path
    cohort_reused: bool
    model_uri: str
    model_version: str
    trained: bool
    tracking_uri: str
    examples: tuple[ExampleResult, ...]
    server_log: Path
    seconds: float
    cds_hooks: CdsHooksDemo | None = None


@dataclass(frozen=True)
class CdsHooksDemo:
    """The CDS Hooks service left running, the order-select request written for it and its first answer."""

    url: str
    pid: int
    log_path: Path
    request: Path
    answer: Path
    indicators: tuple[str, ...]

    @property
    def curl(self) -> str:
        import shlex

        return (
            f"curl -s -X POST {self.url}/cds-services/precisionpain-order-select "
            f"-H 'Content-Type: application/json' --data @{shlex.quote(_relative(self.request))}"
        )


Say = Callable[[str], None]
#: progress of a long step: (what is being done, fraction done)
Step = Callable[[str, float], None]
#: opens the progress display of one long step ("cohort", "training") and yields its Step
Track = Callable[[str], AbstractContextManager[Step]]


def _quiet(_: str) -> None:
    return None


def _no_progress(_message: str, _fraction: float) -> None:
    return None


@contextmanager
def _untracked(_label: str) -> Iterator[Step]:
    yield _no_progress


def example_patients(plan: QuickstartPlan) -> list[Path]:
    """The example profiles: ``--examples`` or the ``examples/patients`` folder shipped with the catalogs."""
    from precisionpain.catalog.loader import resolve_root

    folder = plan.examples or resolve_root(plan.catalog_root) / "examples" / "patients"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise ConfigError(
            "quickstart", [Violation("examples", "must be a folder holding profile *.json files", "path")]
        )
    return files


def ensure_cohort(
    plan: QuickstartPlan, say: Say = _quiet, progress: Step = _no_progress
) -> tuple[Path, bool]:
    """The cohort file, generated unless one with the same size and seed is already there."""
    import pyarrow.parquet as pq

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.cohort import cohort_file_name, cohort_metadata, generate_cohort, write_cohort

    cats = load_catalogs(plan.catalog_root)
    catalog, options, tables = cats.features, cats.options, cats.tables
    path = plan.out / cohort_file_name(plan.n_patients, plan.seed)
    wanted = cohort_metadata(plan.n_patients, plan.seed, catalog=catalog, options=options, tables=tables)
    if path.exists():
        meta = {k.decode(): v.decode() for k, v in (pq.read_schema(path).metadata or {}).items()}
        if all(meta.get(k) == v for k, v in wanted.items()):
            say(f"cohort: reusing {path}")
            return path, True
    say(f"cohort: generating {plan.n_patients:,} synthetic patients (seed {plan.seed})")
    what = f"generating {plan.n_patients:,} synthetic patients"
    progress(what, 0.0)
    frame = generate_cohort(
        plan.n_patients,
        plan.seed,
        catalog=catalog,
        options=options,
        tables=tables,
        progress=lambda done: progress(what, 0.9 * done / plan.n_patients),
    )
    progress("writing the cohort file", 0.9)
    write_cohort(
        frame, path, n=plan.n_patients, seed=plan.seed, catalog=catalog, options=options, tables=tables
    )
    progress("done", 1.0)
    return path, False


def ensure_champion(
    plan: QuickstartPlan, cohort: Path, say: Say = _quiet, progress: Step | None = None
) -> tuple[str, str, bool, str]:
    """(model URI, champion version, whether it was trained now, tracking URI). Trains when there is no
    champion, when the champion was trained with another feature catalog, or when ``retrain`` is set."""
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.models.config import default_config_path, load_train_config
    from precisionpain.models.registry import Registry, store_location
    from precisionpain.models.training import train

    config_path = plan.config or default_config_path(plan.catalog_root)
    config = load_train_config(config_path, known_options=load_treatment_options(plan.catalog_root).ids)
    uri, artifacts = store_location(plan.home, plan.tracking_uri)
    registry = Registry(uri, artifacts)
    name = config.registered_model
    model_uri = f"models:/{name}@{CHAMPION}"
    catalog_sha = load_feature_catalog(plan.catalog_root).sha256
    current = registry.version_by_alias(name, CHAMPION)
    if current is not None and not plan.retrain and current.tags.get("catalog_sha256") == catalog_sha:
        say(f"model: reusing {name} v{current.version} (champion)")
        return model_uri, current.version, False, uri
    why = (
        "no champion yet"
        if current is None
        else "retrain requested"
        if plan.retrain
        else "the feature catalog changed"
    )
    say(f"model: training ({why}) with {config_path.name}; runs go to {uri}")
    result = train(
        cohort,
        config,
        tracking_uri=uri,
        artifact_root=artifacts,
        catalog_root=plan.catalog_root,
        config_path=config_path,
        progress=progress,
    )
    say(f"model: {result.decision}")
    champion = registry.version_by_alias(name, CHAMPION)
    if champion is None or champion.tags.get("catalog_sha256") != catalog_sha:
        raise QuickstartError(
            f"the champion of {name} was trained with another feature catalog and the new version "
            f"v{result.version} did not replace it; promote it with "
            f"'precisionpain promote --model models:/{name}/{result.version}'"
        )
    return model_uri, champion.version, True, uri


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def _log_records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record


def _log_tail(path: Path, n: int = 15) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-n:])


@contextmanager
def running_server(
    plan: QuickstartPlan, model_uri: str, tracking: str, log_path: Path
) -> Iterator[RunningServer]:
    """``precisionpain serve`` as its own process on a free 127.0.0.1 port, SERVING before the block runs;
    stopped with SIGTERM (drain) afterwards, whatever happens in the block."""
    from precisionpain.service.client import RecommendationClient, RecommendationServiceError

    argv = [
        sys.executable,
        "-m",
        "precisionpain.service.server",
        "--model",
        model_uri,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--tracking-uri",
        tracking,
        "--alias-check-interval-s",
        "0",
    ]
    if plan.home is not None:
        argv += ["--home", str(plan.home)]
    if plan.catalog_root is not None:
        argv += ["--catalog-root", str(plan.catalog_root)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file: IO[bytes] = log_path.open("wb")
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive")}
    proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    server: RunningServer | None = None
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            ports = [r.get("port") for r in _log_records(log_path) if r.get("message") == "listening"]
            if ports and isinstance(ports[-1], int):
                server = RunningServer(proc, log_path, ports[-1])
                break
            time.sleep(0.1)
        if server is not None:
            with RecommendationClient(server.target, timeout_s=2.0) as client:
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        if client.health() == "SERVING":
                            break
                    except RecommendationServiceError:
                        pass
                    time.sleep(0.2)
                else:
                    server = None
        if server is None:
            raise QuickstartError(
                f"the server did not become healthy (exit status {proc.poll()}); its log is {log_path}:\n"
                + _log_tail(log_path)
            )
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()


def send_examples(
    server: RunningServer, plan: QuickstartPlan, patients: list[Path], say: Say = _quiet
) -> tuple[ExampleResult, ...]:
    """Each example over gRPC; the answer saved as a recommendation record and rendered as a report."""
    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.explain.commands import report_from_record, write_report
    from precisionpain.service.client import RecommendationClient, recommend_request
    from precisionpain.service.commands import checked_profile, recommendation_record, write_record

    catalogs = load_catalogs(plan.catalog_root)
    records_dir, reports_dir = plan.out / "recommendations", plan.out / "reports"
    records_dir.mkdir(parents=True, exist_ok=True)
    results: list[ExampleResult] = []
    with RecommendationClient(server.target, timeout_s=30.0) as client:
        summary = client.model_summary()
        for path in patients:
            name = path.name.removesuffix(".json")
            data = json.loads(path.read_text(encoding="utf-8"))
            profile = checked_profile(data, catalogs)
            response = client.recommend(recommend_request(data))
            record = recommendation_record(profile, response, summary)
            record_path = records_dir / f"{name}.recommendation.json"
            write_record(record, record_path)
            report = report_from_record(record, catalogs)
            report_path = reports_dir / f"{name}.html"
            write_report(report, report_path)
            rec = record.explained.recommendation
            results.append(
                ExampleResult(
                    name=name,
                    record=record_path,
                    report=report_path,
                    top_options=tuple((o.display_name, o.p_response) for o in rec.options[:3]),
                    excluded=tuple(o.display_name for o in rec.excluded),
                    critical_flags=len(report.critical_flags),
                )
            )
            say(f"report: {report_path}")
    return tuple(results)


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cds_pid_file(out: Path) -> Path:
    return out / "cds-hooks.pid"


def stop_cds_hooks(out: Path, timeout_s: float = 30.0) -> bool:
    """Stop the CDS Hooks service a quickstart left running in ``out`` (SIGTERM, it drains); True if one was."""
    pid_file = _cds_pid_file(out)
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"cds-hooks" not in cmdline.read_bytes():
        pid_file.unlink(missing_ok=True)
        return False  # the id now belongs to another program
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _order_select_request(plan: QuickstartPlan, patients: list[Path]) -> dict[str, Any]:
    """An order-select request as an EHR sends it: the demo patient's FHIR data as prefetch, codeine ordered."""
    import datetime as dt

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.cdshooks.from_profile import bundle_from_profile
    from precisionpain.cdshooks.hook_requests import (
        draft_medication_request,
        hook_request,
        prefetch_from_bundle,
    )
    from precisionpain.cdshooks.mapping import load_fhir_mapping
    from precisionpain.service.commands import checked_profile

    path = next((p for p in patients if p.name == f"{CDS_DEMO_PATIENT}.json"), patients[0])
    profile = checked_profile(json.loads(path.read_text(encoding="utf-8")), load_catalogs(plan.catalog_root))
    bundle = bundle_from_profile(
        profile, load_fhir_mapping(plan.catalog_root), as_of=dt.datetime.now(dt.UTC).date()
    )
    patient_id, prefetch = prefetch_from_bundle(bundle)
    rxcui, name = CDS_DEMO_ORDER
    order = draft_medication_request(patient_id, rxcui, name)
    return hook_request("order-select", patient_id, prefetch, orders=[order])


def start_cds_hooks(
    plan: QuickstartPlan, model_args: list[str], patients: list[Path], say: Say = _quiet
) -> CdsHooksDemo:
    """``precisionpain cds-hooks MODEL_ARGS`` (``--model URI --tracking-uri T``, or ``--model-path DIR``) left
    running in the background (a previous quickstart's in the same folder is stopped first), healthy, with an
    order-select request written and fired once."""
    import httpx

    stop_cds_hooks(plan.out)
    folder = plan.out / "cds-hooks"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = plan.out / "cds-hooks.log"
    port = CDS_HOOKS_PORT if _free(CDS_HOOKS_PORT) else 0
    argv = [
        sys.executable, "-m", "precisionpain.cli", "cds-hooks", *model_args, "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
    if plan.home is not None:
        argv += ["--home", str(plan.home)]
    if plan.catalog_root is not None:
        argv += ["--catalog-root", str(plan.catalog_root)]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "passive")}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    _cds_pid_file(plan.out).write_text(f"{proc.pid}\n")
    request = _order_select_request(plan, patients)
    request_path = folder / "order-select.request.json"
    request_path.write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    url = ""
    while time.monotonic() < deadline and proc.poll() is None and not url:
        ports = [r.get("port") for r in _log_records(log_path) if r.get("message") == "listening"]
        if ports and isinstance(ports[-1], int):
            url = f"http://127.0.0.1:{ports[-1]}"
        time.sleep(0.1)
    answer = None
    while url and time.monotonic() < deadline and proc.poll() is None:
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                answer = httpx.post(
                    f"{url}/cds-services/precisionpain-order-select", json=request, timeout=30
                )
                break
        time.sleep(0.2)
    if answer is None or answer.status_code != 200:
        stop_cds_hooks(plan.out)
        raise QuickstartError(
            f"the CDS Hooks service did not answer (exit status {proc.poll()}); its log is {log_path}:\n"
            + _log_tail(log_path)
        )
    answer_path = folder / "order-select.cards.json"
    answer_path.write_text(json.dumps(answer.json(), indent=2) + "\n", encoding="utf-8")
    indicators = tuple(str(c.get("indicator")) for c in answer.json().get("cards", ()))
    say(
        f"cds-hooks: running on {url} (pid {proc.pid}); order-select answered {', '.join(indicators) or 'no card'}"
    )
    return CdsHooksDemo(url, proc.pid, log_path, request_path, answer_path, indicators)


def command_path(name: str) -> str:
    """How to start one of this environment's programs from the working directory when its folder may not be
    on PATH: the script beside the running Python (``.venv/bin/precisionpain``), relative to the working
    directory when it lies inside it."""
    path = Path(sys.executable).parent / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def summary_text(plan: QuickstartPlan, result: QuickstartResult) -> str:
    """Where everything is, and the commands to go on with, each runnable as printed."""
    store = result.tracking_uri
    ui = f"{command_path('mlflow')} ui --backend-store-uri {store}" if store.startswith("sqlite:") else store
    serve = f"{command_path('precisionpain')} serve --model {result.model_uri}"
    if plan.home is not None:
        serve += f" --home {plan.home}"
    if plan.tracking_uri is not None:
        serve += f" --tracking-uri {plan.tracking_uri}"
    cds = ""
    if result.cds_hooks is not None:
        d = result.cds_hooks
        cds = (
            f"CDS Hooks:        {d.url}/cds-services (running, pid {d.pid}; stop it: kill {d.pid})\n"
            f"order-select:     {d.curl}\n"
        )
    return (
        f"reports:          {plan.out / 'reports'}  (open the .html files in a browser)\n"
        f"recommendations:  {plan.out / 'recommendations'}\n"
        f"server log:       {result.server_log}\n"
        f"MLflow UI:        {ui}\n"
        f"serve yourself:   {serve}\n"
        f"{cds}"
        f"done in {result.seconds:.0f} s (cohort {'reused' if result.cohort_reused else 'generated'}, "
        f"model {'trained' if result.trained else 'reused'})"
    )


def run_quickstart(plan: QuickstartPlan, say: Say = _quiet, track: Track = _untracked) -> QuickstartResult:
    """Every step; ``say`` gets one line per step, ``track(label)`` shows the progress of the long ones (cohort
    generation and training) with an estimate of the time left."""
    started = time.perf_counter()
    plan.out.mkdir(parents=True, exist_ok=True)
    patients = example_patients(plan)
    with track("cohort") as step:
        cohort, reused = ensure_cohort(plan, say, step)
    with track("training") as step:
        model_uri, version, trained, tracking = ensure_champion(plan, cohort, say, step)
    log_path = plan.out / "server.log"
    say("server: starting on 127.0.0.1")
    with running_server(plan, model_uri, tracking, log_path) as server:
        say(f"server: SERVING on {server.target}; sending {len(patients)} example patients")
        examples = send_examples(server, plan, patients, say)
    say("server: stopped")
    demo = None
    if plan.cds_hooks:
        demo = start_cds_hooks(plan, ["--model", model_uri, "--tracking-uri", tracking], patients, say)
    return QuickstartResult(
        cohort=cohort,
        cohort_reused=reused,
        model_uri=model_uri,
        model_version=version,
        trained=trained,
        tracking_uri=tracking,
        examples=examples,
        server_log=log_path,
        seconds=time.perf_counter() - started,
        cds_hooks=demo,
    )
