-- One value per learner, month and field metric (FieldPerformance).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with performance as (
    select * from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
),

final as (
    select
        customer_id,
        learner_id,
        performance_month,
        metric,
        metric_value
    from performance
)

select * from final
