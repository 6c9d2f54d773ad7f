{#
  Snowflake: the column comments of persist_docs, one `alter ... alter column ... comment`
  statement per documented column.

  Tables: dbt-snowflake alters every column in one statement (`alter table t alter "A"
  comment $$..$$, "B" comment $$..$$`), which fakesnow, which the tests build through, cannot
  parse; one statement per column is the same on Snowflake.

  Views: dbt-snowflake writes the comments into `create view` as a column list, which
  matches the yml's names to the view's columns by exact, upper or lower case only (the
  OData views' `CustomerId`, CUSTOMERID in Snowflake, got none), and through which fakesnow
  types the view's columns from the list (VARCHAR without its length) instead of from the
  casts of its query. So views are created without the list and commented afterwards, by a
  post-hook of every model (dbt_project.yml) that does nothing elsewhere.
#}

{% macro snowflake__alter_column_comment(relation, column_dict) -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute="name") | list -%}
    {%- set relation_type = "view" if relation.is_view else "table" -%}
    {%- for name in existing -%}
        {%- set documented = column_dict.get(name) or column_dict.get(name | lower) or column_dict.get(name | upper) -%}
        {%- if documented and documented.description %}
    alter {{ relation_type }} {{ relation.render() }} alter column {{ adapter.quote(name) }} comment $${{ documented.description | replace('$', '[$]') }}$$;
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- Overrides dbt-snowflake's macro of the same name: no column list in `create view`. -#}
{% macro get_persist_docs_column_list(model_columns, query_columns) %}{% endmacro %}

{% macro snowflake_view_column_comments() -%}
    {%- if execute and target.type == 'snowflake' and config.get('materialized') == 'view'
        and config.persist_column_docs() -%}
        {%- for name, column in model.columns.items() if column.description -%}
            {%- do run_query(
                "alter view " ~ this ~ " alter column " ~ name
                ~ " comment $$" ~ (column.description | replace('$', '[$]')) ~ "$$") -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
