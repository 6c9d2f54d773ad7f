"""Pull any materialized asset into a Polars frame in one line, for analysts and notebooks.

    from assets.catalog import load
    postings = load("augmented_job_postings", partition="2026-11-20")
    suggestions = load("tag_suggestions", partition="acme-pharma")

Where an asset's rows live is read from the asset's own definition metadata, so every
asset that has rows is loadable as soon as it is defined:
- `dagster/table_name`: a warehouse table or view (dbt models set it themselves), with
  `fieldwork/partition_column` naming the column that holds its partition key;
- `fieldwork/storage_prefix` (`{partition}` stands for the partition key),
  `fieldwork/storage_format` (`jsonl` or `parquet`) and optionally `fieldwork/storage_glob`:
  files in object storage;
- `dagster/column_schema`: the columns of files that hold no row yet.
A table is preferred to files when an asset has both. Tables are read from the warehouse's
reader side (locally the read-only snapshot, so a notebook never blocks a run), files
through the same storage resource the assets use.

What `partition` may be comes from the asset's partitions definition, Dagster's own: a day
(`YYYY-MM-DD`, within the daily partitions) for the daily families, a customer id for the
training family (its dynamic partitions, as the Dagster instance under DAGSTER_HOME holds
them; without an instance, the customers its table holds). A warehouse model that is not
partitioned itself but keeps its sources' partition column (the daily marts' day) takes
its sources' keys. Any other key is refused, naming the asset, the key and the valid keys.
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
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.errors import DagsterHomeNotSetError

from resources import build_storage, build_warehouse

TABLE_NAME = "dagster/table_name"
COLUMN_SCHEMA = "dagster/column_schema"
PARTITION_COLUMN = "fieldwork/partition_column"
STORAGE_PREFIX = "fieldwork/storage_prefix"
STORAGE_FORMAT = "fieldwork/storage_format"
STORAGE_GLOB = "fieldwork/storage_glob"
FORMATS = ("jsonl", "parquet")
KEYS_SHOWN = 20  # partition keys an error lists
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
FORMAT_SUFFIXES = {
    "jsonl": tuple(f"{ext}{c}" for ext in (".jsonl", ".ndjson") for c in ("", *COMPRESSIONS)),
    "parquet": (".parquet",),
    "": ("",),
}


class NotMaterializedError(LookupError):
    """The asset is known but its data is not there (yet): says where it looked and what to run."""


class UnknownPartitionError(ValueError):
    """The key is not one of the asset's partitions: says which asset and which keys are."""


@dataclass(frozen=True)
class Location:
    """Where one asset's rows are and how they are partitioned, as its definition says."""

    asset: str
    group: str
    # The asset's own partitions definition (None: not partitioned).
    partitions_def: dg.PartitionsDefinition | None = None
    # What `load(..., partition=)` takes: the asset's own partitions, or for a table that
    # keeps its sources' partition column, the sources' partitions.
    key_partitions: dg.PartitionsDefinition | None = None
    # The smallest job that makes one of `key_partitions` of the asset (with its inputs).
    job: str | None = None
    table: str | None = None
    partition_column: str | None = None
    prefix: str | None = None
    file_format: str | None = None
    glob: str | None = None
    # `dagster/column_schema` as (name, type) pairs: the columns of a file with no row.
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def partitioned(self) -> bool:
        return self.partitions_def is not None

    @property
    def by_day(self) -> bool:
        return isinstance(self.key_partitions, dg.TimeWindowPartitionsDefinition)

    def where(self) -> str:
        if self.table:
            return build_warehouse().relation(self.table)
        return f"{self.prefix}{self.glob or '*.' + (self.file_format or '')}"

    def how_to_make(self, key: str | None) -> str:
        """The command that makes the asset's rows (for partition `key`, when given)."""
        if key is None or self.job is None:
            return "`make demo` (locally), or materialize it in the Dagster UI"
        # The family's job: it makes the asset together with the assets it needs (a
        # multi-asset's siblings, a dbt model's inputs).
        tags = json.dumps({"dagster/partition": key})
        return f"`dagster job execute -m definitions -j {self.job} --tags '{tags}'`"


@cache
def locations() -> dict[str, Location]:
    """Every asset with rows, by name, from the definitions' metadata and partitions."""
    from definitions import defs

    found = {}
    graph = defs.resolve_asset_graph()
    jobs = [
        (job, job.selection.resolve(graph))
        for job in defs.jobs or ()
        if isinstance(job, UnresolvedAssetJobDefinition) and job.partitions_def is not None
    ]
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        meta = {
            k: v.value if isinstance(v, dg.MetadataValue) else v for k, v in node.metadata.items()
        }
        if not (meta.get(TABLE_NAME) or meta.get(STORAGE_PREFIX)):
            continue
        name = key.to_user_string()
        key_partitions = node.partitions_def
        if key_partitions is None and meta.get(PARTITION_COLUMN):
            key_partitions = _sources_partitions(graph, key)
        makers = sorted(
            (len(selected), job.name)
            for job, selected in jobs
            if key in selected and job.partitions_def == key_partitions
        )
        schema = meta.get(COLUMN_SCHEMA)
        found[name] = Location(
            asset=name,
            group=node.group_name,
            partitions_def=node.partitions_def,
            key_partitions=key_partitions,
            job=makers[0][1] if makers else None,
            table=meta.get(TABLE_NAME),
            partition_column=meta.get(PARTITION_COLUMN),
            prefix=meta.get(STORAGE_PREFIX),
            file_format=meta.get(STORAGE_FORMAT),
            glob=meta.get(STORAGE_GLOB),
            columns=tuple((c.name, c.type) for c in schema.columns) if schema else (),
        )
    return found


def _sources_partitions(graph, key: dg.AssetKey) -> dg.PartitionsDefinition | None:
    """The partitions of the nearest partitioned assets upstream of `key`, if they all share
    one definition (a dbt model over a day-partitioned table keeps its day column)."""
    found: list[dg.PartitionsDefinition] = []
    seen: set[dg.AssetKey] = set()
    frontier = set(graph.get(key).parent_keys)
    while frontier:
        parent = frontier.pop()
        if parent in seen or not graph.has(parent):
            continue
        seen.add(parent)
        node = graph.get(parent)
        if node.partitions_def is None:
            frontier |= set(node.parent_keys)
        elif node.partitions_def not in found:
            found.append(node.partitions_def)
    return found[0] if len(found) == 1 else None


def load(asset: str, partition: str | None = None) -> pl.DataFrame:
    """The asset's rows as a Polars frame; `partition` keeps one partition only: a day
    (`YYYY-MM-DD`) or a customer id, as the asset is partitioned."""
    location = _location(asset)
    key = _partition_key(location, partition) if partition is not None else None
    if location.table:
        return _load_table(location, key)
    return _load_files(location, key)


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


def _partition_key(location: Location, key: str) -> str:
    """`key` if it is one of the asset's partitions; checking it also keeps anything else
    out of SQL and paths."""
    partitions = location.key_partitions
    if partitions is None:
        raise UnknownPartitionError(
            f"{location.asset} is not partitioned; call load({location.asset!r}) without a "
            f"partition (got partition={key!r})"
        )
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        if _well_formed(key, partitions.fmt) and partitions.has_partition_key(key):
            return key
        first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
        raise UnknownPartitionError(
            f"{location.asset}: partition {key!r} is not one of its days; its partitions are "
            f"days written {_written(partitions.fmt)}, from {first} to {last}"
        )
    known, source = _partition_keys(location, partitions)
    if isinstance(key, str) and key in known:
        return key
    shown = ", ".join(repr(k) for k in known[:KEYS_SHOWN]) or "none yet"
    more = f" and {len(known) - KEYS_SHOWN} more" if len(known) > KEYS_SHOWN else ""
    raise UnknownPartitionError(
        f"{location.asset}: partition {key!r} is not one of its partitions; {source} are: "
        f"{shown}{more}"
    )


def _partition_keys(
    location: Location, partitions: dg.PartitionsDefinition
) -> tuple[list[str], str]:
    """The asset's partition keys and where they come from: the Dagster instance's (under
    DAGSTER_HOME) for dynamic partitions; without an instance (an analyst who reads only the
    warehouse), the keys its table holds."""
    if not isinstance(partitions, dg.DynamicPartitionsDefinition):
        return list(partitions.get_partition_keys()), "its partitions"
    try:
        instance = dg.DagsterInstance.get()
    except DagsterHomeNotSetError:
        instance = None
    if instance is not None:
        with instance:
            keys = list(partitions.get_partition_keys(dynamic_partitions_store=instance))
        return keys, f"the {partitions.name!r} partitions in the Dagster instance"
    if not (location.table and location.partition_column):
        raise UnknownPartitionError(
            f"{location.asset}: its partitions are listed by the Dagster instance, and none is "
            "configured (set DAGSTER_HOME, as `make lab` and `make notebooks` do)"
        )
    table = _existing_table(location, None)
    column = location.partition_column
    held = build_warehouse().read(f"select distinct {column} as k from {table} order by 1")
    return held["k"].to_list(), f"the keys {table} holds (no Dagster instance: DAGSTER_HOME unset)"


def _well_formed(key: object, fmt: str) -> bool:
    try:
        dt.datetime.strptime(key, fmt)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _written(fmt: str) -> str:
    """A strftime format as a person writes it (`%Y-%m-%d` -> `YYYY-MM-DD`)."""
    for code, letters in (("%Y", "YYYY"), ("%m", "MM"), ("%d", "DD"), ("%H", "HH"), ("%M", "mm")):
        fmt = fmt.replace(code, letters)
    return fmt


def _existing_table(location: Location, key: str | None) -> str:
    """The asset's table as the reader names it, once it is known to exist."""
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
            f"{location.asset}: {error}; materialize it first: {location.how_to_make(key)}"
        ) from None
    if not exists:
        raise NotMaterializedError(
            f"{location.asset}: table {table} does not exist in {warehouse.reader_location()}; "
            f"materialize {location.asset} first: {location.how_to_make(key)}"
        )
    return table


def _load_table(location: Location, key: str | None) -> pl.DataFrame:
    table = _existing_table(location, key)
    sql = f"select * from {table}"
    if key is not None:
        if location.partition_column is None:
            raise UnknownPartitionError(
                f"{location.asset}: its table {table} has no partition column to keep "
                f"partition {key!r} by; call load({location.asset!r}) without a partition"
            )
        # The key is one of the asset's partitions (checked), quoted as SQL quotes.
        literal = "'" + key.replace("'", "''") + "'"
        value = f"date {literal}" if location.by_day else literal
        sql += f" where {location.partition_column} = {value}"
    frame = build_warehouse().read(sql)
    if key is not None and frame.is_empty():
        raise NotMaterializedError(
            f"{location.asset}: no rows for {location.partition_column} = {key} in {table}; "
            f"materialize {location.asset} for {key} first: {location.how_to_make(key)}"
        )
    return frame


def _load_files(location: Location, key: str | None) -> pl.DataFrame:
    storage = build_storage()
    template = location.prefix or ""
    if "{partition}" in template:
        prefix = template.split("{partition}")[0] + (key or "")
    else:
        prefix = template
    if location.file_format not in FORMATS:
        raise ValueError(
            f"{location.asset}: storage format {location.file_format!r} is not one of {FORMATS}"
        )
    pattern = location.glob or "*"
    keys = [
        found
        for found in storage.list_keys(prefix)
        if _matches(found, template, pattern, location.file_format)
        and (key is None or f"/{key}/" in f"/{found}")
    ]
    if not keys:
        shown = template.replace("{partition}", key or "<partition>")
        raise NotMaterializedError(
            f"{location.asset}: no files {pattern} under {storage.uri(shown)}; "
            f"materialize {location.asset} first: {location.how_to_make(key)}"
        )
    frames = [_read(storage, found, location) for found in keys]
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


def _read(storage, key: str, location: Location) -> pl.DataFrame:
    """One file's rows, with the day it belongs to (the partition column) and where it came
    from; a file with no row has the asset's declared columns."""
    day_column = location.partition_column or "partition_date"
    day = next((part for part in key.split("/") if _is_day(part)), None)
    data = _decompressed(storage.read_bytes(key), key)
    if location.file_format == "parquet":
        frame = pl.read_parquet(io.BytesIO(data))
    else:
        frame = _read_jsonl(data)
    if frame.width == 0:  # JSON lines with no line carry no columns: the definition's
        frame = _declared_frame(location)
    extra = {"storage_key": pl.lit(key, pl.String)}
    if day is not None and day_column not in frame.columns:
        extra = {day_column: pl.lit(dt.date.fromisoformat(day), pl.Date), **extra}
    # with_columns, not select: an empty file stays zero rows instead of one row of literals.
    return frame.with_columns(**extra).select(*extra, pl.exclude(*extra))


def _declared_frame(location: Location) -> pl.DataFrame:
    """No row, the columns `dagster/column_schema` declares (Polars type names)."""
    schema = {}
    for name, type_name in location.columns:
        dtype = getattr(pl, type_name, None)
        if not (isinstance(dtype, type) and issubclass(dtype, pl.DataType)):
            raise ValueError(
                f"{location.asset}: column {name!r} is declared as {type_name!r} in "
                f"{COLUMN_SCHEMA}; the catalog reads Polars type names such as 'Int64'"
            )
        schema[name] = dtype()
    return pl.DataFrame(schema=schema)


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
