"""The tagging model's output is untrusted input: garbage from a real tagging server fails
tag_suggestions' checks with the rows named, is re-asked twice for the failed modules only,
then waits in the dead-letter store until training_replay asks again; none of it reaches the
review or the catalog."""

from __future__ import annotations

import pytest

from assets.training.replay import training_replay
from assets.training.requests import RequestLog
from assets.training.review import review_key
from assets.training.suggestions import CHECKS
from assets.training.tables import TAG_SUGGESTIONS
from model_servers.tagging.faults import EXTRA_MODULE_ID, UNKNOWN_TAG_ID
from resources.tagging_model import TaggingModel
from tests.helpers import (  # noqa: F401  (fixtures, used by name)
    FAST_RETRIES,
    TRAINING_CUSTOMER,
    asset_check_results,
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


GARBAGE = {
    # mode: (check that fails, the value its rows name)
    "unknown-tag": ("taxonomy", UNKNOWN_TAG_ID),
    "confidence-out-of-range": ("confidence_range", "1.7"),
    "duplicate-tags": ("duplicate_tags", None),
    "too-many-tags": ("tag_count", None),
    "missing-module": ("answered_modules", None),
    "extra-module": ("answered_modules", EXTRA_MODULE_ID),
    "cut-short": ("cut_short", None),
}


@pytest.mark.parametrize("mode", sorted(GARBAGE))
def test_garbage_fails_the_checks_by_row_and_reaches_neither_review_nor_catalog(
    training_setup, mode, catalog_store
):
    resources, tagger, instance = training_setup(garbage=mode)
    result = materialize_training(resources, instance, WHOLE_FLOW, run_config=one_batch(8))
    check, value = GARBAGE[mode]
    checks = asset_check_results(result)
    assert checks[check] is False
    assert all(passed for name, passed in checks.items() if name not in (check, "cut_short"))
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == check)
    failing = {k: v.value for k, v in evaluation.metadata.items()}
    assert failing["failing_count"] >= 1
    if value:
        assert value in failing["failing_rows"]

    storage, log = resources["storage"], RequestLog(resources["storage"])
    letters = log.dead_letters.list(CUSTOMER, "suggest")
    if mode == "extra-module":
        # Nothing asked for was invalid: no re-ask, no dead letter; the extras fail the check.
        assert letters == []
    else:
        dead = sorted(m for letter in letters for m in letter.module_ids)
        assert dead and failing["failing_modules"] == len(dead)
        assert all(m in failing["failing_rows"] for m in dead)
        assert all(letter.attempts >= 1 and letter.reason for letter in letters)
    if check != "cut_short":  # blocking: nothing is loaded, the review is never written
        assert not result.success
        assert "nothing reaches the review" in step_failure_message(result)
        assert customer_rows(resources["warehouse"], TAG_SUGGESTIONS).is_empty()
        assert not storage.exists(review_key(CUSTOMER))
    else:  # a stream cut short warns: what did arrive is valid, the rest waits in dead letters
        assert result.success, step_failure_message(result)
        suggested = set(customer_rows(resources["warehouse"], TAG_SUGGESTIONS)["module_id"])
        assert not suggested & set(dead)
        review = storage.read_bytes(review_key(CUSTOMER)).decode("utf-8-sig")
        assert not any(m in review for m in dead)
    assert catalog_store.applied_key_count(CUSTOMER) == 0


def test_invalid_answers_are_re_asked_twice_for_the_failed_modules_only(training_setup):
    resources, tagger, instance = training_setup(garbage="unknown-tag")
    result = materialize_training(resources, instance, SUGGEST, run_config=one_batch(8))
    meta_calls = tagger.servicer.suggest_calls
    requests = {r.module_count: r for r in suggest_requests(resources)}
    # 3 batches of 8, each: a first ask, then its one failed module twice more, then dead.
    assert meta_calls == 3 * 3
    assert sorted(r.module_count for r in suggest_requests(resources)) == [1, 1, 1, 8, 8, 8]
    assert requests[1].status == "dead" and requests[1].attempts == 2
    assert requests[8].status == "failed" and "taxonomy 1" in requests[8].error
    figures = step_failure_message(result)
    assert "check taxonomy failed on 3 row(s) of 3 module(s)" in figures


def test_a_dead_letter_is_left_out_until_the_replay_asks_again(training_setup, start_tagger):
    resources, _, instance = training_setup(garbage="unknown-tag")
    materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    [letter] = RequestLog(resources["storage"]).dead_letters.list(CUSTOMER)
    [dead] = letter.module_ids

    # The model is healthy again: a run asks for nothing the dead letter holds.
    healthy, target = start_tagger()
    resources["tagging_model"] = TaggingModel(endpoint=target, **FAST_RETRIES)
    result = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert result.success, step_failure_message(result)
    assert (
        materialization_metadata(result, "tag_suggestions")["modules_waiting_in_dead_letters"] == 1
    )
    assert healthy.servicer.suggest_calls == 0  # the others were cached by the first run
    assert dead not in set(customer_rows(resources["warehouse"], TAG_SUGGESTIONS)["module_id"])

    replay = training_replay.execute_in_process(
        partition_key=CUSTOMER, resources=resources, instance=instance
    )
    assert replay.success
    assert healthy.servicer.suggest_calls == 1
    assert RequestLog(resources["storage"]).dead_letters.list(CUSTOMER) == []
    [record] = [r for r in suggest_requests(resources) if r.module_ids == (dead,)]
    assert record.status == "succeeded"

    after = materialize_training(resources, instance, SUGGEST, run_config=one_batch())
    assert after.success, step_failure_message(after)
    meta = materialization_metadata(after, "tag_suggestions")
    assert healthy.servicer.suggest_calls == 1  # the replay's answer came from the cache
    assert (meta["modules_waiting_in_dead_letters"], meta["modules_sent"]) == (0, 0)
    assert meta["modules_cached"] == meta["modules_considered"]


def test_every_check_is_declared_with_its_blocking_rule():
    from assets.training.checks import BLOCKING_CHECKS, SUGGESTION_CHECK_SPECS

    names = {spec.name for spec in SUGGESTION_CHECK_SPECS}
    assert names == {*CHECKS, "suggestions_reconcile"}
    assert names - BLOCKING_CHECKS == {"cut_short"}
