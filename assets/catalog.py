"""Pull any materialized asset into a Polars frame in one line, for analysts and notebooks.

    from assets.catalog import load
    postings = load("augmented_job_postings", partition="2026-11-20")

Where an asset's rows live is read from the asset's own definition metadata, so every
asset that has rows is loadable as soon as it is defined:
- `dagster/table_name`: a warehouse table or view (dbt models set it themselves), with
  `fieldwork/partition_column` naming its day column;
- `fieldwork/storage_prefix` (`{partition}` stands for the day), `fieldwork/storage_format`
  (`jsonl` or `parquet`) and optionally `fieldwork/storage_glob`: files in object storage.
A table is preferred to files when an asset has both. Tables are read from the warehouse's
reader side (locally the read-only snapshot, so a notebook never blocks a run), files
through the same storage resource the assets use.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import json
from dataclasses import dataclass
from functools import cache

import dagster as dg
import orjson
import polars as pl
import pyarrow as pa

from resources import build_storage, build_warehouse, settings

TABLE_NAME = "dagster/table_name"
PARTITION_COLUMN = "fieldwork/partition_column"
STORAGE_PREFIX = "fieldwork/storage_prefix"
STORAGE_FORMAT = "fieldwork/storage_format"
STORAGE_GLOB = "fieldwork/storage_glob"
FORMATS = ("jsonl", "parquet")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
FORMAT_SUFFIXES = {
    "jsonl": tuple(f"{ext}{c}" for ext in (".jsonl", ".ndjson") for c in ("", *COMPRESSIONS)),
    "parquet": (".parquet",),
    "": ("",),
}


class NotMaterializedError(LookupError):
    """The asset is known but its data is not there (yet): says where it looked and what to run."""


@dataclass(frozen=True)
class Location:
    """Where one asset's rows are, as its metadata says."""

    asset: str
    group: str
    partitioned: bool
    table: str | None = None
    partition_column: str | None = None
    prefix: str | None = None
    file_format: str | None = None
    glob: str | None = None

    def where(self) -> str:
        if self.table:
            return build_warehouse().relation(self.table)
        return f"{self.prefix}{self.glob or '*.' + (self.file_format or '')}"

    def how_to_make(self, day: str | None) -> str:
        """The command that makes the asset's rows (for `day`, when given)."""
        if day is None or self.partition_column is None:
            return "`make demo` (locally), or materialize it in the Dagster UI"
        first = settings.first_day()
        if day < first:
            return (
                f"nothing: {day} is before the first day partition, {first} (FIELDWORK_FIRST_DAY)"
            )
        # The family's daily job: it makes the asset together with the assets it needs
        # (a multi-asset's siblings, a dbt model's inputs).
        tags = json.dumps({"dagster/partition": day})
        return f"`dagster job execute -m definitions -j {self.group}_daily --tags '{tags}'`"


@cache
def locations() -> dict[str, Location]:
    """Every asset with rows, by name, from the definitions' metadata."""
    from definitions import defs

    found = {}
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        meta = {
            k: v.value if isinstance(v, dg.MetadataValue) else v for k, v in node.metadata.items()
        }
        name = key.to_user_string()
        if meta.get(TABLE_NAME) or meta.get(STORAGE_PREFIX):
            found[name] = Location(
                asset=name,
                group=node.group_name,
                partitioned=node.partitions_def is not None,
                table=meta.get(TABLE_NAME),
                partition_column=meta.get(PARTITION_COLUMN),
                prefix=meta.get(STORAGE_PREFIX),
                file_format=meta.get(STORAGE_FORMAT),
                glob=meta.get(STORAGE_GLOB),
            )
    return found


def load(asset: str, partition: str | None = None) -> pl.DataFrame:
    """The asset's rows as a Polars frame; `partition` (a day, `YYYY-MM-DD`) keeps one day only."""
    location = _location(asset)
    day = _day(partition) if partition is not None else None
    if location.table:
        return _load_table(location, day)
    return _load_files(location, day)


def where(asset: str) -> str:
    """Where `load(asset)` reads from: a warehouse table or an object-storage location."""
    return _location(asset).where()


def _location(asset: str) -> Location:
    try:
        return locations()[asset]
    except KeyError:
        raise KeyError(
            f"unknown asset {asset!r}, or an asset without rows; the catalog knows: "
            f"{', '.join(sorted(locations()))}"
        ) from None


def _day(partition: str) -> str:
    """A partition is a day; parsing it also keeps anything else out of SQL and paths."""
    try:
        return dt.date.fromisoformat(partition).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"partition must be a day as YYYY-MM-DD, got {partition!r}") from None


def _load_table(location: Location, day: str | None) -> pl.DataFrame:
    warehouse = build_warehouse()
    table = warehouse.relation(location.table or "")
    schema, name = table.split(".")[-2:]
    try:
        exists = warehouse.read(
            "select count(*) as n from information_schema.tables "
            f"where upper(table_schema) = upper('{schema}') and upper(table_name) = upper('{name}')"
        ).item()
    except FileNotFoundError as error:
        raise NotMaterializedError(
            f"{location.asset}: {error}; materialize it first: {location.how_to_make(day)}"
        ) from None
    if not exists:
        raise NotMaterializedError(
            f"{location.asset}: table {table} does not exist in {warehouse.reader_location()}; "
            f"materialize {location.asset} first: {location.how_to_make(day)}"
        )
    sql = f"select * from {table}"
    if day is not None:
        if location.partition_column is None:
            raise ValueError(
                f"{location.asset} is not partitioned; "
                f"call load({location.asset!r}) without a partition"
            )
        sql += f" where {location.partition_column} = date '{day}'"
    frame = warehouse.read(sql)
    if day is not None and frame.is_empty():
        raise NotMaterializedError(
            f"{location.asset}: no rows for {location.partition_column} = {day} in {table}; "
            f"materialize {location.asset} for {day} first: {location.how_to_make(day)}"
        )
    return frame


def _load_files(location: Location, day: str | None) -> pl.DataFrame:
    storage = build_storage()
    template = location.prefix or ""
    if "{partition}" in template:
        prefix = template.split("{partition}")[0] + (day or "")
    else:
        prefix = template
    if location.file_format not in FORMATS:
        raise ValueError(
            f"{location.asset}: storage format {location.file_format!r} is not one of {FORMATS}"
        )
    pattern = location.glob or "*"
    keys = [
        key
        for key in storage.list_keys(prefix)
        if _matches(key, template, pattern, location.file_format)
        and (day is None or f"/{day}/" in f"/{key}")
    ]
    if not keys:
        shown = template.replace("{partition}", day or "<date>")
        raise NotMaterializedError(
            f"{location.asset}: no files {pattern} under {storage.uri(shown)}; "
            f"materialize {location.asset} first: {location.how_to_make(day)}"
        )
    day_column = location.partition_column or "partition_date"
    frames = [_read(storage, key, location.file_format, day_column) for key in keys]
    return pl.concat(frames, how="diagonal_relaxed")


def _matches(key: str, template: str, pattern: str, file_format: str | None) -> bool:
    """Whether `key` is one of the asset's files: under its prefix, named by its pattern and
    its format, and not hidden (staging files of a run in progress start with a dot)."""
    name = key.rsplit("/", 1)[-1]
    if any(part.startswith(".") for part in key.split("/")):
        return False
    if template.endswith("/") and not name.endswith(FORMAT_SUFFIXES[file_format or ""]):
        return False
    if (
        template.endswith("/")
        or "{partition}/" in template
        and not template.split("{partition}")[1]
    ):
        return fnmatch.fnmatch(key.rsplit("/", 1)[-1], pattern)
    # The prefix names one file per day (`.../{partition}/_quarantine.jsonl`).
    head, _, tail = template.partition("{partition}")
    return key.startswith(head) and key.endswith(tail)


def _read(storage, key: str, file_format: str | None, day_column: str) -> pl.DataFrame:
    """One file's rows, with the day it belongs to (`day_column`) and where it came from."""
    day = next((part for part in key.split("/") if _is_day(part)), None)
    data = _decompressed(storage.read_bytes(key), key)
    if file_format == "parquet":
        frame = pl.read_parquet(io.BytesIO(data))
    else:
        frame = _read_jsonl(data)
    extra = {"storage_key": pl.lit(key, pl.String)}
    if day is not None and day_column not in frame.columns:
        extra = {day_column: pl.lit(dt.date.fromisoformat(day), pl.Date), **extra}
    # with_columns, not select: an empty file stays zero rows instead of one row of literals.
    return frame.with_columns(**extra).select(*extra, pl.exclude(*extra))


def _decompressed(data: bytes, key: str) -> bytes:
    """The bytes of a `.gz` or `.zst` object uncompressed (producers write both)."""
    for suffix, codec in COMPRESSIONS.items():
        if key.endswith(suffix):
            return pa.input_stream(pa.py_buffer(data), compression=codec).read()
    return data


def _read_jsonl(data: bytes) -> pl.DataFrame:
    """JSON lines as rows; a line that is not a JSON object is kept whole in `invalid_line`
    (raw files hold what producers wrote, and the catalog loses nothing of it)."""
    if not data.strip():
        return pl.DataFrame()
    try:
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except pl.exceptions.ComputeError:
        pass
    rows = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        rows.append(
            row if isinstance(row, dict) else {"invalid_line": line.decode(errors="replace")}
        )
    return pl.from_dicts(rows, infer_schema_length=None)


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
