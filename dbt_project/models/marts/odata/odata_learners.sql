{{ config(alias='Learners') }}
-- Learners: each customer's learners.
with learners as (
    select * from {{ ref('learners') }}
)

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('learner_id', 'Edm.String', max_length=64) }} as LearnerId,
    {{ odata_cast('region', 'Edm.String', max_length=64) }} as Region,
    {{ odata_cast('learner_role', 'Edm.String', max_length=64) }} as Role,
    {{ odata_cast('hired_on', 'Edm.Date') }} as HiredOn
from learners
where {{ odata_entitled('Learners', 'learners.customer_id') }}
