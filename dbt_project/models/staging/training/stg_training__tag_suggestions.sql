-- One row per valid tag the tagging model suggested for a module. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'tag_suggestions') }}
),

renamed as (
    select
        customer_id,
        module_id,
        content_hash,
        tag_id,
        cast(confidence as double) as confidence,
        cast(tag_rank as {{ dbt.type_int() }}) as tag_rank,
        model_version,
        rationale,
        cast(suggested_at as {{ dbt.type_timestamp() }}) as suggested_at
    from source
),

final as (
    select * from renamed
)

select * from final
