-- One row per customer, renamed and typed. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_customers') }}
),

renamed as (
    select
        customer_id,
        name as customer_name,
        tier,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source
),

final as (
    select * from renamed
)

select * from final
