"""Checks gate publication: a day's files and warehouse rows change together, or not at all.

The run stages every output, evaluates the checks on what it staged, and only then loads
raw.job_postings and publishes the files inside the load's transaction. Each test starts
from a good day, brings new input, makes one step fail for real, and finds the previous
files byte for byte and the previous rows as they were.
"""

import duckdb
import orjson

from assets.postings.augment import output_key
from assets.postings.normalize import normalize_values, pair_hash
from model_servers.seniority.classifier import MODEL_VERSION
from resources import seniority_cache as seniority_cache_module
from scripts.sample_postings import write_sample_day
from tests.helpers import (
    POSTINGS_DAY,
    asset_check_results,
    materialize_postings,
    published_postings_files,
    step_failure_message,
    warehouse_rows,
)

DAY = POSTINGS_DAY
TABLE = "raw.job_postings"


def jsonl(records) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def test_a_failing_warehouse_load_keeps_the_previous_files_and_rows(resources, storage, warehouse):
    write_sample_day(storage, DAY, lines=200, files=2, seed=11)  # 100 lines a file
    materialize_postings(resources)
    # The table as an analyst altered it: line numbers up to 255 fit, the next day's do not.
    with duckdb.connect(warehouse.path) as con:
        con.execute(f"alter table {TABLE} alter line_number type utinyint")
    files_before = published_postings_files(storage)
    rows_before = warehouse_rows(warehouse, TABLE)
    assert rows_before.height == 200

    write_sample_day(storage, DAY, lines=600, files=2, seed=12)  # 300 lines a file
    result = materialize_postings(resources, raise_on_error=False)

    assert not result.success
    message = step_failure_message(result)
    assert f"loading {TABLE} for {DAY} failed" in message
    assert "nothing was published" in message and "are kept" in message
    assert published_postings_files(storage) == files_before
    assert warehouse_rows(warehouse, TABLE).equals(rows_before)
    # The checks passed: the load, not the data, failed.
    assert all(asset_check_results(result).values())


def test_a_failing_blocking_check_publishes_and_loads_nothing(
    resources, storage, cache, warehouse, monkeypatch
):
    """No real input fails a blocking check (probed: BOM, CR-only, NUL, two objects on a line;
    every line is valid or quarantined), and both the model client and the cache refuse a
    level outside 1..7. So the cache's guard is loosened and a foreign value planted in the
    real Redis: the run then stages a line without a valid level."""
    raw = f"job-postings-raw/{DAY}/part-000.jsonl"
    storage.write_bytes(raw, jsonl([{"company": "Acme", "title": "Data Engineer"}] * 3))
    materialize_postings(resources)
    files_before = published_postings_files(storage)
    rows_before = warehouse_rows(warehouse, TABLE)

    storage.write_bytes(raw, jsonl([{"company": "Globex", "title": "Chief Barista Officer"}] * 2))
    company, title = normalize_values(["Globex", "Chief Barista Officer"])
    monkeypatch.setitem(seniority_cache_module._LEVELS, b"9", 9)
    with cache.connect() as client:
        client.client.set(client.key(MODEL_VERSION, pair_hash(company, title)), "9")

    result = materialize_postings(resources, raise_on_error=False)

    assert not result.success
    assert asset_check_results(result) == {
        "every_posting_has_a_level": False,
        "lines_reconcile": True,
        "model_calls_are_minimal": True,
    }
    [levels] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "every_posting_has_a_level"
    ]
    assert levels.metadata["lines_without_level"].value == 2
    message = step_failure_message(result)
    assert "every_posting_has_a_level (lines_out 2, lines_without_level 2)" in message
    assert "Nothing was published or loaded" in message and "are kept" in message
    assert published_postings_files(storage) == files_before
    assert warehouse_rows(warehouse, TABLE).equals(rows_before)
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_job_postings"}


def test_a_failure_while_publishing_rolls_the_warehouse_back(resources, storage, warehouse):
    write_sample_day(storage, DAY, lines=300, files=1, seed=13)
    materialize_postings(resources)
    rows_before = warehouse_rows(warehouse, TABLE)

    # A new raw file whose output cannot be put in place: a folder holds its name.
    new = f"job-postings-raw/{DAY}/part-999.jsonl"
    storage.write_bytes(new, jsonl([{"company": "Initech", "title": "Data Analyst"}]))
    storage.write_bytes(output_key(new, DAY) + "/blocker", b"")
    result = materialize_postings(resources, raise_on_error=False)

    assert not result.success
    assert f"loading {TABLE} for {DAY} failed" in step_failure_message(result)
    assert warehouse_rows(warehouse, TABLE).equals(rows_before)
