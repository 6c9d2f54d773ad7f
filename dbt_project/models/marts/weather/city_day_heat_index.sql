-- Per city and day: the city's name and climate region, the peak and mean heat index and
-- the minutes spent in each risk category.
{{ config(
    unique_key='reading_date',
    pre_hook="{{ delete_emptied_days('reading_date', ref('stg_weather__heat_index_readings')) }}",
) }}

with readings as (
    select * from {{ ref('stg_weather__heat_index_readings') }}
    where {{ days_to_build('reading_date') }}
),

-- The day's city registry: every reading's city is in it (the weather asset quarantines a
-- reading of an unknown city), so the left join only keeps a city the registry lost visible
-- (its name null, which the not_null tests report).
cities as (
    select * from {{ source('raw', 'weather_cities') }}
    where {{ days_to_build('reading_date') }}
),

-- Counts are BIGINT on DuckDB (count, not sum: DuckDB's sum of integers is a HUGEINT,
-- which BI drivers cannot read).
per_city_day as (
    select
        reading_date,
        city_id,
        count(*) as readings_count,
        max(heat_index_f) as max_heat_index_f,
        avg(heat_index_f) as mean_heat_index_f,
        count(case when heat_risk = 'caution' then 1 end) as caution_minutes,
        count(case when heat_risk = 'extreme caution' then 1 end) as extreme_caution_minutes,
        count(case when heat_risk = 'danger' then 1 end) as danger_minutes,
        count(case when heat_risk = 'extreme danger' then 1 end) as extreme_danger_minutes
    from readings
    group by reading_date, city_id
),

final as (
    select
        per_city_day.reading_date,
        per_city_day.city_id,
        cast(cities.city_name as {{ dbt.type_string() }}) as city_name,
        cast(cities.region as {{ dbt.type_string() }}) as region,
        per_city_day.readings_count,
        per_city_day.max_heat_index_f,
        per_city_day.mean_heat_index_f,
        per_city_day.caution_minutes,
        per_city_day.extreme_caution_minutes,
        per_city_day.danger_minutes,
        per_city_day.extreme_danger_minutes
    from per_city_day
    left join cities
        on per_city_day.city_id = cities.city_id
        and per_city_day.reading_date = cities.reading_date
)

select * from final
