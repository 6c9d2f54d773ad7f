"""The reference tagging server on a real loopback socket: the streamed contract, request
validation, health, the fault switches as a raw gRPC caller sees them, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from model_servers.tagging.__main__ import build_backend, parse_args
from model_servers.tagging.backends import StandInBackend
from model_servers.tagging.faults import (
    EXTRA_MODULE_ID,
    GARBAGE_MODES,
    OUT_OF_RANGE_CONFIDENCE,
    UNKNOWN_TAG_ID,
    parse_garbage,
)
from model_servers.tagging.model import MODEL_VERSION
from model_servers.tagging.server import DEFAULT_MAX_BATCH_SIZE, serve
from protos import tagging_pb2 as pb
from protos import tagging_pb2_grpc as pb_grpc
from protos.contract import MAX_TAGS_PER_MODULE, TAGGING_SERVICE_NAME

ROOT = Path(__file__).resolve().parents[2]
TAXONOMIES = ROOT / "model_servers" / "training_catalog" / "taxonomies.json"

MODULES = [
    ("m1", "Pharmacovigilance 101", "Reporting side effects within the legal deadline."),
    ("m2", "Negotiating formulary access", "Contracting and pricing with hospital payers."),
    ("m3", "Canteen lunch menu", ""),
    ("m4", "GDPR for field teams", "Handling prescriber data under GDPR."),
]


def taxonomy(customer_id: str = "acme-pharma") -> list[pb.TaxonomyTag]:
    customers = json.loads(TAXONOMIES.read_text(encoding="utf-8"))["customers"]
    [customer] = [c for c in customers if c["customer_id"] == customer_id]
    return [
        pb.TaxonomyTag(
            tag_id=t["tag_id"], label=t["label"], description=t["description"], aliases=t["aliases"]
        )
        for t in customer["tags"]
    ]


def request(modules=MODULES, **fields) -> pb.SuggestTagsRequest:
    fields.setdefault("customer_id", "acme-pharma")
    fields.setdefault("taxonomy_version", "2026-11-01")
    fields.setdefault("taxonomy", taxonomy())
    fields.setdefault("request_id", "req-1")
    return pb.SuggestTagsRequest(
        modules=[pb.ModuleText(module_id=i, title=t, description=d) for i, t, d in modules],
        **fields,
    )


@pytest.fixture
def start_tagger() -> Iterator:
    """`start_tagger(**options) -> (server, stub, channel)`; stopped at teardown."""
    started: list[tuple[grpc.Server, grpc.Channel]] = []

    def start(**options):
        server, port = serve("127.0.0.1", 0, **options)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return server, pb_grpc.TaggingModelStub(channel), channel

    yield start
    for server, channel in started:
        channel.close()
        server.stop(grace=None)


def test_one_reply_per_module_in_request_order(start_tagger) -> None:
    _, stub, _ = start_tagger()
    replies = list(stub.SuggestTags(request(), timeout=30))
    assert [r.module_id for r in replies] == ["m1", "m2", "m3", "m4"]
    by_id = {r.module_id: r for r in replies}
    assert by_id["m1"].tags[0].tag_id == "adverse-event-reporting"
    assert by_id["m2"].tags[0].tag_id == "negotiation"
    assert by_id["m3"].abstained and not by_id["m3"].tags and by_id["m3"].rationale
    assert by_id["m4"].tags[0].tag_id == "data-privacy"
    assert {r.model_version for r in replies} == {MODEL_VERSION}
    assert not any(r.unreadable_output for r in replies)


def test_replies_stream_before_the_batch_is_done(start_tagger) -> None:
    _, stub, _ = start_tagger(seconds_per_module=0.2)
    call = stub.SuggestTags(request(), timeout=30)
    first = next(call)
    assert first.module_id == "m1"
    assert not call.done(), "the first reply came only once every module was answered"
    assert [r.module_id for r in call] == ["m2", "m3", "m4"]


def test_max_tags_per_module_is_honoured(start_tagger) -> None:
    _, stub, _ = start_tagger()
    modules = [
        (
            "m1",
            "Discussing trial results and handling price objections with formulary negotiations",
            "Clinical evidence, objections, negotiation and communication with physicians.",
        )
    ]
    [wide] = stub.SuggestTags(request(modules), timeout=30)
    [narrow] = stub.SuggestTags(request(modules, max_tags_per_module=1), timeout=30)
    assert len(wide.tags) > 1 and len(narrow.tags) == 1


def test_approvals_with_text_make_a_customer_model(start_tagger) -> None:
    _, stub, _ = start_tagger()
    approved = [
        pb.ApprovedTags(
            module_id=f"a{i}",
            tag_ids=["communication"],
            title=f"Presenting to pharmacists, session {i}",
            description="Clear speaking.",
        )
        for i in range(60)
    ]
    replies = list(stub.SuggestTags(request(approved=approved), timeout=30))
    [version] = {r.model_version for r in replies}
    assert version.startswith(f"{MODEL_VERSION}+cust-")


def test_an_empty_batch_streams_nothing(start_tagger) -> None:
    _, stub, _ = start_tagger()
    assert list(stub.SuggestTags(request([]), timeout=30)) == []


@pytest.mark.parametrize(
    ("fields", "modules", "problem"),
    [
        ({"customer_id": " "}, MODULES, "customer_id is empty"),
        ({"taxonomy": []}, MODULES, "has no tags"),
        ({"taxonomy": taxonomy() * 2}, MODULES, "'communication' appears more than once"),
        ({}, [*MODULES, ("m1", "Again", "")], "module ids requested more than once: ['m1']"),
        ({}, [("", "No id", "")], "module 0 has an empty module_id"),
        ({"max_tags_per_module": -1}, MODULES, "max_tags_per_module is -1"),
    ],
)
def test_bad_requests_are_invalid_argument_naming_the_problem(
    start_tagger, fields, modules, problem: str
) -> None:
    _, stub, _ = start_tagger()
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SuggestTags(request(modules, **fields), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem in info.value.details() and "req-1" in info.value.details()


def test_a_batch_over_the_limit_is_refused_and_the_limit_declared(start_tagger) -> None:
    _, stub, _ = start_tagger(max_batch_size=3)
    description = stub.DescribeModel(pb.DescribeTaggerRequest(), timeout=5)
    assert (description.max_batch_size, description.backend) == (3, "tfidf")
    assert description.model_version == MODEL_VERSION
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SuggestTags(request(), timeout=30))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4 modules exceeds max_batch_size 3" in info.value.details()


@pytest.mark.parametrize("service", ["", TAGGING_SERVICE_NAME])
def test_health_is_serving(start_tagger, service: str) -> None:
    _, _, channel = start_tagger()
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- Fault switches, as a raw caller without retries sees them ------------------------------


def test_fail_first_answers_unavailable_then_serves(start_tagger) -> None:
    server, stub, _ = start_tagger(fail_first=2)
    for attempt in (1, 2):
        with pytest.raises(grpc.RpcError) as info:
            list(stub.SuggestTags(request(), timeout=30))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert f"injected failure {attempt} of 2" in info.value.details()
    assert len(list(stub.SuggestTags(request(), timeout=30))) == len(MODULES)
    assert server.servicer.suggest_calls == 3


def test_stall_accepts_and_never_answers(start_tagger) -> None:
    server, stub, _ = start_tagger(stall=True)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SuggestTags(request(), timeout=0.5))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert server.servicer.suggest_calls == 1
    # DescribeModel and health still answer: the server is up, it just never suggests.
    assert stub.DescribeModel(pb.DescribeTaggerRequest(), timeout=5).backend == "tfidf"


def test_batch_delay_holds_every_batch_at_once_before_its_first_reply(start_tagger) -> None:
    server, stub, _ = start_tagger(batch_delay_seconds=1.0)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SuggestTags(request(), timeout=0.3))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Three batches at once: each waits its own fixed time, all held by the server together.
    calls = [stub.SuggestTags(request(request_id=f"req-{n}"), timeout=30) for n in range(3)]
    assert [len(list(call)) for call in calls] == [len(MODULES)] * 3
    assert server.servicer.max_calls_in_flight == 3
    assert server.servicer.calls_in_flight == 0


def test_faults_only_for_spoils_only_the_requests_naming_those_modules(start_tagger) -> None:
    server, stub, _ = start_tagger(fail_first=1, garbage="unknown-tag", faults_only_for=["m3"])
    clean = list(stub.SuggestTags(request(MODULES[:2]), timeout=30))
    assert all(UNKNOWN_TAG_ID not in [t.tag_id for t in r.tags] for r in clean)
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SuggestTags(request(MODULES[2:]), timeout=30))
    assert "injected failure 1 of 1" in info.value.details()
    spoilt = list(stub.SuggestTags(request(MODULES[2:]), timeout=30))
    assert UNKNOWN_TAG_ID in [t.tag_id for t in spoilt[0].tags]
    assert list(stub.SuggestTags(request(MODULES[:2]), timeout=30)) == clean
    assert (server.servicer.suggest_calls, server.servicer.faulty_calls) == (4, 2)


def test_the_stand_in_backend_answers_every_module_with_taxonomy_tags(start_tagger) -> None:
    _, stub, _ = start_tagger(backend=StandInBackend())
    replies = list(stub.SuggestTags(request(), timeout=30))
    assert [r.module_id for r in replies] == ["m1", "m2", "m3", "m4"]
    known = {tag.tag_id for tag in taxonomy()}
    for reply in replies:
        ids = [tag.tag_id for tag in reply.tags]
        assert 1 <= len(ids) == len(set(ids)) <= MAX_TAGS_PER_MODULE and set(ids) <= known
        assert all(0 <= tag.confidence <= 1 for tag in reply.tags) and reply.rationale
    assert list(stub.SuggestTags(request(), timeout=30)) == replies  # deterministic
    assert stub.DescribeModel(pb.DescribeTaggerRequest(), timeout=5).backend == "stand-in"
    assert build_backend(parse_args(["--backend", "stand-in"])).name == "stand-in"


def garbage_replies(
    start_tagger, mode: str
) -> tuple[list[pb.SuggestTagsReply], grpc.RpcError | None]:
    _, stub, _ = start_tagger(garbage=mode)
    replies: list[pb.SuggestTagsReply] = []
    try:
        for reply in stub.SuggestTags(request(), timeout=30):
            replies.append(reply)
    except grpc.RpcError as exc:
        return replies, exc
    return replies, None


def test_garbage_unknown_tag(start_tagger) -> None:
    replies, error = garbage_replies(start_tagger, "unknown-tag")
    assert error is None and len(replies) == len(MODULES)
    assert UNKNOWN_TAG_ID in [t.tag_id for t in replies[0].tags]
    assert all(UNKNOWN_TAG_ID not in [t.tag_id for t in r.tags] for r in replies[1:])


def test_garbage_confidence_out_of_range(start_tagger) -> None:
    replies, _ = garbage_replies(start_tagger, "confidence-out-of-range")
    assert replies[0].tags[0].confidence == pytest.approx(OUT_OF_RANGE_CONFIDENCE)
    assert all(0 <= t.confidence <= 1 for r in replies[1:] for t in r.tags)


def test_garbage_duplicate_tags(start_tagger) -> None:
    replies, _ = garbage_replies(start_tagger, "duplicate-tags")
    ids = [t.tag_id for t in replies[0].tags]
    assert len(ids) == len(set(ids)) + 1


def test_garbage_too_many_tags(start_tagger) -> None:
    replies, _ = garbage_replies(start_tagger, "too-many-tags")
    assert len(replies[0].tags) == MAX_TAGS_PER_MODULE + 1
    assert not replies[0].abstained


def test_garbage_missing_extra_and_repeated_modules(start_tagger) -> None:
    missing, _ = garbage_replies(start_tagger, "missing-module")
    assert [r.module_id for r in missing] == ["m1", "m2", "m3"]
    extra, _ = garbage_replies(start_tagger, "extra-module")
    assert [r.module_id for r in extra] == ["m1", "m2", "m3", "m4", EXTRA_MODULE_ID]
    repeated, _ = garbage_replies(start_tagger, "repeated-module")
    assert [r.module_id for r in repeated] == ["m1", "m1", "m2", "m3", "m4"]


def test_garbage_cut_short_breaks_the_stream_after_half(start_tagger) -> None:
    replies, error = garbage_replies(start_tagger, "cut-short")
    assert [r.module_id for r in replies] == ["m1", "m2"]
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cut short after 2 of 4 replies" in error.details()


def test_garbage_modes_combine_and_unknown_modes_are_refused(start_tagger) -> None:
    replies, _ = garbage_replies(start_tagger, "unknown-tag,extra-module")
    assert UNKNOWN_TAG_ID in [t.tag_id for t in replies[0].tags]
    assert replies[-1].module_id == EXTRA_MODULE_ID
    assert parse_garbage(",".join(GARBAGE_MODES)) == GARBAGE_MODES
    with pytest.raises(ValueError, match="unknown garbage modes \\['nonsense'\\]"):
        start_tagger(garbage="nonsense")


# --- The command line -----------------------------------------------------------------------


def start_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "model_servers.tagging", "--port", "0", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    assert line.startswith("LISTENING 127.0.0.1:"), (line, process.stderr.read())
    return process, line.removeprefix("LISTENING ")


def test_cli_serves_with_its_switches_and_stops_on_sigterm() -> None:
    process, target = start_cli(
        "--fail-first", "1", "--max-batch-size", "50", "--batch-delay-seconds", "0.05"
    )
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.TaggingModelStub(channel)
            assert stub.DescribeModel(pb.DescribeTaggerRequest(), timeout=10).max_batch_size == 50
            with pytest.raises(grpc.RpcError) as info:
                list(stub.SuggestTags(request(), timeout=30))
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert len(list(stub.SuggestTags(request(), timeout=30))) == len(MODULES)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_cli_exits_when_its_parent_closes_stdin() -> None:
    process, _ = start_cli("--exit-on-stdin-eof", "--stall")
    process.stdin.close()
    assert process.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--backend", "chat"], "--backend chat needs --chat-base-url and --chat-model"),
        (
            ["--backend", "chat", "--chat-base-url", "http://127.0.0.1:9/v1", "--chat-model", "m"]
            + ["--chat-api-key-env", "FIELDWORK_TEST_KEY_NOBODY_SET"],
            "FIELDWORK_TEST_KEY_NOBODY_SET, which is not set",
        ),
        (["--garbage", "unknown-tag,nonsense"], "unknown garbage modes ['nonsense']"),
        (["--batch-delay-seconds", "-1"], "--batch-delay-seconds must be 0 or more, got -1"),
        (["--faults-only-for", " , "], "no module id in ' , '"),
    ],
)
def test_cli_refuses_unusable_options(args: list[str], problem: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FIELDWORK_TEST_KEY_NOBODY_SET"}
    done = subprocess.run(
        [sys.executable, "-m", "model_servers.tagging", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and problem in done.stderr
    assert DEFAULT_MAX_BATCH_SIZE == 10_000
