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


def test_protos_compile_with_only_proto_on_the_include_path(tmp_path: Path) -> None:
    """What another language's build does (README "Building clients in other languages"): protoc with proto/ as
    the only include directory (protoc's own well-known google/protobuf types aside) into a fresh folder."""
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    protos = sorted(str(p.relative_to(REPO)) for p in (REPO / "proto" / "precisionpain" / "v1").glob("*.proto"))
    result = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-Iproto", f"--python_out={out}", f"--grpc_python_out={out}",
         f"--descriptor_set_out={out / 'all.binpb'}", "--include_imports", *protos],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (out / "precisionpain" / "v1").glob("*_pb2.py")} == {
        Path(p).stem + "_pb2.py" for p in protos
    }
    from google.protobuf import descriptor_pb2

    files = {f.name for f in descriptor_pb2.FileDescriptorSet.FromString((out / "all.binpb").read_bytes()).file}
    ours = {str(Path(p).relative_to("proto")) for p in protos}
    vendored = {str(p.relative_to(REPO / "proto")) for p in (REPO / "proto" / "google").rglob("*.proto")}
    assert "google/rpc/status.proto" in files
    assert {f for f in files if not f.startswith("google/protobuf/")} <= ours | vendored


def test_vendored_google_protos_carry_their_licence() -> None:
    vendored = sorted((REPO / "proto" / "google").rglob("*.proto"))
    assert vendored, "proto/google/ holds the google.rpc protos the API imports"
    assert "Apache License" in (REPO / "proto" / "google" / "LICENSE").read_text()
    for path in vendored:
        assert "Licensed under the Apache License, Version 2.0" in path.read_text(), path
