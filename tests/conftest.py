"""Fixtures every family shares: free loopback ports and a real S3 API (moto's server)."""

import socket

import pytest


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3 API on loopback (moto's server)."""
    from moto.server import ThreadedMotoServer

    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_storage(moto_endpoint, monkeypatch, request):
    import boto3
    from dagster_aws.s3 import S3Resource

    from resources.object_storage import S3ObjectStorage

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = "fieldwork-" + request.node.name.lower().replace("_", "-")[:40]
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return S3ObjectStorage(
        bucket=bucket, s3=S3Resource(endpoint_url=moto_endpoint, region_name="us-east-1")
    )


# Modules that read one session-scoped build (tests/warehouse/conftest.py's
# `warehouse_build`): scheduled as one, so one worker builds it once.
SHARED_WAREHOUSE = (
    "tests/warehouse/test_odata_views.py",
    "tests/warehouse/test_tenancy_changes.py",
    "tests/warehouse/test_training_impact.py",
)
SHARED_WAREHOUSE_SCOPE = "tests/warehouse (shared build)"

# The longest scopes (minutes each: a prepared platform, dbt builds on DuckDB and through
# fakesnow, the webserver), longest first. They start first, so the two workers end together
# instead of one waiting on a build the other started last.
LONGEST_FIRST = (
    "tests/notebooks",
    "tests/warehouse/test_odata_views_snowflake.py",
    "tests/warehouse/test_dbt_snowflake.py",
    "tests/test_definitions.py",
    SHARED_WAREHOUSE_SCOPE,
    "tests/warehouse/test_dbt_duckdb.py",
)


def _scope(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/notebooks/"):
        return "tests/notebooks"
    return SHARED_WAREHOUSE_SCOPE if path in SHARED_WAREHOUSE else path


def pytest_collection_modifyitems(config, items):
    rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_scope(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """Tests that share an expensive fixture run on one worker, so it is built once: each
    module's tests (a module-scoped warehouse build, the webserver), the modules reading the
    shared warehouse build, and every notebook test (one session-scoped prepared platform).
    pytest-xdist's `xdist_group` marks do nothing under pytest 9 (xdist 3.8 sets a node id
    attribute pytest 9 no longer reads)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    # In collection order (longest first), not xdist's order by number of tests.
    config.option.loadscopereorder = False
    return ByModule(config, log)
