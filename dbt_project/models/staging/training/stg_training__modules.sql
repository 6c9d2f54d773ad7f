-- One row per module of the catalog. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'training_modules') }}
),

renamed as (
    select
        customer_id,
        module_id,
        title as module_title,
        description as module_description,
        content_hash,
        cast(last_modified as {{ dbt.type_timestamp() }}) as last_modified
    from source
),

final as (
    select * from renamed
)

select * from final
