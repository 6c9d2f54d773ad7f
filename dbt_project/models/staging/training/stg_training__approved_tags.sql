-- One row per tag of the last published valid approval. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'approved_tags') }}
),

renamed as (
    select
        customer_id,
        module_id,
        tag_id,
        approval_batch_id,
        cast(approved_at as {{ dbt.type_timestamp() }}) as approved_at
    from source
),

final as (
    select * from renamed
)

select * from final
