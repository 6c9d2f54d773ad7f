"""The committed gRPC stubs are exactly what `python -m model_servers.codegen` produces, and
the hand-written contract constants agree with them and with the warehouse seed."""

from __future__ import annotations

import csv
from pathlib import Path

from model_servers.codegen import PROJECT_ROOT, generate
from protos import seniority_pb2, tagging_pb2, training_catalog_pb2
from protos.contract import (
    MAX_LEVEL,
    MIN_LEVEL,
    SENIORITY_LEVELS,
    SENIORITY_SERVICE_NAME,
    TAGGING_SERVICE_NAME,
    TRAINING_CATALOG_SERVICE_NAME,
)


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    generated = generate(tmp_path)
    assert {p.name for p in generated} == {
        f"{stem}{suffix}"
        for stem in ("seniority", "tagging", "training_catalog")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
    }
    stale = [
        p.name
        for p in generated
        if (PROJECT_ROOT / "protos" / p.name).read_bytes() != p.read_bytes()
    ]
    assert not stale, f"stale stubs {stale}: run `make protos` and commit the result"


def test_grpc_stubs_import_their_message_modules_as_a_package() -> None:
    for stem in ("seniority", "tagging", "training_catalog"):
        text = (PROJECT_ROOT / "protos" / f"{stem}_pb2_grpc.py").read_text()
        assert f"from protos import {stem}_pb2" in text


def test_contract_names_the_generated_service_and_every_level() -> None:
    service = seniority_pb2.DESCRIPTOR.services_by_name["SeniorityModel"]
    assert SENIORITY_SERVICE_NAME == service.full_name == "fieldwork.seniority.v1.SeniorityModel"
    assert list(SENIORITY_LEVELS) == list(range(MIN_LEVEL, MAX_LEVEL + 1))
    tagger = tagging_pb2.DESCRIPTOR.services_by_name["TaggingModel"]
    assert TAGGING_SERVICE_NAME == tagger.full_name == "fieldwork.tagging.v1.TaggingModel"
    catalog = training_catalog_pb2.DESCRIPTOR.services_by_name["TrainingCatalog"]
    assert TRAINING_CATALOG_SERVICE_NAME == catalog.full_name
    assert catalog.full_name == "fieldwork.training.v1.TrainingCatalog"


def test_the_warehouse_seed_names_the_levels_as_the_contract_does() -> None:
    seed = PROJECT_ROOT / "dbt_project" / "seeds" / "seniority_levels.csv"
    with open(seed, encoding="utf-8", newline="") as f:
        rows = {int(row["seniority_level"]): row["level_name"] for row in csv.DictReader(f)}
    assert rows == SENIORITY_LEVELS, f"{seed} differs from protos/contract.py"
