-- One row per module a learner completed, with the score (TrainingCompletions).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with completions as (
    select * from {{ ref('stg_training__completions') }}
    where {{ customers_to_build() }}
),

final as (
    select
        customer_id,
        completion_id,
        learner_id,
        module_id,
        completed_on,
        -- The contract's Decimal(5,2), cast once here rather than by the view at every query.
        cast(score as decimal(5, 2)) as score
    from completions
)

select * from final
