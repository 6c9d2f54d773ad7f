"""The analysts' catalog (`assets.catalog.load`) on the prepared platform (conftest.py): every
asset loads whole and by partition, partitions as each asset's definition has them (days,
customers), and a bad key or a missing partition says what is valid or what to run."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets import catalog
from assets.jobs import fieldwork_daily
from assets.postings.augment import WAREHOUSE_SCHEMA
from assets.postings.parse import QUARANTINE_SCHEMA
from tests.helpers import TRAINING_CUSTOMER
from tests.notebooks.conftest import BAD_DAY, BAD_LINES, DAYS, point_at

pytestmark = pytest.mark.xdist_group("notebooks")


def test_load_postings_has_the_warehouse_columns(local):
    postings = catalog.load("augmented_job_postings")

    assert postings.schema == pl.Schema(WAREHOUSE_SCHEMA)
    assert postings.height == sum(DAYS.values())
    assert postings["seniority"].is_between(1, 7).all()


def test_load_one_day(local):
    day = catalog.load("augmented_job_postings", "2026-11-19")

    assert day.height == DAYS["2026-11-19"]
    assert day["posting_date"].unique().to_list() == [dt.date(2026, 11, 19)]


def test_load_quarantine_keeps_every_bad_line_with_its_day(local):
    quarantine = catalog.load("job_postings_quarantine")

    # JSON lines carry no types: names are the quarantine's, types as the values say.
    assert quarantine.columns == ["posting_date", "storage_key", *QUARANTINE_SCHEMA]
    assert quarantine.schema["line_number"] == pl.Int64
    assert quarantine["posting_date"].to_list() == [dt.date(2026, 11, 20)] * len(BAD_LINES)
    assert quarantine["reason"].str.contains("invalid JSON").any()
    # A clean day has an empty quarantine, not a missing one: its file holds no line, and
    # the frame has the quarantine's columns, as the asset's definition declares them.
    clean = catalog.load("job_postings_quarantine", "2026-11-19")
    assert clean.is_empty()
    assert clean.schema == pl.Schema(
        {"posting_date": pl.Date, "storage_key": pl.String, **QUARANTINE_SCHEMA}
    )


def test_every_daily_asset_loads_whole_and_by_day(local):
    """Every asset of the daily job the fixture ran, found from the definitions, not a
    hand-kept list (the customer-partitioned family is tested with its own data)."""
    from definitions import defs

    daily = {
        key.to_user_string()
        for key in fieldwork_daily.selection.resolve(defs.resolve_asset_graph())
    }
    assert daily <= set(catalog.locations()), daily - set(catalog.locations())
    for name in sorted(daily):
        location = catalog.locations()[name]
        frame = catalog.load(name)
        assert frame.height > 0 or name == "job_postings_quarantine", name
        if location.partitioned and name != "job_postings_quarantine":
            day = catalog.load(name, BAD_DAY)
            assert 0 < day.height < frame.height, name
    readings = catalog.load("weather_readings", BAD_DAY)
    assert {"city_id", "reading_at", "reading_date"} <= set(readings.columns)
    raw = catalog.load("raw_job_postings", BAD_DAY)
    # Raw files hold what producers wrote: an unreadable line is kept whole, not dropped.
    assert raw.height == DAYS[BAD_DAY] + len(BAD_LINES)


def test_unknown_asset_names_the_known_ones(local):
    with pytest.raises(KeyError, match="unknown asset 'job_postings'.*augmented_job_postings"):
        catalog.load("job_postings")


def test_partition_must_be_a_day(local):
    with pytest.raises(
        catalog.UnknownPartitionError,
        match=r"augmented_job_postings: partition \"2026-11-19' or 1=1 --\" is not one of its "
        r"days; its partitions are days written YYYY-MM-DD, from 2026-07-01 to ",
    ):
        catalog.load("augmented_job_postings", "2026-11-19' or 1=1 --")
    # A customer is no day, and the daily marts take their sources' days.
    with pytest.raises(catalog.UnknownPartitionError, match="city_day_heat_index: .*YYYY-MM-DD"):
        catalog.load("city_day_heat_index", TRAINING_CUSTOMER)


def test_a_day_not_loaded_names_the_command_that_makes_it(local):
    with pytest.raises(
        catalog.NotMaterializedError,
        match="posting_date = 2026-11-22 in raw.job_postings.*"
        "dagster job execute -m definitions -j postings_daily "
        """--tags '{"dagster/partition": "2026-11-22"}'""",
    ):
        catalog.load("augmented_job_postings", "2026-11-22")
    with pytest.raises(catalog.NotMaterializedError, match="-j weather_daily --tags"):
        catalog.load("weather_readings", "2026-11-22")
    with pytest.raises(catalog.NotMaterializedError, match="-j weather_daily --tags"):
        catalog.load("city_day_heat_index", "2026-11-22")
    with pytest.raises(catalog.UnknownPartitionError, match="from 2026-07-01 to "):
        catalog.load("job_postings_quarantine", "2025-01-01")


def test_nothing_materialized_says_where_it_looked(empty):
    with pytest.raises(catalog.NotMaterializedError, match=r"snapshot.*make demo"):
        catalog.load("augmented_job_postings")
    with pytest.raises(catalog.NotMaterializedError, match="_quarantine.jsonl.*make demo"):
        catalog.load("job_postings_quarantine")
    with pytest.raises(catalog.NotMaterializedError, match=r"heat_index_readings"):
        catalog.load("heat_index_readings")
    # Asking must not leave an empty warehouse file behind.
    assert not (empty / "data" / "warehouse.duckdb").exists()


def test_dbt_models_read_from_the_targets_schema(local):
    # profiles.yml: the local DuckDB target builds into `analytics`.
    assert (
        catalog.where("postings_by_company_seniority") == "analytics.postings_by_company_seniority"
    )
    mart = catalog.load("postings_by_company_seniority", BAD_DAY)
    assert mart["posting_date"].unique().to_list() == [dt.date.fromisoformat(BAD_DAY)]


def test_files_load_as_producers_write_them(tmp_path, monkeypatch):
    """Compressed raw files are read; hidden staging files and other objects are not rows."""
    import gzip

    from resources.object_storage import LocalObjectStorage

    point_at(monkeypatch, tmp_path)
    storage = LocalObjectStorage(root=str(tmp_path / "data"))
    day = "2026-11-20"
    storage.write_bytes(
        f"job-postings-raw/{day}/a.jsonl.gz", gzip.compress(b'{"company": "A", "title": "B"}\n')
    )
    storage.write_bytes(f"job-postings-raw/{day}/b.jsonl", b'{"company": "C", "title": "D"}\r\n')
    storage.write_bytes(f"job-postings-raw/{day}/.b.jsonl.1234.tmp", b'{"company": "X"}\n')
    storage.write_bytes(f"job-postings-raw/{day}/readme.txt", b"not postings\n")

    raw = catalog.load("raw_job_postings", day)
    assert sorted(raw["company"].to_list()) == ["A", "C"]
    assert raw["posting_date"].unique().to_list() == [dt.date.fromisoformat(day)]


def test_customer_partitions_load_one_customer(local):
    """The training family is partitioned by customer: a customer id is its partition key."""
    suggestions = catalog.load("tag_suggestions", partition=TRAINING_CUSTOMER)
    review = catalog.load("tag_review", TRAINING_CUSTOMER)

    assert suggestions.height == local.suggestion_figures["tags_suggested"]
    assert suggestions["customer_id"].unique().to_list() == [TRAINING_CUSTOMER]
    assert sorted(review["module_id"]) == sorted(local.edits.modules)


def test_unknown_customer_names_the_asset_the_key_and_the_customers(local):
    """The valid keys are the instance's `customers` partitions (every customer of the catalog,
    whether its assets were materialized or not)."""
    with pytest.raises(
        catalog.UnknownPartitionError,
        match=r"tag_suggestions: partition 'nobody' is not one of its partitions; the "
        r"'customers' partitions in the Dagster instance are: 'acme-pharma', "
        r"'globex-insurance', 'initech-retail', 'northwind-software'$",
    ):
        catalog.load("tag_suggestions", "nobody")
    with pytest.raises(catalog.UnknownPartitionError, match="tag_review: partition '2026-11-20'"):
        catalog.load("tag_review", "2026-11-20")
    # A customer of the catalog whose assets were not materialized: the command that makes them.
    with pytest.raises(
        catalog.NotMaterializedError,
        match="no rows for customer_id = globex-insurance in raw.tag_suggestions.*"
        """-j training --tags '{"dagster/partition": "globex-insurance"}'""",
    ):
        catalog.load("tag_suggestions", "globex-insurance")


def test_without_an_instance_the_customers_are_those_the_table_holds(local, monkeypatch):
    """An analyst who reads only the warehouse has no Dagster instance: the keys come from the
    rows, and a key is still checked before it reaches SQL."""
    monkeypatch.delenv("DAGSTER_HOME")

    assert catalog.load("tag_review", TRAINING_CUSTOMER).height == len(local.edits.modules)
    with pytest.raises(
        catalog.UnknownPartitionError,
        match=r"tag_review: partition \"x' or 'a'='a\" is not one of its partitions; the keys "
        r"raw.tag_review holds \(no Dagster instance: DAGSTER_HOME unset\) are: 'acme-pharma'$",
    ):
        catalog.load("tag_review", "x' or 'a'='a")


def test_an_asset_without_partitions_takes_no_partition(local):
    with pytest.raises(
        catalog.UnknownPartitionError,
        match=r"training_impact is not partitioned; call load\('training_impact'\) without a "
        r"partition \(got partition='acme-pharma'\)",
    ):
        catalog.load("training_impact", TRAINING_CUSTOMER)
    assert catalog.load("training_impact")["customer_id"].unique().to_list() == [TRAINING_CUSTOMER]
