"""The committed gRPC code is what proto/generate.py makes from proto/ today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", REPO / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(tmp_path)
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "precisionpain" / "v1").iterdir() if p.is_file()}
    committed = {
        p.name: p.read_bytes() for p in (REPO / "precisionpain" / "v1").iterdir() if p.is_file() and p.suffix != ".pyc"
    }
    assert sorted(fresh) == sorted(committed), "files differ: run `make proto` and commit precisionpain/v1"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code {stale}: run `make proto` and commit precisionpain/v1"


def test_enums_have_unspecified_zero() -> None:
    from precisionpain.v1 import patient_pb2, recommendation_pb2

    for module in (patient_pb2, recommendation_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            zero = enum.values_by_number[0].name
            assert zero.endswith("_UNSPECIFIED"), enum.name
