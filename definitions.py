"""The one entry point: every asset family, check, job, sensor and resource of fieldwork."""

import dagster as dg

import assets.postings.definitions
import assets.warehouse.definitions
import assets.weather.definitions
from assets.postings.partitions import posting_days
from resources import build_resources

# The platform's main job: a day of postings and weather, then the warehouse built on them.
fieldwork_daily = dg.define_asset_job(
    "fieldwork_daily",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("seniority_cache"),
    partitions_def=posting_days,
    description="A day of postings and weather readings, then the dbt warehouse built on them.",
)

defs = dg.Definitions.merge(
    assets.postings.definitions.defs,
    assets.weather.definitions.defs,
    assets.warehouse.definitions.defs,
    dg.Definitions(jobs=[fieldwork_daily], resources=build_resources()),
)
