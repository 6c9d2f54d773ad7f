-- One row per learner (Learners).
with learners as (
    select * from {{ ref('stg_training__learners') }}
),

final as (
    select
        customer_id,
        learner_id,
        region,
        learner_role,
        hired_on
    from learners
)

select * from final
