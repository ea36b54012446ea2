"""Generate the Python gRPC code for proto/precisionpain/v1/*.proto into precisionpain/v1/.

    python proto/generate.py            # write into the source tree
    python proto/generate.py --out DIR  # write into DIR/precisionpain/v1 (the freshness test diffs this)

The generated files are committed and never edited by hand.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INIT = '"""Generated protobuf and gRPC code for precisionpain.v1 (proto/precisionpain/v1). Do not edit."""\n'


def include_dirs() -> list[str]:
    """proto/ (the API and the vendored google/rpc and google/api protos) and protoc's well-known types."""
    import grpc_tools

    return [str(HERE), str(resources.files(grpc_tools) / "_proto")]


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc

    protos = sorted((HERE / "precisionpain" / "v1").glob("*.proto"))
    args = ["grpc_tools.protoc"]
    args += [f"-I{d}" for d in include_dirs()]
    args += [f"--python_out={out_root}", f"--pyi_out={out_root}", f"--grpc_python_out={out_root}"]
    args += [str(p.relative_to(HERE)) for p in protos]
    out_root.mkdir(parents=True, exist_ok=True)
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    pkg = out_root / "precisionpain" / "v1"
    (pkg / "__init__.py").write_text(INIT)
    return sorted(pkg.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO, help="root to write precisionpain/v1 under")
    ns = parser.parse_args(argv)
    for path in generate(ns.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
