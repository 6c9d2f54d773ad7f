"""Notebooks run top to bottom against the local defaults, and the catalog they read through.

Three days of postings and weather are materialized once per module with the real components
(the reference gRPC model on loopback, an embedded Redis, DuckDB and a storage folder under
tmp), then each notebook is executed in a fresh `python3` kernel pointed at that folder.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import dagster as dg
import nbformat
import polars as pl
import pytest
from nbclient import NotebookClient

from assets import catalog
from assets.jobs import fieldwork_daily
from assets.postings.augment import WAREHOUSE_SCHEMA
from assets.postings.parse import QUARANTINE_SCHEMA
from assets.weather.layout import cities_key
from model_servers.seniority.server import serve
from notebooks.fieldwork_notebooks.labels import fahrenheit_label, share_label
from scripts.sample_postings import write_sample_day
from scripts.sample_weather import write_sample_day as write_weather_day

pytestmark = pytest.mark.xdist_group("notebooks")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# The level names as the dbt seed declares them: the tests' own reading, not the warehouse's.
SENIORITY_LEVELS = ROOT / "dbt_project" / "seeds" / "seniority_levels.csv"
DAYS = {"2026-11-19": 2_000, "2026-11-20": 2_000, "2026-11-21": 2_000}
# Lines on the second day that must land in the quarantine, not in the postings.
BAD_LINES = [b'{"company": "Acme", "title": "Cook", "desc": "cut', b'{"company": "Acme"}']
BAD_DAY = "2026-11-20"
# Variables that would point the catalog somewhere else than the test's folder.
OTHER_PLACES = ("FIELDWORK_BUCKET", "FIELDWORK_WAREHOUSE", "FIELDWORK_DBT_TARGET")


@pytest.fixture(scope="module")
def materialized(tmp_path_factory) -> Path:
    """Three days of the platform's main job (postings, weather, the dbt models) under one tmp
    folder, through the definitions' own resources on the local defaults; returns the folder."""
    root = tmp_path_factory.mktemp("fieldwork")
    server, port = serve("127.0.0.1", 0)
    with pytest.MonkeyPatch.context() as env:
        point_at(env, root)
        env.setenv("SENIORITY_MODEL_ENDPOINT", f"127.0.0.1:{port}")
        from definitions import defs
        from resources import build_resources, build_storage

        storage = build_storage()
        graph = defs.resolve_asset_graph()
        selected = fieldwork_daily.selection.resolve(graph)
        by_day = [key for key in selected if graph.get(key).partitions_def is not None]
        # The dbt models are not partitioned: each build reads every day loaded so far, so one
        # build after the last day makes the same tables as one per day, for a third of the time.
        models = [key for key in selected if graph.get(key).partitions_def is None]
        try:
            for seed, (day, lines) in enumerate(DAYS.items(), start=1):
                write_sample_day(storage, day, lines=lines, files=2, seed=seed)
                write_weather_day(storage, day, cities=30)
                if day == BAD_DAY:
                    storage.write_bytes(
                        f"job-postings-raw/{day}/bad.jsonl", b"\n".join(BAD_LINES) + b"\n"
                    )
                result = dg.materialize(
                    defs.assets, selection=by_day, partition_key=day, resources=build_resources()
                )
                assert result.success, day
            result = dg.materialize(defs.assets, selection=models, resources=build_resources())
            assert result.success
        finally:
            server.stop(grace=None)
    return root


def point_at(monkeypatch, root: Path) -> None:
    """Local defaults under `root`; a notebook kernel started now inherits them."""
    for name in OTHER_PLACES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FIELDWORK_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(root / "data"))


@pytest.fixture
def local(materialized, monkeypatch) -> Path:
    point_at(monkeypatch, materialized)
    return materialized


@pytest.fixture
def empty(tmp_path, monkeypatch) -> Path:
    point_at(monkeypatch, tmp_path)
    return tmp_path


def run_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def images(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_committed_notebooks_have_no_outputs():
    """Outputs belong to a run, not to the repository: they bloat diffs and go stale."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_seniority_mix_runs_top_to_bottom(local):
    """Its answers match the same figures computed here from the postings table itself."""
    notebook = run_notebook("seniority_mix.ipynb")

    text = printed(notebook)
    postings = catalog.load("augmented_job_postings")
    names = dict(pl.read_csv(SENIORITY_LEVELS).rows())
    assert f"total postings: {sum(DAYS.values()):,}" in text, text
    assert f"days: {len(DAYS)} (2026-11-19 .. 2026-11-21)" in text, text
    assert f"quarantined lines: {len(BAD_LINES)}" in text, text
    # Overall: every level, its postings and its share.
    counts = dict(postings["seniority"].value_counts().rows())
    for level, name in names.items():
        n = counts.get(level, 0)
        assert f"{name}: {n:,} postings ({share_label(n / postings.height)})" in text, text
    # The fixture's days hold rare levels: their shares keep a decimal instead of reading 0%.
    assert re.search(r"postings \((0\.\d|<0\.1)%\)", text), text
    # The ten biggest companies: the one hiring most at Manager or above.
    top = (
        postings.group_by("company_normalized")
        .agg(n=pl.len(), senior=(pl.col("seniority") >= 4).mean())
        .sort(["n", "company_normalized"], descending=[True, False])
        .head(10)
    )
    most_senior = top.filter(pl.col("senior") == pl.col("senior").max())
    spellings = postings.filter(
        pl.col("company_normalized").is_in(most_senior["company_normalized"].implode())
    )["company"]
    said = re.search(r"most senior hiring of the ten: (.+) \((\S+) of its postings", text)
    assert said and said[1] in spellings.to_list(), text
    assert said[2] == share_label(most_senior["senior"][0]), text
    # Day by day: the level whose share moved most from the first day to the last.
    by_day = (
        postings.group_by("posting_date", "seniority")
        .len()
        .with_columns(share=pl.col("len") / pl.col("len").sum().over("posting_date"))
    )
    first, last = (
        dict(
            by_day.filter(pl.col("posting_date") == dt.date.fromisoformat(day))
            .select("seniority", "share")
            .rows()
        )
        for day in (min(DAYS), max(DAYS))
    )
    moved = max(names, key=lambda level: abs(last.get(level, 0) - first.get(level, 0)))
    before, after = first.get(moved, 0), last.get(moved, 0)
    assert (
        f"biggest change from {min(DAYS)} to {max(DAYS)}: {names[moved]} "
        f"{share_label(before)} -> {share_label(after)} ({(after - before) * 100:+.1f} points)"
    ) in text, text
    # Overall mix, the ten biggest companies, by day.
    assert images(notebook) == 3


def test_heat_index_trends_runs_top_to_bottom(local):
    """Its answers match the same figures computed here from every valid reading and the city
    files the producer wrote, not from the marts the notebook reads."""
    from resources import build_storage

    notebook = run_notebook("heat_index_trends.ipynb")

    text = printed(notebook)
    readings = catalog.load("heat_index_readings")
    storage = build_storage()
    cities = pl.concat(
        pl.read_parquet(io.BytesIO(storage.read_bytes(cities_key(day)))) for day in DAYS
    ).unique("city_id")
    readings = readings.join(cities.select("city_id", "city_name", "region"), on="city_id")
    regions = readings["region"].unique()
    assert f"days: {len(DAYS)} (2026-11-19 .. 2026-11-21)" in text, text
    assert f"cities: {readings['city_id'].n_unique()} in {regions.len()} regions" in text, text
    assert f"valid one-minute readings: {readings.height:,}" in text, text
    # Over the days: the share of city-minutes at risk, at danger or above, and the peak.
    danger = pl.col("heat_risk").is_in(["danger", "extreme danger"]).fill_null(False)
    per_day = readings.group_by("reading_date").agg(
        at_risk=pl.col("heat_risk").is_not_null().mean(),
        danger=danger.mean(),
        peak=pl.col("heat_index_f").max(),
    )
    for day, at_risk, in_danger, peak in per_day.sort("reading_date").rows():
        assert (
            f"{day}: {share_label(at_risk)} of city-minutes at heat risk, "
            f"{share_label(in_danger)} at danger or above; peak {fahrenheit_label(peak)}"
        ) in text, text
    # The hottest city: the hottest reading of all.
    hottest = readings.sort("heat_index_f", descending=True).row(0, named=True)
    assert (
        f"hottest city: {hottest['city_name']} ({hottest['region']}), "
        f"{fahrenheit_label(hottest['heat_index_f'])} on {hottest['reading_date']} "
        f"({hottest['heat_risk']})"
    ) in text, text
    # The regions: those whose cities never reached 80 F are named.
    never = readings.group_by("region").agg(risk=pl.col("heat_risk").is_not_null().any())
    never = sorted(never.filter(~pl.col("risk"))["region"])
    assert f"never at risk: {', '.join(never) or 'none'}" in text, text
    # Risk by day, mean by region and day, the hottest cities, the hottest city's day, the
    # regions' hours at risk.
    assert images(notebook) == 5


def test_make_notebooks_on_an_empty_folder_names_what_to_run(empty, capsys):
    """`make notebooks` before `make demo`: the catalog's message, not a cascade of errors."""
    from scripts.run_notebooks import main

    out = empty / "executed"
    assert main(["heat_index_trends.ipynb", "--out", str(out)]) == 1

    said = capsys.readouterr().out
    assert re.search(r"FAILED heat_index_trends.ipynb: .*NotMaterializedError.*make demo", said)
    executed = nbformat.read(out / "heat_index_trends.ipynb", as_version=4)
    [error] = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert error.ename == "NotMaterializedError"
    assert error.evalue.startswith("city_day_heat_index: no warehouse snapshot at "), error


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
    # A clean day has an empty quarantine, not a missing one.
    assert catalog.load("job_postings_quarantine", "2026-11-19").is_empty()


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
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        catalog.load("augmented_job_postings", "2026-11-19' or 1=1 --")


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
    with pytest.raises(catalog.NotMaterializedError, match="before the first day partition"):
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
