"""Fixtures for the warehouse layer: a realistic day of augmented job postings and a private
copy of the dbt project per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

# The definitions' dbt assets are built when this module is first imported, for the target
# the environment names: imported here, at collection, they are the local target's, whatever
# a test's fixture sets later (the Snowflake modules set FIELDWORK_WAREHOUSE=snowflake around
# their own private projects, and may run first on a worker).
import assets.warehouse.assets  # noqa: F401
from resources.settings import DBT_PROJECT_DIR
from tests.helpers import raw_postings_two_days


@pytest.fixture
def raw_job_postings() -> pl.DataFrame:
    return raw_postings_two_days()


@pytest.fixture
def dbt_project_dir(tmp_path: Path) -> Path:
    """A private copy of the dbt project without target/ (so its manifest is prepared from
    scratch) and without other families' models (their sources are not loaded here)."""
    destination = tmp_path / "dbt_project"

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {"target", "logs", "dbt_packages"}
        if Path(directory).name in ("staging", "marts"):
            skipped |= {name for name in names if name != "postings"}
        return skipped & set(names)

    shutil.copytree(DBT_PROJECT_DIR, destination, ignore=ignore)
    return destination
