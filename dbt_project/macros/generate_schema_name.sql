{#- A model's schema: the one it names (`+schema: odata`), as named, or the target's.
    dbt's default would prefix the target's (`analytics_odata`); BI tools and the grants
    (assets/warehouse/tenancy.py) name the OData schema plainly, on every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
