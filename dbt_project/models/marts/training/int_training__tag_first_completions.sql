-- The day and month each learner first completed a module carrying each tag. The learner
-- counts as trained on the tag from the month after that month: the month of the first
-- completion itself is only partly trained, so it is neither before nor after.
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with completions as (
    select customer_id, learner_id, module_id, completed_on
    from {{ ref('stg_training__completions') }}
    where {{ customers_to_build() }}
),

module_tags as (
    select customer_id, module_id, tag_id
    from {{ ref('stg_training__module_tags') }}
    where {{ customers_to_build() }}
),

first_completions as (
    select
        completions.customer_id,
        completions.learner_id,
        module_tags.tag_id,
        min(completions.completed_on) as first_completed_on
    from completions
    inner join module_tags
        on module_tags.customer_id = completions.customer_id
        and module_tags.module_id = completions.module_id
    group by completions.customer_id, completions.learner_id, module_tags.tag_id
),

final as (
    select
        customer_id,
        learner_id,
        tag_id,
        first_completed_on,
        cast({{ dbt.date_trunc('month', 'first_completed_on') }} as date) as first_completed_month
    from first_completions
)

select * from final
