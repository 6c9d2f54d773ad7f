-- The training impact regression's design matrix, sparse: one row per learner-month and
-- regressor that is 1 there (every other cell is 0), with the learner's metric value that
-- month. Each customer and metric is its own regression (`int_training__impact_solution`):
--   value = learner effect + month effect + sum over tags of effect(tag) * trained(tag) + noise
-- - a `tag` regressor is 1 in the months after the month of the learner's first completion
--   of a module carrying the tag (int_training__tag_first_completions);
-- - a `month` regressor is 1 in its month, for every month of the panel but the first (the
--   learner effects absorb the level).
-- Regressing on every tag at once is what separates their effects: learners take modules of
-- many tags in the same months, so a tag's own before/after difference also holds the other
-- tags' effects (on the seed, +10 points for a tag with no effect at all).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with performance as (
    select customer_id, metric, learner_id, performance_month, metric_value
    from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
),

first_months as (
    select customer_id, metric, min(performance_month) as first_month
    from performance
    group by customer_id, metric
),

trained as (
    select customer_id, learner_id, tag_id, first_completed_month
    from {{ ref('int_training__tag_first_completions') }}
    where {{ customers_to_build() }}
),

tag_cells as (
    select
        performance.customer_id,
        performance.metric,
        performance.learner_id,
        performance.performance_month,
        'tag' as regressor_kind,
        trained.tag_id as regressor,
        performance.metric_value
    from performance
    inner join trained
        on trained.customer_id = performance.customer_id
        and trained.learner_id = performance.learner_id
    where performance.performance_month > trained.first_completed_month
),

month_cells as (
    select
        performance.customer_id,
        performance.metric,
        performance.learner_id,
        performance.performance_month,
        'month' as regressor_kind,
        cast(performance.performance_month as {{ dbt.type_string() }}) as regressor,
        performance.metric_value
    from performance
    inner join first_months
        on first_months.customer_id = performance.customer_id
        and first_months.metric = performance.metric
    where performance.performance_month > first_months.first_month
),

final as (
    select * from tag_cells
    union all
    select * from month_cells
)

select * from final
