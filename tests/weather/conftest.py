"""Storage and warehouse under the test's tmp_path, and a small generated day."""

import pytest

from resources.object_storage import LocalObjectStorage
from resources.warehouse import DuckDBWarehouse
from tests.helpers import write_weather_day


@pytest.fixture
def storage(tmp_path):
    return LocalObjectStorage(root=str(tmp_path / "data"))


@pytest.fixture
def warehouse(tmp_path):
    return DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))


@pytest.fixture
def resources(storage, warehouse):
    return {"storage": storage, "warehouse": warehouse}


@pytest.fixture
def sample_day(storage):
    return write_weather_day(storage)
