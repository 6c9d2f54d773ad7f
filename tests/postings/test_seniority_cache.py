"""The seniority cache against a real (embedded) Redis server."""

import pytest

from resources.seniority_cache import SeniorityCache, redis_location
from tests.helpers import closed_port


@pytest.fixture
def embedded(tmp_path):
    return SeniorityCache(embedded_db_path=str(tmp_path / "r" / "cache.rdb"), ttl_seconds=1000)


def test_answers_round_trip_in_chunks(embedded):
    hashes = [f"{i:032x}" for i in range(2_500)]
    levels = [1 + i % 7 for i in range(2_500)]
    with embedded.connect() as cache:
        cache.set_many("v1", hashes, levels)
        assert cache.get_many("v1", hashes + ["missing"]) == levels + [None]
        assert (cache.hits, cache.misses, cache.writes) == (2_500, 1, 2_500)


def test_keys_are_scoped_by_model_version(embedded):
    with embedded.connect() as cache:
        cache.set_many("v1", ["abc"], [4])
        assert cache.get_many("v2", ["abc"]) == [None]
        assert cache.client.exists("fieldwork:seniority:v1:abc")


def test_hits_refresh_the_ttl(embedded):
    with embedded.connect() as cache:
        cache.set_many("v1", ["abc", "def"], [4, 5])
        cache.client.expire("fieldwork:seniority:v1:abc", 10)
        cache.client.expire("fieldwork:seniority:v1:def", 10)
        cache.get_many("v1", ["abc"])
        cache.flush()
        assert cache.client.ttl("fieldwork:seniority:v1:abc") > 900
        assert cache.client.ttl("fieldwork:seniority:v1:def") <= 10


def test_a_corrupted_value_counts_as_a_miss(embedded):
    with embedded.connect() as cache:
        cache.client.set("fieldwork:seniority:v1:bad", "9")
        assert cache.get_many("v1", ["bad"]) == [None]


def test_answers_persist_across_runs(embedded):
    with embedded.connect() as cache:
        cache.set_many("v1", ["abc"], [6])
    with embedded.connect() as cache:
        assert cache.get_many("v1", ["abc"]) == [6]


def test_unreachable_redis_is_bypassed_not_fatal():
    cache_def = SeniorityCache(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    with cache_def.connect() as cache:
        assert cache.bypassed
        assert cache.get_many("v1", ["abc"]) == [None]
        cache.set_many("v1", ["abc"], [3])  # a no-op, not an error
        assert "unreachable" in cache.status and "127.0.0.1" in cache.status


def test_locations_name_the_server_without_credentials():
    assert redis_location("redis://user:secret@cache.internal:6380/0") == (
        "redis at cache.internal:6380"
    )
    assert redis_location("unix:///run/redis/redis.sock?db=0") == (
        "redis at unix:/run/redis/redis.sock"
    )
