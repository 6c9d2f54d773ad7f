-- One row per tag a module carries in the catalog now. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_module_tags') }}
),

renamed as (
    select
        customer_id,
        module_id,
        tag_id
    from source
),

final as (
    select * from renamed
)

select * from final
