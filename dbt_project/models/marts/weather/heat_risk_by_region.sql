-- Per climate region and day: how many cities and city-minutes reached each risk category.
{{ config(
    unique_key='reading_date',
    pre_hook="{{ delete_emptied_days('reading_date', ref('city_day_heat_index')) }}",
) }}

with city_days as (
    select * from {{ ref('city_day_heat_index') }}
    where {{ days_to_build('reading_date') }}
),

cities as (
    select * from {{ source('raw', 'weather_cities') }}
    where {{ days_to_build('reading_date') }}
),

city_days_with_region as (
    select
        city_days.*,
        cities.region
    from city_days
    inner join cities
        on city_days.city_id = cities.city_id
        and city_days.reading_date = cities.reading_date
),

per_region as (
    select
        reading_date,
        region,
        count(*) as cities_count,
        max(max_heat_index_f) as max_heat_index_f,
        avg(mean_heat_index_f) as mean_heat_index_f,
        sum(case when danger_minutes + extreme_danger_minutes > 0 then 1 else 0 end) as cities_in_danger_count,
        sum(caution_minutes) as caution_minutes,
        sum(extreme_caution_minutes) as extreme_caution_minutes,
        sum(danger_minutes) as danger_minutes,
        sum(extreme_danger_minutes) as extreme_danger_minutes
    from city_days_with_region
    group by reading_date, region
),

final as (
    select * from per_region
)

select * from final
