"""The TrainingCatalog gRPC service over the SQLite store, with fault switches for client tests.

Paging: `ListModules` and the record lists return rows in a stable key order (module_id,
learner_id, completion_id, then (learner_id, month, metric)); a page token is the last key
of the page, opaque to clients (URL-safe base64 of JSON naming the list and the customer,
so a token is refused for another list or customer). Keyset paging keeps the order stable
while other processes write.

Fault switches (ApplyTags only): `fail_first` answers the first N calls with UNAVAILABLE;
`fail_apply_modules` fails every call for those module ids (a replay against a healthy
server then applies them); `delay_seconds` sleeps before every catalog call (health aside).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from model_servers.training_catalog.seed import ensure_seeded
from model_servers.training_catalog.store import (
    CatalogStore,
    InvalidRequest,
    KeyConflict,
    NotFound,
)
from protos import training_catalog_pb2 as pb
from protos import training_catalog_pb2_grpc as pb_grpc
from protos.contract import MAX_MESSAGE_BYTES, TRAINING_CATALOG_SERVICE_NAME

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "reference" / "training_catalog.sqlite"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1_000

Reply = TypeVar("Reply")


def open_catalog(db_path: str | Path = DEFAULT_DB_PATH) -> CatalogStore:
    """The store at `db_path`, created and seeded when missing or empty."""
    store = CatalogStore.open(db_path)
    ensure_seeded(store)
    return store


class TrainingCatalogServicer(pb_grpc.TrainingCatalogServicer):
    """Answers the catalog's RPCs from `store`; counts calls per method so tests see retries."""

    def __init__(
        self,
        store: CatalogStore,
        *,
        fail_first: int = 0,
        fail_apply_modules: Iterable[str] = (),
        delay_seconds: float = 0.0,
    ) -> None:
        self.store = store
        self.fail_first = fail_first
        self.fail_apply_modules = frozenset(fail_apply_modules)
        self.delay_seconds = delay_seconds
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # every attempt that reached the server, by method
        self.apply_calls = 0  # ApplyTags attempts, numbered for fail_first

    # --- RPCs ------------------------------------------------------------------------------

    def ListCustomers(self, request, context) -> pb.ListCustomersResponse:
        def answer() -> pb.ListCustomersResponse:
            return pb.ListCustomersResponse(
                customers=[
                    pb.Customer(
                        customer_id=c.customer_id,
                        name=c.name,
                        tier=c.tier,
                        feature_flags=c.feature_flags,
                    )
                    for c in self.store.customers()
                ]
            )

        return self._serve("ListCustomers", context, answer)

    def GetTaxonomy(self, request, context) -> pb.Taxonomy:
        def answer() -> pb.Taxonomy:
            customer, tags = self.store.taxonomy(request.customer_id)
            return pb.Taxonomy(
                customer_id=customer.customer_id,
                version=customer.taxonomy_version,
                tags=[
                    pb.Tag(
                        tag_id=t.tag_id, label=t.label, description=t.description, aliases=t.aliases
                    )
                    for t in tags
                ],
            )

        return self._serve("GetTaxonomy", context, answer)

    def ListModules(self, request, context) -> pb.ListModulesResponse:
        def answer() -> pb.ListModulesResponse:
            customer_id, limit = request.customer_id, _page_size(request.page_size)
            after = _read_token(request.page_token, "modules", customer_id)
            rows = self.store.modules_page(customer_id, after[0] if after else None, limit + 1)
            page = rows[:limit]
            return pb.ListModulesResponse(
                modules=[
                    pb.Module(
                        module_id=m.module_id,
                        title=m.title,
                        description=m.description,
                        content_hash=m.content_hash,
                        last_modified=m.last_modified,
                        tag_ids=m.tag_ids,
                    )
                    for m in page
                ],
                next_page_token=_next_token(
                    rows, limit, "modules", customer_id, page_key=lambda m: [m.module_id]
                ),
            )

        return self._serve("ListModules", context, answer)

    def ApplyTags(self, request, context) -> pb.ApplyTagsResponse:
        def answer() -> pb.ApplyTagsResponse:
            with self._lock:
                self.apply_calls += 1
                attempt = self.apply_calls
            if attempt <= self.fail_first:
                context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"injected failure {attempt} of {self.fail_first} (--fail-first)",
                )
            if request.module_id in self.fail_apply_modules:
                context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"injected failure for module {request.module_id!r} (--fail-apply-modules)",
                )
            applied = self.store.apply_tags(
                request.customer_id,
                request.module_id,
                list(request.tag_ids),
                request.idempotency_key,
            )
            return pb.ApplyTagsResponse(
                module_id=applied.module_id, tag_ids=applied.tag_ids, replayed=applied.replayed
            )

        return self._serve("ApplyTags", context, answer)

    def ListLearners(self, request, context) -> pb.ListLearnersResponse:
        def answer() -> pb.ListLearnersResponse:
            customer_id, limit = request.customer_id, _page_size(request.page_size)
            after = _read_token(request.page_token, "learners", customer_id)
            rows = self.store.learners_page(customer_id, after[0] if after else None, limit + 1)
            return pb.ListLearnersResponse(
                learners=[
                    pb.Learner(
                        learner_id=r.learner_id,
                        customer_id=r.customer_id,
                        region=r.region,
                        role=r.role,
                        hired_on=r.hired_on,
                    )
                    for r in rows[:limit]
                ],
                next_page_token=_next_token(
                    rows, limit, "learners", customer_id, page_key=lambda r: [r.learner_id]
                ),
            )

        return self._serve("ListLearners", context, answer)

    def ListCompletions(self, request, context) -> pb.ListCompletionsResponse:
        def answer() -> pb.ListCompletionsResponse:
            customer_id, limit = request.customer_id, _page_size(request.page_size)
            after = _read_token(request.page_token, "completions", customer_id)
            rows = self.store.completions_page(customer_id, after[0] if after else None, limit + 1)
            return pb.ListCompletionsResponse(
                completions=[
                    pb.Completion(
                        completion_id=r.completion_id,
                        learner_id=r.learner_id,
                        module_id=r.module_id,
                        completed_on=r.completed_on,
                        score=r.score,
                    )
                    for r in rows[:limit]
                ],
                next_page_token=_next_token(
                    rows, limit, "completions", customer_id, page_key=lambda r: [r.completion_id]
                ),
            )

        return self._serve("ListCompletions", context, answer)

    def ListFieldPerformance(self, request, context) -> pb.ListFieldPerformanceResponse:
        def answer() -> pb.ListFieldPerformanceResponse:
            customer_id, limit = request.customer_id, _page_size(request.page_size)
            after = _read_token(request.page_token, "field_performance", customer_id, parts=3)
            rows = self.store.field_performance_page(
                customer_id, tuple(after) if after else None, limit + 1
            )
            return pb.ListFieldPerformanceResponse(
                records=[
                    pb.FieldPerformance(
                        learner_id=r.learner_id, month=r.month, metric=r.metric, value=r.value
                    )
                    for r in rows[:limit]
                ],
                next_page_token=_next_token(
                    rows,
                    limit,
                    "field_performance",
                    customer_id,
                    page_key=lambda r: [r.learner_id, r.month, r.metric],
                ),
            )

        return self._serve("ListFieldPerformance", context, answer)

    # --- shared ----------------------------------------------------------------------------

    def _serve(
        self, method: str, context: grpc.ServicerContext, answer: Callable[[], Reply]
    ) -> Reply:
        """Count the call, apply the delay, and turn the store's refusals into status codes."""
        with self._lock:
            self.calls[method] += 1
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        try:
            return answer()
        except NotFound as exc:
            code, message = grpc.StatusCode.NOT_FOUND, str(exc)
        except InvalidRequest as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except KeyConflict as exc:
            code, message = grpc.StatusCode.ALREADY_EXISTS, str(exc)
        except sqlite3.OperationalError as exc:
            # "database is locked" after busy_timeout: another process held the file; retryable.
            code = grpc.StatusCode.UNAVAILABLE
            message = f"catalog store {self.store.path} busy in {method}: {exc}"
        context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")


def _page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidRequest(f"page_size must be 0 (the default) or more, got {requested}")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _next_token(
    rows: list, limit: int, kind: str, customer_id: str, page_key: Callable[[object], list[str]]
) -> str:
    """The token after the page's last row, or "" when `rows` (fetched `limit + 1`) had no more."""
    if len(rows) <= limit:
        return ""
    payload = {"list": kind, "customer": customer_id, "after": page_key(rows[limit - 1])}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _read_token(token: str, kind: str, customer_id: str, parts: int = 1) -> list[str] | None:
    """The last key of the previous page, or None on the first page; refuses a foreign token."""
    if not token:
        return None
    problem = f"page_token {token[:40]!r} was not issued for this {kind} list of {customer_id!r}"
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(problem) from None
    if (
        not isinstance(payload, dict)
        or payload.get("list") != kind
        or payload.get("customer") != customer_id
        or not isinstance(after := payload.get("after"), list)
        or len(after) != parts
        or not all(isinstance(part, str) for part in after)
    ):
        raise InvalidRequest(problem)
    return after


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    db_path: str | Path = DEFAULT_DB_PATH,
    max_workers: int = 8,
    **options: object,
) -> tuple[grpc.Server, int]:
    """Start a server in this process on the store at `db_path` (seeded if new or empty);
    returns it (already started) and its bound port.

    `options` go to `TrainingCatalogServicer` (fail_first, fail_apply_modules, delay_seconds);
    the servicer is reachable as `server.servicer` and the store as `server.store`.
    """
    store = open_catalog(db_path)
    servicer = TrainingCatalogServicer(store, **options)  # type: ignore[arg-type]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="catalog"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_TrainingCatalogServicer_to_server(servicer, server)

    health_servicer = health.HealthServicer()
    for name in ("", TRAINING_CATALOG_SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"training catalog server could not bind {host}:{port}")
    server.start()
    server.servicer = servicer  # type: ignore[attr-defined]
    server.health = health_servicer  # type: ignore[attr-defined]
    server.store = store  # type: ignore[attr-defined]
    return server, bound
