"""The gRPC server around a tagging backend, with fault switches for client tests.

SuggestTags streams one reply per module as each is ready. The switches reproduce what the
client and the platform must survive on a real socket: a flapping server (`fail_first`),
one that accepts a call and never answers (`stall`), one that is slow but steady
(`seconds_per_module`), one that answers wrongly (`garbage`, see faults.py), and one that
takes a fixed time per batch before its first reply (`batch_delay_seconds`, the benchmark's
model). `faults_only_for` aims the switches at the requests that ask about one of the named
modules (the others are answered normally), so one batch among several can be the faulty
one. `max_calls_in_flight` says how many SuggestTags calls the server held at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
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
        batch_delay_seconds: float = 0.0,
        faults_only_for: Iterable[str] = (),
    ) -> None:
        self.backend = backend or TfidfBackend()
        self.max_batch_size = max_batch_size
        self.fail_first = fail_first
        self.stall = stall
        self.seconds_per_module = seconds_per_module
        self.garbage = parse_garbage(garbage) if isinstance(garbage, str) else garbage
        parse_garbage(",".join(self.garbage))  # refuse an unknown mode now, not per call
        if batch_delay_seconds < 0:
            raise ValueError(f"batch_delay_seconds must be 0 or more, got {batch_delay_seconds}")
        self.batch_delay_seconds = batch_delay_seconds
        self.faults_only_for = frozenset(faults_only_for)
        self._lock = threading.Lock()
        self.suggest_calls = 0  # every SuggestTags attempt that reached the server
        self.faulty_calls = 0  # those the fault switches apply to (all, without faults_only_for)
        self.calls_in_flight = 0
        self.max_calls_in_flight = 0

    def SuggestTags(
        self, request: tagging_pb2.SuggestTagsRequest, context: grpc.ServicerContext
    ) -> Iterator[tagging_pb2.SuggestTagsReply]:
        faulty = not self.faults_only_for or any(
            module.module_id in self.faults_only_for for module in request.modules
        )
        with self._lock:
            self.suggest_calls += 1
            self.faulty_calls += faulty
            attempt = self.faulty_calls if faulty else 0
            self.calls_in_flight += 1
            self.max_calls_in_flight = max(self.max_calls_in_flight, self.calls_in_flight)
        try:
            yield from self._answer(request, context, faulty, attempt)
        finally:
            with self._lock:
                self.calls_in_flight -= 1

    def _answer(
        self,
        request: tagging_pb2.SuggestTagsRequest,
        context: grpc.ServicerContext,
        faulty: bool,
        attempt: int,
    ) -> Iterator[tagging_pb2.SuggestTagsReply]:
        """One SuggestTags call; `faulty`: the fault switches apply to it (its `attempt`-th)."""
        ended = threading.Event()  # set when the call ends: done, cancelled or past deadline
        if not context.add_callback(ended.set):
            return  # the call has already ended
        if faulty and attempt <= self.fail_first:
            context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"injected failure {attempt} of {self.fail_first} (--fail-first)",
            )
        if faulty and self.stall:
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
        delay = self.batch_delay_seconds if faulty else 0.0
        if delay and ended.wait(delay):
            return  # the client went away while the batch's fixed time ran
        per_module = self.seconds_per_module if faulty else 0.0
        garbage = self.garbage if faulty else ()
        try:
            for reply in garble(self.backend.suggest(asked), asked, garbage):
                if per_module and ended.wait(per_module):
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
    seconds_per_module, garbage, batch_delay_seconds, faults_only_for); the servicer is
    reachable as `server.servicer`.
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
