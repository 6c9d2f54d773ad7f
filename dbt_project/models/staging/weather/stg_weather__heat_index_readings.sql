-- One row per valid reading with its heat index, typed; no rows dropped or added.
with source as (
    select * from {{ source('raw', 'heat_index_readings') }}
),

renamed as (
    select
        cast(reading_date as date) as reading_date,
        cast(city_id as {{ dbt.type_int() }}) as city_id,
        cast(reading_at as {{ dbt.type_timestamp() }}) as reading_at,
        cast(temperature_f as {{ dbt.type_float() }}) as temperature_f,
        cast(relative_humidity as {{ dbt.type_float() }}) as relative_humidity,
        cast(heat_index_f as {{ dbt.type_float() }}) as heat_index_f,
        cast(heat_risk as {{ dbt.type_string() }}) as heat_risk,
        cast(heat_index_rolling_mean_f as {{ dbt.type_float() }}) as heat_index_rolling_mean_f
    from source
),

final as (
    select * from renamed
)

select * from final
