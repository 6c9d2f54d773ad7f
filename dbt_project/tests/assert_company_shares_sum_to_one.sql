-- The seniority levels of one company on one day account for all of its postings.
with company_days as (
    select
        posting_date,
        company_normalized,
        sum(share_of_company_postings) as total_share
    from {{ ref('postings_by_company_seniority') }}
    group by posting_date, company_normalized
),

final as (
    select * from company_days
    where abs(total_share - 1) > 0.000001
)

select * from final
