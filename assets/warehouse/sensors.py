"""The entitlements sensor: when a customer's tier or flags change in the customers table,
the warehouse family runs (entitlements, OData views, and on Snowflake their grants), so
access follows within one run.

It reads where readers read (on DuckDB the published snapshot, never the file runs write), and
keeps a fingerprint of every customer's tier and flags as its cursor: a load that changes
nothing requests nothing, and each change requests one run (no run key: a tier changed
back to what it was is a change too).
"""

import dagster as dg

from assets.warehouse.entitlements import customers_fingerprint, read_customers
from resources.warehouse import Warehouse

WAREHOUSE_JOB = "warehouse"


@dg.sensor(
    job_name=WAREHOUSE_JOB,
    minimum_interval_seconds=60,
    description=(
        "Starts the warehouse job (entitlements, OData views, grants) when a customer's tier or "
        "flags change in raw.training_customers / raw.training_customer_flags."
    ),
)
def customer_entitlements_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
    try:
        customers = read_customers(warehouse.read)
    except Exception as error:  # nothing loaded yet: not an error of the sensor
        return dg.SkipReason(f"the customers table cannot be read yet: {error}")
    fingerprint = customers_fingerprint(customers)
    if fingerprint == context.cursor:
        return dg.SkipReason("no customer's tier or flags changed")
    context.update_cursor(fingerprint)
    return dg.RunRequest(tags={"fieldwork/customers_fingerprint": fingerprint})
