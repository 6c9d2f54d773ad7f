"""The customers as dynamic partitions from the catalog, and the raw tables the training
assets load for dbt: names and types exactly as the contract (assets/training/tables.py)
says, one customer's rows replaced on a rerun, a customer gone from the catalog gone from
the partitions and the tables. Real catalog server on loopback, real DuckDB."""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets.training import tables
from assets.training.assets import training_customers, training_modules, training_records
from assets.training.partitions import CUSTOMERS_PARTITIONS
from assets.training.sensors import training_customers_sensor
from model_servers.training_catalog.seed import load_taxonomies
from resources.object_storage import LocalObjectStorage
from resources.training_catalog import TrainingCatalog
from resources.warehouse import DuckDBWarehouse
from tests.helpers import (
    TRAINING_CUSTOMER,
    TRAINING_MODULES,
    customer_rows,
    materialization_metadata,
    step_failure_message,
    training_instance,
    trim_catalog,
)

CUSTOMER = TRAINING_CUSTOMER
CUSTOMERS = sorted(c["customer_id"] for c in load_taxonomies())
GONE = "gone-customer"
DUCKDB_TYPES = {
    pl.String(): "VARCHAR",
    pl.Datetime("us"): "TIMESTAMP",
    pl.Date(): "DATE",
    pl.Float64(): "DOUBLE",
    pl.Int32(): "INTEGER",
}


def load_catalog(resources, instance, *assets):
    return dg.materialize(assets, partition_key=CUSTOMER, resources=resources, instance=instance)


def columns(warehouse, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    found = warehouse.query(
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position"
    )
    return dict(found.rows())


def contract(table: str) -> dict[str, str]:
    return {name: DUCKDB_TYPES[dtype] for name, dtype in tables.SCHEMAS[table].items()}


def test_the_sensor_keeps_the_partitions_equal_to_the_catalogs_customers(start_catalog):
    _, target = start_catalog()
    instance = training_instance((CUSTOMER, GONE))
    resources = {"training_catalog": TrainingCatalog(endpoint=target)}

    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = training_customers_sensor(context)
    adds, deletes = result.dynamic_partitions_requests
    assert (adds.partitions_def_name, sorted(adds.partition_keys)) == (
        CUSTOMERS_PARTITIONS,
        [c for c in CUSTOMERS if c != CUSTOMER],
    )
    assert list(deletes.partition_keys) == [GONE]
    [run] = result.run_requests
    assert run.run_key == f"customers-{result.cursor}"

    instance.add_dynamic_partitions(CUSTOMERS_PARTITIONS, list(adds.partition_keys))
    instance.delete_dynamic_partition(CUSTOMERS_PARTITIONS, GONE)
    again = training_customers_sensor(
        dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor)
    )
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    assert "unchanged" in again.skip_reason.skip_message


def test_training_customers_loads_the_registry_and_syncs_the_partitions(tmp_path, start_catalog):
    _, target = start_catalog()
    instance = training_instance((GONE,))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    stale = pl.DataFrame(
        {"customer_id": [GONE], "feature_flag": ["TrainingImpact"]},
        schema=tables.SCHEMAS[tables.CUSTOMER_FLAGS],
    )
    warehouse.load_partitions([tables.partition_load(tables.CUSTOMER_FLAGS, GONE, stale)])
    resources = {"training_catalog": TrainingCatalog(endpoint=target), "warehouse": warehouse}

    result = dg.materialize([training_customers], resources=resources, instance=instance)
    meta = materialization_metadata(result, "training_customers")
    assert meta["partitions_added"] == CUSTOMERS and meta["partitions_removed"] == [GONE]
    assert sorted(instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS)) == CUSTOMERS

    for table in (tables.CUSTOMERS, tables.CUSTOMER_FLAGS):
        assert columns(warehouse, table) == contract(table)
    registry = warehouse.query(f"select * from {tables.CUSTOMERS} order by customer_id")
    assert registry["customer_id"].to_list() == CUSTOMERS == sorted(meta["customers"])
    assert registry["tier"].to_list() == [meta["customers"][c]["tier"] for c in CUSTOMERS]
    flags = warehouse.query(f"select * from {tables.CUSTOMER_FLAGS} order by all")
    expected = sorted(
        (c["customer_id"], flag) for c in load_taxonomies() for flag in c["feature_flags"]
    )
    assert flags.rows() == expected  # the stale customer's flag is gone


def test_modules_and_records_land_in_the_raw_tables_as_the_contract_says(
    tmp_path, catalog_db, start_catalog, catalog_store
):
    kept = trim_catalog(catalog_db)
    _, target = start_catalog()
    resources = {
        "training_catalog": TrainingCatalog(endpoint=target),
        "storage": LocalObjectStorage(root=str(tmp_path / "data")),
        "warehouse": DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
    }
    instance = training_instance()
    result = load_catalog(resources, instance, training_modules, training_records)
    assert result.success, step_failure_message(result)

    warehouse = resources["warehouse"]
    for table in (
        tables.TAXONOMY,
        tables.MODULES,
        tables.MODULE_TAGS,
        tables.LEARNERS,
        tables.COMPLETIONS,
        tables.FIELD_PERFORMANCE,
    ):
        assert columns(warehouse, table) == contract(table), table
    modules = customer_rows(warehouse, tables.MODULES)
    assert modules["module_id"].to_list() == kept and modules.height == TRAINING_MODULES
    first = catalog_store.module(CUSTOMER, kept[0])
    row = modules.row(0, named=True)
    assert (row["title"], row["content_hash"]) == (first.title, first.content_hash)
    assert row["last_modified"].isoformat() + "Z" == first.last_modified
    held = {(m, t) for m in kept for t in catalog_store.module(CUSTOMER, m).tag_ids}
    module_tags = customer_rows(warehouse, tables.MODULE_TAGS)
    assert set(module_tags.select("module_id", "tag_id").rows()) == held
    taxonomy = customer_rows(warehouse, tables.TAXONOMY)
    [acme] = [c for c in load_taxonomies() if c["customer_id"] == CUSTOMER]
    assert taxonomy.height == len(acme["tags"]) and taxonomy["taxonomy_version"].n_unique() == 1
    comms = taxonomy.filter(pl.col("tag_id") == "communication").row(0, named=True)
    assert comms["aliases"] == "comms|presentation skills|active listening"
    meta = materialization_metadata(result, "training_records")
    assert customer_rows(warehouse, tables.COMPLETIONS).height == meta["completions"] > 0
    assert set(customer_rows(warehouse, tables.COMPLETIONS)["module_id"]) <= set(kept)

    # A module retitled in the catalog: the rerun replaces the customer's rows, no duplicates.
    catalog_store.update_module_text(CUSTOMER, kept[0], title="Objection handling, revisited")
    assert load_catalog(resources, instance, training_modules).success
    modules = customer_rows(warehouse, tables.MODULES)
    assert modules.height == TRAINING_MODULES
    assert modules.row(0, named=True)["title"] == "Objection handling, revisited"
