{#
  The row filter of every `odata` view: a row is visible only to a session acting for a
  customer entitled to the view's entity set (assets/warehouse/tenancy.py) and, for an entity
  set holding customer data, only the rows of that customer.

    where {{ odata_entitled('TrainingCompletions', 'completions.customer_id') }}
    where {{ odata_entitled('HeatIndex') }}          -- shared reference data: tier only

  The entitlements (tenancy.customer_entitlements: customer, entity set, role) are read at
  query time, so a downgrade hides the rows at the next query, before any view is rebuilt.
  Who the session acts for is the one thing that differs per warehouse
  (`odata_role_in_session`):
  - Snowflake: the roles in the session (`is_role_in_session`: the primary role, the roles it
    inherits and the secondary roles), so a BI tool's own role that was granted a customer's
    role matches that customer. Each customer role is also granted SELECT on exactly the
    views it may read (the grants step), so a view beyond the tier is not even readable.
  - DuckDB (local): no roles; the session names the customer's role in a variable,
    `SET VARIABLE fieldwork_role = 'FIELDWORK_CUSTOMER_ACME_PHARMA'`. Unset, every view is
    empty. It isolates tenants for tests and demos, not against a user who can set it:
    the local file has no access control at all.
#}

{% macro odata_entitled(entity_set, customer_column=none) -%}
    {%- if entity_set is not string or not modules.re.match('^[A-Za-z][A-Za-z0-9]*$', entity_set) -%}
        {{ exceptions.raise_compiler_error("odata_entitled: entity set must be a plain name, got " ~ entity_set) }}
    {%- endif -%}
    {%- if customer_column is none -%}
    exists (
        select 1
        from {{ source('tenancy', 'customer_entitlements') }} as entitlements
        where entitlements.entity_set = '{{ entity_set }}'
            and {{ odata_role_in_session('entitlements.role_name') }}
    )
    {%- else -%}
    {{ customer_column }} in (
        select entitlements.customer_id
        from {{ source('tenancy', 'customer_entitlements') }} as entitlements
        where entitlements.entity_set = '{{ entity_set }}'
            and {{ odata_role_in_session('entitlements.role_name') }}
    )
    {%- endif -%}
{%- endmacro %}


{% macro odata_role_in_session(role_column) -%}
    {{ return(adapter.dispatch('odata_role_in_session', 'fieldwork')(role_column)) }}
{%- endmacro %}

{% macro snowflake__odata_role_in_session(role_column) -%}
    is_role_in_session({{ role_column }})
{%- endmacro %}

{% macro default__odata_role_in_session(role_column) -%}
    {{ role_column }} = getvariable('fieldwork_role')
{%- endmacro %}
