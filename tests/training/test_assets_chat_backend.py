"""tag_suggestions with the tagger's chat backend: the real asset, a real tagging server whose
backend asks the local OpenAI-compatible server over HTTP, the small catalog, DuckDB and
Redis. A chat model that answers well is the run's model; one that answers truncated JSON,
prose or a tag it was never offered fails the checks with its modules named, is re-asked
twice (those modules only), then waits in the dead-letter store, and none of it reaches the
review or the catalog, even once the endpoint answers well again."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator

import polars as pl
import pytest

from assets.training.requests import RequestLog
from assets.training.review import review_key
from assets.training.tables import TAG_REVIEW, TAG_SUGGESTIONS
from model_servers.openai_compatible.server import (
    DEFAULT_MODEL,
    INVENTED_TAG_ID,
    ChatCompletionsServer,
    Fault,
    serve,
)
from model_servers.tagging.chat import ChatBackend
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
    training_setup_fixture,
)

CUSTOMER = TRAINING_CUSTOMER
WHOLE_FLOW = ("training_modules", "tag_suggestions", "tag_review")
API_KEY = "sk-local-asset-test"
SHORTLIST = 5
FAULTY_MODULES = 2


@pytest.fixture(name="untagged")
def untagged_fixture(small_catalog, catalog_db) -> list[str]:
    """The small catalog's modules of CUSTOMER without tags: the ones the run asks about."""
    _, kept = small_catalog
    with sqlite3.connect(catalog_db) as conn:
        tagged = {row[0] for row in conn.execute("select distinct module_id from module_tags")}
    modules = [m for m in kept if m not in tagged]
    assert len(modules) > FAULTY_MODULES + 2, modules
    return modules


@pytest.fixture(name="chat_setup")
def chat_setup_fixture(training_setup) -> Iterator:
    """`chat_setup(*faults) -> (resources, endpoint, tagger, instance)`: the family's resources
    with a tagging server on the chat backend, which asks a local OpenAI-compatible endpoint
    answering with `faults`. One module per chat request (the backend's default batch), no
    retries inside the backend: every ask of a module is one request the endpoint records."""
    endpoints: list[ChatCompletionsServer] = []

    def make(*faults: Fault):
        endpoint, port = serve("127.0.0.1", 0, faults=faults, api_key=API_KEY)
        endpoints.append(endpoint)
        backend = ChatBackend(
            f"http://127.0.0.1:{port}/v1",
            DEFAULT_MODEL,
            API_KEY,
            shortlist_size=SHORTLIST,
            max_retries=0,
        )
        resources, tagger, instance = training_setup(backend=backend)
        return resources, endpoint, tagger, instance

    yield make
    for endpoint in endpoints:
        endpoint.shutdown()
        endpoint.server_close()


def asked_modules(endpoint: ChatCompletionsServer, since: int = 0) -> Counter[str]:
    """How many times each module was in a chat request, from request `since` on."""
    return Counter(
        module["module_id"]
        for body in endpoint.requests[since:]
        for module in json.loads(body["messages"][-1]["content"])["modules"]
    )


def review_rows(storage) -> dict[str, dict[str, str]]:
    text = storage.read_bytes(review_key(CUSTOMER)).decode("utf-8-sig")
    return {row["module_id"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}


def test_a_chat_model_that_answers_well_is_the_runs_model(chat_setup, untagged, catalog_store):
    resources, endpoint, tagger, instance = chat_setup()
    result = materialize_training(resources, instance, WHOLE_FLOW)
    assert result.success, step_failure_message(result)
    assert all(asset_check_results(result).values())

    meta = materialization_metadata(result, "tag_suggestions")
    assert meta["model_version"].startswith(f"chat-{DEFAULT_MODEL}+top{SHORTLIST}-")
    assert meta["modules_sent"] == len(untagged) and meta["reasks"] == meta["dead_letters"] == 0
    assert asked_modules(endpoint) == Counter(untagged)  # each module asked once
    assert tagger.servicer.suggest_calls == 1

    # What the platform loaded is what the chat model answered, tag for tag and in its order.
    answered = {}
    assert sorted(endpoint.answers) == list(range(len(endpoint.requests)))
    for index, body in enumerate(endpoint.requests):
        [asked] = json.loads(body["messages"][-1]["content"])["modules"]
        [answer] = json.loads(endpoint.answers[index])["modules"]
        assert answer["module_id"] == asked["module_id"]
        assert len(asked["candidates"]) == SHORTLIST
        answered[answer["module_id"]] = [(t["tag_id"], t["confidence"]) for t in answer["tags"]]
    rows = customer_rows(resources["warehouse"], TAG_SUGGESTIONS).sort("module_id", "tag_rank")
    loaded = {
        module: (group["tag_id"].to_list(), group["confidence"].to_list())
        for (module,), group in rows.group_by("module_id", maintain_order=True)
    }
    assert set(loaded) == {m for m, tags in answered.items() if tags}
    for module, (tag_ids, confidences) in loaded.items():
        assert tag_ids == [t for t, _ in answered[module]]
        # tagging.proto carries a confidence as a float32
        assert confidences == pytest.approx([c for _, c in answered[module]], rel=1e-6)
    assert rows.height == meta["tags_suggested"] > 0
    assert set(rows["model_version"]) == {meta["model_version"]}

    review = review_rows(resources["storage"])
    for module, tags in answered.items():
        assert review[module]["suggested_tags"] == "|".join(t for t, _ in tags)
        assert review[module]["model_version"] == meta["model_version"]
    assert catalog_store.applied_key_count(CUSTOMER) == 0  # nothing applied before approval


FAULTS = {
    # fault mode: (check that fails, how the failing rows show the module's value)
    "truncated-json": ("schema", '{"modules": [{"module_id": '),
    "prose": ("schema", "Sure! Looking at these training modules"),
    "unknown-tag": ("taxonomy", INVENTED_TAG_ID),
}


@pytest.mark.parametrize("mode", list(FAULTS))
def test_an_unreadable_or_wrong_chat_answer_is_named_re_asked_and_dead_lettered(
    chat_setup, untagged, catalog_store, mode
):
    faulty = untagged[:FAULTY_MODULES]
    good = untagged[FAULTY_MODULES:]
    resources, endpoint, tagger, instance = chat_setup(*(Fault(mode, m) for m in faulty))
    result = materialize_training(resources, instance, WHOLE_FLOW)
    check, shown = FAULTS[mode]

    # The check fails naming exactly the faulty modules and what the model said; the others pass.
    checks = asset_check_results(result)
    assert checks[check] is False
    assert all(passed for name, passed in checks.items() if name != check), checks
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == check)
    failing = {k: v.value for k, v in evaluation.metadata.items()}
    assert failing["failing_modules"] == len(faulty)
    assert all(m in failing["failing_rows"] for m in faulty)
    assert not any(m in failing["failing_rows"] for m in good)
    assert shown in failing["failing_rows"]

    # Re-asked twice, the faulty modules only: 3 asks each, every good module asked once.
    asks = asked_modules(endpoint)
    assert asks == Counter({**dict.fromkeys(good, 1), **dict.fromkeys(faulty, 3)})
    assert tagger.servicer.suggest_calls == 3
    requests = sorted(
        RequestLog(resources["storage"]).requests(CUSTOMER, kind="suggest"),
        key=lambda r: r.module_count,
    )
    assert [(r.module_count, r.status) for r in requests] == [
        (len(faulty), "dead"),
        (len(untagged), "failed"),
    ]
    assert requests[0].attempts == 2 and check in requests[1].error

    # In the dead-letter store with the reason: the check and each module's fault.
    [letter] = RequestLog(resources["storage"]).dead_letters.list(CUSTOMER, "suggest")
    assert sorted(letter.module_ids) == sorted(faulty)
    assert "still invalid after 3 asks" in letter.reason
    assert all(f"{m}: {check}:" in letter.reason for m in faulty)

    # Blocking: the run fails, nothing is loaded, no review is laid out, nothing applied.
    assert not result.success
    assert "nothing reaches the review" in step_failure_message(result)
    assert customer_rows(resources["warehouse"], TAG_SUGGESTIONS).is_empty()
    assert not resources["storage"].exists(review_key(CUSTOMER))
    assert catalog_store.applied_key_count(CUSTOMER) == 0

    # The endpoint answers well again: the good modules come from the cache, the dead-lettered
    # ones wait for the replay; the review lays out the good ones and none of the faulty.
    endpoint.faults = ()
    before = len(endpoint.requests)
    again = materialize_training(resources, instance, WHOLE_FLOW)
    assert again.success, step_failure_message(again)
    assert len(endpoint.requests) == before  # nothing asked of the chat model
    meta = materialization_metadata(again, "tag_suggestions")
    assert meta["modules_waiting_in_dead_letters"] == len(faulty)
    suggested = customer_rows(resources["warehouse"], TAG_SUGGESTIONS)
    review = review_rows(resources["storage"])
    review_table = customer_rows(resources["warehouse"], TAG_REVIEW)
    assert set(suggested["module_id"]) <= set(good) and suggested.height > 0
    assert all(review[m]["suggested_tags"] for m in set(suggested["module_id"]))
    for module in faulty:
        assert module not in set(suggested["module_id"])
        assert not review.get(module, {}).get("suggested_tags")
        assert review_table.filter(
            (pl.col("module_id") == module) & (pl.col("suggested_tags").fill_null("") != "")
        ).is_empty()
    assert INVENTED_TAG_ID not in str(review) + str(review_table.rows())
    assert catalog_store.applied_key_count(CUSTOMER) == 0
