-- One value per learner, month and field metric. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_field_performance') }}
),

renamed as (
    select
        customer_id,
        learner_id,
        cast(month as date) as performance_month,
        metric,
        cast(value as double) as metric_value
    from source
),

final as (
    select * from renamed
)

select * from final
