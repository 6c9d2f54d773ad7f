"""The `TrainingCatalog` resource against real catalog servers: the local default as a
subprocess, paging into frames, idempotent apply with retries and replays, refusals, and
answers the client must refuse."""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import polars as pl
import pytest

from model_servers.training_catalog.seed import KNOWN_EFFECTS, METRICS, load_taxonomies
from protos import training_catalog_pb2 as pb
from protos import training_catalog_pb2_grpc as pb_grpc
from resources.grpc_client import ModelRejected, ModelServiceError, ModelUnavailable
from resources.training_catalog import (
    COMPLETION_SCHEMA,
    FIELD_PERFORMANCE_SCHEMA,
    LEARNER_SCHEMA,
    MODULE_SCHEMA,
    TrainingCatalog,
)
from tests.helpers import pid_listening_on, process_alive

FAST_RETRIES = dict(initial_backoff_seconds=0.05, max_backoff_seconds=0.2, backoff_multiplier=2.0)
CUSTOMER = "acme-pharma"


def module_id(n: int, customer_id: str = CUSTOMER) -> str:
    return f"{customer_id}-m{n:05d}"


# --- the local default: a reference server started by the resource ---------------------------


def test_local_default_serves_the_seeded_store_and_its_known_effects(catalog_db, catalog_store):
    """No endpoint: the resource starts `python -m model_servers.training_catalog --db ...`,
    reads everything through it, and stops it. Trained learners really do differ: a
    regression of the served field performance on "has completed a module carrying tag t"
    (learner and month fixed effects, the seed's true tags) recovers KNOWN_EFFECTS."""
    with TrainingCatalog(db_path=str(catalog_db)).connect() as catalog:
        pid = pid_listening_on(catalog.target)
        customers = catalog.list_customers()
        assert [c.customer_id for c in customers] == sorted(
            c["customer_id"] for c in load_taxonomies()
        )
        estimates = {}
        for customer in customers:
            customer_id = customer.customer_id
            learners = catalog.learners(customer_id)
            completions = catalog.completions(customer_id)
            performance = catalog.field_performance(customer_id)
            assert (learners.schema, completions.schema, performance.schema) == (
                pl.Schema(LEARNER_SCHEMA),
                pl.Schema(COMPLETION_SCHEMA),
                pl.Schema(FIELD_PERFORMANCE_SCHEMA),
            )
            assert performance["metric"].unique().to_list() == [METRICS[customer_id]]
            assert completions["completed_on"].min() >= dt.date(2026, 1, 1)
            assert completions["completed_on"].max() <= dt.date(2026, 10, 31)
            assert completions["score"].is_between(0, 100).all()
            untrained = set(learners["learner_id"]) - set(completions["learner_id"])
            assert 0 < len(untrained) < len(learners) / 4  # a comparison group, not most
            estimates[customer_id] = tag_effects(
                completions, performance, catalog_store.true_tags(customer_id)
            )
        assert catalog.calls > 4 * 3 and catalog.items_sent == 0
    assert not process_alive(pid), f"reference server pid {pid} still running"

    for customer_id, effects in KNOWN_EFFECTS.items():
        for tag_id, known in effects.items():
            estimate = estimates[customer_id][tag_id]
            assert abs(estimate - known) < 0.75, (customer_id, tag_id, known, estimate)
        best = max(effects, key=effects.__getitem__)
        worst = min(effects, key=effects.__getitem__)
        assert estimates[customer_id][best] > 1.0 > 0 > estimates[customer_id][worst]


def tag_effects(
    completions: pl.DataFrame, performance: pl.DataFrame, truth: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    """Least squares: value ~ learner + month + sum over tags of [month after the learner's
    first completion of a module with the tag] * effect. Independent of the seed's code."""
    tags = sorted({tag for module_tags in truth.values() for tag in module_tags})
    module_tags = pl.DataFrame(
        [(module, tag) for module, module_tags in truth.items() for tag in module_tags],
        schema=["module_id", "tag"],
        orient="row",
    )
    first = (
        completions.join(module_tags, on="module_id")
        .group_by("learner_id", "tag")
        .agg(pl.col("completed_on").dt.month().min().alias("completed_month"))
    )
    first_month = {
        (r["learner_id"], r["tag"]): r["completed_month"] for r in first.iter_rows(named=True)
    }
    learners = sorted(performance["learner_id"].unique())
    learner_index = {learner: i for i, learner in enumerate(learners)}
    months = sorted(performance["month"].unique())
    month_index = {month: i for i, month in enumerate(months)}
    columns = len(learners) + len(months) - 1 + len(tags)
    design = np.zeros((performance.height, columns))
    for row, record in enumerate(performance.iter_rows(named=True)):
        design[row, learner_index[record["learner_id"]]] = 1.0
        if month_index[record["month"]]:
            design[row, len(learners) + month_index[record["month"]] - 1] = 1.0
        for j, tag in enumerate(tags):
            completed = first_month.get((record["learner_id"], tag))
            if completed is not None and record["month"].month > completed:
                design[row, len(learners) + len(months) - 1 + j] = 1.0
    solution = np.linalg.lstsq(design, performance["value"].to_numpy(), rcond=None)[0]
    return dict(zip(tags, solution[-len(tags) :].tolist(), strict=True))


def test_reference_server_args_name_the_store_as_an_absolute_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert TrainingCatalog().reference_server_args() == []
    args = TrainingCatalog(db_path="stores/catalog.sqlite").reference_server_args()
    assert args == ["--db", str(tmp_path / "stores" / "catalog.sqlite")]


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1_000, 137])
def test_modules_frame_holds_every_module_once(start_catalog, catalog_store, page_size) -> None:
    _, target = start_catalog()
    catalog_store.apply_tags(CUSTOMER, module_id(5), ["leadership", "compliance"], "k5")
    with TrainingCatalog(endpoint=target, page_size=page_size).connect() as catalog:
        modules = catalog.modules(CUSTOMER)
        calls = catalog.calls
    stored = catalog_store.modules_page(CUSTOMER, None, 10_000)
    assert modules.schema == pl.Schema(MODULE_SCHEMA)
    assert modules["module_id"].to_list() == [m.module_id for m in stored]
    assert modules["module_id"].is_unique().all() and (modules["customer_id"] == CUSTOMER).all()
    assert calls == -(-len(stored) // page_size)
    row = modules.row(4, named=True)
    assert row["tag_ids"] == ["compliance", "leadership"]
    assert (
        row["content_hash"]
        == hashlib.sha256(f"{row['title']}\n{row['description']}".encode()).hexdigest()
    )
    assert row["last_modified"] == dt.datetime.fromisoformat(stored[4].last_modified)


def test_taxonomy_and_unknown_customer(start_catalog) -> None:
    _, target = start_catalog()
    source = next(c for c in load_taxonomies() if c["customer_id"] == CUSTOMER)
    with TrainingCatalog(endpoint=target).connect() as catalog:
        taxonomy = catalog.taxonomy(CUSTOMER)
        assert taxonomy.tag_ids == tuple(t["tag_id"] for t in source["tags"])
        assert taxonomy.tags[0].aliases == tuple(source["tags"][0]["aliases"])
        assert taxonomy.version == catalog.taxonomy(CUSTOMER).version
        with pytest.raises(ModelRejected, match="NOT_FOUND.*'umbrella-corp'"):
            catalog.modules("umbrella-corp")


# --- applying tags ----------------------------------------------------------------------------


def test_apply_tags_is_idempotent_through_the_client(start_catalog, catalog_store) -> None:
    server, target = start_catalog()
    with TrainingCatalog(endpoint=target).connect() as catalog:
        first = catalog.apply_tags(CUSTOMER, module_id(1), ["negotiation", "compliance"], "a/1")
        again = catalog.apply_tags(CUSTOMER, module_id(1), ["compliance", "negotiation"], "a/1")
        assert (catalog.calls, catalog.items_sent) == (2, 2)
    assert (first.tag_ids, first.replayed) == (("compliance", "negotiation"), False)
    assert (again.tag_ids, again.replayed) == (("compliance", "negotiation"), True)
    assert catalog_store.module(CUSTOMER, module_id(1)).tag_ids == ("compliance", "negotiation")
    assert catalog_store.applied_key_count() == 1 and server.servicer.apply_calls == 2


def test_unavailable_twice_then_applied_by_the_retry_policy(start_catalog, catalog_store) -> None:
    server, target = start_catalog(fail_first=2)
    with TrainingCatalog(endpoint=target, **FAST_RETRIES).connect() as catalog:
        applied = catalog.apply_tags(CUSTOMER, module_id(2), ["leadership"], "b/2")
        assert (catalog.calls, catalog.items_sent) == (1, 1)
    assert server.servicer.apply_calls == 3  # two UNAVAILABLE answers, then the change
    assert not applied.replayed
    assert catalog_store.module(CUSTOMER, module_id(2)).tag_ids == ("leadership",)
    assert catalog_store.applied_key_count() == 1


def test_retries_give_up_naming_the_catalog_and_the_attempts(start_catalog, catalog_store):
    server, target = start_catalog(fail_first=100)
    config = TrainingCatalog(endpoint=target, max_attempts=3, **FAST_RETRIES)
    with config.connect() as catalog:
        with pytest.raises(ModelUnavailable) as info:
            catalog.apply_tags(CUSTOMER, module_id(3), ["leadership"], "c/3")
        assert catalog.calls == 0
    message = str(info.value)
    assert message.startswith(f"training catalog at {target} unavailable after 3 attempts")
    assert server.servicer.apply_calls == 3
    assert catalog_store.applied_key_count() == 0


def test_failed_modules_are_applied_by_a_replay_and_a_second_replay_changes_nothing(
    start_catalog, catalog_store
) -> None:
    """ApplyTags keeps failing for two modules; their requests (same keys) replayed against a
    healthy server on the same store apply them; the others say `replayed`; a second replay
    changes nothing; each module ends with each tag exactly once."""
    approved = {
        module_id(n): (tags, f"approval-7/{module_id(n)}")
        for n, tags in [(21, ["compliance"]), (22, ["negotiation", "communication"]),
                        (23, ["clinical-data"]), (24, ["onboarding", "leadership"])]
    }  # fmt: skip
    broken = {module_id(22), module_id(23)}
    flaky, flaky_target = start_catalog(fail_apply_modules=broken)
    dead_letters = {}
    with TrainingCatalog(endpoint=flaky_target, max_attempts=2, **FAST_RETRIES).connect() as c:
        for module, (tags, key) in approved.items():
            try:
                c.apply_tags(CUSTOMER, module, tags, key)
            except ModelUnavailable as exc:
                dead_letters[module] = str(exc)
    assert set(dead_letters) == broken
    assert all(f"'{m}'" in reason for m, reason in dead_letters.items())
    flaky.stop(grace=None)

    _, healthy_target = start_catalog()
    with TrainingCatalog(endpoint=healthy_target).connect() as catalog:
        replay = {m: catalog.apply_tags(CUSTOMER, m, t, k) for m, (t, k) in approved.items()}
        second = {m: catalog.apply_tags(CUSTOMER, m, t, k) for m, (t, k) in approved.items()}
    assert {m for m, applied in replay.items() if not applied.replayed} == broken
    assert all(applied.replayed for applied in second.values())
    for module, (tags, _) in approved.items():
        assert catalog_store.module(CUSTOMER, module).tag_ids == tuple(sorted(tags))
    assert catalog_store.applied_key_count() == len(approved)


@pytest.mark.parametrize(
    ("module", "tags", "named"),
    [
        (module_id(31), ["pricing"], "'pricing'"),  # an alias, not a tag id
        (module_id(31), ["discovery"], "'discovery'"),  # another customer's tag
        (module_id(31, "northwind-software"), ["compliance"], "'northwind-software-m00031'"),
    ],
)
def test_refusals_are_rejected_at_once_and_name_the_culprit(
    start_catalog, catalog_store, module, tags, named
) -> None:
    server, target = start_catalog()
    with TrainingCatalog(endpoint=target, **FAST_RETRIES).connect() as catalog:
        with pytest.raises(ModelRejected) as info:
            catalog.apply_tags(CUSTOMER, module, tags, "d/31")
    assert str(info.value).startswith(f"training catalog at {target} rejected the call")
    assert named in str(info.value)
    assert server.servicer.apply_calls == 1  # not retried
    assert catalog_store.applied_key_count() == 0


def test_a_reused_key_is_rejected_as_already_exists(start_catalog) -> None:
    _, target = start_catalog()
    with TrainingCatalog(endpoint=target).connect() as catalog:
        catalog.apply_tags(CUSTOMER, module_id(41), ["compliance"], "e/41")
        with pytest.raises(ModelRejected, match="ALREADY_EXISTS.*'e/41'"):
            catalog.apply_tags(CUSTOMER, module_id(41), ["leadership"], "e/41")


def test_an_empty_key_is_refused_before_sending(start_catalog) -> None:
    server, target = start_catalog()
    with TrainingCatalog(endpoint=target).connect() as catalog:
        with pytest.raises(ValueError, match="idempotency key"):
            catalog.apply_tags(CUSTOMER, module_id(1), ["compliance"], "  ")
    assert server.servicer.apply_calls == 0


# --- answers the client refuses ---------------------------------------------------------------


GOOD_HASH = "0" * 64
GOOD_TIME = "2026-01-01T00:00:00Z"


def bad_module(module: str, content_hash: str = GOOD_HASH, last_modified: str = GOOD_TIME):
    return pb.Module(module_id=module, content_hash=content_hash, last_modified=last_modified)


class _BadCatalog(pb_grpc.TrainingCatalogServicer):
    """A catalog that pages wrongly or answers for the wrong module."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def ListModules(self, request, context):
        if self.problem == "token loop":  # new modules on every page, the same token
            module = bad_module(f"m{len(request.page_token)}")
            return pb.ListModulesResponse(modules=[module], next_page_token="again")
        if self.problem == "page loop":  # the first page again and again, a new token each time
            page = int(request.page_token or "0") + 1
            token = str(page) if page < 50 else ""  # ends, so a client that loops fails slowly
            return pb.ListModulesResponse(modules=[bad_module("m1")], next_page_token=token)
        modules = {
            "duplicate": [bad_module("m1"), bad_module("m1")],
            "bad hash": [bad_module("m1", content_hash="abc")],
            "naive time": [bad_module("m1", last_modified="2026-01-01T00:00:00")],
        }[self.problem]
        return pb.ListModulesResponse(modules=modules)

    def ApplyTags(self, request, context):
        return pb.ApplyTagsResponse(module_id="someone-else", tag_ids=request.tag_ids)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("duplicate", "1 module ids listed more than once, first ['m1']"),
        ("token loop", "page token 'again' twice"),
        ("page loop", "module 'm1' listed again on page 2"),
        ("bad hash", "content_hash 'abc'"),
        ("naive time", "last_modified '2026-01-01T00:00:00', not RFC 3339"),
    ],
)
def test_a_catalog_answer_that_cannot_be_right_is_refused_whole(problem, message) -> None:
    server = grpc.server(ThreadPoolExecutor(2))
    pb_grpc.add_TrainingCatalogServicer_to_server(_BadCatalog(problem), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with TrainingCatalog(endpoint=f"127.0.0.1:{port}").connect() as catalog:
            with pytest.raises(ModelServiceError, match="ListModules") as info:
                catalog.modules(CUSTOMER)
            assert message in str(info.value)
            with pytest.raises(ModelServiceError, match="answered for module 'someone-else'"):
                catalog.apply_tags(CUSTOMER, module_id(1), ["compliance"], "f/1")
    finally:
        server.stop(grace=None)
