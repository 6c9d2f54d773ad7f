"""The training catalog's local store: one SQLite file that several catalog servers share.

Two Dagster runs for two customers may each start a reference catalog on the same file.
WAL lets readers run beside the one writer; `busy_timeout` makes a second writer wait for
the lock instead of failing; every write is one `BEGIN IMMEDIATE` transaction (it takes the
write lock before reading, so a check-then-write such as an idempotency key cannot race
another process). Each call opens its own short-lived connection, so any server thread may
use the store.

`seed_truth` and `seed_styles` hold what the seed generator knows about each module (its
true tags, how its text was written); the server never serves them, the tests and the
labelled set read them through `true_tags()` and `seed_styles()`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from protos.contract import CUSTOMER_TIERS

SCHEMA_VERSION = "1"
# Longer than a whole seed (a few seconds), so a second server waits for the first one's seed.
BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
create table if not exists store_meta (
    key text primary key,
    value text not null
);
create table if not exists customers (
    customer_id text primary key,
    name text not null,
    tier text not null,
    feature_flags text not null,      -- JSON list of entity set names
    taxonomy_version text not null    -- taxonomy_version() of its tags
);
create table if not exists tags (
    customer_id text not null references customers (customer_id),
    tag_id text not null,
    position integer not null,        -- order in taxonomies.json, the order GetTaxonomy uses
    label text not null,
    description text not null,
    aliases text not null,            -- JSON list
    primary key (customer_id, tag_id)
);
create table if not exists modules (
    module_id text primary key,
    customer_id text not null references customers (customer_id),
    title text not null,
    description text not null,
    content_hash text not null,       -- content_hash(title, description)
    last_modified text not null       -- RFC 3339 UTC, seconds
);
create index if not exists modules_by_customer on modules (customer_id, module_id);
-- The primary key makes "each tag exactly once" a property of the table, not of the code.
create table if not exists module_tags (
    module_id text not null references modules (module_id),
    tag_id text not null,
    primary key (module_id, tag_id)
);
create table if not exists applied_keys (
    idempotency_key text primary key,
    customer_id text not null,
    module_id text not null,
    tag_ids text not null,            -- JSON list, sorted
    applied_at text not null
);
create table if not exists learners (
    learner_id text primary key,
    customer_id text not null references customers (customer_id),
    region text not null,
    role text not null,
    hired_on text not null
);
create index if not exists learners_by_customer on learners (customer_id, learner_id);
create table if not exists completions (
    completion_id text primary key,
    customer_id text not null references customers (customer_id),
    learner_id text not null references learners (learner_id),
    module_id text not null references modules (module_id),
    completed_on text not null,
    score real not null
);
create index if not exists completions_by_customer on completions (customer_id, completion_id);
create table if not exists field_performance (
    customer_id text not null references customers (customer_id),
    learner_id text not null references learners (learner_id),
    month text not null,
    metric text not null,
    value real not null,
    primary key (learner_id, month, metric)
);
create index if not exists field_performance_by_customer
    on field_performance (customer_id, learner_id, month, metric);
create table if not exists seed_truth (
    customer_id text not null,
    module_id text not null references modules (module_id),
    tag_id text not null,
    primary key (module_id, tag_id)
);
create table if not exists seed_styles (
    module_id text primary key references modules (module_id),
    style text not null
);
"""


class CatalogError(Exception):
    """A request the catalog refuses; the message names what and where."""


class NotFound(CatalogError):
    """An unknown customer or module."""


class InvalidRequest(CatalogError, ValueError):
    """A tag outside the taxonomy, a tag twice, an empty key, a foreign page position."""


class KeyConflict(CatalogError):
    """An idempotency key already used for another module or another set of tags."""


@dataclass(frozen=True)
class CustomerRecord:
    customer_id: str
    name: str
    tier: str
    feature_flags: tuple[str, ...]
    taxonomy_version: str


@dataclass(frozen=True)
class TagRecord:
    tag_id: str
    label: str
    description: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class ModuleRecord:
    module_id: str
    title: str
    description: str
    content_hash: str
    last_modified: str
    tag_ids: tuple[str, ...]  # sorted


@dataclass(frozen=True)
class AppliedTags:
    module_id: str
    tag_ids: tuple[str, ...]  # the module's tags after the call, sorted
    replayed: bool


@dataclass(frozen=True)
class LearnerRecord:
    learner_id: str
    customer_id: str
    region: str
    role: str
    hired_on: str


@dataclass(frozen=True)
class CompletionRecord:
    completion_id: str
    learner_id: str
    module_id: str
    completed_on: str
    score: float


@dataclass(frozen=True)
class PerformanceRecord:
    learner_id: str
    month: str
    metric: str
    value: float


def content_hash(title: str, description: str) -> str:
    """sha256 hex of the module's text as stored (training_catalog.proto, Module)."""
    return hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()


def taxonomy_version(tags: Iterable[TagRecord]) -> str:
    """A hash of every tag's id, label, description and aliases: any rewording changes it."""
    canonical = sorted((t.tag_id, t.label, t.description, list(t.aliases)) for t in tags)
    payload = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def rfc3339(moment: dt.datetime) -> str:
    """UTC, whole seconds, `Z` suffix: one format for every timestamp the catalog serves."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CatalogStore:
    """The catalog's tables in one SQLite file; `open()` creates the schema if missing."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: str | Path) -> CatalogStore:
        """The store at `path`, its folder and schema created if missing (no seed: see seed.py)."""
        store = cls(Path(path))
        store.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with store._connection() as conn:
                # Persistent in the file; switching needs no other connection open, hence
                # here, before any server thread reads.
                conn.execute("pragma journal_mode=wal")
            with store.transaction() as conn:
                # One statement at a time: executescript() would commit the transaction.
                for statement in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(statement)
                found = conn.execute(
                    "select value from store_meta where key = 'schema_version'"
                ).fetchone()
                if found is None:
                    conn.execute(
                        "insert into store_meta values ('schema_version', ?)", (SCHEMA_VERSION,)
                    )
                elif found[0] != SCHEMA_VERSION:
                    raise CatalogError(
                        f"catalog store {store.path} has schema version {found[0]}, this "
                        f"server needs {SCHEMA_VERSION}: delete the file to reseed it"
                    )
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"catalog store {store.path} cannot be opened: {exc}") from exc
        return store

    # --- connections ---------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"pragma busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("pragma foreign_keys=on")
            # With WAL, NORMAL loses nothing on a process crash (only on power loss).
            conn.execute("pragma synchronous=normal")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the file's write lock from its first statement."""
        with self._connection() as conn:
            conn.execute("begin immediate")
            try:
                yield conn
            except BaseException:
                conn.execute("rollback")
                raise
            conn.execute("commit")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in it sees the same committed state."""
        with self._connection() as conn:
            conn.execute("begin")
            try:
                yield conn
            finally:
                conn.execute("rollback")

    # --- customers and taxonomies ----------------------------------------------------------

    def is_empty(self) -> bool:
        with self.snapshot() as conn:
            return conn.execute("select count(*) from customers").fetchone()[0] == 0

    def customers(self) -> list[CustomerRecord]:
        with self.snapshot() as conn:
            rows = conn.execute("select * from customers order by customer_id").fetchall()
        return [_customer(row) for row in rows]

    def customer(self, customer_id: str) -> CustomerRecord:
        with self.snapshot() as conn:
            return _customer(_require_customer(conn, customer_id))

    def taxonomy(self, customer_id: str) -> tuple[CustomerRecord, list[TagRecord]]:
        """The customer (with its taxonomy version) and its tags in taxonomy order."""
        with self.snapshot() as conn:
            customer = _customer(_require_customer(conn, customer_id))
            rows = conn.execute(
                "select tag_id, label, description, aliases from tags "
                "where customer_id = ? order by position",
                (customer_id,),
            ).fetchall()
        tags = [TagRecord(r[0], r[1], r[2], tuple(json.loads(r[3]))) for r in rows]
        return customer, tags

    def set_customer_tier(self, customer_id: str, tier: str) -> None:
        if tier not in CUSTOMER_TIERS:
            raise InvalidRequest(
                f"tier {tier!r} for customer {customer_id!r} is not one of "
                f"{', '.join(CUSTOMER_TIERS)}"
            )
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            conn.execute("update customers set tier = ? where customer_id = ?", (tier, customer_id))

    def set_feature_flags(self, customer_id: str, flags: Sequence[str]) -> None:
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            conn.execute(
                "update customers set feature_flags = ? where customer_id = ?",
                (json.dumps(list(flags)), customer_id),
            )

    def upsert_tag(self, customer_id: str, tag: TagRecord) -> str:
        """Add a tag to the customer's taxonomy or reword it; returns the new taxonomy version."""
        if not tag.tag_id.strip():
            raise InvalidRequest(f"an empty tag id cannot join the taxonomy of {customer_id!r}")
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            position = conn.execute(
                "select coalesce((select position from tags where customer_id = ? and tag_id = ?),"
                " (select coalesce(max(position), -1) + 1 from tags where customer_id = ?))",
                (customer_id, tag.tag_id, customer_id),
            ).fetchone()[0]
            conn.execute(
                "insert or replace into tags values (?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    tag.tag_id,
                    position,
                    tag.label,
                    tag.description,
                    json.dumps(list(tag.aliases), ensure_ascii=False),
                ),
            )
            return _refresh_taxonomy_version(conn, customer_id)

    # --- modules ---------------------------------------------------------------------------

    def modules_page(self, customer_id: str, after: str | None, limit: int) -> list[ModuleRecord]:
        """Up to `limit` of the customer's modules with module_id > `after`, by module_id."""
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select module_id, title, description, content_hash, last_modified from modules "
                "where customer_id = ? and module_id > ? order by module_id limit ?",
                (customer_id, after or "", limit),
            ).fetchall()
            tags = _tags_of(conn, [row[0] for row in rows])
        return [ModuleRecord(*row, tags.get(row[0], ())) for row in rows]

    def module(self, customer_id: str, module_id: str) -> ModuleRecord:
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            row = _require_module(conn, customer_id, module_id)
            return ModuleRecord(*row, _tags_of(conn, [module_id]).get(module_id, ()))

    def add_module(
        self,
        customer_id: str,
        module_id: str,
        title: str,
        description: str,
        now: dt.datetime | None = None,
    ) -> ModuleRecord:
        """A new, untagged module (as a customer's authors publish one)."""
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            if conn.execute("select 1 from modules where module_id = ?", (module_id,)).fetchone():
                raise InvalidRequest(f"module {module_id!r} already exists")
            stamp = rfc3339(now or _utc_now())
            digest = content_hash(title, description)
            conn.execute(
                "insert into modules values (?, ?, ?, ?, ?, ?)",
                (module_id, customer_id, title, description, digest, stamp),
            )
        return ModuleRecord(module_id, title, description, digest, stamp, ())

    def update_module_text(
        self,
        customer_id: str,
        module_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        now: dt.datetime | None = None,
    ) -> ModuleRecord:
        """Edit a module's text: new content_hash, and a last_modified strictly later than
        before (one second on when edited twice within the same second)."""
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            _, old_title, old_description, _, old_stamp = _require_module(
                conn, customer_id, module_id
            )
            new_title = old_title if title is None else title
            new_description = old_description if description is None else description
            moment = now or _utc_now()
            previous = dt.datetime.strptime(old_stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
            stamp = rfc3339(max(moment, previous + dt.timedelta(seconds=1)))
            digest = content_hash(new_title, new_description)
            conn.execute(
                "update modules set title = ?, description = ?, content_hash = ?, "
                "last_modified = ? where module_id = ?",
                (new_title, new_description, digest, stamp, module_id),
            )
            tags = _tags_of(conn, [module_id]).get(module_id, ())
        return ModuleRecord(module_id, new_title, new_description, digest, stamp, tags)

    def apply_tags(
        self,
        customer_id: str,
        module_id: str,
        tag_ids: Sequence[str],
        idempotency_key: str,
        now: dt.datetime | None = None,
    ) -> AppliedTags:
        """Replace the module's tags with `tag_ids`, once per idempotency key.

        The same key with the same customer, module and tags (in any order) changes nothing
        and says `replayed`; the same key with anything else raises KeyConflict.
        """
        where = f"module {module_id!r} of customer {customer_id!r}"
        if not idempotency_key.strip():
            raise InvalidRequest(f"an empty idempotency key for {where}")
        twice = sorted({tag for tag in tag_ids if list(tag_ids).count(tag) > 1})
        if twice:
            raise InvalidRequest(f"tag {twice[0]!r} twice for {where}: each tag once")
        wanted = sorted(tag_ids)
        with self.transaction() as conn:
            _require_customer(conn, customer_id)
            _require_module(conn, customer_id, module_id)
            known = {
                row[0]
                for row in conn.execute(
                    "select tag_id from tags where customer_id = ?", (customer_id,)
                )
            }
            unknown = [tag for tag in tag_ids if tag not in known]
            if unknown:
                names = ", ".join(repr(tag) for tag in unknown)
                raise InvalidRequest(
                    f"{'tags' if len(unknown) > 1 else 'tag'} {names} not in the taxonomy of "
                    f"customer {customer_id!r} "
                    f"(applying to module {module_id!r})"
                )
            prior = conn.execute(
                "select customer_id, module_id, tag_ids from applied_keys "
                "where idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if prior is not None:
                if prior == (customer_id, module_id, json.dumps(wanted)):
                    current = _tags_of(conn, [module_id]).get(module_id, ())
                    return AppliedTags(module_id, current, replayed=True)
                raise KeyConflict(
                    f"idempotency key {idempotency_key!r} was used for module {prior[1]!r} of "
                    f"customer {prior[0]!r} with tags {json.loads(prior[2])}; refused for "
                    f"{where} with tags {wanted}"
                )
            conn.execute("delete from module_tags where module_id = ?", (module_id,))
            conn.executemany(
                "insert into module_tags values (?, ?)", [(module_id, tag) for tag in wanted]
            )
            conn.execute(
                "insert into applied_keys values (?, ?, ?, ?, ?)",
                (
                    idempotency_key,
                    customer_id,
                    module_id,
                    json.dumps(wanted),
                    rfc3339(now or _utc_now()),
                ),
            )
        return AppliedTags(module_id, tuple(wanted), replayed=False)

    def applied_key_count(self, customer_id: str | None = None) -> int:
        with self.snapshot() as conn:
            if customer_id is None:
                return conn.execute("select count(*) from applied_keys").fetchone()[0]
            return conn.execute(
                "select count(*) from applied_keys where customer_id = ?", (customer_id,)
            ).fetchone()[0]

    # --- learners, completions, field performance -----------------------------------------

    def learners_page(self, customer_id: str, after: str | None, limit: int) -> list[LearnerRecord]:
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select learner_id, customer_id, region, role, hired_on from learners "
                "where customer_id = ? and learner_id > ? order by learner_id limit ?",
                (customer_id, after or "", limit),
            ).fetchall()
        return [LearnerRecord(*row) for row in rows]

    def completions_page(
        self, customer_id: str, after: str | None, limit: int
    ) -> list[CompletionRecord]:
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select completion_id, learner_id, module_id, completed_on, score "
                "from completions where customer_id = ? and completion_id > ? "
                "order by completion_id limit ?",
                (customer_id, after or "", limit),
            ).fetchall()
        return [CompletionRecord(*row) for row in rows]

    def field_performance_page(
        self, customer_id: str, after: tuple[str, str, str] | None, limit: int
    ) -> list[PerformanceRecord]:
        """Ordered by (learner_id, month, metric); `after` is the last such key seen."""
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select learner_id, month, metric, value from field_performance "
                "where customer_id = ? and (learner_id, month, metric) > (?, ?, ?) "
                "order by learner_id, month, metric limit ?",
                (customer_id, *(after or ("", "", "")), limit),
            ).fetchall()
        return [PerformanceRecord(*row) for row in rows]

    # --- what the seed knows (never served) ------------------------------------------------

    def true_tags(self, customer_id: str) -> dict[str, tuple[str, ...]]:
        """The seed's true tags of every module of the customer, sorted per module."""
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select module_id, tag_id from seed_truth where customer_id = ? "
                "order by module_id, tag_id",
                (customer_id,),
            ).fetchall()
        truth: dict[str, list[str]] = {}
        for module_id, tag_id in rows:
            truth.setdefault(module_id, []).append(tag_id)
        return {module_id: tuple(tags) for module_id, tags in truth.items()}

    def seed_styles(self, customer_id: str) -> dict[str, str]:
        """How the seed wrote each module's text (plain, alias, short, foreign, mixed)."""
        with self.snapshot() as conn:
            _require_customer(conn, customer_id)
            rows = conn.execute(
                "select s.module_id, s.style from seed_styles s join modules m "
                "using (module_id) where m.customer_id = ? order by s.module_id",
                (customer_id,),
            ).fetchall()
        return dict(rows)


def _customer(row: Sequence) -> CustomerRecord:
    customer_id, name, tier, flags, version = row
    return CustomerRecord(customer_id, name, tier, tuple(json.loads(flags)), version)


def _require_customer(conn: sqlite3.Connection, customer_id: str) -> tuple:
    row = conn.execute(
        "select customer_id, name, tier, feature_flags, taxonomy_version from customers "
        "where customer_id = ?",
        (customer_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"customer {customer_id!r} not found in the catalog")
    return row


def _require_module(conn: sqlite3.Connection, customer_id: str, module_id: str) -> tuple:
    """The module's row; another customer's module is as unknown as a missing one."""
    row = conn.execute(
        "select module_id, title, description, content_hash, last_modified from modules "
        "where module_id = ? and customer_id = ?",
        (module_id, customer_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"module {module_id!r} not found for customer {customer_id!r}")
    return row


def _tags_of(conn: sqlite3.Connection, module_ids: list[str]) -> dict[str, tuple[str, ...]]:
    if not module_ids:
        return {}
    found: dict[str, list[str]] = {}
    # A page is at most 1,000 modules, within SQLite's 32,766 host parameters.
    rows = conn.execute(
        f"select module_id, tag_id from module_tags where module_id in "
        f"({','.join('?' * len(module_ids))}) order by module_id, tag_id",
        module_ids,
    )
    for module_id, tag_id in rows:
        found.setdefault(module_id, []).append(tag_id)
    return {module_id: tuple(tags) for module_id, tags in found.items()}


def _refresh_taxonomy_version(conn: sqlite3.Connection, customer_id: str) -> str:
    rows = conn.execute(
        "select tag_id, label, description, aliases from tags where customer_id = ?",
        (customer_id,),
    ).fetchall()
    version = taxonomy_version(TagRecord(r[0], r[1], r[2], tuple(json.loads(r[3]))) for r in rows)
    conn.execute(
        "update customers set taxonomy_version = ? where customer_id = ?", (version, customer_id)
    )
    return version
