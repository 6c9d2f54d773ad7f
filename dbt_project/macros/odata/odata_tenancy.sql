{#
  The row filter of every `odata` view: a row is visible only to a session acting for a
  customer entitled to the view's entity set (assets/warehouse/tenancy.py) and, for an entity
  set holding customer data, only the rows of that customer.

    where {{ odata_entitled('TrainingCompletions', 'completions.customer_id') }}
    where {{ odata_entitled('HeatIndex') }}          -- shared reference data: tier only

  The entitlements are tenancy.customer_entitlements (customer, entity set, role). How a
  session says whom it acts for, and when the entitlements are read, differ per warehouse:
  - Snowflake: the roles in the session (`is_role_in_session`: the primary role, the roles it
    inherits and the secondary roles), so a BI tool's own role that was granted a customer's
    role matches that customer. The entitlements are read at query time, so a downgrade hides
    the rows at the next query. Each customer role is also granted SELECT on exactly the
    views it may read (the grants step), so a view beyond the tier is not even readable.
  - DuckDB (local): no roles. The session names the customer's role once,
    `SET VARIABLE fieldwork_session = tenancy.customer_session('FIELDWORK_CUSTOMER_ACME_PHARMA')`,
    which reads from the entitlements then the entity sets the role's customer may read, as a
    map from entity set to customer id (the function is written with the table:
    assets/warehouse/entitlements.py). A view keeps the rows whose customer is the map's value
    for its entity set, or, for reference data, needs the key only. A local connection reads
    one snapshot of the warehouse for its whole life (resources/warehouse.py), so the
    entitlements read when it names its customer are those of every later query on it, and a
    downgrade reaches the next connection, as every other change does (a session that attaches
    a newer snapshot keeps the map it set: it sets it again). The view compares with
    a constant, which DuckDB folds into the scan's filter: no join per query (a join to the
    entitlements costs about 1 ms of planning on a 1.5 ms query: bench/odata.py). Unset, every
    view is empty. It isolates tenants for tests and demos, not against a user who can set it:
    the local file has no access control at all.
#}

{% macro odata_entitled(entity_set, customer_column=none) -%}
    {%- if entity_set is not string or not modules.re.match('^[A-Za-z][A-Za-z0-9]*$', entity_set) -%}
        {{ exceptions.raise_compiler_error("odata_entitled: entity set must be a plain name, got " ~ entity_set) }}
    {%- endif -%}
    {#- Every view depends on the entitlements, on every warehouse (the lineage shows it). -#}
    {%- set entitlements = source('tenancy', 'customer_entitlements') -%}
    {{ return(adapter.dispatch('odata_entitled', 'fieldwork')(entity_set, customer_column, entitlements)) }}
{%- endmacro %}


{% macro snowflake__odata_entitled(entity_set, customer_column, entitlements) -%}
    {%- if customer_column is none -%}
    exists (
        select 1
        from {{ entitlements }} as entitlements
        where entitlements.entity_set = '{{ entity_set }}'
            and is_role_in_session(entitlements.role_name)
    )
    {%- else -%}
    {{ customer_column }} in (
        select entitlements.customer_id
        from {{ entitlements }} as entitlements
        where entitlements.entity_set = '{{ entity_set }}'
            and is_role_in_session(entitlements.role_name)
    )
    {%- endif -%}
{%- endmacro %}


{% macro default__odata_entitled(entity_set, customer_column, entitlements) -%}
    {{ exceptions.raise_compiler_error(
        "odata_entitled: no row filter for the " ~ target.type ~ " adapter; write "
        ~ target.type ~ "__odata_entitled beside snowflake__ and duckdb__odata_entitled") }}
{%- endmacro %}


{% macro duckdb__odata_entitled(entity_set, customer_column, entitlements) -%}
    {%- if customer_column is none -%}
    getvariable('fieldwork_session')['{{ entity_set }}'] is not null
    {%- else -%}
    {{ customer_column }} = getvariable('fieldwork_session')['{{ entity_set }}']
    {%- endif -%}
{%- endmacro %}
