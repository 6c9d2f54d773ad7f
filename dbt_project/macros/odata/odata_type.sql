{#
  The column type of an OData EDM type on this warehouse, and a cast to it: the dbt side of
  the contract's one type mapping (assets/warehouse/odata_contract.py: TYPE_MAPPING and
  column_type). tests/warehouse/test_odata_contract.py builds every property of the contract
  through these macros, on DuckDB and on Snowflake (fakesnow), and proves both agree.

  Usage in an `odata` view:
    {{ odata_cast('module_title', 'Edm.String', max_length=256) }} as Title,
    {{ odata_cast('score', 'Edm.Decimal', precision=5, scale=2) }} as Score
#}

{% macro odata_cast(expression, edm_type, max_length=none, precision=none, scale=none) -%}
    {{ return(adapter.dispatch('odata_cast', 'fieldwork')(expression, edm_type, max_length, precision, scale)) }}
{%- endmacro %}

{% macro default__odata_cast(expression, edm_type, max_length, precision, scale) -%}
    cast({{ expression }} as {{ odata_type(edm_type, max_length, precision, scale) }})
{%- endmacro %}


{% macro odata_type(edm_type, max_length=none, precision=none, scale=none) -%}
    {%- do odata_check_facets(edm_type, max_length, precision, scale) -%}
    {{ return(adapter.dispatch('odata_type', 'fieldwork')(edm_type, max_length, precision, scale)) }}
{%- endmacro %}

{% macro default__odata_type(edm_type, max_length, precision, scale) -%}
    {{ exceptions.raise_compiler_error(
        "odata_type: no OData type mapping for the " ~ target.type ~ " adapter; write "
        ~ target.type ~ "__odata_type beside snowflake__odata_type and duckdb__odata_type") }}
{%- endmacro %}

{# Integers with an explicit precision: Snowflake's INT, SMALLINT and BIGINT are all
   NUMBER(38,0). Snowflake has no UUID type: a Guid is its 36-character text. #}
{% macro snowflake__odata_type(edm_type, max_length, precision, scale) -%}
    {%- set fixed = {
        'Edm.Boolean': 'BOOLEAN',
        'Edm.Int16': 'NUMBER(5,0)',
        'Edm.Int32': 'NUMBER(10,0)',
        'Edm.Int64': 'NUMBER(19,0)',
        'Edm.Double': 'FLOAT',
        'Edm.Date': 'DATE',
        'Edm.DateTimeOffset': 'TIMESTAMP_TZ',
        'Edm.Guid': 'VARCHAR(36)',
    } -%}
    {%- if edm_type == 'Edm.String' -%}
        {{ return('VARCHAR' if max_length is none else 'VARCHAR(' ~ max_length ~ ')') }}
    {%- elif edm_type == 'Edm.Decimal' -%}
        {{ return('NUMBER(' ~ precision ~ ',' ~ scale ~ ')') }}
    {%- else -%}
        {{ return(fixed[edm_type]) }}
    {%- endif -%}
{%- endmacro %}

{# DuckDB keeps no VARCHAR length (MaxLength is checked on the data); UUID refuses a
   malformed Guid at build time. #}
{% macro duckdb__odata_type(edm_type, max_length, precision, scale) -%}
    {%- set fixed = {
        'Edm.Boolean': 'BOOLEAN',
        'Edm.Int16': 'SMALLINT',
        'Edm.Int32': 'INTEGER',
        'Edm.Int64': 'BIGINT',
        'Edm.Double': 'DOUBLE',
        'Edm.Date': 'DATE',
        'Edm.DateTimeOffset': 'TIMESTAMPTZ',
        'Edm.Guid': 'UUID',
    } -%}
    {%- if edm_type == 'Edm.String' -%}
        {{ return('VARCHAR') }}
    {%- elif edm_type == 'Edm.Decimal' -%}
        {{ return('DECIMAL(' ~ precision ~ ',' ~ scale ~ ')') }}
    {%- else -%}
        {{ return(fixed[edm_type]) }}
    {%- endif -%}
{%- endmacro %}


{# The facets each EDM type takes, checked the same way as the Python reader: an unmapped
   type, a facet on a type that has none, or a Decimal without Precision fails the build
   naming the type and the value. #}
{% macro odata_check_facets(edm_type, max_length, precision, scale) -%}
    {%- set mapped = ['Edm.String', 'Edm.Boolean', 'Edm.Int16', 'Edm.Int32', 'Edm.Int64',
                      'Edm.Decimal', 'Edm.Double', 'Edm.Date', 'Edm.DateTimeOffset', 'Edm.Guid'] -%}
    {%- if edm_type not in mapped -%}
        {{ exceptions.raise_compiler_error("odata_type: " ~ edm_type ~ " has no mapping to a warehouse type (mapped: " ~ mapped | join(', ') ~ ")") }}
    {%- endif -%}
    {%- if max_length is not none and (edm_type != 'Edm.String' or max_length is not number or max_length < 1) -%}
        {{ exceptions.raise_compiler_error("odata_type: max_length=" ~ max_length ~ " on " ~ edm_type ~ " (only Edm.String takes a length of at least 1)") }}
    {%- endif -%}
    {%- if edm_type == 'Edm.Decimal' -%}
        {%- if precision is not number or precision < 1 or precision > 38 -%}
            {{ exceptions.raise_compiler_error("odata_type: Edm.Decimal needs a precision in 1..38, got " ~ precision) }}
        {%- endif -%}
        {%- if scale is not number or scale < 0 or scale > precision -%}
            {{ exceptions.raise_compiler_error("odata_type: Edm.Decimal(" ~ precision ~ ") needs a scale in 0.." ~ precision ~ ", got " ~ scale) }}
        {%- endif -%}
    {%- elif precision is not none or scale is not none -%}
        {{ exceptions.raise_compiler_error("odata_type: precision/scale on " ~ edm_type ~ " (only Edm.Decimal takes them)") }}
    {%- endif -%}
{%- endmacro %}
