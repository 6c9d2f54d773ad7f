-- One row per tag a module carries now, labelled from the customer's taxonomy (ModuleTags).
{{ config(
    materialized='incremental',
    incremental_strategy='customer_replace',
    unique_key='customer_id',
    on_schema_change='fail',
    tmp_relation_type='transient',
) }}
with module_tags as (
    select * from {{ ref('stg_training__module_tags') }}
    where {{ customers_to_build() }}
),

taxonomy as (
    select * from {{ ref('stg_training__taxonomy') }}
    where {{ customers_to_build() }}
),

final as (
    select
        module_tags.customer_id,
        module_tags.module_id,
        module_tags.tag_id,
        taxonomy.tag_label,
        taxonomy.taxonomy_version
    from module_tags
    left join taxonomy
        on taxonomy.customer_id = module_tags.customer_id
        and taxonomy.tag_id = module_tags.tag_id
)

select * from final
