"""Customers' entitlements: which OData entity sets each customer may read, in the warehouse.

Read from the customers table the training family loads (raw.training_customers, with
raw.training_customer_flags), decided by tenancy.py's rules (tiers and flags, refusing an
unknown tier or a flag that names no entity set, by customer and value), written to
`tenancy.customer_entitlements`: one row per customer and entity set, with the role the
views match (macros/odata/odata_tenancy.sql) and the grants step grants.

The views read this table without being rebuilt, so a downgrade hides the rows at once: on
Snowflake at the next query; locally at the next connection, whose session reads its
entitlements through `tenancy.customer_session(role)`, the DuckDB function written here with
the table (macros/odata/odata_tenancy.sql says why). A refused customers table fails the run
before anything is written: the previous entitlements stay in force (a failed run never
widens access).
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence

import dagster as dg
import polars as pl

from assets.metadata import column_schema, table_metadata
from assets.warehouse.odata_contract import ODataContract, load_contract
from assets.warehouse.tenancy import Customer, Entitlement, entitlements, tier_entity_sets
from resources.warehouse import DuckDBWarehouse, PartitionLoad, Warehouse, split_table

CUSTOMERS_TABLE = "raw.training_customers"
FLAGS_TABLE = "raw.training_customer_flags"
ENTITLEMENTS_TABLE = "tenancy.customer_entitlements"
ENTITLEMENTS_SCHEMA = {
    "customer_id": pl.String,
    "entity_set": pl.String,
    "role_name": pl.String,
    "tier": pl.String,
    "granted_by": pl.String,  # `tier` or `flag`
}
ENTITLEMENTS_COLUMNS = {
    "customer_id": "The customer (raw.training_customers).",
    "entity_set": "An OData entity set the customer may read (odata/metadata.xml).",
    "role_name": "The role the views match and, on Snowflake, the grants go to.",
    "tier": "The customer's tier when the entitlements were written.",
    "granted_by": "`tier` when the tier grants the entity set, `flag` when a feature flag does.",
}
# Locally (DuckDB), what a BI session sets to act for a customer:
#   SET VARIABLE fieldwork_session = tenancy.customer_session('FIELDWORK_CUSTOMER_ACME_PHARMA')
# A map from each entity set the role's customer may read to the customer's id, read from the
# entitlements when the session sets it; an unknown role gets NULL, which no view matches.
# The views look up their entity set in it: macros/odata/odata_tenancy.sql.
SESSION_FUNCTION = "tenancy.customer_session"
SESSION_FUNCTION_SQL = f"""
create or replace macro {SESSION_FUNCTION}(role) as (
    select map_from_entries(list((entity_set, customer_id) order by entity_set))
    from {ENTITLEMENTS_TABLE}
    where role_name = role
)
"""
# The statement itself, with the role as its one parameter.
SET_SESSION_SQL = f"set variable fieldwork_session = {SESSION_FUNCTION}(?)"
# The asset that loads the customers table (the training family's).
CUSTOMERS_ASSET = dg.AssetKey("training_customers")

Query = Callable[[str], pl.DataFrame]


def read_customers(query: Query) -> list[Customer]:
    """Every customer of the customers table with its tier and flags, sorted by id."""
    customers = query(f"select customer_id, tier from {CUSTOMERS_TABLE} order by customer_id")
    flags = query(
        f"select customer_id, feature_flag from {FLAGS_TABLE} order by customer_id, feature_flag"
    )
    flags_of: dict[str, list[str]] = {}
    for customer_id, flag in flags.iter_rows():
        flags_of.setdefault(customer_id, []).append(flag)
    unknown = sorted(set(flags_of) - set(customers["customer_id"]))
    if unknown:
        raise ValueError(
            f"{FLAGS_TABLE} has flags of customers not in {CUSTOMERS_TABLE}: {unknown}"
        )
    return [
        Customer(customer_id or "", tier or "", tuple(flags_of.get(customer_id, ())))
        for customer_id, tier in customers.iter_rows()
    ]


def customers_fingerprint(customers: Iterable[Customer]) -> str:
    """A hash of every customer's tier and flags: what the entitlements depend on."""
    payload = sorted((c.customer_id, c.tier, sorted(c.feature_flags)) for c in customers)
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def entitlement_frame(
    customers: Sequence[Customer], contract: ODataContract | None = None
) -> pl.DataFrame:
    """The entitlements table's rows; raises `EntitlementError` naming every bad customer."""
    rows = entitlements(customers, contract or load_contract())
    tiers = {c.customer_id: c.tier for c in customers}
    return pl.DataFrame(
        [
            (
                row.customer_id,
                row.entity_set,
                row.role_name,
                tiers[row.customer_id],
                "tier" if row.entity_set in tier_entity_sets(tiers[row.customer_id]) else "flag",
            )
            for row in rows
        ],
        schema=ENTITLEMENTS_SCHEMA,
        orient="row",
    )


def current_entitlements(query: Query) -> list[Entitlement]:
    """What the entitlements table holds now (empty if it does not exist yet)."""
    if not _table_exists(query, ENTITLEMENTS_TABLE):
        return []
    frame = query(
        f"select customer_id, entity_set, role_name from {ENTITLEMENTS_TABLE} "
        "order by customer_id, entity_set"
    )
    return [Entitlement(*row) for row in frame.iter_rows()]


def write_entitlements(warehouse: Warehouse, frame: pl.DataFrame) -> dict[str, list[str]]:
    """Replace the entitlements table with `frame`, in one transaction: each customer's rows
    replaced, and the rows of customers no longer listed removed. Returns the customers
    written and removed."""
    listed = sorted(set(frame["customer_id"]))
    previous = {row.customer_id for row in current_entitlements(warehouse.query)}
    removed = sorted(previous - set(listed))
    loads = [
        PartitionLoad(
            ENTITLEMENTS_TABLE,
            "customer_id",
            customer_id,
            frame=frame.filter(pl.col("customer_id") == customer_id),
        )
        for customer_id in listed
    ] + [
        PartitionLoad(
            ENTITLEMENTS_TABLE,
            "customer_id",
            customer_id,
            frame=pl.DataFrame(schema=ENTITLEMENTS_SCHEMA),
        )
        for customer_id in removed
    ]
    with warehouse.writing():  # readers get the table and the function in one snapshot
        if loads:
            warehouse.load_partitions(loads)
        if isinstance(warehouse, DuckDBWarehouse) and _table_exists(
            warehouse.query, ENTITLEMENTS_TABLE
        ):
            warehouse.execute([SESSION_FUNCTION_SQL])
    return {"written": listed, "removed": removed}


def _table_exists(query: Query, table: str) -> bool:
    schema, name = split_table(table)
    found = query(
        "select count(*) as n from information_schema.tables "
        f"where upper(table_schema) = '{schema.upper()}' and upper(table_name) = '{name.upper()}'"
    )
    return bool(found.item())


@dg.asset(
    key="customer_entitlements",
    group_name="warehouse",
    deps=[CUSTOMERS_ASSET],
    kinds={"polars", "sql"},
    metadata={
        "dagster/table_name": ENTITLEMENTS_TABLE,
        "dagster/column_schema": column_schema(ENTITLEMENTS_SCHEMA, ENTITLEMENTS_COLUMNS),
    },
    description=(
        "Which OData entity sets each customer may read (tier and flags, tenancy.py), with "
        "the role its views match: tenancy.customer_entitlements. Locally it also writes "
        "tenancy.customer_session(role), which a DuckDB session sets as `fieldwork_session` "
        "to act for the role's customer. An unknown tier or a flag that names no entity set "
        "fails the run naming the customer and value."
    ),
    owners=["team:analytics-engineering"],
)
def customer_entitlements(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    customers = read_customers(warehouse.query)
    frame = entitlement_frame(customers)  # raises before anything is written
    changes = write_entitlements(warehouse, frame)
    if changes["removed"]:
        context.log.info(f"entitlements removed for customers {changes['removed']}")
    per_set = frame.group_by("entity_set").len().sort("entity_set")
    return dg.MaterializeResult(
        metadata={
            **table_metadata(frame, frame.height),
            "customers": len(customers),
            "customers_removed": dg.MetadataValue.json(changes["removed"]),
            "customers_fingerprint": customers_fingerprint(customers),
            "customers_per_entity_set": dg.MetadataValue.json(dict(per_set.iter_rows())),
            "granted_by_flag": frame.filter(pl.col("granted_by") == "flag").height,
        }
    )
