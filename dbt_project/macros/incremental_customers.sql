{#
  Marts over customer-partitioned data (the training family) are incremental with the
  `customer_replace` strategy below: a customer's run rebuilds that customer's rows and
  leaves every other customer's as they are.

  The customer comes from the Dagster partition of the run (assets/warehouse/assets.py) as
  the environment variable `FIELDWORK_CUSTOMER_ID` of the dbt process (resources/dbt.py; by
  hand, `--vars '{customer_id: acme-pharma}'` works too), read by `build_customer()` only.
  Without it (a full build, the first run, the tests), or when the table does not exist yet
  or is rebuilt with `--full-refresh`, the model reads every customer and the run replaces
  every row.

  A model filters each of its inputs, and says whose rows it replaces:

    {{ config(
        materialized='incremental',
        incremental_strategy='customer_replace',
        unique_key='customer_id',
        on_schema_change='fail',
        tmp_relation_type='transient',
    ) }}
    with learners as (
        select * from {{ ref('stg_training__learners') }}
        where {{ customers_to_build() }}
    )

  Why not dbt's `delete+insert` keyed on the customer: it deletes the customers its new rows
  hold, so a customer whose rows are all gone (a table reloaded empty, a tag set cleared)
  would keep its old rows. `customer_replace` deletes the run's customer whatever the new
  rows hold, then inserts them, in one transaction on both targets (DuckDB: dbt's own;
  Snowflake: the same explicit BEGIN/COMMIT as delete+insert), so readers never see the
  customer without rows.
#}

{% macro build_customer() -%}
    {#- The customer id the run was given, checked; none when it was given none (and while
        dbt parses: the customer is no part of the parse). The one place that reads it. -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {#- From the environment (resources/dbt.py: a change of --vars re-parses the project). -#}
    {%- set customer_id = env_var('FIELDWORK_CUSTOMER_ID', '') or var('customer_id', none) -%}
    {%- if customer_id is none or customer_id == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if customer_id is not string
        or not modules.re.match('^[A-Za-z0-9][A-Za-z0-9._-]*\Z', customer_id) -%}
        {{ exceptions.raise_compiler_error(
            "FIELDWORK_CUSTOMER_ID (or var customer_id) must be a customer id, a slug of "
            ~ "letters, digits, '.', '_' and '-' starting with a letter or digit; got "
            ~ (customer_id | tojson)
            ~ " (in " ~ model.unique_id ~ ")") }}
    {%- endif -%}
    {{ return(customer_id) }}
{%- endmacro %}


{% macro customers_to_build(customer_column='customer_id') -%}
    {#- A filter on the model's input: the run's customer in an incremental run given one,
        every customer otherwise. -#}
    {%- set customer_id = build_customer() -%}
    {%- if is_incremental() and customer_id is not none -%}
        {{ customer_column }} = '{{ customer_id }}'
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{% macro get_incremental_customer_replace_sql(arg_dict) -%}
    {#- The incremental strategy `customer_replace`: the run's customer's rows (all rows
        without one) deleted, then the new rows of that customer inserted. The model's
        `unique_key` names its customer column. -#}
    {%- set customer_column = arg_dict['unique_key'] -%}
    {%- if customer_column is not string or customer_column == '' -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy customer_replace needs unique_key: the model's customer "
            ~ "column, as one name (in " ~ model.unique_id ~ ")") }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set dml -%}
        delete from {{ target }} where {{ customers_to_build(customer_column) }};
        insert into {{ target }} ({{ columns }})
        select {{ columns }} from {{ source }} where {{ customers_to_build(customer_column) }}
    {%- endset -%}
    {{ return(adapter.dispatch('customer_replace_dml')(dml)) }}
{%- endmacro %}


{% macro default__customer_replace_dml(dml) -%}
    {#- DuckDB: inside the transaction dbt's incremental materialization holds. -#}
    {{ return(dml) }}
{%- endmacro %}


{% macro snowflake__customer_replace_dml(dml) -%}
    {#- Snowflake runs each statement on its own (autocommit): one explicit transaction, as
        dbt-snowflake wraps delete+insert. -#}
    {{ return(snowflake_dml_explicit_transaction(dml)) }}
{%- endmacro %}
