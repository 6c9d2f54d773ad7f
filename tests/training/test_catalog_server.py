"""The reference training catalog on real sockets and a real SQLite file: paging, content
hashes, idempotent ApplyTags, refusals that name what is wrong, the seed, and two server
processes sharing one file."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from model_servers.training_catalog.seed import (
    KNOWN_EFFECTS,
    MODULES_PER_CUSTOMER,
    STYLE_WEIGHTS,
    generate,
    load_taxonomies,
)
from model_servers.training_catalog.server import MAX_PAGE_SIZE, serve
from model_servers.training_catalog.store import CatalogError, CatalogStore, TagRecord
from model_servers.training_catalog.vocabulary import WORDS
from protos import training_catalog_pb2 as pb
from protos import training_catalog_pb2_grpc as pb_grpc
from protos.contract import TRAINING_CATALOG_SERVICE_NAME
from resources.grpc_client import reference_server

CUSTOMER = "globex-insurance"
OTHER = "northwind-software"


@pytest.fixture
def catalog(start_catalog):
    """(server, stub) of a healthy catalog on this test's seeded file."""
    server, target = start_catalog()
    channel = grpc.insecure_channel(target)
    yield server, pb_grpc.TrainingCatalogStub(channel)
    channel.close()


def all_modules(stub, customer_id: str, page_size: int = 0) -> tuple[list[pb.Module], int]:
    """Every module by following the page tokens; and how many pages it took."""
    modules, token, pages = [], "", 0
    while True:
        reply = stub.ListModules(
            pb.ListModulesRequest(customer_id=customer_id, page_token=token, page_size=page_size)
        )
        modules.extend(reply.modules)
        pages += 1
        token = reply.next_page_token
        if not token:
            return modules, pages


def module_count(db: Path, customer_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select count(*) from modules where customer_id = ?", (customer_id,)
        ).fetchone()[0]


def apply(stub, module_id: str, tags: list[str], key: str, customer_id: str = CUSTOMER):
    return stub.ApplyTags(
        pb.ApplyTagsRequest(
            customer_id=customer_id, module_id=module_id, tag_ids=tags, idempotency_key=key
        )
    )


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# --- listing ---------------------------------------------------------------------------------


def test_customers_and_taxonomies_are_those_of_taxonomies_json(catalog) -> None:
    _, stub = catalog
    expected = {c["customer_id"]: c for c in load_taxonomies()}
    customers = stub.ListCustomers(pb.ListCustomersRequest()).customers
    assert sorted(c.customer_id for c in customers) == sorted(expected)
    for customer in customers:
        source = expected[customer.customer_id]
        assert (customer.name, customer.tier) == (source["name"], source["tier"])
        assert list(customer.feature_flags) == source["feature_flags"]
        taxonomy = stub.GetTaxonomy(pb.GetTaxonomyRequest(customer_id=customer.customer_id))
        assert [t.tag_id for t in taxonomy.tags] == [t["tag_id"] for t in source["tags"]]
        assert [list(t.aliases) for t in taxonomy.tags] == [t["aliases"] for t in source["tags"]]
        assert re.fullmatch(r"[0-9a-f]{16}", taxonomy.version)


@pytest.mark.parametrize("page_size", [0, 333, 5_000])
def test_paging_returns_every_module_exactly_once_in_order(
    catalog, catalog_db, page_size: int
) -> None:
    _, stub = catalog
    modules, pages = all_modules(stub, CUSTOMER, page_size)
    ids = [m.module_id for m in modules]
    total = module_count(catalog_db, CUSTOMER)
    assert MODULES_PER_CUSTOMER[0] <= total <= MODULES_PER_CUSTOMER[1]
    assert len(ids) == len(set(ids)) == total
    assert ids == sorted(ids) and all(i.startswith(f"{CUSTOMER}-m") for i in ids)
    effective = min(page_size or 500, MAX_PAGE_SIZE)  # 0: the default; 5,000: capped
    assert pages == -(-total // effective)


def test_paging_is_stable_while_another_client_adds_modules(catalog, catalog_store) -> None:
    _, stub = catalog
    first = stub.ListModules(pb.ListModulesRequest(customer_id=CUSTOMER, page_size=100))
    # A module added before the page position and one after it: keyset paging neither
    # repeats nor skips what was already listed.
    catalog_store.add_module(CUSTOMER, f"{CUSTOMER}-m00000", "Early", "")
    catalog_store.add_module(CUSTOMER, f"{CUSTOMER}-m99999", "Late", "")
    rest, token = [], first.next_page_token
    while token:
        reply = stub.ListModules(
            pb.ListModulesRequest(customer_id=CUSTOMER, page_size=100, page_token=token)
        )
        rest.extend(m.module_id for m in reply.modules)
        token = reply.next_page_token
    ids = [m.module_id for m in first.modules] + rest
    assert len(ids) == len(set(ids))
    assert f"{CUSTOMER}-m99999" in rest and f"{CUSTOMER}-m00000" not in ids


def test_learners_completions_and_performance_page_completely(catalog, catalog_db) -> None:
    _, stub = catalog
    lists = {
        "learners": (stub.ListLearners, "learners", lambda r: r.learner_id),
        "completions": (stub.ListCompletions, "completions", lambda r: r.completion_id),
        "field_performance": (
            stub.ListFieldPerformance,
            "records",
            lambda r: (r.learner_id, r.month, r.metric),
        ),
    }
    with sqlite3.connect(catalog_db) as conn:
        for table, (method, field, key) in lists.items():
            keys, token = [], ""
            while True:
                reply = method(
                    pb.ListRecordsRequest(customer_id=OTHER, page_token=token, page_size=100)
                )
                keys.extend(key(r) for r in getattr(reply, field))
                token = reply.next_page_token
                if not token:
                    break
            count = conn.execute(
                f"select count(*) from {table} where customer_id = ?", (OTHER,)
            ).fetchone()[0]
            assert len(keys) == len(set(keys)) == count > 100, table
            assert keys == sorted(keys), table


def test_bad_page_requests_are_refused_by_name(catalog) -> None:
    _, stub = catalog
    first = stub.ListModules(pb.ListModulesRequest(customer_id=CUSTOMER, page_size=10))
    error = refusal(
        lambda: stub.ListModules(
            pb.ListModulesRequest(customer_id=OTHER, page_token=first.next_page_token)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in error.details() and OTHER in error.details()
    error = refusal(
        lambda: stub.ListLearners(
            pb.ListRecordsRequest(customer_id=CUSTOMER, page_token=first.next_page_token)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # a modules token for learners
    error = refusal(
        lambda: stub.ListModules(pb.ListModulesRequest(customer_id=CUSTOMER, page_token="%%%"))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = refusal(
        lambda: stub.ListModules(pb.ListModulesRequest(customer_id=CUSTOMER, page_size=-1))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in error.details()


def test_unknown_customer_is_not_found_and_named(catalog) -> None:
    _, stub = catalog
    for call in (
        lambda: stub.GetTaxonomy(pb.GetTaxonomyRequest(customer_id="umbrella-corp")),
        lambda: stub.ListModules(pb.ListModulesRequest(customer_id="umbrella-corp")),
        lambda: stub.ListFieldPerformance(pb.ListRecordsRequest(customer_id="umbrella-corp")),
    ):
        error = refusal(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert "'umbrella-corp'" in error.details()


# --- content hashes, edits, taxonomy versions -------------------------------------------------


def test_content_hashes_are_sha256_of_the_text_and_stable(start_catalog, catalog_db) -> None:
    server, target = start_catalog()
    with grpc.insecure_channel(target) as channel:
        before, _ = all_modules(pb_grpc.TrainingCatalogStub(channel), CUSTOMER, 1000)
    server.stop(grace=None)
    _, target = start_catalog()  # a restarted server on the same file
    with grpc.insecure_channel(target) as channel:
        after, _ = all_modules(pb_grpc.TrainingCatalogStub(channel), CUSTOMER, 700)
    assert [(m.module_id, m.content_hash, m.last_modified) for m in before] == [
        (m.module_id, m.content_hash, m.last_modified) for m in after
    ]
    for module in before:
        text = f"{module.title}\n{module.description}".encode()
        assert module.content_hash == hashlib.sha256(text).hexdigest(), module.module_id
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", module.last_modified)


def test_editing_a_module_changes_its_hash_and_last_modified_only(catalog, catalog_store) -> None:
    _, stub = catalog
    before = {m.module_id: m for m in all_modules(stub, CUSTOMER, 1000)[0]}
    edited_id = f"{CUSTOMER}-m00042"
    moment = dt.datetime(2026, 8, 1, 9, 30, tzinfo=dt.UTC)
    catalog_store.update_module_text(
        CUSTOMER, edited_id, description="Rewritten: claims paperwork.", now=moment
    )
    again = catalog_store.update_module_text(CUSTOMER, edited_id, title="Renamed", now=moment)
    after = {m.module_id: m for m in all_modules(stub, CUSTOMER, 1000)[0]}
    edited = after.pop(edited_id)
    assert edited.title == "Renamed" and edited.description == "Rewritten: claims paperwork."
    assert (
        edited.content_hash == hashlib.sha256(b"Renamed\nRewritten: claims paperwork.").hexdigest()
    )
    # Two edits in the same second still move last_modified forward.
    assert edited.last_modified == again.last_modified == "2026-08-01T09:30:01Z"
    assert edited.content_hash != before.pop(edited_id).content_hash
    assert after == before


def test_taxonomy_version_changes_when_a_tag_is_added_or_reworded(catalog, catalog_store) -> None:
    _, stub = catalog

    def version(customer_id: str = CUSTOMER) -> str:
        return stub.GetTaxonomy(pb.GetTaxonomyRequest(customer_id=customer_id)).version

    v1, other = version(), version(OTHER)
    assert v1 == version()  # stable between calls
    catalog_store.upsert_tag(
        CUSTOMER, TagRecord("fraud-awareness", "Fraud awareness", "Spotting fraud.", ("fraud",))
    )
    v2 = version()
    catalog_store.upsert_tag(
        CUSTOMER, TagRecord("fraud-awareness", "Fraud awareness", "Spotting claims fraud.", ())
    )
    v3 = version()
    assert len({v1, v2, v3}) == 3 and version(OTHER) == other
    tags = stub.GetTaxonomy(pb.GetTaxonomyRequest(customer_id=CUSTOMER)).tags
    assert tags[-1].tag_id == "fraud-awareness" and tags[-1].description == "Spotting claims fraud."


def test_tier_and_flags_changes_are_served(catalog, catalog_store) -> None:
    _, stub = catalog
    catalog_store.set_customer_tier(CUSTOMER, "enterprise")
    catalog_store.set_feature_flags(CUSTOMER, ["TrainingImpact"])
    customer = next(
        c for c in stub.ListCustomers(pb.ListCustomersRequest()).customers
        if c.customer_id == CUSTOMER
    )  # fmt: skip
    assert (customer.tier, list(customer.feature_flags)) == ("enterprise", ["TrainingImpact"])
    with pytest.raises(ValueError, match="'platinum'"):
        catalog_store.set_customer_tier(CUSTOMER, "platinum")


# --- ApplyTags ---------------------------------------------------------------------------------


def test_apply_tags_is_idempotent_per_key(catalog, catalog_store) -> None:
    _, stub = catalog
    module_id = f"{CUSTOMER}-m00007"
    first = apply(stub, module_id, ["compliance", "claims-handling"], "approval-1/m7")
    assert (list(first.tag_ids), first.replayed) == (["claims-handling", "compliance"], False)
    # The same key again, tags in another order: nothing changes, and it says so.
    second = apply(stub, module_id, ["claims-handling", "compliance"], "approval-1/m7")
    assert (list(second.tag_ids), second.replayed) == (["claims-handling", "compliance"], True)
    listed = next(m for m in all_modules(stub, CUSTOMER, 1000)[0] if m.module_id == module_id)
    assert list(listed.tag_ids) == ["claims-handling", "compliance"]
    assert catalog_store.applied_key_count() == 1


def test_apply_tags_replaces_the_set_never_appends(catalog, catalog_store) -> None:
    _, stub = catalog
    module_id = f"{CUSTOMER}-m00008"
    apply(stub, module_id, ["compliance", "onboarding"], "k1")
    apply(stub, module_id, ["onboarding", "data-privacy"], "k2")
    assert catalog_store.module(CUSTOMER, module_id).tag_ids == ("data-privacy", "onboarding")
    assert apply(stub, module_id, [], "k3").tag_ids == []  # the empty set clears the module
    assert catalog_store.module(CUSTOMER, module_id).tag_ids == ()
    # Replaying k1 after k2 and k3 changes nothing: a key applies once, ever.
    assert apply(stub, module_id, ["compliance", "onboarding"], "k1").replayed
    assert catalog_store.module(CUSTOMER, module_id).tag_ids == ()


def test_a_key_reused_with_other_tags_or_module_is_refused(catalog, catalog_store) -> None:
    _, stub = catalog
    apply(stub, f"{CUSTOMER}-m00009", ["compliance"], "approval-2/m9")
    for module_id, tags in (
        (f"{CUSTOMER}-m00009", ["compliance", "onboarding"]),
        (f"{CUSTOMER}-m00010", ["compliance"]),
    ):
        error = refusal(lambda m=module_id, t=tags: apply(stub, m, t, "approval-2/m9"))
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "'approval-2/m9'" in error.details() and f"{CUSTOMER}-m00009" in error.details()
    assert catalog_store.module(CUSTOMER, f"{CUSTOMER}-m00009").tag_ids == ("compliance",)
    assert catalog_store.module(CUSTOMER, f"{CUSTOMER}-m00010").tag_ids == ()


@pytest.mark.parametrize(
    ("customer_id", "module_id", "tags", "key", "code", "named"),
    [
        (CUSTOMER, "m00011", ["comms"], "k", "INVALID_ARGUMENT", "'comms'"),
        # a tag from another customer's taxonomy
        (CUSTOMER, "m00011", ["compliance", "discovery"], "k", "INVALID_ARGUMENT", "'discovery'"),
        (CUSTOMER, "m00011", ["compliance", ""], "k", "INVALID_ARGUMENT", "tag ''"),
        (CUSTOMER, "m00011", ["compliance", "compliance"], "k", "INVALID_ARGUMENT", "twice"),
        (CUSTOMER, "m00011", ["compliance"], " ", "INVALID_ARGUMENT", "idempotency key"),
        (CUSTOMER, "m77777", ["compliance"], "k", "NOT_FOUND", f"'{CUSTOMER}-m77777'"),
        # another customer's module is not found for this one
        (OTHER, "m00011", ["discovery"], "k", "NOT_FOUND", f"'{CUSTOMER}-m00011'"),
        ("umbrella-corp", "m00011", ["compliance"], "k", "NOT_FOUND", "'umbrella-corp'"),
    ],
)  # fmt: skip
def test_bad_apply_requests_are_refused_by_name_and_change_nothing(
    catalog, catalog_store, customer_id, module_id, tags, key, code, named
) -> None:
    _, stub = catalog
    module_id = f"{CUSTOMER}-{module_id}"
    error = refusal(lambda: apply(stub, module_id, tags, key, customer_id=customer_id))
    assert error.code().name == code
    assert named in error.details()
    assert catalog_store.applied_key_count() == 0
    assert catalog_store.module(CUSTOMER, f"{CUSTOMER}-m00011").tag_ids == ()


def test_fault_switches_fail_apply_tags_only(start_catalog, catalog_store) -> None:
    server, target = start_catalog(fail_first=1, fail_apply_modules=[f"{CUSTOMER}-m00013"])
    with grpc.insecure_channel(target) as channel:  # no retry policy: every failure shows
        stub = pb_grpc.TrainingCatalogStub(channel)
        assert stub.ListCustomers(pb.ListCustomersRequest()).customers  # lists unaffected
        first = refusal(lambda: apply(stub, f"{CUSTOMER}-m00012", ["compliance"], "a"))
        assert first.code() == grpc.StatusCode.UNAVAILABLE and "--fail-first" in first.details()
        assert not apply(stub, f"{CUSTOMER}-m00012", ["compliance"], "a").replayed
        for _ in range(2):
            error = refusal(lambda: apply(stub, f"{CUSTOMER}-m00013", ["compliance"], "b"))
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert f"'{CUSTOMER}-m00013'" in error.details()
    assert server.servicer.apply_calls == 4
    assert catalog_store.module(CUSTOMER, f"{CUSTOMER}-m00013").tag_ids == ()


def test_cli_takes_the_store_and_fault_switches_and_reports_health(catalog_db) -> None:
    """`python -m model_servers.training_catalog --db ... --fail-first 1 --fail-apply-modules`
    as the resource would start it, asked directly over gRPC."""
    failing = f"{CUSTOMER}-m00015"
    args = ["--db", str(catalog_db), "--fail-first", "1", "--fail-apply-modules", f"{failing},x"]
    with reference_server("model_servers.training_catalog", 30.0, args) as target:
        with grpc.insecure_channel(target) as channel:
            health_stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", TRAINING_CATALOG_SERVICE_NAME):
                status = health_stub.Check(health_pb2.HealthCheckRequest(service=name)).status
                assert status == health_pb2.HealthCheckResponse.SERVING, name
            stub = pb_grpc.TrainingCatalogStub(channel)
            first = refusal(lambda: apply(stub, f"{CUSTOMER}-m00014", ["compliance"], "g"))
            assert "--fail-first" in first.details()
            assert not apply(stub, f"{CUSTOMER}-m00014", ["compliance"], "g").replayed
            error = refusal(lambda: apply(stub, failing, ["compliance"], "h"))
            assert error.code() == grpc.StatusCode.UNAVAILABLE and failing in error.details()
    store = CatalogStore.open(catalog_db)  # the server wrote into the file it was given
    assert store.module(CUSTOMER, f"{CUSTOMER}-m00014").tag_ids == ("compliance",)
    assert store.applied_key_count() == 1


def test_a_file_that_is_not_a_catalog_is_refused_by_name(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.sqlite"
    garbage.write_bytes(b"these are not the modules you are looking for" * 100)
    with pytest.raises(CatalogError, match=f"catalog store {garbage} cannot be opened"):
        serve("127.0.0.1", 0, db_path=garbage)
    assert garbage.read_bytes().startswith(b"these are not")  # left as it was


def test_delay_switch_meets_the_callers_deadline(start_catalog) -> None:
    _, target = start_catalog(delay_seconds=1.0)
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingCatalogStub(channel)
        error = refusal(lambda: stub.ListCustomers(pb.ListCustomersRequest(), timeout=0.2))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


# --- the seed ----------------------------------------------------------------------------------


def test_seed_modules_carry_true_tags_from_their_taxonomy(catalog_store) -> None:
    for customer in load_taxonomies():
        customer_id = customer["customer_id"]
        taxonomy = {t["tag_id"] for t in customer["tags"]}
        truth = catalog_store.true_tags(customer_id)
        with sqlite3.connect(catalog_store.path) as conn:
            modules = [
                row[0]
                for row in conn.execute(
                    "select module_id from modules where customer_id = ?", (customer_id,)
                )
            ]
        assert sorted(truth) == sorted(modules)
        assert all(1 <= len(tags) <= 3 and set(tags) <= taxonomy for tags in truth.values())
        assert set().union(*truth.values()) == taxonomy  # every tag is taught somewhere
        # A small share is tagged already, with the true tags; the rest waits for the tagger.
        tagged = {
            m.module_id: m.tag_ids
            for m in catalog_store.modules_page(customer_id, None, 10_000)
            if m.tag_ids
        }
        assert 0.01 * len(modules) < len(tagged) < 0.10 * len(modules)
        assert all(truth[module_id] == tags for module_id, tags in tagged.items())
        styles = Counter(catalog_store.seed_styles(customer_id).values())
        assert set(styles) == set(STYLE_WEIGHTS) and min(styles.values()) > 50, styles


def test_seed_text_is_about_its_true_tags(catalog_store) -> None:
    """Plain modules name every true tag through its vocabulary; alias modules name at least
    one through an alias; short titles are short; foreign ones are not English."""
    for customer in load_taxonomies():
        customer_id = customer["customer_id"]
        aliases = {t["tag_id"]: [a.lower() for a in t["aliases"]] for t in customer["tags"]}
        truth = catalog_store.true_tags(customer_id)
        styles = catalog_store.seed_styles(customer_id)
        for module in catalog_store.modules_page(customer_id, None, 10_000):
            text = f"{module.title}\n{module.description}".lower()
            tags, style = truth[module.module_id], styles[module.module_id]
            where = (module.module_id, style, module.title)
            words = {t: WORDS[customer_id][t] for t in tags}
            if style == "plain":
                for tag in tags:
                    phrases = [*words[tag].topics, *words[tag].actions]
                    assert any(p.lower() in text for p in phrases), (*where, tag)
            elif style == "alias":
                assert any(a in text for tag in tags for a in aliases[tag]), where
            elif style == "short":
                assert len(tags) == 1 and len(module.title.split()) <= 4, where
            elif style == "foreign":
                assert not any(p.lower() in text for t in tags for p in words[t].topics), where


def test_seed_is_deterministic_and_known_effects_cover_every_tag(catalog_store) -> None:
    """The store seeded at the start of the session holds exactly what a new generation
    makes now: same modules, texts, timestamps, completions and field performance."""
    taxonomies = load_taxonomies()
    generated = generate(taxonomies)
    with sqlite3.connect(catalog_store.path) as conn:
        for table, rows in (
            ("modules", [row for seed in generated for row in seed.modules]),
            ("seed_truth", [row for seed in generated for row in seed.truth]),
            ("completions", [row for seed in generated for row in seed.completions]),
            ("field_performance", [row for seed in generated for row in seed.performance]),
        ):
            stored = conn.execute(f"select * from {table}").fetchall()
            assert sorted(stored) == sorted(rows), table
    for customer in taxonomies:
        effects = KNOWN_EFFECTS[customer["customer_id"]]
        assert set(effects) == {t["tag_id"] for t in customer["tags"]}
        signs = Counter((e > 0) - (e < 0) for e in effects.values())
        assert signs[1] >= 2 and signs[0] >= 2 and signs[-1] == 1, customer["customer_id"]


# --- two servers, one file --------------------------------------------------------------------


def test_two_server_processes_seed_and_apply_on_one_file_without_losing_anything(
    tmp_path: Path,
) -> None:
    """Two `python -m model_servers.training_catalog` processes started at once on a new file
    (both find it empty: one seeds, the other waits), then applying tags concurrently: every
    key lands once, shared keys are applied by one process and replayed by the other."""
    db = tmp_path / "shared" / "training_catalog.sqlite"
    own = {0: range(1, 61), 1: range(61, 121)}  # each server's own modules
    shared = range(121, 181)  # sent to both servers with the same keys and tags

    def tags_for(n: int) -> list[str]:
        return [["compliance"], ["onboarding", "communication"], ["claims-handling"]][n % 3]

    results: dict[int, list[tuple[int, bool]]] = {0: [], 1: []}
    errors: list[BaseException] = []

    def run(index: int, target: str) -> None:
        try:
            with grpc.insecure_channel(target) as channel:
                stub = pb_grpc.TrainingCatalogStub(channel)
                for n in [*own[index], *shared]:
                    reply = apply(stub, f"{CUSTOMER}-m{n:05d}", tags_for(n), f"run-{n}")
                    results[index].append((n, reply.replayed))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    servers = [
        reference_server("model_servers.training_catalog", 60.0, ["--db", str(db)])
        for _ in range(2)
    ]
    with ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        starts = [pool.submit(server.__enter__) for server in servers]  # both at once
        for server, start in zip(servers, starts, strict=True):
            if start.exception() is None:
                stack.push(server)  # its exit stops that process
        assert not [s.exception() for s in starts if s.exception()]
        workers = [
            threading.Thread(target=run, args=(i, start.result())) for i, start in enumerate(starts)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    assert not errors, errors

    store = CatalogStore.open(db)
    assert len(store.customers()) == 4  # seeded once, not twice
    expected_total = sum(len(s.modules) for s in generate(load_taxonomies()))
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from modules").fetchone()[0] == expected_total
    assert store.applied_key_count() == 180
    for n in range(1, 181):
        assert store.module(CUSTOMER, f"{CUSTOMER}-m{n:05d}").tag_ids == tuple(
            sorted(tags_for(n))
        ), n
    shared_replays = Counter(
        replayed for index in (0, 1) for n, replayed in results[index] if n in shared
    )
    assert shared_replays == {False: len(shared), True: len(shared)}
    assert not any(
        replayed for index in (0, 1) for n, replayed in results[index] if n in own[index]
    )
