-- Training impact per customer, tag and field metric (TrainingImpact): the figure the
-- auto-tagging exists to produce.
-- - learners_trained: learners with a value of the metric who completed a module carrying
--   the tag;
-- - performance_before / _after: their mean metric in the months before / after the month of
--   their first completion of such a module (that month itself is neither), and
--   raw_difference = after - before. Descriptive only: learners take modules of many tags
--   in the same months, so this difference also holds the other tags' effects and the
--   months' ups and downs.
-- - performance_difference: the tag's own effect, in the metric's unit: its coefficient in
--   the regression of the metric on every tag's trained-since indicator with learner and
--   month fixed effects (int_training__impact_solution), with its standard error and a 95%
--   confidence interval (effect +- 1.96 standard errors: the residual degrees of freedom
--   are in the thousands).
-- - correlation_coefficient: the partial correlation between the trained-since indicator
--   and the metric, the learners, months and other tags held fixed (t / sqrt(t^2 + df));
--   sample_size: the learner-months it is computed on.
-- Tags no learner was trained on (or trained on before any measured month) get
-- learners_trained and sample_size and nothing else.
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with taxonomy as (
    select customer_id, tag_id
    from {{ ref('stg_training__taxonomy') }}
    where {{ customers_to_build() }}
),

panels as (
    select * from {{ ref('int_training__impact_panels') }}
    where {{ customers_to_build() }}
),

trained as (
    select customer_id, learner_id, tag_id, first_completed_month
    from {{ ref('int_training__tag_first_completions') }}
    where {{ customers_to_build() }}
),

performance as (
    select customer_id, metric, learner_id, performance_month, metric_value
    from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
),

solution as (
    select * from {{ ref('int_training__impact_solution') }}
    where {{ customers_to_build() }}
),

before_after as (
    select
        trained.customer_id,
        trained.tag_id,
        performance.metric,
        count(distinct trained.learner_id) as learners_trained,
        avg(
            case when performance.performance_month < trained.first_completed_month
                then performance.metric_value end
        ) as performance_before,
        avg(
            case when performance.performance_month > trained.first_completed_month
                then performance.metric_value end
        ) as performance_after
    from trained
    inner join performance
        on performance.customer_id = trained.customer_id
        and performance.learner_id = trained.learner_id
    group by trained.customer_id, trained.tag_id, performance.metric
),

fits as (
    select
        solution.customer_id,
        solution.metric,
        count(*) as regressors,
        sum(solution.effect * solution.normal_rhs) as explained_sum_of_squares
    from solution
    group by solution.customer_id, solution.metric
),

residual_variances as (
    select
        panels.customer_id,
        panels.metric,
        panels.observations,
        panels.observations - panels.learners - fits.regressors as degrees_of_freedom,
        (panels.within_sum_of_squares - fits.explained_sum_of_squares)
            / nullif(panels.observations - panels.learners - fits.regressors, 0)
            as residual_variance
    from panels
    inner join fits
        on fits.customer_id = panels.customer_id
        and fits.metric = panels.metric
),

estimates as (
    select
        solution.customer_id,
        solution.metric,
        solution.regressor as tag_id,
        solution.effect,
        sqrt(residual_variances.residual_variance * solution.inverse_diagonal) as standard_error,
        residual_variances.observations,
        residual_variances.degrees_of_freedom,
        solution.solver_relative_residual
    from solution
    inner join residual_variances
        on residual_variances.customer_id = solution.customer_id
        and residual_variances.metric = solution.metric
    where solution.regressor_kind = 'tag'
        and residual_variances.degrees_of_freedom > 0
),

grid as (
    select taxonomy.customer_id, taxonomy.tag_id, panels.metric
    from taxonomy
    inner join panels
        on panels.customer_id = taxonomy.customer_id
),

final as (
    select
        grid.customer_id,
        grid.tag_id,
        grid.metric,
        coalesce(before_after.learners_trained, 0) as learners_trained,
        before_after.performance_before,
        before_after.performance_after,
        before_after.performance_after - before_after.performance_before as raw_difference,
        estimates.effect as performance_difference,
        estimates.standard_error,
        estimates.effect / nullif(
            sqrt(
                estimates.effect * estimates.effect
                + estimates.degrees_of_freedom * estimates.standard_error * estimates.standard_error
            ),
            0
        ) as correlation_coefficient,
        coalesce(estimates.observations, 0) as sample_size,
        estimates.degrees_of_freedom,
        estimates.effect - 1.96 * estimates.standard_error as confidence_interval_low,
        estimates.effect + 1.96 * estimates.standard_error as confidence_interval_high,
        estimates.solver_relative_residual
    from grid
    left join before_after
        on before_after.customer_id = grid.customer_id
        and before_after.tag_id = grid.tag_id
        and before_after.metric = grid.metric
    left join estimates
        on estimates.customer_id = grid.customer_id
        and estimates.tag_id = grid.tag_id
        and estimates.metric = grid.metric
)

select * from final
