"""The one daily partitions definition every day-partitioned family shares."""

import dagster as dg

from resources import settings

# end_offset=1: today's folder is a partition while it fills up. The first day comes from
# the settings (FIELDWORK_FIRST_DAY), so the UI lists the days that hold data, not years of
# empty partitions.
daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.first_day(), end_offset=1)
