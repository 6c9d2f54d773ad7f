"""Freshness checks on what the OData views read: a BI tool reading a view must not be served
data that stopped refreshing without anyone noticing.

Each table (and the postings staging view) a view selects from must have been materialized
within the last 26 hours: daily runs, with two hours' slack. The checks are evaluated by
their sensor (`freshness_checks_sensor`), and warn: stale data is still the customer's data.
"""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

# The relations the views select from (models/marts/odata/*.sql), as asset keys. Not the
# entitlements: they change only when a customer's tier or flags do (the entitlements
# sensor starts a run then), so their age says nothing about them.
VIEW_INPUTS = (
    "module_catalog",
    "module_tags",
    "learners",
    "training_completions",
    "field_performance",
    "training_impact",
    "stg_postings__job_postings",
    "city_day_heat_index",
)
MAX_AGE = dt.timedelta(hours=26)

# Dagster 1.13 calls these builders superseded by FreshnessPolicy, which the freshness daemon
# evaluates without showing a check beside the table; these stay asset checks, in the UI
# next to what they guard and in every run's check results.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    odata_input_freshness_checks = dg.build_last_update_freshness_checks(
        assets=[dg.AssetKey(name) for name in VIEW_INPUTS], lower_bound_delta=MAX_AGE
    )
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=odata_input_freshness_checks, minimum_interval_seconds=600
    )
