{#- Every row's key (several columns, e.g. customer_id and module_id) exists in `to`:
    dbt's `relationships` test for a key of more than one column. Ids are unique only
    within a customer, so the training models relate rows on (customer_id, id). Fails with
    the rows whose key `to` does not hold. -#}
{% test composite_relationship(model, to, columns) %}

with children as (
    select {{ columns | join(', ') }}
    from {{ model }}
    where {% for column in columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
),

parents as (
    select distinct {{ columns | join(', ') }}
    from {{ to }}
),

final as (
    select children.*
    from children
    left join parents
        on {% for column in columns %}children.{{ column }} = parents.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}
    where parents.{{ columns[0] }} is null
)

select * from final

{% endtest %}
