"""Fixtures for the warehouse layer: a realistic day of augmented job postings, a private
copy of the dbt project per test, and one warehouse built with every model, shared."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

# The definitions' dbt assets are built when this module is first imported, for the target
# the environment names: imported here, at collection, they are the local target's, whatever
# a test's fixture sets later (the Snowflake modules set FIELDWORK_WAREHOUSE=snowflake around
# their own private projects, and may run first on a worker).
import assets.warehouse.assets  # noqa: F401
from model_servers.training_catalog.store import CatalogStore
from resources.settings import DBT_PROJECT_DIR
from resources.warehouse import DuckDBWarehouse
from tests.helpers import (
    load_raw_training_tables,
    load_reference_tables,
    materialize_warehouse,
    private_dbt_project,
    raw_postings_two_days,
    seeded_store,
)


@pytest.fixture
def raw_job_postings() -> pl.DataFrame:
    return raw_postings_two_days()


@pytest.fixture
def dbt_project_dir(tmp_path: Path) -> Path:
    """A private copy of the dbt project without target/ (so its manifest is prepared from
    scratch) and without other families' models (their sources are not loaded here)."""
    destination = tmp_path / "dbt_project"

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {"target", "logs", "dbt_packages"}
        if Path(directory).name in ("staging", "marts"):
            skipped |= {name for name in names if name != "postings"}
        return skipped & set(names)

    shutil.copytree(DBT_PROJECT_DIR, destination, ignore=ignore)
    return destination


@dataclass(frozen=True)
class WarehouseBuild:
    """A built warehouse's folder (the DuckDB file, its readers' snapshot, the seeded catalog
    and the dbt project with its manifest), the build's result, and the raw rows loaded."""

    folder: Path
    result: dg.ExecuteInProcessResult
    loaded: dict[str, dict[str, pl.DataFrame]]

    def copy(self, destination: Path) -> tuple[DuckDBWarehouse, CatalogStore, Path]:
        """A private copy to change: its warehouse, catalog store and dbt project."""
        shutil.copytree(self.folder, destination)
        warehouse = DuckDBWarehouse(path=str(destination / "warehouse.duckdb"))
        store = CatalogStore.open(destination / "catalog.sqlite")
        return warehouse, store, destination / "dbt_project"


@pytest.fixture(scope="session")
def warehouse_build(tmp_path_factory) -> WarehouseBuild:
    """Every warehouse model built once through Dagster on DuckDB: the reference catalog's
    seed with its true tags on the modules learners completed (so the impact mart can be held
    to the known effects) and the other half untagged, two days of postings and heat-index
    readings, the entitlements and the OData views. The modules that read it
    (conftest.SHARED_WAREHOUSE: one worker) each take a copy."""
    folder = tmp_path_factory.mktemp("warehouse_build")
    store = seeded_store(folder)
    warehouse = DuckDBWarehouse(path=str(folder / "warehouse.duckdb"))
    loaded = load_raw_training_tables(warehouse, store, true_tags=True, completed_only=True)
    load_reference_tables(warehouse)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIELDWORK_WAREHOUSE", "duckdb")
        result = materialize_warehouse(private_dbt_project(folder), warehouse)
    return WarehouseBuild(folder, result, loaded)
