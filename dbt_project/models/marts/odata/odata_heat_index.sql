{{ config(alias='HeatIndex') }}
-- HeatIndex: one row per city and day, peak and mean heat index and minutes per NWS risk
-- category; shared reference data, so gated by the customer's tier alone.

-- The casts in the outermost select: fakesnow reads a view's VARCHAR lengths from there.
-- No import CTE: a view is planned again at every query, and on a BI tool's small query
-- a CTE's planning shows (bench/odata.py).
select
    {{ odata_cast('city_id', 'Edm.Int32') }} as CityId,
    {{ odata_cast('reading_date', 'Edm.Date') }} as ReadingDate,
    {{ odata_cast('readings_count', 'Edm.Int16') }} as ReadingsCount,
    {{ odata_cast('max_heat_index_f', 'Edm.Double') }} as MaxHeatIndexF,
    {{ odata_cast('mean_heat_index_f', 'Edm.Double') }} as MeanHeatIndexF,
    {{ odata_cast('caution_minutes', 'Edm.Int16') }} as CautionMinutes,
    {{ odata_cast('extreme_caution_minutes', 'Edm.Int16') }} as ExtremeCautionMinutes,
    {{ odata_cast('danger_minutes', 'Edm.Int16') }} as DangerMinutes,
    {{ odata_cast('extreme_danger_minutes', 'Edm.Int16') }} as ExtremeDangerMinutes
from {{ ref('city_day_heat_index') }} as days
where {{ odata_entitled('HeatIndex') }}
