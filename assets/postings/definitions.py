"""Asset family: job postings, their seniority levels and quarantine, and the cache warm-up.

The daily job (`postings_daily`), and the sensor and schedule that start it, are defined with
the other jobs, by group, in assets/jobs.py.
"""

import dagster as dg

from assets.postings.assets import augmented_job_postings, raw_job_postings
from assets.postings.warmup import seniority_cache, seniority_cache_warmup_job

defs = dg.Definitions(
    assets=[raw_job_postings, augmented_job_postings, seniority_cache],
    jobs=[seniority_cache_warmup_job],
)
