"""The one entry point: every asset family, check, job, sensor and resource of fieldwork."""

import dagster as dg

import assets.postings.definitions
import assets.training.definitions
import assets.warehouse.definitions
import assets.weather.definitions
from assets.jobs import customer_jobs, daily_jobs, daily_schedules, daily_sensors
from resources import build_resources, settings

# Locally every step runs in the run's own process: a process per step would pay the
# libraries' 7 s import again for each (a UI-launched day took 133 s against 38 s).
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}

defs = dg.Definitions.merge(
    assets.postings.definitions.defs,
    assets.weather.definitions.defs,
    assets.training.definitions.defs,
    assets.warehouse.definitions.defs,
    dg.Definitions(
        jobs=[*daily_jobs, *customer_jobs],
        schedules=daily_schedules,
        sensors=daily_sensors,
        resources=build_resources(),
        executor=EXECUTORS[settings.executor_kind()],
    ),
)
