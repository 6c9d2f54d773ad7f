{#
  Values the `odata` views build before casting them (odata_cast) to the contract's types.
#}

{#- A timestamp that holds UTC without a time zone (the raw tables' TIMESTAMP) as a
    timestamp with time zone at UTC, for an Edm.DateTimeOffset. A plain cast would read it
    in the session's time zone (Snowflake's default is America/Los_Angeles). -#}
{% macro odata_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('odata_utc_timestamp', 'fieldwork')(expression)) }}
{%- endmacro %}

{% macro snowflake__odata_utc_timestamp(expression) -%}
    timestamp_tz_from_parts(
        year({{ expression }}), month({{ expression }}), day({{ expression }}),
        hour({{ expression }}), minute({{ expression }}), second({{ expression }}),
        date_part(nanosecond, {{ expression }}), 'UTC'
    )
{%- endmacro %}

{% macro default__odata_utc_timestamp(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}


{#- A stable Guid from text (an md5 hex digest, 32 characters) in its 8-4-4-4-12 form: the
    legacy API keyed some entities by a GUID; the same text gives the same Guid on every
    warehouse (md5 is the same function on DuckDB and Snowflake). -#}
{% macro odata_guid_from_md5(md5_expression) -%}
    substr({{ md5_expression }}, 1, 8) || '-' || substr({{ md5_expression }}, 9, 4) || '-'
    || substr({{ md5_expression }}, 13, 4) || '-' || substr({{ md5_expression }}, 17, 4) || '-'
    || substr({{ md5_expression }}, 21, 12)
{%- endmacro %}
