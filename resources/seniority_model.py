"""The seniority model client: one gRPC channel, batched column-shaped calls, gRPC's own retries.

`SeniorityModel` is the Dagster resource (configuration only); `connect()` yields a
`SeniorityModelClient` that owns the channel for the duration of a run step. With no
endpoint configured, `connect()` starts the project's reference server
(`python -m model_servers.seniority`) as a subprocess on loopback and stops it on exit,
so the local default talks real gRPC exactly like production does.
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
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos import seniority_pb2, seniority_pb2_grpc

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICE_NAME = seniority_pb2.DESCRIPTOR.services_by_name["SeniorityModel"].full_name
RETRYABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED")
GRPC_MAX_ATTEMPTS = 5  # gRPC silently caps retryPolicy.maxAttempts at 5
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
LEVEL_RANGE = range(1, 8)


class SeniorityModelError(RuntimeError):
    """The seniority model refused a request or answered something unusable."""


class SeniorityModelUnavailable(SeniorityModelError):
    """The seniority model could not be reached or did not answer in time, retries included."""


class SeniorityModel(dg.ConfigurableResource):
    """Client settings for the gRPC seniority model (`endpoint=None`: start the reference server)."""

    endpoint: str | None = None
    batch_size: int = 1000
    deadline_seconds: float = 30.0
    max_attempts: int = 5
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    backoff_multiplier: float = 2.0
    use_tls: bool = False
    connect_timeout_seconds: float = 10.0

    @classmethod
    def from_environment(cls) -> SeniorityModel:
        """`SENIORITY_MODEL_ENDPOINT` (unset: local reference server), `SENIORITY_BATCH_SIZE`,
        `SENIORITY_DEADLINE_SECONDS`; values are read now, like the other resources here."""
        settings: dict[str, object] = {
            "endpoint": dg.EnvVar("SENIORITY_MODEL_ENDPOINT").get_value() or None
        }
        for field, name, parse in (
            ("batch_size", "SENIORITY_BATCH_SIZE", int),
            ("deadline_seconds", "SENIORITY_DEADLINE_SECONDS", float),
        ):
            raw = dg.EnvVar(name).get_value()
            if raw:
                try:
                    settings[field] = parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{name} must be a number, got {raw!r}") from exc
        return cls(**settings)  # type: ignore[arg-type]

    def retry_attempts(self) -> int:
        """The attempts gRPC will really make: at least 1, at most gRPC's cap of 5."""
        return max(1, min(self.max_attempts, GRPC_MAX_ATTEMPTS))

    def service_config(self) -> dict[str, object]:
        """The `grpc.service_config` that makes gRPC retry InferSeniority and DescribeModel.

        gRPC adds the jitter itself (each backoff is random in [0, current backoff]).
        Deadlines: the per-call `timeout` is ONE deadline for all attempts together, and
        gRPC never starts an attempt after it has passed. So DEADLINE_EXCEEDED is only
        retried when a server or proxy returns it before our deadline; a server that
        never answers fails once, after `deadline_seconds`, and is not retried. We keep
        that behaviour on purpose: `deadline_seconds` bounds the whole batch call.
        """
        method_config: dict[str, object] = {"name": [{"service": SERVICE_NAME}]}
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
            # default, about 5,000 pairs); beyond it a failure would not be retried.
            ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]

    @contextmanager
    def connect(self) -> Iterator[SeniorityModelClient]:
        """A connected, healthy client; closes the channel (and any local server) on exit."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        with ExitStack() as stack:
            target = self.endpoint or stack.enter_context(_local_reference_server(self))
            if self.use_tls:
                channel = grpc.secure_channel(
                    target, grpc.ssl_channel_credentials(), options=self.channel_options()
                )
            else:
                channel = grpc.insecure_channel(target, options=self.channel_options())
            stack.callback(channel.close)
            client = SeniorityModelClient(channel, target, self)
            client.wait_until_serving(self.connect_timeout_seconds)
            yield client


class SeniorityModelClient:
    """Calls the model over one channel; `calls` and `items_sent` say what a run cost."""

    def __init__(self, channel: grpc.Channel, target: str, config: SeniorityModel) -> None:
        self.target = target
        self.config = config
        self._channel = channel
        self._stub = seniority_pb2_grpc.SeniorityModelStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._description: seniority_pb2.ModelDescription | None = None
        self.calls = 0  # successful InferSeniority RPCs (one per batch)
        self.items_sent = 0  # pairs in those calls

    def wait_until_serving(self, timeout_seconds: float) -> None:
        """Poll the standard health service until it says SERVING, or raise.

        A server without the health service (UNIMPLEMENTED) is trusted and used anyway.
        """
        deadline = time.monotonic() + timeout_seconds
        service, last = SERVICE_NAME, "no answer"
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = self._health.Check(
                    health_pb2.HealthCheckRequest(service=service),
                    timeout=remaining,
                    wait_for_ready=False,  # fail fast, so `last` keeps the real reason
                )
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("seniority model at %s has no health service", self.target)
                    return
                if exc.code() == grpc.StatusCode.NOT_FOUND and service:
                    service = ""  # the server reports only its overall health
                    continue
                last = f"{exc.code()}: {exc.details()}"
            else:
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                last = f"health status {status}"
            time.sleep(max(0.0, min(0.05, deadline - time.monotonic())))
        raise SeniorityModelUnavailable(
            f"seniority model at {self.target} not SERVING after {timeout_seconds:g} s: {last}"
        )

    def describe(self) -> seniority_pb2.ModelDescription:
        """The model's description, asked once per client."""
        if self._description is None:
            self._description = self._call(
                self._stub.DescribeModel, seniority_pb2.DescribeModelRequest()
            )
        return self._description

    @property
    def model_version(self) -> str:
        """The version that prefixes every cache key."""
        return self.describe().model_version

    def infer(
        self, companies: Sequence[str], titles: Sequence[str]
    ) -> tuple[list[int], list[float]]:
        """Levels (1-7) and confidences for each (company, title) pair, in input order."""
        if len(companies) != len(titles):
            raise ValueError(
                f"companies and titles must have the same length, got {len(companies)} "
                f"and {len(titles)}"
            )
        levels: list[int] = []
        confidences: list[float] = []
        size = self.config.batch_size
        if titles and self.describe().max_batch_size > 0:
            size = min(size, self.describe().max_batch_size)  # the server's limit wins
        for start in range(0, len(titles), size):
            batch_companies = list(companies[start : start + size])
            batch_titles = list(titles[start : start + size])
            reply = self._call(
                self._stub.InferSeniority,
                seniority_pb2.InferSeniorityRequest(
                    companies=batch_companies, titles=batch_titles
                ),
            )
            self._check_reply(reply, start, len(batch_titles))
            self.calls += 1
            self.items_sent += len(batch_titles)
            levels.extend(reply.levels)
            confidences.extend(reply.confidences)
        return levels, confidences

    def _call(self, method, request):  # type: ignore[no-untyped-def]
        """One RPC with the per-call deadline; gRPC's retry policy does the retrying."""
        try:
            return method(request, timeout=self.config.deadline_seconds)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise SeniorityModelUnavailable(
                    f"seniority model at {self.target} did not answer within the "
                    f"{self.config.deadline_seconds:g} s deadline (retries included): "
                    f"{code}: {exc.details()}"
                ) from exc
            if code.name in RETRYABLE_CODES:
                raise SeniorityModelUnavailable(
                    f"seniority model at {self.target} unavailable after "
                    f"{self.config.retry_attempts()} attempt{'s' if self.config.retry_attempts() != 1 else ''}: "
                    f"{code}: {exc.details()}"
                ) from exc
            raise SeniorityModelError(
                f"seniority model at {self.target} rejected the call: {code}: {exc.details()}"
            ) from exc

    def _check_reply(
        self, reply: seniority_pb2.InferSeniorityResponse, start: int, expected: int
    ) -> None:
        """The model's answer is input to us: refuse it whole rather than use part of it."""
        where = f"seniority model at {self.target}, batch starting at pair {start}"
        if len(reply.levels) != expected or len(reply.confidences) != expected:
            raise SeniorityModelError(
                f"{where}: sent {expected} pairs, got {len(reply.levels)} levels and "
                f"{len(reply.confidences)} confidences"
            )
        bad = [(start + i, lv) for i, lv in enumerate(reply.levels) if lv not in LEVEL_RANGE]
        if bad:
            raise SeniorityModelError(
                f"{where}: {len(bad)} levels outside 1..7, first {bad[:5]} (pair, level)"
            )


@contextmanager
def _local_reference_server(config: SeniorityModel) -> Iterator[str]:
    """Run `python -m model_servers.seniority` on loopback for the block; yields host:port."""
    command = [
        sys.executable, "-m", "model_servers.seniority",
        "--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-eof",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        )
        try:
            target = _read_listening_line(process, config.connect_timeout_seconds, stderr)
            log.info("started reference seniority model (pid %s) at %s", process.pid, target)
            yield target
        finally:
            _stop(process)


def _read_listening_line(process: subprocess.Popen, timeout: float, stderr) -> str:  # type: ignore[type-arg]
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
    raise SeniorityModelUnavailable(
        f"reference seniority model ({' '.join(process.args)}) {problem}; stderr:\n{tail}"
    )


def _stop(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
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
