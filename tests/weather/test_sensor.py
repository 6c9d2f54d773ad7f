"""The weather sensor, on the local folder and on S3 (moto's server)."""

from datetime import UTC

import dagster as dg
import pytest

from assets.partitions import daily_partitions
from assets.weather.sensors import weather_readings_sensor

DAY, NEXT_DAY = daily_partitions.get_partition_keys()[:2]


def evaluate(storage, cursor=None):
    with dg.build_sensor_context(cursor=cursor, resources={"storage": storage}) as context:
        result = weather_readings_sensor(context)
        requests = result if isinstance(result, list) else []
        return requests, context.cursor


def run_sensor_scenario(storage):
    requests, cursor = evaluate(storage)
    assert requests == []

    storage.write_bytes(f"weather-readings/{DAY}/readings-000.parquet", b"a")
    requests, cursor = evaluate(storage, cursor)
    assert [(r.partition_key, r.job_name) for r in requests] == [(DAY, None)]
    first_run_key = requests[0].run_key

    # Unchanged: nothing; the city registry rewritten, or a new day: one run each.
    assert evaluate(storage, cursor)[0] == []
    storage.write_bytes(f"weather-readings/{DAY}/cities.parquet", b"c")
    storage.write_bytes(f"weather-readings/{NEXT_DAY}/readings-000.parquet", b"b")
    requests, cursor = evaluate(storage, cursor)
    assert sorted(r.partition_key for r in requests) == [DAY, NEXT_DAY]
    assert first_run_key not in {r.run_key for r in requests}

    # What the run does not read starts nothing: markers, other names, sub-folders, and
    # folders that are not days.
    storage.write_bytes(f"weather-readings/{DAY}/_SUCCESS", b"")
    storage.write_bytes(f"weather-readings/{DAY}/notes.txt", b"x")
    storage.write_bytes(f"weather-readings/{DAY}/old/readings-000.parquet", b"x")
    storage.write_bytes("weather-readings/latest/readings-000.parquet", b"x")
    assert evaluate(storage, cursor)[0] == []


def test_sensor_on_local_folder(storage):
    run_sensor_scenario(storage)


@pytest.mark.xdist_group("moto")
def test_sensor_on_s3(s3_storage):
    run_sensor_scenario(s3_storage)


def test_the_daily_schedule_runs_the_day_that_just_ended():
    from datetime import datetime

    from assets.jobs import fieldwork_daily_schedule

    at = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        request = fieldwork_daily_schedule(context)
    assert request.partition_key == "2026-11-01"
    assert daily_partitions.has_partition_key(request.partition_key)
