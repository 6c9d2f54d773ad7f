"""The OData contract: the committed `$metadata`, its refusals, the one type mapping, the
comparison with real warehouse views (DuckDB, fakesnow), and the dbt macros agreeing with
the mapping through real dbt builds on both targets."""

from __future__ import annotations

import http.server
import importlib
import re
import shutil
import threading
from pathlib import Path

import duckdb
import fakesnow
import pytest
import snowflake.connector
from fakesnow.instance import FakeSnow

from assets.warehouse.odata_contract import (
    CONTRACT_PATH,
    TENANT_PROPERTY,
    TYPE_MAPPING,
    ContractError,
    WarehouseColumn,
    canonical_type,
    column_type,
    compare_with_warehouse,
    information_schema_sql,
    load_contract,
    parse_contract,
)
from resources.settings import DBT_PROJECT_DIR
from tests.helpers import FAKESNOW_SERVER, SNOWFLAKE_ENV

CONTRACT_TEXT = CONTRACT_PATH.read_text()


def line_of(document: str, snippet: str) -> int:
    return document[: document.index(snippet)].count("\n") + 1


# --- The committed contract -----------------------------------------------------------------


def test_committed_contract_has_the_legacy_entity_sets_keys_and_tenancy():
    contract = load_contract()

    assert contract.names == (
        "TrainingModules",
        "ModuleTags",
        "Learners",
        "TrainingCompletions",
        "FieldPerformance",
        "TrainingImpact",
        "JobPostings",
        "HeatIndex",
    )
    keys = {s.name: [p.name for p in s.keys] for s in contract.entity_sets}
    assert keys == {
        "TrainingModules": ["CustomerId", "ModuleId"],
        "ModuleTags": ["CustomerId", "ModuleId", "TagId"],
        "Learners": ["CustomerId", "LearnerId"],
        "TrainingCompletions": ["CustomerId", "CompletionId"],
        "FieldPerformance": ["CustomerId", "LearnerId", "Month", "Metric"],
        "TrainingImpact": ["CustomerId", "TagId", "Metric"],
        "JobPostings": ["PostingKey"],
        "HeatIndex": ["CityId", "ReadingDate"],
    }
    # Customer data carries the tenant in its key; the shared reference data does not.
    tenant_scoped = {s.name for s in contract.entity_sets if s.is_tenant_scoped}
    assert tenant_scoped == set(contract.names) - {"JobPostings", "HeatIndex"}
    for name in tenant_scoped:
        assert contract.entity_set(name).property(TENANT_PROPERTY).is_key
    # Every mapped EDM type is used, so the macro test below covers the whole mapping.
    used = {p.edm_type for s in contract.entity_sets for p in s.properties}
    assert used == set(TYPE_MAPPING)
    impact = contract.entity_set("TrainingImpact")
    assert [p.name for p in impact.properties] == [
        "CustomerId",
        "TagId",
        "Metric",
        "LearnersTrained",
        "PerformanceBefore",
        "PerformanceAfter",
        "PerformanceDifference",
        "CorrelationCoefficient",
        "SampleSize",
        "ConfidenceIntervalLow",
        "ConfidenceIntervalHigh",
    ]
    score = contract.entity_set("TrainingCompletions").property("Score")
    assert (score.edm_type, score.precision, score.scale, score.nullable) == (
        "Edm.Decimal",
        5,
        2,
        True,
    )
    title = contract.entity_set("TrainingModules").property("Title")
    assert (title.max_length, title.nullable) == (256, False)


def test_the_type_mapping_per_target():
    def prop(edm_type: str, **facets):
        from assets.warehouse.odata_contract import Property

        return Property("Column", edm_type, **facets)

    cases = [
        (prop("Edm.String", max_length=64), "VARCHAR(64)", "VARCHAR"),
        (prop("Edm.String"), "VARCHAR", "VARCHAR"),
        (prop("Edm.Boolean"), "BOOLEAN", "BOOLEAN"),
        (prop("Edm.Int16"), "NUMBER(5,0)", "SMALLINT"),
        (prop("Edm.Int32"), "NUMBER(10,0)", "INTEGER"),
        (prop("Edm.Int64"), "NUMBER(19,0)", "BIGINT"),
        (prop("Edm.Decimal", precision=5, scale=2), "NUMBER(5,2)", "DECIMAL(5,2)"),
        (prop("Edm.Decimal", precision=38, scale=0), "NUMBER(38,0)", "DECIMAL(38,0)"),
        (prop("Edm.Double"), "FLOAT", "DOUBLE"),
        (prop("Edm.Date"), "DATE", "DATE"),
        (prop("Edm.DateTimeOffset"), "TIMESTAMP_TZ", "TIMESTAMPTZ"),
        (prop("Edm.Guid"), "VARCHAR(36)", "UUID"),
    ]
    for p, on_snowflake, on_duckdb in cases:
        assert (column_type(p, "snowflake"), column_type(p, "duckdb")) == (on_snowflake, on_duckdb)
    with pytest.raises(ValueError, match="unknown target 'postgres'"):
        column_type(cases[0][0], "postgres")


def test_reported_type_spellings_normalize_to_the_declared_ones():
    # DuckDB's information_schema spelling against the DDL the mapping writes.
    for reported, declared in [
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"),
        ("DECIMAL(5,2)", "DECIMAL(5,2)"),
        ("INTEGER", "INT4"),
        ("VARCHAR", "VARCHAR"),
    ]:
        assert canonical_type(reported, "duckdb") == canonical_type(declared, "duckdb")
    assert canonical_type("DECIMAL", "duckdb") == "DECIMAL(18,3)"  # DuckDB's bare DECIMAL
    assert canonical_type("FLOAT", "duckdb") != canonical_type("DOUBLE", "duckdb")
    # Snowflake's: type names without facets, the facets in their own columns.
    assert canonical_type("TEXT", "snowflake", length=36) == "VARCHAR(36)"
    assert canonical_type("TEXT", "snowflake", length=16_777_216) == "VARCHAR"
    assert canonical_type("NUMBER", "snowflake", precision=10, scale=0) == "NUMBER(10,0)"
    assert canonical_type("INT", "snowflake") == "NUMBER(38,0)" != "NUMBER(10,0)"
    assert canonical_type("DOUBLE", "snowflake") == canonical_type("FLOAT", "snowflake")


# --- Refusals ---------------------------------------------------------------------------------


def _replace(old: str, new: str) -> str:
    assert CONTRACT_TEXT.count(old) >= 1, old
    return CONTRACT_TEXT.replace(old, new, 1)


SCORE = '<Property Name="Score" Type="Edm.Decimal" Precision="5" Scale="2"/>'


@pytest.mark.parametrize(
    ("document", "snippet", "expected"),
    [
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Single"/>'),
            '<Property Name="Score" Type="Edm.Single"/>',
            "EntityType TrainingCompletion, property Score: type 'Edm.Single' has no mapping",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Collection(Edm.Double)"/>'),
            '<Property Name="Score" Type="Collection(Edm.Double)"/>',
            "property Score: type 'Collection(Edm.Double)' has no mapping",
        ),
        (
            _replace('<PropertyRef Name="CompletionId"/>', '<PropertyRef Name="CompletionKey"/>'),
            '<PropertyRef Name="CompletionKey"/>',
            "EntityType TrainingCompletion: key 'CompletionKey' names no property",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Decimal"/>'),
            '<Property Name="Score" Type="Edm.Decimal"/>',
            "EntityType TrainingCompletion, property Score: Edm.Decimal needs a Precision",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Int32" MaxLength="10"/>'),
            '<Property Name="Score" Type="Edm.Int32" MaxLength="10"/>',
            "property Score: MaxLength on Edm.Int32",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Decimal" Precision="5" Scale="9"/>'),
            'Precision="5" Scale="9"',
            "property Score: Scale 9 outside 0..5",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Double" Nullable="maybe"/>'),
            'Nullable="maybe"',
            "property Score: Nullable must be true or false, got 'maybe'",
        ),
        (
            _replace(SCORE, '<Property Name="Score" Type="Edm.Double" SRID="4326"/>'),
            'SRID="4326"',
            "property Score: attribute(s) ['SRID'] not supported",
        ),
        (
            _replace(
                '<Property Name="CompletionId" Type="Edm.String" MaxLength="64" Nullable="false"/>',
                '<Property Name="CompletionId" Type="Edm.String" MaxLength="64"/>',
            ),
            '<Property Name="CompletionId" Type="Edm.String" MaxLength="64"/>',
            'key property CompletionId must be Nullable="false"',
        ),
        (
            _replace('<EntityType Name="Learner">', '<EntityType Name="Learner" BaseType="x.y">'),
            '<EntityType Name="Learner" BaseType="x.y">',
            "EntityType Learner: BaseType is not supported",
        ),
        (
            _replace(
                'EntityType="Fieldwork.Analytics.Learner"', 'EntityType="Fieldwork.Analytics.Pupil"'
            ),
            'EntityType="Fieldwork.Analytics.Pupil"',
            "EntitySet Learners: EntityType 'Fieldwork.Analytics.Pupil' is not in the schema",
        ),
    ],
    ids=[
        "unmapped-type",
        "collection",
        "key-names-no-property",
        "decimal-without-precision",
        "max-length-on-int",
        "scale-above-precision",
        "bad-nullable",
        "unknown-facet",
        "nullable-key",
        "base-type",
        "unknown-entity-type",
    ],
)
def test_a_contract_that_cannot_be_used_is_refused_naming_the_element(document, snippet, expected):
    with pytest.raises(ContractError) as refused:
        parse_contract(document, source="metadata.xml")
    message = str(refused.value)
    assert expected in message
    assert f"metadata.xml line {line_of(document, snippet)}:" in message


def test_xml_that_is_not_well_formed_is_refused_with_its_line():
    document = _replace("</EntityType>", "</EntityTyp>")
    with pytest.raises(ContractError, match=r"metadata\.xml: not well-formed XML: .*line 2[0-9]"):
        parse_contract(document, source="metadata.xml")
    with pytest.raises(ContractError, match="not well-formed"):
        parse_contract(b"", source="metadata.xml")


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        type(self).requests.append(self.path)
        body = b'<!ENTITY leak "fetched">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def dtd_server():
    """A real HTTP server on loopback that counts what asks it for a DTD or an entity."""
    _CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.requests
    server.shutdown()
    server.server_close()


def test_doctype_and_entities_are_refused_and_never_fetched(dtd_server, tmp_path):
    base, requests = dtd_server
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:do-not-leak")
    prologue = '<?xml version="1.0" encoding="utf-8"?>\n'
    body = CONTRACT_TEXT.removeprefix(prologue)
    leak_into_text = "<edmx:DataServices>&leak;"
    documents = {
        "file-entity": f'<!DOCTYPE edmx:Edmx [<!ENTITY leak SYSTEM "file://{secret}">]>',
        "http-entity": f'<!DOCTYPE edmx:Edmx [<!ENTITY leak SYSTEM "{base}/entity">]>',
        "external-dtd": f'<!DOCTYPE edmx:Edmx SYSTEM "{base}/metadata.dtd">',
        "parameter-entity": f'<!DOCTYPE edmx:Edmx [<!ENTITY % p SYSTEM "{base}/p"> %p;]>',
        "entity-bomb": (
            '<!DOCTYPE edmx:Edmx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY leak "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        ),
    }
    for name, doctype in documents.items():
        document = prologue + doctype + "\n" + body
        if "ENTITY leak" in doctype:
            document = document.replace("<edmx:DataServices>", leak_into_text, 1)
        with pytest.raises(ContractError) as refused:
            parse_contract(document, source="metadata.xml")
        message = str(refused.value)
        assert "metadata.xml line 2: a DOCTYPE" in message, (name, message)
        assert "do-not-leak" not in message
    assert requests == []


# --- Comparing with views in a real DuckDB ---------------------------------------------------

SMALL_CONTRACT = """<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Probe" Alias="P" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Completion">
        <Key><PropertyRef Name="CustomerId"/><PropertyRef Name="CompletionId"/></Key>
        <Property Name="CustomerId" Type="Edm.String" MaxLength="8" Nullable="false"/>
        <Property Name="CompletionId" Type="Edm.Int32" Nullable="false"/>
        <Property Name="CompletedOn" Type="Edm.Date" Nullable="false"/>
        <Property Name="Score" Type="Edm.Decimal" Precision="5" Scale="2"/>
        <Property Name="Passed" Type="Edm.Boolean"/>
      </EntityType>
      <EntityContainer Name="Probe">
        <EntitySet Name="Faithful" EntityType="P.Completion"/>
        <EntitySet Name="MissingScore" EntityType="P.Completion"/>
        <EntitySet Name="ExtraColumn" EntityType="Probe.Completion"/>
        <EntitySet Name="WrongTypes" EntityType="P.Completion"/>
        <EntitySet Name="NullDates" EntityType="P.Completion"/>
        <EntitySet Name="DuplicateKeys" EntityType="P.Completion"/>
        <EntitySet Name="LongCustomerIds" EntityType="P.Completion"/>
        <EntitySet Name="NoView" EntityType="P.Completion"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""

FAITHFUL_DUCKDB = """
    select cast(customer_id as varchar) as CustomerId, cast(id as integer) as CompletionId,
           cast(completed_on as date) as CompletedOn, cast(score as decimal(5,2)) as Score,
           passed as Passed
    from base.completions
"""


def test_compare_names_every_kind_of_mismatch_on_duckdb():
    contract = parse_contract(SMALL_CONTRACT)
    con = duckdb.connect()
    con.execute("create schema base")
    con.execute("create schema odata")
    con.execute(
        "create table base.completions as select * from (values "
        "('acme', 1, date '2026-07-01', 91.5, true), "
        "('acme', 2, date '2026-07-02', 64.25, false), "
        "('globex', 1, date '2026-07-03', null, null)"
        ") as t(customer_id, id, completed_on, score, passed)"
    )
    views = {
        # Lower-case names: views match entity sets case-blind, as on Snowflake.
        "faithful": FAITHFUL_DUCKDB,
        "MissingScore": "select * exclude (Score) from odata.faithful",
        "ExtraColumn": "select *, 'l-1' as LearnerId from odata.faithful",
        "WrongTypes": "select * replace (cast(Score as double) as Score, "
        "cast(CompletionId as bigint) as CompletionId) from odata.faithful",
        "NullDates": "select * replace (case when CompletionId = 2 then null "
        "else CompletedOn end as CompletedOn) from odata.faithful",
        "DuplicateKeys": "select * from odata.faithful union all "
        "select * from odata.faithful where CustomerId = 'acme' and CompletionId = 1",
        "LongCustomerIds": "select * replace (case when CustomerId = 'globex' "
        "then 'globex-insurance' else CustomerId end as CustomerId) from odata.faithful",
        "Stray": "select 1 as Anything",
    }
    for name, sql in views.items():
        con.execute(f'create view odata."{name}" as {sql}')

    columns = con.execute(information_schema_sql("odata")).fetchall()
    mismatches = compare_with_warehouse(
        contract, columns, "duckdb", query=lambda sql: con.execute(sql).fetchall()
    )

    assert mismatches == [
        "MissingScore.Score: missing (Edm.Decimal(5,2))",
        "ExtraColumn.LearnerId: extra column (VARCHAR), not a property of the contract",
        "WrongTypes.CompletionId: type BIGINT, the contract's Edm.Int32 is INTEGER on duckdb",
        "WrongTypes.Score: type DOUBLE, the contract's Edm.Decimal(5,2) is DECIMAL(5,2) on duckdb",
        'NullDates.CompletedOn: 1 row(s) null, the contract says Nullable="false"',
        "DuplicateKeys: key (CustomerId, CompletionId) not unique: 1 key value(s) repeated, "
        "e.g. ('acme', 1) 2 times",
        "LongCustomerIds.CustomerId: 1 row(s) longer than MaxLength=8",
        "NoView: no view odata.NoView",
        "Stray: view in odata is not an entity set of the contract",
    ]
    # The same rows given as mappings (a polars frame's `.rows(named=True)`) read the same.
    named = [dict(zip(WarehouseColumn.__dataclass_fields__, row, strict=True)) for row in columns]
    query = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    assert compare_with_warehouse(contract, named, "duckdb", query=query) == mismatches


def test_compare_reads_what_fakesnow_reports_for_snowflake_views():
    contract = parse_contract(SMALL_CONTRACT)
    faithful = (
        "select cast(customer_id as varchar(8)) as CustomerId, "
        "cast(id as number(10,0)) as CompletionId, cast(completed_on as date) as CompletedOn, "
        "cast(score as number(5,2)) as Score, cast(passed as boolean) as Passed "
        "from base.completions"
    )
    views = {
        "Faithful": faithful,
        # The classic slips: a column passed through uncast (its length is lost, on
        # fakesnow), INT (NUMBER(38,0)) for Int32, FLOAT for a Decimal.
        "WrongTypes": "select customer_id as CustomerId, cast(id as int) as CompletionId, "
        "completed_on as CompletedOn, cast(score as float) as Score, passed as Passed "
        "from base.completions",
    }
    with fakesnow.patch():
        con = snowflake.connector.connect(database="fieldwork", schema="odata")
        cursor = con.cursor()
        cursor.execute("create schema if not exists fieldwork.base")
        cursor.execute("create schema if not exists fieldwork.odata")
        cursor.execute(
            "create table fieldwork.base.completions (customer_id varchar(8), id number(10,0), "
            "completed_on date, score number(5,2), passed boolean)"
        )
        cursor.execute(
            "insert into fieldwork.base.completions values "
            "('acme', 1, '2026-07-01', 91.5, true), ('globex', 1, '2026-07-03', null, null)"
        )
        for name, sql in views.items():
            cursor.execute(f"create view fieldwork.odata.{name} as {sql}")
        cursor.execute(information_schema_sql("odata"))
        columns = cursor.fetchall()

        def query(sql: str):
            cursor.execute(sql)
            return cursor.fetchall()

        mismatches = compare_with_warehouse(contract, columns, "snowflake", query=query)
        con.close()

    # What fakesnow reports, as Snowflake does: upper-case names, TEXT with its length,
    # NUMBER with precision and scale in their own columns, every view column nullable.
    reported = {row[1]: row[2:] for row in columns if row[0] == "FAITHFUL"}
    assert reported == {
        "CUSTOMERID": ("TEXT", "YES", 8, None, None),
        "COMPLETIONID": ("NUMBER", "YES", None, 10, 0),
        "COMPLETEDON": ("DATE", "YES", None, None, None),
        "SCORE": ("NUMBER", "YES", None, 5, 2),
        "PASSED": ("BOOLEAN", "YES", None, None, None),
    }
    assert mismatches == [
        "MissingScore: no view odata.MissingScore",
        "ExtraColumn: no view odata.ExtraColumn",
        "WrongTypes.CustomerId: type VARCHAR, the contract's Edm.String(MaxLength=8) is "
        "VARCHAR(8) on snowflake",
        "WrongTypes.CompletionId: type NUMBER(38,0), the contract's Edm.Int32 is "
        "NUMBER(10,0) on snowflake",
        "WrongTypes.Score: type FLOAT, the contract's Edm.Decimal(5,2) is NUMBER(5,2) on snowflake",
        "NullDates: no view odata.NullDates",
        "DuplicateKeys: no view odata.DuplicateKeys",
        "LongCustomerIds: no view odata.LongCustomerIds",
        "NoView: no view odata.NoView",
    ]


# --- The dbt macros agree with the mapping: real dbt builds on both targets -----------------

SAMPLES = {
    "Edm.String": "'x'",
    "Edm.Boolean": "'true'",
    "Edm.Int16": "'7'",
    "Edm.Int32": "'7'",
    "Edm.Int64": "'7'",
    "Edm.Decimal": "'1.5'",
    "Edm.Double": "'1.5'",
    "Edm.Date": "'2026-07-01'",
    "Edm.DateTimeOffset": "'2026-07-01 12:00:00+00:00'",
    "Edm.Guid": "'123e4567-e89b-12d3-a456-426614174000'",
}


def probe_model(entity_set) -> str:
    """A view with one row in which every property is the macro's cast of a sample value."""
    lines = []
    for prop in entity_set.properties:
        facets = [
            f"{name}={value}"
            for name, value in (
                ("max_length", prop.max_length),
                ("precision", prop.precision),
                ("scale", prop.scale),
            )
            if value is not None
        ]
        arguments = ", ".join([repr(SAMPLES[prop.edm_type]), repr(prop.edm_type), *facets])
        lines.append(f"    {{{{ odata_cast({arguments}) }}}} as {prop.name}")
    return "select\n" + ",\n".join(lines) + "\n"


# A String with no MaxLength, which the contract does not use.
UNBOUNDED = "UnboundedString"
UNBOUNDED_MODEL = "select {{ odata_cast(\"'x'\", 'Edm.String') }} as Text\n"


def probe_models(contract) -> dict[str, str]:
    return {UNBOUNDED: UNBOUNDED_MODEL, **{s.name: probe_model(s) for s in contract.entity_sets}}


def dbt_probe_project(tmp_path: Path, models: dict[str, str]) -> Path:
    """The project's configuration and macros, with these models only."""
    project = tmp_path / "dbt_project"
    project.mkdir(parents=True)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(DBT_PROJECT_DIR / name, project / name)
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    (project / "models" / "odata").mkdir(parents=True)
    for name, sql in models.items():
        (project / "models" / "odata" / f"{name}.sql").write_text(sql)
    return project


def run_dbt(project: Path, target: str, *arguments: str):
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        [
            *arguments,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target",
            target,
            "--target-path",
            str(project / "target" / target),
            "--log-path",
            str(project / "logs"),
            "--quiet",
        ]
    )


def assert_compiled_casts_match_the_mapping(
    project: Path, dbt_target: str, target: str, contract
) -> int:
    compiled_dir = project / "target" / dbt_target / "compiled" / "fieldwork" / "models" / "odata"
    checked = 0
    for entity_set in contract.entity_sets:
        compiled = (compiled_dir / f"{entity_set.name}.sql").read_text()
        for prop in entity_set.properties:
            expected = (
                f"cast({SAMPLES[prop.edm_type]} as {column_type(prop, target)}) as {prop.name}"
            )
            assert expected in compiled, (target, entity_set.name, expected, compiled)
            checked += 1
    unbounded = (compiled_dir / f"{UNBOUNDED}.sql").read_text()
    assert "cast('x' as VARCHAR) as Text" in unbounded, unbounded
    return checked


@pytest.mark.slow
def test_odata_cast_builds_every_property_as_the_mapping_says_on_duckdb(tmp_path, monkeypatch):
    contract = load_contract()
    project = dbt_probe_project(tmp_path, probe_models(contract))
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.delenv("FIELDWORK_DBT_TARGET", raising=False)

    result = run_dbt(project, "local", "run", "--vars", f'{{"duckdb_path": "{path}"}}')

    assert result.success, result.exception
    properties = assert_compiled_casts_match_the_mapping(project, "local", "duckdb", contract)
    assert properties == sum(len(s.properties) for s in contract.entity_sets)
    # dbt-duckdb keeps its database open in this process; a second connection must match
    # its configuration (read-write).
    with duckdb.connect(str(path)) as con:
        columns = con.execute(information_schema_sql("analytics")).fetchall()
        assert ("UnboundedString", "Text", "VARCHAR") in [row[:3] for row in columns]
        columns = [row for row in columns if row[0] != UNBOUNDED]
        mismatches = compare_with_warehouse(
            contract,
            columns,
            "duckdb",
            query=lambda sql: con.execute(sql).fetchall(),
            schema="analytics",
        )
    assert len({row[0] for row in columns}) == len(contract.entity_sets)
    assert mismatches == []


@pytest.mark.slow
@pytest.mark.snowflake
def test_odata_cast_builds_every_property_as_the_mapping_says_on_snowflake(tmp_path, monkeypatch):
    contract = load_contract()
    project = dbt_probe_project(tmp_path, probe_models(contract))
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    serve = FAKESNOW_SERVER
    server_module = importlib.import_module("fakesnow.server")
    # A database of its own, not the one other tests in this process left in the server.
    monkeypatch.setattr(server_module, "shared_fs", FakeSnow())
    with serve() as connection:
        monkeypatch.setenv("SNOWFLAKE_HOST", connection["host"])
        monkeypatch.setenv("SNOWFLAKE_PORT", str(connection["port"]))
        monkeypatch.setenv("SNOWFLAKE_PROTOCOL", connection["protocol"])

        result = run_dbt(project, "snowflake", "run")

        assert result.success, result.exception
        con = snowflake.connector.connect(**connection, database="fieldwork", schema="analytics")
        try:
            cursor = con.cursor()
            cursor.execute(information_schema_sql("analytics"))
            columns = cursor.fetchall()
            [unbounded] = [row for row in columns if row[0] == UNBOUNDED.upper()]
            assert WarehouseColumn(*unbounded).canonical_type("snowflake") == "VARCHAR"
            columns = [row for row in columns if row[0] != UNBOUNDED.upper()]

            def query(sql: str):
                cursor.execute(sql)
                return cursor.fetchall()

            mismatches = compare_with_warehouse(
                contract, columns, "snowflake", query=query, schema="analytics"
            )
        finally:
            con.close()

    assert_compiled_casts_match_the_mapping(project, "snowflake", "snowflake", contract)
    assert len({row[0] for row in columns}) == len(contract.entity_sets)
    assert mismatches == []


@pytest.mark.slow
def test_odata_cast_refuses_what_the_mapping_refuses(tmp_path, monkeypatch):
    monkeypatch.delenv("FIELDWORK_DBT_TARGET", raising=False)
    cases = {
        "single": ("{{ odata_cast('1', 'Edm.Single') }}", "Edm.Single has no mapping"),
        "bare_decimal": (
            "{{ odata_cast('1', 'Edm.Decimal') }}",
            "Edm.Decimal needs a precision in 1..38, got None",
        ),
        "length_on_int": (
            "{{ odata_cast('1', 'Edm.Int32', max_length=4) }}",
            "max_length=4 on Edm.Int32",
        ),
    }
    for name, (call, expected) in cases.items():
        project = dbt_probe_project(tmp_path / name, {"Refused": f"select {call} as x\n"})
        path = tmp_path / name / "warehouse.duckdb"
        result = run_dbt(project, "local", "parse", "--vars", f'{{"duckdb_path": "{path}"}}')
        assert not result.success
        assert re.search(re.escape(expected), str(result.exception)), (name, result.exception)
