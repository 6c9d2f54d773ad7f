"""The `TaggingModel` resource against real tagging servers: true attempt counts, a deadline
that scales with the batch and extends while replies arrive, streams cut short, replies
returned exactly as sent, and the local reference server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import grpc
import polars as pl
import pytest

from assets.training.suggestions import validate_suggestions
from model_servers.tagging.faults import EXTRA_MODULE_ID, OUT_OF_RANGE_CONFIDENCE, UNKNOWN_TAG_ID
from model_servers.tagging.model import MODEL_VERSION
from model_servers.tagging.server import serve
from protos.contract import TAGGING_SERVICE_NAME
from resources.grpc_client import ModelRejected, ModelUnavailable
from resources.tagging_model import (
    ApprovedModule,
    ModuleSuggestion,
    ModuleText,
    SuggestionsUnavailable,
    TaggingModel,
    TaxonomyTag,
)
from tests.helpers import pid_listening_on, process_alive

ROOT = Path(__file__).resolve().parents[2]
TAXONOMIES = ROOT / "model_servers" / "training_catalog" / "taxonomies.json"
FAST_RETRIES = dict(initial_backoff_seconds=0.05, max_backoff_seconds=0.2, backoff_multiplier=2.0)

MODULES = [
    ModuleText("m1", "Pharmacovigilance 101", "Reporting side effects within the legal deadline."),
    ModuleText(
        "m2", "Negotiating formulary access", "Contracting and pricing with hospital payers."
    ),
    ModuleText("m3", "Canteen lunch menu"),
    ModuleText("m4", "GDPR for field teams", "Handling prescriber data under GDPR."),
]


def taxonomy(customer_id: str = "acme-pharma") -> list[TaxonomyTag]:
    customers = json.loads(TAXONOMIES.read_text(encoding="utf-8"))["customers"]
    [customer] = [c for c in customers if c["customer_id"] == customer_id]
    return [
        TaxonomyTag(t["tag_id"], t["label"], t["description"], tuple(t["aliases"]))
        for t in customer["tags"]
    ]


def many_modules(n: int) -> list[ModuleText]:
    return [ModuleText(f"m{i}", f"Objection handling, session {i}") for i in range(n)]


def suggest(client, modules=MODULES, **kwargs):
    return client.suggest("acme-pharma", "2026-11-01", taxonomy(), modules, **kwargs)


@pytest.fixture
def start_tagger() -> Iterator:
    """`start_tagger(**options) -> (server, "127.0.0.1:port")`; stopped at teardown."""
    servers: list[grpc.Server] = []

    def start(**options):
        server, port = serve("127.0.0.1", 0, **options)
        servers.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


def test_suggest_streams_every_reply_and_reports_the_call(start_tagger) -> None:
    server, target = start_tagger()
    progress: list[tuple[int, int]] = []
    with TaggingModel(endpoint=target).connect() as client:
        assert client.describe().backend == "tfidf"
        assert client.describe().model_version == MODEL_VERSION
        result = suggest(client, request_id="req-42", on_progress=lambda *p: progress.append(p))
        assert (client.calls, client.items_sent) == (1, 4)
    assert [r.module_id for r in result.replies] == ["m1", "m2", "m3", "m4"]
    assert all(isinstance(r, ModuleSuggestion) for r in result.replies)
    assert result.replies[0].tag_ids[0] == "adverse-event-reporting"
    assert result.replies[2].abstained and result.replies[2].tag_ids == ()
    assert (result.request_id, result.modules_requested, result.replies_received) == (
        "req-42",
        4,
        4,
    )
    assert (result.attempts, result.cut_short, result.error) == (1, False, "")
    assert result.model_versions == (MODEL_VERSION,)
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert server.servicer.suggest_calls == 1


def test_approvals_travel_with_their_text(start_tagger) -> None:
    _, target = start_tagger()
    approved = [
        ApprovedModule(f"a{i}", ("communication",), f"Presenting to pharmacists {i}", "Speaking.")
        for i in range(60)
    ]
    with TaggingModel(endpoint=target).connect() as client:
        result = suggest(client, approved=approved)
    [version] = result.model_versions
    assert version.startswith(f"{MODEL_VERSION}+cust-")


def test_unavailable_twice_then_an_answer_takes_three_true_attempts(start_tagger) -> None:
    server, target = start_tagger(fail_first=2)
    with TaggingModel(endpoint=target, **FAST_RETRIES).connect() as client:
        result = suggest(client)
    assert result.attempts == 3 and result.replies_received == 4 and not result.cut_short
    assert server.servicer.suggest_calls == 3  # no hidden gRPC retries on top of ours


def test_retries_give_up_after_max_attempts_with_the_figures(start_tagger) -> None:
    server, target = start_tagger(fail_first=100)
    config = TaggingModel(endpoint=target, max_attempts=3, **FAST_RETRIES)
    with config.connect() as client:
        with pytest.raises(SuggestionsUnavailable) as info:
            suggest(client, request_id="req-7")
        assert client.calls == 0
    message = str(info.value)
    assert message.startswith(f"tagging model at {target}, request req-7 (acme-pharma, 4 modules)")
    assert "unavailable after 3 attempts" in message and "injected failure 3 of 100" in message
    assert info.value.result.attempts == 3 and info.value.result.replies == ()
    assert isinstance(info.value, ModelUnavailable)
    assert isinstance(info.value.__cause__, grpc.RpcError)  # the last status stays reachable
    assert server.servicer.suggest_calls == 3


def test_a_refusal_is_not_retried(start_tagger) -> None:
    server, target = start_tagger()
    with TaggingModel(endpoint=target, **FAST_RETRIES).connect() as client:
        with pytest.raises(ModelRejected) as info:
            client.suggest(" ", "v1", taxonomy(), MODULES)
    assert "INVALID_ARGUMENT" in str(info.value) and "customer_id is empty" in str(info.value)
    assert "attempt 1" in str(info.value)
    assert server.servicer.suggest_calls == 1


def test_a_silent_server_fails_at_a_deadline_proportional_to_the_batch(start_tagger) -> None:
    server, target = start_tagger(stall=True)
    # 90 modules at 60 per second: 1.5 s, above the 0.5 s floor.
    config = TaggingModel(endpoint=target, deadline_floor_seconds=0.5, modules_per_second=60)
    assert config.initial_deadline(10) == 0.5 and config.initial_deadline(90) == 1.5
    with config.connect() as client:
        with pytest.raises(SuggestionsUnavailable) as info:
            suggest(client, many_modules(90))
    result = info.value.result
    assert result.initial_deadline_seconds == 1.5
    assert result.deadline_seconds == pytest.approx(1.5)  # never extended: nothing arrived
    assert result.seconds >= 1.5  # cancelled at the deadline, not before
    assert result.replies == () and result.attempts == 1
    message = str(info.value)
    assert "stopped answering: 0 of 90 replies" in message
    assert "cancelled at the deadline (1.5 s for 90 modules at 60/s, floor 0.5 s" in message
    assert server.servicer.suggest_calls == 1


def test_slow_but_steady_outlives_the_initial_deadline(start_tagger) -> None:
    # 16 replies 0.15 s apart take about 2.4 s; the batch's own deadline is 1 s, and each
    # reply allows 2 x 0.5 = 1 s more.
    _, target = start_tagger(seconds_per_module=0.15)
    config = TaggingModel(
        endpoint=target,
        deadline_floor_seconds=1.0,
        seconds_per_module_floor=0.5,
        deadline_slack=2.0,
    )
    with config.connect() as client:
        result = suggest(client, many_modules(16))
    assert result.replies_received == 16 and not result.cut_short
    assert result.initial_deadline_seconds == 1.0
    assert result.seconds > result.initial_deadline_seconds
    assert result.deadline_seconds > result.seconds


def test_a_stream_that_slows_beyond_the_allowance_is_cancelled(start_tagger) -> None:
    _, target = start_tagger(seconds_per_module=0.3)
    config = TaggingModel(
        endpoint=target,
        deadline_floor_seconds=1.0,
        seconds_per_module_floor=0.01,
        deadline_slack=1.0,
    )
    with config.connect() as client:
        with pytest.raises(SuggestionsUnavailable) as info:
            suggest(client, many_modules(16))
    assert info.value.result.replies_received < 16
    assert "stopped answering" in str(info.value)


def test_a_broken_stream_returns_what_arrived_as_cut_short(start_tagger) -> None:
    server, target = start_tagger(seconds_per_module=0.05)

    def stop_after_two(received: int, requested: int) -> None:
        if received == 2:
            server.stop(grace=None)

    with TaggingModel(endpoint=target, **FAST_RETRIES).connect() as client:
        result = suggest(client, many_modules(10), on_progress=stop_after_two)
    assert result.cut_short and result.replies_received == 2 and result.attempts == 1
    assert result.error  # the status that ended the stream


def test_garbage_comes_back_exactly_as_sent(start_tagger) -> None:
    _, target = start_tagger(garbage="unknown-tag,confidence-out-of-range,duplicate-tags")
    with TaggingModel(endpoint=target).connect() as client:
        result = suggest(client)
    first = result.replies[0]
    assert UNKNOWN_TAG_ID in first.tag_ids
    assert first.confidences[0] == pytest.approx(OUT_OF_RANGE_CONFIDENCE)
    assert len(first.tag_ids) == len(set(first.tag_ids)) + 1
    assert not result.cut_short


@pytest.mark.parametrize(
    ("mode", "ids"),
    [
        ("missing-module", ["m1", "m2", "m3"]),
        ("extra-module", ["m1", "m2", "m3", "m4", EXTRA_MODULE_ID]),
        ("repeated-module", ["m1", "m1", "m2", "m3", "m4"]),
    ],
)
def test_wrong_modules_come_back_as_sent(start_tagger, mode: str, ids: list[str]) -> None:
    _, target = start_tagger(garbage=mode)
    with TaggingModel(endpoint=target).connect() as client:
        result = suggest(client)
    assert [r.module_id for r in result.replies] == ids and not result.cut_short


def test_cut_short_by_the_server_is_reported_not_retried(start_tagger) -> None:
    server, target = start_tagger(garbage="cut-short")
    with TaggingModel(endpoint=target, **FAST_RETRIES).connect() as client:
        result = suggest(client)
    assert result.cut_short and [r.module_id for r in result.replies] == ["m1", "m2"]
    assert "StatusCode.UNAVAILABLE" in result.error and "cut short after 2 of 4" in result.error
    assert result.attempts == 1 and server.servicer.suggest_calls == 1


def test_the_platforms_checks_name_the_garbage_the_client_returned(start_tagger) -> None:
    _, target = start_tagger(garbage="unknown-tag,duplicate-tags,extra-module")
    with TaggingModel(endpoint=target).connect() as client:
        result = suggest(client)
    requested = pl.DataFrame(
        {"module_id": [m.module_id for m in MODULES], "content_hash": ["h"] * len(MODULES)}
    )
    tag_ids = [t.tag_id for t in taxonomy()]
    validation = validate_suggestions(
        requested, result.replies, tag_ids, cut_short=result.cut_short
    )
    assert validation.failing("taxonomy")["module_id"].to_list() == ["m1"]
    assert validation.failing("duplicate_tags")["module_id"].to_list() == ["m1"]
    assert validation.failing("answered_modules")["module_id"].to_list() == [EXTRA_MODULE_ID]
    assert validation.reask_module_ids == ["m1"] and validation.reconciles


def test_input_the_server_would_refuse_is_refused_before_sending(start_tagger) -> None:
    server, target = start_tagger(max_batch_size=3)
    with TaggingModel(endpoint=target).connect() as client:
        with pytest.raises(ValueError, match=r"module ids listed more than once: \['m1'\]"):
            suggest(client, [*MODULES[:2], MODULES[0]])
        with pytest.raises(ValueError, match="the taxonomy has no tags"):
            client.suggest("acme-pharma", "v1", [], MODULES[:2])
        with pytest.raises(ValueError, match="at most 3 modules per request; split the batch"):
            suggest(client)
        empty = suggest(client, [])
        assert (empty.replies, empty.attempts, client.calls) == ((), 0, 0)
    assert server.servicer.suggest_calls == 0


def test_suggest_tags_is_left_out_of_grpcs_own_retries() -> None:
    config = TaggingModel(max_attempts=4).service_config()
    service_wide, suggest_tags = config["methodConfig"]
    assert service_wide["name"] == [{"service": TAGGING_SERVICE_NAME}]
    assert service_wide["retryPolicy"]["maxAttempts"] == 4  # DescribeModel, health
    assert suggest_tags == {"name": [{"service": TAGGING_SERVICE_NAME, "method": "SuggestTags"}]}


@pytest.mark.parametrize(
    ("setting", "value"),
    [("modules_per_second", 0), ("deadline_floor_seconds", -1), ("seconds_per_module_floor", -1)],
)
def test_unusable_settings_are_refused_at_connect(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{setting} must be"):
        with TaggingModel(endpoint="127.0.0.1:1", **{setting: value}).connect():
            pass


def test_local_default_starts_and_stops_the_reference_server() -> None:
    with TaggingModel(endpoint=None).connect() as client:
        assert client.target.startswith("127.0.0.1:")
        result = suggest(client)
        pid = pid_listening_on(client.target)
    assert result.replies[0].tag_ids[0] == "adverse-event-reporting"
    assert not process_alive(pid), f"reference server pid {pid} still running"


def test_works_as_a_dagster_resource(start_tagger) -> None:
    _, target = start_tagger()

    @dg.asset
    def first_tags(tagging_model: TaggingModel) -> list[str]:
        with tagging_model.connect() as client:
            return [r.tag_ids[0] if r.tag_ids else "" for r in suggest(client).replies]

    result = dg.materialize(
        [first_tags], resources={"tagging_model": TaggingModel(endpoint=target)}
    )
    assert result.output_for_node("first_tags") == [
        "adverse-event-reporting",
        "negotiation",
        "",
        "data-privacy",
    ]
