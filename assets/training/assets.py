"""The training assets: customers and their modules from the catalog, the tagging model's
suggestions (validated), the customer's review file, their approval, and the approved tags
applied back to the catalog. Every asset but `training_customers` is partitioned by customer.

The work is in plain functions (tagging.py, apply.py, review.py, suggestions.py); these
wrappers wire resources, partitions, checks and metadata.
"""

import datetime as dt
import io

import dagster as dg
import polars as pl
from pydantic import Field

from assets.metadata import PLATFORM_OWNERS, column_schema, table_metadata
from assets.training import tables
from assets.training.apply import ApplyRun, apply_approval
from assets.training.checks import (
    APPLIED_CHECK_SPECS,
    SUGGESTION_CHECK_SPECS,
    applied_check_result,
    check_figures,
    failed_blocking,
    suggestion_check_results,
)
from assets.training.layout import CATALOG_PREFIX, modules_key, suggestions_key
from assets.training.partitions import (
    CUSTOMERS_PARTITIONS,
    customer_of,
    customers,
    partition_changes,
)
from assets.training.requests import RequestLog
from assets.training.review import (
    APPROVED,
    ApprovalBlocked,
    PublishedApproval,
    ReviewFileChanged,
    ReviewFileError,
    approved_key,
    publish_approved,
    read_published_approval,
    read_review_edits,
    read_review_set,
    review_key,
    validate_edits,
    write_review_file,
)
from assets.training.snapshot import (
    SnapshotMissing,
    frame_bytes,
    read_catalog_snapshot,
    read_taxonomy,
    write_catalog_snapshot,
)
from assets.training.suggestions import markdown_table
from assets.training.tagging import (
    DEFAULT_BATCH_SIZE,
    MIN_APPROVALS_TO_SEND,
    SUGGESTION_SCHEMA,
    SuggestionRun,
    SuggestJob,
    approvals_to_send,
    model_version_for,
    modules_to_suggest,
    suggest_for_customer,
    waiting_pairs,
)
from resources.object_storage import ObjectStorage
from resources.suggestion_cache import SuggestionCache
from resources.tagging_model import TaggingModel
from resources.training_catalog import TrainingCatalog
from resources.warehouse import Warehouse

GROUP = "training"


def _in_warehouse(table: str, partitioned: bool = True) -> dict[str, object]:
    """Catalog metadata: the warehouse table that holds the asset's rows, by customer, and
    its columns (the table's contract, tables.SCHEMAS)."""
    where: dict[str, object] = {
        "dagster/table_name": table,
        "dagster/column_schema": column_schema(tables.SCHEMAS[table]),
    }
    return where | ({"fieldwork/partition_column": tables.PARTITION_COLUMN} if partitioned else {})


def _written(table: str, frame: pl.DataFrame, rows: int) -> dict[str, object]:
    """A materialization's table metadata for the rows of `table` it wrote: the columns as
    written, `dagster/row_count` and a Markdown preview of the first rows."""
    return table_metadata(tables.conform(table, frame), rows)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _snapshot_failure(error: SnapshotMissing) -> dg.Failure:
    return dg.Failure(description=str(error))


# --- Customers and the catalog ---------------------------------------------------------------


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    kinds={"grpc", "polars"},
    metadata=_in_warehouse(tables.CUSTOMERS, partitioned=False),
    description=(
        "The training platform's customers (tier, feature flags) from the catalog, in "
        "raw.training_customers and raw.training_customer_flags; keeps the customer partitions "
        "in step."
    ),
)
def training_customers(
    context: dg.AssetExecutionContext, training_catalog: TrainingCatalog, warehouse: Warehouse
) -> dg.MaterializeResult:
    with training_catalog.connect() as catalog:
        found = catalog.list_customers()
    held = context.instance.get_dynamic_partitions(CUSTOMERS_PARTITIONS)
    changes = partition_changes(held, [c.customer_id for c in found])
    for customer_id, reason in changes.refused.items():
        context.log.warning(
            f"catalog customer {customer_id!r} left out of the partitions and the registry: "
            f"{reason}; fix the id in the training platform"
        )
    found = [c for c in found if c.customer_id not in changes.refused]
    loaded_at = _now()
    loads = []
    customer_rows = [tables.customer_rows(customer, loaded_at) for customer in found]
    for customer, rows in zip(found, customer_rows, strict=True):
        loads.append(tables.partition_load(tables.CUSTOMERS, customer.customer_id, rows))
        loads.append(
            tables.partition_load(
                tables.CUSTOMER_FLAGS, customer.customer_id, tables.customer_flag_rows(customer)
            )
        )
    for gone in changes.removed:  # a customer gone from the catalog leaves no rows behind
        for table in (tables.CUSTOMERS, tables.CUSTOMER_FLAGS):
            loads.append(tables.partition_load(table, gone, tables.empty(table)))
    warehouse.load_partitions(loads)
    changes.apply(context.instance)
    if changes.any:
        context.log.info(f"customer partitions: added {changes.added}, removed {changes.removed}")
    written = pl.concat([tables.empty(tables.CUSTOMERS), *customer_rows])
    return dg.MaterializeResult(
        metadata={
            **_written(tables.CUSTOMERS, written, len(found)),
            "customers": dg.MetadataValue.json(
                {c.customer_id: {"tier": c.tier, "flags": list(c.feature_flags)} for c in found}
            ),
            "partitions_added": dg.MetadataValue.json(changes.added),
            "partitions_removed": dg.MetadataValue.json(changes.removed),
            "customers_refused": dg.MetadataValue.json(changes.refused),
            "warehouse_tables": dg.MetadataValue.json([tables.CUSTOMERS, tables.CUSTOMER_FLAGS]),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[training_customers],
    kinds={"grpc", "parquet"},
    metadata=_in_warehouse(tables.MODULES)
    | {"fieldwork/storage_prefix": f"{CATALOG_PREFIX}/{{partition}}/"},
    description=(
        "The customer's modules (text, content hash, the tags the catalog holds) and taxonomy, "
        "in raw.training_modules, raw.training_module_tags and raw.training_taxonomy, and as "
        "the snapshot the later steps read (`training-catalog/CUSTOMER_ID/`)."
    ),
)
def training_modules(
    context: dg.AssetExecutionContext,
    training_catalog: TrainingCatalog,
    storage: ObjectStorage,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    customer_id = customer_of(context)
    with training_catalog.connect() as catalog:
        taxonomy = catalog.taxonomy(customer_id)
        modules = catalog.modules(customer_id)
        calls = catalog.calls
    module_tags = tables.module_tag_rows(modules)
    module_rows = tables.module_rows(modules)
    loads = [
        tables.partition_load(tables.TAXONOMY, customer_id, tables.taxonomy_rows(taxonomy)),
        tables.partition_load(tables.MODULES, customer_id, module_rows),
        tables.partition_load(tables.MODULE_TAGS, customer_id, module_tags),
    ]
    # The snapshot is published inside the load's transaction: both change, or neither.
    warehouse.load_partitions(
        loads, before_commit=lambda: write_catalog_snapshot(storage, taxonomy, modules)
    )
    tagged = int((modules["tag_ids"].list.len() > 0).sum())
    return dg.MaterializeResult(
        metadata={
            **_written(tables.MODULES, module_rows, modules.height),
            "modules": modules.height,
            "modules_tagged": tagged,
            "modules_untagged": modules.height - tagged,
            "module_tags": module_tags.height,
            "taxonomy_version": taxonomy.version,
            "taxonomy_tags": len(taxonomy.tags),
            "catalog_calls": calls,
            "snapshot": dg.MetadataValue.path(storage.uri(modules_key(customer_id))),
            "warehouse_tables": dg.MetadataValue.json(
                [tables.MODULES, tables.MODULE_TAGS, tables.TAXONOMY]
            ),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[training_customers],
    kinds={"grpc", "polars"},
    metadata=_in_warehouse(tables.COMPLETIONS),
    description=(
        "The customer's learners, module completions and monthly field performance from the "
        "catalog, in raw.training_learners, raw.training_completions and "
        "raw.training_field_performance."
    ),
)
def training_records(
    context: dg.AssetExecutionContext, training_catalog: TrainingCatalog, warehouse: Warehouse
) -> dg.MaterializeResult:
    customer_id = customer_of(context)
    with training_catalog.connect() as catalog:
        learners = catalog.learners(customer_id)
        completions = catalog.completions(customer_id)
        performance = catalog.field_performance(customer_id)
        calls = catalog.calls
    loaded = warehouse.load_partitions(
        [
            tables.partition_load(tables.LEARNERS, customer_id, learners),
            tables.partition_load(tables.COMPLETIONS, customer_id, completions),
            tables.partition_load(tables.FIELD_PERFORMANCE, customer_id, performance),
        ]
    )
    return dg.MaterializeResult(
        metadata={
            **_written(tables.COMPLETIONS, completions, loaded[tables.COMPLETIONS]),
            "learners": loaded[tables.LEARNERS],
            "completions": loaded[tables.COMPLETIONS],
            "field_performance_records": loaded[tables.FIELD_PERFORMANCE],
            "catalog_calls": calls,
            "warehouse_tables": dg.MetadataValue.json(
                [tables.LEARNERS, tables.COMPLETIONS, tables.FIELD_PERFORMANCE]
            ),
        }
    )


# --- Suggestions -----------------------------------------------------------------------------


class TagSuggestionsConfig(dg.Config):
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE, description="Modules per request to the tagging model."
    )
    min_approvals_to_send: int = Field(
        default=MIN_APPROVALS_TO_SEND,
        description=(
            "Approved modules a customer needs before they are sent along for the model to "
            "learn from (a new set of approvals is a new model: its suggestions are fresh)."
        ),
    )


def suggestion_rows(customer_id: str, valid: pl.DataFrame) -> pl.DataFrame:
    """raw.tag_suggestions: one row per suggested tag, ranked as the model ranked them (best
    first). An abstention suggests no tag, so has no row (the review file shows it)."""
    return (
        valid.filter(~pl.col("abstained"))
        .select(
            pl.lit(customer_id).alias("customer_id"),
            "module_id",
            "content_hash",
            pl.col("tag_ids").alias("tag_id"),
            pl.col("confidences").alias("confidence"),
            "model_version",
            "rationale",
            pl.col("suggested_at").dt.convert_time_zone("UTC").dt.replace_time_zone(None),
        )
        .explode("tag_id", "confidence")
        .with_columns(tag_rank=pl.int_range(1, pl.len() + 1).over("module_id"))
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[training_modules],
    kinds={"grpc", "redis"},
    metadata=_in_warehouse(tables.TAG_SUGGESTIONS),
    check_specs=SUGGESTION_CHECK_SPECS,
    description=(
        "Valid tag suggestions for the customer's untagged or changed modules: cache first, "
        "then the tagging model in batches, each request logged, invalid answers re-asked twice "
        "then dead-lettered; in raw.tag_suggestions."
    ),
)
def tag_suggestions(
    context: dg.AssetExecutionContext,
    config: TagSuggestionsConfig,
    storage: ObjectStorage,
    warehouse: Warehouse,
    tagging_model: TaggingModel,
    suggestion_cache: SuggestionCache,
):
    """Suggest, validate, and load only when every blocking check passes and the model
    answered every request: otherwise nothing is loaded and the previous suggestions stay
    (the valid answers of this run are cached, so a rerun asks only for what is missing)."""
    customer_id = customer_of(context)
    try:
        snapshot = read_catalog_snapshot(storage, customer_id)
    except SnapshotMissing as error:
        raise _snapshot_failure(error) from error
    taxonomy = snapshot.taxonomy
    log = RequestLog(storage)
    approvals = approvals_to_send(
        read_published_approval(storage, customer_id),
        snapshot.modules,
        config.min_approvals_to_send,
    )
    with tagging_model.connect() as tagger, suggestion_cache.connect() as cache:
        model_version = model_version_for(tagger.describe().model_version, approvals)
        todo = modules_to_suggest(
            snapshot.modules,
            read_review_set(storage, customer_id),
            waiting_pairs(log, customer_id, taxonomy.version, model_version),
        )
        if todo.waiting.height:
            context.log.warning(
                f"{todo.waiting.height:,} module(s) of {customer_id} wait in the dead-letter "
                "store and are not asked again here: run training_replay for them"
            )
        job = SuggestJob(
            customer_id=customer_id,
            taxonomy=taxonomy,
            modules=todo.considered,
            model_version=model_version,
            approvals=tuple(approvals),
            batch_size=config.batch_size,
            max_tags_per_module=tagging_model.max_tags_per_module,
        )
        run = suggest_for_customer(job, tagger, cache, log, storage, say=context.log.info)
    results = suggestion_check_results(run)
    figures = _suggestion_figures(run, todo.untagged, todo.changed, todo.waiting.height, approvals)
    context.log.info(f"{customer_id}: " + ", ".join(f"{k} {v}" for k, v in run.figures().items()))
    blocked = failed_blocking(results)
    if run.failed_requests or blocked:
        yield from results
        raise dg.Failure(
            description=_suggestions_failure(customer_id, run, blocked, storage),
            metadata=figures,
        )
    rows = suggestion_rows(customer_id, run.valid)
    loaded = warehouse.load_partitions(
        [tables.partition_load(tables.TAG_SUGGESTIONS, customer_id, rows)],
        before_commit=lambda: storage.write_bytes(
            suggestions_key(customer_id), frame_bytes(run.valid)
        ),
    )
    yield dg.MaterializeResult(
        metadata={
            **figures,
            **_written(tables.TAG_SUGGESTIONS, rows, loaded[tables.TAG_SUGGESTIONS]),
            "suggestions": dg.MetadataValue.path(storage.uri(suggestions_key(customer_id))),
        },
        check_results=results,
    )


def _suggestion_figures(
    run: SuggestionRun, untagged: int, changed: int, waiting: int, approvals: list
) -> dict[str, object]:
    return {
        **run.figures(),
        "modules_untagged": untagged,
        "modules_changed": changed,
        "modules_waiting_in_dead_letters": waiting,
        "approvals_sent": len(approvals),
        "model_version": run.model_version,
        "reply_model_versions": dg.MetadataValue.json(sorted(run.reply_model_versions)),
        "requests": dg.MetadataValue.json(run.request_counts()),
        "cache_status": run.cache_status,
    }


def _suggestions_failure(
    customer_id: str, run: SuggestionRun, blocked: list[dg.AssetCheckResult], storage
) -> str:
    parts = []
    for failed in run.failed_requests:
        parts.append(
            f"request {failed.idempotency_key} ({failed.module_count} modules) {failed.status}: "
            f"{failed.error}"
        )
    if run.modules_unsent:
        parts.append(f"{run.modules_unsent:,} modules were not sent after that (next run)")
    for result in blocked:
        figures = check_figures(result)
        parts.append(
            f"check {result.check_name} failed on {figures['failing_count']} row(s) of "
            f"{figures['failing_modules']} module(s):\n{figures['failing_rows']}"
        )
    return (
        f"tag suggestions for {customer_id} not loaded; nothing reaches the review. "
        + "\n".join(parts)
        + f"\nValid answers of this run are cached ({run.cache_status}); dead letters are in "
        f"{storage.uri('training-dead-letters/' + customer_id + '/')} for training_replay."
    )


# --- Review, approval, application -----------------------------------------------------------


def _read_suggestions(storage: ObjectStorage, customer_id: str) -> pl.DataFrame:
    key = suggestions_key(customer_id)
    if not storage.exists(key):
        raise dg.Failure(
            description=(
                f"no suggestions for {customer_id} at {storage.uri(key)}: materialize "
                f"tag_suggestions for {customer_id} first"
            )
        )
    return pl.read_parquet(io.BytesIO(storage.read_bytes(key))).cast(SUGGESTION_SCHEMA)  # type: ignore[arg-type]


def review_rows(customer_id: str, edits) -> pl.DataFrame:
    """raw.tag_review: the review file as read, with the version of the object read."""
    frame = edits.frame()
    columns = ("module_id", "title", "suggested_tags", "tags", "approved", "reviewer_note")
    return frame.select(
        pl.lit(customer_id).alias("customer_id"),
        *(pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in columns),
        pl.lit(edits.version).alias("review_version"),
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[tag_suggestions],
    kinds={"csv"},
    metadata=_in_warehouse(tables.TAG_REVIEW),
    description=(
        "The customer's review file (`training-review/CUSTOMER_ID/review.csv`): new valid "
        "suggestions merged in without losing their edits; the file as read in raw.tag_review."
    ),
)
def tag_review(
    context: dg.AssetExecutionContext, storage: ObjectStorage, warehouse: Warehouse
) -> dg.MaterializeResult:
    customer_id = customer_of(context)
    try:
        snapshot = read_catalog_snapshot(storage, customer_id)
    except SnapshotMissing as error:
        raise _snapshot_failure(error) from error
    suggestions = _read_suggestions(storage, customer_id).join(
        snapshot.modules.select("module_id", "title"), on="module_id", how="left"
    )
    try:
        report = write_review_file(storage, customer_id, suggestions)
        edits = read_review_edits(storage, customer_id)
    except (ReviewFileError, ReviewFileChanged) as error:
        raise dg.Failure(description=str(error)) from error
    rows = review_rows(customer_id, edits)
    loaded = warehouse.load_partitions(
        [tables.partition_load(tables.TAG_REVIEW, customer_id, rows)]
    )
    approved = int((rows["approved"].str.strip_chars().str.to_lowercase() == APPROVED).sum())
    if report.approvals_cleared:
        context.log.warning(
            f"{len(report.approvals_cleared)} approved module(s) changed since they were laid "
            f"out; their approval was cleared: {report.approvals_cleared[:20]}"
        )
    return dg.MaterializeResult(
        metadata={
            **_written(tables.TAG_REVIEW, rows, loaded[tables.TAG_REVIEW]),
            "rows": report.rows,
            "rows_added": len(report.added),
            "rows_refreshed": len(report.refreshed),
            "approvals_cleared": len(report.approvals_cleared),
            "prefill_refreshed": len(report.prefill_refreshed),
            "rows_with_customer_edits": len(report.kept_edits),
            "rows_approved": approved,
            "file_written": report.written,
            "review_file": dg.MetadataValue.path(storage.uri(review_key(customer_id))),
        }
    )


def approved_rows(approval: PublishedApproval) -> pl.DataFrame:
    """raw.approved_tags: one row per approved tag of the published approval (a module
    approved with no tags has none)."""
    approved_at = (
        tables.utc_naive(dt.datetime.fromisoformat(approval.approved_at))
        if approval.approved_at
        else None
    )
    return (
        approval.modules.select(
            pl.lit(approval.customer_id).alias("customer_id"),
            "module_id",
            pl.col("tag_ids").alias("tag_id"),
            pl.lit(approval.approval_batch_id).alias("approval_batch_id"),
            pl.lit(approved_at, tables.UTC_TIMESTAMP).alias("approved_at"),
        )
        .explode("tag_id")
        .drop_nulls("tag_id")
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[tag_review],
    kinds={"json"},
    metadata=_in_warehouse(tables.APPROVED_TAGS),
    description=(
        "The customer's edits, validated against their taxonomy and published as the approval "
        "(`training-review/CUSTOMER_ID/approved.json`, raw.approved_tags); blocked edits fail it "
        "with the nearest valid tags, and leave the approval as it was."
    ),
)
def reviewed_tags(
    context: dg.AssetExecutionContext, storage: ObjectStorage, warehouse: Warehouse
) -> dg.MaterializeResult:
    customer_id = customer_of(context)
    try:
        taxonomy = read_taxonomy(storage, customer_id)
        edits = read_review_edits(storage, customer_id)
    except SnapshotMissing as error:
        raise _snapshot_failure(error) from error
    except FileNotFoundError as error:
        raise dg.Failure(
            description=f"{error}: materialize tag_review for {customer_id} first"
        ) from error
    except ReviewFileError as error:
        raise dg.Failure(description=str(error)) from error
    validation = validate_edits(
        customer_id,
        edits.rows,
        taxonomy.tags,
        edits.review_set,
        read_published_approval(storage, customer_id),
    )
    problems = validation.problems_frame()
    for problem in validation.problems:
        if not problem.blocking:
            context.log.warning(f"{customer_id} review, not approved: {problem.describe()}")
    try:
        published = publish_approved(storage, validation)
    except ApprovalBlocked as error:
        raise dg.Failure(
            description=str(error),
            metadata={
                "blocking_problems": len(validation.blocking_problems),
                "problems": dg.MetadataValue.md(markdown_table(problems, limit=50)),
                "approved_file_unchanged": dg.MetadataValue.path(
                    storage.uri(approved_key(customer_id))
                ),
                "review_file": dg.MetadataValue.path(storage.uri(review_key(customer_id))),
            },
        ) from error
    rows = approved_rows(published)
    loaded = warehouse.load_partitions(
        [tables.partition_load(tables.APPROVED_TAGS, customer_id, rows)]
    )
    return dg.MaterializeResult(
        metadata={
            **_written(tables.APPROVED_TAGS, rows, loaded[tables.APPROVED_TAGS]),
            "approval_batch_id": published.approval_batch_id,
            "approved_at": published.approved_at or "never",
            "rows_read": validation.rows_read,
            "rows_approved": validation.rows_approved,
            "modules_approved": published.modules.height,
            "modules_changed": published.changed.height,
            "published": published.written,
            "problems_not_blocking": len(validation.problems),
            "problems": dg.MetadataValue.md(
                markdown_table(problems, limit=20) if problems.height else "No problems."
            ),
            "approved_file": dg.MetadataValue.path(storage.uri(approved_key(customer_id))),
        }
    )


@dg.asset(
    group_name=GROUP,
    owners=PLATFORM_OWNERS,
    partitions_def=customers,
    deps=[reviewed_tags],
    kinds={"grpc"},
    check_specs=APPLIED_CHECK_SPECS,
    description=(
        "The published approval applied to the training catalog, one idempotent request per "
        "module; failures go to the dead-letter store for training_replay."
    ),
)
def applied_tags(
    context: dg.AssetExecutionContext, storage: ObjectStorage, training_catalog: TrainingCatalog
):
    customer_id = customer_of(context)
    approval = read_published_approval(storage, customer_id)
    log = RequestLog(storage)
    if approval is None or not approval.modules.height:
        context.log.info(f"{customer_id} has approved nothing yet: nothing to apply")
        run = ApplyRun(customer_id, approval.approval_batch_id if approval else "")
    else:
        with training_catalog.connect() as catalog:
            run = apply_approval(approval, catalog, log, say=context.log.info)
    unapplied = sorted(
        run.dead_lettered + run.changed_since + run.missing_in_catalog + run.content_changed
    )
    if run.dead_lettered:
        context.log.warning(
            f"{len(run.dead_lettered)} module(s) of {customer_id} not applied, in the "
            f"dead-letter store: run training_replay for {customer_id} once the catalog is back"
        )
    if run.missing_in_catalog:
        context.log.warning(f"approved modules not in the catalog: {run.missing_in_catalog}")
    yield dg.MaterializeResult(
        metadata={
            **run.figures(),
            "requests": dg.MetadataValue.json(run.figures()["requests"]),
            "dagster/row_count": len(run.applied) + len(run.replayed),
        },
        check_results=[applied_check_result(run, unapplied)],
    )
