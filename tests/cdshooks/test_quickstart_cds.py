"""The quickstart's last step on its own: the CDS Hooks service left running, and its printed curl line works."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cdshooks.conftest import PATIENT_EXAMPLES


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_quickstart_starts_the_service_and_its_curl_line_fires_order_select(
    small_package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from precisionpain.quickstart import QuickstartPlan, start_cds_hooks, stop_cds_hooks

    monkeypatch.chdir(tmp_path)
    for key in ("PRECISIONPAIN_API_TOKENS", "PRECISIONPAIN_SERVE_AUTH_REQUIRE_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    plan = QuickstartPlan(out=tmp_path / "out")
    plan.out.mkdir()
    said: list[str] = []
    demo = start_cds_hooks(
        plan, ["--model-path", str(small_package_dir)], sorted(PATIENT_EXAMPLES.glob("*.json")), said.append
    )
    try:
        assert demo.indicators == ("critical",)  # codeine for a CYP2D6 poor metabolizer
        assert any(line.startswith("cds-hooks: running on") for line in said)
        argv = shlex.split(demo.curl)
        assert argv[0] == "curl" and "precisionpain-order-select" in argv[4]
        fired = subprocess.run(argv, capture_output=True, check=True, timeout=60, cwd=tmp_path)
        cards = json.loads(fired.stdout)["cards"]
        assert [c["indicator"] for c in cards] == ["critical"] and "Codeine" in cards[0]["summary"]
    finally:
        stopped = stop_cds_hooks(plan.out)
    assert stopped and not (plan.out / "cds-hooks.pid").exists()
    assert (
        not Path(f"/proc/{demo.pid}").exists()
        or b"cds-hooks" not in Path(f"/proc/{demo.pid}/cmdline").read_bytes()
    )
