"""The deployment files of serving/deploy agree with the server: real flags, settings, ports and timings.

Each manifest is parsed (YAML for Kubernetes, line by line for the systemd unit and the Dockerfile); the
settings it gives the server are run through the server's own settings builder, its flags are looked up in
the real ``precisionpain serve`` command, and the health check script is run against a real server.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from precisionpain.cli import app
from precisionpain.service.config import ServerSettings, build_settings, env_name, setting_paths
from precisionpain.service.server import SERVICE_NAME
from precisionpain.service.status import STATUS_BY_ERROR
from tests.contract.serverproc import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "serving" / "deploy"
SERVER_YAML = REPO / "serving" / "server.yaml"
SETTING_ENV = {env_name(p): p for p in setting_paths()}
# What the process needs after drain_delay_s + grace_period_s to stop its threads and exit (server.stop()).
STOP_MARGIN_S = 5


def serve_flags() -> dict[str, bool]:
    """Every option of ``precisionpain serve`` -> whether it takes a value."""
    command: Any = typer.main.get_command(app)
    serve = command.commands["serve"]
    out: dict[str, bool] = {}
    for param in serve.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--"):
                out[opt] = not param.is_flag
    return out


def check_args(args: list[str]) -> dict[str, str | bool]:
    """Parse ``serve`` arguments strictly: every flag must exist and get a value when it takes one."""
    flags = serve_flags()
    out: dict[str, str | bool] = {}
    it: Iterator[str] = iter(args)
    for arg in it:
        assert arg in flags, f"{arg} is not an option of `precisionpain serve`"
        out[arg] = next(it) if flags[arg] else True
    return out


def settings_for(env: Mapping[str, str], args: Mapping[str, str | bool], tmp_path: Path) -> ServerSettings:
    """Build the server's settings as it would: the shipped server.yaml, this environment and these flags.

    Paths that only exist on the target machine (the model folder) are pointed at a temporary folder.
    """
    model_dir = tmp_path / "model"
    model_dir.mkdir(exist_ok=True)
    flags: dict[str, Any] = {}
    if "--model-path" in args:
        flags["model_path"] = model_dir
    if "--model" in args:
        flags["model"] = args["--model"]
    environ = {k: v for k, v in env.items() if k.startswith("PRECISIONPAIN_SERVE_")}
    if "PRECISIONPAIN_SERVE_MODEL_PATH" in environ:
        environ["PRECISIONPAIN_SERVE_MODEL_PATH"] = str(model_dir)
    return build_settings(flags, config_path=SERVER_YAML, environ=environ)


def shipped_settings() -> ServerSettings:
    return build_settings({}, config_path=SERVER_YAML, environ={})


# ------------------------------------------------------------------------------------------------ systemd


def systemd_unit() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (DEPLOY / "precisionpain-serve.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {line}"
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_unit_runs_serve_with_real_flags_and_reloads_on_sighup(tmp_path: Path) -> None:
    service = systemd_unit()["Service"]
    (exec_start,) = service["ExecStart"]
    argv = shlex.split(exec_start)
    assert Path(argv[0]).name == "precisionpain" and argv[1] == "serve"
    args = check_args(argv[2:])
    assert "--config" in args  # the unit's settings file: a copy of serving/server.yaml
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"]
    assert service["KillMode"] == ["mixed"]  # SIGTERM to the server only, SIGKILL to what is left
    assert service["User"] != ["root"]
    env = dict(v.split("=", 1) for v in service.get("Environment", []))
    assert env.get("OMP_WAIT_POLICY") == "passive"
    settings = settings_for(env, args, tmp_path)
    stop_s = float(service["TimeoutStopSec"][0])
    assert stop_s >= settings.drain_delay_s + settings.grace_period_s + STOP_MARGIN_S


def test_systemd_unit_is_hardened_but_lets_the_kernels_compile() -> None:
    service = systemd_unit()["Service"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictNamespaces": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service.get(key) == [value], key
    assert set(service["RestrictAddressFamilies"][0].split()) >= {"AF_INET", "AF_INET6"}
    # numba compiles the TreeSHAP kernels at run time: write-then-execute memory must stay allowed
    assert service.get("MemoryDenyWriteExecute", ["no"]) == ["no"]
    assert service["StateDirectory"] == ["precisionpain"]  # PRECISIONPAIN_HOME stays writable
    env = dict(v.split("=", 1) for v in service.get("Environment", []))
    assert env["PRECISIONPAIN_HOME"] == "/var/lib/precisionpain"


# ------------------------------------------------------------------------------------------------ Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        instruction, _, rest = line.partition(" ")
        out.append((instruction.upper(), rest.strip()))
    return out


def _env_pairs(args: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(args))


def _exec_form(args: str) -> list[str]:
    parsed = yaml.safe_load(args)  # a JSON array is valid YAML
    assert isinstance(parsed, list), f"use the exec form: {args}"
    return [str(a) for a in parsed]


def test_dockerfile_builds_from_constraints_and_runs_serve_as_a_user(tmp_path: Path) -> None:
    steps = dockerfile()
    froms = [a for i, a in steps if i == "FROM"]
    assert froms and all(a.split()[0] == "python:3.11-slim" for a in froms)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    included = {line[1:].strip().split("/")[0] for line in ignore if line.startswith("!")}
    assert "*" in ignore  # an allow list: the working copy's .venv and stores stay out of the context
    for instruction, args in steps:
        if instruction == "COPY" and not args.startswith("--from"):
            for src in shlex.split(args)[:-1]:
                assert (REPO / src).exists(), f"COPY {src}: not in the repository (the build context)"
                assert src.split("/")[0] in included, f"COPY {src}: excluded by Dockerfile.dockerignore"
    runs = " ".join(a for i, a in steps if i == "RUN")
    assert "-c constraints.txt" in runs or "PIP_CONSTRAINT" in runs
    user = [a for i, a in steps if i == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")

    env: dict[str, str] = {}
    for instruction, args in steps:
        if instruction == "ENV":
            env.update(_env_pairs(args))
    for name in env:
        if name.startswith("PRECISIONPAIN_SERVE_"):
            assert name in SETTING_ENV, f"{name} is not a server setting"
    assert env["OMP_WAIT_POLICY"] == "passive"
    entrypoint = _exec_form(next(a for i, a in steps if i == "ENTRYPOINT"))
    cmd = _exec_form(next(a for i, a in steps if i == "CMD"))
    assert entrypoint == ["precisionpain", "serve"]
    args = check_args(cmd)
    settings = settings_for(env, args, tmp_path)
    assert settings.host == "0.0.0.0"  # reachable through the published port
    (exposed,) = [int(a.split("/")[0]) for i, a in steps if i == "EXPOSE"]
    assert exposed == settings.port == shipped_settings().port
    assert [a for i, a in steps if i == "STOPSIGNAL"] in ([], ["SIGTERM"])


def test_dockerfile_healthcheck_runs_the_shipped_script() -> None:
    steps = dockerfile()
    (health,) = [a for i, a in steps if i == "HEALTHCHECK"]
    command = health.split(" CMD ", 1)[1]
    argv = _exec_form(command)
    copied = {
        shlex.split(a)[-1]: shlex.split(a)[0] for i, a in steps if i == "COPY" and not a.startswith("--from")
    }
    script = argv[1]
    assert copied.get(script) == "serving/deploy/healthcheck.py"


# ------------------------------------------------------------------------------------------------ Kubernetes


def kubernetes() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


def _container(docs: Mapping[str, Any]) -> dict[str, Any]:
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _port_number(container: Mapping[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))


def test_kubernetes_deployment_matches_the_server_settings(tmp_path: Path) -> None:
    docs = kubernetes()
    assert {"Deployment", "Service"} <= set(docs)
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = _container(docs)
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    for name in env:
        if name.startswith("PRECISIONPAIN_SERVE_"):
            assert name in SETTING_ENV, f"{name} is not a server setting"
    args = check_args(container["args"])
    settings = settings_for(env, args, tmp_path)
    assert settings.host == "0.0.0.0"
    grpc_port = _port_number(container, "grpc")
    assert grpc_port == settings.port

    # the token comes from a Secret, in the variable the server reads; reflection is behind it too (production)
    assert settings.auth.require_token and settings.auth.reflection_requires_token
    token_env = next(e for e in container["env"] if e["name"] == settings.auth.token_env)
    assert "secretKeyRef" in token_env["valueFrom"]

    # SIGTERM: NOT_SERVING, drain_delay_s still answering, then up to grace_period_s of draining
    grace = pod["terminationGracePeriodSeconds"]
    needed = settings.drain_delay_s + settings.grace_period_s + STOP_MARGIN_S
    assert needed <= grace <= needed + 30

    # two CPUs, and as many server threads
    resources = container["resources"]
    assert str(resources["requests"]["cpu"]) == "2"
    assert settings.workers == 2

    # the model folder lives on the read-only model volume
    model_path = Path(str(args["--model-path"]))
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert str(model_path.parent) in mounts and mounts[str(model_path.parent)].get("readOnly") is True
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    if security.get("readOnlyRootFilesystem"):
        assert "/tmp" in mounts  # registry downloads and temporary files


def test_kubernetes_probes_use_grpc_health_on_the_served_port() -> None:
    docs = kubernetes()
    container = _container(docs)
    port = _port_number(container, "grpc")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container[probe]
        assert set(spec) & {"grpc", "exec", "httpGet", "tcpSocket"} == {"grpc"}, probe
        assert spec["grpc"]["port"] == port
        assert spec["grpc"].get("service", "") in ("", SERVICE_NAME)
    # readiness follows the service (NOT_SERVING without a model and while draining)
    assert container["readinessProbe"]["grpc"]["service"] == SERVICE_NAME


def test_kubernetes_service_targets_the_grpc_port() -> None:
    docs = kubernetes()
    container = _container(docs)
    service = docs["Service"]
    pod_labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert _port_number(container, port["targetPort"]) == _port_number(container, "grpc")


# ------------------------------------------------------------------------------------------------ health check


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), *args], capture_output=True, text=True, timeout=60
    )


def test_healthcheck_script_against_a_real_server(shared_server: ServerProcess) -> None:
    ok = _healthcheck("--address", shared_server.target)
    assert (ok.returncode, ok.stdout.strip()) == (0, "SERVING")
    ok = _healthcheck("--address", shared_server.target, "--service", SERVICE_NAME)
    assert ok.returncode == 0
    unknown = _healthcheck("--address", shared_server.target, "--service", "no.such.Service")
    assert (unknown.returncode, unknown.stdout.strip()) == (1, "NOT_FOUND")
    closed = _healthcheck("--address", f"127.0.0.1:{free_port()}", "--timeout-s", "1")
    assert closed.returncode == 1


# ------------------------------------------------------------------------------------------------ runbook


@pytest.fixture(scope="module")
def runbook() -> str:
    return (REPO / "serving" / "runbook.md").read_text()


def test_runbook_documents_every_setting_flag_and_status(runbook: str) -> None:
    for path in setting_paths():
        assert f"`{path.rsplit('.', 1)[-1]}`" in runbook or f"`{path}`" in runbook, path
    for flag in serve_flags():
        assert flag in runbook, flag
    for code in {row.grpc_code.name for row in STATUS_BY_ERROR.values()}:
        assert f"`{code}`" in runbook, code
