"""Resources: thin, typed wrappers around the outside world.

`build_resources()` is the one place that picks the local default or the production
implementation of each, from environment variables alone.
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from resources import environment
from resources.object_storage import LocalObjectStorage, ObjectStorage, S3ObjectStorage
from resources.seniority_cache import SeniorityCache
from resources.seniority_model import SeniorityModel
from resources.warehouse import DuckDBWarehouse, Warehouse

__all__ = [
    "ObjectStorage",
    "SeniorityCache",
    "SeniorityModel",
    "Warehouse",
    "build_resources",
]


def build_storage() -> ObjectStorage:
    bucket = environment.storage_bucket()
    if bucket:
        return S3ObjectStorage(
            bucket=bucket,
            s3=S3Resource(
                region_name=dg.EnvVar("AWS_REGION").get_value("us-east-1"),
                endpoint_url=dg.EnvVar("AWS_ENDPOINT_URL_S3").get_value() or None,
            ),
        )
    return LocalObjectStorage(root=str(environment.data_dir()))


def build_warehouse() -> Warehouse:
    if environment.warehouse_kind() == "snowflake":
        from resources.snowflake_warehouse import SnowflakeWarehouse

        return SnowflakeWarehouse.from_environment()
    return DuckDBWarehouse(path=str(environment.duckdb_path()))


def build_resources() -> dict[str, object]:
    """Every resource the assets ask for, by name."""
    from assets.warehouse.project import build_dbt_resource

    return {
        "storage": build_storage(),
        "warehouse": build_warehouse(),
        "seniority_model": SeniorityModel.from_environment(),
        "seniority_cache": SeniorityCache.from_environment(),
        "dbt": build_dbt_resource(),
    }
