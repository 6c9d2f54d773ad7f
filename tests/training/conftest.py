"""Fixtures of the training family: a seeded catalog store (seeded once per session, copied
for each test so tests never see each other's writes) and real catalog servers on loopback,
started in this process and always stopped."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from model_servers.training_catalog.server import open_catalog, serve
from model_servers.training_catalog.store import CatalogStore

StartCatalog = Callable[..., tuple[grpc.Server, str]]


@pytest.fixture(scope="session")
def seeded_catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly seeded catalog file; copy it (`catalog_db`), never write to it."""
    path = tmp_path_factory.mktemp("catalog-template") / "training_catalog.sqlite"
    open_catalog(path)
    # Fold the write-ahead log into the file, so a plain copy is the whole store.
    with sqlite3.connect(path) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")
    return path


@pytest.fixture
def catalog_db(seeded_catalog_template: Path, tmp_path: Path) -> Path:
    """This test's own seeded catalog file."""
    path = tmp_path / "training_catalog.sqlite"
    shutil.copyfile(seeded_catalog_template, path)
    return path


@pytest.fixture
def catalog_store(catalog_db: Path) -> CatalogStore:
    """The store behind `catalog_db`, for reading what servers wrote and changing the data."""
    return CatalogStore.open(catalog_db)


@pytest.fixture
def start_catalog(catalog_db: Path) -> Iterator[StartCatalog]:
    """`start_catalog(**options) -> (server, "127.0.0.1:port")` on `catalog_db` (or on
    `db_path=...`); options as `serve()` takes them (fail_first, fail_apply_modules,
    delay_seconds). Stopped at teardown."""
    servers: list[grpc.Server] = []

    def start(**options: object) -> tuple[grpc.Server, str]:
        options.setdefault("db_path", catalog_db)
        server, port = serve("127.0.0.1", 0, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)
