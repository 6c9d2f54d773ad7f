"""The chat backend end to end: the local OpenAI-compatible server on loopback, a tagging
server process with `--backend chat` pointing at it, SuggestTags over gRPC. Good answers,
and each way a chat model answers wrongly, reaching the platform's checks as it was said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import polars as pl
import pytest

from assets.training.suggestions import validate_suggestions
from model_servers.openai_compatible.server import (
    DEFAULT_MODEL,
    INVENTED_TAG_ID,
    Fault,
    serve,
)
from model_servers.tagging.answer_schema import (
    ANSWER_SCHEMA,
    UnreadableAnswer,
    parse_answer,
    response_format,
)
from model_servers.tagging.backends import TaggingRequest
from model_servers.tagging.chat import UNREADABLE_OUTPUT_CHARS, ChatBackend
from model_servers.tagging.model import MODEL_VERSION, ModuleText, TaxonomyTag
from protos import tagging_pb2 as pb
from protos import tagging_pb2_grpc as pb_grpc
from resources.tagging_model import ModuleText as ClientModuleText
from resources.tagging_model import TaggingModel
from resources.tagging_model import TaxonomyTag as ClientTaxonomyTag

ROOT = Path(__file__).resolve().parents[2]
TAXONOMIES = ROOT / "model_servers" / "training_catalog" / "taxonomies.json"
API_KEY_VARIABLE = "FIELDWORK_TEST_CHAT_KEY"
API_KEY = "sk-local-test-key"
VERSION = f"chat-{DEFAULT_MODEL}+top5-{MODEL_VERSION}"

GOOD = [
    ("good-1", "Pharmacovigilance 101", "Reporting side effects within the legal deadline."),
    ("good-2", "Negotiating formulary access", "Contracting and pricing with hospital payers."),
    ("good-3", "GDPR for field teams", "Handling prescriber data under GDPR."),
]
FAULTY = [
    ("prose-1", "Handling price objections", "Cost concerns from pharmacists."),
    ("truncated-1", "Reading a forest plot", "Clinical trial results and endpoints."),
    ("unknown-1", "Coaching on field rides", "Leading the regional team."),
    ("range-1", "Remote detailing on video calls", "The CRM and email campaigns."),
    ("dupe-1", "Code of conduct and anti-bribery", "Compliance for field teams."),
]
FAULTS = (
    Fault("prose", "prose-*"),
    Fault("truncated-json", "truncated-*"),
    Fault("unknown-tag", "unknown-*"),
    Fault("confidence-out-of-range", "range-*"),
    Fault("duplicate-tags", "dupe-*"),
    Fault("http-error", "down-*"),
)


def acme_tags() -> list[dict]:
    customers = json.loads(TAXONOMIES.read_text(encoding="utf-8"))["customers"]
    [acme] = [c for c in customers if c["customer_id"] == "acme-pharma"]
    return acme["tags"]


def request(modules, request_id: str = "req-chat") -> pb.SuggestTagsRequest:
    return pb.SuggestTagsRequest(
        customer_id="acme-pharma",
        taxonomy_version="2026-11-01",
        taxonomy=[
            pb.TaxonomyTag(
                tag_id=t["tag_id"],
                label=t["label"],
                description=t["description"],
                aliases=t["aliases"],
            )
            for t in acme_tags()
        ],
        modules=[pb.ModuleText(module_id=i, title=t, description=d) for i, t, d in modules],
        request_id=request_id,
    )


@pytest.fixture(scope="module")
def chat_endpoint() -> Iterator:
    """The local OpenAI-compatible server, with a fault per module-id prefix, needing a key."""
    server, port = serve("127.0.0.1", 0, faults=FAULTS, api_key=API_KEY)
    yield server, f"http://127.0.0.1:{port}/v1"
    server.shutdown()
    server.server_close()


def start_tagger_process(base_url: str, *extra: str, key: str = API_KEY) -> tuple:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "model_servers.tagging",
            "--port",
            "0",
            "--exit-on-stdin-eof",
            "--backend",
            "chat",
            "--chat-base-url",
            base_url,
            "--chat-model",
            DEFAULT_MODEL,
            "--chat-api-key-env",
            API_KEY_VARIABLE,
            "--chat-max-retries",
            "0",
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, API_KEY_VARIABLE: key},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    assert line.startswith("LISTENING "), (line, process.stderr.read())
    return process, line.removeprefix("LISTENING ")


def stop(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def chat_tagger(chat_endpoint) -> Iterator[tuple[str, object]]:
    """A tagging server process with `--backend chat` on the local endpoint: (target, endpoint)."""
    endpoint, base_url = chat_endpoint
    process, target = start_tagger_process(base_url)
    yield target, endpoint
    stop(process)


def suggest(target: str, modules, request_id: str = "req-chat") -> list[pb.SuggestTagsReply]:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.TaggingModelStub(channel)
        return list(stub.SuggestTags(request(modules, request_id), timeout=60))


def test_good_answers_are_the_models_choice_among_a_shortlist(chat_tagger) -> None:
    target, endpoint = chat_tagger
    before = len(endpoint.requests)
    replies = {r.module_id: r for r in suggest(target, GOOD, "req-good")}
    assert set(replies) == {"good-1", "good-2", "good-3"}
    assert replies["good-1"].tags[0].tag_id == "adverse-event-reporting"
    assert replies["good-2"].tags[0].tag_id == "negotiation"
    assert replies["good-3"].tags[0].tag_id == "data-privacy"
    assert all(r.model_version == VERSION and not r.unreadable_output for r in replies.values())
    assert all(0 <= t.confidence <= 1 for r in replies.values() for t in r.tags)

    sent = endpoint.requests[before:]
    assert len(sent) == 3  # one chat request per module
    for body in sent:
        assert body["model"] == DEFAULT_MODEL and body["temperature"] == 0
        assert body["response_format"] == response_format()
        assert body["response_format"]["json_schema"]["schema"] == ANSWER_SCHEMA
        [asked] = json.loads(body["messages"][-1]["content"])["modules"]
        candidates = [c["tag_id"] for c in asked["candidates"]]
        assert len(candidates) == 5 < len(acme_tags())  # a shortlist, not the taxonomy
        answered = [t.tag_id for t in replies[asked["module_id"]].tags]
        assert set(answered) <= set(candidates)


def test_prose_is_unreadable_not_dropped_or_repaired(chat_tagger) -> None:
    target, _ = chat_tagger
    [reply] = suggest(target, [FAULTY[0]])
    assert reply.module_id == "prose-1" and list(reply.tags) == [] and not reply.abstained
    assert reply.unreadable_output.startswith("Sure! Looking at these training modules")
    assert "not JSON" in reply.rationale and reply.model_version == VERSION


def test_truncated_json_is_unreadable_with_its_raw_text(chat_tagger) -> None:
    target, _ = chat_tagger
    [reply] = suggest(target, [FAULTY[1]])
    assert list(reply.tags) == [] and reply.unreadable_output.startswith('{"modules": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.unreadable_output)
    assert "token limit" in reply.rationale


def test_wrong_ids_confidences_and_duplicates_are_passed_through_as_said(chat_tagger) -> None:
    target, _ = chat_tagger
    replies = {r.module_id: r for r in suggest(target, FAULTY[2:])}
    assert INVENTED_TAG_ID in [t.tag_id for t in replies["unknown-1"].tags]
    assert replies["range-1"].tags[0].confidence == pytest.approx(1.7)
    dupes = [t.tag_id for t in replies["dupe-1"].tags]
    assert len(dupes) == len(set(dupes)) + 1
    assert not any(r.unreadable_output for r in replies.values())


def test_the_platforms_checks_name_every_fault_through_the_client(chat_tagger) -> None:
    target, _ = chat_tagger
    modules = [*GOOD, *FAULTY]
    with TaggingModel(endpoint=target).connect() as client:
        assert client.describe().backend == "chat"
        result = client.suggest(
            "acme-pharma",
            "2026-11-01",
            [
                ClientTaxonomyTag(t["tag_id"], t["label"], t["description"], tuple(t["aliases"]))
                for t in acme_tags()
            ],
            [ClientModuleText(i, t, d) for i, t, d in modules],
        )
    assert result.replies_received == len(modules) and not result.cut_short
    requested = pl.DataFrame(
        {"module_id": [m[0] for m in modules], "content_hash": ["h"] * len(modules)}
    )
    validation = validate_suggestions(
        requested, result.replies, [t["tag_id"] for t in acme_tags()], cut_short=result.cut_short
    )
    failing = {
        check: sorted(validation.failing(check)["module_id"].to_list())
        for check in ("schema", "taxonomy", "confidence_range", "duplicate_tags")
    }
    assert failing == {
        "schema": ["prose-1", "truncated-1"],
        "taxonomy": ["unknown-1"],
        "confidence_range": ["range-1"],
        "duplicate_tags": ["dupe-1"],
    }
    assert sorted(validation.valid["module_id"].to_list()) == ["good-1", "good-2", "good-3"]
    raw = validation.failing("schema").filter(pl.col("module_id") == "prose-1")["value"][0]
    assert raw.startswith("Sure!")  # the raw output is what the check shows


def test_an_endpoint_that_keeps_failing_ends_the_call_unavailable(chat_tagger) -> None:
    target, _ = chat_tagger
    with pytest.raises(grpc.RpcError) as info:
        suggest(target, [("down-1", "Anything", "")], "req-down")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    details = info.value.details()
    assert "req-down" in details and "chat endpoint http://127.0.0.1:" in details
    assert "503" in details and "down-1" in details


def test_a_wrong_api_key_is_a_failed_precondition(chat_endpoint) -> None:
    _, base_url = chat_endpoint
    process, target = start_tagger_process(base_url, key="sk-wrong")
    try:
        with pytest.raises(grpc.RpcError) as info:
            suggest(target, GOOD[:1])
    finally:
        stop(process)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "401" in info.value.details() and "AuthenticationError" in info.value.details()


# --- The backend in this process: batches and the strict reading of an answer ---------------


def tagging_request(modules) -> TaggingRequest:
    return TaggingRequest(
        customer_id="acme-pharma",
        taxonomy=tuple(
            TaxonomyTag(t["tag_id"], t["label"], t["description"], tuple(t["aliases"]))
            for t in acme_tags()
        ),
        modules=tuple(ModuleText(i, t, d) for i, t, d in modules),
        approved=(),
        max_tags=5,
    )


def test_a_batch_shares_one_request_and_one_unreadable_answer(chat_endpoint) -> None:
    endpoint, base_url = chat_endpoint
    backend = ChatBackend(base_url, DEFAULT_MODEL, API_KEY, batch_size=3, shortlist_size=3)
    before = len(endpoint.requests)
    modules = [*GOOD[:2], FAULTY[0], *GOOD[2:]]  # the prose module lands in the first batch
    replies = {r.module_id: r for r in backend.suggest(tagging_request(modules))}
    assert len(endpoint.requests) - before == 2  # 4 modules in batches of 3
    first_batch = ["good-1", "good-2", "prose-1"]
    assert all(replies[m].unreadable_output.startswith("Sure!") for m in first_batch)
    assert replies["good-3"].tags[0].tag_id == "data-privacy"
    for body in endpoint.requests[before:]:
        for module in json.loads(body["messages"][-1]["content"])["modules"]:
            assert len(module["candidates"]) == 3


def test_unreadable_output_is_cut_to_two_thousand_characters(chat_endpoint) -> None:
    _, base_url = chat_endpoint
    backend = ChatBackend(base_url, DEFAULT_MODEL, API_KEY, batch_size=50)
    # Half of 50 modules' answer, cut at the token limit, is well over 2,000 characters.
    modules = [(f"truncated-{i}", f"Objection handling part {i}", "") for i in range(50)]
    replies = list(backend.suggest(tagging_request(modules)))
    assert len(replies) == 50
    assert all(len(r.unreadable_output) == UNREADABLE_OUTPUT_CHARS for r in replies)
    assert replies[0].unreadable_output.startswith('{"modules": [{"module_id": "truncated-0"')


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Here you go: communication", "not JSON"),
        ('{"modules": [{"module_id": "m1", "tags": [', "not JSON"),
        ('{"modules": [{"module_id": "m1", "tags": [], "rationale": NaN}]}', "not JSON"),
        ('{"modules": []', "not JSON"),
        ('{"modules": [{"module_id": "m1", "tags": []}]}', "lacks 'rationale'"),
        ('{"modules": [{"module_id": 7, "tags": [], "rationale": ""}]}', "module_id is int"),
        (
            '{"modules": [{"module_id": "m1", "tags": [{"tag_id": "x", "confidence": "high"}],'
            ' "rationale": ""}]}',
            "confidence is str, expected number",
        ),
        ('{"modules": [], "note": "extra"}', "unexpected key 'note'"),
        ('[{"module_id": "m1"}]', "$ is list, expected object"),
    ],
)
def test_answers_are_read_strictly(text: str, problem: str) -> None:
    with pytest.raises(UnreadableAnswer, match=problem.replace("$", r"\$")):
        parse_answer(text)


def test_values_the_platform_judges_are_not_judged_when_reading() -> None:
    answer = parse_answer(
        '{"modules": [{"module_id": "m1", "rationale": "r", "tags": ['
        '{"tag_id": "no-such-tag", "confidence": 1.7}, '
        '{"tag_id": "no-such-tag", "confidence": -2}]}]}'
    )
    assert answer["modules"][0]["tags"][1] == {"tag_id": "no-such-tag", "confidence": -2}


def test_the_local_endpoint_runs_from_the_command_line() -> None:
    import openai

    process = subprocess.Popen(
        [sys.executable, "-m", "model_servers.openai_compatible", "--port", "0"]
        + ["--exit-on-stdin-eof", "--api-key-env", API_KEY_VARIABLE, "--fault", "prose=p*"],
        cwd=ROOT,
        env={**os.environ, API_KEY_VARIABLE: API_KEY},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("LISTENING 127.0.0.1:")
        client = openai.OpenAI(
            base_url=f"http://{line.removeprefix('LISTENING ')}/v1", api_key=API_KEY, max_retries=0
        )
        assert [m.id for m in client.models.list()] == [DEFAULT_MODEL]
        with pytest.raises(openai.BadRequestError, match="strict: true"):
            client.chat.completions.create(
                model=DEFAULT_MODEL,
                messages=[{"role": "user", "content": '{"modules": []}'}],
                response_format={"type": "json_schema", "json_schema": {"name": "x"}},
            )
    finally:
        stop(process)
    assert process.returncode == 0


def test_an_unknown_fault_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault mode 'gibberish'"):
        Fault.parse("gibberish=m1")
    assert Fault.parse("prose=m-2*") == Fault("prose", "m-2*")
    assert Fault.parse("duplicate-tags").applies_to("anything")
