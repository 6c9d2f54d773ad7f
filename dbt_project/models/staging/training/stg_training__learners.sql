-- One row per learner. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_learners') }}
),

renamed as (
    select
        customer_id,
        learner_id,
        region,
        role as learner_role,
        cast(hired_on as date) as hired_on
    from source
),

final as (
    select * from renamed
)

select * from final
