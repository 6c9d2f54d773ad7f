-- One value per learner, month and field metric (FieldPerformance).
with performance as (
    select * from {{ ref('stg_training__field_performance') }}
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
