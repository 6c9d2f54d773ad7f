"""Asset family: warehouse. The dbt models, seeds and tests; the `dbt` resource comes from
the top-level definitions (`resources.build_resources`)."""

import dagster as dg

from assets.warehouse.assets import fieldwork_dbt_assets

defs = dg.Definitions(assets=fieldwork_dbt_assets)
