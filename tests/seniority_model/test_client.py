"""The `SeniorityModel` resource against real servers: batching, retries, failures, lifecycle."""

from __future__ import annotations

import math

import dagster as dg
import grpc
import pytest

from model_servers.seniority.classifier import MODEL_VERSION
from protos import seniority_pb2 as pb
from protos import seniority_pb2_grpc as pb_grpc
from resources.seniority_model import (
    SeniorityModel,
    SeniorityModelError,
    SeniorityModelUnavailable,
)
from tests.helpers import closed_port, pid_listening_on, process_alive

FAST_RETRIES = dict(initial_backoff_seconds=0.05, max_backoff_seconds=0.2, backoff_multiplier=2.0)


def pairs(n: int) -> tuple[list[str], list[str]]:
    titles = [
        "Barista",
        "Junior Developer",
        "Software Engineer",
        "Engineering Manager",
        "Director of Sales",
        "VP Marketing",
        "CEO",
    ]
    return [f"company {i}" for i in range(n)], [titles[i % 7] for i in range(n)]


def test_batches_of_batch_size_in_order(start_server) -> None:
    server, target = start_server()
    companies, titles = pairs(2500)
    with SeniorityModel(endpoint=target, batch_size=1000).connect() as model:
        levels, confidences = model.infer(companies, titles)
        assert model.calls == 3 and model.items_sent == 2500
        assert model.model_version == MODEL_VERSION
    assert levels == [(i % 7) + 1 for i in range(2500)]
    assert len(confidences) == 2500 and all(0 < c <= 1 for c in confidences)
    assert server.servicer.infer_calls == 3


@pytest.mark.parametrize(
    ("configured", "server_limit", "effective"),
    [
        (1000, 300, 300),  # the server's limit wins: 1,000 pairs would be refused
        (200, 300, 200),  # ours is already smaller
        (250, 0, 250),  # the server declares no limit
    ],
)
def test_batch_size_is_the_size_really_sent(
    start_server, configured: int, server_limit: int, effective: int
) -> None:
    server, target = start_server(max_batch_size=server_limit)
    items = 700
    with SeniorityModel(endpoint=target, batch_size=configured).connect() as model:
        assert model.batch_size == effective
        levels, _ = model.infer(*pairs(items))
        assert model.calls == math.ceil(items / model.batch_size)
        assert (model.items_sent, len(levels)) == (items, items)
    assert server.servicer.infer_calls == model.calls  # no batch refused, none retried


def test_empty_input_makes_no_call(start_server) -> None:
    _, target = start_server()
    with SeniorityModel(endpoint=target).connect() as model:
        assert model.infer([], []) == ([], [])
        assert model.calls == 0


def test_mismatched_lengths_rejected_before_sending(start_server) -> None:
    server, target = start_server()
    with SeniorityModel(endpoint=target).connect() as model:
        with pytest.raises(ValueError, match="same length"):
            model.infer(["a", "b"], ["CEO"])
    assert server.servicer.infer_calls == 0


def test_grpc_retry_policy_recovers_from_unavailable(start_server) -> None:
    server, target = start_server(fail_first=2)
    with SeniorityModel(endpoint=target, **FAST_RETRIES).connect() as model:
        assert model.infer(["acme"], ["Chief Executive Officer"])[0] == [7]
        assert model.calls == 1
    assert server.servicer.infer_calls == 3  # two UNAVAILABLE answers, then success


def test_retries_give_up_after_max_attempts(start_server) -> None:
    server, target = start_server(fail_first=100)
    with SeniorityModel(endpoint=target, max_attempts=3, **FAST_RETRIES).connect() as model:
        with pytest.raises(SeniorityModelUnavailable) as info:
            model.infer(["acme"], ["CEO"])
    assert server.servicer.infer_calls == 3
    assert target in str(info.value) and "StatusCode.UNAVAILABLE" in str(info.value)
    assert "after 3 attempts" in str(info.value)


def test_closed_port_fails_at_connect_and_names_the_target() -> None:
    target = f"127.0.0.1:{closed_port()}"
    config = SeniorityModel(endpoint=target, deadline_seconds=2.0, connect_timeout_seconds=1.0)
    with pytest.raises(SeniorityModelUnavailable) as info:
        with config.connect():
            pass
    message = str(info.value)
    assert message.startswith(f"seniority model at {target} not SERVING after 1 s")
    assert "StatusCode.UNAVAILABLE" in message  # the real reason, not just "no answer"


def test_server_gone_after_connect_raises_unavailable(start_server) -> None:
    server, target = start_server()
    config = SeniorityModel(endpoint=target, deadline_seconds=2.0, **FAST_RETRIES)
    with config.connect() as model:
        server.stop(grace=None).wait()
        with pytest.raises(SeniorityModelUnavailable) as info:
            model.infer(["acme"], ["CEO"])
    message = str(info.value)
    assert message.startswith(f"seniority model at {target} unavailable after 5 attempts")
    assert "StatusCode.UNAVAILABLE" in message


def test_server_that_never_answers_fails_at_the_deadline(start_server) -> None:
    server, target = start_server(delay_seconds=3.0)
    config = SeniorityModel(endpoint=target, deadline_seconds=0.5, **FAST_RETRIES)
    with config.connect() as model:
        with pytest.raises(SeniorityModelUnavailable) as info:
            model.infer(["acme"], ["CEO"])
    message = str(info.value)
    assert message.startswith(f"seniority model at {target} did not answer within the 0.5 s")
    assert "StatusCode.DEADLINE_EXCEEDED" in message
    assert server.servicer.infer_calls == 1  # one deadline for all attempts: no retry after it


class _BadModel(pb_grpc.SeniorityModelServicer):
    def __init__(self, answer: pb.InferSeniorityResponse) -> None:
        self.answer = answer

    def InferSeniority(self, request, context):
        return self.answer

    def DescribeModel(self, request, context):
        return pb.ModelDescription(model_version="bad-1", max_batch_size=10)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (pb.InferSeniorityResponse(levels=[3], confidences=[0.5]), "got 1 levels"),
        (pb.InferSeniorityResponse(levels=[3, 9], confidences=[0.5, 0.5]), "outside 1..7"),
        (pb.InferSeniorityResponse(levels=[3, 0], confidences=[0.5, 0.5]), "outside 1..7"),
    ],
)
def test_untrustworthy_answers_are_refused(answer, problem: str) -> None:
    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_SeniorityModelServicer_to_server(_BadModel(answer), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        # no health service on this server: the client logs it and carries on
        with SeniorityModel(endpoint=f"127.0.0.1:{port}").connect() as model:
            with pytest.raises(SeniorityModelError, match=problem):
                model.infer(["a", "b"], ["CEO", "Barista"])
            assert model.calls == 0 and model.items_sent == 0
    finally:
        server.stop(grace=None)


def test_local_default_starts_and_stops_the_reference_server() -> None:
    with SeniorityModel(endpoint=None).connect() as model:
        assert model.target.startswith("127.0.0.1:")
        assert model.infer(["acme"], ["Head of People"])[0] == [5]
        pid = pid_listening_on(model.target)
    assert not process_alive(pid), f"reference server pid {pid} still running"


def test_local_server_is_stopped_when_the_block_raises() -> None:
    with pytest.raises(KeyError):
        with SeniorityModel(endpoint=None).connect() as model:
            pid = pid_listening_on(model.target)
            raise KeyError("boom")
    assert not process_alive(pid)


def test_service_config_asks_grpc_to_retry() -> None:
    config = SeniorityModel(max_attempts=9).service_config()
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["maxAttempts"] == 5  # gRPC's cap
    assert set(policy["retryableStatusCodes"]) == {
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
    }
    assert "retryPolicy" not in SeniorityModel(max_attempts=1).service_config()["methodConfig"][0]


def test_works_as_a_dagster_resource(start_server) -> None:
    _, target = start_server()

    @dg.asset
    def levels(seniority_model: SeniorityModel) -> list[int]:
        with seniority_model.connect() as model:
            return model.infer(["acme"], ["Crew Member"])[0]

    resources = {"seniority_model": SeniorityModel(endpoint=target)}
    result = dg.materialize([levels], resources=resources)
    assert result.output_for_node("levels") == [1]


def test_local_server_that_cannot_start_reports_its_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys, "executable", "/bin/sh")  # `sh -m ...` fails at once
    with pytest.raises(SeniorityModelUnavailable) as info:
        with SeniorityModel(endpoint=None, connect_timeout_seconds=5).connect():
            pass
    message = str(info.value)
    assert "exited with code" in message and "stderr:" in message
    assert len(message.split("stderr:", 1)[1].strip()) > 0
