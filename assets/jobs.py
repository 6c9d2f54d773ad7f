"""Jobs: one per family, selected by group, and the platform's main daily job composed of them.

The daily job names its families: a family with another partitioning (per customer)
joins the definitions without entering it.
"""

from datetime import timedelta

import dagster as dg

from assets.partitions import daily_partitions
from assets.postings.sensors import raw_job_postings_sensor
from assets.training.partitions import customers
from assets.weather.sensors import weather_readings_sensor

# Day-partitioned families, in the order the main job runs them (dbt models of a family
# sit in its group, so each family's job ends with its part of the warehouse).
DAILY_FAMILIES = ("postings", "weather")
# Assets of a daily family that are not day-partitioned: run by their own jobs.
NOT_DAILY = dg.AssetSelection.assets("seniority_cache")


def family_selection(*groups: str) -> dg.AssetSelection:
    return dg.AssetSelection.groups(*groups) - NOT_DAILY


postings_daily = dg.define_asset_job(
    "postings_daily",
    selection=family_selection("postings"),
    partitions_def=daily_partitions,
    description="A day of raw postings, augmented with seniority levels, and the postings models.",
)

weather_daily = dg.define_asset_job(
    "weather_daily",
    selection=family_selection("weather"),
    partitions_def=daily_partitions,
    description="A day of weather readings, their heat index and quarantine, and their models.",
)

fieldwork_daily = dg.define_asset_job(
    "fieldwork_daily",
    selection=family_selection(*DAILY_FAMILIES),
    partitions_def=daily_partitions,
    description="The platform's main job: a day of every daily family, then its warehouse models.",
)

daily_jobs = [postings_daily, weather_daily, fieldwork_daily]


@dg.schedule(
    job=fieldwork_daily,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description=(
        "At 02:00 UTC, runs fieldwork_daily for the day that just ended: the sensors start a "
        "day as its files arrive; this run closes it once late files are in."
    ),
)
def fieldwork_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # Not build_schedule_from_partitioned_job: with end_offset=1 its last partition is
    # today's, still filling up.
    ended = context.scheduled_execution_time - timedelta(days=1)
    day = ended.strftime("%Y-%m-%d")
    return dg.RunRequest(partition_key=day, run_key=f"fieldwork_daily:{day}")


daily_schedules = [fieldwork_daily_schedule]
# Each starts its family's job for a day as the day's files arrive.
daily_sensors = [raw_job_postings_sensor, weather_readings_sensor]

# Customer-partitioned: one run per customer, never part of the daily job. The group's one
# unpartitioned asset (the customer registry) is refreshed by every run; it is cheap.
training = dg.define_asset_job(
    "training",
    selection=dg.AssetSelection.groups("training"),
    partitions_def=customers,
    description=(
        "A customer's modules and records from the catalog, tag suggestions, the review file, "
        "the approval and its application, and the training models."
    ),
)

customer_jobs = [training]
