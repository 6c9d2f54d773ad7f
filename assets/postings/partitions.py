"""Job postings land one folder per day; each day is a partition."""

import dagster as dg

# end_offset=1: today's folder is a partition while it fills up.
posting_days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
