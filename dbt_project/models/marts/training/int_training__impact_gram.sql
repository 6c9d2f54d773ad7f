-- The impact regression's normal-equation matrix G (the Gram matrix of the within-learner
-- demeaned design), one row per pair of estimable regressors that is not 0, in closed form
-- from the sparse design:
--   G_jk = sum over learner-months of x_j * x_k  -  sum_i s_ij * s_ik / T_i
-- and scaled to a unit diagonal (G_jk / sqrt(G_jj * G_kk)), which the solver converges on
-- in fewer steps.
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with regressors as (
    select customer_id, metric, regressor_kind, regressor, within_sum_of_squares
    from {{ ref('int_training__impact_regressors') }}
    where is_estimable and {{ customers_to_build() }}
),

cells as (
    select design.*
    from {{ ref('int_training__impact_design') }} as design
    inner join regressors
        on regressors.customer_id = design.customer_id
        and regressors.metric = design.metric
        and regressors.regressor_kind = design.regressor_kind
        and regressors.regressor = design.regressor
    where {{ customers_to_build('design.customer_id') }}
),

learner_months as (
    select customer_id, metric, learner_id, count(*) as months
    from {{ ref('stg_training__field_performance') }}
    where {{ customers_to_build() }}
    group by customer_id, metric, learner_id
),

learner_cells as (
    select customer_id, metric, learner_id, regressor_kind, regressor, count(*) as cells
    from cells
    group by customer_id, metric, learner_id, regressor_kind, regressor
),

co_occurrences as (
    select
        row_cells.customer_id,
        row_cells.metric,
        row_cells.regressor_kind as row_regressor_kind,
        row_cells.regressor as row_regressor,
        col_cells.regressor_kind as col_regressor_kind,
        col_cells.regressor as col_regressor,
        cast(count(*) as double) as gram_part
    from cells as row_cells
    inner join cells as col_cells
        on col_cells.customer_id = row_cells.customer_id
        and col_cells.metric = row_cells.metric
        and col_cells.learner_id = row_cells.learner_id
        and col_cells.performance_month = row_cells.performance_month
    group by
        row_cells.customer_id,
        row_cells.metric,
        row_cells.regressor_kind,
        row_cells.regressor,
        col_cells.regressor_kind,
        col_cells.regressor
),

mean_products as (
    select
        row_cells.customer_id,
        row_cells.metric,
        row_cells.regressor_kind as row_regressor_kind,
        row_cells.regressor as row_regressor,
        col_cells.regressor_kind as col_regressor_kind,
        col_cells.regressor as col_regressor,
        -sum(cast(row_cells.cells as double) * col_cells.cells / learner_months.months)
            as gram_part
    from learner_cells as row_cells
    inner join learner_cells as col_cells
        on col_cells.customer_id = row_cells.customer_id
        and col_cells.metric = row_cells.metric
        and col_cells.learner_id = row_cells.learner_id
    inner join learner_months
        on learner_months.customer_id = row_cells.customer_id
        and learner_months.metric = row_cells.metric
        and learner_months.learner_id = row_cells.learner_id
    group by
        row_cells.customer_id,
        row_cells.metric,
        row_cells.regressor_kind,
        row_cells.regressor,
        col_cells.regressor_kind,
        col_cells.regressor
),

gram as (
    select
        customer_id,
        metric,
        row_regressor_kind,
        row_regressor,
        col_regressor_kind,
        col_regressor,
        sum(gram_part) as gram
    from (
        select * from co_occurrences
        union all
        select * from mean_products
    ) as parts
    group by customer_id, metric, row_regressor_kind, row_regressor, col_regressor_kind, col_regressor
),

final as (
    select
        gram.*,
        gram.gram / sqrt(row_regressors.within_sum_of_squares * col_regressors.within_sum_of_squares)
            as scaled_gram
    from gram
    inner join regressors as row_regressors
        on row_regressors.customer_id = gram.customer_id
        and row_regressors.metric = gram.metric
        and row_regressors.regressor_kind = gram.row_regressor_kind
        and row_regressors.regressor = gram.row_regressor
    inner join regressors as col_regressors
        on col_regressors.customer_id = gram.customer_id
        and col_regressors.metric = gram.metric
        and col_regressors.regressor_kind = gram.col_regressor_kind
        and col_regressors.regressor = gram.col_regressor
)

select * from final
