{{ config(alias='ModuleTags') }}
-- ModuleTags: one row per tag a module carries, labelled from the customer's taxonomy.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('module_id', 'Edm.String', max_length=64) }} as ModuleId,
    {{ odata_cast('tag_id', 'Edm.String', max_length=64) }} as TagId,
    {{ odata_cast('tag_label', 'Edm.String', max_length=128) }} as TagLabel,
    {{ odata_cast('taxonomy_version', 'Edm.String', max_length=64) }} as TaxonomyVersion
from {{ ref('module_tags') }} as module_tags
where {{ odata_entitled('ModuleTags', 'module_tags.customer_id') }}
