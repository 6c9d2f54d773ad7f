"""Tenancy: which OData entity sets each customer may read, and the Snowflake grants for it.

The pattern: shared tables behind one secure view per entity set, each filtering its rows
through an entitlements table (customer, entity set, role) joined on the session's role,
plus one Snowflake role per customer granted SELECT on exactly the views its tier and
flags allow. Why: of the three patterns in Snowflake's multi-tenant guide, objects per
tenant and an account per tenant multiply every model and grant by the customers
(hundreds of tables to build and migrate); shared tables keep one build. Row access
policies would do the filtering too, but need Enterprise edition; secure views work on
every edition (and the view's definition stays hidden from the customer). The grants add
what a filter cannot: a view beyond the tier is not readable at all, and a downgrade
revokes it in the same run (`grant_statements` revokes every view not entitled, every
time, so it converges whatever was granted before).

The view's filter, for the next step (`is_role_in_session` so a customer role granted to a
BI tool's own role still matches; DuckDB and fakesnow have no roles, `CURRENT_ROLE()` is
always `duckdb` there, so the filter takes the tenant from a dispatched macro):
    where exists (select 1 from <entitlements> e where e.customer_id = t.customer_id
                  and e.entity_set = '<EntitySet>' and is_role_in_session(e.role_name))
dbt rebuilds views with `create or replace`, which drops their grants: the grants are
applied after every build (or the views set `copy_grants`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from assets.warehouse.odata_contract import ODataContract, load_contract
from protos.contract import CUSTOMER_TIERS

# Entity sets each tier adds to the tier below it (basic < pro < enterprise).
TIER_ADDS: dict[str, tuple[str, ...]] = {
    "basic": ("TrainingModules", "ModuleTags", "TrainingCompletions"),
    "pro": ("Learners", "FieldPerformance", "HeatIndex", "JobPostings"),
    "enterprise": ("TrainingImpact",),
}
ROLE_PREFIX = "FIELDWORK_CUSTOMER_"
# Unquoted Snowflake identifiers only: nothing a customer's data could turn into SQL.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class EntitlementError(ValueError):
    """Customers whose tier or flags cannot be honoured; names each customer and value."""


@dataclass(frozen=True)
class Customer:
    """A customer as the catalog lists it (training_catalog.proto: Customer)."""

    customer_id: str
    tier: str
    feature_flags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Customer:
        """From a row of the customers table or the catalog; flags as a list, or as one
        comma-separated string (how a warehouse column may hold them)."""
        flags = row.get("feature_flags") or ()
        if isinstance(flags, str):
            flags = [flag.strip() for flag in flags.split(",")]
        return cls(str(row.get("customer_id") or ""), str(row.get("tier") or ""), tuple(flags))


@dataclass(frozen=True, order=True)
class Entitlement:
    """One entity set one customer may read; `role_name` is the role the views match."""

    customer_id: str
    entity_set: str
    role_name: str


def tier_entity_sets(tier: str) -> tuple[str, ...]:
    """The entity sets of `tier`: its own and those of every tier below it."""
    if tier not in CUSTOMER_TIERS:
        raise EntitlementError(f"unknown tier {tier!r} (tiers: {', '.join(CUSTOMER_TIERS)})")
    allowed: list[str] = []
    for name in CUSTOMER_TIERS[: CUSTOMER_TIERS.index(tier) + 1]:
        allowed += TIER_ADDS[name]
    return tuple(allowed)


def customer_role(customer_id: str) -> str:
    """`acme-pharma` -> `FIELDWORK_CUSTOMER_ACME_PHARMA`: an unquoted identifier."""
    sanitized = re.sub(r"[^A-Z0-9]+", "_", customer_id.upper()).strip("_")
    if not sanitized:
        raise EntitlementError(f"customer {customer_id!r}: no role name can be made from its id")
    return ROLE_PREFIX + sanitized


def entitlements(
    customers: Iterable[Customer | Mapping[str, object]], contract: ODataContract | None = None
) -> list[Entitlement]:
    """One row per (customer, entity set) the customer may read, sorted.

    Refuses, naming every customer and value at once: an unknown tier, a flag that names
    no entity set of the contract, an empty or repeated customer id, two ids that would
    share a role (they would see each other's rows).
    """
    contract = contract or load_contract()
    known = contract.names
    for tier, added in TIER_ADDS.items():
        missing = [name for name in added if name not in known]
        if missing:
            raise EntitlementError(
                f"tier {tier!r} names {missing}, not entity sets of the contract"
            )
    if set(TIER_ADDS) != set(CUSTOMER_TIERS):
        raise EntitlementError(f"tiers {sorted(TIER_ADDS)} differ from {CUSTOMER_TIERS}")

    problems: list[str] = []
    rows: list[Entitlement] = []
    roles: dict[str, str] = {}
    for given in customers:
        customer = given if isinstance(given, Customer) else Customer.from_row(given)
        who = f"customer {customer.customer_id!r}"
        if not customer.customer_id.strip():
            problems.append(f"a customer with no customer_id (tier {customer.tier!r})")
            continue
        if customer.customer_id in roles.values():
            problems.append(f"{who} is listed twice")
            continue
        try:
            role = customer_role(customer.customer_id)
        except EntitlementError as error:
            problems.append(str(error))
            continue
        if role in roles:
            problems.append(
                f"{who} and customer {roles[role]!r} would share the role {role}; rename one"
            )
            continue
        roles[role] = customer.customer_id
        if customer.tier not in CUSTOMER_TIERS:
            problems.append(
                f"{who}: unknown tier {customer.tier!r} (tiers: {', '.join(CUSTOMER_TIERS)})"
            )
            continue
        allowed = set(tier_entity_sets(customer.tier))
        for flag in customer.feature_flags:
            if flag in known:
                allowed.add(flag)
                continue
            near = [name for name in known if name.lower() == str(flag).strip().lower()]
            hint = f"; did you mean {near[0]!r}?" if near else f" (entity sets: {', '.join(known)})"
            problems.append(f"{who}: feature flag {flag!r} names no entity set{hint}")
        rows += [Entitlement(customer.customer_id, name, role) for name in allowed]
    if problems:
        raise EntitlementError("; ".join(problems))
    return sorted(rows)


def grant_statements(
    current: Sequence[Entitlement],
    *,
    database: str,
    schema: str = "odata",
    entity_sets: Sequence[str],
    warehouse: str | None = None,
    previous: Sequence[Entitlement] = (),
) -> list[str]:
    """The Snowflake statements that make the roles match `current`, in order.

    For each customer: its role, USAGE on the database and schema (and warehouse, when
    given), REVOKE SELECT on every view of `entity_sets` it is not entitled to (a no-op
    where nothing was granted, so a downgrade takes effect whatever came before), then
    GRANT SELECT on each view it is entitled to. A customer only in `previous` (removed
    from the customers table) loses every view and its usage grants.
    """
    for kind, name in (("database", database), ("schema", schema), ("warehouse", warehouse)):
        if name is not None and not _IDENTIFIER.match(name):
            raise ValueError(f"{kind} must be an unquoted identifier, got {name!r}")
    for name in entity_sets:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"entity set {name!r} is not an unquoted identifier")
    for row in (*current, *previous):
        if not _IDENTIFIER.match(row.role_name):
            raise ValueError(
                f"customer {row.customer_id!r}: role {row.role_name!r} "
                "is not an unquoted identifier"
            )
    unknown = sorted({row.entity_set for row in current} - set(entity_sets))
    if unknown:
        raise ValueError(f"entitlements name views not in entity_sets: {unknown}")

    def view(name: str) -> str:
        return f"{database}.{schema}.{name}"

    entitled: dict[str, set[str]] = {}
    for row in current:
        entitled.setdefault(row.role_name, set()).add(row.entity_set)
    statements: list[str] = []
    for role in sorted(entitled):
        statements += [
            f"CREATE ROLE IF NOT EXISTS {role}",
            f"GRANT USAGE ON DATABASE {database} TO ROLE {role}",
            f"GRANT USAGE ON SCHEMA {database}.{schema} TO ROLE {role}",
        ]
        if warehouse is not None:
            statements.append(f"GRANT USAGE ON WAREHOUSE {warehouse} TO ROLE {role}")
        statements += [
            f"REVOKE SELECT ON VIEW {view(name)} FROM ROLE {role}"
            for name in entity_sets
            if name not in entitled[role]
        ]
        statements += [
            f"GRANT SELECT ON VIEW {view(name)} TO ROLE {role}"
            for name in entity_sets
            if name in entitled[role]
        ]
    for role in sorted({row.role_name for row in previous} - set(entitled)):
        statements += [
            f"REVOKE SELECT ON VIEW {view(name)} FROM ROLE {role}" for name in entity_sets
        ]
        statements.append(f"REVOKE USAGE ON SCHEMA {database}.{schema} FROM ROLE {role}")
        statements.append(f"REVOKE USAGE ON DATABASE {database} FROM ROLE {role}")
        if warehouse is not None:
            statements.append(f"REVOKE USAGE ON WAREHOUSE {warehouse} FROM ROLE {role}")
    return statements
