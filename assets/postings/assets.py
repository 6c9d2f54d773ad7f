"""The job-postings assets: raw files in; postings with a seniority level, and the lines
that could not be read, out."""

import datetime as dt
import time

import dagster as dg
import polars as pl

from assets.metadata import PLATFORM_OWNERS, column_schema, table_metadata
from assets.partitions import daily_partitions, day_of
from assets.postings.augment import (
    OUTPUT_PREFIX,
    QUARANTINE_NAME,
    RAW_PREFIX,
    WAREHOUSE_SCHEMA,
    PostingsDay,
    augment_postings_day,
    compression_of,
    day_objects,
    open_postings_day,
    output_prefix,
    raw_prefix,
)
from assets.postings.checks import (
    CHECK_SPECS,
    check_figures,
    failed_blocking_checks,
    posting_check_results,
)
from assets.postings.parse import FIELDS, QUARANTINE_SCHEMA
from resources.object_storage import ObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.warehouse import PartitionLoad, Warehouse

WAREHOUSE_TABLE = "raw.job_postings"
# The raw lines' fields the platform reads; any other field is carried through untouched.
RAW_FIELDS = {
    "company": "Required string.",
    "title": "Required string.",
    "posting_id": "Optional; kept as written (a number keeps its text).",
    "location": "Optional; kept as written.",
    "posted_at": "Optional; kept as written.",
}
PARTITION_COLUMN = "posting_date"


def _in_storage(prefix: str, glob: str | None = None) -> dict[str, str]:
    """Catalog metadata: where a day's JSONL files are (`{partition}` stands for the day)."""
    where = {
        "fieldwork/storage_prefix": prefix,
        "fieldwork/storage_format": "jsonl",
        "fieldwork/partition_column": PARTITION_COLUMN,
    }
    return where | ({"fieldwork/storage_glob": glob} if glob else {})


# Catalog metadata: the warehouse table that holds the postings, by day.
_IN_WAREHOUSE = {
    "dagster/table_name": WAREHOUSE_TABLE,
    "fieldwork/partition_column": PARTITION_COLUMN,
}


@dg.asset(
    group_name="postings",
    partitions_def=daily_partitions,
    kinds={"json"},
    owners=PLATFORM_OWNERS,
    metadata=_in_storage(f"{RAW_PREFIX}/{{partition}}/")
    | {"dagster/column_schema": column_schema(dict.fromkeys(FIELDS, pl.String), RAW_FIELDS)},
    description=(
        "The day's raw job-posting JSONL files (plain, .gz or .zst) under "
        "`job-postings-raw/YYYY-MM-DD/`. Its row count is recorded when the day is augmented."
    ),
)
def raw_job_postings(
    context: dg.AssetExecutionContext, storage: ObjectStorage
) -> dg.MaterializeResult:
    day = day_of(context)
    objects, ignored = day_objects(storage, day)
    _warn_ignored(context, storage, day, ignored)
    if not objects:
        ignored_note = f"; ignored: {ignored}" if ignored else ""
        raise dg.Failure(
            description=(
                f"no job-posting files (*.jsonl, *.ndjson, optionally .gz or .zst) for {day} "
                f"under {storage.uri(raw_prefix(day))}{ignored_note}"
            ),
            metadata={"ignored_objects": ignored},
        )
    return dg.MaterializeResult(
        metadata={
            "files": len(objects),
            "compressed_files": sum(compression_of(o.key) is not None for o in objects),
            "bytes": sum(o.size for o in objects),
            "ignored_objects": ignored,
            "location": dg.MetadataValue.path(storage.uri(raw_prefix(day))),
        }
    )


def _warn_ignored(
    context: dg.AssetExecutionContext, storage: ObjectStorage, day: str, ignored: dict[str, str]
) -> None:
    """Nothing in the day's prefix is skipped without a word."""
    for name, reason in ignored.items():
        context.log.warning(f"ignored {storage.uri(raw_prefix(day) + name)}: {reason}")


@dg.multi_asset(
    partitions_def=daily_partitions,
    specs=[
        dg.AssetSpec(
            "augmented_job_postings",
            group_name="postings",
            deps=[raw_job_postings],
            kinds={"json", "redis", "grpc"},
            owners=PLATFORM_OWNERS,
            # The files: every output but the quarantine, which shares the day's folder.
            metadata=_IN_WAREHOUSE
            | _in_storage(f"{OUTPUT_PREFIX}/{{partition}}/", glob="[!_]*")
            | {"dagster/column_schema": column_schema(WAREHOUSE_SCHEMA)},
            description=(
                "Every raw posting with its seniority level (1 Entry .. 7 Senior Executive) added, "
                "under `job-postings-mod/YYYY-MM-DD/`, and loaded into raw.job_postings."
            ),
        ),
        dg.AssetSpec(
            "job_postings_quarantine",
            group_name="postings",
            deps=[raw_job_postings],
            kinds={"json"},
            owners=PLATFORM_OWNERS,
            metadata=_in_storage(f"{OUTPUT_PREFIX}/{{partition}}/{QUARANTINE_NAME}")
            | {"dagster/column_schema": column_schema(QUARANTINE_SCHEMA)},
            description=(
                "Raw posting lines that could not be augmented, with source file, line number, "
                "reason and original bytes, in `job-postings-mod/YYYY-MM-DD/_quarantine.jsonl`."
            ),
        ),
    ],
    check_specs=CHECK_SPECS,
)
def augmented_job_postings(
    context: dg.AssetExecutionContext,
    storage: ObjectStorage,
    seniority_cache: SeniorityCache,
    seniority_model: SeniorityModel,
    warehouse: Warehouse,
):
    """Stage the day, check what was staged, then load the warehouse and publish the files
    in one transaction.

    A failed blocking check or a failed load publishes nothing: the previous files and
    warehouse rows of the day stay as they were.
    """
    day = day_of(context)
    with open_postings_day(storage, day) as postings_day:
        with seniority_model.connect() as model, seniority_cache.connect() as cache:
            augment_postings_day(postings_day, cache, model, say=context.log.info)
        report = postings_day.report
        context.log.info(report.summary())
        if report.ignored_objects:
            context.log.warning(
                f"{len(report.ignored_objects)} objects under {storage.uri(raw_prefix(day))} "
                f"are not posting files and were ignored: {sorted(report.ignored_objects)}"
            )
        if report.abandoned_staging_removed:
            context.log.warning(
                f"removed {len(report.abandoned_staging_removed)} staging files a killed run "
                f"had left: {report.abandoned_staging_removed}"
            )
        check_results = posting_check_results(report)
        failed = failed_blocking_checks(check_results)
        if failed:
            yield from check_results
            figures = {
                f"{r.check_name}.{name}": value
                for r in failed
                for name, value in check_figures(r).items()
            }
            raise dg.Failure(
                description=(
                    f"blocking checks failed for {day}: "
                    + "; ".join(_failure_line(r) for r in failed)
                    + ". Nothing was published or loaded: "
                    + _kept(storage, day)
                ),
                metadata=figures,
            )
        # Read before publishing, which moves the staged files.
        postings_rows = table_metadata(postings_day.warehouse_rows(), report.lines_out)
        quarantine_rows = table_metadata(postings_day.quarantine, report.lines_quarantined)
        loaded = _load_and_publish(postings_day, warehouse)
    context.log_event(
        dg.AssetObservation(
            asset_key="raw_job_postings",
            partition=day,
            metadata={"dagster/row_count": report.lines_in, "files": report.files},
        )
    )
    if report.lines_quarantined:
        context.log.warning(
            f"{report.lines_quarantined} lines quarantined in "
            f"{storage.uri(report.quarantine_key)}: {report.quarantine_reasons}"
        )
    yield dg.MaterializeResult(
        asset_key="augmented_job_postings",
        metadata={
            "lines_in": report.lines_in,
            "lines_out": report.lines_out,
            "lines_quarantined": report.lines_quarantined,
            "quarantine_reasons": report.quarantine_reasons,
            "distinct_pairs": report.distinct_pairs,
            "cache_hits": report.cache_hits,
            "cache_misses": report.cache_misses,
            "cache_status": report.cache_status,
            "model_calls": report.model_calls,
            "items_sent": report.items_sent,
            "batch_size": report.batch_size,
            "model_version": report.model_version,
            "seconds": round(report.seconds, 3),
            "phase_seconds": report.phase_seconds,
            "files": report.files,
            "compressed_files": report.compressed_files,
            "ignored_objects": report.ignored_objects,
            "abandoned_staging_removed": report.abandoned_staging_removed,
            "files_written_from_cache": report.files_written_from_cache,
            "warehouse_rows": loaded,
            "warehouse_table": WAREHOUSE_TABLE,
            **postings_rows,
            "quarantine": dg.MetadataValue.path(storage.uri(report.quarantine_key)),
            "output": dg.MetadataValue.path(storage.uri(output_prefix(day))),
        },
        check_results=check_results,
    )
    yield dg.MaterializeResult(
        asset_key="job_postings_quarantine",
        metadata={
            "lines_in": report.lines_in,
            "lines_quarantined": report.lines_quarantined,
            "quarantine_reasons": report.quarantine_reasons,
            "location": dg.MetadataValue.path(storage.uri(report.quarantine_key)),
            **quarantine_rows,
        },
    )


def _load_and_publish(postings_day: PostingsDay, warehouse: Warehouse) -> int:
    """Load the day's rows and publish its files in one warehouse transaction: the files are
    put in place once the rows are in, and a failure of either rolls the rows back."""
    report, day = postings_day.report, postings_day.partition_date
    load = PartitionLoad(
        table=WAREHOUSE_TABLE,
        partition_column=PARTITION_COLUMN,
        partition_value=dt.date.fromisoformat(day),
        frame=postings_day.warehouse_rows(),
    )
    started = time.perf_counter()
    try:
        loaded = warehouse.load_partitions([load], before_commit=postings_day.publish)
    except Exception as error:
        storage = postings_day.storage
        if postings_day.published:
            kept = (
                f"the rows of {WAREHOUSE_TABLE} for {day} are kept, but "
                f"{len(postings_day.published)} output files under "
                f"{storage.uri(output_prefix(day))} were already replaced; rerun the day"
            )
        else:
            kept = "nothing was published: " + _kept(storage, day)
        raise dg.Failure(
            description=f"loading {WAREHOUSE_TABLE} for {day} failed ({error}); {kept}"
        ) from error
    # The load's own time, without the publishing that ran inside it.
    report.phase_seconds["warehouse load"] = round(
        time.perf_counter() - started - report.phase_seconds.get("publish", 0.0), 3
    )
    report.seconds = time.perf_counter() - postings_day.started
    return loaded[WAREHOUSE_TABLE]


def _failure_line(result: dg.AssetCheckResult) -> str:
    figures = ", ".join(f"{k} {v}" for k, v in check_figures(result).items())
    return f"{result.check_name} ({figures})"


def _kept(storage: ObjectStorage, day: str) -> str:
    return (
        f"the previous outputs under {storage.uri(output_prefix(day))} and the rows of "
        f"{WAREHOUSE_TABLE} for {day} are kept."
    )
