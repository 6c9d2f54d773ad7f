"""Where fieldwork runs, decided in one place: the only module that reads the environment.

One function per concern (storage, warehouse, dbt target, model endpoints, cache,
partitions, executor). `resources.build_resources()` builds every resource from these;
assets never ask which environment they run in. Secrets are never read into values here:
resources get them as `dg.EnvVar`s, so the UI shows the variable's name, not its value.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# Variables whose values are secrets: passed to resources as `dg.EnvVar(name)` only.
REDIS_URL = "REDIS_URL"
SNOWFLAKE_PASSWORD = "SNOWFLAKE_PASSWORD"
SNOWFLAKE_PRIVATE_KEY_PATH = "SNOWFLAKE_PRIVATE_KEY_PATH"
SNOWFLAKE_PRIVATE_KEY_PASSPHRASE = "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"
SECRET_VARIABLES = (
    REDIS_URL,
    SNOWFLAKE_PASSWORD,
    SNOWFLAKE_PRIVATE_KEY_PATH,
    SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
)

DEFAULT_FIRST_DAY = "2026-07-01"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingsError(ValueError):
    """A variable holds a value fieldwork cannot use; names it and the accepted form."""


def _get(name: str) -> str | None:
    """The variable's value, or None when unset or empty."""
    return os.environ.get(name) or None


def is_set(name: str) -> bool:
    return _get(name) is not None


def _number(name: str, parse: type, default: float, minimum: float, form: str):
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {form}, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise SettingsError(f"{name} must be {form}, got {raw!r}")
    return value


# Object storage ----------------------------------------------------------------------------


def data_dir() -> Path:
    """The local folder laid out like the S3 buckets (`FIELDWORK_DATA_DIR`, default `data/`)."""
    return Path(_get("FIELDWORK_DATA_DIR") or PROJECT_ROOT / "data").resolve()


def storage_bucket() -> str | None:
    """The S3 bucket to use instead of the local folder, if `FIELDWORK_BUCKET` is set."""
    bucket = _get("FIELDWORK_BUCKET")
    if bucket is not None and ("://" in bucket or "/" in bucket):
        raise SettingsError(
            f"FIELDWORK_BUCKET must be a bucket name such as my-bucket (no s3:// and no "
            f"path), got {bucket!r}"
        )
    return bucket


def aws_region() -> str:
    return _get("AWS_REGION") or "us-east-1"


def s3_endpoint_url() -> str | None:
    """Only for an S3-compatible store or a local fake (`AWS_ENDPOINT_URL_S3`)."""
    return _get("AWS_ENDPOINT_URL_S3")


# Warehouse ---------------------------------------------------------------------------------


def warehouse_kind() -> str:
    """`duckdb` (local default) or `snowflake`, from `FIELDWORK_WAREHOUSE`."""
    kind = (_get("FIELDWORK_WAREHOUSE") or "duckdb").lower()
    if kind not in ("duckdb", "snowflake"):
        raise SettingsError(f"FIELDWORK_WAREHOUSE must be 'duckdb' or 'snowflake', got {kind!r}")
    return kind


def duckdb_path() -> Path:
    """The local warehouse file (`FIELDWORK_DUCKDB_PATH`, default `data/warehouse.duckdb`)."""
    return Path(_get("FIELDWORK_DUCKDB_PATH") or data_dir() / "warehouse.duckdb").resolve()


def dbt_target() -> str:
    """The dbt target matching the warehouse: `local` or `snowflake`."""
    return "snowflake" if warehouse_kind() == "snowflake" else "local"


def snowflake_settings() -> dict[str, str]:
    """Field name -> environment variable for every `SNOWFLAKE_*` variable that is set.

    Names, not values: the resource resolves them at run time.
    """
    fields = {
        "account": "SNOWFLAKE_ACCOUNT",
        "user": "SNOWFLAKE_USER",
        "role": "SNOWFLAKE_ROLE",
        "warehouse": "SNOWFLAKE_WAREHOUSE",
        "database": "SNOWFLAKE_DATABASE",
        "schema": "SNOWFLAKE_SCHEMA",
        "password": SNOWFLAKE_PASSWORD,
        "authenticator": "SNOWFLAKE_AUTHENTICATOR",
        "private_key_path": SNOWFLAKE_PRIVATE_KEY_PATH,
        "private_key_passphrase": SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
        "host": "SNOWFLAKE_HOST",
        "port": "SNOWFLAKE_PORT",
        "protocol": "SNOWFLAKE_PROTOCOL",
    }
    # dbt's `snowflake` target needs a role and a warehouse to run anything.
    required = ("account", "user", "role", "warehouse", "database", "schema")
    missing = [fields[f] for f in required if not is_set(fields[f])]
    if missing:
        raise SettingsError(
            f"FIELDWORK_WAREHOUSE=snowflake needs {', '.join(missing)} "
            "(see the README, 'Local defaults and production')"
        )
    port = _get("SNOWFLAKE_PORT")
    if port is not None and not port.isdigit():
        raise SettingsError(f"SNOWFLAKE_PORT must be a port number, got {port!r}")
    return {field: var for field, var in fields.items() if is_set(var)}


# Model services ----------------------------------------------------------------------------


def seniority_model_endpoint() -> str | None:
    """`host:port` of the seniority model; unset starts the reference server on loopback."""
    return _endpoint("SENIORITY_MODEL_ENDPOINT")


def _endpoint(name: str) -> str | None:
    """`host:port` from the variable `name`, or None (start the reference server on loopback)."""
    endpoint = _get(name)
    if endpoint is not None and (
        "://" in endpoint or not endpoint.rpartition(":")[2].isdigit() or endpoint.startswith(":")
    ):
        raise SettingsError(f"{name} must be host:port (no scheme), got {endpoint!r}")
    return endpoint


def training_catalog_endpoint() -> str | None:
    """`host:port` of the training platform's catalog; unset starts the reference catalog."""
    return _endpoint("TRAINING_CATALOG_ENDPOINT")


def training_catalog_db() -> Path:
    """The reference catalog's SQLite store (local default only; the real catalog has its own)."""
    return data_dir() / "reference" / "training_catalog.sqlite"


def tagging_model_endpoint() -> str | None:
    """`host:port` of the tagging model; unset starts the reference tagger (TF-IDF)."""
    return _endpoint("TAGGING_MODEL_ENDPOINT")


def tagging_deadline_floor_seconds() -> float:
    return _number(
        "TAGGING_DEADLINE_FLOOR_SECONDS", float, 30.0, 1e-3, "a number of seconds above 0"
    )


def tagging_modules_per_second() -> float:
    return _number("TAGGING_MODULES_PER_SECOND", float, 60.0, 1e-3, "a rate above 0")


def seniority_batch_size() -> int:
    return _number("SENIORITY_BATCH_SIZE", int, 1000, 1, "a whole number of at least 1")


def seniority_deadline_seconds() -> float:
    return _number("SENIORITY_DEADLINE_SECONDS", float, 30.0, 1e-3, "a number of seconds above 0")


# Cache -------------------------------------------------------------------------------------


def redis_url_is_set() -> bool:
    """Whether `REDIS_URL` names a Redis server; its form is checked, its value never kept."""
    raw = _get(REDIS_URL)
    if raw is None:
        return False
    url = urlsplit(raw)
    form = f"a URL such as redis://[:password@]host:6379/0 (schemes: {', '.join(REDIS_SCHEMES)})"
    if url.scheme not in REDIS_SCHEMES:
        raise SettingsError(f"{REDIS_URL} must be {form}; the value set has no such scheme")
    try:
        url.port  # noqa: B018 (parses the port; never echoes the value, which may hold a password)
    except ValueError:
        raise SettingsError(f"{REDIS_URL} must be {form}; the port is not a number") from None
    if url.scheme != "unix" and not url.hostname:
        raise SettingsError(f"{REDIS_URL} must be {form}; the value set names no host")
    return True


def embedded_redis_path() -> Path:
    """The embedded Redis's RDB file when no `REDIS_URL` is set."""
    return data_dir() / "redis" / "seniority.rdb"


def embedded_suggestion_cache_path() -> Path:
    """The embedded Redis of the tag suggestions when no `REDIS_URL` is set."""
    return data_dir() / "redis" / "suggestions.rdb"


# Partitions and execution ------------------------------------------------------------------


def first_day() -> str:
    """The first day partition (`FIELDWORK_FIRST_DAY`, YYYY-MM-DD): the first day of data held."""
    raw = _get("FIELDWORK_FIRST_DAY") or DEFAULT_FIRST_DAY
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(
            f"FIELDWORK_FIRST_DAY must be a day as YYYY-MM-DD, got {raw!r}"
        ) from None
    if day > dt.date.today():
        raise SettingsError(
            f"FIELDWORK_FIRST_DAY must be a past day (the first day of data held), got {raw!r}"
        )
    return day.isoformat()


def executor_kind() -> str:
    """How a run executes its steps (`FIELDWORK_EXECUTOR`).

    `in_process` (default): every step in the run's own process. Importing the libraries
    costs about 7 s here, and the multiprocess executor pays it again for every step.
    `multiprocess`: a process per step, where steps are long enough to pay for it.
    """
    kind = (_get("FIELDWORK_EXECUTOR") or "in_process").lower()
    if kind not in ("in_process", "multiprocess"):
        raise SettingsError(
            f"FIELDWORK_EXECUTOR must be 'in_process' or 'multiprocess', got {kind!r}"
        )
    return kind
