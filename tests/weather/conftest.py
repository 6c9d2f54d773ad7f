"""Storage and warehouse under the test's tmp_path, and a small generated day."""

import pytest

from resources.object_storage import LocalObjectStorage
from resources.warehouse import DuckDBWarehouse

DAY = "2026-07-15"
CITIES = 60


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
    from assets.weather.sample_day import write_sample_day

    return write_sample_day(storage, DAY, cities=CITIES)
