"""The gRPC server around a tagging backend, with fault switches for client tests.

SuggestTags streams one reply per module as each is ready. The switches reproduce what the
client and the platform must survive on a real socket: a flapping server (`fail_first`),
one that accepts a call and never answers (`stall`), one that is slow but steady
(`seconds_per_module`), and one that answers wrongly (`garbage`, see faults.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from model_servers.tagging.backends import (
    Backend,
    BackendRefused,
    BackendUnavailable,
    BadRequest,
    TfidfBackend,
    read_request,
)
from model_servers.tagging.faults import CutShort, garble, parse_garbage
from protos import tagging_pb2, tagging_pb2_grpc
from protos.contract import MAX_MESSAGE_BYTES, TAGGING_SERVICE_NAME

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 10_000  # `max_batch_size=0`: no limit, and DescribeModel declares 0


class TaggingModelServicer(tagging_pb2_grpc.TaggingModelServicer):
    """Answers SuggestTags and DescribeModel; counts calls so tests can see retries."""

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        fail_first: int = 0,
        stall: bool = False,
        seconds_per_module: float = 0.0,
        garbage: tuple[str, ...] | str = (),
    ) -> None:
        self.backend = backend or TfidfBackend()
        self.max_batch_size = max_batch_size
        self.fail_first = fail_first
        self.stall = stall
        self.seconds_per_module = seconds_per_module
        self.garbage = parse_garbage(garbage) if isinstance(garbage, str) else garbage
        parse_garbage(",".join(self.garbage))  # refuse an unknown mode now, not per call
        self._lock = threading.Lock()
        self.suggest_calls = 0  # every SuggestTags attempt that reached the server

    def SuggestTags(
        self, request: tagging_pb2.SuggestTagsRequest, context: grpc.ServicerContext
    ) -> Iterator[tagging_pb2.SuggestTagsReply]:
        with self._lock:
            self.suggest_calls += 1
            attempt = self.suggest_calls
        ended = threading.Event()  # set when the call ends: done, cancelled or past deadline
        if not context.add_callback(ended.set):
            return  # the call has already ended
        if attempt <= self.fail_first:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"injected failure {attempt} of {self.fail_first} (--fail-first)",
            )
        if self.stall:
            ended.wait()  # accept the call and never answer; free the thread once it ends
            return
        n_modules = len(request.modules)
        if 0 < self.max_batch_size < n_modules:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch of {n_modules} modules exceeds max_batch_size {self.max_batch_size}",
            )
        try:
            asked = read_request(request)
        except BadRequest as exc:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"request {request.request_id!r}: {exc}"
            )
        log.info(
            "request %s: %d modules of customer %s",
            request.request_id,
            n_modules,
            asked.customer_id,
        )
        try:
            for reply in garble(self.backend.suggest(asked), asked, self.garbage):
                if self.seconds_per_module and ended.wait(self.seconds_per_module):
                    return  # the client went away while we were slow
                if not context.is_active():
                    return
                yield reply
        except CutShort as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except BackendUnavailable as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"request {request.request_id!r}: {exc}")
        except BackendRefused as exc:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"request {request.request_id!r}: {exc}"
            )

    def DescribeModel(
        self, request: tagging_pb2.DescribeTaggerRequest, context: grpc.ServicerContext
    ) -> tagging_pb2.TaggerDescription:
        return tagging_pb2.TaggerDescription(
            model_version=self.backend.model_version,
            max_batch_size=self.max_batch_size,
            backend=self.backend.name,
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_workers: int = 8,
    **options: object,
) -> tuple[grpc.Server, int]:
    """Start a server in this process; returns it (already started) and its bound port.

    `options` go to `TaggingModelServicer` (backend, max_batch_size, fail_first, stall,
    seconds_per_module, garbage); the servicer is reachable as `server.servicer`.
    """
    servicer = TaggingModelServicer(**options)  # type: ignore[arg-type]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tagging"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    tagging_pb2_grpc.add_TaggingModelServicer_to_server(servicer, server)

    health_servicer = health.HealthServicer()
    for name in ("", TAGGING_SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"tagging model server could not bind {host}:{port}")
    server.start()
    server.servicer = servicer  # type: ignore[attr-defined]
    server.health = health_servicer  # type: ignore[attr-defined]
    return server, bound
