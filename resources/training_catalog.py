"""The training catalog client: customers, taxonomies, every page of a customer's modules,
idempotent tag application, and the learner records the impact analysis reads.

`TrainingCatalog` is the Dagster resource (configuration only); `connect()` yields a
`TrainingCatalogClient` that owns the channel for the duration of a run step. Channel,
retries (ApplyTags is safe to retry: its idempotency key makes a repeat a `replayed`
no-op), deadline, health wait, error mapping and the local reference server
(`python -m model_servers.training_catalog --db <db_path>` when no endpoint is set) live in
`resources.grpc_client`.

The catalog's answers are input to us: a page with a module twice, a malformed hash or
timestamp, or an ApplyTags reply about another module is refused whole (ModelServiceError),
never used in part.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import grpc
import polars as pl

from protos import training_catalog_pb2 as pb
from protos import training_catalog_pb2_grpc as pb_grpc
from protos.contract import TRAINING_CATALOG_SERVICE_NAME
from resources.grpc_client import GrpcClient, GrpcClientResource, ModelServiceError

MAX_PAGE_SIZE = 1_000  # the reference server's cap; a larger request is served in 1,000s
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

MODULE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "module_id": pl.String(),
    "title": pl.String(),
    "description": pl.String(),
    "content_hash": pl.String(),
    "last_modified": pl.Datetime("us", "UTC"),
    "tag_ids": pl.List(pl.String()),
}
LEARNER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "learner_id": pl.String(),
    "region": pl.String(),
    "role": pl.String(),
    "hired_on": pl.Date(),
}
COMPLETION_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "completion_id": pl.String(),
    "learner_id": pl.String(),
    "module_id": pl.String(),
    "completed_on": pl.Date(),
    "score": pl.Float64(),
}
FIELD_PERFORMANCE_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "learner_id": pl.String(),
    "month": pl.Date(),
    "metric": pl.String(),
    "value": pl.Float64(),
}


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    tier: str  # one of protos.contract.CUSTOMER_TIERS
    feature_flags: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    tag_id: str
    label: str
    description: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    customer_id: str
    version: str  # changes when a tag is added, removed or reworded (a cache-key part)
    tags: tuple[Tag, ...]

    @property
    def tag_ids(self) -> tuple[str, ...]:
        return tuple(tag.tag_id for tag in self.tags)


@dataclass(frozen=True)
class AppliedTags:
    module_id: str
    tag_ids: tuple[str, ...]  # the module's tags after the call
    replayed: bool  # the key had been applied before: nothing changed


class TrainingCatalog(GrpcClientResource):
    """Settings of the training catalog client (`endpoint=None`: start the reference server
    on `db_path`, or on its default file under data/reference/ when `db_path` is None)."""

    SERVICE_NAMES: ClassVar[tuple[str, ...]] = (TRAINING_CATALOG_SERVICE_NAME,)
    REFERENCE_SERVER_MODULE: ClassVar[str] = "model_servers.training_catalog"
    DISPLAY_NAME: ClassVar[str] = "training catalog"

    db_path: str | None = None
    page_size: int = MAX_PAGE_SIZE
    # A new reference store is seeded before the server listens (a few seconds).
    connect_timeout_seconds: float = 30.0

    def reference_server_args(self) -> list[str]:
        # Resolved here: the server runs from the project root, not from our working folder.
        return ["--db", str(Path(self.db_path).resolve())] if self.db_path else []

    @contextmanager
    def connect(self) -> Iterator[TrainingCatalogClient]:
        """A connected, healthy client; closes the channel (and any local server) on exit."""
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {self.page_size}")
        with self.open_client(TrainingCatalogClient) as client:
            yield client


class TrainingCatalogClient(GrpcClient):
    """`calls` counts successful RPCs (one per page), `items_sent` the modules sent to
    ApplyTags, `items_received` the customers, tags, modules and records read."""

    config: TrainingCatalog

    def __init__(self, channel: grpc.Channel, target: str, config: TrainingCatalog) -> None:
        super().__init__(channel, target, config)
        self._stub = pb_grpc.TrainingCatalogStub(channel)
        self.items_received = 0

    def list_customers(self) -> list[Customer]:
        reply = self._call(self._stub.ListCustomers, pb.ListCustomersRequest())
        customers = [
            Customer(c.customer_id, c.name, c.tier, tuple(c.feature_flags)) for c in reply.customers
        ]
        self._check_unique([c.customer_id for c in customers], "customer", "ListCustomers")
        self._count(len(customers))
        return customers

    def taxonomy(self, customer_id: str) -> Taxonomy:
        reply = self._call(self._stub.GetTaxonomy, pb.GetTaxonomyRequest(customer_id=customer_id))
        where = f"GetTaxonomy({customer_id!r})"
        if reply.customer_id != customer_id:
            raise ModelServiceError(
                f"{self.name}, {where}: answered for customer {reply.customer_id!r}"
            )
        if not reply.version:
            raise ModelServiceError(f"{self.name}, {where}: the taxonomy has no version")
        tags = tuple(Tag(t.tag_id, t.label, t.description, tuple(t.aliases)) for t in reply.tags)
        self._check_unique([t.tag_id for t in tags], "tag", where)
        self._count(len(tags))
        return Taxonomy(reply.customer_id, reply.version, tags)

    def modules(self, customer_id: str) -> pl.DataFrame:
        """Every module of the customer (all pages), in module_id order; MODULE_SCHEMA."""
        where = f"ListModules({customer_id!r})"
        rows: dict[str, list] = {name: [] for name in MODULE_SCHEMA}
        pages = self._pages(self._stub.ListModules, pb.ListModulesRequest, customer_id)
        known: set[str] = set()
        for page, reply in enumerate(pages, start=1):
            self._new_on_page(known, [m.module_id for m in reply.modules], page, where)
            for m in reply.modules:
                if not _SHA256_HEX.fullmatch(m.content_hash):
                    raise ModelServiceError(
                        f"{self.name}, {where}: module {m.module_id!r} has content_hash "
                        f"{m.content_hash!r}, not 64 lowercase hex digits"
                    )
                rows["customer_id"].append(customer_id)
                rows["module_id"].append(m.module_id)
                rows["title"].append(m.title)
                rows["description"].append(m.description)
                rows["content_hash"].append(m.content_hash)
                rows["last_modified"].append(
                    self._timestamp(m.last_modified, where, f"module {m.module_id!r}")
                )
                rows["tag_ids"].append(list(m.tag_ids))
            self._count(len(reply.modules))
        self._check_unique(rows["module_id"], "module", where)
        return pl.DataFrame(rows, schema=MODULE_SCHEMA)

    def apply_tags(
        self, customer_id: str, module_id: str, tag_ids: Sequence[str], idempotency_key: str
    ) -> AppliedTags:
        """Set the module's complete tag set (replaces, never appends), once per key.

        The same key again returns `replayed=True` and changes nothing; a key reused with
        other tags raises ModelRejected (ALREADY_EXISTS), as do an unknown customer, module
        or tag (NOT_FOUND, INVALID_ARGUMENT), each named in the message.
        """
        if not idempotency_key.strip():
            raise ValueError(f"apply_tags for module {module_id!r} needs an idempotency key")
        request = pb.ApplyTagsRequest(
            customer_id=customer_id,
            module_id=module_id,
            tag_ids=list(tag_ids),
            idempotency_key=idempotency_key,
        )
        reply = self._call(self._stub.ApplyTags, request)
        where = f"{self.name}, ApplyTags({customer_id!r}, {module_id!r})"
        if reply.module_id != module_id:
            raise ModelServiceError(f"{where}: answered for module {reply.module_id!r}")
        if not reply.replayed and sorted(reply.tag_ids) != sorted(tag_ids):
            raise ModelServiceError(
                f"{where}: sent tags {sorted(tag_ids)}, the module now has {sorted(reply.tag_ids)}"
            )
        self.calls += 1
        self.items_sent += 1
        return AppliedTags(reply.module_id, tuple(reply.tag_ids), reply.replayed)

    def learners(self, customer_id: str) -> pl.DataFrame:
        """Every learner of the customer; LEARNER_SCHEMA."""
        where = f"ListLearners({customer_id!r})"
        rows: dict[str, list] = {name: [] for name in LEARNER_SCHEMA}
        pages = self._pages(self._stub.ListLearners, pb.ListRecordsRequest, customer_id)
        known: set[str] = set()
        for page, reply in enumerate(pages, start=1):
            ids = [r.learner_id for r in reply.learners]
            self._new_on_page(known, ids, page, where, "learner")
            for r in reply.learners:
                rows["customer_id"].append(r.customer_id)
                rows["learner_id"].append(r.learner_id)
                rows["region"].append(r.region)
                rows["role"].append(r.role)
                rows["hired_on"].append(self._date(r.hired_on, where, f"learner {r.learner_id!r}"))
            self._count(len(reply.learners))
        self._check_unique(rows["learner_id"], "learner", where)
        foreign = sorted(set(rows["customer_id"]) - {customer_id})
        if foreign:
            raise ModelServiceError(f"{self.name}, {where}: learners of customers {foreign}")
        return pl.DataFrame(rows, schema=LEARNER_SCHEMA)

    def completions(self, customer_id: str) -> pl.DataFrame:
        """Every module completion by the customer's learners; COMPLETION_SCHEMA."""
        where = f"ListCompletions({customer_id!r})"
        rows: dict[str, list] = {name: [] for name in COMPLETION_SCHEMA}
        pages = self._pages(self._stub.ListCompletions, pb.ListRecordsRequest, customer_id)
        known: set[str] = set()
        for page, reply in enumerate(pages, start=1):
            ids = [r.completion_id for r in reply.completions]
            self._new_on_page(known, ids, page, where, "completion")
            for r in reply.completions:
                rows["customer_id"].append(customer_id)
                rows["completion_id"].append(r.completion_id)
                rows["learner_id"].append(r.learner_id)
                rows["module_id"].append(r.module_id)
                rows["completed_on"].append(
                    self._date(r.completed_on, where, f"completion {r.completion_id!r}")
                )
                rows["score"].append(r.score)
            self._count(len(reply.completions))
        self._check_unique(rows["completion_id"], "completion", where)
        return pl.DataFrame(rows, schema=COMPLETION_SCHEMA)

    def field_performance(self, customer_id: str) -> pl.DataFrame:
        """Every monthly field-performance record of the customer's learners;
        FIELD_PERFORMANCE_SCHEMA."""
        where = f"ListFieldPerformance({customer_id!r})"
        rows: dict[str, list] = {name: [] for name in FIELD_PERFORMANCE_SCHEMA}
        stub = self._stub.ListFieldPerformance
        known: set[str] = set()
        for page, reply in enumerate(self._pages(stub, pb.ListRecordsRequest, customer_id), 1):
            keys = [f"{r.learner_id}/{r.month}/{r.metric}" for r in reply.records]
            self._new_on_page(known, keys, page, where, "(learner, month, metric) record")
            for r in reply.records:
                rows["customer_id"].append(customer_id)
                rows["learner_id"].append(r.learner_id)
                rows["month"].append(self._date(r.month, where, f"learner {r.learner_id!r}"))
                rows["metric"].append(r.metric)
                rows["value"].append(r.value)
            self._count(len(reply.records))
        keys = [
            f"{learner}/{month}/{metric}"
            for learner, month, metric in zip(
                rows["learner_id"], rows["month"], rows["metric"], strict=True
            )
        ]
        self._check_unique(keys, "(learner, month, metric) record", where)
        return pl.DataFrame(rows, schema=FIELD_PERFORMANCE_SCHEMA)

    # --- shared ----------------------------------------------------------------------------

    def _pages(
        self, method: Callable[..., Any], request_type: Callable[..., Any], customer_id: str
    ) -> Iterator[Any]:
        """Each reply of a paged list, following next_page_token to the end."""
        token, seen = "", set()
        page_size = min(self.config.page_size, MAX_PAGE_SIZE)
        while True:
            request = request_type(customer_id=customer_id, page_token=token, page_size=page_size)
            reply = self._call(method, request)
            self.calls += 1
            yield reply
            token = reply.next_page_token
            if not token:
                return
            if token in seen:
                raise ModelServiceError(
                    f"{self.name}: {type(request).__name__} for {customer_id!r} returned the "
                    f"page token {token[:40]!r} twice (the pages would never end)"
                )
            seen.add(token)

    def _new_on_page(
        self, known: set[str], ids: list[str], page: int, where: str, what: str = "module"
    ) -> None:
        """Refuse a page that lists again what an earlier page listed (`known`, then updated
        with this page): a catalog that ignores the page token while issuing new ones would
        otherwise be read forever. Repeats within one page are refused after the last page,
        all of them named at once."""
        again = next((key for key in ids if key in known), None)
        if again is not None:
            raise ModelServiceError(
                f"{self.name}, {where}: {what} {again!r} listed again on page {page} (the "
                "catalog repeats pages; they might never end)"
            )
        known.update(ids)

    def _count(self, items: int) -> None:
        self.items_received += items

    def _check_unique(self, keys: list[str], what: str, where: str) -> None:
        twice = sorted(key for key, count in Counter(keys).items() if count > 1)
        if twice:
            raise ModelServiceError(
                f"{self.name}, {where}: {len(twice)} {what} ids listed more than once, "
                f"first {twice[:5]}"
            )
        if any(not key for key in keys):
            raise ModelServiceError(f"{self.name}, {where}: a {what} with an empty id")

    def _timestamp(self, value: str, where: str, item: str) -> dt.datetime:
        """RFC 3339 as UTC; one with no offset is refused rather than guessed."""
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ModelServiceError(
                f"{self.name}, {where}: {item} has last_modified {value!r}, not RFC 3339"
            )
        return moment.astimezone(dt.UTC)

    def _date(self, value: str, where: str, item: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ModelServiceError(
                f"{self.name}, {where}: {item} has date {value!r}, not YYYY-MM-DD"
            ) from None
