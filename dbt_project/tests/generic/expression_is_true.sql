{#- Every row satisfies a SQL expression (dbt_utils' test, without the package). -#}
{% test expression_is_true(model, expression) %}

with final as (
    select * from {{ model }}
    where not ({{ expression }})
)

select * from final

{% endtest %}
