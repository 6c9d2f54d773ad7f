"""The definition graph as a whole: a refactor that drops an asset, a check, a job or a
sensor fails here loudly, and the code location loads the way `make dev` loads it."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from definitions import defs
from tests.postings.conftest import closed_port

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_ASSETS = {
    "raw_job_postings",
    "augmented_job_postings",
    "seniority_cache",
    "weather_readings",
    "heat_index_readings",
    "weather_quarantine",
}
EXPECTED_CHECKS = {
    ("augmented_job_postings", "every_posting_has_a_level"),
    ("augmented_job_postings", "lines_reconcile"),
    ("augmented_job_postings", "model_calls_are_minimal"),
}
EXPECTED_JOBS = {"postings_daily", "seniority_cache_warmup", "fieldwork_daily"}
EXPECTED_SENSORS = {"raw_job_postings_sensor"}
EXPECTED_RESOURCES = {"storage", "warehouse", "seniority_model", "seniority_cache", "dbt"}


def asset_keys() -> set[str]:
    return {key.to_user_string() for key in defs.resolve_all_asset_keys()}


def test_every_family_is_assembled():
    keys = asset_keys()
    assert EXPECTED_ASSETS <= keys
    # dbt models and seeds arrive as assets too, grouped by family.
    assert {"stg_postings__job_postings", "postings_by_company_seniority"} <= keys


def test_checks_jobs_sensors_and_resources_are_there():
    checks = {
        (key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert EXPECTED_CHECKS <= checks
    # dbt tests surface as asset checks on their models.
    assert any(asset == "postings_by_company_seniority" for asset, _ in checks)
    assert EXPECTED_JOBS <= {job.name for job in defs.resolve_all_job_defs()}
    assert EXPECTED_SENSORS <= {sensor.name for sensor in defs.sensors or []}
    assert EXPECTED_RESOURCES <= set(defs.resources or {})


def test_every_asset_says_what_it_is_and_where_it_belongs():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.group_name in {"postings", "weather", "warehouse"}, (key, node.group_name)


@pytest.mark.xdist_group("webserver")
def test_dagster_ui_loads_the_code_location_from_workspace_yaml(tmp_path):
    """What `make dev` does: the webserver loads workspace.yaml and serves every asset."""
    port = closed_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FIELDWORK_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    query = (
        '{"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { name '
        'location { name } assetNodes { assetKey { path } } } } } }"}'
    )
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=query.encode(),
                    headers={"Content-Type": "application/json"},
                )
                body = json.load(urllib.request.urlopen(request, timeout=5))
                nodes = body["data"]["repositoriesOrError"]["nodes"]
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        [repository] = body["data"]["repositoriesOrError"]["nodes"]
        assert repository["location"]["name"] == "fieldwork"
        served = {"/".join(node["assetKey"]["path"]) for node in repository["assetNodes"]}
        assert EXPECTED_ASSETS <= served
    finally:
        server.terminate()
        server.wait(timeout=30)
