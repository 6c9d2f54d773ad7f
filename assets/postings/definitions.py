import dagster as dg

from assets.postings.assets import augmented_job_postings, raw_job_postings
from assets.postings.sensors import postings_job, raw_job_postings_sensor
from assets.postings.warmup import seniority_cache, seniority_cache_warmup_job

defs = dg.Definitions(
    assets=[raw_job_postings, augmented_job_postings, seniority_cache],
    jobs=[postings_job, seniority_cache_warmup_job],
    sensors=[raw_job_postings_sensor],
)
