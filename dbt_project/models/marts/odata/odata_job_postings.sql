{{ config(alias='JobPostings') }}
-- JobPostings: every augmented job-posting line with its seniority level's name; shared
-- reference data, so gated by the customer's tier alone. PostingKey is a stable Guid of
-- (SourceKey, LineNumber), as the legacy API keyed postings by a GUID.
with postings as (
    select
        *,
        md5(source_key || ':' || cast(line_number as {{ dbt.type_string() }})) as posting_hash
    from {{ ref('stg_postings__job_postings') }}
),

levels as (
    select * from {{ ref('seniority_levels') }}
)

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
select
    {{ odata_cast(odata_guid_from_md5('postings.posting_hash'), 'Edm.Guid') }} as PostingKey,
    {{ odata_cast('postings.posting_date', 'Edm.Date') }} as PostingDate,
    {{ odata_cast('postings.source_key', 'Edm.String', max_length=1024) }} as SourceKey,
    {{ odata_cast('postings.line_number', 'Edm.Int64') }} as LineNumber,
    {{ odata_cast('postings.posting_id', 'Edm.String', max_length=256) }} as PostingId,
    {{ odata_cast('postings.company_name', 'Edm.String', max_length=512) }} as CompanyName,
    {{ odata_cast('postings.job_title', 'Edm.String', max_length=512) }} as JobTitle,
    {{ odata_cast('postings.company_normalized', 'Edm.String', max_length=512) }} as CompanyNormalized,
    {{ odata_cast('postings.title_normalized', 'Edm.String', max_length=512) }} as TitleNormalized,
    {{ odata_cast('postings.location', 'Edm.String', max_length=512) }} as Location,
    {{ odata_cast(odata_utc_timestamp('postings.posted_at'), 'Edm.DateTimeOffset') }} as PostedAt,
    {{ odata_cast('postings.seniority_level', 'Edm.Int16') }} as SeniorityLevel,
    {{ odata_cast('levels.level_name', 'Edm.String', max_length=32) }} as SeniorityName
from postings
left join levels
    on levels.seniority_level = postings.seniority_level
where {{ odata_entitled('JobPostings') }}
