"""The gRPC server around the rule classifier, with fault switches for client tests.

`fail_first` and `delay_seconds` let tests reproduce the failures the client must
survive (a flapping server, a server that never answers) on a real socket;
`max_batch_size` (0: no limit declared) shows whether the client honours the server's limit.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from model_servers.seniority.classifier import MODEL_VERSION, classify
from protos import seniority_pb2, seniority_pb2_grpc
from protos.contract import MAX_MESSAGE_BYTES, SENIORITY_SERVICE_NAME

DEFAULT_MAX_BATCH_SIZE = 10_000  # `max_batch_size=0`: no limit, and DescribeModel declares 0


class SeniorityModelServicer(seniority_pb2_grpc.SeniorityModelServicer):
    """Answers InferSeniority and DescribeModel; counts calls so tests can see retries."""

    def __init__(
        self,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        fail_first: int = 0,
        delay_seconds: float = 0.0,
        model_version: str = MODEL_VERSION,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.fail_first = fail_first
        self.delay_seconds = delay_seconds
        self.model_version = model_version
        self._lock = threading.Lock()
        self.infer_calls = 0  # every InferSeniority attempt that reached the server

    def InferSeniority(
        self, request: seniority_pb2.InferSeniorityRequest, context: grpc.ServicerContext
    ) -> seniority_pb2.InferSeniorityResponse:
        with self._lock:
            self.infer_calls += 1
            attempt = self.infer_calls
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if attempt <= self.fail_first:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"injected failure {attempt} of {self.fail_first} (--fail-first)",
            )
        n_companies, n_titles = len(request.companies), len(request.titles)
        if n_companies != n_titles:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"companies and titles must have the same length, got {n_companies} "
                f"companies and {n_titles} titles",
            )
        if 0 < self.max_batch_size < n_titles:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch of {n_titles} pairs exceeds max_batch_size {self.max_batch_size}",
            )
        levels, confidences = classify(request.titles)
        return seniority_pb2.InferSeniorityResponse(
            levels=levels, confidences=confidences, model_version=self.model_version
        )

    def DescribeModel(
        self, request: seniority_pb2.DescribeModelRequest, context: grpc.ServicerContext
    ) -> seniority_pb2.ModelDescription:
        return seniority_pb2.ModelDescription(
            model_version=self.model_version, max_batch_size=self.max_batch_size
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_workers: int = 8,
    **options: object,
) -> tuple[grpc.Server, int]:
    """Start a server in this process; returns it (already started) and its bound port.

    `options` go to `SeniorityModelServicer` (max_batch_size, fail_first, delay_seconds,
    model_version); the servicer is reachable as `server.servicer` for assertions.
    """
    servicer = SeniorityModelServicer(**options)  # type: ignore[arg-type]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="seniority"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    seniority_pb2_grpc.add_SeniorityModelServicer_to_server(servicer, server)

    health_servicer = health.HealthServicer()
    for name in ("", SENIORITY_SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"seniority model server could not bind {host}:{port}")
    server.start()
    server.servicer = servicer  # type: ignore[attr-defined]
    server.health = health_servicer  # type: ignore[attr-defined]
    return server, bound
