"""Asset family: warehouse. The dbt models, seeds and tests (the dbt resource comes from the
top-level definitions, `resources.build_resources`); the customers' entitlements, the OData
views' grants on Snowflake, the sensor that follows entitlement changes, and the freshness
checks on what the views read.

The `warehouse` job runs the family's own group (entitlements, OData views, grants); it is
not day-partitioned, so it stays out of the daily job. The dbt models over each family's
data run in that family's job (their group)."""

import dagster as dg

from assets.warehouse.assets import fieldwork_dbt_assets
from assets.warehouse.entitlements import customer_entitlements
from assets.warehouse.freshness import freshness_checks_sensor, odata_input_freshness_checks
from assets.warehouse.grants import odata_grants
from assets.warehouse.sensors import WAREHOUSE_JOB, customer_entitlements_sensor

warehouse_job = dg.define_asset_job(
    WAREHOUSE_JOB,
    selection=dg.AssetSelection.groups("warehouse"),
    description=(
        "The customers' entitlements, the OData views and (on Snowflake) their grants; "
        "started by customer_entitlements_sensor when a tier or flag changes."
    ),
)

defs = dg.Definitions(
    assets=[*fieldwork_dbt_assets, customer_entitlements, odata_grants],
    asset_checks=odata_input_freshness_checks,
    jobs=[warehouse_job],
    sensors=[customer_entitlements_sensor, freshness_checks_sensor],
)
