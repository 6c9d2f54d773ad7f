"""Real components for the postings tests: a gRPC model server on loopback, an embedded
Redis, a DuckDB warehouse and a storage folder, all under the test's tmp_path."""

import socket

import pytest

from model_servers.seniority.server import serve
from resources.object_storage import LocalObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.warehouse import DuckDBWarehouse

DAY = "2026-11-20"


@pytest.fixture(scope="session")
def model_endpoint():
    server, port = serve("127.0.0.1", 0)
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture
def storage(tmp_path):
    return LocalObjectStorage(root=str(tmp_path / "data"))


@pytest.fixture
def cache(tmp_path):
    return SeniorityCache(embedded_db_path=str(tmp_path / "redis" / "seniority.rdb"))


@pytest.fixture
def model(model_endpoint):
    return SeniorityModel(endpoint=model_endpoint, batch_size=100, deadline_seconds=10)


@pytest.fixture
def warehouse(tmp_path):
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def resources(storage, cache, model, warehouse):
    return {
        "storage": storage,
        "seniority_cache": cache,
        "seniority_model": model,
        "warehouse": warehouse,
    }


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3 API on loopback (moto's server)."""
    from moto.server import ThreadedMotoServer

    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_storage(moto_endpoint, monkeypatch, request):
    import boto3
    from dagster_aws.s3 import S3Resource

    from resources.object_storage import S3ObjectStorage

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = "fieldwork-" + request.node.name.lower().replace("_", "-")[:40]
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3ObjectStorage(
        bucket=bucket, s3=S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")
    )
