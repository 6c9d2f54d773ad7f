-- One row per module a learner completed. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_completions') }}
),

renamed as (
    select
        customer_id,
        completion_id,
        learner_id,
        module_id,
        cast(completed_on as date) as completed_on,
        cast(score as double) as score
    from source
),

final as (
    select * from renamed
)

select * from final
