"""The reference server on a real loopback socket: contract, validation, health, CLI."""

from __future__ import annotations

import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from model_servers.codegen import PROJECT_ROOT
from model_servers.seniority.classifier import MODEL_VERSION
from protos import seniority_pb2 as pb
from protos import seniority_pb2_grpc as pb_grpc
from protos.contract import SENIORITY_SERVICE_NAME


@pytest.fixture
def stub(start_server):
    def make(**options):
        server, target = start_server(**options)
        channel = grpc.insecure_channel(target)
        return server, pb_grpc.SeniorityModelStub(channel), channel

    return make


def test_infer_answers_pair_by_pair(stub) -> None:
    _, model, _ = stub()
    reply = model.InferSeniority(
        pb.InferSeniorityRequest(companies=["acme", "acme"], titles=["CEO", "Barista"]), timeout=5
    )
    assert list(reply.levels) == [7, 1]
    assert len(reply.confidences) == 2 and reply.model_version.startswith("rules-")


def test_empty_batch_is_fine(stub) -> None:
    _, model, _ = stub()
    reply = model.InferSeniority(pb.InferSeniorityRequest(), timeout=5)
    assert list(reply.levels) == [] and list(reply.confidences) == []


def test_mismatched_lengths_are_invalid_argument(stub) -> None:
    _, model, _ = stub()
    with pytest.raises(grpc.RpcError) as info:
        model.InferSeniority(
            pb.InferSeniorityRequest(companies=["a", "b"], titles=["CEO"]), timeout=5
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2 companies and 1 titles" in info.value.details()


def test_batch_over_max_is_invalid_argument(stub) -> None:
    _, model, _ = stub(max_batch_size=10)
    description = model.DescribeModel(pb.DescribeModelRequest(), timeout=5)
    assert description.max_batch_size == 10
    with pytest.raises(grpc.RpcError) as info:
        model.InferSeniority(pb.InferSeniorityRequest(companies=["a"] * 11, titles=["x"] * 11))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_batch_size 10" in info.value.details()


def test_describe_model(stub) -> None:
    _, model, _ = stub()
    description = model.DescribeModel(pb.DescribeModelRequest(), timeout=5)
    assert description.model_version == MODEL_VERSION
    assert description.max_batch_size == 10_000


@pytest.mark.parametrize("service", ["", SENIORITY_SERVICE_NAME])
def test_health_is_serving(stub, service: str) -> None:
    _, _, channel = stub()
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_fail_first_answers_unavailable_then_serves(stub) -> None:
    server, model, _ = stub(fail_first=1)
    request = pb.InferSeniorityRequest(companies=["a"], titles=["CEO"])
    with pytest.raises(grpc.RpcError) as info:
        model.InferSeniority(request, timeout=5)  # this channel has no retry policy
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert list(model.InferSeniority(request, timeout=5).levels) == [7]
    assert server.servicer.infer_calls == 2


def test_cli_prints_listening_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "model_servers.seniority", "--host", "127.0.0.1", "--port", "0"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("LISTENING 127.0.0.1:"), (line, process.stderr)
        channel = grpc.insecure_channel(line.removeprefix("LISTENING "))
        reply = pb_grpc.SeniorityModelStub(channel).InferSeniority(
            pb.InferSeniorityRequest(companies=["a"], titles=["VP, Sales"]), timeout=10
        )
        assert list(reply.levels) == [6]
        channel.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
