{{ config(alias='Learners') }}
-- Learners: each customer's learners.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('learner_id', 'Edm.String', max_length=64) }} as LearnerId,
    {{ odata_cast('region', 'Edm.String', max_length=64) }} as Region,
    {{ odata_cast('learner_role', 'Edm.String', max_length=64) }} as Role,
    {{ odata_cast('hired_on', 'Edm.Date') }} as HiredOn
from {{ ref('learners') }} as learners
where {{ odata_entitled('Learners', 'learners.customer_id') }}
