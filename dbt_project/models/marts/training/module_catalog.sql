-- One row per module of the catalog with how many tags it carries now (TrainingModules).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with modules as (
    select * from {{ ref('stg_training__modules') }}
    where {{ customers_to_build() }}
),

tag_counts as (
    select
        customer_id,
        module_id,
        count(*) as tag_count
    from {{ ref('stg_training__module_tags') }}
    where {{ customers_to_build() }}
    group by customer_id, module_id
),

final as (
    select
        modules.customer_id,
        modules.module_id,
        modules.module_title,
        modules.module_description,
        modules.content_hash,
        modules.last_modified,
        coalesce(tag_counts.tag_count, 0) as tag_count,
        coalesce(tag_counts.tag_count, 0) > 0 as is_tagged
    from modules
    left join tag_counts
        on tag_counts.customer_id = modules.customer_id
        and tag_counts.module_id = modules.module_id
)

select * from final
