{{ config(alias='ModuleTags') }}
-- ModuleTags: one row per tag a module carries, labelled from the customer's taxonomy.
with module_tags as (
    select * from {{ ref('module_tags') }}
)

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
select
    {{ odata_cast('customer_id', 'Edm.String', max_length=64) }} as CustomerId,
    {{ odata_cast('module_id', 'Edm.String', max_length=64) }} as ModuleId,
    {{ odata_cast('tag_id', 'Edm.String', max_length=64) }} as TagId,
    {{ odata_cast('tag_label', 'Edm.String', max_length=128) }} as TagLabel,
    {{ odata_cast('taxonomy_version', 'Edm.String', max_length=64) }} as TaxonomyVersion
from module_tags
where {{ odata_entitled('ModuleTags', 'module_tags.customer_id') }}
