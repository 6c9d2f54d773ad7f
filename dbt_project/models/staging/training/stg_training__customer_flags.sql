-- One row per feature flag of a customer. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_customer_flags') }}
),

renamed as (
    select
        customer_id,
        feature_flag
    from source
),

final as (
    select * from renamed
)

select * from final
