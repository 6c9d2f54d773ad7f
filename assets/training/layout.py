"""Where the training family keeps its files in object storage, per customer.

    training-catalog/<customer>/modules.parquet       the modules as training_modules loaded them
    training-catalog/<customer>/taxonomy.json         the taxonomy they were loaded with
    training-suggestions/<customer>/suggestions.parquet   the last valid suggestions
    training-suggestions/<customer>/answers/<key>.parquet the valid answers of one request
    training-review/<customer>/...                    the review file (assets/training/review.py)
    training-requests/, training-dead-letters/        the request log (assets/training/requests.py)

The later steps of a run read what the earlier ones wrote here, so one run works on one
snapshot of the catalog even while it changes.
"""

from __future__ import annotations

from assets.training.partitions import check_customer_id

CATALOG_PREFIX = "training-catalog"
SUGGESTIONS_PREFIX = "training-suggestions"


def modules_key(customer_id: str) -> str:
    return f"{CATALOG_PREFIX}/{check_customer_id(customer_id)}/modules.parquet"


def taxonomy_key(customer_id: str) -> str:
    return f"{CATALOG_PREFIX}/{check_customer_id(customer_id)}/taxonomy.json"


def suggestions_key(customer_id: str) -> str:
    return f"{SUGGESTIONS_PREFIX}/{check_customer_id(customer_id)}/suggestions.parquet"


def answers_key(customer_id: str, idempotency_key: str) -> str:
    return (
        f"{SUGGESTIONS_PREFIX}/{check_customer_id(customer_id)}/answers/{idempotency_key}.parquet"
    )
