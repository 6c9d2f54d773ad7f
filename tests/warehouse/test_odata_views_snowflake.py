"""The same warehouse on the `snowflake` target, through fakesnow: the raw tables loaded by
`SnowflakeWarehouse`, `dbt build --target snowflake` through Dagster, then the OData views
compared with the contract and walked customer by customer, as on DuckDB.

What fakesnow cannot do, and how the test stands in for it:
- it has no roles and no `is_role_in_session()` (its CURRENT_ROLE() is always `duckdb`): the
  test defines that one function in the fake's DuckDB, answering from a one-column table the
  test fills with "the roles in session". The views run the SQL dbt compiled for Snowflake,
  unchanged; only who the session is comes from the test.
- it cannot run GRANT: the grants step is left out of the build here, and its statements are
  proven with sqlglot's Snowflake dialect (test_tenancy_grants.py, test_tenancy_changes.py).
- its server cannot take `write_pandas` (PUT and COPY INTO a stage), which every
  `SnowflakeWarehouse` load uses: the raw tables and the entitlements are written before the
  server starts, in-process (`write_entitlements`, what the `customer_entitlements` asset
  runs), so the Dagster run is the dbt build alone.
"""

from __future__ import annotations

import importlib

import dagster as dg
import fakesnow
import numpy as np
import pytest
import snowflake.connector
from fakesnow import server as serve_fakesnow
from fakesnow.instance import FakeSnow

from assets.warehouse.entitlements import entitlement_frame, read_customers, write_entitlements
from assets.warehouse.odata_contract import (
    compare_with_warehouse,
    information_schema_sql,
    load_contract,
)
from assets.warehouse.tenancy import Customer, customer_role, entitlements
from resources import build_warehouse
from tests.helpers import (
    IMPACT_KEY,
    SNOWFLAKE_ENV,
    dbt_check_results,
    expected_impact,
    load_raw_training_tables,
    load_reference_tables,
    materialize_warehouse,
    private_dbt_project,
    seeded_store,
    warehouse_selection,
)

pytestmark = [pytest.mark.snowflake, pytest.mark.slow]
# `serve_fakesnow` is the package's server() function, taken when this file is imported: once
# any test of the session imports the submodule fakesnow.server, the name is that module.

CONTRACT = load_contract()
DATABASE = SNOWFLAKE_ENV["SNOWFLAKE_DATABASE"]
# Snowflake's is_role_in_session(), as the fake's DuckDB can answer it: from a table.
ROLES_TABLE = f"{DATABASE}.fieldwork_test.roles_in_session"
ROLE_STAND_IN = (
    f"create or replace macro {DATABASE}.main.is_role_in_session(asked) as "
    f"asked in (select role_name from {ROLES_TABLE})"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odata_snowflake")
    store = seeded_store(folder)
    db_path = folder / "fakesnow"
    db_path.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SNOWFLAKE_ENV.items():
            patch.setenv(name, value)
        # fakesnow cannot create the database-qualified temporary tables dbt's unit tests
        # use; the unit test runs on DuckDB.
        patch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test")
        with fakesnow.patch(db_path=db_path):
            warehouse = build_warehouse().process_config_and_initialize()
            loaded = load_raw_training_tables(warehouse, store, true_tags=True)
            load_reference_tables(warehouse)
            write_entitlements(warehouse, entitlement_frame(read_customers(warehouse.query)))
            con = snowflake.connector.connect(database=DATABASE, schema="analytics")
            cursor = con.cursor()
            cursor.execute(f"create schema if not exists {DATABASE}.fieldwork_test")
            cursor.execute(f"create table {ROLES_TABLE} (role_name varchar)")
            con._duck_conn.execute(ROLE_STAND_IN)
            con.close()

        server_module = importlib.import_module("fakesnow.server")
        patch.setattr(server_module, "shared_fs", FakeSnow(db_path=db_path))
        with serve_fakesnow() as connection:
            patch.setenv("SNOWFLAKE_HOST", connection["host"])
            patch.setenv("SNOWFLAKE_PORT", str(connection["port"]))
            patch.setenv("SNOWFLAKE_PROTOCOL", connection["protocol"])
            result = materialize_warehouse(
                private_dbt_project(folder),
                build_warehouse(),
                warehouse_selection()
                - dg.AssetSelection.assets("odata_grants", "customer_entitlements"),
            )
            con = snowflake.connector.connect(**connection, database=DATABASE, schema="odata")
            yield result, con, store, loaded
            con.close()


def as_session(con, roles: list[str]) -> None:
    """The roles the test's stand-in for is_role_in_session() reports as in session."""
    cursor = con.cursor()
    cursor.execute(f"delete from {ROLES_TABLE}")
    for role in roles:
        cursor.execute(f"insert into {ROLES_TABLE} values (%s)", (role,))


def rows_of(con, sql: str, params=()):
    cursor = con.cursor()
    cursor.execute(sql, params)
    return cursor.fetchall()


def test_the_build_and_its_dbt_tests_pass_as_on_duckdb(built):
    result, _, _, _ = built
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {f"odata/{name}" for name in CONTRACT.names} <= materialized
    checks = dbt_check_results(result)
    assert len(checks) > 150
    assert all(checks.values()), {name for name, passed in checks.items() if not passed}


def test_every_view_keeps_the_contract_on_snowflake(built):
    _, con, store, _ = built
    as_session(con, [customer_role(c.customer_id) for c in store.customers()])
    columns = rows_of(con, information_schema_sql("odata"))
    mismatches = compare_with_warehouse(
        CONTRACT, columns, "snowflake", query=lambda sql: rows_of(con, sql)
    )
    assert mismatches == []
    assert {row[0] for row in columns} == {name.upper() for name in CONTRACT.names}
    for name in CONTRACT.names:
        assert rows_of(con, f"select count(*) from {name}")[0][0] > 0, name


def test_each_customer_sees_its_own_rows_and_only_its_entity_sets(built):
    _, con, store, _ = built
    customers = [Customer(c.customer_id, c.tier, c.feature_flags) for c in store.customers()]
    allowed: dict[str, set[str]] = {}
    for row in entitlements(customers, CONTRACT):
        allowed.setdefault(row.customer_id, set()).add(row.entity_set)
    for customer in customers:
        me = customer.customer_id
        as_session(con, [customer_role(me)])
        for entity_set in CONTRACT.entity_sets:
            [(rows,)] = rows_of(con, f"select count(*) from {entity_set.name}")
            if entity_set.name not in allowed[me]:
                assert rows == 0, (me, entity_set.name)
                continue
            assert rows > 0, (me, entity_set.name)
            if entity_set.is_tenant_scoped:
                [(foreign,)] = rows_of(
                    con, f"select count(*) from {entity_set.name} where CustomerId <> %s", (me,)
                )
                assert foreign == 0, (me, entity_set.name)
    as_session(con, [])
    for name in CONTRACT.names:
        assert rows_of(con, f"select count(*) from {name}") == [(0,)], name


def test_training_impact_is_the_same_figure_on_snowflake(built):
    """The mart holds what numpy computes apart (as on DuckDB, test_training_impact.py), and
    the view serves it to the customers entitled to it: enterprise, or pro with the flag."""
    _, con, store, loaded = built
    mart = rows_of(
        con,
        "select customer_id, tag_id, metric, learners_trained, performance_difference, "
        "confidence_interval_low, correlation_coefficient, sample_size "
        f"from {DATABASE}.analytics.training_impact order by customer_id, tag_id, metric",
    )
    expected = expected_impact(loaded)
    assert [tuple(row[:3]) for row in mart] == expected.select(IMPACT_KEY).rows()
    assert [row[3] for row in mart] == expected["learners_trained"].to_list()
    assert [row[7] for row in mart] == expected["n"].to_list()
    np.testing.assert_allclose([row[4] for row in mart], expected["effect"], rtol=1e-7)
    np.testing.assert_allclose(
        [row[5] for row in mart], expected["effect"] - 1.96 * expected["se"], rtol=1e-7
    )
    np.testing.assert_allclose([row[6] for row in mart], expected["r"], rtol=1e-7)

    as_session(con, [customer_role(c.customer_id) for c in store.customers()])
    served = rows_of(
        con,
        "select CustomerId, TagId, Metric, LearnersTrained, PerformanceDifference, "
        "ConfidenceIntervalLow, CorrelationCoefficient, SampleSize from TrainingImpact "
        "order by CustomerId, TagId, Metric",
    )
    entitled = {"acme-pharma", "northwind-software"}
    assert {row[0] for row in served} == entitled
    assert [row[:4] + (row[7],) for row in served] == [
        row[:4] + (row[7],) for row in mart if row[0] in entitled
    ]
    np.testing.assert_allclose(
        [row[4:7] for row in served], [row[4:7] for row in mart if row[0] in entitled]
    )
