{{ config(alias='TrainingImpact') }}
-- TrainingImpact: per customer, tag and metric, learners trained, their performance before
-- and after, the tag's own effect (PerformanceDifference) with its 95% confidence interval,
-- and the partial correlation of training with the metric and its sample size
-- (training_impact says how each is computed).

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('tag_id', 'Edm.String', max_length=64) }} as TagId,
    {{ odata_cast('metric', 'Edm.String', max_length=64) }} as Metric,
    {{ odata_cast('learners_trained', 'Edm.Int32') }} as LearnersTrained,
    {{ odata_cast('performance_before', 'Edm.Double') }} as PerformanceBefore,
    {{ odata_cast('performance_after', 'Edm.Double') }} as PerformanceAfter,
    {{ odata_cast('performance_difference', 'Edm.Double') }} as PerformanceDifference,
    {{ odata_cast('correlation_coefficient', 'Edm.Double') }} as CorrelationCoefficient,
    {{ odata_cast('sample_size', 'Edm.Int32') }} as SampleSize,
    {{ odata_cast('confidence_interval_low', 'Edm.Double') }} as ConfidenceIntervalLow,
    {{ odata_cast('confidence_interval_high', 'Edm.Double') }} as ConfidenceIntervalHigh
from {{ ref('training_impact') }} as impact
where {{ odata_entitled('TrainingImpact', 'impact.customer_id') }}
