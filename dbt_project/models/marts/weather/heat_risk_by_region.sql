-- Per climate region and day: how many cities and city-minutes reached each risk category.
{{ config(
    unique_key='reading_date',
    pre_hook="{{ delete_emptied_days('reading_date', ref('city_day_heat_index')) }}",
) }}

with city_days as (
    select * from {{ ref('city_day_heat_index') }}
    where {{ days_to_build('reading_date') }}
),

-- Sums cast to BIGINT: DuckDB's sum of integers is a HUGEINT, which BI drivers cannot read.
per_region as (
    select
        reading_date,
        region,
        count(*) as cities_count,
        max(max_heat_index_f) as max_heat_index_f,
        avg(mean_heat_index_f) as mean_heat_index_f,
        count(case when danger_minutes + extreme_danger_minutes > 0 then 1 end) as cities_in_danger_count,
        cast(sum(caution_minutes) as {{ dbt.type_bigint() }}) as caution_minutes,
        cast(sum(extreme_caution_minutes) as {{ dbt.type_bigint() }}) as extreme_caution_minutes,
        cast(sum(danger_minutes) as {{ dbt.type_bigint() }}) as danger_minutes,
        cast(sum(extreme_danger_minutes) as {{ dbt.type_bigint() }}) as extreme_danger_minutes
    from city_days
    group by reading_date, region
),

final as (
    select * from per_region
)

select * from final
