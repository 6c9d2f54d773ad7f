"""The OData views on DuckDB, built by dbt through Dagster from the reference catalog's seed
(and a few postings and heat-index readings; the shared `warehouse_build`): they keep the
contract (dbt_project/odata/metadata.xml) for every customer's session, and each session sees
its own customer's rows and only the entity sets of its tier and flags.

A session is what a BI tool opens locally: a read-only connection to the warehouse's
published snapshot that names its customer's role
(`SET VARIABLE fieldwork_session = tenancy.customer_session('<role>')`)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from assets.warehouse.entitlements import SET_SESSION_SQL
from assets.warehouse.odata_contract import (
    compare_with_warehouse,
    information_schema_sql,
    load_contract,
)
from assets.warehouse.tenancy import Customer, customer_role, entitlements
from resources.warehouse import DuckDBWarehouse
from tests.helpers import dbt_check_results

pytestmark = [pytest.mark.slow]

CONTRACT = load_contract()


@pytest.fixture(scope="module")
def built(warehouse_build, tmp_path_factory):
    warehouse, store, _ = warehouse_build.copy(tmp_path_factory.mktemp("odata") / "build")
    return warehouse_build.result, warehouse, store, warehouse_build.loaded


def session(warehouse: DuckDBWarehouse, role: str | None):
    """A BI tool's connection to the published snapshot, acting for `role`."""
    con = duckdb.connect(str(warehouse.reader_path()), read_only=True)
    if role is not None:
        con.execute(SET_SESSION_SQL, [role])
    return con


def test_the_build_succeeds_and_the_grants_step_is_skipped_locally(built):
    result, _, _, _ = built
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {f"odata/{name}" for name in CONTRACT.names} | {"customer_entitlements"} <= materialized
    # DuckDB has no roles: the step ran, succeeded, and materialized nothing.
    assert "odata_grants" not in materialized
    assert "odata_grants" in {e.step_key for e in result.get_step_success_events()}
    checks = dbt_check_results(result)
    assert checks and all(checks.values()), {n for n, passed in checks.items() if not passed}


def test_every_view_keeps_the_contract_in_every_customer_session(built):
    _, warehouse, store, _ = built
    seen_with_rows: set[str] = set()
    for customer in store.customers():
        with session(warehouse, customer_role(customer.customer_id)) as con:
            columns = con.execute(information_schema_sql("odata")).fetchall()
            mismatches = compare_with_warehouse(
                CONTRACT, columns, "duckdb", query=lambda sql, con=con: con.execute(sql).fetchall()
            )
            assert mismatches == [], (customer.customer_id, mismatches)
            for name in CONTRACT.names:
                if con.execute(f'select count(*) from odata."{name}"').fetchone()[0]:
                    seen_with_rows.add(name)
    # Every check above ran on rows: each view has some for at least one customer.
    assert seen_with_rows == set(CONTRACT.names)


def test_each_customer_sees_its_own_rows_and_only_its_entity_sets(built):
    _, warehouse, store, loaded = built
    customers = store.customers()
    allowed = {}
    catalog = [Customer(c.customer_id, c.tier, c.feature_flags) for c in customers]
    for row in entitlements(catalog, CONTRACT):
        allowed.setdefault(row.customer_id, set()).add(row.entity_set)
    assert allowed["globex-insurance"] == {"TrainingModules", "ModuleTags", "TrainingCompletions"}
    assert "TrainingImpact" in allowed["northwind-software"]  # pro, with the flag
    assert "TrainingImpact" not in allowed["initech-retail"]  # pro, without it
    own_rows = {
        "TrainingModules": "raw.training_modules",
        "Learners": "raw.training_learners",
        "TrainingCompletions": "raw.training_completions",
        "FieldPerformance": "raw.training_field_performance",
        "ModuleTags": "raw.training_module_tags",
    }
    walked = 0
    for customer in customers:
        me = customer.customer_id
        with session(warehouse, customer_role(me)) as con:
            for entity_set in CONTRACT.entity_sets:
                view = f'odata."{entity_set.name}"'
                [(rows,)] = con.execute(f"select count(*) from {view}").fetchall()
                walked += 1
                if entity_set.name not in allowed[me]:
                    assert rows == 0, (me, entity_set.name, rows)
                    continue
                assert rows > 0, (me, entity_set.name)
                if entity_set.is_tenant_scoped:
                    [(foreign,)] = con.execute(
                        f"select count(*) from {view} where CustomerId <> ?", [me]
                    ).fetchall()
                    assert foreign == 0, (me, entity_set.name, foreign)
                if entity_set.name in own_rows:
                    assert rows == loaded[me][own_rows[entity_set.name]].height
    assert walked == len(customers) * len(CONTRACT.names)


def test_a_session_for_no_customer_or_an_unknown_role_sees_nothing(built):
    _, warehouse, _, _ = built
    for role in (None, "FIELDWORK_CUSTOMER_NOBODY", "analyst"):
        with session(warehouse, role) as con:
            for name in CONTRACT.names:
                [(rows,)] = con.execute(f'select count(*) from odata."{name}"').fetchall()
                assert rows == 0, (role, name)


def test_values_reach_the_views_as_the_legacy_api_typed_them(built):
    _, warehouse, _, loaded = built
    me = "acme-pharma"
    modules = loaded[me]["raw.training_modules"].sort("module_id")
    completions = loaded[me]["raw.training_completions"].sort("completion_id")
    with session(warehouse, customer_role(me)) as con:
        module_id, stamp = con.execute(
            'select ModuleId, LastModified from odata."TrainingModules" order by ModuleId limit 1'
        ).fetchone()
        completion_id, score = con.execute(
            'select CompletionId, Score from odata."TrainingCompletions" '
            "order by CompletionId limit 1"
        ).fetchone()
        keys = con.execute('select PostingKey from odata."JobPostings"').fetchall()
        tag_counts = con.execute(
            'select ModuleId, TagCount, IsTagged from odata."TrainingModules"'
        ).fetchall()
    # A naive UTC timestamp is served as the same instant at UTC, whatever the session's zone.
    assert module_id == modules["module_id"][0]
    assert stamp == modules["last_modified"][0].replace(tzinfo=dt.UTC)
    assert completion_id == completions["completion_id"][0]
    assert float(score) == round(completions["score"][0], 2)
    # PostingKey: a Guid per (SourceKey, LineNumber), all distinct.
    assert len({key for (key,) in keys}) == len(keys) > 0
    # Every module with its number of tags, an untagged one with 0 and IsTagged false.
    tags = loaded[me]["raw.training_module_tags"].group_by("module_id").len()
    expected = {module: 0 for module in modules["module_id"]} | dict(tags.iter_rows())
    assert {module: count for module, count, _ in tag_counts} == expected
    assert all(tagged == (count > 0) for _, count, tagged in tag_counts)
    assert 0 < sum(count == 0 for _, count, _ in tag_counts) < len(tag_counts)
