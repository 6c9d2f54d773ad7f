"""Resources: thin, typed wrappers around the outside world.

`build_resources()` is the one place that picks the local default or the production
implementation of each, from `resources.settings` alone. Resources never import assets.
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from resources import settings
from resources.object_storage import LocalObjectStorage, ObjectStorage, S3ObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.suggestion_cache import SuggestionCache
from resources.tagging_model import TaggingModel
from resources.training_catalog import TrainingCatalog
from resources.warehouse import DuckDBWarehouse, Warehouse

__all__ = [
    "ObjectStorage",
    "SeniorityCache",
    "SeniorityModel",
    "SuggestionCache",
    "TaggingModel",
    "TrainingCatalog",
    "Warehouse",
    "build_resources",
    "build_storage",
    "build_warehouse",
]


def build_storage() -> ObjectStorage:
    bucket = settings.storage_bucket()
    if bucket:
        return S3ObjectStorage(
            bucket=bucket,
            s3=S3Resource(
                region_name=settings.aws_region(), endpoint_url=settings.s3_endpoint_url()
            ),
        )
    return LocalObjectStorage(root=str(settings.data_dir()))


def build_warehouse() -> Warehouse:
    if settings.warehouse_kind() == "snowflake":
        from resources.snowflake_warehouse import SnowflakeWarehouse

        fields: dict[str, object] = {
            field: dg.EnvVar.int(var) if field == "port" else dg.EnvVar(var)
            for field, var in settings.snowflake_settings().items()
        }
        return SnowflakeWarehouse(**fields)
    return DuckDBWarehouse(path=str(settings.duckdb_path()))


def build_seniority_model() -> SeniorityModel:
    return SeniorityModel(
        endpoint=settings.seniority_model_endpoint(),
        batch_size=settings.seniority_batch_size(),
        deadline_seconds=settings.seniority_deadline_seconds(),
    )


def build_seniority_cache() -> SeniorityCache:
    if settings.redis_url_is_set():
        return SeniorityCache(redis_url=dg.EnvVar(settings.REDIS_URL))
    return SeniorityCache(embedded_db_path=str(settings.embedded_redis_path()))


def build_suggestion_cache() -> SuggestionCache:
    """The same Redis as the seniority cache when REDIS_URL is set (its own key prefix);
    locally an embedded Redis of its own."""
    if settings.redis_url_is_set():
        return SuggestionCache(redis_url=dg.EnvVar(settings.REDIS_URL))
    return SuggestionCache(embedded_db_path=str(settings.embedded_suggestion_cache_path()))


def build_training_catalog() -> TrainingCatalog:
    return TrainingCatalog(
        endpoint=settings.training_catalog_endpoint(),
        db_path=str(settings.training_catalog_db()),
    )


def build_tagging_model() -> TaggingModel:
    return TaggingModel(
        endpoint=settings.tagging_model_endpoint(),
        deadline_floor_seconds=settings.tagging_deadline_floor_seconds(),
        modules_per_second=settings.tagging_modules_per_second(),
    )


def build_resources() -> dict[str, object]:
    """Every resource the assets ask for, by name."""
    # Imported here: dagster-dbt takes seconds to import, and a process that needs only a
    # cache or the storage (a sensor's, a test's, a notebook's) should not pay for it.
    from resources.dbt import build_dbt_resource

    return {
        "storage": build_storage(),
        "warehouse": build_warehouse(),
        "seniority_model": build_seniority_model(),
        "seniority_cache": build_seniority_cache(),
        "dbt": build_dbt_resource(),
        "training_catalog": build_training_catalog(),
        "tagging_model": build_tagging_model(),
        "suggestion_cache": build_suggestion_cache(),
    }
