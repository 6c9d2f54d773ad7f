"""Asset family: weather readings, their heat index, and the quarantine.

Its job (`weather_daily`) and the sensor and schedule that start it are in assets/jobs.py.
"""

import dagster as dg

from assets.weather.assets import heat_index_readings, weather_readings
from assets.weather.checks import heat_index_is_sane

# readings_reconcile is a check spec of heat_index_readings (it gates publication).
defs = dg.Definitions(
    assets=[weather_readings, heat_index_readings],
    asset_checks=[heat_index_is_sane],
)
