-- One row per module of the customer's review file, as last read. No rows dropped or added.
with source as (
    select * from {{ source('raw_training', 'tag_review') }}
),

renamed as (
    select
        customer_id,
        module_id,
        title as module_title,
        suggested_tags,
        tags as reviewed_tags,
        approved,
        reviewer_note,
        review_version
    from source
),

final as (
    select * from renamed
)

select * from final
