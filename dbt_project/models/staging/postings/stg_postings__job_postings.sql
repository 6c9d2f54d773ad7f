-- One row per augmented job-posting line, renamed and typed; no rows dropped or added.
with source as (
    select * from {{ source('raw', 'job_postings') }}
),

renamed as (
    select
        cast(posting_date as date) as posting_date,
        source_key,
        cast(line_number as {{ dbt.type_bigint() }}) as line_number,
        posting_id,
        company as company_name,
        title as job_title,
        company_normalized,
        title_normalized,
        location,
        -- ISO-8601 string to a timestamp. try_cast reads the same on DuckDB and Snowflake (whose
        -- dbt.safe_cast differs: dbt-duckdb's is a plain cast): both keep the wall-clock time,
        -- drop any UTC offset, and turn an unparseable value into null instead of failing.
        try_cast(posted_at as {{ dbt.type_timestamp() }}) as posted_at,
        cast(seniority as {{ dbt.type_int() }}) as seniority_level
    from source
),

final as (
    select * from renamed
)

select * from final
