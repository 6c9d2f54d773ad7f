{#- A model's schema: the one it names (`+schema: odata`), as named; else the one its layer
    names (`meta.warehouse_schema`: the staging views' `staging`, dbt_project.yml); else the
    target's. dbt's default would prefix the target's (`analytics_odata`); BI tools and the
    grants (assets/warehouse/tenancy.py) name the OData and staging schemas plainly, on every
    target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set meta = (node.config.meta if node is not none and node.config is defined else none) or {} -%}
    {%- if custom_schema_name is not none -%}
        {{ custom_schema_name | trim }}
    {%- elif meta.get('warehouse_schema') -%}
        {{ meta['warehouse_schema'] | trim }}
    {%- else -%}
        {{ target.schema }}
    {%- endif -%}
{%- endmacro %}
