"""Real components for the postings tests: a gRPC model server on loopback, an embedded
Redis, a DuckDB warehouse and a storage folder, all under the test's tmp_path."""

import pytest

from model_servers.seniority.server import serve
from resources.object_storage import LocalObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.warehouse import DuckDBWarehouse


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
