{{ config(alias='FieldPerformance') }}
-- FieldPerformance: one value per learner, month and field metric.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('learner_id', 'Edm.String', max_length=64) }} as LearnerId,
    {{ odata_cast('performance_month', 'Edm.Date') }} as Month,
    {{ odata_cast('metric', 'Edm.String', max_length=64) }} as Metric,
    {{ odata_cast('metric_value', 'Edm.Double') }} as Value
from {{ ref('field_performance') }} as performance
where {{ odata_entitled('FieldPerformance', 'performance.customer_id') }}
