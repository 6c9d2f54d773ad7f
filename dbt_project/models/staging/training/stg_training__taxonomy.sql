-- One row per tag of a customer's taxonomy. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_taxonomy') }}
),

renamed as (
    select
        customer_id,
        tag_id,
        label as tag_label,
        description as tag_description,
        aliases as tag_aliases,
        taxonomy_version
    from source
),

final as (
    select * from renamed
)

select * from final
