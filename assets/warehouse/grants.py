"""The Snowflake grants of the OData views: one role per customer, SELECT on exactly the views
its tier and flags allow (tenancy.py:grant_statements), applied after every build of the
entitlements or the views.

Only Snowflake has roles. On DuckDB (the local default) the step does nothing and says so:
the local file has no access control, and the views' row filter is the whole of tenancy
there. fakesnow cannot run roles or GRANT either, so offline the statements are proven by
parsing them with sqlglot's Snowflake dialect (tests/warehouse/test_tenancy_grants.py and
test_tenancy_views.py) rather than by running them.

A customer that left the customers table loses its views and usage grants: its role is still
in Snowflake (`SHOW ROLES LIKE 'FIELDWORK_CUSTOMER_%'`), so the step revokes from every such
role that has no entitlement left.
"""

from collections.abc import Iterable, Sequence

import dagster as dg

from assets.warehouse.entitlements import current_entitlements
from assets.warehouse.odata_contract import load_contract
from assets.warehouse.tenancy import ROLE_PREFIX, Entitlement, grant_statements
from resources.snowflake_warehouse import SnowflakeWarehouse
from resources.warehouse import Warehouse

ODATA_SCHEMA = "odata"  # dbt_project.yml: marts/odata +schema (generate_schema_name)


def odata_view_keys() -> list[dg.AssetKey]:
    """The OData views' asset keys (their dbt models' `meta.dagster.asset_key`)."""
    return [dg.AssetKey(["odata", name]) for name in load_contract().names]


def grants_apply_to(warehouse: Warehouse) -> bool:
    """Whether the warehouse has roles to grant to: Snowflake only."""
    return isinstance(warehouse, SnowflakeWarehouse)


def grant_plan(
    current: Sequence[Entitlement],
    existing_roles: Iterable[str],
    *,
    database: str,
    warehouse: str | None = None,
    schema: str = ODATA_SCHEMA,
) -> list[str]:
    """The statements that bring the roles in line with `current`: grants and revokes for
    every entitled customer, and every view and usage revoked from a customer role that
    exists but is no longer entitled (a customer removed from the customers table)."""
    entitled = {row.role_name for row in current}
    departed = sorted(
        role
        for role in existing_roles
        if role.upper().startswith(ROLE_PREFIX) and role.upper() not in entitled
    )
    # grant_statements reads only the role name of a previous entitlement.
    previous = [Entitlement(role, "", role.upper()) for role in departed]
    return grant_statements(
        current,
        database=database,
        schema=schema,
        entity_sets=load_contract().names,
        warehouse=warehouse,
        previous=previous,
    )


def _customer_roles(cursor) -> list[str]:
    cursor.execute(f"show roles like '{ROLE_PREFIX}%'")
    names = [column[0].lower() for column in cursor.description]
    return [row[names.index("name")] for row in cursor.fetchall()]


def apply_grants(warehouse: SnowflakeWarehouse, current: Sequence[Entitlement]) -> list[str]:
    """Run the grant plan on Snowflake, in order, in one session; returns the statements."""
    # The resource's own connection (same settings and authentication as the loads).
    with warehouse.connection() as connection:
        cursor = connection.cursor()
        statements = grant_plan(
            current,
            _customer_roles(cursor),
            database=warehouse.database,
            warehouse=warehouse.warehouse,
        )
        for statement in statements:
            cursor.execute(statement)
    return statements


@dg.asset(
    name="odata_grants",
    group_name="warehouse",
    deps=["customer_entitlements", *odata_view_keys()],
    output_required=False,
    kinds={"snowflake", "sql"},
    description=(
        "Snowflake only: one role per customer, granted SELECT on exactly the OData views "
        "its tier and flags allow and revoked from every other (a downgrade takes effect in "
        "the same run). Skipped on DuckDB, which has no roles."
    ),
    owners=["team:analytics-engineering"],
)
def odata_grants(context: dg.AssetExecutionContext, warehouse: Warehouse):
    if not grants_apply_to(warehouse):
        context.log.info(
            f"odata_grants skipped: {type(warehouse).__name__} has no roles; the views' row "
            "filter is the whole of tenancy there"
        )
        return
    current = current_entitlements(warehouse.query)
    statements = apply_grants(warehouse, current)
    revokes = [s for s in statements if s.startswith("REVOKE")]
    yield dg.MaterializeResult(
        metadata={
            "statements": len(statements),
            "grants": sum(s.startswith("GRANT SELECT") for s in statements),
            "revokes": len(revokes),
            "roles": len({row.role_name for row in current}),
        }
    )
