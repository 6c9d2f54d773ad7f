"""Start a day's postings run when its raw files appear or change (local folder and S3 alike)."""

from assets.day_files import day_files_sensor
from assets.postings.augment import RAW_PREFIX, why_not_a_posting_file


def _is_posting_file(key: str) -> bool:
    day_folder = "/".join(key.split("/")[:2]) + "/"
    return why_not_a_posting_file(key, day_folder) is None


# The job is defined with the other jobs, by group, in assets/jobs.py.
raw_job_postings_sensor = day_files_sensor(
    "raw_job_postings_sensor", "postings_daily", RAW_PREFIX, _is_posting_file, "posting files"
)
