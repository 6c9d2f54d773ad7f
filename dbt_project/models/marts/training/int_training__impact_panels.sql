-- One row per customer and metric: the size of its impact regression's panel and the
-- within-learner sum of squares of the metric (what the regression has to explain once
-- each learner's own level is taken out).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with performance as (
    select customer_id, metric, learner_id, metric_value
    from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
),

learner_means as (
    select customer_id, metric, learner_id, avg(metric_value) as learner_mean
    from performance
    group by customer_id, metric, learner_id
),

final as (
    select
        performance.customer_id,
        performance.metric,
        count(*) as observations,
        count(distinct performance.learner_id) as learners,
        sum(
            (performance.metric_value - learner_means.learner_mean)
            * (performance.metric_value - learner_means.learner_mean)
        ) as within_sum_of_squares
    from performance
    inner join learner_means
        on learner_means.customer_id = performance.customer_id
        and learner_means.metric = performance.metric
        and learner_means.learner_id = performance.learner_id
    group by performance.customer_id, performance.metric
)

select * from final
