"""The OData contract: the legacy API's `$metadata` (CSDL v4), read safely, typed per warehouse.

BI tools move from the legacy OData feed to one warehouse view per entity set, with the same
entity and property names and compatible types. This module reads the contract
(`dbt_project/odata/metadata.xml`), maps every EDM type to a column type per target (the one
written mapping; the dbt macro `odata_type` is tested to agree with it), and compares the
contract with the views a build left in the warehouse, naming every mismatch.

Reading: lxml with entities, DTDs and the network off; any DOCTYPE is refused outright (a
`$metadata` document never needs one, and it is where external entities and entity
expansion bombs live). No PyPI library parses CSDL v4 fully (pyodata is v2 only,
python-odata maps 9 types and drops facets), hence this small reader.

What the warehouses report in `information_schema.columns` (measured, DuckDB 2.0 and
fakesnow 0.12.1), normalized in one place (`canonical_type`):
- DuckDB: `VARCHAR` with no length (DuckDB keeps none: MaxLength is checked on the data),
  `SMALLINT`, `INTEGER`, `BIGINT`, `DECIMAL(p,s)`, `DOUBLE`, `BOOLEAN`, `DATE`,
  `TIMESTAMP WITH TIME ZONE`, `UUID`.
- Snowflake and fakesnow: `TEXT` with `character_maximum_length` (fakesnow loses it on a
  view column that is not cast: None; an unbounded column is 16777216), `NUMBER` with
  `numeric_precision` and `numeric_scale` (INT, SMALLINT, BIGINT are all NUMBER(38,0)),
  `FLOAT`, `BOOLEAN`, `DATE`, `TIMESTAMP_TZ`, `TIMESTAMP_NTZ`. fakesnow upper-cases
  unquoted names like Snowflake, but lists no views in `information_schema.tables`
  (only in `.columns`).
- Both report every view column as nullable (`is_nullable = 'YES'`), whatever the data: so
  Nullable="false" is checked on the data, like MaxLength on DuckDB and key uniqueness.

Names compare case-insensitively: the views' names are written unquoted, which Snowflake
stores upper-case, and BI tools query them unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from resources.settings import DBT_PROJECT_DIR

CONTRACT_PATH = DBT_PROJECT_DIR / "odata" / "metadata.xml"
EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"
TARGETS = ("snowflake", "duckdb")
# The column that scopes a row to one customer; the views filter on it.
TENANT_PROPERTY = "CustomerId"

# The one type mapping: EDM type -> (Snowflake, DuckDB). String and Decimal take their
# facets (`column_type`). Integers get an explicit precision on Snowflake, whose INT,
# SMALLINT and BIGINT are all NUMBER(38,0). Guid: Snowflake has no UUID type, so the
# canonical 36-character text; DuckDB's UUID refuses a malformed id at build time rather
# than passing it to BI tools, and reads back as the same lower-case text.
TYPE_MAPPING: dict[str, tuple[str, str]] = {
    "Edm.String": ("VARCHAR({max_length})", "VARCHAR"),
    "Edm.Boolean": ("BOOLEAN", "BOOLEAN"),
    "Edm.Int16": ("NUMBER(5,0)", "SMALLINT"),
    "Edm.Int32": ("NUMBER(10,0)", "INTEGER"),
    "Edm.Int64": ("NUMBER(19,0)", "BIGINT"),
    "Edm.Decimal": ("NUMBER({precision},{scale})", "DECIMAL({precision},{scale})"),
    "Edm.Double": ("FLOAT", "DOUBLE"),
    "Edm.Date": ("DATE", "DATE"),
    "Edm.DateTimeOffset": ("TIMESTAMP_TZ", "TIMESTAMPTZ"),
    "Edm.Guid": ("VARCHAR(36)", "UUID"),
}
# Both targets allow 38 digits.
MAX_DECIMAL_PRECISION = 38
# The attributes a Property may carry; any other is refused rather than ignored.
_PROPERTY_ATTRIBUTES = {"Name", "Type", "Nullable", "MaxLength", "Precision", "Scale", "Unicode"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NEWLINE = b"\n"


class ContractError(ValueError):
    """The contract cannot be used as written; names the element and, when known, its line."""


# --- The contract as typed values ----------------------------------------------------------


@dataclass(frozen=True)
class Property:
    """One property of an entity type: one column of its view."""

    name: str
    edm_type: str
    nullable: bool = True
    max_length: int | None = None  # None: unbounded (no MaxLength, or MaxLength="max")
    precision: int | None = None
    scale: int | None = None
    is_key: bool = False

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name):
            raise ContractError(f"property name {self.name!r} is not a SQL identifier")
        if self.edm_type not in TYPE_MAPPING:
            raise ContractError(
                f"property {self.name}: type {self.edm_type!r} has no mapping to a warehouse "
                f"type (mapped: {', '.join(sorted(TYPE_MAPPING))})"
            )
        if self.max_length is not None:
            if self.edm_type != "Edm.String":
                raise ContractError(f"property {self.name}: MaxLength on {self.edm_type}")
            if self.max_length < 1:
                raise ContractError(f"property {self.name}: MaxLength must be at least 1")
        if self.edm_type == "Edm.Decimal":
            # A bare DECIMAL is (18,3) on DuckDB and (38,0) on Snowflake: never guess.
            if self.precision is None:
                raise ContractError(f"property {self.name}: Edm.Decimal needs a Precision")
            if not 1 <= self.precision <= MAX_DECIMAL_PRECISION:
                raise ContractError(
                    f"property {self.name}: Precision {self.precision} outside "
                    f"1..{MAX_DECIMAL_PRECISION}"
                )
            if self.scale is None or not 0 <= self.scale <= self.precision:
                raise ContractError(
                    f"property {self.name}: Scale {self.scale} outside 0..{self.precision}"
                )
        elif self.precision is not None or self.scale is not None:
            raise ContractError(f"property {self.name}: Precision/Scale on {self.edm_type}")
        if self.is_key and self.nullable:
            raise ContractError(f'key property {self.name} must be Nullable="false"')

    def describe(self) -> str:
        """The property's type as the contract writes it: `Edm.String(64)`, `Edm.Decimal(5,2)`."""
        if self.edm_type == "Edm.String" and self.max_length is not None:
            return f"Edm.String(MaxLength={self.max_length})"
        if self.edm_type == "Edm.Decimal":
            return f"Edm.Decimal({self.precision},{self.scale})"
        return self.edm_type


@dataclass(frozen=True)
class EntitySet:
    """One entity set of the container: one view, named like it."""

    name: str
    entity_type: str
    properties: tuple[Property, ...]

    @property
    def keys(self) -> tuple[Property, ...]:
        return tuple(p for p in self.properties if p.is_key)

    @property
    def is_tenant_scoped(self) -> bool:
        """Holds customer data: each row belongs to the customer named in CustomerId."""
        return any(p.name == TENANT_PROPERTY for p in self.properties)

    def property(self, name: str) -> Property:
        for prop in self.properties:
            if prop.name == name:
                return prop
        raise KeyError(f"{self.name} has no property {name!r}")


@dataclass(frozen=True)
class ODataContract:
    namespace: str
    container: str
    entity_sets: tuple[EntitySet, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.entity_sets)

    def entity_set(self, name: str) -> EntitySet:
        for entity_set in self.entity_sets:
            if entity_set.name == name:
                return entity_set
        raise KeyError(f"the contract has no entity set {name!r} (it has {', '.join(self.names)})")


# --- The one type mapping, and the one normalization of reported types ----------------------


def column_type(prop: Property, target: str) -> str:
    """The column type a view gives `prop` on `target` ("snowflake" or "duckdb")."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    snowflake, duckdb = TYPE_MAPPING[prop.edm_type]
    template = snowflake if target == "snowflake" else duckdb
    if prop.edm_type == "Edm.String" and prop.max_length is None:
        return "VARCHAR"
    return template.format(max_length=prop.max_length, precision=prop.precision, scale=prop.scale)


# `NAME`, `NAME(a)` or `NAME(a,b)`; a name may hold spaces (`TIMESTAMP WITH TIME ZONE`).
_TYPE_TEXT = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$"
)
# Type names that mean the same thing, per target, to one spelling.
_SNOWFLAKE_ALIASES = {
    **dict.fromkeys(("TEXT", "STRING", "VARCHAR", "CHAR VARYING", "NVARCHAR"), "VARCHAR"),
    **dict.fromkeys(("NUMBER", "DECIMAL", "NUMERIC"), "NUMBER"),
    **dict.fromkeys(("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"), "INT"),
    **dict.fromkeys(("FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL"), "FLOAT"),
    **dict.fromkeys(("TIMESTAMP_NTZ", "DATETIME", "TIMESTAMP"), "TIMESTAMP_NTZ"),
}
_DUCKDB_ALIASES = {
    **dict.fromkeys(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"), "VARCHAR"),
    **dict.fromkeys(("SMALLINT", "INT2", "SHORT"), "SMALLINT"),
    **dict.fromkeys(("INTEGER", "INT", "INT4", "SIGNED"), "INTEGER"),
    **dict.fromkeys(("BIGINT", "INT8", "LONG"), "BIGINT"),
    **dict.fromkeys(("DECIMAL", "NUMERIC"), "DECIMAL"),
    **dict.fromkeys(("DOUBLE", "FLOAT8", "DOUBLE PRECISION"), "DOUBLE"),
    **dict.fromkeys(("FLOAT", "FLOAT4", "REAL"), "FLOAT"),  # DuckDB's FLOAT is 4 bytes
    **dict.fromkeys(("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"), "TIMESTAMPTZ"),
    **dict.fromkeys(("BOOLEAN", "BOOL", "LOGICAL"), "BOOLEAN"),
}
# Snowflake's unbounded VARCHAR, as information_schema reports it.
_SNOWFLAKE_MAX_VARCHAR = 16_777_216


def canonical_type(
    type_text: str,
    target: str,
    *,
    length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
) -> str:
    """One spelling per type, so a declared type and a reported one compare as text.

    `type_text` is a type as written in DDL (`NUMBER(10,0)`, `TIMESTAMPTZ`) or as
    `information_schema.columns.data_type` reports it (`TEXT`, `DECIMAL(5,2)`,
    `TIMESTAMP WITH TIME ZONE`); `length`, `precision`, `scale` are that view's
    `character_maximum_length`, `numeric_precision`, `numeric_scale` where the type text
    carries none (Snowflake's `NUMBER`, `TEXT`).
    """
    match = _TYPE_TEXT.match(type_text or "")
    if not match:
        return (type_text or "").strip().upper()
    name = " ".join(match.group(1).upper().split())
    first = int(match.group(2)) if match.group(2) else None
    second = int(match.group(3)) if match.group(3) else None
    if target == "snowflake":
        name = _SNOWFLAKE_ALIASES.get(name, name)
        if name == "VARCHAR":
            size = first if first is not None else length
            return "VARCHAR" if size in (None, _SNOWFLAKE_MAX_VARCHAR) else f"VARCHAR({size})"
        if name == "INT":
            return "NUMBER(38,0)"
        if name == "NUMBER":
            p = first if first is not None else precision if precision is not None else 38
            s = second if first is not None else scale
            return f"NUMBER({p},{s or 0})"
        return name
    if target == "duckdb":
        name = _DUCKDB_ALIASES.get(name, name)
        if name == "VARCHAR":
            return "VARCHAR"  # DuckDB keeps no length: MaxLength is checked on the data
        if name == "DECIMAL":
            if first is None:  # DuckDB's bare DECIMAL
                first, second = (precision, scale) if precision is not None else (18, 3)
            return f"DECIMAL({first},{second or 0})"
        return name
    raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")


# --- Reading the document -------------------------------------------------------------------


def load_contract(path: Path | str = CONTRACT_PATH) -> ODataContract:
    """The contract in the file at `path` (default: the dbt project's)."""
    path = Path(path)
    return parse_contract(path.read_bytes(), source=str(path))


def parse_contract(document: bytes | str, source: str = "metadata.xml") -> ODataContract:
    """Parse a CSDL v4 `$metadata` document; refuse it, naming where, if it cannot be used."""
    if isinstance(document, str):
        document = document.encode("utf-8")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        raise ContractError(f"{source}: not well-formed XML: {error}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        line = _line_of(document, b"<!DOCTYPE")
        raise ContractError(
            f"{source}{line}: a DOCTYPE (and any ENTITY it declares) is refused: "
            "a $metadata document needs none, and external entities are not read"
        )
    return _Reader(source).contract(root)


def _line_of(document: bytes, marker: bytes) -> str:
    at = document.find(marker)
    if at < 0:
        return ""
    return f" line {document.count(NEWLINE, 0, at) + 1}"


class _Reader:
    """Walks the parsed tree; every refusal names the element and its line."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, element, message: str) -> ContractError:
        line = f" line {element.sourceline}" if element is not None and element.sourceline else ""
        return ContractError(f"{self.source}{line}: {message}")

    def contract(self, root) -> ODataContract:
        if root.tag != f"{{{EDMX_NS}}}Edmx":
            raise self.fail(root, f"root element must be edmx:Edmx ({EDMX_NS}), got {root.tag}")
        if root.get("Version") != "4.0":
            raise self.fail(root, f"edmx:Edmx Version must be 4.0, got {root.get('Version')!r}")
        schemas = root.findall(f"{{{EDMX_NS}}}DataServices/{{{EDM_NS}}}Schema")
        if len(schemas) != 1:
            raise self.fail(root, f"expected one edm Schema, found {len(schemas)}")
        schema = schemas[0]
        namespace = schema.get("Namespace") or ""
        if not namespace:
            raise self.fail(schema, "Schema has no Namespace")
        prefixes = {namespace, schema.get("Alias") or namespace}
        types = {}
        for entity_type in schema.findall(f"{{{EDM_NS}}}EntityType"):
            self._check_entity_children(entity_type)
            if entity_type.get("Name") in types:
                raise self.fail(entity_type, f"EntityType {entity_type.get('Name')} appears twice")
            types[entity_type.get("Name")] = entity_type
        containers = schema.findall(f"{{{EDM_NS}}}EntityContainer")
        if len(containers) != 1:
            raise self.fail(schema, f"expected one EntityContainer, found {len(containers)}")
        container = containers[0]
        entity_sets = []
        for element in container.findall(f"{{{EDM_NS}}}EntitySet"):
            name = element.get("Name") or ""
            if not _IDENTIFIER.match(name):
                raise self.fail(element, f"EntitySet name {name!r} is not a SQL identifier")
            qualified = element.get("EntityType") or ""
            prefix, _, type_name = qualified.rpartition(".")
            if prefix not in prefixes or type_name not in types:
                raise self.fail(
                    element, f"EntitySet {name}: EntityType {qualified!r} is not in the schema"
                )
            entity_sets.append(EntitySet(name, type_name, self._properties(types[type_name])))
        if not entity_sets:
            raise self.fail(container, "the EntityContainer has no EntitySet")
        seen: set[str] = set()
        for entity_set in entity_sets:
            if entity_set.name.upper() in seen:  # one view each; Snowflake folds case
                raise ContractError(f"{self.source}: EntitySet {entity_set.name} appears twice")
            seen.add(entity_set.name.upper())
        return ODataContract(namespace, container.get("Name") or "", tuple(entity_sets))

    def _check_entity_children(self, entity_type) -> None:
        name = entity_type.get("Name")
        if entity_type.get("BaseType"):
            # Inherited properties would silently be missing from the view.
            raise self.fail(entity_type, f"EntityType {name}: BaseType is not supported")
        allowed = {f"{{{EDM_NS}}}{tag}" for tag in ("Key", "Property", "NavigationProperty")}
        allowed.add(f"{{{EDM_NS}}}Annotation")  # documentation only; no column
        for child in entity_type:
            if child.tag not in allowed:
                raise self.fail(child, f"EntityType {name}: element {child.tag} not understood")

    def _properties(self, entity_type) -> tuple[Property, ...]:
        type_name = entity_type.get("Name")
        keys = entity_type.findall(f"{{{EDM_NS}}}Key/{{{EDM_NS}}}PropertyRef")
        key_names = [ref.get("Name") for ref in keys]
        if not keys:
            raise self.fail(entity_type, f"EntityType {type_name} has no Key")
        elements = entity_type.findall(f"{{{EDM_NS}}}Property")
        names = [element.get("Name") for element in elements]
        for ref, key_name in zip(keys, key_names, strict=True):
            if key_name not in names:
                raise self.fail(ref, f"EntityType {type_name}: key {key_name!r} names no property")
        properties = []
        for element in elements:
            name = element.get("Name") or ""
            where = f"EntityType {type_name}, property {name or '(no Name)'}"
            if names.count(name) > 1 or any(
                other.upper() == name.upper() and other != name for other in names
            ):
                raise self.fail(element, f"{where}: declared twice (names compare case-blind)")
            unknown = set(element.attrib) - _PROPERTY_ATTRIBUTES
            if unknown:
                raise self.fail(element, f"{where}: attribute(s) {sorted(unknown)} not supported")
            try:
                properties.append(
                    Property(
                        name=name,
                        edm_type=element.get("Type") or "",
                        nullable=self._boolean(element, "Nullable", where, default=True),
                        max_length=self._max_length(element, where),
                        precision=self._integer(element, "Precision", where),
                        scale=self._scale(element, where),
                        is_key=name in key_names,
                    )
                )
            except ContractError as error:
                raise self.fail(element, f"EntityType {type_name}, {error}") from None
        return tuple(properties)

    def _boolean(self, element, attribute: str, where: str, default: bool) -> bool:
        value = element.get(attribute)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise self.fail(element, f"{where}: {attribute} must be true or false, got {value!r}")
        return value == "true"

    def _integer(self, element, attribute: str, where: str) -> int | None:
        value = element.get(attribute)
        if value is None:
            return None
        if not value.isdigit():
            raise self.fail(element, f"{where}: {attribute} must be a whole number, got {value!r}")
        return int(value)

    def _max_length(self, element, where: str) -> int | None:
        if element.get("MaxLength") == "max":
            if element.get("Type") != "Edm.String":
                raise self.fail(element, f"{where}: MaxLength on {element.get('Type')}")
            return None
        return self._integer(element, "MaxLength", where)

    def _scale(self, element, where: str) -> int | None:
        value = element.get("Scale")
        if value in ("variable", "floating"):
            raise self.fail(
                element, f"{where}: Scale={value!r} has no fixed column type; give a number"
            )
        scale = self._integer(element, "Scale", where)
        # CSDL v4: Scale defaults to 0 for Decimal.
        return 0 if scale is None and element.get("Type") == "Edm.Decimal" else scale


# --- Comparing the contract with the warehouse ----------------------------------------------


@dataclass(frozen=True)
class WarehouseColumn:
    """One row of `information_schema.columns`, as `information_schema_sql` selects it."""

    table: str
    column: str
    data_type: str
    is_nullable: str = "YES"
    character_maximum_length: int | None = None
    numeric_precision: int | None = None
    numeric_scale: int | None = None

    def canonical_type(self, target: str) -> str:
        return canonical_type(
            self.data_type,
            target,
            length=self.character_maximum_length,
            precision=self.numeric_precision,
            scale=self.numeric_scale,
        )


def information_schema_sql(schema: str = "odata") -> str:
    """The query whose rows `WarehouseColumn(*row)` reads, the same on DuckDB and Snowflake."""
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"schema must be an identifier, got {schema!r}")
    return (
        "select table_name, column_name, data_type, is_nullable, character_maximum_length, "
        "numeric_precision, numeric_scale from information_schema.columns "
        f"where upper(table_schema) = '{schema.upper()}' order by table_name, ordinal_position"
    )


Query = Callable[[str], Sequence[Sequence[object]]]


def compare_with_warehouse(
    contract: ODataContract,
    columns: Iterable[WarehouseColumn | Sequence[object] | Mapping[str, object]],
    target: str,
    *,
    query: Query,
    schema: str = "odata",
) -> list[str]:
    """Every difference between the contract and the views in `schema`, one readable line each.

    `columns` are the schema's `information_schema.columns` rows (`information_schema_sql`);
    `query` runs SQL on the same warehouse and returns rows, for what only the data can tell:
    nulls in a Nullable="false" property, a string longer than its MaxLength (DuckDB keeps
    no length), a key that is not unique. An empty list means the views keep the contract.
    """
    if not _IDENTIFIER.match(schema):
        raise ValueError(f"schema must be an identifier, got {schema!r}")
    by_table: dict[str, dict[str, WarehouseColumn]] = {}
    table_names: dict[str, str] = {}
    for row in columns:
        column = _as_column(row)
        table_names.setdefault(column.table.upper(), column.table)
        by_table.setdefault(column.table.upper(), {})[column.column.upper()] = column

    mismatches: list[str] = []
    for entity_set in contract.entity_sets:
        found = by_table.pop(entity_set.name.upper(), None)
        if found is None:
            mismatches.append(f"{entity_set.name}: no view {schema}.{entity_set.name}")
            continue
        mismatches += _compare_columns(entity_set, found, target)
        present = [p for p in entity_set.properties if p.name.upper() in found]
        relation = f'{schema}."{table_names[entity_set.name.upper()]}"'
        mismatches += _compare_data(entity_set, present, found, relation, target, query)
    for extra in sorted(by_table):
        mismatches.append(
            f"{table_names[extra]}: view in {schema} is not an entity set of the contract"
        )
    return mismatches


def _as_column(row) -> WarehouseColumn:
    if isinstance(row, WarehouseColumn):
        return row
    if isinstance(row, Mapping):
        return WarehouseColumn(**{str(k).lower(): v for k, v in row.items()})
    return WarehouseColumn(*row)


def _compare_columns(
    entity_set: EntitySet, found: dict[str, WarehouseColumn], target: str
) -> list[str]:
    mismatches = []
    declared = {p.name.upper() for p in entity_set.properties}
    for prop in entity_set.properties:
        column = found.get(prop.name.upper())
        if column is None:
            mismatches.append(f"{entity_set.name}.{prop.name}: missing ({prop.describe()})")
            continue
        expected = canonical_type(column_type(prop, target), target)
        actual = column.canonical_type(target)
        if actual != expected:
            mismatches.append(
                f"{entity_set.name}.{prop.name}: type {actual}, the contract's "
                f"{prop.describe()} is {expected} on {target}"
            )
    for name, column in found.items():
        if name not in declared:
            mismatches.append(
                f"{entity_set.name}.{column.column}: extra column ({column.data_type}), "
                "not a property of the contract"
            )
    return mismatches


def _compare_data(
    entity_set: EntitySet,
    present: list[Property],
    found: dict[str, WarehouseColumn],
    relation: str,
    target: str,
    query: Query,
) -> list[str]:
    """Nulls, over-long strings and duplicate keys, in two queries per view."""

    def quoted(prop: Property) -> str:
        return '"' + found[prop.name.upper()].column.replace('"', '""') + '"'

    checks: list[tuple[str, str]] = []
    for prop in present:
        if not prop.nullable:
            checks.append(
                (
                    f"sum(case when {quoted(prop)} is null then 1 else 0 end)",
                    f"{entity_set.name}.{prop.name}: {{n}} row(s) null, "
                    'the contract says Nullable="false"',
                )
            )
        # Only DuckDB needs this: Snowflake's VARCHAR(n) holds no longer value.
        if target == "duckdb" and prop.edm_type == "Edm.String" and prop.max_length:
            text = found[prop.name.upper()].canonical_type(target) == "VARCHAR"
            if text:
                checks.append(
                    (
                        "sum(case when length("
                        f"{quoted(prop)}) > {prop.max_length} then 1 else 0 end)",
                        f"{entity_set.name}.{prop.name}: {{n}} row(s) longer than "
                        f"MaxLength={prop.max_length}",
                    )
                )
    mismatches = []
    if checks:
        [counts] = query(f"select {', '.join(sql for sql, _ in checks)} from {relation}")
        for (_, message), count in zip(checks, counts, strict=True):
            if count:
                mismatches.append(message.format(n=int(count)))

    keys = [p for p in entity_set.keys if p in present]
    if keys and len(keys) == len(entity_set.keys):
        key_list = ", ".join(quoted(p) for p in keys)
        rows = query(
            f"select {key_list}, count(*) as copies from {relation} "
            f"group by {key_list} having count(*) > 1 order by copies desc, {key_list}"
        )
        if rows:
            names = ", ".join(p.name for p in keys)
            example = ", ".join(repr(value) for value in rows[0][:-1])
            mismatches.append(
                f"{entity_set.name}: key ({names}) not unique: {len(rows)} key value(s) "
                f"repeated, e.g. ({example}) {rows[0][-1]} times"
            )
    return mismatches
