"""Pull any materialized asset into a Polars frame in one line, for analysts and notebooks.

    from assets.catalog import load
    postings = load("augmented_job_postings", "2026-11-20")

Where each asset lives is written down once, in `CATALOG`. Storage and warehouse come from
the same builders as `resources.build_resources()`, so a notebook reads the local `data/`
folder and DuckDB file by default and S3 / Snowflake when the environment says so.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from assets.postings.augment import OUTPUT_PREFIX, QUARANTINE_NAME, quarantine_key
from assets.postings.parse import QUARANTINE_SCHEMA
from resources import build_storage, build_warehouse, environment
from resources.object_storage import ObjectStorage
from resources.warehouse import DuckDBWarehouse, Warehouse

DBT_PROJECT_DIR = environment.PROJECT_ROOT / "dbt_project"
HOW_TO_MATERIALIZE = "make demo"


class NotMaterializedError(LookupError):
    """The asset is known but its data is not there (yet): says where it looked and what to run."""


@dataclass(frozen=True)
class WarehouseTable:
    """A table the assets load into the warehouse (`schema.table`), partitioned by a date column."""

    table: str
    partition_column: str | None = None

    def where(self, name: str) -> str:
        return self.table

    def load(self, name: str, partition: str | None) -> pl.DataFrame:
        return _load_table(name, self.table, self.partition_column, partition)


@dataclass(frozen=True)
class DbtModel:
    """A model dbt builds; its schema is the dbt target's, read from `dbt_project/profiles.yml`."""

    partition_column: str | None = None

    def where(self, name: str) -> str:
        return f"{dbt_schema()}.{name}"

    def load(self, name: str, partition: str | None) -> pl.DataFrame:
        return _load_table(name, self.where(name), self.partition_column, partition)


@dataclass(frozen=True)
class PostingsQuarantine:
    """The `_quarantine.jsonl` beside each day's augmented postings in object storage."""

    def where(self, name: str) -> str:
        return f"{OUTPUT_PREFIX}/<date>/{QUARANTINE_NAME}"

    def load(self, name: str, partition: str | None) -> pl.DataFrame:
        storage = build_storage()
        if partition is not None:
            keys = [quarantine_key(_day(partition).isoformat())]
        else:
            keys = [
                key
                for key in storage.list_keys(f"{OUTPUT_PREFIX}/")
                if key.endswith(f"/{QUARANTINE_NAME}")
            ]
        frames = [_read_quarantine(storage, key, name) for key in keys]
        if not frames:
            raise NotMaterializedError(
                f"{name}: no {QUARANTINE_NAME} under {storage.uri(OUTPUT_PREFIX)}; "
                f"materialize augmented_job_postings first: {HOW_TO_MATERIALIZE}"
            )
        return pl.concat(frames).sort("posting_date", "source_key", "line_number")


# Asset name -> where its data lives. Add an asset here when analysts need it.
CATALOG: dict[str, WarehouseTable | DbtModel | PostingsQuarantine] = {
    # postings
    "augmented_job_postings": WarehouseTable("raw.job_postings", "posting_date"),
    "job_postings_quarantine": PostingsQuarantine(),
    # weather
    "heat_index_readings": WarehouseTable("raw.heat_index_readings", "reading_date"),
    "weather_quarantine": WarehouseTable("raw.weather_quarantine", "reading_date"),
    # dbt marts
    "postings_by_company_seniority": DbtModel("posting_date"),
    "city_day_heat_index": DbtModel("reading_date"),
    "heat_risk_by_region": DbtModel("reading_date"),
}


def load(asset: str, partition: str | None = None) -> pl.DataFrame:
    """The asset's rows as a Polars frame; `partition` (a day, `YYYY-MM-DD`) keeps one day only."""
    return _entry(asset).load(asset, partition)


def where(asset: str) -> str:
    """Where `load(asset)` reads from: a warehouse table or an object-storage location."""
    return _entry(asset).where(asset)


def _entry(asset: str) -> WarehouseTable | DbtModel | PostingsQuarantine:
    try:
        return CATALOG[asset]
    except KeyError:
        raise KeyError(
            f"unknown asset {asset!r}; the catalog knows: {', '.join(sorted(CATALOG))}"
        ) from None


def _day(partition: str) -> dt.date:
    """A partition is a day; parsing it also keeps anything else out of the SQL."""
    try:
        return dt.date.fromisoformat(partition)
    except (TypeError, ValueError):
        raise ValueError(f"partition must be a day as YYYY-MM-DD, got {partition!r}") from None


def _table_exists(warehouse: Warehouse, table: str) -> bool:
    """Asked of information_schema, which DuckDB and Snowflake both have."""
    if isinstance(warehouse, DuckDBWarehouse) and not Path(warehouse.path).exists():
        return False  # connecting would create an empty warehouse file
    schema, name = table.split(".")
    found = warehouse.query(
        "select count(*) as n from information_schema.tables "
        f"where upper(table_schema) = upper('{schema}') and upper(table_name) = upper('{name}')"
    )
    return found.item() > 0


def _load_table(
    asset: str, table: str, partition_column: str | None, partition: str | None
) -> pl.DataFrame:
    warehouse = build_warehouse()
    if not _table_exists(warehouse, table):
        location = f" in {warehouse.path}" if isinstance(warehouse, DuckDBWarehouse) else ""
        raise NotMaterializedError(
            f"{asset}: table {table} does not exist{location}; "
            f"materialize {asset} first: {HOW_TO_MATERIALIZE}"
        )
    sql = f"select * from {table}"
    if partition is not None:
        if partition_column is None:
            raise ValueError(f"{asset} is not partitioned; call load({asset!r}) without a partition")
        sql += f" where {partition_column} = date '{_day(partition).isoformat()}'"
    frame = warehouse.query(sql)
    if partition is not None and frame.is_empty():
        raise NotMaterializedError(
            f"{asset}: no rows for {partition_column} = {partition} in {table}; "
            f"materialize {asset} for {partition} first: {HOW_TO_MATERIALIZE}"
        )
    return frame


def _read_quarantine(storage: ObjectStorage, key: str, asset: str) -> pl.DataFrame:
    try:
        data = storage.read_bytes(key)
    except FileNotFoundError:
        raise NotMaterializedError(
            f"{asset}: {storage.uri(key)} does not exist; "
            f"materialize augmented_job_postings first: {HOW_TO_MATERIALIZE}"
        ) from None
    day = dt.date.fromisoformat(key.removeprefix(f"{OUTPUT_PREFIX}/").split("/", 1)[0])
    frame = pl.read_ndjson(io.BytesIO(data), schema=QUARANTINE_SCHEMA)
    return frame.select(pl.lit(day).alias("posting_date"), pl.all())


_ENV_VAR = re.compile(
    r"""\{\{\s*env_var\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]*)['"]\s*)?\)\s*\}\}"""
)


def _render_env_vars(value: str) -> str:
    """The `{{ env_var('NAME', 'default') }}` subset of dbt's Jinja that profiles.yml uses."""

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise KeyError(f"dbt_project/profiles.yml needs the environment variable {name}")
        return default

    return _ENV_VAR.sub(substitute, value)


def dbt_schema(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """The schema dbt builds models into for the current target (`local`: DuckDB, `snowflake`).

    Read from the project's own profile, so it cannot drift from what dbt does. Models with
    a custom `+schema` would land elsewhere; none have one today.
    """
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    profiles = yaml.safe_load((project_dir / "profiles.yml").read_text())
    target = environment.dbt_target()
    try:
        output = profiles[project["profile"]]["outputs"][target]
    except KeyError:
        raise KeyError(
            f"dbt_project/profiles.yml has no output {target!r} in profile {project['profile']!r}"
        ) from None
    return _render_env_vars(str(output["schema"]))
