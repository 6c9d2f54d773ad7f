"""The durable request log and dead-letter store of the training family, on object storage.

Every call to the tagging model (`suggest`) and every tag application to the catalog
(`apply`) is a request with a deterministic idempotency key, tracked as ONE JSON object per
request, written whole and atomically (ObjectStorage.write_bytes). There are no appends
(S3 has none), so the log works on the local folder and on S3 alike, and two processes
writing different requests never touch the same object. The same key twice is the same
record: `open` returns the one already there.

    training-requests/<customer_id>/<idempotency_key>.json       the request and its history
    training-dead-letters/<customer_id>/<idempotency_key>.json   why it died, what to replay

Statuses: pending -> running -> succeeded (final) | failed; failed -> running (a retry) |
dead; dead -> running only by a replay. A request goes dead only after it failed, and its
dead letter holds the reason and the payload a replay needs. A replay that succeeds removes
the dead letter (the request record keeps the whole story); a replay that finds no dead
letters does nothing and writes nothing.

Concurrent updates of ONE request (two runs working on the same key at once) are not
arbitrated by the storage, which has no compare-and-swap here: each record carries a
`revision`, and an update from a stale copy is refused (StaleRequest) instead of
overwriting a newer status. Dagster's run keys keep two runs off the same request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import polars as pl

from resources.object_storage import ObjectStorage

REQUESTS_PREFIX = "training-requests"
DEAD_LETTERS_PREFIX = "training-dead-letters"
KINDS: tuple[str, ...] = ("suggest", "apply")
STATUSES: tuple[str, ...] = ("pending", "running", "succeeded", "failed", "dead")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "failed"}),
    "running": frozenset({"succeeded", "failed"}),
    "failed": frozenset({"running", "dead"}),
    "dead": frozenset({"running"}),  # only by a replay
    "succeeded": frozenset(),
}
# An error message is kept whole up to this length (a gRPC status plus details fits).
MAX_ERROR_CHARS = 4_000

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KEY = re.compile(r"^(suggest|apply)-[0-9a-f]{32}$")


class InvalidTransition(ValueError):
    """A status change the request's life does not allow (e.g. from succeeded)."""


class StaleRequest(RuntimeError):
    """The record was updated by someone else since this copy was read."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(*parts: object) -> str:
    canonical = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.match(value):
        raise ValueError(f"{what} {value!r} cannot name a storage object")
    return value


# --- Requests and their keys -----------------------------------------------------------------


def suggest_key(
    customer_id: str,
    modules: Iterable[tuple[str, str]],
    taxonomy_version: str,
    model_version: str,
) -> str:
    """The same modules at the same content, taxonomy and model are the same request,
    whatever their order: asked again, it is found in the log instead of sent twice."""
    return "suggest-" + _digest(
        "suggest", customer_id, sorted(map(list, modules)), taxonomy_version, model_version
    )


def apply_key(
    customer_id: str, module_id: str, tag_ids: Iterable[str], approval_batch_id: str
) -> str:
    """The catalog treats a key it has seen as already applied. The approval batch is part of
    the key because a module's tags can come back: approved A, then B, then A again. Without
    the batch, the third apply would reuse the first one's key and the catalog would answer
    "replayed, nothing changed" while the module still carries B. With it, each approval is
    applied once, and a retry within one approval (a lost reply) changes nothing twice."""
    return "apply-" + _digest("apply", customer_id, module_id, sorted(tag_ids), approval_batch_id)


@dataclass(frozen=True)
class NewRequest:
    """A request before it is logged: its key, and the payload that replays it."""

    idempotency_key: str
    customer_id: str
    kind: str
    module_ids: tuple[str, ...]
    payload: dict[str, Any]
    model_version: str = ""


def suggest_request(
    customer_id: str,
    modules: pl.DataFrame | Iterable[tuple[str, str]],
    taxonomy_version: str,
    model_version: str,
) -> NewRequest:
    """A suggestion request for `modules` ((module_id, content_hash) pairs, or a frame with
    those columns); the payload names the modules at their content, taxonomy and model."""
    if isinstance(modules, pl.DataFrame):
        pairs = list(modules.select("module_id", "content_hash").iter_rows())
    else:
        pairs = [tuple(pair) for pair in modules]
    pairs = sorted(pairs)
    repeated = sorted(m for m, n in Counter(m for m, _ in pairs).items() if n > 1)
    if repeated:
        raise ValueError(f"suggestion request for {customer_id} lists modules twice: {repeated}")
    return NewRequest(
        idempotency_key=suggest_key(customer_id, pairs, taxonomy_version, model_version),
        customer_id=customer_id,
        kind="suggest",
        module_ids=tuple(m for m, _ in pairs),
        payload={
            "modules": [list(pair) for pair in pairs],
            "taxonomy_version": taxonomy_version,
            "model_version": model_version,
        },
        model_version=model_version,
    )


def apply_request(
    customer_id: str, module_id: str, tag_ids: Sequence[str], approval_batch_id: str
) -> NewRequest:
    """Setting one module's tags in the catalog, for one approval batch."""
    return NewRequest(
        idempotency_key=apply_key(customer_id, module_id, tag_ids, approval_batch_id),
        customer_id=customer_id,
        kind="apply",
        module_ids=(module_id,),
        payload={
            "module_id": module_id,
            "tag_ids": sorted(tag_ids),
            "approval_batch_id": approval_batch_id,
        },
    )


@dataclass(frozen=True)
class RequestRecord:
    """One request as logged. `attempts` counts calls to the service; `history` lists every
    status change (status, at, error). `revision` increases with every write."""

    idempotency_key: str
    customer_id: str
    kind: str
    status: str
    attempts: int
    created_at: str
    updated_at: str
    finished_at: str | None
    error: str | None
    model_version: str
    latency_seconds: float | None
    module_ids: tuple[str, ...]
    module_count: int
    payload: dict[str, Any]
    revision: int = 0
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_json(self) -> bytes:
        document = asdict(self)
        document["module_ids"] = list(self.module_ids)
        document["history"] = list(self.history)
        return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> RequestRecord:
        try:
            document = json.loads(data)
            record = cls(
                **{
                    **document,
                    "module_ids": tuple(document["module_ids"]),
                    "history": tuple(document["history"]),
                }
            )
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{source} is not a request record: {error}") from None
        if record.status not in STATUSES or record.kind not in KINDS:
            raise ValueError(f"{source} has status {record.status!r} and kind {record.kind!r}")
        return record


@dataclass(frozen=True)
class DeadLetter:
    """A request that exhausted its retries: why, and everything a replay needs."""

    idempotency_key: str
    customer_id: str
    kind: str
    reason: str
    payload: dict[str, Any]
    module_ids: tuple[str, ...]
    attempts: int
    dead_at: str
    # How many replays have failed so far.
    replays_failed: int = 0

    def to_json(self) -> bytes:
        document = {**asdict(self), "module_ids": list(self.module_ids)}
        return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, data: bytes, source: str) -> DeadLetter:
        try:
            document = json.loads(data)
            return cls(**{**document, "module_ids": tuple(document["module_ids"])})
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{source} is not a dead letter: {error}") from None


# --- The dead-letter store -------------------------------------------------------------------


class DeadLetterStore:
    """Dead letters, one object each, under their own prefix, listable per customer."""

    def __init__(self, storage: ObjectStorage) -> None:
        self.storage = storage

    def key(self, customer_id: str, idempotency_key: str) -> str:
        customer = _segment(customer_id, "customer id")
        return f"{DEAD_LETTERS_PREFIX}/{customer}/{_request_segment(idempotency_key)}.json"

    def put(self, letter: DeadLetter) -> None:
        self.storage.write_bytes(
            self.key(letter.customer_id, letter.idempotency_key), letter.to_json()
        )

    def get(self, customer_id: str, idempotency_key: str) -> DeadLetter | None:
        key = self.key(customer_id, idempotency_key)
        if not self.storage.exists(key):
            return None
        return DeadLetter.from_json(self.storage.read_bytes(key), self.storage.uri(key))

    def list(self, customer_id: str, kind: str | None = None) -> list[DeadLetter]:
        prefix = f"{DEAD_LETTERS_PREFIX}/{_segment(customer_id, 'customer id')}/"
        letters = [
            DeadLetter.from_json(self.storage.read_bytes(key), self.storage.uri(key))
            for key in self.storage.list_keys(prefix)
        ]
        return [letter for letter in letters if kind is None or letter.kind == kind]

    def remove(self, customer_id: str, idempotency_key: str) -> None:
        self.storage.delete(self.key(customer_id, idempotency_key))


def _request_segment(idempotency_key: str) -> str:
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise ValueError(f"{idempotency_key!r} is not an idempotency key of this log")
    return idempotency_key


# --- The request log -------------------------------------------------------------------------


class RequestLog:
    """Requests per customer on object storage. `clock` gives aware UTC datetimes (tests pass
    their own; timestamps are stored as ISO 8601)."""

    def __init__(self, storage: ObjectStorage, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self.storage = storage
        self.clock = clock
        self.dead_letters = DeadLetterStore(storage)

    def key(self, customer_id: str, idempotency_key: str) -> str:
        customer = _segment(customer_id, "customer id")
        return f"{REQUESTS_PREFIX}/{customer}/{_request_segment(idempotency_key)}.json"

    def _now(self) -> str:
        return self.clock().astimezone(dt.UTC).isoformat()

    def get(self, customer_id: str, idempotency_key: str) -> RequestRecord | None:
        key = self.key(customer_id, idempotency_key)
        if not self.storage.exists(key):
            return None
        return RequestRecord.from_json(self.storage.read_bytes(key), self.storage.uri(key))

    def open(self, request: NewRequest) -> RequestRecord:
        """The request's record: the one already logged under its key, or a new pending one."""
        if request.kind not in KINDS:
            raise ValueError(f"request kind {request.kind!r} is not one of {KINDS}")
        existing = self.get(request.customer_id, request.idempotency_key)
        if existing is not None:
            if existing.kind != request.kind or existing.payload != request.payload:
                raise ValueError(
                    f"{request.idempotency_key} of {request.customer_id} is logged with another "
                    f"payload ({existing.kind}): keys must be derived from what they ask"
                )
            return existing
        now = self._now()
        record = RequestRecord(
            idempotency_key=request.idempotency_key,
            customer_id=request.customer_id,
            kind=request.kind,
            status="pending",
            attempts=0,
            created_at=now,
            updated_at=now,
            finished_at=None,
            error=None,
            model_version=request.model_version,
            latency_seconds=None,
            module_ids=tuple(request.module_ids),
            module_count=len(request.module_ids),
            payload=request.payload,
            revision=1,
            history=({"status": "pending", "at": now},),
        )
        self._write(record)
        return record

    def start(self, record: RequestRecord) -> RequestRecord:
        """An attempt begins: running, one more attempt."""
        return self._transition(record, "running", attempts=record.attempts + 1)

    def succeed(
        self,
        record: RequestRecord,
        *,
        latency_seconds: float,
        model_version: str | None = None,
        attempts: int | None = None,
    ) -> RequestRecord:
        """Done. `attempts`: the total when the client retried within one start (gRPC's retry
        policy makes up to 5 attempts inside one call)."""
        return self._transition(
            record,
            "succeeded",
            latency_seconds=latency_seconds,
            model_version=model_version,
            attempts=attempts,
        )

    def fail(
        self,
        record: RequestRecord,
        error: str,
        *,
        latency_seconds: float | None = None,
        attempts: int | None = None,
    ) -> RequestRecord:
        return self._transition(
            record, "failed", error=error, latency_seconds=latency_seconds, attempts=attempts
        )

    def mark_dead(self, record: RequestRecord, reason: str) -> RequestRecord:
        """Out of retries: the dead letter is written first, then the status, so a crash in
        between leaves a dead letter (replayable) rather than a dead request without one."""
        if "dead" not in TRANSITIONS[record.status]:
            raise InvalidTransition(
                f"{record.idempotency_key} is {record.status}: only a failed request goes dead"
            )
        previous = self.dead_letters.get(record.customer_id, record.idempotency_key)
        self.dead_letters.put(
            DeadLetter(
                idempotency_key=record.idempotency_key,
                customer_id=record.customer_id,
                kind=record.kind,
                reason=_cut(reason),
                payload=record.payload,
                module_ids=record.module_ids,
                attempts=record.attempts,
                dead_at=self._now(),
                replays_failed=previous.replays_failed + 1 if previous else 0,
            )
        )
        return self._transition(record, "dead", error=reason)

    def _transition(
        self,
        record: RequestRecord,
        status: str,
        *,
        error: str | None = None,
        latency_seconds: float | None = None,
        model_version: str | None = None,
        attempts: int | None = None,
    ) -> RequestRecord:
        stored = self.get(record.customer_id, record.idempotency_key)
        if stored is None:
            raise KeyError(f"{record.idempotency_key} of {record.customer_id} is not logged")
        if stored.revision != record.revision:
            raise StaleRequest(
                f"{record.idempotency_key} changed since it was read (revision "
                f"{record.revision}, now {stored.revision}, {stored.status})"
            )
        if status not in TRANSITIONS[stored.status]:
            raise InvalidTransition(
                f"{stored.idempotency_key} of {stored.customer_id} cannot go from "
                f"{stored.status} to {status}"
            )
        if attempts is not None and attempts < stored.attempts:
            raise ValueError(f"attempts cannot go down ({stored.attempts} -> {attempts})")
        now = self._now()
        finished = status in ("succeeded", "failed", "dead")
        entry = {"status": status, "at": now}
        if error:
            entry["error"] = _cut(error)
        updated = replace(
            stored,
            status=status,
            attempts=stored.attempts if attempts is None else attempts,
            updated_at=now,
            finished_at=now if finished else None,
            error=_cut(error) if error else (None if status == "succeeded" else stored.error),
            latency_seconds=stored.latency_seconds if latency_seconds is None else latency_seconds,
            model_version=model_version or stored.model_version,
            revision=stored.revision + 1,
            history=(*stored.history, entry),
        )
        self._write(updated)
        return updated

    def _write(self, record: RequestRecord) -> None:
        self.storage.write_bytes(
            self.key(record.customer_id, record.idempotency_key), record.to_json()
        )

    def logged_keys(self, customer_id: str) -> set[str]:
        """The idempotency keys of every request the customer ever made (one listing)."""
        prefix = f"{REQUESTS_PREFIX}/{_segment(customer_id, 'customer id')}/"
        return {
            key.rsplit("/", 1)[-1].removesuffix(".json") for key in self.storage.list_keys(prefix)
        }

    def requests(
        self, customer_id: str, status: str | None = None, kind: str | None = None
    ) -> list[RequestRecord]:
        """The customer's requests (by key), optionally of one status or kind."""
        prefix = f"{REQUESTS_PREFIX}/{_segment(customer_id, 'customer id')}/"
        records = [
            RequestRecord.from_json(self.storage.read_bytes(key), self.storage.uri(key))
            for key in self.storage.list_keys(prefix)
        ]
        return [
            r
            for r in records
            if (status is None or r.status == status) and (kind is None or r.kind == kind)
        ]

    def summary(self, customer_id: str, kind: str | None = None) -> dict[str, int]:
        """Counts of every request the customer ever made, by status, and its dead letters
        (a full listing: a run reports its own requests with `count_by_status`)."""
        return {
            **count_by_status(self.requests(customer_id, kind=kind)),
            "dead_letters": len(self.dead_letters.list(customer_id, kind)),
        }


def count_by_status(records: Iterable[RequestRecord]) -> dict[str, int]:
    """Requests by status, every status present, and their total: a run's metadata."""
    counts = Counter(r.status for r in records)
    return {**{s: counts.get(s, 0) for s in STATUSES}, "requests": sum(counts.values())}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."


# --- Replaying dead letters ------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayReport:
    """`replayed`: keys that succeeded on replay (their dead letters removed). `still_dead`:
    keys that failed again (dead again, with the new reason). `cleared`: dead letters whose
    request had already succeeded (a crash between the two writes): removed, not replayed."""

    replayed: list[str]
    still_dead: list[str]
    cleared: list[str]

    @property
    def changed_anything(self) -> bool:
        return bool(self.replayed or self.still_dead or self.cleared)


def replay_dead_letters(
    log: RequestLog,
    customer_id: str,
    replay: Callable[[RequestRecord], Mapping[str, Any] | None],
    kind: str | None = None,
) -> ReplayReport:
    """Replay the customer's dead letters with `replay(record)`, which performs the request
    from `record.payload` and raises on failure; it may return {"model_version": ...}. No
    dead letters: no calls and no writes."""
    replayed, still_dead, cleared = [], [], []
    for letter in log.dead_letters.list(customer_id, kind):
        key = letter.idempotency_key
        record = log.get(customer_id, key)
        if record is None:
            raise KeyError(f"dead letter {key} of {customer_id} has no request record")
        if record.status == "succeeded":
            log.dead_letters.remove(customer_id, key)
            cleared.append(key)
            continue
        if record.status == "running":
            # A replay or run that died mid-call (two replays at once are kept apart by the
            # job's run key). Safe to redo: the catalog and the cache are idempotent by key.
            record = log.fail(record, "interrupted: found running when replayed")
        record = log.start(record)  # from dead, failed (crash before it went dead) or pending
        began = time.perf_counter()
        try:
            outcome = replay(record) or {}
        except Exception as error:  # any failure of the replay is recorded, then dead again
            reason = f"replay failed: {type(error).__name__}: {error}"
            record = log.fail(record, reason, latency_seconds=time.perf_counter() - began)
            log.mark_dead(record, reason)
            still_dead.append(key)
            continue
        log.succeed(
            record,
            latency_seconds=time.perf_counter() - began,
            model_version=outcome.get("model_version"),
        )
        log.dead_letters.remove(customer_id, key)  # after the success is recorded
        replayed.append(key)
    return ReplayReport(replayed, still_dead, cleared)
