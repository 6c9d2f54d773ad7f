-- Seniority mix of each company's postings per day: how many postings at each level, and
-- what share of the company's postings that day they are.
{{ config(
    unique_key='posting_date',
    pre_hook="{{ delete_emptied_days('posting_date', ref('stg_postings__job_postings')) }}",
) }}

with job_postings as (
    select * from {{ ref('stg_postings__job_postings') }}
    where {{ days_to_build('posting_date') }}
),

seniority_levels as (
    select * from {{ ref('seniority_levels') }}
),

spellings_per_company as (
    select
        posting_date,
        company_normalized,
        company_name,
        count(*) as spelling_postings_count
    from job_postings
    group by posting_date, company_normalized, company_name
),

ranked_spellings as (
    select
        posting_date,
        company_normalized,
        company_name,
        row_number() over (
            partition by posting_date, company_normalized
            order by spelling_postings_count desc, company_name
        ) as spelling_rank
    from spellings_per_company
),

company_display_names as (
    -- The spelling used most often that day names the company; ties go to the first alphabetically.
    select
        posting_date,
        company_normalized,
        company_name
    from ranked_spellings
    where spelling_rank = 1
),

postings_per_level as (
    select
        posting_date,
        company_normalized,
        seniority_level,
        count(*) as postings_count
    from job_postings
    group by posting_date, company_normalized, seniority_level
),

shares as (
    select
        posting_date,
        company_normalized,
        seniority_level,
        postings_count,
        -- BIGINT, not DuckDB's HUGEINT sum, and the share a DECIMAL: types BI drivers read.
        -- Eight decimals: the levels of a company-day (at most 7) still sum to 1 within 1e-6.
        cast(
            sum(postings_count) over (partition by posting_date, company_normalized)
            as {{ dbt.type_bigint() }}
        ) as company_postings_count,
        cast(
            cast(postings_count as double)
            / sum(postings_count) over (partition by posting_date, company_normalized)
            as decimal(10, 8)
        ) as share_of_company_postings
    from postings_per_level
),

final as (
    select
        shares.posting_date,
        shares.company_normalized,
        company_display_names.company_name,
        shares.seniority_level,
        seniority_levels.level_name,
        shares.postings_count,
        shares.company_postings_count,
        shares.share_of_company_postings
    from shares
    inner join company_display_names
        on shares.posting_date = company_display_names.posting_date
        and shares.company_normalized = company_display_names.company_normalized
    left join seniority_levels
        on shares.seniority_level = seniority_levels.seniority_level
)

select * from final
