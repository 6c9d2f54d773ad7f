"""The one entry point: every asset family, check, job, sensor and resource of fieldwork."""

import dagster as dg

import assets.postings.definitions
import assets.warehouse.definitions
import assets.weather.definitions
from resources import build_resources

defs = dg.Definitions.merge(
    assets.postings.definitions.defs,
    assets.weather.definitions.defs,
    assets.warehouse.definitions.defs,
    dg.Definitions(resources=build_resources()),
)
