{#
  Snowflake: where an incremental mart's new rows wait before the delete+insert.

  The marts set `tmp_relation_type: transient` (dbt_project.yml): a transient table in the
  mart's schema rather than dbt-snowflake's default temporary one, whose database-qualified
  `create temporary table` fakesnow cannot run, so the same SQL runs offline and in
  production. Unlike a temporary table it is visible to every session, so two runs of one
  mart at once (two days launched together) would share `<mart>__dbt_tmp`: the name takes
  the run's invocation id. dbt drops it once the rows are in.
#}
{% macro snowflake__resolve_incremental_tmp_relation(tmp_relation) %}
    {%- set run = invocation_id | replace('-', '') -%}
    {{ return(tmp_relation.incorporate(path={"identifier": tmp_relation.identifier ~ "_" ~ run[:12]})) }}
{% endmacro %}
