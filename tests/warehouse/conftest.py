"""Fixtures for the warehouse layer: a realistic day of augmented job postings, the mart
figures computed from it in Python, and a private copy of the dbt project per test."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from assets.postings.augment import WAREHOUSE_SCHEMA
from assets.warehouse.project import DBT_PROJECT_DIR
from model_servers.seniority.classifier import LEVELS as LEVEL_NAMES

RAW_TABLE = "raw.job_postings"
SNOWFLAKE_ENV = {
    "FIELDWORK_WAREHOUSE": "snowflake",
    "SNOWFLAKE_ACCOUNT": "fakesnow",
    "SNOWFLAKE_USER": "fake",
    "SNOWFLAKE_PASSWORD": "snow",
    "SNOWFLAKE_ROLE": "analyst",
    "SNOWFLAKE_WAREHOUSE": "compute",
    "SNOWFLAKE_DATABASE": "fieldwork",
    "SNOWFLAKE_SCHEMA": "analytics",
}


def _postings(day: dt.date, source_key: str, rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    """Lines of one input file: (company as written, title, seniority)."""
    return pl.DataFrame(
        {
            "posting_date": [day] * len(rows),
            "source_key": [source_key] * len(rows),
            "line_number": list(range(1, len(rows) + 1)),
            "posting_id": [f"{source_key[-8:]}-{i}" if i % 4 else None for i in range(len(rows))],
            "company": [company for company, _, _ in rows],
            "title": [title for _, title, _ in rows],
            "company_normalized": [" ".join(c.lower().replace(",", "").replace(".", "").split()) for c, _, _ in rows],
            "title_normalized": [" ".join(t.lower().split()) for _, t, _ in rows],
            "location": [None if i % 3 == 0 else "Berlin, DE" for i in range(len(rows))],
            "posted_at": [
                None if i % 5 == 0 else f"{day.isoformat()}T{8 + i % 10:02d}:15:00Z"
                for i in range(len(rows))
            ],
            "seniority": [level for _, _, level in rows],
        },
        schema=WAREHOUSE_SCHEMA,
    )


@pytest.fixture
def raw_job_postings() -> pl.DataFrame:
    """Two days, two files on the first; companies spelled several ways; every level present;
    the same (company, title) pair repeated across lines and files."""
    day1, day2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
    file_a = [
        ("Acme Corp", "Software Engineer", 2),
        ("ACME Corp.", "Software Engineer", 2),
        ("Acme Corp", "Engineering Manager", 4),
        ("Acme Corp", "Intern", 1),
        ("Globex", "Director of Sales", 5),
        ("Globex", "Sales Associate", 3),
        ("Globex", "Sales Associate", 3),
        ("Initech", "Chief Executive Officer", 7),
    ]
    file_b = [
        ("acme corp", "Software Engineer", 2),
        ("Acme Corp", "VP Engineering", 6),
        ("Globex", "Sales Associate", 3),
        ("Initech", "Junior Analyst", 2),
        ("Initech", "Junior Analyst", 2),
    ]
    file_c = [
        ("Globex", "Director of Sales", 5),
        ("Initech", "Entry Clerk", 1),
        ("ACME Corp.", "Software Engineer", 2),
    ]
    return pl.concat(
        [
            _postings(day1, "job-postings-mod/2024-05-01/part-000.jsonl", file_a),
            _postings(day1, "job-postings-mod/2024-05-01/part-001.jsonl", file_b),
            _postings(day2, "job-postings-mod/2024-05-02/part-000.jsonl", file_c),
        ]
    )


def expected_mart(raw: pl.DataFrame) -> pl.DataFrame:
    """postings_by_company_seniority computed independently, in Python."""
    keys = ["posting_date", "company_normalized"]
    display_names = (
        raw.group_by([*keys, "company"])
        .len("spelling_count")
        .sort([*keys, "spelling_count", "company"], descending=[False, False, True, False])
        .group_by(keys, maintain_order=True)
        .first()
        .select(*keys, pl.col("company").alias("company_name"))
    )
    return (
        raw.group_by([*keys, pl.col("seniority").alias("seniority_level")])
        .len("postings_count")
        .with_columns(
            pl.col("postings_count").sum().over(keys).alias("company_postings_count"),
        )
        .with_columns(
            (pl.col("postings_count") / pl.col("company_postings_count")).alias(
                "share_of_company_postings"
            ),
            pl.col("seniority_level")
            .replace_strict(LEVEL_NAMES, return_dtype=pl.String)
            .alias("level_name"),
        )
        .join(display_names, on=keys)
        .select(
            "posting_date",
            "company_normalized",
            "company_name",
            pl.col("seniority_level").cast(pl.Int64),
            "level_name",
            pl.col("postings_count").cast(pl.Int64),
            pl.col("company_postings_count").cast(pl.Int64),
            "share_of_company_postings",
        )
        .sort("posting_date", "company_normalized", "seniority_level")
    )


def normalize_mart(frame: pl.DataFrame) -> pl.DataFrame:
    """A mart as read back from either warehouse, in the expected frame's types and order."""
    return frame.select(
        pl.col("posting_date").cast(pl.Date),
        "company_normalized",
        "company_name",
        pl.col("seniority_level").cast(pl.Int64),
        "level_name",
        pl.col("postings_count").cast(pl.Int64),
        pl.col("company_postings_count").cast(pl.Int64),
        pl.col("share_of_company_postings").cast(pl.Float64),
    ).sort("posting_date", "company_normalized", "seniority_level")


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
