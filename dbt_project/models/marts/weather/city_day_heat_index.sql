-- Per city and day: the peak and mean heat index and the minutes spent in each risk category.
{{ config(
    unique_key='reading_date',
    pre_hook="{{ delete_emptied_days('reading_date', ref('stg_weather__heat_index_readings')) }}",
) }}

with readings as (
    select * from {{ ref('stg_weather__heat_index_readings') }}
    where {{ days_to_build('reading_date') }}
),

per_city_day as (
    select
        reading_date,
        city_id,
        count(*) as readings_count,
        max(heat_index_f) as max_heat_index_f,
        avg(heat_index_f) as mean_heat_index_f,
        sum(case when heat_risk = 'caution' then 1 else 0 end) as caution_minutes,
        sum(case when heat_risk = 'extreme caution' then 1 else 0 end) as extreme_caution_minutes,
        sum(case when heat_risk = 'danger' then 1 else 0 end) as danger_minutes,
        sum(case when heat_risk = 'extreme danger' then 1 else 0 end) as extreme_danger_minutes
    from readings
    group by reading_date, city_id
),

final as (
    select * from per_city_day
)

select * from final
