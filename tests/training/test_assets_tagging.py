"""tag_suggestions against real servers on loopback (catalog on a small seeded store, tagger
with its fault switches), a real embedded Redis and DuckDB: the cache before the model, the
request log, deadlines, re-asks and dead letters, and garbage that never reaches the review."""

from __future__ import annotations

import polars as pl

from assets.training.requests import RequestLog
from assets.training.tables import SCHEMAS, TAG_SUGGESTIONS
from resources.suggestion_cache import SuggestionCache
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    TRAINING_CUSTOMER,
    asset_check_results,
    closed_port,
    customer_rows,
    materialization_metadata,
    materialize_training,
    shared_redis_url_fixture,
    small_catalog_fixture,
    start_tagger_fixture,
    step_failure_message,
    training_setup_fixture,
)

CUSTOMER = TRAINING_CUSTOMER
SUGGEST = ("training_modules", "tag_suggestions")
WHOLE_FLOW = (*SUGGEST, "tag_review")


def one_batch(modules: int = 100) -> dict:
    return {"ops": {"tag_suggestions": {"config": {"batch_size": modules}}}}


def suggest_requests(resources) -> list:
    return RequestLog(resources["storage"]).requests(CUSTOMER, kind="suggest")


def untagged(resources) -> int:
    modules = customer_rows(resources["warehouse"], "raw.training_modules")
    tags = customer_rows(resources["warehouse"], "raw.training_module_tags")
    return modules.height - tags["module_id"].n_unique()


def test_suggestions_are_validated_loaded_and_a_rerun_asks_the_model_nothing(training_setup):
    resources, tagger, instance = training_setup(own_redis=True)
    first = materialize_training(resources, instance, WHOLE_FLOW)
    assert first.success, step_failure_message(first)

    meta = materialization_metadata(first, "tag_suggestions")
    need = untagged(resources)
    assert meta["modules_considered"] == need > 0
    assert meta["modules_cached"] == 0 and meta["modules_sent"] == need
    assert meta["modules_new"] + 0 == need
    assert meta["tagger_calls"] == tagger.servicer.suggest_calls == 1
    assert meta["reasks"] == meta["dead_letters"] == 0
    assert meta["model_seconds"] > 0 and meta["cache_status"].startswith("ok (embedded")
    assert meta["requests"]["succeeded"] == 1
    assert all(asset_check_results(first).values())

    rows = customer_rows(resources["warehouse"], TAG_SUGGESTIONS)
    assert dict(rows.schema) == {
        k: (pl.Int32 if k == "tag_rank" else v) for k, v in SCHEMAS[TAG_SUGGESTIONS].items()
    }
    assert rows.height == meta["tags_suggested"] == meta["dagster/row_count"]
    assert rows["module_id"].n_unique() == need - meta["abstentions"]
    assert rows.filter(pl.col("tag_rank") == 1).height == rows["module_id"].n_unique()
    # Every suggested tag is in the customer's taxonomy; confidences are in [0, 1].
    taxonomy = customer_rows(resources["warehouse"], "raw.training_taxonomy")
    assert set(rows["tag_id"]) <= set(taxonomy["tag_id"])
    assert rows["confidence"].is_between(0, 1).all()
    [record] = suggest_requests(resources)
    assert (record.status, record.attempts, record.module_count) == ("succeeded", 1, need)
    assert record.model_version == meta["model_version"] and record.latency_seconds > 0

    second = materialize_training(resources, instance, WHOLE_FLOW)
    assert second.success, step_failure_message(second)
    again = materialization_metadata(second, "tag_suggestions")
    assert tagger.servicer.suggest_calls == 1  # zero tagger calls
    assert (again["modules_cached"], again["modules_sent"], again["tagger_calls"]) == (need, 0, 0)
    assert customer_rows(resources["warehouse"], TAG_SUGGESTIONS).equals(rows)


def test_only_a_changed_module_is_sent_again(training_setup, small_catalog, catalog_store):
    _, kept = small_catalog
    resources, tagger, instance = training_setup()
    assert materialize_training(resources, instance, WHOLE_FLOW).success
    calls = tagger.servicer.suggest_calls

    changed = kept[3]
    catalog_store.update_module_text(
        CUSTOMER, changed, description="Reporting side effects within the legal deadline."
    )
    result = materialize_training(resources, instance, WHOLE_FLOW)
    assert result.success, step_failure_message(result)
    meta = materialization_metadata(result, "tag_suggestions")
    assert (meta["modules_sent"], meta["tagger_calls"]) == (1, 1)
    assert meta["modules_cached"] == meta["modules_considered"] - 1
    assert tagger.servicer.suggest_calls == calls + 1
    [new] = [r for r in suggest_requests(resources) if r.module_ids == (changed,)]
    assert new.status == "succeeded"


def test_unavailable_twice_then_an_answer_succeeds_with_three_attempts(training_setup):
    resources, tagger, instance = training_setup(fail_first=2)
    result = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert result.success, step_failure_message(result)
    [record] = suggest_requests(resources)
    assert (record.status, record.attempts) == ("succeeded", 3)
    assert [h["status"] for h in record.history] == ["pending", "running", "succeeded"]
    assert tagger.servicer.suggest_calls == 3


def test_a_tagger_that_never_answers_fails_the_request_at_its_deadline(training_setup):
    # 24 modules at 60 per second: the 0.5 s floor is the deadline.
    resources, tagger, instance = training_setup(
        stall=True, tagging={"deadline_floor_seconds": 0.5}
    )
    result = materialize_training(resources, instance, SUGGEST, run_config=one_batch())

    assert not result.success
    message = step_failure_message(result)
    assert "stopped answering: 0 of" in message and "cancelled at the deadline" in message
    assert "nothing reaches the review" in message
    [record] = suggest_requests(resources)
    assert record.status == "failed" and "stopped answering" in record.error
    assert record.attempts == 1 and tagger.servicer.suggest_calls == 1
    assert customer_rows(resources["warehouse"], TAG_SUGGESTIONS).is_empty()
    assert RequestLog(resources["storage"]).dead_letters.list(CUSTOMER) == []


def test_a_slow_but_steady_tagger_outlives_its_first_deadline(training_setup):
    # 24 replies 0.1 s apart: 2.4 s against a 1.5 s deadline that each reply extends by 1 s.
    # (Roomy: on a loaded CI machine a 0.5 s deadline saw no first reply in time.)
    resources, _, instance = training_setup(
        seconds_per_module=0.1,
        tagging={"deadline_floor_seconds": 1.5, "seconds_per_module_floor": 0.5},
    )
    result = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert result.success, step_failure_message(result)
    [record] = suggest_requests(resources)
    assert record.status == "succeeded"
    meta = materialization_metadata(result, "tag_suggestions")
    assert meta["modules_new"] == meta["modules_considered"]


def test_an_unreachable_cache_is_bypassed_and_the_log_still_spares_the_model(training_setup):
    resources, tagger, instance = training_setup()
    resources["suggestion_cache"] = SuggestionCache(
        redis_url=f"redis://127.0.0.1:{closed_port()}/0", socket_timeout_seconds=0.5
    )
    first = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert first.success, step_failure_message(first)
    meta = materialization_metadata(first, "tag_suggestions")
    assert meta["cache_status"].startswith("bypassed: redis at 127.0.0.1")
    assert meta["modules_sent"] == meta["modules_considered"]

    second = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert second.success, step_failure_message(second)
    again = materialization_metadata(second, "tag_suggestions")
    # The same request succeeded before: its answers are read from beside the log.
    assert again["modules_answered_from_log"] == again["modules_considered"]
    assert (again["modules_sent"], tagger.servicer.suggest_calls) == (0, 1)
