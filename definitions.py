"""The one entry point: every asset family, check, job, sensor and resource of fieldwork."""

import dagster as dg

from assets.postings.definitions import defs as postings_defs
from assets.warehouse.definitions import defs as warehouse_defs
from assets.weather.definitions import defs as weather_defs
from resources import build_resources

defs = dg.Definitions.merge(
    postings_defs,
    weather_defs,
    warehouse_defs,
    dg.Definitions(resources=build_resources()),
)
