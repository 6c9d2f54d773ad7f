"""Tiers, entitlements and the Snowflake grants that enforce them.

fakesnow cannot run roles or GRANT, so every generated statement is parsed with sqlglot's
Snowflake dialect, and what it grants is read back from the parse: exactly the entitled
views per customer, every other view revoked.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlglot
from sqlglot import exp

from assets.warehouse.odata_contract import load_contract
from assets.warehouse.tenancy import (
    TIER_ADDS,
    Customer,
    EntitlementError,
    customer_role,
    entitlements,
    grant_statements,
    tier_entity_sets,
)
from protos.contract import CUSTOMER_TIERS
from resources.settings import PROJECT_ROOT

CONTRACT = load_contract()
DATABASE, SCHEMA = "FIELDWORK", "ODATA"


def reference_customers() -> list[Customer]:
    """The four reference customers (taxonomies.json, the one source of customers)."""
    path = PROJECT_ROOT / "model_servers" / "training_catalog" / "taxonomies.json"
    return [Customer.from_row(row) for row in json.loads(path.read_text())["customers"]]


def grants_for(customers, **kwargs) -> list[str]:
    return grant_statements(
        entitlements(customers, CONTRACT),
        database=DATABASE,
        schema=SCHEMA,
        entity_sets=CONTRACT.names,
        **kwargs,
    )


def parse(statement: str) -> exp.Expression:
    """Parse as Snowflake and check the SQL sqlglot writes back parses to the same thing."""
    parsed = sqlglot.parse_one(statement, read="snowflake")
    again = sqlglot.parse_one(parsed.sql(dialect="snowflake"), read="snowflake")
    assert type(again) is type(parsed) and again == parsed, statement
    return parsed


def privileges(statements: list[str]) -> set[tuple[str, str, str, str, str]]:
    """(GRANT or REVOKE, privilege, object kind, object, role) of each statement, read from
    its parse (CREATE ROLE, which sqlglot keeps as a command, is checked on its own)."""
    read = set()
    for statement in statements:
        parsed = parse(statement)
        if isinstance(parsed, exp.Command):
            continue
        assert isinstance(parsed, exp.Grant | exp.Revoke), statement
        [privilege] = [p.sql(dialect="snowflake") for p in parsed.args["privileges"]]
        [principal] = [p.sql(dialect="snowflake") for p in parsed.args["principals"]]
        kind, role = principal.split(" ", 1)
        assert kind == "ROLE" and role.startswith("FIELDWORK_CUSTOMER_"), statement
        read.add(
            (
                "GRANT" if isinstance(parsed, exp.Grant) else "REVOKE",
                privilege,
                parsed.args["kind"],
                parsed.args["securable"].sql(dialect="snowflake"),
                role,
            )
        )
    return read


def views_of(read, verb: str, role: str) -> set[str]:
    """The entity sets whose views `role` is granted (or revoked) SELECT on."""
    return {
        securable.rsplit(".", 1)[1]
        for (v, privilege, kind, securable, r) in read
        if (v, privilege, kind, r) == (verb, "SELECT", "VIEW", role)
    }


# --- Tiers and entitlements --------------------------------------------------------------------


def test_tiers_nest_and_name_entity_sets_of_the_contract():
    assert tuple(TIER_ADDS) == CUSTOMER_TIERS
    basic, pro, enterprise = (set(tier_entity_sets(tier)) for tier in CUSTOMER_TIERS)
    assert basic < pro < enterprise == set(CONTRACT.names)
    assert basic == {"TrainingModules", "ModuleTags", "TrainingCompletions"}
    assert pro - basic == {"Learners", "FieldPerformance", "HeatIndex", "JobPostings"}
    assert enterprise - pro == {"TrainingImpact"}


def test_reference_customers_get_their_tier_and_flags():
    rows = entitlements(reference_customers(), CONTRACT)

    per_customer: dict[str, set[str]] = {}
    for row in rows:
        per_customer.setdefault(row.customer_id, set()).add(row.entity_set)
        assert row.role_name == customer_role(row.customer_id)
    pro = set(tier_entity_sets("pro"))
    assert per_customer == {
        "acme-pharma": set(CONTRACT.names),  # enterprise
        "northwind-software": pro | {"TrainingImpact"},  # pro, flag TrainingImpact
        "globex-insurance": set(tier_entity_sets("basic")),
        "initech-retail": pro,
    }
    assert len(rows) == len(set(rows)) == 8 + 8 + 3 + 7
    assert customer_role("acme-pharma") == "FIELDWORK_CUSTOMER_ACME_PHARMA"
    # A flag already in the tier changes nothing; flags may come as one string column.
    again = Customer.from_row(
        {"customer_id": "initech-retail", "tier": "pro", "feature_flags": "Learners, HeatIndex"}
    )
    assert {r.entity_set for r in entitlements([again], CONTRACT)} == pro


@pytest.mark.parametrize(
    ("customers", "expected"),
    [
        (
            [Customer("acme-pharma", "platinum")],
            ["customer 'acme-pharma': unknown tier 'platinum' (tiers: basic, pro, enterprise)"],
        ),
        (
            [Customer("globex-insurance", "basic", ("Invoices",))],
            ["customer 'globex-insurance': feature flag 'Invoices' names no entity set"],
        ),
        (
            [Customer("globex-insurance", "basic", ("trainingimpact",))],
            [
                "customer 'globex-insurance': feature flag 'trainingimpact' names no entity "
                "set; did you mean 'TrainingImpact'?"
            ],
        ),
        (
            # Every problem at once, each naming its customer and value.
            [
                Customer("acme-pharma", "Enterprise"),
                Customer("northwind-software", "pro", ("TrainingImpact", "")),
                Customer("initech-retail", "pro"),
                Customer("initech-retail", "basic"),
            ],
            [
                "customer 'acme-pharma': unknown tier 'Enterprise'",
                "customer 'northwind-software': feature flag '' names no entity set",
                "customer 'initech-retail' is listed twice",
            ],
        ),
        (
            [Customer("acme-pharma", "pro"), Customer("ACME_pharma", "basic")],
            [
                "customer 'ACME_pharma' and customer 'acme-pharma' would share the role "
                "FIELDWORK_CUSTOMER_ACME_PHARMA"
            ],
        ),
        (
            [Customer("  ", "pro"), Customer("---", "basic")],
            [
                "a customer with no customer_id (tier 'pro')",
                "customer '---': no role name can be made from its id",
            ],
        ),
    ],
    ids=["unknown-tier", "unknown-flag", "flag-case", "several", "role-collision", "no-id"],
)
def test_bad_customers_are_refused_naming_customer_and_value(customers, expected):
    with pytest.raises(EntitlementError) as refused:
        entitlements(customers, CONTRACT)
    message = str(refused.value)
    for part in expected:
        assert part in message, message


# --- Grants ----------------------------------------------------------------------------------


def test_every_statement_parses_as_snowflake_and_grants_exactly_the_entitled_views():
    customers = reference_customers()
    statements = grants_for(customers, warehouse="COMPUTE")
    read = privileges(statements)
    rows = entitlements(customers, CONTRACT)

    for customer in customers:
        role = customer_role(customer.customer_id)
        entitled = {r.entity_set for r in rows if r.customer_id == customer.customer_id}
        assert views_of(read, "GRANT", role) == entitled, customer
        assert views_of(read, "REVOKE", role) == set(CONTRACT.names) - entitled, customer
        for kind, securable in [
            ("DATABASE", DATABASE),
            ("SCHEMA", f"{DATABASE}.{SCHEMA}"),
            ("WAREHOUSE", "COMPUTE"),
        ]:
            assert ("GRANT", "USAGE", kind, securable, role) in read
        # sqlglot 30 has no CREATE ROLE: it keeps it as a generic command, checked by form.
        [create] = [s for s in statements if s.startswith("CREATE ROLE") and s.endswith(role)]
        parsed = parse(create)
        assert isinstance(parsed, exp.Command) and parsed.this == "CREATE"
        assert parsed.expression == f" ROLE IF NOT EXISTS {role}"
        assert isinstance(sqlglot.parse_one(role, read="snowflake"), exp.Column)
    # Nothing but roles, usage, and SELECT on views of the contract's schema.
    granted_objects = {securable for (_, _, kind, securable, _) in read if kind == "VIEW"}
    assert granted_objects == {f"{DATABASE}.{SCHEMA}.{name}" for name in CONTRACT.names}
    # One statement per privilege, plus one CREATE ROLE per customer.
    assert len(statements) == len(read) + len(customers)


def test_a_downgrade_revokes_at_once_and_a_removed_customer_loses_everything():
    customers = reference_customers()
    before = entitlements(customers, CONTRACT)
    acme_role = customer_role("acme-pharma")
    northwind_role = customer_role("northwind-software")
    globex_role = customer_role("globex-insurance")
    assert views_of(privileges(grants_for(customers)), "GRANT", acme_role) == set(CONTRACT.names)

    # acme-pharma drops to basic, northwind loses its flag, globex leaves.
    changed = []
    for customer in customers:
        if customer.customer_id == "acme-pharma":
            changed.append(replace(customer, tier="basic"))
        elif customer.customer_id == "northwind-software":
            changed.append(replace(customer, feature_flags=()))
        elif customer.customer_id != "globex-insurance":
            changed.append(customer)
    statements = grant_statements(
        entitlements(changed, CONTRACT),
        database=DATABASE,
        schema=SCHEMA,
        entity_sets=CONTRACT.names,
        previous=before,
    )
    read = privileges(statements)

    basic = set(tier_entity_sets("basic"))
    assert views_of(read, "GRANT", acme_role) == basic
    assert views_of(read, "REVOKE", acme_role) == set(CONTRACT.names) - basic
    assert f"REVOKE SELECT ON VIEW FIELDWORK.ODATA.TrainingImpact FROM ROLE {acme_role}" in (
        statements
    )
    assert "TrainingImpact" in views_of(read, "REVOKE", northwind_role)
    assert "TrainingImpact" not in views_of(read, "GRANT", northwind_role)
    assert views_of(read, "GRANT", globex_role) == set()
    assert views_of(read, "REVOKE", globex_role) == set(CONTRACT.names)
    assert ("REVOKE", "USAGE", "SCHEMA", "FIELDWORK.ODATA", globex_role) in read
    assert ("REVOKE", "USAGE", "DATABASE", "FIELDWORK", globex_role) in read
    # Each role's revokes precede its grants.
    for role in (acme_role, northwind_role):
        mine = [s for s in statements if s.endswith(f"ROLE {role}") and " ON VIEW " in s]
        verbs = [s.split()[0] for s in mine]
        assert verbs == sorted(verbs, reverse=True), verbs  # REVOKE... then GRANT...


def test_names_that_are_not_plain_identifiers_never_reach_the_sql():
    rows = entitlements(reference_customers(), CONTRACT)
    for bad in {"database": "FIELDWORK; DROP DATABASE X", "schema": 'odata"'}.items():
        arguments = {"database": DATABASE, "schema": SCHEMA, **dict([bad])}
        with pytest.raises(ValueError, match="must be an unquoted identifier"):
            grant_statements(rows, entity_sets=CONTRACT.names, **arguments)
    forged = [replace(rows[0], role_name="PUBLIC; GRANT ROLE ACCOUNTADMIN TO USER X")]
    with pytest.raises(ValueError, match="is not an unquoted identifier"):
        grant_statements(forged, database=DATABASE, schema=SCHEMA, entity_sets=CONTRACT.names)
    with pytest.raises(ValueError, match=r"not in entity_sets: \['TrainingImpact'\]"):
        grant_statements(
            rows,
            database=DATABASE,
            schema=SCHEMA,
            entity_sets=[n for n in CONTRACT.names if n != "TrainingImpact"],
        )
