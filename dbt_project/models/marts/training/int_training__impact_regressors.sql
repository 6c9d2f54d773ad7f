-- One row per regressor of each customer's and metric's impact regression, with its
-- normal-equation right-hand side and diagonal, both after taking out each learner's mean
-- (the learner effects), in closed form from the sparse design: for learner i with T_i
-- months, s_ij cells where regressor j is 1 and y_i their values' sum,
--   normal_rhs            = sum_i (y_ij - s_ij * mean_i(value))
--   within_sum_of_squares = sum_i s_ij * (1 - s_ij / T_i)
-- A regressor with no variation within any learner (every learner trained before the panel
-- starts, or never) cannot be estimated: its within_sum_of_squares is 0, while any other
-- is at least 1/2 (s_ij * (1 - s_ij / T_i) for 0 < s_ij < T_i).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with design as (
    select * from {{ ref('int_training__impact_design') }}
    where {{ customers_to_build() }}
),

learner_months as (
    select
        customer_id,
        metric,
        learner_id,
        count(*) as months,
        avg(metric_value) as learner_mean
    from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
    group by customer_id, metric, learner_id
),

learner_cells as (
    select
        customer_id,
        metric,
        learner_id,
        regressor_kind,
        regressor,
        count(*) as cells,
        sum(metric_value) as value_sum
    from design
    group by customer_id, metric, learner_id, regressor_kind, regressor
),

sums as (
    select
        learner_cells.customer_id,
        learner_cells.metric,
        learner_cells.regressor_kind,
        learner_cells.regressor,
        count(*) as learners_with_cells,
        sum(learner_cells.value_sum - learner_cells.cells * learner_months.learner_mean)
            as normal_rhs,
        sum(
            learner_cells.cells
            * (1 - cast(learner_cells.cells as double) / learner_months.months)
        ) as within_sum_of_squares
    from learner_cells
    inner join learner_months
        on learner_months.customer_id = learner_cells.customer_id
        and learner_months.metric = learner_cells.metric
        and learner_months.learner_id = learner_cells.learner_id
    group by
        learner_cells.customer_id,
        learner_cells.metric,
        learner_cells.regressor_kind,
        learner_cells.regressor
),

final as (
    select
        *,
        within_sum_of_squares > 0.25 as is_estimable
    from sums
)

select * from final
