"""Declarative automation: the dbt models follow new data without anyone clicking.

Every dbt model carries an automation condition (FieldworkDbtTranslator), evaluated by
Dagster's default automation condition sensor; here the conditions are evaluated for real,
tick after tick, on an ephemeral instance where upstream materializations are recorded as
they would be by a run that built only the upstream asset."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.partitions import daily_partitions
from assets.training.partitions import CUSTOMERS_PARTITIONS
from assets.warehouse.assets import fieldwork_dbt_assets
from definitions import defs

SEEDS_SET = "fieldwork_dbt_seeds"


def _dbt_models() -> set[dg.AssetKey]:
    return {
        key
        for assets in fieldwork_dbt_assets
        if assets.node_def.name != SEEDS_SET
        for key in assets.keys
    }


def _requested(result) -> dict[str, set[str | None]]:
    """What a tick requested, by asset name."""
    graph = defs.resolve_asset_graph()
    found = {}
    for key in graph.get_all_asset_keys():
        partitions = result.get_requested_partitions(key)
        if partitions:
            found[key.to_user_string()] = set(partitions)
    return found


def test_every_dbt_model_has_an_automation_condition_and_a_sensor_evaluates_them():
    graph = defs.resolve_asset_graph()
    models = _dbt_models()
    assert len(models) > 30
    without = sorted(
        k.to_user_string() for k in models if graph.get(k).automation_condition is None
    )
    assert without == []
    sensor = defs.get_repository_def().get_sensor_def("default_automation_condition_sensor")
    # Off until turned on in the Automation page, as the other sensors (README).
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _tick(instance, cursor=None):
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)


def test_a_day_of_postings_requests_its_models_for_that_day_once(instance):
    """A past day of the last week, not the latest: a day reloaded late is followed too."""
    day = daily_partitions.get_partition_keys()[-3]
    assert day != daily_partitions.get_last_partition_key()
    # The seniority levels seed was built once (by a day's job).
    instance.report_runless_asset_event(dg.AssetMaterialization("seniority_levels"))
    first = _tick(instance)
    assert _requested(first) == {}

    # A day older than the automation's week is a backfill's: reloaded, it is not requested.
    old_day = daily_partitions.get_partition_keys()[-30]
    for reloaded in (day, old_day):
        instance.report_runless_asset_event(
            dg.AssetMaterialization("augmented_job_postings", partition=reloaded)
        )
    second = _tick(instance, first.cursor)
    requested = _requested(second)
    assert requested["stg_postings__job_postings"] == {day}
    assert requested["postings_by_company_seniority"] == {day}
    assert not {"stg_weather__heat_index_readings", "city_day_heat_index"} & set(requested)
    # Unpartitioned, the OData view cannot join the day's run: it waits for the day's models.
    assert "odata/JobPostings" not in requested

    third = _tick(instance, second.cursor)
    assert _requested(third) == {}, "requested again"

    # The run the second tick requested builds the day's models; the OData view follows.
    for model in ("stg_postings__job_postings", "postings_by_company_seniority"):
        instance.report_runless_asset_event(dg.AssetMaterialization(model, partition=day))
    fourth = _tick(instance, third.cursor)
    assert _requested(fourth) == {"odata/JobPostings": {None}}


def test_one_customers_modules_request_the_training_models_while_another_customer_waits(
    instance,
):
    """Stock eager() would wait for every customer's partition of the inputs: globex, added
    but never run, would hold acme's models back for ever."""
    instance.add_dynamic_partitions(CUSTOMERS_PARTITIONS, ["acme-pharma", "globex"])
    first = _tick(instance)
    assert _requested(first) == {}

    instance.report_runless_asset_event(
        dg.AssetMaterialization("training_modules", partition="acme-pharma")
    )
    second = _tick(instance, first.cursor)
    requested = _requested(second)
    for model in ("stg_training__modules", "stg_training__module_tags", "module_catalog"):
        assert requested.get(model) == {None}, (model, requested)
    # What the modules step does not load is not rebuilt.
    assert "stg_training__learners" not in requested
    assert not {"stg_postings__job_postings", "city_day_heat_index"} & set(requested)

    third = _tick(instance, second.cursor)
    assert _requested(third) == {}
