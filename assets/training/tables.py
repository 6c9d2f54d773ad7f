"""The raw training tables in the warehouse: the contract between the training assets and the
dbt models. Names and types here are that contract; change them together with dbt.

Every table is partitioned by `customer_id` (a load replaces one customer's rows). TIMESTAMP
columns hold UTC as naive timestamps (polars `Datetime("us")`, DuckDB TIMESTAMP), like the
other families' raw tables.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from resources.training_catalog import Customer, Taxonomy
from resources.warehouse import PartitionLoad

PARTITION_COLUMN = "customer_id"
ALIAS_SEPARATOR = "|"

CUSTOMERS = "raw.training_customers"
CUSTOMER_FLAGS = "raw.training_customer_flags"
TAXONOMY = "raw.training_taxonomy"
MODULES = "raw.training_modules"
MODULE_TAGS = "raw.training_module_tags"
LEARNERS = "raw.training_learners"
COMPLETIONS = "raw.training_completions"
FIELD_PERFORMANCE = "raw.training_field_performance"
TAG_SUGGESTIONS = "raw.tag_suggestions"
TAG_REVIEW = "raw.tag_review"
APPROVED_TAGS = "raw.approved_tags"

UTC_TIMESTAMP = pl.Datetime("us")
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    CUSTOMERS: {
        "customer_id": pl.String(),
        "name": pl.String(),
        "tier": pl.String(),
        "loaded_at": UTC_TIMESTAMP,
    },
    CUSTOMER_FLAGS: {"customer_id": pl.String(), "feature_flag": pl.String()},
    TAXONOMY: {
        "customer_id": pl.String(),
        "tag_id": pl.String(),
        "label": pl.String(),
        "description": pl.String(),
        "aliases": pl.String(),
        "taxonomy_version": pl.String(),
    },
    MODULES: {
        "customer_id": pl.String(),
        "module_id": pl.String(),
        "title": pl.String(),
        "description": pl.String(),
        "content_hash": pl.String(),
        "last_modified": UTC_TIMESTAMP,
    },
    MODULE_TAGS: {"customer_id": pl.String(), "module_id": pl.String(), "tag_id": pl.String()},
    LEARNERS: {
        "customer_id": pl.String(),
        "learner_id": pl.String(),
        "region": pl.String(),
        "role": pl.String(),
        "hired_on": pl.Date(),
    },
    COMPLETIONS: {
        "customer_id": pl.String(),
        "completion_id": pl.String(),
        "learner_id": pl.String(),
        "module_id": pl.String(),
        "completed_on": pl.Date(),
        "score": pl.Float64(),
    },
    FIELD_PERFORMANCE: {
        "customer_id": pl.String(),
        "learner_id": pl.String(),
        "month": pl.Date(),
        "metric": pl.String(),
        "value": pl.Float64(),
    },
    TAG_SUGGESTIONS: {
        "customer_id": pl.String(),
        "module_id": pl.String(),
        "content_hash": pl.String(),
        "tag_id": pl.String(),
        "confidence": pl.Float64(),
        "tag_rank": pl.Int32(),
        "model_version": pl.String(),
        "rationale": pl.String(),
        "suggested_at": UTC_TIMESTAMP,
    },
    TAG_REVIEW: {
        "customer_id": pl.String(),
        "module_id": pl.String(),
        "title": pl.String(),
        "suggested_tags": pl.String(),
        "tags": pl.String(),
        "approved": pl.String(),
        "reviewer_note": pl.String(),
        "review_version": pl.String(),
    },
    APPROVED_TAGS: {
        "customer_id": pl.String(),
        "module_id": pl.String(),
        "tag_id": pl.String(),
        "approval_batch_id": pl.String(),
        "approved_at": UTC_TIMESTAMP,
    },
}


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """An aware moment as the naive UTC value the TIMESTAMP columns hold."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: a naive moment cannot be taken as UTC")
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with exactly the table's columns, in order, cast to its types; a missing or
    unexpected column is a bug of ours, said at once."""
    schema = SCHEMAS[table]
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise ValueError(f"{table}: rows lack columns {missing} and have unexpected {extra}")
    return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items())


def partition_load(table: str, customer_id: str, frame: pl.DataFrame) -> PartitionLoad:
    """One customer's rows of `table`, replacing what the warehouse holds for them."""
    return PartitionLoad(
        table=table,
        partition_column=PARTITION_COLUMN,
        partition_value=customer_id,
        frame=conform(table, frame),
    )


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[table])


# --- Frames from the catalog's answers -------------------------------------------------------


def customer_rows(customer: Customer, loaded_at: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        [(customer.customer_id, customer.name, customer.tier, utc_naive(loaded_at))],
        schema=SCHEMAS[CUSTOMERS],
        orient="row",
    )


def customer_flag_rows(customer: Customer) -> pl.DataFrame:
    return pl.DataFrame(
        [(customer.customer_id, flag) for flag in customer.feature_flags],
        schema=SCHEMAS[CUSTOMER_FLAGS],
        orient="row",
    )


def taxonomy_rows(taxonomy: Taxonomy) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (
                taxonomy.customer_id,
                tag.tag_id,
                tag.label,
                tag.description,
                ALIAS_SEPARATOR.join(tag.aliases),
                taxonomy.version,
            )
            for tag in taxonomy.tags
        ],
        schema=SCHEMAS[TAXONOMY],
        orient="row",
    )


def module_rows(modules: pl.DataFrame) -> pl.DataFrame:
    """raw.training_modules from the catalog client's modules (MODULE_SCHEMA)."""
    return modules.select(
        "customer_id",
        "module_id",
        "title",
        "description",
        "content_hash",
        pl.col("last_modified").dt.convert_time_zone("UTC").dt.replace_time_zone(None),
    )


def module_tag_rows(modules: pl.DataFrame) -> pl.DataFrame:
    """raw.training_module_tags: one row per tag the catalog holds on a module."""
    return (
        modules.select("customer_id", "module_id", pl.col("tag_ids").alias("tag_id"))
        .explode("tag_id")
        .drop_nulls("tag_id")
        .sort("module_id", "tag_id")
    )
