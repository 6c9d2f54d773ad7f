"""The suggestion cache on a real embedded Redis: keys by customer, taxonomy, model and
content; only suggestions come back; a refusing or unreachable Redis degrades, never fails."""

from __future__ import annotations

import uuid

import pytest
import redis

from resources.suggestion_cache import SuggestionCache
from tests.helpers import (
    closed_port,
    shared_redis_url_fixture,  # noqa: F401  (fixture, used by name)
)

SUGGESTION = {
    "tag_ids": ["communication"],
    "confidences": [0.8],
    "rationale": "shares 'listening' with communication",
    "abstained": False,
    "model_version": "tfidf-2026.11.1",
    "suggested_at": "2026-11-23T10:00:00+00:00",
}


@pytest.fixture
def cache(shared_redis_url) -> SuggestionCache:
    return SuggestionCache(redis_url=shared_redis_url, key_prefix=f"t-{uuid.uuid4().hex[:8]}")


def test_a_suggestion_is_found_only_under_its_customer_taxonomy_model_and_content(cache):
    with cache.connect() as opened:
        opened.set_many("acme", "tax1", "m1", {"h1": SUGGESTION})
        assert opened.get_many("acme", "tax1", "m1", ["h1", "h2"]) == [SUGGESTION, None]
        for other in (("globex", "tax1", "m1"), ("acme", "tax2", "m1"), ("acme", "tax1", "m2")):
            assert opened.get_many(*other, ["h1"]) == [None]
        assert (opened.hits, opened.misses, opened.writes) == (1, 4, 1)
        assert opened.status.startswith("ok (redis at unix:")
        ttl = opened.client.ttl(opened.key("acme", "tax1", "m1", "h1"))
        assert 0 < ttl <= cache.ttl_seconds


def test_a_value_that_is_not_a_suggestion_is_a_miss(cache):
    with cache.connect() as opened:
        key = opened.key("acme", "tax1", "m1", "h1")
        for corrupt in (b"not json", b'{"tag_ids": "communication"}', b"[1, 2]"):
            opened.client.set(key, corrupt)
            assert opened.get_many("acme", "tax1", "m1", ["h1"]) == [None]
        assert (opened.corrupt, opened.hits) == (3, 0)
        with pytest.raises(ValueError, match="not a suggestion to cache"):
            opened.set_many("acme", "tax1", "m1", {"h1": {**SUGGESTION, "abstained": "no"}})


def test_a_redis_that_refuses_writes_degrades_and_says_so(cache, shared_redis_url):
    admin = redis.Redis.from_url(shared_redis_url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    try:
        with cache.connect() as opened:
            opened.set_many("acme", "tax1", "m1", {"h1": SUGGESTION})
            assert opened.writes == 0 and opened.degraded
            assert "refused a write: OutOfMemoryError" in opened.status
            assert opened.get_many("acme", "tax1", "m1", ["h1"]) == [None]  # reads still asked
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()


def test_an_unreachable_redis_is_bypassed():
    cache = SuggestionCache(
        redis_url=f"redis://127.0.0.1:{closed_port()}/0", socket_timeout_seconds=0.5
    )
    with cache.connect() as opened:
        assert opened.bypassed and opened.status.startswith("bypassed: redis at 127.0.0.1")
        assert opened.get_many("acme", "tax1", "m1", ["h1", "h2"]) == [None, None]
        opened.set_many("acme", "tax1", "m1", {"h1": SUGGESTION})
        assert opened.misses == 2 and opened.writes == 0
