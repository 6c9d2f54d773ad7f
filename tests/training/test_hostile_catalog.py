"""A hostile or broken training catalog, on a real server on loopback: a customer whose id
cannot be a partition key nor a storage folder, and a catalog whose pages never end."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from assets.training.assets import training_customers
from assets.training.partitions import CUSTOMERS_PARTITIONS
from assets.training.sensors import training_customers_sensor
from model_servers.training_catalog.seed import load_taxonomies
from resources.training_catalog import TrainingCatalog
from resources.warehouse import DuckDBWarehouse
from tests.helpers import materialization_metadata, training_instance

CUSTOMERS = sorted(c["customer_id"] for c in load_taxonomies())
ODD = "acme corp/../eu"


@pytest.fixture
def odd_customer(catalog_store) -> str:
    with catalog_store.transaction() as conn:
        conn.execute(
            "insert into customers values (?, ?, ?, ?, ?)",
            (ODD, "Acme Corp EU", "standard", json.dumps([]), "0" * 16),
        )
    return ODD


def test_a_customer_id_that_cannot_be_a_partition_blocks_no_other_customer(
    odd_customer, start_catalog, tmp_path
):
    _, target = start_catalog()
    resources = {"training_catalog": TrainingCatalog(endpoint=target)}
    instance = training_instance(())

    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = training_customers_sensor(context)
    [adds] = result.dynamic_partitions_requests
    assert sorted(adds.partition_keys) == CUSTOMERS  # the others come; the odd one does not

    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    materialized = dg.materialize(
        [training_customers], resources={**resources, "warehouse": warehouse}, instance=instance
    )
    assert materialized.success
    meta = materialization_metadata(materialized, "training_customers")
    assert meta["customers_refused"] == {ODD: "not a slug (letters, digits, '.', '_', '-')"}
    assert sorted(instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS)) == CUSTOMERS
    registry = warehouse.query("select customer_id from raw.training_customers order by all")
    assert registry["customer_id"].to_list() == CUSTOMERS
