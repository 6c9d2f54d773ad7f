"""The seniority model client: batched column-shaped calls over the shared gRPC foundation.

`SeniorityModel` is the Dagster resource (configuration only); `connect()` yields a
`SeniorityModelClient` that owns the channel for the duration of a run step. Channel,
retries, deadline, health wait, error mapping and the local reference server
(`python -m model_servers.seniority` when no endpoint is set) live in
`resources.grpc_client`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

import grpc

from protos import seniority_pb2, seniority_pb2_grpc
from protos.contract import MAX_LEVEL, MIN_LEVEL, SENIORITY_SERVICE_NAME
from resources.grpc_client import (
    GrpcClient,
    GrpcClientResource,
    ModelServiceError,
    ModelUnavailable,
)

# The names callers have always caught; the foundation's errors, so one `except` fits all.
SeniorityModelError = ModelServiceError
SeniorityModelUnavailable = ModelUnavailable


class SeniorityModel(GrpcClientResource):
    """Settings of the seniority model client (`endpoint=None`: start the reference server)."""

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = (SENIORITY_SERVICE_NAME,)
    REFERENCE_SERVER_MODULE: ClassVar[str] = "model_servers.seniority"
    DISPLAY_NAME: ClassVar[str] = "seniority model"

    batch_size: int = 1000

    @contextmanager
    def connect(self) -> Iterator[SeniorityModelClient]:
        """A connected, healthy client; closes the channel (and any local server) on exit."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        with self.open_client(SeniorityModelClient) as client:
            yield client


class SeniorityModelClient(GrpcClient):
    """`calls` counts successful InferSeniority RPCs (one per batch), `items_sent` their pairs."""

    config: SeniorityModel

    def __init__(self, channel: grpc.Channel, target: str, config: SeniorityModel) -> None:
        super().__init__(channel, target, config)
        self._stub = seniority_pb2_grpc.SeniorityModelStub(channel)
        self._description: seniority_pb2.ModelDescription | None = None

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

    @property
    def batch_size(self) -> int:
        """Pairs per InferSeniority call really sent: the configured size, or the server's
        `max_batch_size` when it declares a smaller one (0 means it declares none)."""
        limit = self.describe().max_batch_size
        return min(self.config.batch_size, limit) if limit > 0 else self.config.batch_size

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
        if not titles:
            return levels, confidences  # not even DescribeModel
        size = self.batch_size
        for start in range(0, len(titles), size):
            batch_companies = list(companies[start : start + size])
            batch_titles = list(titles[start : start + size])
            reply = self._call(
                self._stub.InferSeniority,
                seniority_pb2.InferSeniorityRequest(companies=batch_companies, titles=batch_titles),
            )
            self._check_reply(reply, start, len(batch_titles))
            self.calls += 1
            self.items_sent += len(batch_titles)
            levels.extend(reply.levels)
            confidences.extend(reply.confidences)
        return levels, confidences

    def _check_reply(
        self, reply: seniority_pb2.InferSeniorityResponse, start: int, expected: int
    ) -> None:
        """The model's answer is input to us: refuse it whole rather than use part of it."""
        where = f"{self.name}, batch starting at pair {start}"
        if len(reply.levels) != expected or len(reply.confidences) != expected:
            raise SeniorityModelError(
                f"{where}: sent {expected} pairs, got {len(reply.levels)} levels and "
                f"{len(reply.confidences)} confidences"
            )
        bad = [
            (start + i, level)
            for i, level in enumerate(reply.levels)
            if not MIN_LEVEL <= level <= MAX_LEVEL
        ]
        if bad:
            raise SeniorityModelError(
                f"{where}: {len(bad)} levels outside {MIN_LEVEL}..{MAX_LEVEL}, "
                f"first {bad[:5]} (pair, level)"
            )
