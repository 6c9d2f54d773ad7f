{{ config(alias='TrainingModules') }}
-- TrainingModules: the catalog's modules, as the legacy OData API served them.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('module_id', 'Edm.String', max_length=64) }} as ModuleId,
    {{ odata_cast('module_title', 'Edm.String', max_length=256) }} as Title,
    {{ odata_cast('module_description', 'Edm.String', max_length=4000) }} as Description,
    {{ odata_cast('content_hash', 'Edm.String', max_length=64) }} as ContentHash,
    {{ odata_cast(odata_utc_timestamp('last_modified'), 'Edm.DateTimeOffset') }} as LastModified,
    {{ odata_cast('tag_count', 'Edm.Int16') }} as TagCount,
    {{ odata_cast('is_tagged', 'Edm.Boolean') }} as IsTagged
from {{ ref('module_catalog') }} as modules
where {{ odata_entitled('TrainingModules', 'modules.customer_id') }}
