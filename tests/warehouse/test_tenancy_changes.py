"""Entitlement changes on DuckDB: the sensor on the customers table, the entitlements asset,
the views' row filter and the grants step, with real dbt-built views.

A downgrade removes access at once, with no view rebuilt for it: the next connection's
session reads the new entitlements (`tenancy.customer_session`); a connection already open
reads the snapshot it opened, entitlements included, as it reads every other table. On
Snowflake the same run also revokes the views from the customer's role; fakesnow cannot run
GRANT, so that side is shown by the statements the step would run, parsed with sqlglot's
Snowflake dialect."""

from __future__ import annotations

import dagster as dg
import duckdb
import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from assets.warehouse.entitlements import (
    ENTITLEMENTS_SCHEMA,
    SET_SESSION_SQL,
    current_entitlements,
    customer_entitlements,
)
from assets.warehouse.grants import grant_plan, odata_grants
from assets.warehouse.odata_contract import load_contract
from assets.warehouse.sensors import WAREHOUSE_JOB, customer_entitlements_sensor
from assets.warehouse.tenancy import customer_role
from definitions import defs as platform
from resources.warehouse import DuckDBWarehouse
from tests.helpers import RAW_TRAINING_TABLES, step_failure_message

pytestmark = [pytest.mark.slow]

ACME = "acme-pharma"
CUSTOMERS = "raw.training_customers"
FLAGS = "raw.training_customer_flags"


@pytest.fixture(scope="module")
def built(warehouse_build, tmp_path_factory):
    """A copy of the shared build (`warehouse_build`), whose customers the tests change."""
    warehouse, _, _ = warehouse_build.copy(tmp_path_factory.mktemp("tenancy") / "build")
    return warehouse, warehouse_build.loaded


def rows_seen(warehouse: DuckDBWarehouse, customer_id: str, view: str) -> int:
    """Rows of `view` a BI session acting for the customer sees in the published snapshot."""
    with duckdb.connect(str(warehouse.reader_path()), read_only=True) as con:
        con.execute(SET_SESSION_SQL, [customer_role(customer_id)])
        return con.execute(f'select count(*) from odata."{view}"').fetchone()[0]


def set_customer(warehouse, loaded, customer_id: str, tier: str, flags=()) -> None:
    """What the training family's load does when the catalog changes a customer."""
    customer = loaded[customer_id][CUSTOMERS].with_columns(pl.lit(tier).alias("tier"))
    flag_rows = pl.DataFrame(
        {"customer_id": [customer_id] * len(flags), "feature_flag": list(flags)},
        schema=RAW_TRAINING_TABLES[FLAGS],
    )
    warehouse.replace_partition(CUSTOMERS, customer, "customer_id", customer_id)
    warehouse.replace_partition(FLAGS, flag_rows, "customer_id", customer_id)


def restore(warehouse, loaded, *customer_ids: str) -> None:
    """The customers as the catalog seeded them, and their entitlements."""
    for customer_id in customer_ids:
        for table in (CUSTOMERS, FLAGS):
            rows = loaded[customer_id][table]
            warehouse.replace_partition(table, rows, "customer_id", customer_id)
    refresh_entitlements(warehouse)


def evaluate_sensor(warehouse, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": warehouse})
    return customer_entitlements_sensor(context), context.cursor


def refresh_entitlements(warehouse, instance=None, raise_on_error: bool = True):
    """The entitlements and grants steps of the run the sensor starts."""
    return dg.materialize(
        [customer_entitlements, odata_grants],
        selection=dg.AssetSelection.assets("customer_entitlements", "odata_grants"),
        resources={"warehouse": warehouse},
        instance=instance,
        raise_on_error=raise_on_error,
    )


def view_privileges(statements: list[str], role: str) -> dict[str, set[str]]:
    """GRANT / REVOKE -> the views whose SELECT each statement gives `role` or takes from it,
    read from sqlglot's Snowflake parse of the statements (CREATE ROLE stays a command)."""
    found: dict[str, set[str]] = {"GRANT": set(), "REVOKE": set()}
    for statement in statements:
        node = sqlglot.parse_one(statement, read="snowflake")
        if isinstance(node, exp.Command):
            assert statement.startswith("CREATE ROLE IF NOT EXISTS"), statement
            continue
        assert isinstance(node, exp.Grant | exp.Revoke), statement
        [principal] = [p.sql(dialect="snowflake") for p in node.args["principals"]]
        if principal != f"ROLE {role}" or node.args["kind"] != "VIEW":
            continue
        verb = "GRANT" if isinstance(node, exp.Grant) else "REVOKE"
        found[verb].add(node.args["securable"].sql(dialect="snowflake").rsplit(".", 1)[1])
    return found


def test_the_sensor_starts_the_warehouse_run_on_a_change_and_only_then(built):
    warehouse, loaded = built
    job = platform.resolve_job_def(WAREHOUSE_JOB)
    in_job = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    contract = load_contract()
    assert in_job == {"customer_entitlements", "odata_grants"} | {
        f"odata/{name}" for name in contract.names
    }

    first, cursor = evaluate_sensor(warehouse, None)
    assert isinstance(first, dg.RunRequest)
    unchanged, same = evaluate_sensor(warehouse, cursor)
    assert isinstance(unchanged, dg.SkipReason) and same == cursor
    try:
        set_customer(warehouse, loaded, ACME, "basic")
        downgraded, after = evaluate_sensor(warehouse, cursor)
        assert isinstance(downgraded, dg.RunRequest) and after != cursor
        assert customer_entitlements_sensor.job_name == WAREHOUSE_JOB
        # A flag is a change too; and a tier set back to what it was starts a run again.
        set_customer(warehouse, loaded, ACME, "basic", flags=["Learners"])
        flagged, flagged_cursor = evaluate_sensor(warehouse, after)
        assert isinstance(flagged, dg.RunRequest)
        restore(warehouse, loaded, ACME)
        back, back_cursor = evaluate_sensor(warehouse, flagged_cursor)
        assert isinstance(back, dg.RunRequest) and back_cursor == cursor
    finally:
        restore(warehouse, loaded, ACME)


def test_the_sensor_waits_for_a_customers_table(tmp_path):
    empty = DuckDBWarehouse(path=str(tmp_path / "empty.duckdb"))
    with empty.writing():  # a warehouse with nothing loaded yet
        pass
    skipped, cursor = evaluate_sensor(empty, None)
    assert isinstance(skipped, dg.SkipReason) and cursor is None
    assert "cannot be read yet" in skipped.skip_message


def test_a_downgrade_removes_access_at_once_and_revokes_the_views(built):
    warehouse, loaded = built
    before = current_entitlements(warehouse.query)
    assert rows_seen(warehouse, ACME, "Learners") == loaded[ACME]["raw.training_learners"].height
    modules = rows_seen(warehouse, ACME, "TrainingModules")
    assert modules == loaded[ACME]["raw.training_modules"].height
    instance = dg.DagsterInstance.ephemeral()
    try:
        set_customer(warehouse, loaded, ACME, "basic")
        # Until the run, the customers table changed but not the entitlements.
        assert rows_seen(warehouse, ACME, "Learners") > 0
        with duckdb.connect(str(warehouse.reader_path()), read_only=True) as open_before:
            open_before.execute(SET_SESSION_SQL, [customer_role(ACME)])
            result = refresh_entitlements(warehouse, instance)
            # A connection open through the run keeps the snapshot it opened, whole.
            [(learners,)] = open_before.execute('select count(*) from odata."Learners"').fetchall()
            assert learners == loaded[ACME]["raw.training_learners"].height

        # At once, with no view rebuilt: beyond the tier gone, the tier's own sets kept.
        assert rows_seen(warehouse, ACME, "Learners") == 0
        assert rows_seen(warehouse, ACME, "TrainingModules") == modules
        assert rows_seen(warehouse, "northwind-software", "Learners") > 0  # others untouched

        # The grants step ran and applied nothing: DuckDB has no roles.
        materialized = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
        }
        assert materialized == {"customer_entitlements"}
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
        assert any("odata_grants skipped: DuckDBWarehouse has no roles" in m for m in messages)

        # What the same run does on Snowflake: revoke, at once, what the tier lost.
        after = current_entitlements(warehouse.query)
        role = customer_role(ACME)
        statements = grant_plan(after, [role], database="FIELDWORK", warehouse="COMPUTE")
        views = view_privileges(statements, role)
        lost = {r.entity_set for r in before if r.customer_id == ACME} - {
            r.entity_set for r in after if r.customer_id == ACME
        }
        assert lost == {
            "Learners",
            "FieldPerformance",
            "TrainingImpact",
            "JobPostings",
            "HeatIndex",
        }
        assert views["REVOKE"] == lost
        assert views["GRANT"] == {"TrainingModules", "ModuleTags", "TrainingCompletions"}
    finally:
        restore(warehouse, loaded, ACME)
    assert rows_seen(warehouse, ACME, "Learners") == loaded[ACME]["raw.training_learners"].height


def test_a_bad_tier_or_flag_fails_the_run_naming_customer_and_value(built):
    warehouse, loaded = built
    before = current_entitlements(warehouse.query)
    try:
        set_customer(warehouse, loaded, ACME, "gold")
        set_customer(warehouse, loaded, "northwind-software", "pro", flags=["Invoices", "learners"])
        result = refresh_entitlements(warehouse, raise_on_error=False)
        assert not result.success
        message = step_failure_message(result)
        assert "customer 'acme-pharma': unknown tier 'gold'" in message
        assert (
            "customer 'northwind-software': feature flag 'Invoices' names no entity set" in message
        )
        assert "feature flag 'learners' names no entity set; did you mean 'Learners'?" in message
        # Nothing was written: the entitlements in force are the previous ones.
        assert current_entitlements(warehouse.query) == before
        assert rows_seen(warehouse, ACME, "Learners") > 0
    finally:
        restore(warehouse, loaded, ACME, "northwind-software")


def test_a_customer_gone_from_the_customers_table_loses_everything(built):
    warehouse, loaded = built
    gone = "initech-retail"
    try:
        for table in (CUSTOMERS, FLAGS):
            empty = pl.DataFrame(schema=RAW_TRAINING_TABLES[table])
            warehouse.replace_partition(table, empty, "customer_id", gone)
        refresh_entitlements(warehouse)
        assert gone not in {row.customer_id for row in current_entitlements(warehouse.query)}
        assert rows_seen(warehouse, gone, "TrainingModules") == 0
        # Its role still exists in Snowflake: the step revokes every view and its usage.
        role = customer_role(gone)
        statements = grant_plan(
            current_entitlements(warehouse.query), [role, "ANALYST"], database="FIELDWORK"
        )
        revoked = [s for s in statements if s.endswith(f"FROM ROLE {role}")]
        assert len(revoked) == len(load_contract().names) + 2  # every view, schema, database
        assert view_privileges(statements, role) == {
            "GRANT": set(),
            "REVOKE": set(load_contract().names),
        }
        assert not [s for s in statements if "ANALYST" in s]  # not a customer role: left alone
    finally:
        restore(warehouse, loaded, gone)
    assert rows_seen(warehouse, gone, "TrainingModules") > 0


def test_the_entitlements_table_has_its_declared_columns(built):
    warehouse, _ = built
    columns = warehouse.query("describe tenancy.customer_entitlements")["column_name"].to_list()
    assert columns == list(ENTITLEMENTS_SCHEMA)
    grants = warehouse.query(
        "select granted_by, count(*) as n from tenancy.customer_entitlements group by 1 order by 1"
    ).rows()
    assert grants == [("flag", 1), ("tier", 25)]
