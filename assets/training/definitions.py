"""Asset family: training modules, their suggested, reviewed and applied tags.

The customer-partitioned job (`training`) is defined with the other jobs, by group, in
assets/jobs.py; the replay job and the sensors are the family's own.
"""

import dagster as dg

from assets.training.assets import (
    applied_tags,
    reviewed_tags,
    tag_review,
    tag_suggestions,
    training_customers,
    training_modules,
    training_records,
)
from assets.training.replay import training_replay
from assets.training.sensors import tag_approval_sensor, training_customers_sensor

defs = dg.Definitions(
    assets=[
        training_customers,
        training_modules,
        training_records,
        tag_suggestions,
        tag_review,
        reviewed_tags,
        applied_tags,
    ],
    jobs=[training_replay],
    sensors=[training_customers_sensor, tag_approval_sensor],
)
