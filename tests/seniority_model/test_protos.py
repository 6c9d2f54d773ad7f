"""The committed gRPC stubs are exactly what `python -m model_servers.codegen` produces."""

from __future__ import annotations

from pathlib import Path

from model_servers.codegen import PROJECT_ROOT, generate


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    generated = generate(tmp_path)
    assert {p.name for p in generated} == {
        "seniority_pb2.py",
        "seniority_pb2.pyi",
        "seniority_pb2_grpc.py",
    }
    stale = [
        p.name
        for p in generated
        if (PROJECT_ROOT / "protos" / p.name).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"stale stubs {stale}: run `make protos` and commit the result"


def test_grpc_stub_imports_the_message_module_as_a_package() -> None:
    text = (PROJECT_ROOT / "protos" / "seniority_pb2_grpc.py").read_text()
    assert "from protos import seniority_pb2" in text
