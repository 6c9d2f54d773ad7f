"""What the Dagster UI shows of every asset and check in the definitions: its group, owners,
kinds, a description that renders (no `<word>` the UI's Markdown takes for an HTML tag and
drops), the declared columns with their types of every asset that has rows, and a
description for every check, dbt tests included. Then one training run's materializations:
row count, the columns as written, a preview of the first rows and links to the files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assets.training.tables import MODULES, SCHEMAS, TAG_REVIEW, TAG_SUGGESTIONS
from definitions import defs
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    TRAINING_CUSTOMER,
    customer_rows,
    materialization_metadata,
    materialize_training,
    shared_redis_url_fixture,
    small_catalog_fixture,
    start_tagger_fixture,
    step_failure_message,
    training_setup_fixture,
)
from tests.training.conftest import (  # noqa: F401  (the training family's fixtures)
    catalog_db,
    seeded_catalog_template,
    start_catalog,
)

GRAPH = defs.resolve_asset_graph()
ASSETS = sorted(GRAPH.get_all_asset_keys(), key=lambda key: key.to_user_string())
FAMILIES = {"postings", "weather", "training", "warehouse"}
# Where an asset's rows are (assets/catalog.py reads the same metadata).
ROWS_METADATA = ("dagster/table_name", "fieldwork/storage_prefix")
# Assets that hold no rows: a cache, tags applied in the training catalog, Snowflake grants.
WITHOUT_ROWS = {"seniority_cache", "applied_tags", "odata_grants"}
# `<date>`, `<customer>`, `</b>`: what Markdown renders as a tag, i.e. not at all.
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
UNTYPED = {"", "?"}


def _name(key) -> str:
    return key.to_user_string()


def _value(metadata, name):
    value = metadata.get(name)
    return getattr(value, "value", value)


def _has_rows(key) -> bool:
    return any(GRAPH.get(key).metadata.get(name) for name in ROWS_METADATA)


@pytest.mark.parametrize("key", ASSETS, ids=_name)
def test_every_asset_has_a_group_owners_kinds_and_a_description_that_renders(key):
    node = GRAPH.get(key)
    assert node.group_name in FAMILIES
    assert node.owners and all(o.startswith("team:") for o in node.owners), node.owners
    assert node.kinds, "no kinds"
    assert node.description and node.description.strip()
    assert not HTML_TAG.findall(node.description), node.description


def test_the_assets_without_rows_are_only_those_that_hold_none():
    """Every other asset says where its rows are, so the column test below covers it."""
    assert {_name(key) for key in ASSETS if not _has_rows(key)} == WITHOUT_ROWS


@pytest.mark.parametrize("key", [k for k in ASSETS if _has_rows(k)], ids=_name)
def test_every_asset_with_rows_declares_its_columns_with_types(key):
    """`dagster/column_schema` in the asset's definition: the UI's Columns tab before any
    run. dbt models declare `data_type` for each column in their yml."""
    schema = _value(GRAPH.get(key).metadata, "dagster/column_schema")
    assert schema is not None, "no dagster/column_schema"
    assert schema.columns, "no columns"
    untyped = [column.name for column in schema.columns if column.type in UNTYPED]
    assert not untyped, f"columns without a type: {untyped}"


@pytest.mark.parametrize(
    "key", sorted(GRAPH.asset_check_keys, key=lambda k: (_name(k.asset_key), k.name)), ids=str
)
def test_every_check_has_a_description(key):
    description = GRAPH.get(key).description
    assert description and description.strip()
    assert not HTML_TAG.findall(description), description


# --- One training run: what its materializations record ------------------------------------

WRITTEN = {
    "training_modules": MODULES,
    "tag_suggestions": TAG_SUGGESTIONS,
    "tag_review": TAG_REVIEW,
}
FILE_LINKS = {
    "training_modules": "snapshot",
    "tag_suggestions": "suggestions",
    "tag_review": "review_file",
}


def test_a_training_run_records_row_counts_columns_a_preview_and_its_files(training_setup):
    resources, _, instance = training_setup()
    result = materialize_training(resources, instance, tuple(WRITTEN))
    assert result.success, step_failure_message(result)
    for asset, table in WRITTEN.items():
        meta = materialization_metadata(result, asset)
        rows = customer_rows(resources["warehouse"], table)
        assert meta["dagster/row_count"] == rows.height > 0, asset
        written = meta["dagster/column_schema"]
        assert [c.name for c in written.columns] == list(SCHEMAS[table]), asset
        assert all(c.type not in UNTYPED for c in written.columns), asset
        preview = meta["preview"].splitlines()
        assert preview[0] == "| " + " | ".join(SCHEMAS[table]) + " |", asset
        first_rows = preview[2 : 2 + min(5, rows.height)]
        assert all(line.startswith(f"| {TRAINING_CUSTOMER} | ") for line in first_rows), asset
        if rows.height > 5:
            assert f"The first 5 of {rows.height:,} rows." in meta["preview"], asset
        # Locally a link is the file's path (S3: its s3:// URI).
        assert Path(meta[FILE_LINKS[asset]]).is_file(), (asset, meta[FILE_LINKS[asset]])
