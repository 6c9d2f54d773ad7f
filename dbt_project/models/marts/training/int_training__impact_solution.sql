{#-
  The impact regression solved: for each customer and metric, G * effect = b (the normal
  equations of int_training__impact_gram and int_training__impact_regressors), by the
  conjugate gradient method, in portable SQL: joins, sums and window sums, the same on
  DuckDB and Snowflake. No warehouse inverts a matrix in SQL, and this one is small (one
  row and column per tag and month), symmetric and positive definite, which is what CG
  needs; scaled to a unit diagonal it converges in about as many steps as it has
  regressors (on the seed: 12 tags and 11 months, relative residual 2e-14 after 20 steps).

  Each system solves two kinds of right-hand side at once: b, for the effects, and one unit
  vector per tag, whose solution's own entry is that tag's diagonal entry of G^-1 (its
  standard error's factor). `training_impact_solver_iterations` steps are unrolled (each a
  join, then window sums); a system that converged earlier stays put (its step sizes are 0).
  `solver_relative_residual` says how far from converged each system got, and a test on
  training_impact fails the build if any is above 1e-6 (a taxonomy far bigger than the
  iterations: raise the variable).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
{%- set iterations = var('training_impact_solver_iterations', 60) -%}
{%- set system = 'customer_id, metric, rhs_kind, rhs_tag' -%}

with regressors as (
    select
        customer_id,
        metric,
        regressor_kind,
        regressor,
        normal_rhs,
        within_sum_of_squares,
        normal_rhs / sqrt(within_sum_of_squares) as scaled_rhs
    from {{ ref('int_training__impact_regressors') }}
    where is_estimable and {{ customers_to_build() }}
),

gram as (
    select
        customer_id,
        metric,
        row_regressor_kind,
        row_regressor,
        col_regressor_kind,
        col_regressor,
        scaled_gram
    from {{ ref('int_training__impact_gram') }}
    where {{ customers_to_build() }}
),

right_hand_sides as (
    select
        customer_id,
        metric,
        'effect' as rhs_kind,
        '' as rhs_tag,
        regressor_kind,
        regressor,
        cast(scaled_rhs as double) as rhs_value
    from regressors
    union all
    select
        tags.customer_id,
        tags.metric,
        'inverse' as rhs_kind,
        tags.regressor as rhs_tag,
        cells.regressor_kind,
        cells.regressor,
        cast(
            case
                when cells.regressor_kind = 'tag' and cells.regressor = tags.regressor then 1
                else 0
            end as double
        ) as rhs_value
    from regressors as tags
    inner join regressors as cells
        on cells.customer_id = tags.customer_id
        and cells.metric = tags.metric
    where tags.regressor_kind = 'tag'
),

state_0 as (
    select
        {{ system }},
        regressor_kind,
        regressor,
        cast(0 as double) as x,
        rhs_value as r,
        rhs_value as p,
        sum(rhs_value * rhs_value) over (partition by {{ system }}) as rr,
        sum(rhs_value * rhs_value) over (partition by {{ system }}) as rhs_norm_square
    from right_hand_sides
),
{% for step in range(1, iterations + 1) %}
{#- A = G p: the product of each system's search direction with G; the state of the row's
    own regressor rides along on the diagonal entry, which every estimable regressor has. #}
product_{{ step }} as (
    select
        state.customer_id,
        state.metric,
        state.rhs_kind,
        state.rhs_tag,
        gram.row_regressor_kind as regressor_kind,
        gram.row_regressor as regressor,
        sum(gram.scaled_gram * state.p) as ap,
        max(case when gram.col_regressor_kind = gram.row_regressor_kind
            and gram.col_regressor = gram.row_regressor then state.x end) as x,
        max(case when gram.col_regressor_kind = gram.row_regressor_kind
            and gram.col_regressor = gram.row_regressor then state.r end) as r,
        max(case when gram.col_regressor_kind = gram.row_regressor_kind
            and gram.col_regressor = gram.row_regressor then state.p end) as p,
        max(state.rr) as rr,
        max(state.rhs_norm_square) as rhs_norm_square
    from state_{{ step - 1 }} as state
    inner join gram
        on gram.customer_id = state.customer_id
        and gram.metric = state.metric
        and gram.col_regressor_kind = state.regressor_kind
        and gram.col_regressor = state.regressor
    group by
        state.customer_id,
        state.metric,
        state.rhs_kind,
        state.rhs_tag,
        gram.row_regressor_kind,
        gram.row_regressor
),

step_{{ step }} as (
    select
        {{ system }},
        regressor_kind,
        regressor,
        x,
        r,
        p,
        ap,
        rr,
        rhs_norm_square,
        coalesce(rr / nullif(p_ap, 0), 0) as alpha
    from (
        select
            *,
            sum(p * ap) over (partition by {{ system }}) as p_ap
        from product_{{ step }}
    ) as with_curvature
),

updated_{{ step }} as (
    select
        {{ system }},
        regressor_kind,
        regressor,
        x + alpha * p as x,
        r - alpha * ap as r,
        p,
        rr,
        rhs_norm_square,
        sum((r - alpha * ap) * (r - alpha * ap)) over (partition by {{ system }}) as rr_next
    from step_{{ step }}
),

state_{{ step }} as (
    select
        {{ system }},
        regressor_kind,
        regressor,
        x,
        r,
        r + coalesce(rr_next / nullif(rr, 0), 0) * p as p,
        rr_next as rr,
        rhs_norm_square
    from updated_{{ step }}
),
{% endfor %}

solved as (
    select
        customer_id,
        metric,
        regressor_kind,
        regressor,
        max(case when rhs_kind = 'effect' then x end) as scaled_effect,
        max(case when rhs_kind = 'inverse' and regressor_kind = 'tag' and rhs_tag = regressor
            then x end) as scaled_inverse_diagonal
    from state_{{ iterations }}
    group by customer_id, metric, regressor_kind, regressor
),

residuals as (
    select
        customer_id,
        metric,
        max(sqrt(coalesce(rr / nullif(rhs_norm_square, 0), 0))) as solver_relative_residual
    from state_{{ iterations }}
    group by customer_id, metric
),

final as (
    select
        regressors.customer_id,
        regressors.metric,
        regressors.regressor_kind,
        regressors.regressor,
        regressors.normal_rhs,
        solved.scaled_effect / sqrt(regressors.within_sum_of_squares) as effect,
        solved.scaled_inverse_diagonal / regressors.within_sum_of_squares as inverse_diagonal,
        residuals.solver_relative_residual
    from regressors
    inner join solved
        on solved.customer_id = regressors.customer_id
        and solved.metric = regressors.metric
        and solved.regressor_kind = regressors.regressor_kind
        and solved.regressor = regressors.regressor
    inner join residuals
        on residuals.customer_id = regressors.customer_id
        and residuals.metric = regressors.metric
)

select * from final
