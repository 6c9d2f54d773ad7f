-- One row per module a learner completed, with the score (TrainingCompletions).
with completions as (
    select * from {{ ref('stg_training__completions') }}
),

final as (
    select
        customer_id,
        completion_id,
        learner_id,
        module_id,
        completed_on,
        score
    from completions
)

select * from final
