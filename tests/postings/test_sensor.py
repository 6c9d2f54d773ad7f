"""The raw-postings sensor, on the local folder and on S3 (moto's server)."""

import json

import dagster as dg
import pytest

from assets.partitions import daily_partitions
from assets.postings.sensors import raw_job_postings_sensor

# Two days of the shared daily partitions (which start at FIELDWORK_FIRST_DAY, 2026-07-01).
DAY, NEXT_DAY = daily_partitions.get_partition_keys()[:2]


def evaluate(storage, cursor=None):
    with dg.build_sensor_context(cursor=cursor, resources={"storage": storage}) as context:
        result = raw_job_postings_sensor(context)
        requests = result if isinstance(result, list) else []
        return requests, context.cursor


def run_sensor_scenario(storage):
    # Nothing there yet.
    requests, cursor = evaluate(storage)
    assert requests == []

    storage.write_bytes(f"job-postings-raw/{DAY}/part-000.jsonl", b'{"company":"a","title":"b"}\n')
    requests, cursor = evaluate(storage, cursor)
    assert [r.partition_key for r in requests] == [DAY]

    # Same files: no new run.
    requests, cursor = evaluate(storage, cursor)
    assert requests == []

    # A second file for the same day and a new day: one run each.
    storage.write_bytes(f"job-postings-raw/{DAY}/part-001.jsonl", b'{"company":"c","title":"d"}\n')
    storage.write_bytes(
        f"job-postings-raw/{NEXT_DAY}/part-000.jsonl", b'{"company":"e","title":"f"}\n'
    )
    requests, cursor = evaluate(storage, cursor)
    assert sorted(r.partition_key for r in requests) == [DAY, NEXT_DAY]
    assert len({r.run_key for r in requests}) == 2

    # Folders that are not days, and files that are not JSONL, start nothing.
    storage.write_bytes("job-postings-raw/not-a-day/part-000.jsonl", b"{}\n")
    storage.write_bytes(f"job-postings-raw/{DAY}/_SUCCESS", b"")
    requests, cursor = evaluate(storage, cursor)
    assert requests == []
    assert set(json.loads(cursor)) >= {DAY, NEXT_DAY}


def test_sensor_on_local_folder(storage):
    run_sensor_scenario(storage)


@pytest.mark.xdist_group("moto")
def test_sensor_on_s3(s3_storage):
    run_sensor_scenario(s3_storage)
