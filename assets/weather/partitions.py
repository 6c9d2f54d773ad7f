"""Weather readings land one folder per day; each day is a partition."""

import dagster as dg

weather_days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
