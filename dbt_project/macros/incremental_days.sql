{#
  Marts over day-partitioned data are incremental (`delete+insert`, unique key the day
  column): a daily run rebuilds the days it is given and leaves every other day's rows as
  they are.

  The days come from the Dagster partition (assets/warehouse/assets.py) as environment
  variables of the dbt process, `FIELDWORK_MIN_DATE=2026-07-15 FIELDWORK_MAX_DATE=2026-07-16`,
  both days included (by hand, `--vars '{min_date: ..., max_date: ...}'` works too). Without
  them (a full build, the first run, the tests), or when the table does not exist yet or is
  rebuilt with `--full-refresh`, the model reads every day.

  Why not only vars: dbt parses the whole project again whenever `--vars` change (each day's
  run), while an environment variable read at execution only (`execute`) is no part of the
  parse, so each run reuses dbt's partial parse (resources/dbt.py).

    with readings as (
        select * from {{ ref('stg_weather__heat_index_readings') }}
        where {{ days_to_build('reading_date') }}
    )
#}

{% macro build_days() -%}
    {#- The (min_date, max_date) the run was given, checked; none when it was given none
        (and while dbt parses: the days are no part of the parse). -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set first = env_var('FIELDWORK_MIN_DATE', '') or var('min_date', none) -%}
    {%- set last = env_var('FIELDWORK_MAX_DATE', '') or var('max_date', none) -%}
    {%- if first is none and last is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for name, value in [('min_date', first), ('max_date', last)] -%}
        {%- if value is none or not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z', value | string) -%}
            {{ exceptions.raise_compiler_error(
                "FIELDWORK_MIN_DATE and FIELDWORK_MAX_DATE (or vars min_date and max_date) "
                ~ "must both be days written YYYY-MM-DD; got " ~ name ~ "=" ~ value) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if (first | string) > (last | string) -%}
        {{ exceptions.raise_compiler_error(
            "min_date (" ~ first ~ ") is after max_date (" ~ last ~ ")") }}
    {%- endif -%}
    {{ return((first | string, last | string)) }}
{%- endmacro %}


{% macro days_to_build(day_column) -%}
    {#- A filter on the model's input: the run's days in an incremental run given days,
        every day otherwise. -#}
    {%- set days = build_days() -%}
    {%- if is_incremental() and days is not none -%}
        {{ day_column }} between cast('{{ days[0] }}' as date) and cast('{{ days[1] }}' as date)
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{% macro delete_emptied_days(day_column, input_relation) -%}
    {#- A pre-hook: delete+insert replaces the days the new rows hold, so a day whose input
        rows are all gone (a day reloaded empty) would keep its old rows. This deletes the
        mart's days, among those rebuilt, that the input no longer has. -#}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ days_to_build(day_column) }}
            and {{ day_column }} not in (
                select distinct {{ day_column }}
                from {{ input_relation }}
                where {{ days_to_build(day_column) }} and {{ day_column }} is not null
            )
    {%- endif -%}
{%- endmacro %}
