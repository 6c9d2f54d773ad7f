"""The suggestion cache: the tagging model's VALID suggestions in Redis, so an unchanged module
is never sent to the model twice.

Key: `<prefix>:<customer>:<taxonomy version>:<model version>:<module content hash>`. A changed
module (new content hash), a reworded taxonomy or another model all miss, and so are asked
again; nothing else does. Two modules of one customer with the same text share one answer.
The value is the suggestion as JSON (tag ids, confidences, rationale, abstained, the model
version the reply named, when it was made); only validated suggestions are ever written.

Reads are chunked MGETs in one pipeline, TTL refreshes and writes pipelined. How it connects
(REDIS_URL, or an embedded Redis of its own) and degrades is the foundation it shares with the
seniority cache (resources/redis_cache.py): no cache fault fails a run. A Redis that cannot
be reached is bypassed for the rest of the run; one that refuses (maxmemory, read-only
replica, ACL) stops being asked what it refused. Both say so in `status`, which the assets
put in their metadata. A value that is not a suggestion (corrupted, written by something
else) counts as a miss.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from resources import settings
from resources.redis_cache import RedisCache, RedisCacheClient

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
class SuggestionCacheClient(RedisCacheClient):
    """An open suggestion cache: (customer, taxonomy, model, content hash) -> suggestion."""

    corrupt: int = 0  # values that were there but not a suggestion (counted in misses)

    name: ClassVar[str] = "suggestion cache"
    log: ClassVar[logging.Logger] = log
    READ_REFUSED_COST: ClassVar[str] = "its modules count as misses and go to the model"
    WRITE_REFUSED_COST: ClassVar[str] = (
        "the model's suggestions are not cached, so the next run asks again"
    )

    def key(self, customer_id: str, taxonomy_version: str, model_version: str, content_hash: str):
        return f"{self.key_prefix}:{customer_id}:{taxonomy_version}:{model_version}:{content_hash}"

    def get_many(
        self,
        customer_id: str,
        taxonomy_version: str,
        model_version: str,
        content_hashes: Sequence[str],
    ) -> list[dict[str, Any] | None]:
        """The cached suggestion for each content hash, None for a miss; hits get their TTL
        refreshed (a module asked about keeps its answer)."""
        keys = [self.key(customer_id, taxonomy_version, model_version, h) for h in content_hashes]
        raw = self._read(keys)
        values = [_decode(r) for r in raw]
        self.corrupt += sum(1 for r, v in zip(raw, values, strict=True) if r is not None and not v)
        hit_keys = [k for k, v in zip(keys, values, strict=True) if v is not None]
        self.hits += len(hit_keys)
        self.misses += len(keys) - len(hit_keys)
        self._refresh_ttl(hit_keys)
        return values

    def _refresh_ttl(self, keys: list[str]) -> None:
        if not keys or self.bypassed or self.writes_refused:
            return
        self._send(
            "a TTL refresh",
            lambda pipe: [pipe.expire(key, self.ttl_seconds) for key in keys],
            bypass_if_unreachable=False,
        )

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
        replies = self._send(
            "a write",
            lambda pipe: [pipe.set(key, value, ex=self.ttl_seconds) for key, value in items],
        )
        self.writes += sum(1 for reply in replies or [] if not isinstance(reply, Exception))


class SuggestionCache(RedisCache):
    """Redis cache of valid tag suggestions. No `redis_url`: an embedded Redis of its own."""

    client_class: ClassVar[type[RedisCacheClient]] = SuggestionCacheClient
    key_prefix: str = "fieldwork:suggestions"
    ttl_seconds: int = Field(default=365 * 24 * 3600, description="Refreshed on every hit.")

    def _default_embedded_path(self) -> Path:
        return settings.embedded_suggestion_cache_path()
