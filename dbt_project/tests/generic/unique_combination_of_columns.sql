{#- One row per combination of the given columns (dbt_utils' test, without the package:
    the project builds offline, with no dbt hub). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with grouped as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as rows_per_combination
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select * from grouped
    where rows_per_combination > 1
)

select * from final

{% endtest %}
