{{ config(alias='TrainingCompletions') }}
-- TrainingCompletions: one row per module a learner completed, with the score.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('completion_id', 'Edm.String', max_length=64) }} as CompletionId,
    {{ odata_cast('learner_id', 'Edm.String', max_length=64) }} as LearnerId,
    {{ odata_cast('module_id', 'Edm.String', max_length=64) }} as ModuleId,
    {{ odata_cast('completed_on', 'Edm.Date') }} as CompletedOn,
    {{ odata_cast('score', 'Edm.Decimal', precision=5, scale=2) }} as Score
from {{ ref('training_completions') }} as completions
where {{ odata_entitled('TrainingCompletions', 'completions.customer_id') }}
