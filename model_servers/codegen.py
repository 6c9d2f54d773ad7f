"""Regenerate the gRPC stubs from `protos/*.proto`: `python -m model_servers.codegen`.

The stubs are committed (so a clone runs without grpcio-tools at import time), and
`tests/seniority_model/test_protos.py` proves they still match the `.proto` files by
generating into a temporary folder with this same function and comparing bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROTOS = ("protos/seniority.proto", "protos/tagging.proto", "protos/training_catalog.proto")


def generate(out_dir: str | Path = PROJECT_ROOT, protos: tuple[str, ...] = PROTOS) -> list[Path]:
    """Run protoc from the repo root (`-I.`), so the grpc module imports `from protos import ...`.

    Returns the generated files (`*_pb2.py`, `*_pb2.pyi`, `*_pb2_grpc.py`), sorted.
    """
    import grpc_tools
    from grpc_tools import protoc

    out = Path(out_dir).resolve()
    wellknown = Path(grpc_tools.__file__).parent / "_proto"
    produced: list[Path] = []
    for proto in protos:
        (out / Path(proto).parent).mkdir(parents=True, exist_ok=True)
        args = [
            "grpc_tools.protoc",
            f"-I{PROJECT_ROOT}",
            f"-I{wellknown}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(PROJECT_ROOT / proto),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto}: {' '.join(args)}")
        stem = out / proto.removesuffix(".proto")
        produced += [Path(f"{stem}_pb2.py"), Path(f"{stem}_pb2.pyi"), Path(f"{stem}_pb2_grpc.py")]
    return sorted(produced)


def main() -> int:
    for path in generate():
        print(path.relative_to(PROJECT_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
