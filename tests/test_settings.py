"""One place reads the environment: local defaults with nothing set, production by variables
alone, and a bad value refused when the definitions load, naming the variable and the form."""

from __future__ import annotations

import dagster as dg
import pytest

from resources import build_seniority_cache, build_seniority_model, build_warehouse, settings
from resources.settings import SettingsError
from tests.helpers import SNOWFLAKE_ENV

VARIABLES = (
    "SENIORITY_MODEL_ENDPOINT",
    "SENIORITY_BATCH_SIZE",
    "SENIORITY_DEADLINE_SECONDS",
    "REDIS_URL",
    "FIELDWORK_WAREHOUSE",
    "FIELDWORK_FIRST_DAY",
    "FIELDWORK_EXECUTOR",
    "FIELDWORK_BUCKET",
    "SNOWFLAKE_PORT",
    "TRAINING_CATALOG_ENDPOINT",
    "TAGGING_MODEL_ENDPOINT",
    "TAGGING_DEADLINE_FLOOR_SECONDS",
    "TAGGING_MODULES_PER_SECOND",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_gives_the_local_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDWORK_DATA_DIR", str(tmp_path))
    model = build_seniority_model()
    assert (model.endpoint, model.batch_size, model.deadline_seconds) == (None, 1000, 30.0)
    cache = build_seniority_cache()
    assert cache.redis_url is None
    assert cache.embedded_db_path == str(tmp_path / "redis" / "seniority.rdb")
    assert build_warehouse().path == str(tmp_path / "warehouse.duckdb")
    assert settings.first_day() == settings.DEFAULT_FIRST_DAY
    assert settings.executor_kind() == "in_process"


def test_production_is_variables_alone(monkeypatch):
    monkeypatch.setenv("SENIORITY_MODEL_ENDPOINT", "model.internal:443")
    monkeypatch.setenv("SENIORITY_BATCH_SIZE", "500")
    monkeypatch.setenv("SENIORITY_DEADLINE_SECONDS", "12.5")
    model = build_seniority_model()
    assert (model.endpoint, model.batch_size, model.deadline_seconds) == (
        "model.internal:443",
        500,
        12.5,
    )
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    warehouse = build_warehouse()
    assert type(warehouse).__name__ == "SnowflakeWarehouse"
    assert settings.dbt_target() == "snowflake"


def test_secrets_reach_resources_as_variable_names_never_values(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@cache.internal:6379/0")
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    assert build_seniority_cache().redis_url == dg.EnvVar("REDIS_URL")
    assert build_warehouse().password == dg.EnvVar("SNOWFLAKE_PASSWORD")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SENIORITY_BATCH_SIZE",
            "lots",
            "SENIORITY_BATCH_SIZE must be a whole number of at least 1",
        ),
        ("SENIORITY_BATCH_SIZE", "0", "SENIORITY_BATCH_SIZE must be a whole number of at least 1"),
        (
            "SENIORITY_DEADLINE_SECONDS",
            "-3",
            "SENIORITY_DEADLINE_SECONDS must be a number of seconds",
        ),
        (
            "SENIORITY_DEADLINE_SECONDS",
            "0",
            "SENIORITY_DEADLINE_SECONDS must be a number of seconds",
        ),
        ("SENIORITY_MODEL_ENDPOINT", "http://model:80", "must be host:port"),
        ("REDIS_URL", "cache.internal:6379", "REDIS_URL must be a URL such as redis://"),
        ("REDIS_URL", "redis://:pw@cache.internal:63x9/0", "the port is not a number"),
        ("REDIS_URL", "redis://:pw@:6379/0", "the value set names no host"),
        ("TRAINING_CATALOG_ENDPOINT", "grpc://catalog:443", "must be host:port"),
        ("TAGGING_MODEL_ENDPOINT", "tagger", "must be host:port"),
        ("TAGGING_DEADLINE_FLOOR_SECONDS", "0", "must be a number of seconds above 0"),
        ("TAGGING_MODULES_PER_SECOND", "-1", "must be a rate above 0"),
        ("FIELDWORK_WAREHOUSE", "postgres", "FIELDWORK_WAREHOUSE must be 'duckdb' or 'snowflake'"),
        ("FIELDWORK_FIRST_DAY", "01/07/2026", "FIELDWORK_FIRST_DAY must be a day as YYYY-MM-DD"),
        ("FIELDWORK_EXECUTOR", "k8s", "FIELDWORK_EXECUTOR must be 'in_process' or 'multiprocess'"),
        ("SENIORITY_DEADLINE_SECONDS", "nan", "SENIORITY_DEADLINE_SECONDS must be a number"),
        ("SENIORITY_DEADLINE_SECONDS", "inf", "SENIORITY_DEADLINE_SECONDS must be a number"),
        ("SENIORITY_MODEL_ENDPOINT", "model.internal:", "must be host:port"),
        ("FIELDWORK_BUCKET", "s3://my-bucket", "FIELDWORK_BUCKET must be a bucket name"),
        ("FIELDWORK_FIRST_DAY", "2099-01-01", "FIELDWORK_FIRST_DAY must be a past day"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_the_form(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    from resources import build_resources

    with pytest.raises(SettingsError, match=message) as refused:
        build_resources()
        settings.first_day()
        settings.executor_kind()
    if name == "REDIS_URL":
        assert value not in str(refused.value), "a secret's value must not be echoed"


def test_snowflake_without_its_required_variables_names_them(monkeypatch):
    monkeypatch.setenv("FIELDWORK_WAREHOUSE", "snowflake")
    for name in SNOWFLAKE_ENV:
        if name != "FIELDWORK_WAREHOUSE":
            monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match="SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_ROLE"):
        build_warehouse()
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SNOWFLAKE_PORT", "https")
    with pytest.raises(SettingsError, match="SNOWFLAKE_PORT must be a port number"):
        build_warehouse()
