"""The Dagster webserver on loopback, as `make dev` serves workspace.yaml, and its GraphQL API:
what the UI sends, for the tests and benchmarks that act as a person at the UI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def webserver(env: dict, timeout_seconds: float = 180) -> Iterator[int]:
    """`dagster-webserver -w workspace.yaml` with `env`, once it serves the code location;
    yields its port and stops it on exit."""
    port = _free_port()
    # The server's output goes to a file, never a pipe nobody reads: its code server and run
    # workers inherit it, and a full pipe blocks a run at its last log line.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-webserver")),
                *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout_seconds
            query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
            while server.poll() is None:
                try:
                    if graphql(port, query)["data"]["repositoriesOrError"]["nodes"]:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the webserver did not serve workspace.yaml in {timeout_seconds:g} s"
                    )
                time.sleep(1)
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the webserver exited: {log.read().decode()[-3000:]}")
            yield port
        finally:
            server.terminate()
            server.wait(timeout=60)


def wait_for_run(port: int, run_id: str, poll_seconds: float = 0.25) -> str:
    """The run's final status, polled as the UI does."""
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    while True:
        status = graphql(port, query, {"id": run_id})["data"]["runOrError"]["status"]
        if status in FINISHED:
            return status
        time.sleep(poll_seconds)
