"""Fixtures: real seniority servers on loopback, started in this process and always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from model_servers.seniority.server import serve

StartServer = Callable[..., tuple[grpc.Server, str]]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """`start_server(**options) -> (server, "127.0.0.1:port")`; stopped at teardown."""
    servers: list[grpc.Server] = []

    def start(**options: object) -> tuple[grpc.Server, str]:
        server, port = serve("127.0.0.1", 0, **options)
        servers.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)
