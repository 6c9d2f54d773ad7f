-- One row per tag a module carries now, labelled from the customer's taxonomy (ModuleTags).
with module_tags as (
    select * from {{ ref('stg_training__module_tags') }}
),

taxonomy as (
    select * from {{ ref('stg_training__taxonomy') }}
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
