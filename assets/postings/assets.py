"""The job-postings assets: raw files in, postings with a seniority level out."""

import datetime as dt

import dagster as dg

from assets.partitions import daily_partitions
from assets.postings.augment import POSTING_SUFFIXES, augment_postings, raw_prefix
from assets.postings.checks import CHECK_SPECS, posting_check_results
from resources.object_storage import ObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.warehouse import Warehouse

WAREHOUSE_TABLE = "raw.job_postings"

@dg.asset(
    group_name="postings",
    partitions_def=daily_partitions,
    kinds={"json"},
    description="The day's raw job-posting JSONL files under job-postings-raw/<date>/.",
)
def raw_job_postings(context: dg.AssetExecutionContext, storage: ObjectStorage) -> dg.MaterializeResult:
    day = context.partition_key
    objects = [o for o in storage.list_objects(raw_prefix(day)) if o.key.endswith(POSTING_SUFFIXES)]
    if not objects:
        raise dg.Failure(
            description=f"no job-posting files (*.jsonl) for {day} under {storage.uri(raw_prefix(day))}",
        )
    return dg.MaterializeResult(
        metadata={
            "files": len(objects),
            "bytes": sum(o.size for o in objects),
            "location": dg.MetadataValue.path(storage.uri(raw_prefix(day))),
        }
    )

@dg.asset(
    group_name="postings",
    partitions_def=daily_partitions,
    deps=[raw_job_postings],
    check_specs=CHECK_SPECS,
    kinds={"json", "redis", "grpc"},
    description=(
        "Every raw posting with its seniority level (1 Entry .. 7 Senior Executive) added, "
        "under job-postings-mod/<date>/, and loaded into raw.job_postings."
    ),
)
def augmented_job_postings(
    context: dg.AssetExecutionContext,
    storage: ObjectStorage,
    seniority_cache: SeniorityCache,
    seniority_model: SeniorityModel,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    day = context.partition_key
    with seniority_model.connect() as model, seniority_cache.connect() as cache:
        result = augment_postings(storage, cache, model, day)
    report = result.report
    loaded = warehouse.replace_partition(
        WAREHOUSE_TABLE, result.postings, "posting_date", dt.date.fromisoformat(day)
    )
    context.log.info(report.summary())
    if report.lines_quarantined:
        context.log.warning(
            f"{report.lines_quarantined} lines quarantined in {storage.uri(report.quarantine_key)}: "
            f"{report.quarantine_reasons}"
        )
    return dg.MaterializeResult(
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
            "files_written_from_cache": report.files_written_from_cache,
            "warehouse_rows": loaded,
            "warehouse_table": WAREHOUSE_TABLE,
            "quarantine": dg.MetadataValue.path(storage.uri(report.quarantine_key)),
            "output": dg.MetadataValue.path(storage.uri(report.quarantine_key).rsplit("/", 1)[0]),
        },
        check_results=posting_check_results(report),
    )
