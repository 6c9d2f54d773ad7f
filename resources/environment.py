"""Where fieldwork runs, decided in one place: the assets never ask.

Every function reads environment variables only, so production is one
`export` away from the local defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The local folder laid out like the S3 buckets (`FIELDWORK_DATA_DIR`, default `data/`)."""
    return Path(os.environ.get("FIELDWORK_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def storage_bucket() -> str | None:
    """The S3 bucket to use instead of the local folder, if `FIELDWORK_BUCKET` is set."""
    return os.environ.get("FIELDWORK_BUCKET") or None


def warehouse_kind() -> str:
    """`duckdb` (local default) or `snowflake`, from `FIELDWORK_WAREHOUSE`."""
    kind = os.environ.get("FIELDWORK_WAREHOUSE", "duckdb").lower()
    if kind not in ("duckdb", "snowflake"):
        raise ValueError(f"FIELDWORK_WAREHOUSE must be 'duckdb' or 'snowflake', got {kind!r}")
    return kind


def duckdb_path() -> Path:
    """The local warehouse file (`FIELDWORK_DUCKDB_PATH`, default `data/warehouse.duckdb`)."""
    return Path(os.environ.get("FIELDWORK_DUCKDB_PATH", data_dir() / "warehouse.duckdb")).resolve()


def dbt_target() -> str:
    """The dbt target matching the warehouse: `local` or `snowflake`."""
    return "snowflake" if warehouse_kind() == "snowflake" else "local"
