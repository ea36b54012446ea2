"""The wheel: the package, its generated gRPC code and byte-identical copies of the reviewed YAML catalogs,
CPIC tables and example patients; installed from the wheel alone, the code finds those copies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLED = {"features": "features", "models": "models", "serving": "serving", "examples/patients": "examples/patients"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("precisionpain-*.whl")
    return found


def _repo_files(folder: str) -> dict[str, bytes]:
    base = REPO / folder
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def test_bundled_copies_equal_the_repository(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for src, dst in BUNDLED.items():
            prefix = f"precisionpain/_bundled/{dst}/"
            inside = {n.removeprefix(prefix): zf.read(n) for n in names if n.startswith(prefix) and not n.endswith("/")}
            assert inside == _repo_files(src), src
    assert {"precisionpain/v1/service_pb2.py", "precisionpain/v1/service_pb2_grpc.py", "precisionpain/cli.py"} <= names
    assert not any(n.startswith(("tests/", "experiments/", "benchmarks/")) for n in names)


def test_installed_from_the_wheel_alone_it_uses_the_bundled_copies(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    probe = (
        "import json\n"
        "from precisionpain.catalog.loader import load_feature_catalog, resolve_root\n"
        "from precisionpain.models.config import default_config_path, load_train_config\n"
        "from precisionpain.quickstart import QuickstartPlan, example_patients\n"
        "print(json.dumps({'root': str(resolve_root()), 'sha': load_feature_catalog().sha256,\n"
        "  'model': load_train_config(default_config_path()).registered_model,\n"
        "  'examples': [p.name for p in example_patients(QuickstartPlan(out=None))]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PRECISIONPAIN_CATALOG_ROOT"}
    env["PYTHONPATH"] = str(unpacked)
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    got = json.loads(done.stdout)
    assert Path(got["root"]) == unpacked / "precisionpain" / "_bundled"
    from precisionpain.catalog.loader import load_feature_catalog

    assert got["sha"] == load_feature_catalog(REPO).sha256
    assert got["model"] == "precisionpain-response"
    assert got["examples"] == sorted(p.name for p in (REPO / "examples" / "patients").glob("*.json"))


def test_shipped_spec_equals_the_baseline_experiment() -> None:
    import yaml

    shipped = yaml.safe_load((REPO / "models" / "response_model.yaml").read_text())
    baseline = yaml.safe_load((REPO / "experiments" / "baseline" / "config.yaml").read_text())
    assert shipped.pop("experiment") == "default" and baseline.pop("experiment") == "baseline"
    assert shipped == baseline
