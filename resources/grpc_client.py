"""What every gRPC client of fieldwork shares: one channel per run, gRPC's own retries, one
deadline per call, a health wait, errors that name the target, and the local reference server.

A client is two small subclasses. The resource (`GrpcClientResource`) is configuration only
and names its service and reference server in class constants; its `connect()` wraps
`open_client(...)`, which yields the client (`GrpcClient`) that owns the channel for the
duration of a run step. With no endpoint configured, the reference server module is started
as a subprocess on loopback and stopped on exit, so the local default talks real gRPC
exactly like production does.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

import dagster as dg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.contract import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RETRYABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED")
GRPC_MAX_ATTEMPTS = 5  # gRPC silently caps retryPolicy.maxAttempts at 5

ClientT = TypeVar("ClientT", bound="GrpcClient")


class ModelServiceError(RuntimeError):
    """A gRPC model service refused a request or answered something unusable."""


class ModelUnavailable(ModelServiceError):
    """The service could not be reached or did not answer in time, retries included."""


class ModelRejected(ModelServiceError):
    """The service refused the call with a status that retrying the same request won't change."""


class GrpcClientResource(dg.ConfigurableResource):
    """Settings shared by the gRPC clients (`endpoint=None`: start the reference server).

    Subclasses set `SERVICE_NAMES` (full gRPC names; the retry policy and the health wait
    apply to them), `REFERENCE_SERVER_MODULE` (run as `python -m <module>` when no endpoint
    is set) and `DISPLAY_NAME` (how error messages name the service).
    """

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = ()
    REFERENCE_SERVER_MODULE: ClassVar[str] = ""
    DISPLAY_NAME: ClassVar[str] = "gRPC service"

    endpoint: str | None = None
    deadline_seconds: float = 30.0
    max_attempts: int = 5
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    backoff_multiplier: float = 2.0
    use_tls: bool = False
    connect_timeout_seconds: float = 10.0

    def reference_server_args(self) -> list[str]:
        """Extra command-line arguments for the reference server (none by default)."""
        return []

    def retry_attempts(self) -> int:
        """The attempts gRPC will really make: at least 1, at most gRPC's cap of 5."""
        return max(1, min(self.max_attempts, GRPC_MAX_ATTEMPTS))

    def service_config(self) -> dict[str, object]:
        """The `grpc.service_config` that makes gRPC retry every method of `SERVICE_NAMES`.

        gRPC adds the jitter itself (each backoff is random in [0, current backoff]).
        Deadlines: the per-call `timeout` is ONE deadline for all attempts together, and
        gRPC never starts an attempt after it has passed. So DEADLINE_EXCEEDED is only
        retried when a server or proxy returns it before our deadline; a server that
        never answers fails once, after `deadline_seconds`, and is not retried. We keep
        that behaviour on purpose: `deadline_seconds` bounds the whole call.
        """
        method_config: dict[str, object] = {
            "name": [{"service": name} for name in self.SERVICE_NAMES]
        }
        if self.retry_attempts() > 1:
            method_config["retryPolicy"] = {
                "maxAttempts": self.retry_attempts(),
                "initialBackoff": f"{self.initial_backoff_seconds:.6f}s",
                "maxBackoff": f"{self.max_backoff_seconds:.6f}s",
                "backoffMultiplier": self.backoff_multiplier,
                "retryableStatusCodes": list(RETRYABLE_CODES),
            }
        return {"methodConfig": [method_config]}

    def channel_options(self) -> list[tuple[str, object]]:
        return [
            ("grpc.enable_retries", 1 if self.retry_attempts() > 1 else 0),
            ("grpc.service_config", json.dumps(self.service_config())),
            # gRPC only retries calls whose request fits the retry buffer (256 KiB by
            # default, about 5,000 seniority pairs); beyond it a failure is not retried.
            ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]

    @contextmanager
    def open_client(self, client_class: type[ClientT]) -> Iterator[ClientT]:
        """A `client_class` on a healthy channel; closes the channel (and any local server)."""
        with ExitStack() as stack:
            target = self.endpoint or stack.enter_context(
                reference_server(
                    self.REFERENCE_SERVER_MODULE,
                    self.connect_timeout_seconds,
                    self.reference_server_args(),
                )
            )
            if self.use_tls:
                channel = grpc.secure_channel(
                    target, grpc.ssl_channel_credentials(), options=self.channel_options()
                )
            else:
                channel = grpc.insecure_channel(target, options=self.channel_options())
            stack.callback(channel.close)
            client = client_class(channel, target, self)
            client.wait_until_serving(self.connect_timeout_seconds)
            yield client


class GrpcClient:
    """Calls one service over one channel; `calls` and `items_sent` say what a run cost.

    Subclasses add the service's stub and methods, and count `calls` (successful work RPCs)
    and `items_sent` (items in them) once an answer has been accepted.
    """

    def __init__(self, channel: grpc.Channel, target: str, config: GrpcClientResource) -> None:
        self.target = target
        self.config = config
        self._channel = channel
        self._health = health_pb2_grpc.HealthStub(channel)
        self.calls = 0
        self.items_sent = 0

    @property
    def name(self) -> str:
        """`<service> at <host:port>`, the way every error message starts."""
        return f"{self.config.DISPLAY_NAME} at {self.target}"

    def wait_until_serving(self, timeout_seconds: float) -> None:
        """Poll the standard health service until each service is SERVING, or raise.

        A server without the health service (UNIMPLEMENTED) is trusted and used anyway; one
        that does not know a service's name (NOT_FOUND) is asked for its overall health.
        """
        deadline = time.monotonic() + timeout_seconds
        pending = list(self.config.SERVICE_NAMES) or [""]
        last = "no answer"
        while pending and (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = self._health.Check(
                    health_pb2.HealthCheckRequest(service=pending[0]),
                    timeout=remaining,
                    wait_for_ready=False,  # fail fast, so `last` keeps the real reason
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("%s has no health service", self.name)
                    return
                if exc.code() == grpc.StatusCode.NOT_FOUND and pending[0]:
                    pending[0] = ""  # the server reports only its overall health
                    continue
                last = f"{exc.code()}: {exc.details()}"
            else:
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    pending.pop(0)
                    continue
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                last = f"health status {status}"
            time.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
        if pending:
            raise ModelUnavailable(f"{self.name} not SERVING after {timeout_seconds:g} s: {last}")

    def _call(self, method: Callable[..., Any], request: object) -> Any:
        """One RPC with the per-call deadline; gRPC's retry policy does the retrying."""
        try:
            return method(request, timeout=self.config.deadline_seconds)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ModelUnavailable(
                    f"{self.name} did not answer within the "
                    f"{self.config.deadline_seconds:g} s deadline (retries included): "
                    f"{code}: {exc.details()}"
                ) from exc
            if code.name in RETRYABLE_CODES:
                attempts = self.config.retry_attempts()
                raise ModelUnavailable(
                    f"{self.name} unavailable after {attempts} "
                    f"attempt{'s' if attempts != 1 else ''}: {code}: {exc.details()}"
                ) from exc
            raise ModelRejected(f"{self.name} rejected the call: {code}: {exc.details()}") from exc


@contextmanager
def reference_server(
    module: str, timeout_seconds: float, extra_args: Sequence[str] = ()
) -> Iterator[str]:
    """Run `python -m <module> [extra_args]` on loopback for the block; yields its host:port.

    The module must accept `--host --port --exit-on-stdin-eof` (and whatever `extra_args`
    holds, e.g. the catalog's `--db PATH`) and print one line `LISTENING host:port` once
    bound. Port 0 lets the OS pick, so parallel runs never clash; the child exits when our
    end of its stdin closes, so even a SIGKILLed parent leaves no orphan.
    """
    if not module:
        raise ValueError("no endpoint configured and no reference server module to start")
    command = [
        sys.executable,
        "-m",
        module,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--exit-on-stdin-eof",
        *extra_args,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            target = _read_listening_line(process, timeout_seconds, stderr)
            log.info("started reference server %s (pid %s) at %s", module, process.pid, target)
            yield target
        finally:
            _stop(process)


def _read_listening_line(
    process: subprocess.Popen[bytes], timeout: float, stderr: IO[bytes]
) -> str:
    """Wait for `LISTENING host:port` on the child's stdout, or fail with its stderr."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                problem = f"did not print LISTENING within {timeout:g} s"
                break
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                process.wait(timeout=5)
                problem = f"exited with code {process.returncode} before listening"
                break
            buffer += chunk
        else:
            line = buffer.split(b"\n", 1)[0].decode().strip()
            if line.startswith("LISTENING "):
                return line.removeprefix("LISTENING ")
            problem = f"printed {line!r} instead of LISTENING host:port"
    _stop(process)
    stderr.seek(0)
    tail = stderr.read().decode(errors="replace")[-4000:]
    raise ModelUnavailable(
        f"reference server ({' '.join(map(str, process.args))}) {problem}; stderr:\n{tail}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful stop), then SIGKILL if it lingers; always reaped, never orphaned."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
