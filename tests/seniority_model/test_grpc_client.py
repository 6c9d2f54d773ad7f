"""The gRPC foundation is generic: clients of other services get channel, retries, health
wait, error mapping, counters and the local reference server without code of their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import grpc
import pytest
from grpc_health.v1 import health_pb2

from protos import seniority_pb2 as pb
from protos import seniority_pb2_grpc as pb_grpc
from protos.contract import SENIORITY_SERVICE_NAME
from resources.grpc_client import (
    GrpcClient,
    GrpcClientResource,
    ModelRejected,
    ModelServiceError,
    ModelUnavailable,
)
from resources.seniority_model import SeniorityModelError, SeniorityModelUnavailable
from tests.helpers import pid_listening_on, process_alive

FAST_RETRIES = dict(initial_backoff_seconds=0.05, max_backoff_seconds=0.2, backoff_multiplier=2.0)


class HealthProbe(GrpcClientResource):
    """A second client that knows nothing of seniority: it asks the standard health service."""

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = ("grpc.health.v1.Health",)
    REFERENCE_SERVER_MODULE: ClassVar[str] = "model_servers.seniority"
    DISPLAY_NAME: ClassVar[str] = "health probe"

    @contextmanager
    def connect(self) -> Iterator[HealthProbeClient]:
        with self.open_client(HealthProbeClient) as client:
            yield client


class HealthProbeClient(GrpcClient):
    def status(self, service: str = "") -> str:
        reply = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        self.calls += 1
        self.items_sent += 1
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


class RawSeniority(GrpcClientResource):
    """A bare client of the seniority service: no batching, no answer checks of its own."""

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = (SENIORITY_SERVICE_NAME,)
    DISPLAY_NAME: ClassVar[str] = "raw seniority"

    @contextmanager
    def connect(self) -> Iterator[RawSeniorityClient]:
        with self.open_client(RawSeniorityClient) as client:
            yield client


class RawSeniorityClient(GrpcClient):
    def infer(self, companies: list[str], titles: list[str]) -> list[int]:
        stub = pb_grpc.SeniorityModelStub(self._channel)
        request = pb.InferSeniorityRequest(companies=companies, titles=titles)
        reply = self._call(stub.InferSeniority, request)
        self.calls += 1
        self.items_sent += len(titles)
        return list(reply.levels)


def test_another_client_starts_its_reference_server_and_counts_calls() -> None:
    # "grpc.health.v1.Health" is not a name the server's health service knows: NOT_FOUND
    # makes the wait fall back to the overall health ("").
    with HealthProbe(endpoint=None).connect() as probe:
        assert probe.target.startswith("127.0.0.1:")
        assert [probe.status(), probe.status(SENIORITY_SERVICE_NAME)] == ["SERVING"] * 2
        assert (probe.calls, probe.items_sent) == (2, 2)
        pid = pid_listening_on(probe.target)
    assert not process_alive(pid), f"reference server pid {pid} still running"


def test_retry_policy_applies_to_the_declared_service(start_server) -> None:
    server, target = start_server(fail_first=2)
    with RawSeniority(endpoint=target, **FAST_RETRIES).connect() as client:
        assert client.infer(["acme"], ["CEO"]) == [7]
        assert (client.calls, client.items_sent) == (1, 1)
    assert server.servicer.infer_calls == 3  # two UNAVAILABLE answers, then success


def test_retryable_failures_end_as_unavailable_naming_target_and_attempts(start_server) -> None:
    server, target = start_server(fail_first=100)
    config = RawSeniority(endpoint=target, max_attempts=2, **FAST_RETRIES)
    with config.connect() as client:
        with pytest.raises(ModelUnavailable) as info:
            client.infer(["acme"], ["CEO"])
        assert client.calls == 0
    message = str(info.value)
    assert message.startswith(f"raw seniority at {target} unavailable after 2 attempts: ")
    assert "StatusCode.UNAVAILABLE" in message and "injected failure" in message
    assert server.servicer.infer_calls == 2


def test_a_refused_call_is_rejected_at_once(start_server) -> None:
    server, target = start_server(max_batch_size=1)
    with RawSeniority(endpoint=target, **FAST_RETRIES).connect() as client:
        with pytest.raises(ModelRejected) as info:
            client.infer(["a", "b"], ["CEO", "Barista"])
    message = str(info.value)
    assert message.startswith(f"raw seniority at {target} rejected the call: ")
    assert "StatusCode.INVALID_ARGUMENT" in message and "max_batch_size 1" in message
    assert server.servicer.infer_calls == 1  # not retried


def test_a_server_that_is_not_serving_is_refused_at_connect(start_server) -> None:
    server, target = start_server()
    server.health.set(SENIORITY_SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    config = RawSeniority(endpoint=target, connect_timeout_seconds=0.3)
    with pytest.raises(ModelUnavailable, match="health status NOT_SERVING") as info:
        with config.connect():
            pass
    assert str(info.value).startswith(f"raw seniority at {target} not SERVING after 0.3 s")


def test_no_endpoint_and_no_reference_server_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="no reference server module"):
        with RawSeniority(endpoint=None).connect():
            pass


def test_one_error_family_and_the_old_seniority_names() -> None:
    assert issubclass(ModelUnavailable, ModelServiceError)
    assert issubclass(ModelRejected, ModelServiceError)
    assert SeniorityModelUnavailable is ModelUnavailable
    assert SeniorityModelError is ModelServiceError
    assert issubclass(ModelServiceError, RuntimeError)


def test_channel_options_carry_the_retry_policy_of_the_declared_services() -> None:
    options = dict(HealthProbe(max_attempts=3).channel_options())
    assert options["grpc.enable_retries"] == 1
    (method_config,) = json.loads(str(options["grpc.service_config"]))["methodConfig"]
    assert method_config["name"] == [{"service": "grpc.health.v1.Health"}]
    assert method_config["retryPolicy"]["maxAttempts"] == 3
    assert dict(HealthProbe(max_attempts=1).channel_options())["grpc.enable_retries"] == 0


def test_raw_grpc_errors_do_not_escape(start_server) -> None:
    server, target = start_server()
    with RawSeniority(endpoint=target, **FAST_RETRIES).connect() as client:
        server.stop(grace=None).wait()
        with pytest.raises(ModelServiceError) as info:
            client.infer(["acme"], ["CEO"])
    assert not isinstance(info.value, grpc.RpcError)
    assert isinstance(info.value.__cause__, grpc.RpcError)  # the gRPC status stays reachable
