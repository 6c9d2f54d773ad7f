"""tag_suggestions with several batches in flight at once, against a real tagger on loopback
that takes a fixed time per batch (so the batches really overlap), a real embedded Redis and
DuckDB: the same outputs and request log as one batch after the other, and a faulty batch
among concurrent ones (flapping, answering garbage, silent) retried, re-asked, dead-lettered
or failed alone."""

from __future__ import annotations

import pytest

from assets.training.requests import RequestLog
from assets.training.tables import TAG_SUGGESTIONS
from resources.tagging_model import TaggingModel
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    TRAINING_CUSTOMER,
    asset_check_results,
    customer_rows,
    materialization_metadata,
    materialize_training,
    shared_redis_url_fixture,
    small_catalog_fixture,
    start_tagger_fixture,
    step_failure_message,
    training_instance,
    training_resources,
)

CUSTOMER = TRAINING_CUSTOMER
SUGGEST = ("training_modules", "tag_suggestions")
BATCH = 6  # modules per batch: the small catalog's untagged modules make 4 batches
BATCH_DELAY = 0.3  # the tagger's fixed time per batch: long enough for batches to overlap
COMPARED_FIGURES = (
    "modules_considered",
    "modules_sent",
    "modules_new",
    "tags_suggested",
    "abstentions",
    "reasks",
    "dead_letters",
    "modules_failed",
    "modules_unsent",
)
BY_BATCH = {"ops": {"tag_suggestions": {"config": {"batch_size": BATCH}}}}


def untagged_ids(catalog_store) -> list[str]:
    """The modules tag_suggestions asks about, in the order it batches them."""
    modules = catalog_store.modules_page(CUSTOMER, None, 1_000)
    return sorted(m.module_id for m in modules if not m.tag_ids)


def batches_of(ids: list[str]) -> list[list[str]]:
    return [ids[offset : offset + BATCH] for offset in range(0, len(ids), BATCH)]


def suggest_requests(resources) -> list:
    return RequestLog(resources["storage"]).requests(CUSTOMER, kind="suggest")


def run_suggestions(
    tmp_path, name, small_catalog, start_tagger, redis_url, in_flight, tagging=None, **faults
):
    """One run of the suggestions, on its own storage and warehouse under tmp_path/name,
    against a new tagger with `faults`; (result, resources, tagger server, instance)."""
    target, _ = small_catalog
    tagger, tagger_target = start_tagger(batch_delay_seconds=BATCH_DELAY, **faults)
    resources = training_resources(
        tmp_path / name,
        target,
        tagger_target,
        redis_url=redis_url,
        max_batches_in_flight=in_flight,
        **(tagging or {}),
    )
    instance = training_instance()
    result = materialize_training(resources, instance, SUGGEST, run_config=BY_BATCH)
    return result, resources, tagger, instance


def test_batches_in_flight_give_the_sequential_outputs_and_one_request_per_batch(
    tmp_path, small_catalog, start_tagger, shared_redis_url, catalog_store
):
    batches = batches_of(untagged_ids(catalog_store))
    assert len(batches) == 4
    runs = {
        in_flight: run_suggestions(
            tmp_path,
            f"in-flight-{in_flight}",
            small_catalog,
            start_tagger,
            shared_redis_url,
            in_flight,
        )
        for in_flight in (1, 4)
    }
    outputs, logs, figures = {}, {}, {}
    for in_flight, (result, resources, tagger, instance) in runs.items():
        assert result.success, step_failure_message(result)
        assert all(asset_check_results(result).values())
        outputs[in_flight] = customer_rows(resources["warehouse"], TAG_SUGGESTIONS).drop(
            "suggested_at"
        )
        requests = suggest_requests(resources)
        # One request per batch, each asked once, and no other.
        assert sorted(r.module_ids for r in requests) == [tuple(b) for b in batches]
        assert {(r.status, r.attempts) for r in requests} == {("succeeded", 1)}
        logs[in_flight] = sorted(r.idempotency_key for r in requests)
        meta = materialization_metadata(result, "tag_suggestions")
        assert (meta["batches"], meta["max_batches_in_flight"]) == (4, in_flight)
        assert meta["tagger_calls"] == tagger.servicer.suggest_calls == 4
        figures[in_flight] = {k: meta[k] for k in COMPARED_FIGURES}
        # Each batch's outcome reaches the run's log, from whichever thread asked for it.
        said = [e.user_message for e in instance.all_logs(result.run_id)]
        for n, batch in enumerate(batches, start=1):
            outcome = f"{CUSTOMER} batch {n}/4: {len(batch)} of {len(batch)} valid in "
            assert sum(message.startswith(outcome) for message in said) == 1
    assert runs[1][2].servicer.max_calls_in_flight == 1  # 1: one batch after the other
    assert runs[4][2].servicer.max_calls_in_flight > 1  # several really were in flight
    assert outputs[4].height > 0 and outputs[4].equals(outputs[1])
    assert logs[4] == logs[1]  # the same requests, by their idempotency keys
    assert figures[4] == figures[1]


def test_a_flapping_batch_among_concurrent_ones_is_retried_alone(
    tmp_path, small_catalog, start_tagger, shared_redis_url, catalog_store
):
    batches = batches_of(untagged_ids(catalog_store))
    flapping = batches[2]
    result, resources, tagger, _ = run_suggestions(
        tmp_path,
        "flapping",
        small_catalog,
        start_tagger,
        shared_redis_url,
        4,
        fail_first=2,
        faults_only_for=[flapping[0]],
    )
    assert result.success, step_failure_message(result)
    attempts = {r.module_ids: (r.status, r.attempts) for r in suggest_requests(resources)}
    assert attempts == {tuple(b): ("succeeded", 3 if b == flapping else 1) for b in batches}
    assert tagger.servicer.suggest_calls == len(batches) + 2
    meta = materialization_metadata(result, "tag_suggestions")
    assert meta["modules_new"] == meta["modules_considered"] == sum(map(len, batches))


def test_a_garbage_batch_among_concurrent_ones_is_re_asked_and_dead_lettered_alone(
    tmp_path, small_catalog, start_tagger, shared_redis_url, catalog_store
):
    batches = batches_of(untagged_ids(catalog_store))
    spoilt = batches[1][0]  # the first reply of its batch, and of each re-ask, is garbage
    result, resources, tagger, _ = run_suggestions(
        tmp_path,
        "garbage",
        small_catalog,
        start_tagger,
        shared_redis_url,
        4,
        garbage="unknown-tag",
        faults_only_for=[spoilt],
    )
    assert not result.success and asset_check_results(result)["taxonomy"] is False
    assert "check taxonomy failed on 1 row(s) of 1 module(s)" in step_failure_message(result)
    statuses = {r.module_ids: r.status for r in suggest_requests(resources)}
    assert statuses == {
        **{tuple(b): "succeeded" for b in batches if spoilt not in b},
        tuple(batches[1]): "failed",  # its other modules were valid and kept
        (spoilt,): "dead",  # re-asked twice alone, then dead-lettered alone
    }
    [letter] = RequestLog(resources["storage"]).dead_letters.list(CUSTOMER, "suggest")
    assert letter.module_ids == (spoilt,) and letter.attempts == 2
    assert tagger.servicer.suggest_calls == len(batches) + 2
    assert tagger.servicer.faulty_calls == 3
    assert customer_rows(resources["warehouse"], TAG_SUGGESTIONS).is_empty()


def test_a_silent_batch_among_concurrent_ones_fails_alone_and_the_run_stops(
    tmp_path, small_catalog, start_tagger, shared_redis_url, catalog_store
):
    batches = batches_of(untagged_ids(catalog_store))
    silent = batches[0]
    result, resources, tagger, _ = run_suggestions(
        tmp_path,
        "silent",
        small_catalog,
        start_tagger,
        shared_redis_url,
        2,
        stall=True,
        faults_only_for=[silent[0]],
        tagging={"deadline_floor_seconds": 1.0},
    )
    assert not result.success
    message = step_failure_message(result)
    assert "stopped answering: 0 of 6" in message and "nothing reaches the review" in message
    requests = {r.module_ids: r for r in suggest_requests(resources)}
    assert requests[tuple(silent)].status == "failed"
    # The batches in flight with it finished; none started after it failed; none is left
    # running; every module is valid, failed or unsent (none vanished).
    others = [r for ids, r in requests.items() if ids != tuple(silent)]
    assert {r.status for r in others} <= {"succeeded"} and others
    assert len(requests) <= len(batches)
    # Batches start in order: those asked are the first ones, the rest were never sent.
    asked = {m for ids in requests for m in ids}
    assert asked == {m for b in batches[: len(requests)] for m in b}
    unsent = sum(len(b) for b in batches[len(requests) :])
    assert (f"{unsent:,} modules were not sent after that" in message) == (unsent > 0)
    assert tagger.servicer.calls_in_flight == 0


def test_batches_in_flight_must_be_at_least_one():
    with pytest.raises(ValueError, match="max_batches_in_flight must be above 0, got 0"):
        with TaggingModel(endpoint="127.0.0.1:1", max_batches_in_flight=0).connect():
            pass
