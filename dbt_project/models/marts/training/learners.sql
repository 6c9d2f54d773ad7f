-- One row per learner (Learners).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with learners as (
    select * from {{ ref('stg_training__learners') }}
    where {{ customers_to_build() }}
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
